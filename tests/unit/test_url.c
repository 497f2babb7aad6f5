/* Unit tests for url.c: schemes, hosts (names, IPv4, [IPv6]), ports, userinfo, paths with
 * queries, sample-rate, the inputs that must be rejected, and a host told an address from a
 * name. */
#include <errno.h>

#include <sb/url.h>

#include "harness.h"

TEST(plain_ws)
{
	struct sb_url u;
	const char *why = NULL;
	int r = 0;

	ASSERT_EQ(sb_url_parse(&u, "ws://127.0.0.1:5001/media", &why), 0);
	ASSERT_TRUE(!u.tls);
	ASSERT_STREQ(u.host, "127.0.0.1");
	ASSERT_EQ(u.port, 5001);
	ASSERT_STREQ(u.path, "/media");
	ASSERT_STREQ(u.userinfo, "");
	ASSERT_EQ(u.sample_rate, 8000);
out:
	return r;
}

TEST(default_ports_and_path)
{
	struct sb_url u;
	int r = 0;

	ASSERT_EQ(sb_url_parse(&u, "ws://bot.example.com", NULL), 0);
	ASSERT_EQ(u.port, 80);
	ASSERT_STREQ(u.path, "/");
	ASSERT_EQ(sb_url_parse(&u, "wss://bot.example.com/", NULL), 0);
	ASSERT_TRUE(u.tls);
	ASSERT_EQ(u.port, 443);
	ASSERT_STREQ(u.path, "/");
	/* A query with no path still gets the "/" a request line needs. */
	ASSERT_EQ(sb_url_parse(&u, "wss://h?sample-rate=16000", NULL), 0);
	ASSERT_STREQ(u.path, "/?sample-rate=16000");
	ASSERT_EQ(u.sample_rate, 16000);
	ASSERT_EQ(sb_url_parse(&u, "WSS://h:1/", NULL), 0);
	ASSERT_TRUE(u.tls);
	ASSERT_EQ(u.port, 1);
	ASSERT_EQ(sb_url_parse(&u, "ws://h:65535/", NULL), 0);
	ASSERT_EQ(u.port, 65535);
out:
	return r;
}

TEST(ipv6_and_userinfo)
{
	struct sb_url u;
	int r = 0;

	ASSERT_EQ(sb_url_parse(&u, "ws://[::1]:5001/a/b", NULL), 0);
	ASSERT_STREQ(u.host, "::1");
	ASSERT_EQ(u.port, 5001);
	ASSERT_STREQ(u.path, "/a/b");
	ASSERT_EQ(sb_url_parse(&u, "wss://[2001:db8::7]/x", NULL), 0);
	ASSERT_STREQ(u.host, "2001:db8::7");
	ASSERT_EQ(u.port, 443);
	ASSERT_EQ(sb_url_parse(&u, "wss://alice:s3cret@bot.example.com:8443/m", NULL), 0);
	ASSERT_STREQ(u.userinfo, "alice:s3cret");
	ASSERT_STREQ(u.host, "bot.example.com");
	ASSERT_EQ(u.port, 8443);
	ASSERT_EQ(sb_url_parse(&u, "ws://tok@[::1]/", NULL), 0);
	ASSERT_STREQ(u.userinfo, "tok");
	ASSERT_STREQ(u.host, "::1");
	/* '@' after the authority belongs to the path. */
	ASSERT_EQ(sb_url_parse(&u, "ws://h/p@q", NULL), 0);
	ASSERT_STREQ(u.host, "h");
	ASSERT_STREQ(u.userinfo, "");
	ASSERT_STREQ(u.path, "/p@q");
out:
	return r;
}

TEST(sample_rate)
{
	struct sb_url u;
	const char *why = NULL;
	int r = 0;

	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?sample-rate=8000", NULL), 0);
	ASSERT_EQ(u.sample_rate, 8000);
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?a=1&sample_rate=24000&b=2", NULL), 0);
	ASSERT_EQ(u.sample_rate, 24000);
	ASSERT_STREQ(u.path, "/m?a=1&sample_rate=24000&b=2");
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?sample-rate=16000", NULL), 0);
	ASSERT_EQ(u.sample_rate, 16000);
	/* Only the exact parameter names count. */
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?xsample-rate=44100", NULL), 0);
	ASSERT_EQ(u.sample_rate, 8000);
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?sample-rate=44100", &why), -EINVAL);
	ASSERT_TRUE(why && strstr(why, "sample-rate"));
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?sample-rate=", NULL), -EINVAL);
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?sample_rate=160000", NULL), -EINVAL);
	ASSERT_EQ(sb_url_parse(&u, "ws://h/m?sample-rate=08000", NULL), -EINVAL);
out:
	return r;
}

TEST(rejects)
{
	static const char *const bad[] = {
	        "",
	        "http://h/",
	        "wss:/h/",
	        "ws//h/",
	        "h/media",
	        "ws://",
	        "ws:///media",
	        "ws://:80/",
	        "ws://h:0/",
	        "ws://h:65536/",
	        "ws://h:/",
	        "ws://h:12a/",
	        "ws://h:-1/",
	        "ws://h/me dia",
	        "ws://h/media\t",
	        "ws://h/\x01",
	        "ws://h/\x7f",
	        " ws://h/",
	        "ws://h/media#frag",
	        "ws://[::1/",
	        "ws://[nothex]/",
	        "ws://[]/",
	        "ws://[::1]x/",
	        "ws://h%41/",
	        "ws://@h/",
	        "ws://a,b/",
	};
	struct sb_url u = {.port = 7};
	const char *why;
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (sb_url_parse(&u, bad[i], &why) != -EINVAL)
			FAIL_AT("\"%s\" accepted", bad[i]);
		if (!why || !*why)
			FAIL_AT("\"%s\": no reason given", bad[i]);
	}
	ASSERT_EQ(u.port, 7); /* untouched on failure */
	ASSERT_EQ(sb_url_parse(&u, NULL, NULL), -EINVAL);
	ASSERT_EQ(sb_url_parse(&u, "http://h/", &why), -EINVAL);
	ASSERT_STREQ(why, "scheme must be ws:// or wss://");
out:
	return r;
}

TEST(length_limit)
{
	char text[SB_URL_MAX + 2];
	struct sb_url u;
	int r = 0;

	/* Exactly SB_URL_MAX bytes is fine, one more is not. */
	memset(text, 'a', sizeof(text));
	memcpy(text, "ws://h/", 7);
	text[SB_URL_MAX] = '\0';
	ASSERT_EQ(sb_url_parse(&u, text, NULL), 0);
	ASSERT_EQ(strlen(u.path), SB_URL_MAX - 6);
	text[SB_URL_MAX] = 'a';
	text[SB_URL_MAX + 1] = '\0';
	ASSERT_EQ(sb_url_parse(&u, text, NULL), -EINVAL);

	/* A host name of 256 bytes does not fit struct sb_url.host. */
	memset(text, 'b', sizeof(text));
	memcpy(text, "ws://", 5);
	strcpy(text + 5 + 256, "/");
	ASSERT_EQ(sb_url_parse(&u, text, NULL), -EINVAL);
	strcpy(text + 5 + 255, "/");
	ASSERT_EQ(sb_url_parse(&u, text, NULL), 0);
	ASSERT_EQ(strlen(u.host), 255);
out:
	return r;
}

TEST(host_is_ip)
{
	int r = 0;

	ASSERT_TRUE(sb_url_host_is_ip("127.0.0.1"));
	ASSERT_TRUE(sb_url_host_is_ip("::1"));
	ASSERT_TRUE(sb_url_host_is_ip("2001:db8::7"));
	ASSERT_TRUE(!sb_url_host_is_ip("localhost"));
	ASSERT_TRUE(!sb_url_host_is_ip("bot.example.com"));
	ASSERT_TRUE(!sb_url_host_is_ip("[::1]"));
	ASSERT_TRUE(!sb_url_host_is_ip("127.0.0.1.example"));
	ASSERT_TRUE(!sb_url_host_is_ip(""));
out:
	return r;
}

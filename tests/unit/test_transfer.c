/* Unit tests for transfer.c: which targets are accepted, the Refer-To with escaped URI
 * headers, sipfrag status lines, the transport a target names, and a host name with a port and
 * the outbound proxy it resolves to. */
#include <errno.h>
#include <string.h>

#include <sb/transfer.h>

#include "harness.h"

TEST(targets)
{
	static const char *const good[] = {"sip:agent@127.0.0.1:5099", "SIP:agents@10.0.0.5",
	                                   "sips:a@example.com;transport=tls", "sip:10.0.0.1",
	                                   "sip:+15550001@pbx;user=phone?X-A=1"};
	static const char *const bad[] = {
	        "tel:+123", "sip:",      "sip:a b@host",      "sip:a@",   "sip:<a@b>",  "sip:a@b\"",
	        "http://x", "sip:@host", "sip:a@b\r\nVia: x", "sip:;x=1", "sip:a@h\\x", ""};
	char longer[SB_TRANSFER_URI_MAX + 2];
	int r = 0;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ASSERT_EQ(sb_transfer_check_target(good[i]), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sb_transfer_check_target(bad[i]) != -EINVAL)
			FAIL_AT("accepted \"%s\"", bad[i]);
	memset(longer, 'a', sizeof(longer) - 1);
	memcpy(longer, "sip:", 4);
	longer[SB_TRANSFER_URI_MAX] = '\0'; /* exactly the bound */
	ASSERT_EQ(sb_transfer_check_target(longer), 0);
	longer[SB_TRANSFER_URI_MAX] = 'a';
	longer[SB_TRANSFER_URI_MAX + 1] = '\0';
	ASSERT_EQ(sb_transfer_check_target(longer), -EINVAL);
out:
	return r;
}

TEST(refer_to_escapes_headers)
{
	const struct sb_kv h[] = {{"X-UUI", "abc 123;x=1&y"}, {"X-Foo", "[a]/b?c:d+e$%"}};
	char buf[256];
	int r = 0, n;

	n = sb_transfer_refer_to(buf, sizeof(buf), "sip:agent@127.0.0.1:5099", h, 2);
	ASSERT_STREQ(buf, "<sip:agent@127.0.0.1:5099?X-UUI=abc%20123%3Bx%3D1%26y&"
	                  "X-Foo=[a]/b?c:d+e$%25>");
	ASSERT_EQ(n, (int)strlen(buf));
	/* a target with headers of its own */
	sb_transfer_refer_to(buf, sizeof(buf), "sip:a@b?X-A=1", h, 1);
	ASSERT_STREQ(buf, "<sip:a@b?X-A=1&X-UUI=abc%20123%3Bx%3D1%26y>");
	/* none */
	sb_transfer_refer_to(buf, sizeof(buf), "sip:a@b", NULL, 0);
	ASSERT_STREQ(buf, "<sip:a@b>");
	/* too small: every length up to the exact one */
	n = sb_transfer_refer_to(buf, sizeof(buf), "sip:agent@127.0.0.1:5099", h, 2);
	for (int size = 0; size <= n; size++)
		ASSERT_EQ(sb_transfer_refer_to(buf, (size_t)size, "sip:agent@127.0.0.1:5099", h, 2),
		          -ENOSPC);
	ASSERT_EQ(sb_transfer_refer_to(buf, (size_t)n + 1, "sip:agent@127.0.0.1:5099", h, 2), n);
out:
	return r;
}

TEST(sipfrag_status)
{
	char phrase[16];
	int r = 0;

	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 200 OK\r\n", 16, phrase, sizeof(phrase)), 200);
	ASSERT_STREQ(phrase, "OK");
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 486 Busy Here", 21, phrase, sizeof(phrase)), 486);
	ASSERT_STREQ(phrase, "Busy Here");
	ASSERT_EQ(
	        sb_transfer_sipfrag("SIP/2.0 100 Trying\r\nVia: x\r\n", 28, phrase, sizeof(phrase)),
	        100);
	ASSERT_STREQ(phrase, "Trying");
	ASSERT_EQ(sb_transfer_sipfrag("sip/2.0 603", 11, phrase, sizeof(phrase)), 603);
	ASSERT_STREQ(phrase, "");
	/* a long phrase is cut to fit */
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 480 Temporarily Unavailable", 35, phrase,
	                              sizeof(phrase)),
	          480);
	ASSERT_STREQ(phrase, "Temporarily Una");
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 2000 OK", 15, phrase, sizeof(phrase)), -EBADMSG);
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 099 x", 13, phrase, sizeof(phrase)), -EBADMSG);
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 7xx", 11, phrase, sizeof(phrase)), -EBADMSG);
	ASSERT_EQ(sb_transfer_sipfrag("INVITE sip:a SIP/2.0", 20, phrase, sizeof(phrase)),
	          -EBADMSG);
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 20", 10, phrase, sizeof(phrase)), -EBADMSG);
	/* the length bounds the body: no read past it */
	ASSERT_EQ(sb_transfer_sipfrag("SIP/2.0 200 OK", 11, phrase, sizeof(phrase)), 200);
	ASSERT_STREQ(phrase, "");
out:
	return r;
}

TEST(transport_of_a_target)
{
	int r = 0;

	ASSERT_STREQ(sb_transfer_transport("sip:a@b"), "udp");
	ASSERT_STREQ(sb_transfer_transport("sip:a@b;transport=TCP"), "tcp");
	ASSERT_STREQ(sb_transfer_transport("sip:a@b:5061;transport=tls"), "tls");
	ASSERT_STREQ(sb_transfer_transport("sips:a@b"), "tls");
	ASSERT_STREQ(sb_transfer_transport("sip:a@b;transport=udp"), "udp");
out:
	return r;
}

TEST(headers_three_x_headers_of_200_bytes)
{
	char long_value[200];
	const struct sb_kv in[] = {
	        {"Via", "SIP/2.0/UDP evil"},
	        {"X-UUI", "abc"},
	        {"Exotel-Secret", "s"},
	        {"x-exotel-leg", "1"},
	        {"X-Veeno-Leg", "2"},
	        {"x-uui", "again"},
	        {"X-Big", long_value},
	        {"X-Foo", "bar"},
	        {"X-Three", "3"},
	        {"X-Four", "4"},
	        {NULL, "x"},
	};
	struct sb_kv out[SB_TRANSFER_HEADERS_MAX];
	size_t dropped = 0, n;
	int r = 0;

	memset(long_value, 'v', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	n = sb_transfer_headers(in, sizeof(in) / sizeof(in[0]), out, &dropped);
	ASSERT_EQ(n, 3);
	ASSERT_STREQ(out[0].name, "X-UUI");
	ASSERT_STREQ(out[1].name, "X-Foo"); /* X-Big would take it over 200 bytes */
	ASSERT_STREQ(out[2].name, "X-Three");
	ASSERT_EQ(dropped,
	          7); /* Via, Exotel-, X-Exotel-, X-Veeno-, the second X-UUI, X-Big, X-Four */
	/* exactly 200 bytes fit */
	{
		char v[200];
		const struct sb_kv one[] = {{"X-A", v}};

		memset(v, 'a', 197);
		v[197] = '\0';
		ASSERT_EQ(sb_transfer_headers(one, 1, out, &dropped), 1);
		v[197] = 'a';
		v[198] = '\0';
		ASSERT_EQ(sb_transfer_headers(one, 1, out, &dropped), 0);
		ASSERT_EQ(dropped, 1);
	}
out:
	return r;
}

/* A host name with a port is looked up by the bridge; numeric hosts and names without a port
 * are not. */
TEST(numeric_host_of_a_target)
{
	char host[64];
	int r = 0;

	ASSERT_TRUE(sb_transfer_numeric_host("sip:agent@127.0.0.1:5080;transport=tcp", host,
	                                     sizeof(host)));
	ASSERT_STREQ(host, "127.0.0.1");
	ASSERT_TRUE(sb_transfer_numeric_host("sip:agent:pw@10.0.0.9", host, sizeof(host)));
	ASSERT_STREQ(host, "10.0.0.9");
	ASSERT_TRUE(sb_transfer_numeric_host("sips:[2001:db8::1]:5061?X-A=1", host, sizeof(host)));
	ASSERT_STREQ(host, "2001:db8::1");
	ASSERT_TRUE(sb_transfer_numeric_host("sip:a@[::1]", host, sizeof(host)));
	ASSERT_STREQ(host, "::1");
	/* names, a reference never closed, an address that does not fit */
	ASSERT_TRUE(!sb_transfer_numeric_host("sip:agent@localhost:5080", host, sizeof(host)));
	ASSERT_TRUE(!sb_transfer_numeric_host("sip:agent@10.0.0.9.example", host, sizeof(host)));
	ASSERT_TRUE(!sb_transfer_numeric_host("sip:agent@[::1:5080", host, sizeof(host)));
	ASSERT_TRUE(!sb_transfer_numeric_host("sip:agent@127.0.0.1", host, 9));
out:
	return r;
}

TEST(named_host_with_a_port)
{
	char host[16];
	int r = 0;

	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:5080", host, sizeof(host)), 5080);
	ASSERT_STREQ(host, "localhost");
	ASSERT_EQ(sb_transfer_named_host("sips:pbx.example:5061;transport=tls?X-A=1", host,
	                                 sizeof(host)),
	          5061);
	ASSERT_STREQ(host, "pbx.example");
	ASSERT_EQ(sb_transfer_named_host("SIP:agent:pw@host:1", host, sizeof(host)), 1);
	ASSERT_STREQ(host, "host");
	ASSERT_EQ(sb_transfer_named_host("sip:+1;phone-context=x@agent:65535?h=1", host,
	                                 sizeof(host)),
	          65535);
	ASSERT_STREQ(host, "agent");
	/* numeric: no lookup */
	ASSERT_EQ(sb_transfer_named_host("sip:agent@127.0.0.1:5080", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@[::1]:5080", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:[2001:db8::1]:5080", host, sizeof(host)), 0);
	/* an maddr says where to send: the SIP stack's own way */
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:5080;maddr=10.0.0.9", host,
	                                 sizeof(host)),
	          0);
	/* no port: the SIP stack's own resolver (SRV) */
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@pbx.example;transport=tcp", host, sizeof(host)),
	          0);
	/* ports that are not 1-65535, a name that does not fit */
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:0", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:65536", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:50x0", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@localhost:123456789012", host, sizeof(host)),
	          0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@a-name-of-16-chr:5060", host, sizeof(host)), 0);
	ASSERT_EQ(sb_transfer_named_host("sip:agent@a-name-of-15-ch:5060", host, sizeof(host)),
	          5060);
out:
	return r;
}

TEST(proxy_of_a_resolved_name)
{
	char buf[128];
	int r = 0;

	ASSERT_EQ(sb_transfer_proxy(buf, sizeof(buf), "sip:agent@localhost:5080", "localhost", 5080,
	                            "127.0.0.1"),
	          (int)strlen("sip:localhost:5080;transport=udp;maddr=127.0.0.1"));
	ASSERT_STREQ(buf, "sip:localhost:5080;transport=udp;maddr=127.0.0.1");
	ASSERT_TRUE(sb_transfer_proxy(buf, sizeof(buf), "sip:a@pbx:5060;transport=tcp", "pbx", 5060,
	                              "::1") > 0);
	ASSERT_STREQ(buf, "sip:pbx:5060;transport=tcp;maddr=[::1]");
	ASSERT_TRUE(sb_transfer_proxy(buf, sizeof(buf), "sips:a@pbx:5061", "pbx", 5061,
	                              "2001:db8::7") > 0);
	ASSERT_STREQ(buf, "sip:pbx:5061;transport=tls;maddr=[2001:db8::7]");
	ASSERT_EQ(sb_transfer_proxy(buf, 20, "sip:a@pbx:5060", "pbx", 5060, "127.0.0.1"), -ENOSPC);
out:
	return r;
}

/* Unit tests for acl.c: CIDR parsing (IPv4, IPv6, host bits, garbage), formatting, and
 * matching IPv4, IPv6 and IPv4-mapped IPv6 sources. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <sb/acl.h>

#include "harness.h"

static bool matches(const char *cidr, const char *ip)
{
	struct sockaddr_storage ss;
	struct sb_cidr c;

	if (sb_cidr_parse(&c, cidr) < 0)
		return false;
	return sb_cidr_match(&c, sip_sa(&ss, ip));
}

TEST(parse_ipv4)
{
	struct sb_cidr c;
	char buf[64];
	int r = 0;

	ASSERT_EQ(sb_cidr_parse(&c, "10.0.0.0/8"), 0);
	ASSERT_EQ(c.family, AF_INET);
	ASSERT_EQ(c.prefix, 8);
	ASSERT_EQ(c.addr[0], 10);
	ASSERT_STREQ(sb_cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/8");
	ASSERT_EQ(sb_cidr_parse(&c, "203.0.113.5"), 0);
	ASSERT_EQ(c.prefix, 32);
	ASSERT_STREQ(sb_cidr_format(&c, buf, sizeof(buf)), "203.0.113.5/32");
	ASSERT_EQ(sb_cidr_parse(&c, "0.0.0.0/0"), 0);
	ASSERT_EQ(c.prefix, 0);
	ASSERT_EQ(sb_cidr_parse(&c, "192.168.1.128/25"), 0);
	ASSERT_EQ(c.addr[3], 128);
out:
	return r;
}

TEST(parse_ipv6)
{
	struct sb_cidr c;
	char buf[64];
	int r = 0;

	ASSERT_EQ(sb_cidr_parse(&c, "::1"), 0);
	ASSERT_EQ(c.family, AF_INET6);
	ASSERT_EQ(c.prefix, 128);
	ASSERT_EQ(c.addr[15], 1);
	ASSERT_EQ(sb_cidr_parse(&c, "2001:db8::/32"), 0);
	ASSERT_EQ(c.prefix, 32);
	ASSERT_STREQ(sb_cidr_format(&c, buf, sizeof(buf)), "2001:db8::/32");
	ASSERT_EQ(sb_cidr_parse(&c, "::/0"), 0);
	ASSERT_EQ(sb_cidr_parse(&c, "fe80::/10"), 0);
	/* A mapped CIDR means the IPv4 network it maps. */
	ASSERT_EQ(sb_cidr_parse(&c, "::ffff:10.0.0.0/104"), 0);
	ASSERT_EQ(c.family, AF_INET);
	ASSERT_EQ(c.prefix, 8);
	ASSERT_STREQ(sb_cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/8");
out:
	return r;
}

TEST(parse_rejects)
{
	static const char *const bad[] = {
	        "10.0.0.0/33",  "1.2.3",          "abc",          "",
	        "10.0.0.1/8",   "10.0.0.0/",      "10.0.0.0/-1",  "10.0.0.0/8x",
	        "10.0.0.0/ 8",  " 10.0.0.0/8",    "10.0.0.0/8/8", "/8",
	        "::1/129",      "2001:db8::1/32", "1.2.3.4.5",    "10.0.0.0/0008",
	        "fe80::1%eth0", "256.0.0.0/8",
	};
	struct sb_cidr c = {.family = 77};
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sb_cidr_parse(&c, bad[i]) != -EINVAL)
			FAIL_AT("\"%s\" accepted", bad[i]);
	}
	ASSERT_EQ(c.family, 77); /* untouched on failure */
	ASSERT_EQ(sb_cidr_parse(&c, NULL), -EINVAL);
out:
	return r;
}

TEST(match_ipv4)
{
	int r = 0;

	ASSERT_TRUE(matches("10.0.0.0/8", "10.255.255.255"));
	ASSERT_TRUE(matches("10.0.0.0/8", "10.0.0.0"));
	ASSERT_TRUE(!matches("10.0.0.0/8", "11.0.0.0"));
	ASSERT_TRUE(!matches("10.0.0.0/8", "9.255.255.255"));
	ASSERT_TRUE(matches("192.168.1.128/25", "192.168.1.200"));
	ASSERT_TRUE(!matches("192.168.1.128/25", "192.168.1.127"));
	ASSERT_TRUE(matches("203.0.113.50/32", "203.0.113.50"));
	ASSERT_TRUE(!matches("203.0.113.50/32", "203.0.113.51"));
	ASSERT_TRUE(matches("0.0.0.0/0", "198.51.100.1"));
	/* Families never cross, apart from the mapped form. */
	ASSERT_TRUE(!matches("0.0.0.0/0", "::1"));
	ASSERT_TRUE(!matches("::/0", "127.0.0.1"));
out:
	return r;
}

TEST(match_ipv6_and_mapped)
{
	int r = 0;

	ASSERT_TRUE(matches("::1", "::1"));
	ASSERT_TRUE(!matches("::1", "::2"));
	ASSERT_TRUE(matches("2001:db8::/32", "2001:db8:ffff::1"));
	ASSERT_TRUE(!matches("2001:db8::/32", "2001:db9::1"));
	ASSERT_TRUE(matches("fe80::/10", "febf::1"));
	ASSERT_TRUE(!matches("fe80::/10", "fec0::1"));
	/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
	ASSERT_TRUE(matches("127.0.0.0/8", "::ffff:127.0.0.1"));
	ASSERT_TRUE(!matches("127.0.0.0/8", "::ffff:128.0.0.1"));
	ASSERT_TRUE(matches("::ffff:10.0.0.0/104", "10.1.2.3"));
	ASSERT_TRUE(matches("::ffff:10.0.0.0/104", "::ffff:10.1.2.3"));
	ASSERT_TRUE(!matches("::/0", "::ffff:10.1.2.3"));
out:
	return r;
}

TEST(acl_list)
{
	struct sb_cidr list[3];
	struct sockaddr_storage ss;
	struct sockaddr other = {.sa_family = AF_UNIX};
	int r = 0;

	ASSERT_EQ(sb_cidr_parse(&list[0], "10.0.0.0/8"), 0);
	ASSERT_EQ(sb_cidr_parse(&list[1], "203.0.113.50/32"), 0);
	ASSERT_EQ(sb_cidr_parse(&list[2], "2001:db8::/32"), 0);
	ASSERT_TRUE(sb_acl_match(list, 3, sip_sa(&ss, "10.1.1.1")));
	ASSERT_TRUE(sb_acl_match(list, 3, sip_sa(&ss, "203.0.113.50")));
	ASSERT_TRUE(sb_acl_match(list, 3, sip_sa(&ss, "2001:db8::5")));
	ASSERT_TRUE(!sb_acl_match(list, 3, sip_sa(&ss, "192.0.2.1")));
	ASSERT_TRUE(!sb_acl_match(list, 2, sip_sa(&ss, "2001:db8::5")));
	ASSERT_TRUE(!sb_acl_match(list, 0, sip_sa(&ss, "10.1.1.1")));
	ASSERT_TRUE(!sb_acl_match(list, 3, &other));
	ASSERT_TRUE(!sb_acl_match(list, 3, NULL));
out:
	return r;
}

TEST(format_small_buffer)
{
	struct sb_cidr c;
	char buf[8];
	int r = 0;

	ASSERT_EQ(sb_cidr_parse(&c, "203.0.113.0/24"), 0);
	ASSERT_TRUE(sb_cidr_format(&c, buf, sizeof(buf)) == buf);
	ASSERT_EQ(strlen(buf), sizeof(buf) - 1); /* truncated, still terminated */
	ASSERT_TRUE(strncmp(buf, "203.0.1", 7) == 0);
out:
	return r;
}

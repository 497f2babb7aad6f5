/* Unit tests for bpf_acl.c: the socket filter keeps exactly the sources inside the CIDRs, for
 * IPv4 and IPv6 packets, prefixes that end inside a 32-bit word, /0, empty lists, long lists
 * (jump offsets) and lists too long for the kernel. The program runs in the module's own
 * interpreter here; the integration tests attach it to real sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include <sb/bpf_acl.h>

#include "harness.h"

/* An IP header (as the filter sees it) with the given source address. */
static size_t packet(unsigned char *pkt, const char *src)
{
	memset(pkt, 0, 60);
	if (inet_pton(AF_INET, src, pkt + 12) == 1) {
		pkt[0] = 0x45;
		return 28;
	}
	inet_pton(AF_INET6, src, pkt + 8);
	pkt[0] = 0x60;
	return 48;
}

static struct sock_filter prog[BPF_MAXINSNS];
static int prog_n;

static int build(const char *const *texts, size_t n)
{
	struct sb_cidr *c = calloc(n ? n : 1, sizeof(*c));

	for (size_t i = 0; i < n; i++)
		if (sb_cidr_parse(&c[i], texts[i]) < 0)
			abort();
	prog_n = sb_bpf_acl_build(prog, BPF_MAXINSNS, c, n);
	free(c);
	return prog_n;
}

static bool keeps(const char *src)
{
	unsigned char pkt[60];
	size_t len = packet(pkt, src);

	return sb_bpf_acl_run(prog, (size_t)prog_n, pkt, len) != 0;
}

TEST(ipv4_and_ipv6)
{
	static const char *const acl[] = {"127.0.0.1/32", "10.0.0.0/8",    "192.0.2.128/25",
	                                  "::1",          "2001:db8::/32", "2001:db8:0:2::/63"};
	int r = 0;

	ASSERT_TRUE(build(acl, 6) > 0);
	ASSERT_TRUE(prog_n <= SB_BPF_ACL_MAX_INSNS(6));
	ASSERT_TRUE(keeps("127.0.0.1"));
	ASSERT_TRUE(!keeps("127.0.0.2"));
	ASSERT_TRUE(keeps("10.255.0.1"));
	ASSERT_TRUE(!keeps("11.0.0.1"));
	ASSERT_TRUE(keeps("192.0.2.200"));
	ASSERT_TRUE(!keeps("192.0.2.127"));
	ASSERT_TRUE(keeps("::1"));
	ASSERT_TRUE(!keeps("::2"));
	ASSERT_TRUE(keeps("2001:db8:ffff::1"));
	ASSERT_TRUE(!keeps("2001:db9::1"));
	ASSERT_TRUE(keeps("2001:db8:2::1")); /* inside 2001:db8::/32 anyway */
	/* An IPv4 address is not matched by an IPv6 CIDR, nor the other way round. */
	ASSERT_TRUE(!keeps("::ffff:11.0.0.1"));
out:
	return r;
}

TEST(prefix_inside_a_word)
{
	static const char *const acl[] = {"2001:db8:0:4::/63", "172.16.0.0/12"};
	int r = 0;

	ASSERT_TRUE(build(acl, 2) > 0);
	ASSERT_TRUE(keeps("2001:db8:0:4::9"));
	ASSERT_TRUE(keeps("2001:db8:0:5:ffff::"));
	ASSERT_TRUE(!keeps("2001:db8:0:6::"));
	ASSERT_TRUE(!keeps("2001:db8:0:3::"));
	ASSERT_TRUE(keeps("172.31.255.255"));
	ASSERT_TRUE(!keeps("172.32.0.0"));
out:
	return r;
}

TEST(everything_or_nothing)
{
	static const char *const any[] = {"0.0.0.0/0", "::/0"};
	unsigned char pkt[60] = {0x15}; /* version 1: neither IPv4 nor IPv6 */
	int r = 0;

	ASSERT_TRUE(build(NULL, 0) > 0);
	ASSERT_TRUE(!keeps("127.0.0.1"));
	ASSERT_TRUE(!keeps("::1"));
	ASSERT_TRUE(build(any, 2) > 0);
	ASSERT_TRUE(keeps("203.0.113.1"));
	ASSERT_TRUE(keeps("2001:db8::1"));
	ASSERT_EQ(sb_bpf_acl_run(prog, (size_t)prog_n, pkt, sizeof(pkt)), 0);
	/* A truncated header is dropped, as the kernel drops an out-of-packet load. */
	packet(pkt, "203.0.113.1");
	ASSERT_EQ(sb_bpf_acl_run(prog, (size_t)prog_n, pkt, 8), 0);
out:
	return r;
}

TEST(long_lists)
{
	static char texts[600][48];
	const char *ptrs[600];
	int r = 0;

	/* 300 IPv4 and 200 IPv6 entries: the jump to the IPv6 part is far beyond 255. */
	for (int i = 0; i < 300; i++)
		snprintf(texts[i], sizeof(texts[i]), "10.%d.%d.0/24", i / 256, i % 256);
	for (int i = 0; i < 200; i++)
		snprintf(texts[300 + i], sizeof(texts[0]), "2001:db8:%x::/48", i);
	for (int i = 0; i < 500; i++)
		ptrs[i] = texts[i];
	ASSERT_TRUE(build(ptrs, 500) > 0);
	ASSERT_TRUE(keeps("10.1.43.7"));      /* entry 299 */
	ASSERT_TRUE(!keeps("10.1.44.7"));     /* entry 300 would be */
	ASSERT_TRUE(keeps("2001:db8:c7::1")); /* the last one */
	ASSERT_TRUE(!keeps("2001:db8:c8::1"));
	/* More than the kernel takes. */
	for (int i = 500; i < 600; i++) {
		snprintf(texts[i], sizeof(texts[i]), "2001:db9:%x::/48", i);
		ptrs[i] = texts[i];
	}
	ASSERT_TRUE(build(ptrs, 600) > 0);
	{
		struct sb_cidr *c = calloc(450, sizeof(*c));
		int n;

		for (int i = 0; i < 450; i++)
			sb_cidr_parse(&c[i], "2001:db8:1:2:3:4:5:0/127"); /* 10 instructions each */
		n = sb_bpf_acl_build(prog, BPF_MAXINSNS, c, 450);
		free(c);
		ASSERT_EQ(n, -ENOSPC);
	}
out:
	return r;
}

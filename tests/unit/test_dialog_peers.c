/* Unit tests for dialog_peers.c: a dialog matches by Call-ID (exact bytes) and its peer's
 * address at any port, IPv4-mapped as IPv4; a new address replaces the old one; removal;
 * the bound; growth past the first table keeps every entry; Call-IDs that are too long; the
 * distinct stream addresses for the TCP filters. */
#include <errno.h>
#include <stdio.h>

#include <sb/dialog_peers.h>

#include "harness.h"

static int set(struct sb_dialog_peers *p, const char *id, const char *ip, bool stream, size_t max)
{
	struct sockaddr_storage ss;

	return sb_dialog_peers_set(p, id, strlen(id), sip_sa(&ss, ip), stream, max);
}

static bool match(const struct sb_dialog_peers *p, const char *id, const char *ip, int port)
{
	struct sockaddr_storage ss;
	const struct sockaddr *sa = sip_sa(&ss, ip);

	if (port >= 0 && sa->sa_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	return sb_dialog_peers_match(p, id, strlen(id), sa);
}

TEST(match_by_call_id_and_address)
{
	struct sb_dialog_peers p;
	int r = 0;

	sb_dialog_peers_init(&p);
	ASSERT_TRUE(!match(&p, "a1@x", "192.0.2.7", -1));
	ASSERT_EQ(set(&p, "a1@x", "192.0.2.7", false, 10), 0);
	ASSERT_EQ(p.n, 1);
	ASSERT_TRUE(match(&p, "a1@x", "192.0.2.7", -1));
	/* any port: an agent's BYE may come from another port than its answer */
	ASSERT_TRUE(match(&p, "a1@x", "192.0.2.7", 40123));
	ASSERT_TRUE(match(&p, "a1@x", "::ffff:192.0.2.7", -1));
	/* another address, or another Call-ID (case and length count) from the same one */
	ASSERT_TRUE(!match(&p, "a1@x", "192.0.2.8", -1));
	ASSERT_TRUE(!match(&p, "A1@x", "192.0.2.7", -1));
	ASSERT_TRUE(!match(&p, "a1@", "192.0.2.7", -1));
	ASSERT_TRUE(!match(&p, "a1@xy", "192.0.2.7", -1));
	/* the same dialog answering from elsewhere (a failover): the new address replaces it */
	ASSERT_EQ(set(&p, "a1@x", "2001:db8::5", false, 10), 0);
	ASSERT_EQ(p.n, 1);
	ASSERT_TRUE(match(&p, "a1@x", "2001:db8::5", -1));
	ASSERT_TRUE(!match(&p, "a1@x", "192.0.2.7", -1));
	ASSERT_EQ(sb_dialog_peers_remove(&p, "a1@x", 4), 0);
	ASSERT_EQ(sb_dialog_peers_remove(&p, "a1@x", 4), -ENOENT);
	ASSERT_EQ(p.n, 0);
	ASSERT_TRUE(!match(&p, "a1@x", "2001:db8::5", -1));
out:
	sb_dialog_peers_done(&p);
	return r;
}

TEST(bound_growth_and_removal)
{
	struct sb_dialog_peers p;
	char id[32], ip[32];
	int r = 0;

	sb_dialog_peers_init(&p);
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "call-%d", i);
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		ASSERT_EQ(set(&p, id, ip, false, 100), 0);
	}
	ASSERT_EQ(set(&p, "call-100", "192.0.2.1", false, 100), -ENOSPC);
	/* at the bound, a dialog already there may still move */
	ASSERT_EQ(set(&p, "call-5", "192.0.2.205", false, 100), 0);
	ASSERT_EQ(p.n, 100);
	for (int i = 0; i < 100; i += 2) {
		snprintf(id, sizeof(id), "call-%d", i);
		ASSERT_EQ(sb_dialog_peers_remove(&p, id, strlen(id)), 0);
	}
	ASSERT_EQ(p.n, 50);
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "call-%d", i);
		snprintf(ip, sizeof(ip), "192.0.2.%d", i == 5 ? 205 : i);
		ASSERT_EQ(match(&p, id, ip, -1), i % 2 == 1);
	}
	/* freed entries are taken again without growing */
	for (int i = 0; i < 100; i += 2) {
		snprintf(id, sizeof(id), "again-%d", i);
		ASSERT_EQ(set(&p, id, "198.51.100.1", false, 100), 0);
	}
	ASSERT_EQ(p.n, 100);
	ASSERT_TRUE(p.cap <= 128);
out:
	sb_dialog_peers_done(&p);
	return r;
}

TEST(long_call_id_and_bad_family)
{
	struct sb_dialog_peers p;
	char id[SB_DIALOG_PEERS_CALL_ID_MAX + 2];
	struct sockaddr_storage ss = {.ss_family = AF_UNIX};
	int r = 0;

	sb_dialog_peers_init(&p);
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ASSERT_EQ(set(&p, id, "192.0.2.1", false, 10), -E2BIG);
	ASSERT_TRUE(!match(&p, id, "192.0.2.1", -1));
	id[SB_DIALOG_PEERS_CALL_ID_MAX] = '\0';
	ASSERT_EQ(set(&p, id, "192.0.2.1", false, 10), 0);
	ASSERT_TRUE(match(&p, id, "192.0.2.1", -1));
	ASSERT_EQ(sb_dialog_peers_set(&p, "y", 1, (struct sockaddr *)&ss, false, 10),
	          -EAFNOSUPPORT);
	ASSERT_EQ(p.n, 1);
out:
	sb_dialog_peers_done(&p);
	return r;
}

static bool skip_doc(const struct sb_cidr *c, void *arg)
{
	(void)arg;
	return c->family == AF_INET && c->addr[0] == 198; /* 198.51.100.0/24: "in an ACL" */
}

TEST(stream_addresses_distinct)
{
	struct sb_dialog_peers p;
	struct sb_cidr out[4];
	struct sockaddr_storage ss;
	char buf[64];
	int r = 0;

	sb_dialog_peers_init(&p);
	ASSERT_EQ(sb_dialog_peers_stream_addrs(&p, out, 4, NULL, NULL), 0);
	ASSERT_EQ(set(&p, "u1", "192.0.2.1", false, 10), 0);   /* UDP: not listed */
	ASSERT_EQ(set(&p, "t1", "192.0.2.2", true, 10), 0);    /* TCP */
	ASSERT_EQ(set(&p, "t2", "192.0.2.2", true, 10), 0);    /* the same carrier: listed once */
	ASSERT_EQ(set(&p, "t3", "2001:db8::9", true, 10), 0);  /* IPv6 */
	ASSERT_EQ(set(&p, "t4", "198.51.100.3", true, 10), 0); /* skipped */
	ASSERT_EQ(sb_dialog_peers_stream_addrs(&p, out, 4, skip_doc, NULL), 2);
	ASSERT_STREQ(sb_cidr_format(&out[0], buf, sizeof(buf)), "192.0.2.2/32");
	ASSERT_STREQ(sb_cidr_format(&out[1], buf, sizeof(buf)), "2001:db8::9/128");
	ASSERT_EQ(sb_dialog_peers_stream_addrs(&p, out, 1, skip_doc, NULL), 2); /* over max */
	ASSERT_EQ(sb_dialog_peers_stream_addrs(&p, out, 4, NULL, NULL), 3);
	ASSERT_TRUE(sb_dialog_peers_has_addr(&p, sip_sa(&ss, "192.0.2.2"), true));
	ASSERT_TRUE(!sb_dialog_peers_has_addr(&p, sip_sa(&ss, "192.0.2.1"), true));
	ASSERT_TRUE(sb_dialog_peers_has_addr(&p, sip_sa(&ss, "192.0.2.1"), false));
	ASSERT_TRUE(!sb_dialog_peers_has_addr(&p, sip_sa(&ss, "192.0.2.3"), false));
	/* the last dialog of an address gone, the address is no longer listed */
	ASSERT_EQ(sb_dialog_peers_remove(&p, "t1", 2), 0);
	ASSERT_EQ(sb_dialog_peers_stream_addrs(&p, out, 4, skip_doc, NULL), 2);
	ASSERT_EQ(sb_dialog_peers_remove(&p, "t2", 2), 0);
	ASSERT_EQ(sb_dialog_peers_stream_addrs(&p, out, 4, skip_doc, NULL), 1);
	ASSERT_STREQ(sb_cidr_format(&out[0], buf, sizeof(buf)), "2001:db8::9/128");
out:
	sb_dialog_peers_done(&p);
	return r;
}

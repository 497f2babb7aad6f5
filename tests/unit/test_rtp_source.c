/* Unit tests for rtp_source.c: which addresses may send RTP to a leg (SDP, signalling, ACL),
 * the first latch, re-latching only after a run of consecutive packets, and a new SDP
 * address from a re-INVITE. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <sb/rtp_source.h>

#include "harness.h"

static const struct sockaddr *sa(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	}
	return (const struct sockaddr *)ss;
}

static socklen_t len_of(const struct sockaddr *a)
{
	return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* One packet from ip:port with this SSRC and sequence number. */
static enum sb_rtp_verdict pkt(struct sb_rtp_source *s, const char *ip, unsigned port,
                               uint32_t ssrc, uint16_t seq)
{
	struct sockaddr_storage ss;
	const struct sockaddr *a = sa(&ss, ip, port);

	return sb_rtp_source_check(s, a, len_of(a), ssrc, seq);
}

static bool peer_is(const struct sb_rtp_source *s, const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	const struct sockaddr *a = sa(&ss, ip, port);

	return s->peer_len == len_of(a) && memcmp(&s->peer, a, len_of(a)) == 0;
}

/* A leg whose SDP says 192.0.2.10:4000, signalling from 198.51.100.7, trunk ACL 10.0.0.0/8. */
static void setup(struct sb_rtp_source *s, struct sb_cidr *acl)
{
	struct sockaddr_storage sdp, sig;

	sb_cidr_parse(acl, "10.0.0.0/8");
	sb_rtp_source_init(s, sa(&sdp, "192.0.2.10", 4000), sizeof(struct sockaddr_in),
	                   sa(&sig, "198.51.100.7", 5060), sizeof(struct sockaddr_in), acl, 1);
}

TEST(allowed_sources)
{
	struct sb_rtp_source s;
	struct sb_cidr acl;
	struct sockaddr_storage ss;
	int r = 0;

	setup(&s, &acl);
	ASSERT_TRUE(sb_rtp_source_allowed(&s, sa(&ss, "192.0.2.10", 4000)));
	ASSERT_TRUE(sb_rtp_source_allowed(&s, sa(&ss, "192.0.2.10", 9999))); /* any port */
	ASSERT_TRUE(sb_rtp_source_allowed(&s, sa(&ss, "198.51.100.7", 31000)));
	ASSERT_TRUE(sb_rtp_source_allowed(&s, sa(&ss, "10.200.1.1", 20000)));
	ASSERT_TRUE(sb_rtp_source_allowed(&s, sa(&ss, "::ffff:198.51.100.7", 31000)));
	ASSERT_TRUE(!sb_rtp_source_allowed(&s, sa(&ss, "192.0.2.11", 4000)));
	ASSERT_TRUE(!sb_rtp_source_allowed(&s, sa(&ss, "11.0.0.1", 4000)));
	ASSERT_TRUE(!sb_rtp_source_allowed(&s, sa(&ss, "2001:db8::1", 4000)));
	/* Without a signalling address only the SDP and the ACL count. */
	sb_rtp_source_init(&s, sa(&ss, "192.0.2.10", 4000), sizeof(struct sockaddr_in), NULL, 0,
	                   &acl, 1);
	ASSERT_TRUE(!sb_rtp_source_allowed(&s, sa(&ss, "198.51.100.7", 31000)));
out:
	return r;
}

TEST(foreign_never_latches)
{
	struct sb_rtp_source s;
	struct sb_cidr acl;
	int r = 0;

	setup(&s, &acl);
	ASSERT_TRUE(
	        peer_is(&s, "192.0.2.10", 4000)); /* RTP goes to the SDP address until latched */
	for (uint16_t i = 0; i < 50; i++)
		ASSERT_EQ(pkt(&s, "203.0.113.66", 4000, 7, i), SB_RTP_DROP_FOREIGN);
	ASSERT_TRUE(!s.latched);
	ASSERT_TRUE(peer_is(&s, "192.0.2.10", 4000));
	/* The caller's first packet (from behind NAT, the signalling address) latches at once. */
	ASSERT_EQ(pkt(&s, "198.51.100.7", 31000, 1, 100), SB_RTP_ACCEPT);
	ASSERT_TRUE(s.latched);
	ASSERT_TRUE(peer_is(&s, "198.51.100.7", 31000));
	ASSERT_EQ(pkt(&s, "203.0.113.66", 31000, 1, 101), SB_RTP_DROP_FOREIGN);
	ASSERT_TRUE(peer_is(&s, "198.51.100.7", 31000));
	ASSERT_EQ(s.relatches, 0);
out:
	return r;
}

TEST(relatch_after_a_run)
{
	struct sb_rtp_source s;
	struct sb_cidr acl;
	int r = 0;

	setup(&s, &acl);
	ASSERT_EQ(pkt(&s, "198.51.100.7", 31000, 1, 10), SB_RTP_ACCEPT);
	/* Another allowed source needs SB_RTP_RELATCH_PACKETS in a row. */
	for (uint16_t i = 0; i < SB_RTP_RELATCH_PACKETS - 1; i++)
		ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 2, (uint16_t)(65534 + i)),
		          SB_RTP_DROP_CANDIDATE);
	ASSERT_TRUE(peer_is(&s, "198.51.100.7", 31000));
	/* The run crosses the sequence wrap (65534, 65535, 0, 1). */
	ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 2, 1), SB_RTP_ACCEPT);
	ASSERT_TRUE(peer_is(&s, "10.1.1.1", 5000));
	ASSERT_EQ(s.relatches, 1);
	/* Now the old source is the newcomer. */
	ASSERT_EQ(pkt(&s, "198.51.100.7", 31000, 1, 11), SB_RTP_DROP_CANDIDATE);
	ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 2, 2), SB_RTP_ACCEPT);
	/* The SDP's own address and port take the latch back at once. */
	ASSERT_EQ(pkt(&s, "192.0.2.10", 4000, 9, 500), SB_RTP_ACCEPT);
	ASSERT_TRUE(peer_is(&s, "192.0.2.10", 4000));
	ASSERT_EQ(s.relatches, 2);
	ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 2, 3), SB_RTP_DROP_CANDIDATE);
out:
	return r;
}

TEST(interleaved_or_broken_runs_do_not_relatch)
{
	struct sb_rtp_source s;
	struct sb_cidr acl;
	int r = 0;

	setup(&s, &acl);
	ASSERT_EQ(pkt(&s, "192.0.2.10", 4000, 1, 10), SB_RTP_ACCEPT);
	/* The same host from another port is not the SDP's endpoint: it has to earn the latch. */
	ASSERT_EQ(pkt(&s, "192.0.2.10", 4002, 1, 11), SB_RTP_DROP_CANDIDATE);
	/* The latched source keeps talking between the newcomer's packets: no takeover. */
	for (uint16_t i = 0; i < 40; i++) {
		ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 2, i), SB_RTP_DROP_CANDIDATE);
		if (i % 2)
			ASSERT_EQ(pkt(&s, "192.0.2.10", 4000, 1, (uint16_t)(11 + i)),
			          SB_RTP_ACCEPT);
	}
	ASSERT_TRUE(peer_is(&s, "192.0.2.10", 4000));
	/* Gaps, a changing SSRC or a changing port break a run. */
	for (uint16_t i = 0; i < 40; i += 2)
		ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 2, (uint16_t)(1000 + i)),
		          SB_RTP_DROP_CANDIDATE);
	for (uint32_t i = 0; i < 40; i++)
		ASSERT_EQ(pkt(&s, "10.1.1.1", 5000, 100 + i, (uint16_t)(2000 + i)),
		          SB_RTP_DROP_CANDIDATE);
	for (unsigned i = 0; i < 40; i++)
		ASSERT_EQ(pkt(&s, "10.1.1.1", 5000 + i, 3, (uint16_t)(3000 + i)),
		          SB_RTP_DROP_CANDIDATE);
	ASSERT_TRUE(peer_is(&s, "192.0.2.10", 4000));
	ASSERT_EQ(s.relatches, 0);
out:
	return r;
}

TEST(new_sdp_address)
{
	struct sb_rtp_source s;
	struct sb_cidr acl;
	struct sockaddr_storage ss;
	int r = 0;

	setup(&s, &acl);
	ASSERT_EQ(pkt(&s, "192.0.2.10", 4000, 1, 10), SB_RTP_ACCEPT);
	/* The same address again (a session refresh) keeps the latch. */
	sb_rtp_source_set_sdp(&s, sa(&ss, "192.0.2.10", 4000), sizeof(struct sockaddr_in));
	ASSERT_TRUE(s.latched);
	/* A re-INVITE moves the media (an SBC re-anchoring, or music on hold from elsewhere):
	 * RTP goes there at once, and the first packet from an allowed source latches. */
	sb_rtp_source_set_sdp(&s, sa(&ss, "192.0.2.99", 6000), sizeof(struct sockaddr_in));
	ASSERT_TRUE(!s.latched);
	ASSERT_TRUE(peer_is(&s, "192.0.2.99", 6000));
	ASSERT_EQ(pkt(&s, "192.0.2.10", 4000, 1, 11), SB_RTP_DROP_FOREIGN); /* no longer the SDP */
	ASSERT_EQ(pkt(&s, "192.0.2.99", 6000, 5, 1), SB_RTP_ACCEPT);
	ASSERT_TRUE(peer_is(&s, "192.0.2.99", 6000));
out:
	return r;
}

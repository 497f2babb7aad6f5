/* Unit tests for srtp_ctx: a sender's and a receiver's contexts with crossed keys; RTP and
 * RTCP round trips, tampered, replayed and foreign-key packets refused, MKI, a new inbound
 * key, too little room, the bound on inbound streams. Thread: the test's main thread. Owns
 * its contexts. */
#include <errno.h>
#include <stdlib.h>

#include <sb/common.h>
#include <sb/rtcp.h>
#include <sb/rtp_session.h>
#include <sb/srtp_ctx.h>

#include "harness.h"

#define PAYLOAD 160
#define BUF (SB_RTP_HEADER_BYTES + PAYLOAD + SB_SRTP_MAX_TRAILER)

/* a: the bridge (rx = b's key, tx = a's key); b: the caller, the other way round. */
struct pair {
	struct sb_srtp *a, *b;
};

static int make_pair(struct pair *p, enum sb_srtp_suite suite, uint8_t mki_a, uint8_t mki_b)
{
	struct sb_srtp_keys ka = {.suite = suite}, kb = {.suite = suite};
	int r;

	if (sb_srtp_random_key(&ka.tx) < 0 || sb_srtp_random_key(&kb.tx) < 0)
		return -1;
	ka.tx.mki_len = mki_a ? 1 : 0;
	ka.tx.mki[0] = mki_a;
	kb.tx.mki_len = mki_b ? 1 : 0;
	kb.tx.mki[0] = mki_b;
	ka.rx = kb.tx;
	kb.rx = ka.tx;
	r = sb_srtp_new(&p->a, &ka);
	if (r == 0)
		r = sb_srtp_new(&p->b, &kb);
	return r;
}

static void free_pair(struct pair *p)
{
	p->a = sb_srtp_free(p->a);
	p->b = sb_srtp_free(p->b);
}

#define SSRC 0x11223344 /* the far end's usual SSRC */

/* An RTP packet of seq from ssrc with a recognisable payload; returns its length. */
static size_t rtp_packet_from(uint8_t *buf, uint16_t seq, uint32_t ssrc)
{
	struct sb_rtp_header h = {.pt = 0, .seq = seq, .ts = seq * 160u, .ssrc = ssrc};

	sb_rtp_write_header(buf, &h);
	for (size_t i = 0; i < PAYLOAD; i++)
		buf[SB_RTP_HEADER_BYTES + i] = (uint8_t)(i * 7 + seq);
	return SB_RTP_HEADER_BYTES + PAYLOAD;
}

static size_t rtp_packet(uint8_t *buf, uint16_t seq)
{
	return rtp_packet_from(buf, seq, SSRC);
}

/* b sends the RTP packet of seq from ssrc; returns what a makes of it. */
static int send_rtp(struct pair *p, uint16_t seq, uint32_t ssrc)
{
	_Alignas(8) uint8_t pkt[BUF];
	size_t len = rtp_packet_from(pkt, seq, ssrc);

	if (sb_srtp_protect(p->b, pkt, &len, sizeof(pkt)) < 0)
		return -EIO;
	return sb_srtp_unprotect(p->a, pkt, &len);
}

/* b sends an RTCP SR from ssrc; returns what a makes of it. */
static int send_rtcp(struct pair *p, uint32_t ssrc)
{
	_Alignas(8) uint8_t pkt[SB_RTCP_MAX_PACKET + SB_SRTP_MAX_TRAILER];
	struct sb_rtp_tx_stats tx = {.ssrc = ssrc, .packets = 1, .octets = 160};
	struct sb_rtp_rx_stats rx = {0};
	int b = sb_rtcp_build(pkt, SB_RTCP_MAX_PACKET, &tx, &rx, sb_ntp_now(), 0, sb_now_us(),
	                      "t@x");
	size_t len = (size_t)b;

	if (b < 0 || sb_srtp_protect_rtcp(p->b, pkt, &len, sizeof(pkt)) < 0)
		return -EIO;
	return sb_srtp_unprotect_rtcp(p->a, pkt, &len);
}

static int round_trip(enum sb_srtp_suite suite, size_t tag, uint8_t mki)
{
	_Alignas(8) uint8_t pkt[BUF], plain[BUF];
	struct pair p = {0};
	int r = 0;

	ASSERT_EQ(make_pair(&p, suite, 0, mki), 0);
	for (uint16_t seq = 1000; seq < 1050; seq++) {
		size_t n = rtp_packet(plain, seq), len = n;

		memcpy(pkt, plain, n);
		ASSERT_EQ(sb_srtp_protect(p.b, pkt, &len, sizeof(pkt)), 0);
		ASSERT_EQ(len, n + tag + (mki ? 1 : 0));
		/* encrypted: the payload is not what was sent, the header is */
		ASSERT_TRUE(memcmp(pkt + SB_RTP_HEADER_BYTES, plain + SB_RTP_HEADER_BYTES, 16) !=
		            0);
		ASSERT_MEMEQ(pkt, plain, SB_RTP_HEADER_BYTES);
		ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), 0);
		ASSERT_EQ(len, n);
		ASSERT_MEMEQ(pkt, plain, n);
	}
out:
	free_pair(&p);
	return r;
}

TEST(srtp_round_trip_80)
{
	return round_trip(SB_SRTP_AES_CM_128_HMAC_SHA1_80, 10, 0);
}

TEST(srtp_round_trip_32)
{
	return round_trip(SB_SRTP_AES_CM_128_HMAC_SHA1_32, 4, 0);
}

TEST(srtp_round_trip_with_mki)
{
	return round_trip(SB_SRTP_AES_CM_128_HMAC_SHA1_80, 10, 7);
}

TEST(srtp_tampered_and_replayed)
{
	_Alignas(8) uint8_t pkt[BUF], copy[BUF];
	struct pair p = {0};
	size_t len, clen;
	int r = 0;

	ASSERT_EQ(make_pair(&p, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 0, 0), 0);
	len = rtp_packet(pkt, 7);
	ASSERT_EQ(sb_srtp_protect(p.b, pkt, &len, sizeof(pkt)), 0);
	memcpy(copy, pkt, len);
	clen = len;
	/* one bit of the payload flipped: authentication fails, the length is untouched */
	pkt[SB_RTP_HEADER_BYTES + 3] ^= 0x01;
	ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), -EACCES);
	ASSERT_EQ(len, clen);
	/* the genuine packet still passes, once; the same again is a replay */
	memcpy(pkt, copy, clen);
	len = clen;
	ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), 0);
	memcpy(pkt, copy, clen);
	len = clen;
	ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), -EALREADY);
	/* a plain RTP packet (no tag) is not SRTP */
	len = rtp_packet(pkt, 8);
	ASSERT_TRUE(sb_srtp_unprotect(p.a, pkt, &len) < 0);
out:
	free_pair(&p);
	return r;
}

TEST(srtp_wrong_key_fails_auth)
{
	_Alignas(8) uint8_t pkt[BUF];
	struct pair p = {0}, q = {0};
	size_t len;
	int r = 0;

	ASSERT_EQ(make_pair(&p, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 0, 0), 0);
	ASSERT_EQ(make_pair(&q, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 0, 0), 0);
	len = rtp_packet(pkt, 1);
	ASSERT_EQ(sb_srtp_protect(q.b, pkt, &len, sizeof(pkt)), 0);
	ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), -EACCES);
out:
	free_pair(&p);
	free_pair(&q);
	return r;
}

TEST(srtcp_round_trip_and_tamper)
{
	_Alignas(8) uint8_t pkt[SB_RTCP_MAX_PACKET + SB_SRTP_MAX_TRAILER],
	        plain[SB_RTCP_MAX_PACKET];
	struct sb_rtp_tx_stats tx = {.ssrc = 0x55667788, .packets = 10, .octets = 1600};
	struct sb_rtp_rx_stats rx = {0};
	struct sb_rtcp_report rep;
	struct pair p = {0};
	size_t len, n;
	int r = 0, b;

	ASSERT_EQ(make_pair(&p, SB_SRTP_AES_CM_128_HMAC_SHA1_32, 0, 0), 0);
	b = sb_rtcp_build(plain, sizeof(plain), &tx, &rx, sb_ntp_now(), 1234, sb_now_us(), "t@x");
	ASSERT_TRUE(b > 0);
	n = (size_t)b;
	memcpy(pkt, plain, n);
	len = n;
	ASSERT_EQ(sb_srtp_protect_rtcp(p.b, pkt, &len, sizeof(pkt)), 0);
	ASSERT_EQ(len, n + 4 + 10); /* E flag + index, then the 80-bit tag even for _32 */
	ASSERT_EQ(sb_srtp_unprotect_rtcp(p.a, pkt, &len), 0);
	ASSERT_EQ(len, n);
	ASSERT_MEMEQ(pkt, plain, n);
	ASSERT_EQ(sb_rtcp_parse(pkt, len, 0, &rep), 0);
	len = n;
	memcpy(pkt, plain, n);
	ASSERT_EQ(sb_srtp_protect_rtcp(p.b, pkt, &len, sizeof(pkt)), 0);
	pkt[10] ^= 0x80;
	ASSERT_EQ(sb_srtp_unprotect_rtcp(p.a, pkt, &len), -EACCES);
out:
	free_pair(&p);
	return r;
}

TEST(srtp_new_inbound_key)
{
	_Alignas(8) uint8_t pkt[BUF];
	struct sb_srtp_keys k = {.suite = SB_SRTP_AES_CM_128_HMAC_SHA1_80};
	struct sb_srtp *a = NULL, *b = NULL;
	size_t len;
	int r = 0;

	ASSERT_EQ(sb_srtp_random_key(&k.rx), 0);
	ASSERT_EQ(sb_srtp_random_key(&k.tx), 0);
	ASSERT_EQ(sb_srtp_new(&a, &k), 0);
	/* the far end starts over with a new key: b sends with it */
	ASSERT_EQ(sb_srtp_random_key(&k.tx), 0);
	ASSERT_EQ(sb_srtp_new(&b, &k), 0);
	len = rtp_packet(pkt, 3);
	ASSERT_EQ(sb_srtp_protect(b, pkt, &len, sizeof(pkt)), 0);
	ASSERT_EQ(sb_srtp_unprotect(a, pkt, &len), -EACCES);
	ASSERT_EQ(sb_srtp_set_rx(a, &k.tx), 0);
	len = rtp_packet(pkt, 4);
	ASSERT_EQ(sb_srtp_protect(b, pkt, &len, sizeof(pkt)), 0);
	ASSERT_EQ(sb_srtp_unprotect(a, pkt, &len), 0);
out:
	sb_srtp_free(a);
	sb_srtp_free(b);
	return r;
}

TEST(srtp_bad_arguments)
{
	_Alignas(8) uint8_t pkt[BUF];
	struct sb_srtp_keys k = {.suite = SB_SRTP_NONE};
	struct sb_srtp *s = NULL, *keep = (struct sb_srtp *)&k, *t = keep;
	size_t len;
	int r = 0;

	ASSERT_EQ(sb_srtp_new(&t, &k), -EINVAL);
	ASSERT_TRUE(t == keep); /* untouched on failure */
	k.suite = SB_SRTP_AES_CM_128_HMAC_SHA1_80;
	ASSERT_EQ(sb_srtp_new(&s, &k), 0);
	len = rtp_packet(pkt, 1);
	/* no room for the trailer: refused, not overrun */
	ASSERT_EQ(sb_srtp_protect(s, pkt, &len, len + 4), -EMSGSIZE);
	ASSERT_STREQ(sb_srtp_suite_name(SB_SRTP_AES_CM_128_HMAC_SHA1_32),
	             "AES_CM_128_HMAC_SHA1_32");
	ASSERT_STREQ(sb_srtp_suite_name(SB_SRTP_NONE), "");
out:
	sb_srtp_free(s);
	return r;
}

/* A far end with the key that sends every packet, SRTP or SRTCP in turn, from a new SSRC: the
 * first few are taken, the next refused while those are in use, and the receiver never holds
 * more than SB_SRTP_RX_STREAMS streams instead of one more per packet; one SSRC in a while
 * takes the place of the least recently used once that has been idle long enough. */
TEST(srtp_rx_streams_bounded)
{
	enum { N = 1000, FIRST = 0x50000000 };
	struct pair p = {0};
	unsigned held = 0, taken = 0;
	int r = 0, got;

	ASSERT_EQ(make_pair(&p, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 0, 0), 0);
	for (uint32_t i = 0; i < N; i++) {
		got = i % 2 ? send_rtcp(&p, FIRST + i) : send_rtp(&p, (uint16_t)i, FIRST + i);
		ASSERT_TRUE(got == 0 || (got == -EBUSY && i >= SB_SRTP_RX_STREAMS));
		taken += got == 0;
	}
	for (uint32_t i = 0; i < N; i++)
		held += sb_srtp_rx_has_stream(p.a, FIRST + i);
	ASSERT_EQ(held, SB_SRTP_RX_STREAMS);
	ASSERT_TRUE(taken > SB_SRTP_RX_STREAMS &&
	            taken < N / 20); /* a few places every 5 s or so */
out:
	free_pair(&p);
	return r;
}

/* The SSRC in use keeps its stream whatever comes from other SSRCs (recorded packets of
 * SSRCs the far end left, say), so a replay of its packets is still refused. */
TEST(srtp_rx_current_ssrc_keeps_replay_protection)
{
	_Alignas(8) uint8_t pkt[BUF], first[BUF];
	struct pair p = {0};
	size_t len, flen;
	int r = 0, got;

	ASSERT_EQ(make_pair(&p, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 0, 0), 0);
	flen = rtp_packet(first, 1);
	ASSERT_EQ(sb_srtp_protect(p.b, first, &flen, sizeof(first)), 0);
	memcpy(pkt, first, flen);
	len = flen;
	ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), 0);
	for (uint16_t i = 0; i < 1000; i++) {
		ASSERT_EQ(send_rtp(&p, (uint16_t)(2 + i), SSRC), 0);
		got = send_rtcp(&p, 0x60000000u + i);
		ASSERT_TRUE(got == 0 || got == -EBUSY);
	}
	ASSERT_TRUE(sb_srtp_rx_has_stream(p.a, SSRC));
	memcpy(pkt, first, flen);
	len = flen;
	ASSERT_EQ(sb_srtp_unprotect(p.a, pkt, &len), -EALREADY);
out:
	free_pair(&p);
	return r;
}

/* A far end that changes its SSRC (a hold, a re-anchoring) gets the new stream at once while
 * there is room, and once the kept ones have fallen silent when there is not. */
TEST(srtp_rx_new_ssrc_after_the_old_fall_silent)
{
	struct pair p = {0};
	unsigned refused = 0;
	int r = 0, got;

	ASSERT_EQ(make_pair(&p, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 0, 0), 0);
	for (uint32_t k = 0; k < SB_SRTP_RX_STREAMS; k++) /* one change after another: room */
		for (uint16_t i = 0; i < 10; i++)
			ASSERT_EQ(send_rtp(&p, (uint16_t)(100 * k + i), 0x70000000u + k), 0);
	for (uint16_t i = 0; i < 600; i++) {
		got = send_rtp(&p, i, 0x7F000000u);
		ASSERT_TRUE(got == 0 || (got == -EBUSY && refused++ == i));
	}
	ASSERT_TRUE(refused > 0 && refused <= 251);
	ASSERT_TRUE(sb_srtp_rx_has_stream(p.a, 0x7F000000u));
out:
	free_pair(&p);
	return r;
}

/* Unit tests for rtcp.c: receive statistics (loss across a sequence wrap, duplicates, a
 * restart, the call's totals across them, jitter as RFC 3550 A.8 computes it), the compound SR/RR +
 * SDES the bridge sends, reading a caller's report (and one about someone else), the round-trip
 * time, and packets that are not RTCP. */
#include <errno.h>
#include <string.h>

#include <sb/rtcp.h>

#include "harness.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

TEST(loss_wrap_and_duplicates)
{
	struct sb_rtp_rx_stats s = {0};
	int r = 0;

	/* 65530 .. 65535, 0 .. 9 with 65534 and 3 lost, 5 twice: 16 expected, 14 distinct */
	for (uint32_t i = 0; i < 16; i++) {
		uint16_t seq = (uint16_t)(65530 + i);

		if (seq == 65534 || seq == 3)
			continue;
		sb_rtp_rx_update(&s, 42, seq, i * 160, (int64_t)i * 20000);
		if (seq == 5)
			sb_rtp_rx_update(&s, 42, seq, i * 160, (int64_t)i * 20000 + 1000);
	}
	ASSERT_EQ(s.received, 15);
	ASSERT_EQ(s.max_seq, 9);
	ASSERT_EQ(s.cycles, 65536);
	ASSERT_EQ(sb_rtp_rx_lost(&s), 1); /* 16 expected - 15 received (the duplicate counts) */
	/* A new SSRC starts over; the call's totals go on. */
	sb_rtp_rx_update(&s, 43, 100, 0, 10000000);
	ASSERT_EQ(s.received, 1);
	ASSERT_EQ(sb_rtp_rx_lost(&s), 0);
	ASSERT_EQ(sb_rtp_rx_total_received(&s), 16);
	ASSERT_EQ(sb_rtp_rx_total_lost(&s), 1);
	/* A jump far ahead: one stray packet is left out; a second in sequence after it means
	 * the sender restarted its numbering, and the count starts over (RFC 3550 A.1). */
	sb_rtp_rx_update(&s, 43, 30000, 160, 10020000);
	ASSERT_EQ(s.received, 1);
	ASSERT_EQ(s.max_seq, 100);
	sb_rtp_rx_update(&s, 43, 101, 320, 10040000);
	ASSERT_EQ(s.received, 2);
	sb_rtp_rx_update(&s, 43, 40000, 480, 10060000);
	sb_rtp_rx_update(&s, 43, 40001, 640, 10080000);
	ASSERT_EQ(s.received, 1);
	ASSERT_EQ(s.base_seq, 40001);
	ASSERT_EQ(sb_rtp_rx_lost(&s), 0);
	ASSERT_EQ(sb_rtp_rx_total_received(&s), 18); /* 15, 2 and 1: the strays left out */
	ASSERT_EQ(sb_rtp_rx_total_lost(&s), 1);
	/* A timestamp jump of 2^31 (the caller picks the timestamps) is just a big jitter. */
	sb_rtp_rx_update(&s, 43, 40002, 0x800000A0u, 10100000);
	ASSERT_TRUE(s.jitter > 0);
out:
	return r;
}

TEST(jitter)
{
	struct sb_rtp_rx_stats s = {0};
	double model = 0;
	int r = 0;

	/* Evenly spaced: no jitter. */
	for (uint32_t i = 0; i < 50; i++)
		sb_rtp_rx_update(&s, 1, (uint16_t)i, i * 160, (int64_t)i * 20000);
	ASSERT_EQ(s.jitter >> 4, 0);
	/* Arrivals alternating 10 ms early and late: the estimator of RFC 3550 A.8 (in RTP
	 * units: 80 each way, so |D| = 160 every packet after the first) converges on 160. */
	memset(&s, 0, sizeof(s));
	for (uint32_t i = 0; i < 400; i++) {
		int64_t off = i % 2 ? 10000 : -10000;

		sb_rtp_rx_update(&s, 1, (uint16_t)i, i * 160, 1000000 + (int64_t)i * 20000 + off);
		if (i)
			model += (160 - model) / 16;
	}
	ASSERT_TRUE((s.jitter >> 4) >= (uint32_t)model - 2 &&
	            (s.jitter >> 4) <= (uint32_t)model + 2);
	ASSERT_TRUE(sb_rtp_rx_jitter_ms(&s) == 19 ||
	            sb_rtp_rx_jitter_ms(&s) == 20); /* 10 ms each way */
out:
	return r;
}

TEST(sender_report_round_trip)
{
	struct sb_rtp_tx_stats tx = {.ssrc = 0xabcd0001, .packets = 250, .octets = 40000};
	struct sb_rtp_rx_stats rx = {0};
	struct sb_rtcp_report rep;
	uint8_t buf[SB_RTCP_MAX_PACKET];
	uint64_t ntp = (uint64_t)3900000000u << 32 | 0x80000000u;
	int r = 0, n;

	for (uint32_t i = 0; i < 100; i++)
		if (i % 10 != 5) /* 10 of 100 lost */
			sb_rtp_rx_update(&rx, 0x5eed, (uint16_t)(1000 + i), i * 160,
			                 (int64_t)i * 20000);
	rx.lsr = 0x12345678;
	rx.lsr_rx_us = 1000000;
	n = sb_rtcp_build(buf, sizeof(buf), &tx, &rx, ntp, 777, 1500000, "sipbridge@192.0.2.1");
	ASSERT_TRUE(n > 0 && n % 4 == 0);
	/* SR: version 2, one block, length in words - 1, our SSRC, sender info */
	ASSERT_EQ(buf[0], 0x81);
	ASSERT_EQ(buf[1], 200);
	ASSERT_EQ(4 * ((buf[2] << 8 | buf[3]) + 1), 52);
	ASSERT_EQ(get32(buf + 4), 0xabcd0001);
	ASSERT_EQ(get32(buf + 8), 3900000000u);
	ASSERT_EQ(get32(buf + 16), 777);
	ASSERT_EQ(get32(buf + 20), 250);
	ASSERT_EQ(get32(buf + 24), 40000);
	/* report block about the caller */
	ASSERT_EQ(get32(buf + 28), 0x5eed);
	ASSERT_EQ(buf[32], (10u << 8) / 100); /* fraction lost: 10 of the 100 expected */
	ASSERT_EQ(get32(buf + 32) & 0xffffff, 10);
	ASSERT_EQ(get32(buf + 36), 1099);
	ASSERT_EQ(get32(buf + 44), 0x12345678);
	ASSERT_EQ(get32(buf + 48), 32768); /* 0.5 s since the caller's SR, in 1/65536 s */
	/* SDES with the CNAME */
	ASSERT_EQ(buf[52], 0x81);
	ASSERT_EQ(buf[53], 202);
	ASSERT_EQ(buf[60], 1);
	ASSERT_EQ(buf[61], 19);
	ASSERT_MEMEQ(buf + 62, "sipbridge@192.0.2.1", 19);
	/* Read back as the caller would: its stream's block. */
	ASSERT_EQ(sb_rtcp_parse(buf, (size_t)n, 0x5eed, &rep), 0);
	ASSERT_TRUE(rep.have_sr && rep.have_block);
	ASSERT_EQ(rep.sender_ssrc, 0xabcd0001);
	ASSERT_EQ(rep.sr_ntp_mid, (3900000000u << 16) | 0x8000);
	ASSERT_EQ(rep.cumulative_lost, 10);
	ASSERT_EQ(rep.highest_seq, 1099);
	/* The next report covers only the new interval: nothing more lost. */
	sb_rtp_rx_update(&rx, 0x5eed, 1100, 100 * 160, 2000000);
	n = sb_rtcp_build(buf, sizeof(buf), &tx, &rx, ntp, 777, 2500000, "x");
	ASSERT_EQ(buf[32], 0);
	/* Nothing sent yet: an RR; nothing received either: no block. */
	tx.packets = 0;
	memset(&rx, 0, sizeof(rx));
	n = sb_rtcp_build(buf, sizeof(buf), &tx, &rx, ntp, 0, 0, "x");
	ASSERT_EQ(buf[0], 0x80);
	ASSERT_EQ(buf[1], 201);
	ASSERT_EQ(n, 8 + 12);
	ASSERT_EQ(sb_rtcp_build(buf, 16, &tx, &rx, ntp, 0, 0, "x"), -ENOSPC);
out:
	return r;
}

TEST(caller_report_and_rtt)
{
	/* A caller's RR about our SSRC 7 (25% lost, 12 in all, jitter 80) and about SSRC 8. */
	uint8_t rr[8 + 48] = {0x82, 201, 0, 13, 0, 0, 0, 0x99};
	struct sb_rtcp_report rep;
	uint64_t ntp = (uint64_t)0x00010002u << 32 | 0x00030000u; /* middle: 0x00020003 */
	int r = 0;

	rr[11] = 8;            /* block 1: SSRC 8 */
	rr[8 + 24 + 3] = 7;    /* block 2: SSRC 7 */
	rr[8 + 28] = 64;       /* fraction lost 64/256 */
	rr[8 + 31] = 12;       /* cumulative lost */
	rr[8 + 39] = 80;       /* jitter */
	rr[8 + 40 + 2] = 0x00; /* LSR 0x00010003 */
	rr[8 + 40 + 1] = 0x01;
	rr[8 + 40 + 3] = 0x03;
	rr[8 + 44 + 2] = 0x80; /* DLSR 0.5 s: 0x8000 */
	ASSERT_EQ(sb_rtcp_parse(rr, sizeof(rr), 7, &rep), 0);
	ASSERT_TRUE(rep.have_block && !rep.have_sr);
	ASSERT_EQ(rep.sender_ssrc, 0x99);
	ASSERT_EQ(rep.fraction_lost, 64);
	ASSERT_EQ(rep.cumulative_lost, 12);
	ASSERT_EQ(rep.jitter, 80);
	/* now 0x00020003 - LSR 0x00010003 - DLSR 0x8000 = 0x8000 = 500 ms */
	ASSERT_EQ(sb_rtcp_rtt_ms(&rep, ntp), 500);
	ASSERT_EQ(sb_rtcp_parse(rr, sizeof(rr), 9, &rep), 0);
	ASSERT_TRUE(!rep.have_block);
	ASSERT_EQ(sb_rtcp_rtt_ms(&rep, ntp), -1);
	/* Not RTCP: RTP, a bad version, a length beyond the packet, an SDES first. */
	ASSERT_EQ(sb_rtcp_parse((const uint8_t *)"\x80\x08\x00\x01\0\0\0\0", 8, 7, &rep), -EBADMSG);
	ASSERT_EQ(sb_rtcp_parse((const uint8_t *)"\x40\xc9\x00\x01\0\0\0\0", 8, 7, &rep), -EBADMSG);
	ASSERT_EQ(sb_rtcp_parse(rr, 40, 7, &rep), -EBADMSG);
	ASSERT_EQ(sb_rtcp_parse((const uint8_t *)"\x81\xca\x00\x01\0\0\0\0", 8, 7, &rep), -EBADMSG);
out:
	return r;
}

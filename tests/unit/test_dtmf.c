/* Unit tests for dtmf: digit/event mapping, RFC 4733 reception (exactly one report per key
 * press through redundant, lost, late and reordered packets, the timeout), the sending
 * schedule, and SIP INFO bodies. Thread: the test's main thread. Owns nothing. */
#include <errno.h>
#include <stdbool.h>

#include <sb/common.h>
#include <sb/dtmf.h>

#include "harness.h"

/* A telephone-event payload. */
static const uint8_t *pkt(uint8_t event, bool end, uint16_t duration)
{
	static uint8_t p[4];

	p[0] = event;
	p[1] = (uint8_t)((end ? 0x80 : 0) | 10);
	sb_put_be16(p + 2, duration);
	return p;
}

/* Feeds one packet; returns what rx_packet returned. */
static int feed(struct sb_dtmf_rx *rx, uint32_t ts, uint8_t event, bool end, uint16_t duration,
                int64_t now_ms, struct sb_dtmf_report out[2])
{
	return sb_dtmf_rx_packet(rx, ts, pkt(event, end, duration), 4, now_ms, out);
}

TEST(dtmf_every_digit_both_ways)
{
	static const char digits[] = "0123456789*#ABCD";
	int r = 0;

	for (unsigned e = 0; e < 16; e++) {
		ASSERT_EQ(sb_dtmf_digit(e), digits[e]);
		ASSERT_EQ(sb_dtmf_event(digits[e]), e);
	}
	ASSERT_EQ(sb_dtmf_event('a'), 12);
	ASSERT_EQ(sb_dtmf_event('b'), 13);
	ASSERT_EQ(sb_dtmf_event('c'), 14);
	ASSERT_EQ(sb_dtmf_event('d'), 15);
	ASSERT_EQ(sb_dtmf_digit(16), 0);
	ASSERT_EQ(sb_dtmf_digit(255), 0);
	ASSERT_EQ(sb_dtmf_digit(~0u), 0);
	ASSERT_EQ(sb_dtmf_event('E'), -EINVAL);
	ASSERT_EQ(sb_dtmf_event('e'), -EINVAL);
	ASSERT_EQ(sb_dtmf_event('x'), -EINVAL);
	ASSERT_EQ(sb_dtmf_event(' '), -EINVAL);
	ASSERT_EQ(sb_dtmf_event('\0'), -EINVAL);
	ASSERT_EQ(sb_dtmf_event('+'), -EINVAL);
out:
	return r;
}

/* A full press of every digit: start, updates, three ends: one report each, the largest
 * duration, the redundant ends ignored. */
TEST(dtmf_rx_exactly_once_with_redundant_ends)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	for (uint8_t e = 0; e < 16; e++) {
		uint32_t ts = 1000 + e * 4000u;
		int64_t t = e * 1000;

		ASSERT_EQ(feed(&rx, ts, e, false, 160, t, out), 0);
		ASSERT_TRUE(rx.active);
		ASSERT_EQ(feed(&rx, ts, e, false, 480, t + 40, out), 0);
		ASSERT_EQ(feed(&rx, ts, e, false, 800, t + 80, out), 0);
		ASSERT_EQ(feed(&rx, ts, e, true, 960, t + 100, out), 1);
		ASSERT_EQ(out[0].digit, sb_dtmf_digit(e));
		ASSERT_EQ(out[0].duration_ms, 120);
		ASSERT_TRUE(!rx.active);
		ASSERT_EQ(feed(&rx, ts, e, true, 960, t + 100, out), 0);
		ASSERT_EQ(feed(&rx, ts, e, true, 960, t + 120, out), 0);
		/* A late update of the same press after its end. */
		ASSERT_EQ(feed(&rx, ts, e, false, 800, t + 130, out), 0);
		ASSERT_EQ(sb_dtmf_rx_poll(&rx, t + 10000, out), 0);
	}
out:
	return r;
}

TEST(dtmf_rx_lost_start_packet)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	/* The first packet seen is an update. */
	ASSERT_EQ(feed(&rx, 5000, 5, false, 400, 0, out), 0);
	ASSERT_EQ(feed(&rx, 5000, 5, true, 800, 50, out), 1);
	ASSERT_EQ(out[0].digit, '5');
	ASSERT_EQ(out[0].duration_ms, 100);
	/* Even only an end packet is a key press. */
	ASSERT_EQ(feed(&rx, 9000, 11, true, 640, 500, out), 1);
	ASSERT_EQ(out[0].digit, '#');
	ASSERT_EQ(out[0].duration_ms, 80);
	ASSERT_EQ(feed(&rx, 9000, 11, true, 640, 500, out), 0);
out:
	return r;
}

TEST(dtmf_rx_reordered_updates_keep_the_largest)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	ASSERT_EQ(feed(&rx, 100, 1, false, 160, 0, out), 0);
	ASSERT_EQ(feed(&rx, 100, 1, false, 1200, 150, out), 0);
	ASSERT_EQ(feed(&rx, 100, 1, false, 800, 151, out), 0);
	ASSERT_EQ(rx.duration, 1200);
	/* An end with a smaller duration than seen (a broken sender) still keeps the largest. */
	ASSERT_EQ(feed(&rx, 100, 1, true, 1000, 200, out), 1);
	ASSERT_EQ(out[0].digit, '1');
	ASSERT_EQ(out[0].duration_ms, 150);
out:
	return r;
}

TEST(dtmf_rx_same_digit_twice)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	ASSERT_EQ(feed(&rx, 8000, 7, false, 160, 0, out), 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(feed(&rx, 8000, 7, true, 800, 100, out), i == 0);
	ASSERT_EQ(out[0].digit, '7');
	ASSERT_EQ(feed(&rx, 8000 + 1600, 7, false, 160, 200, out), 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(feed(&rx, 8000 + 1600, 7, true, 640, 280, out), i == 0);
	ASSERT_EQ(out[0].digit, '7');
	ASSERT_EQ(out[0].duration_ms, 80);
out:
	return r;
}

/* All ends of the first press lost; the next press's first packet reports it, then itself. */
TEST(dtmf_rx_new_event_reports_the_unreported_one)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	ASSERT_EQ(feed(&rx, 200, 3, false, 160, 0, out), 0);
	ASSERT_EQ(feed(&rx, 200, 3, false, 560, 50, out), 0);
	ASSERT_EQ(feed(&rx, 2000, 4, false, 160, 200, out), 1);
	ASSERT_EQ(out[0].digit, '3');
	ASSERT_EQ(out[0].duration_ms, 70);
	ASSERT_TRUE(rx.active);
	ASSERT_EQ(rx.event, 4);
	/* The first press's ends arriving now are stragglers. */
	ASSERT_EQ(feed(&rx, 200, 3, true, 800, 210, out), 0);
	ASSERT_EQ(feed(&rx, 2000, 4, true, 800, 300, out), 1);
	ASSERT_EQ(out[0].digit, '4');
	ASSERT_EQ(out[0].duration_ms, 100);

	/* The new event's first packet is an end: two reports from one packet. */
	ASSERT_EQ(feed(&rx, 4000, 9, false, 400, 500, out), 0);
	ASSERT_EQ(feed(&rx, 6000, 10, true, 480, 700, out), 2);
	ASSERT_EQ(out[0].digit, '9');
	ASSERT_EQ(out[0].duration_ms, 50);
	ASSERT_EQ(out[1].digit, '*');
	ASSERT_EQ(out[1].duration_ms, 60);
	ASSERT_TRUE(!rx.active);
	ASSERT_EQ(feed(&rx, 6000, 10, true, 480, 700, out), 0);
out:
	return r;
}

TEST(dtmf_rx_all_ends_lost_poll)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 0, out), 0);
	ASSERT_EQ(feed(&rx, 300, 0, false, 160, 1000, out), 0);
	ASSERT_EQ(feed(&rx, 300, 0, false, 560, 1050, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 1050, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 1050 + SB_DTMF_RX_TIMEOUT_MS - 1, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 1050 + SB_DTMF_RX_TIMEOUT_MS, out), 1);
	ASSERT_EQ(out[0].digit, '0');
	ASSERT_EQ(out[0].duration_ms, 70);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 1050 + SB_DTMF_RX_TIMEOUT_MS, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 100000, out), 0);
	/* Its ends, very late, are not a second press. */
	ASSERT_EQ(feed(&rx, 300, 0, true, 800, 2000, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 200000, out), 0);
	/* Each packet restarts the wait. */
	ASSERT_EQ(feed(&rx, 3000, 2, false, 160, 5000, out), 0);
	ASSERT_EQ(feed(&rx, 3000, 2, false, 2400, 5250, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 5000 + SB_DTMF_RX_TIMEOUT_MS, out), 0);
	ASSERT_EQ(sb_dtmf_rx_poll(&rx, 5250 + SB_DTMF_RX_TIMEOUT_MS, out), 1);
	ASSERT_EQ(out[0].digit, '2');
	ASSERT_EQ(out[0].duration_ms, 300);
out:
	return r;
}

/* A packet delayed past the next press is not a new press; a restart far away is. */
TEST(dtmf_rx_stragglers_and_wrap)
{
	struct sb_dtmf_rx rx = {0};
	struct sb_dtmf_report out[2];
	int r = 0;

	ASSERT_EQ(feed(&rx, 10000, 1, true, 800, 0, out), 1);
	ASSERT_EQ(feed(&rx, 12000, 2, true, 800, 300, out), 1);
	ASSERT_EQ(feed(&rx, 10000, 1, false, 400, 310, out), 0);
	ASSERT_EQ(feed(&rx, 10000, 1, true, 800, 320, out), 0);
	ASSERT_TRUE(!rx.active);
	/* Timestamps wrap around 2^32: after the wrap is later, not behind. */
	rx = (struct sb_dtmf_rx){0};
	ASSERT_EQ(feed(&rx, 0xffffe000u, 3, true, 800, 1000, out), 1);
	ASSERT_EQ(feed(&rx, 0x100, 4, true, 800, 1200, out), 1);
	ASSERT_EQ(out[0].digit, '4');
	ASSERT_EQ(feed(&rx, 0xffffe000u, 3, true, 800, 1210, out), 0);
	ASSERT_EQ(feed(&rx, 0x100, 4, true, 800, 1210, out), 0);
	/* A stream whose timestamps restart at a random base still gets its digits. */
	ASSERT_EQ(feed(&rx, 0x80000000u, 5, true, 800, 2000, out), 1);
	ASSERT_EQ(out[0].digit, '5');
out:
	return r;
}

TEST(dtmf_rx_bad_payloads)
{
	struct sb_dtmf_rx rx = {0}, before;
	struct sb_dtmf_report out[2];
	static const uint8_t ev16[4] = {16, 0x8a, 0x03, 0x20};
	static const uint8_t ev255[4] = {255, 0x0a, 0x00, 0xa0};
	static const uint8_t padded[5] = {6, 0x8a, 0x03, 0x20, 0xff};
	int r = 0;

	ASSERT_EQ(feed(&rx, 100, 6, false, 160, 0, out), 0);
	before = rx;
	ASSERT_EQ(sb_dtmf_rx_packet(&rx, 100, pkt(6, true, 800), 3, 10, out), -EBADMSG);
	ASSERT_EQ(sb_dtmf_rx_packet(&rx, 100, pkt(6, true, 800), 0, 10, out), -EBADMSG);
	ASSERT_EQ(sb_dtmf_rx_packet(&rx, 100, NULL, 0, 10, out), -EBADMSG);
	ASSERT_EQ(sb_dtmf_rx_packet(&rx, 500, ev16, 4, 10, out), -EBADMSG);
	ASSERT_EQ(sb_dtmf_rx_packet(&rx, 100, ev255, 4, 10, out), -EBADMSG);
	ASSERT_MEMEQ(&rx, &before, sizeof(rx));
	/* A longer payload (padding) is fine: the first 4 bytes count. */
	ASSERT_EQ(sb_dtmf_rx_packet(&rx, 100, padded, sizeof(padded), 20, out), 1);
	ASSERT_EQ(out[0].digit, '6');
	ASSERT_EQ(out[0].duration_ms, 100);
	/* The longest duration a packet can carry. */
	ASSERT_EQ(feed(&rx, 90000, 8, true, 65535, 30, out), 1);
	ASSERT_EQ(out[0].duration_ms, 8191);
out:
	return r;
}

/* ---- sending ---- */

struct sent {
	uint8_t p[3 * SB_DTMF_PAYLOAD_BYTES];
	int n;
	bool marker;
};

static void step(struct sb_dtmf_tx *tx, uint32_t elapsed, struct sent *s)
{
	memset(s->p, 0xee, sizeof(s->p));
	s->marker = true;
	s->n = sb_dtmf_tx_next(tx, elapsed, s->p, &s->marker);
}

/* 200 ms sent on a 20 ms tick: start (marker), an update on the first tick past each 50 ms
 * step carrying that step, three ends at 200 ms with duration 1600, then nothing. */
TEST(dtmf_tx_schedule_200ms)
{
	struct sb_dtmf_tx tx = {0};
	struct sent s;
	uint32_t updates[8];
	int n_updates = 0, r = 0;

	ASSERT_EQ(sb_dtmf_tx_start(&tx, '5', 200), 0);
	ASSERT_TRUE(tx.active);
	ASSERT_EQ(tx.total, 1600);
	step(&tx, 0, &s);
	ASSERT_EQ(s.n, 1);
	ASSERT_TRUE(s.marker);
	ASSERT_EQ(s.p[0], 5);
	ASSERT_EQ(s.p[1], 10);
	ASSERT_EQ(sb_get_be16(s.p + 2), 1);
	ASSERT_EQ(s.p[4], 0xee);
	step(&tx, 0, &s);
	ASSERT_EQ(s.n, 0);
	ASSERT_TRUE(!s.marker);
	for (uint32_t el = 160; el < 1600; el += 160) {
		step(&tx, el, &s);
		if (s.n == 0)
			continue;
		ASSERT_EQ(s.n, 1);
		ASSERT_TRUE(!s.marker);
		ASSERT_EQ(s.p[0], 5);
		ASSERT_EQ(s.p[1], 10); /* no E bit */
		ASSERT_TRUE(n_updates < 8);
		updates[n_updates++] = sb_get_be16(s.p + 2);
		/* The same moment again: nothing new. */
		step(&tx, el, &s);
		ASSERT_EQ(s.n, 0);
	}
	/* 50-ms steps reached on the 20-ms ticks at 60, 100 and 160 ms, each carrying its step. */
	ASSERT_EQ(n_updates, 3);
	ASSERT_EQ(updates[0], 400);
	ASSERT_EQ(updates[1], 800);
	ASSERT_EQ(updates[2], 1200);
	step(&tx, 1600, &s);
	ASSERT_EQ(s.n, SB_DTMF_END_PACKETS);
	ASSERT_TRUE(!s.marker);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(s.p[4 * i], 5);
		ASSERT_EQ(s.p[4 * i + 1], 0x80 | 10);
		ASSERT_EQ(sb_get_be16(s.p + 4 * i + 2), 1600);
	}
	ASSERT_TRUE(!tx.active);
	step(&tx, 1760, &s);
	ASSERT_EQ(s.n, 0);
	step(&tx, 100000, &s);
	ASSERT_EQ(s.n, 0);
out:
	return r;
}

/* Called exactly at every 50 ms step: updates at 400, 800, 1200 units. */
TEST(dtmf_tx_updates_on_the_step)
{
	struct sb_dtmf_tx tx = {0};
	struct sent s;
	int r = 0;

	ASSERT_EQ(sb_dtmf_tx_start(&tx, '#', 200), 0);
	step(&tx, 0, &s);
	ASSERT_TRUE(s.n == 1 && s.marker && s.p[0] == 11);
	step(&tx, 399, &s);
	ASSERT_EQ(s.n, 0);
	for (uint32_t el = 400; el < 1600; el += 400) {
		step(&tx, el, &s);
		ASSERT_EQ(s.n, 1);
		ASSERT_EQ(sb_get_be16(s.p + 2), el);
	}
	/* A late tick catches up the missed steps, three at most at once, each with its own. */
	ASSERT_EQ(sb_dtmf_tx_start(&tx, '1', 1000), 0);
	step(&tx, 80, &s);
	ASSERT_TRUE(s.n == 1 && s.marker && sb_get_be16(s.p + 2) == 80);
	step(&tx, 1700, &s);
	ASSERT_TRUE(s.n == 3 && !s.marker);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(s.p[4 * i + 1], 10);
		ASSERT_EQ(sb_get_be16(s.p + 4 * i + 2), 400 * (i + 1));
	}
	step(&tx, 1700, &s);
	ASSERT_TRUE(s.n == 1 && sb_get_be16(s.p + 2) == 1600);
	step(&tx, 1999, &s);
	ASSERT_EQ(s.n, 0);
	step(&tx, 2000, &s);
	ASSERT_TRUE(s.n == 1 && sb_get_be16(s.p + 2) == 2000);
	step(&tx, 9000, &s);
	ASSERT_EQ(s.n, 3);
	ASSERT_EQ(sb_get_be16(s.p + 2), 8000);
out:
	return r;
}

/* The first call already past the end: the ends alone, the first one marked. */
TEST(dtmf_tx_only_ends)
{
	struct sb_dtmf_tx tx = {0};
	struct sent s;
	int r = 0;

	ASSERT_EQ(sb_dtmf_tx_start(&tx, 'd', 40), 0);
	step(&tx, 320, &s);
	ASSERT_EQ(s.n, 3);
	ASSERT_TRUE(s.marker);
	ASSERT_EQ(s.p[0], 15);
	ASSERT_EQ(s.p[1], 0x8a);
	ASSERT_EQ(sb_get_be16(s.p + 2), 320);
	ASSERT_TRUE(!tx.active);
out:
	return r;
}

TEST(dtmf_tx_clamp_and_bad_digit)
{
	struct sb_dtmf_tx tx = {0}, before;
	struct sent s;
	int r = 0;

	ASSERT_EQ(sb_dtmf_tx_start(&tx, '0', 0), 0);
	ASSERT_EQ(tx.total, SB_DTMF_MIN_MS * 8);
	ASSERT_EQ(sb_dtmf_tx_start(&tx, '0', SB_DTMF_MIN_MS - 1), 0);
	ASSERT_EQ(tx.total, SB_DTMF_MIN_MS * 8);
	ASSERT_EQ(sb_dtmf_tx_start(&tx, 'A', SB_DTMF_MAX_MS + 1), 0);
	ASSERT_EQ(tx.total, SB_DTMF_MAX_MS * 8);
	ASSERT_EQ(sb_dtmf_tx_start(&tx, 'a', ~0u), 0);
	ASSERT_EQ(tx.total, SB_DTMF_MAX_MS * 8);
	ASSERT_EQ(tx.event, 12);
	ASSERT_EQ(sb_dtmf_tx_start(&tx, '*', 100), 0);
	ASSERT_EQ(tx.total, 800);
	step(&tx, 0, &s);
	ASSERT_EQ(s.n, 1);
	before = tx;
	ASSERT_EQ(sb_dtmf_tx_start(&tx, 'x', 100), -EINVAL);
	ASSERT_EQ(sb_dtmf_tx_start(&tx, '\0', 100), -EINVAL);
	ASSERT_EQ(sb_dtmf_tx_start(&tx, 'E', 100), -EINVAL);
	ASSERT_MEMEQ(&tx, &before, sizeof(tx));
	/* The longest event still fits the 16-bit duration. */
	ASSERT_EQ(sb_dtmf_tx_start(&tx, '9', SB_DTMF_MAX_MS), 0);
	step(&tx, 40000, &s);
	ASSERT_EQ(s.n, 3);
	ASSERT_EQ(sb_get_be16(s.p + 2), 40000);
	/* An idle sender sends nothing. */
	tx = (struct sb_dtmf_tx){0};
	step(&tx, 0, &s);
	ASSERT_EQ(s.n, 0);
	ASSERT_TRUE(!s.marker);
out:
	return r;
}

/* What the sender writes, the receiver reports once with the same digit and length. */
TEST(dtmf_tx_to_rx_round_trip)
{
	int r = 0;

	for (unsigned e = 0; e < 16; e++) {
		struct sb_dtmf_tx tx = {0};
		struct sb_dtmf_rx rx = {0};
		struct sb_dtmf_report out[2];
		int reports = 0;

		ASSERT_EQ(sb_dtmf_tx_start(&tx, sb_dtmf_digit(e), 100 + 10 * e), 0);
		for (uint32_t el = 0; tx.active; el += 160) {
			struct sent s;

			step(&tx, el, &s);
			for (int i = 0; i < s.n; i++) {
				int n = sb_dtmf_rx_packet(&rx, 777, s.p + 4 * i, 4, el / 8, out);

				ASSERT_TRUE(n >= 0);
				if (n) {
					ASSERT_EQ(out[0].digit, sb_dtmf_digit(e));
					ASSERT_EQ(out[0].duration_ms, 100 + 10 * e);
				}
				reports += n;
			}
		}
		ASSERT_EQ(reports, 1);
	}
out:
	return r;
}

/* ---- SIP INFO ---- */

static int info(const char *type, const char *body, struct sb_dtmf_report *out)
{
	return sb_dtmf_info_parse(type, body, strlen(body), out);
}

TEST(dtmf_info_typical_bodies)
{
	static const struct {
		const char *type, *body;
		char digit;
		unsigned ms;
	} good[] = {
	        {"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160},
	        {"application/dtmf-relay", "Signal= #\nDuration= 250", '#', 250},
	        {"application/dtmf-relay", "Signal=11", '#', 0},
	        {"application/dtmf-relay", "Signal=10\r\n", '*', 0},
	        {"application/dtmf-relay", "Signal = *\r\nDuration = 100\r\n", '*', 100},
	        {"Application/DTMF-Relay", "signal=d\r\nduration=90\r\n", 'D', 90},
	        {"application/dtmf-relay", "Duration=300\r\nSignal=A\r\n", 'A', 300},
	        {"application/dtmf-relay", "\r\nSignal=0\r\nVolume=10\r\nfoo\r\n", '0', 0},
	        {"application/dtmf-relay", "  Signal\t=\t9  \r\nDuration=\r\n", '9', 0},
	        {"application/dtmf-relay", "Signal=1\r\nDuration=99999999999999\r\n", '1', 5000},
	        {"application/dtmf-relay", "Signal=1\r\nDuration=-20\r\n", '1', 0},
	        {"application/dtmf-relay", "Signal=1\r\nDuration=1e3\r\n", '1', 0},
	        {"application/dtmf-relay", "Signal=2\r\nDuration=5000\r\n", '2', 5000},
	        {"application/dtmf-relay", "Signal=2\r\nDuration=5001\r\n", '2', 5000},
	        {"application/dtmf-relay;charset=utf-8", "Signal=3\r\n", '3', 0},
	        {"application/dtmf", "7", '7', 0},
	        {"application/dtmf", " \r\n7\r\n", '7', 0},
	        {"APPLICATION/DTMF", "b", 'B', 0},
	        {"application/dtmf", "11\r\n", '#', 0},
	};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct sb_dtmf_report out = {0};
		int ret = info(good[i].type, good[i].body, &out);

		if (ret != 0 || out.digit != good[i].digit || out.duration_ms != good[i].ms)
			FAIL_AT("case %zu: %d '%c' %u", i, ret, out.digit ? out.digit : '?',
			        out.duration_ms);
	}
out:
	return r;
}

TEST(dtmf_info_bad_bodies_and_types)
{
	static const struct {
		const char *type, *body;
		int err;
	} bad[] = {
	        {"application/dtmf-relay", "", -EBADMSG},
	        {"application/dtmf-relay", "Duration=160\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=55\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=12\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=x\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=5 6\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=5\r\nSignal=6\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal=5\r\nSignal=x\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signal 5\r\n", -EBADMSG},
	        {"application/dtmf-relay", "Signals=5\r\n", -EBADMSG},
	        {"application/dtmf", "", -EBADMSG},
	        {"application/dtmf", "  \r\n", -EBADMSG},
	        {"application/dtmf", "77", -EBADMSG},
	        {"application/dtmf", "Signal=7", -EBADMSG},
	        {"application/dtmf", "e", -EBADMSG},
	        {"application/sdp", "Signal=5\r\n", -ENOTSUP},
	        {"text/plain", "5", -ENOTSUP},
	        {"application/dtmf-relayx", "Signal=5\r\n", -ENOTSUP},
	        {"application/dtmfx", "5", -ENOTSUP},
	        {"application/dtm", "5", -ENOTSUP},
	        {"", "5", -ENOTSUP},
	};
	struct sb_dtmf_report out, before;
	char big[1100];
	int r = 0;

	memset(&out, 0x5a, sizeof(out));
	before = out;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int ret = info(bad[i].type, bad[i].body, &out);

		if (ret != bad[i].err)
			FAIL_AT("case %zu: %d, want %d", i, ret, bad[i].err);
	}
	ASSERT_EQ(sb_dtmf_info_parse(NULL, "5", 1, &out), -ENOTSUP);
	ASSERT_EQ(sb_dtmf_info_parse("application/dtmf", NULL, 0, &out), -EBADMSG);
	/* A failed parse leaves the output alone. */
	ASSERT_MEMEQ(&out, &before, sizeof(out));
	/* len bounds the body: nothing after it is read. */
	ASSERT_EQ(sb_dtmf_info_parse("application/dtmf-relay", "Signal=5Signal=6", 8, &out), 0);
	ASSERT_EQ(out.digit, '5');
	ASSERT_EQ(sb_dtmf_info_parse("application/dtmf", "3\0004", 3, &out), -EBADMSG);
	/* 1024 bytes is the most. */
	memset(big, ' ', sizeof(big));
	memcpy(big, "Signal=4\r\n", 10);
	ASSERT_EQ(sb_dtmf_info_parse("application/dtmf-relay", big, 1024, &out), 0);
	ASSERT_EQ(out.digit, '4');
	ASSERT_EQ(sb_dtmf_info_parse("application/dtmf-relay", big, 1025, &out), -EBADMSG);
	ASSERT_EQ(sb_dtmf_info_parse("application/dtmf", big + 10, 1025, &out), -EBADMSG);
out:
	return r;
}

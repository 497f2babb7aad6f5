/* Unit tests for jitter.c: in-order packets pass at once, reordered ones are put back in
 * order, duplicates and late packets are dropped and counted, holes are concealed for the
 * media time their timestamps span, a sequence wrap is no loss, timestamp jumps and marker
 * bits resynchronise without filling, and the wait for a hole adapts to the path. */
#include <string.h>

#include <sb/jitter.h>

#include "harness.h"

#define MAX_OUT 256

/* What the buffer released, in order: 'P' packet (seq), 'C' conceal (samples), 'S' silence. */
struct out {
	char kind;
	unsigned seq, samples;
	uint8_t first; /* first payload byte of a packet */
	bool intact;   /* every payload byte equals the first (push_full fills them so) */
	bool audio;
};

static struct out outs[MAX_OUT];
static unsigned n_out;
static struct sb_jitter jb;
static struct sb_config cfg;

static void on_out(void *arg, enum sb_jitter_out kind, const struct sb_jitter_slot *s,
                   unsigned samples)
{
	(void)arg;
	if (n_out >= MAX_OUT)
		return;
	outs[n_out].kind = kind == SB_JITTER_PACKET ? 'P' : kind == SB_JITTER_CONCEAL ? 'C' : 'S';
	outs[n_out].seq = s ? s->seq : 0;
	outs[n_out].samples = s ? s->len : samples;
	outs[n_out].first = s ? s->payload[0] : 0;
	outs[n_out].intact = true;
	for (unsigned i = 1; s && i < s->len; i++)
		outs[n_out].intact &= s->payload[i] == s->payload[0];
	outs[n_out].audio = s ? s->audio : false;
	n_out++;
}

static void setup(int mode, int min_ms, int max_ms, int fixed_ms)
{
	cfg.jitter_mode = mode;
	cfg.jitter_min_ms = min_ms;
	cfg.jitter_max_ms = max_ms;
	cfg.jitter_ms = fixed_ms;
	sb_jitter_free(&jb);
	sb_jitter_init(&jb, &cfg, on_out, NULL);
	n_out = 0;
}

/* Pushes packet seq with timestamp ts (len samples) arriving at t_ms. */
static void push_full(uint16_t seq, uint32_t ts, unsigned len, bool marker, bool audio,
                      uint32_t ssrc, int64_t t_ms)
{
	uint8_t payload[SB_JITTER_MAX_PAYLOAD];
	struct sb_rtp_header h = {.pt = audio ? 8 : 101,
	                          .marker = marker,
	                          .seq = seq,
	                          .ts = ts,
	                          .ssrc = ssrc,
	                          .payload = payload,
	                          .payload_len = len};

	memset(payload, (uint8_t)seq, len);
	sb_jitter_push(&jb, &h, audio, t_ms * 1000);
}

static void push(uint16_t seq, uint32_t ts, int64_t t_ms)
{
	push_full(seq, ts, 160, false, true, 1234, t_ms);
}

/* A clean 20 ms stream of n packets from seq0/ts0, arriving on time from t0. */
static void clean(uint16_t seq0, uint32_t ts0, int64_t t0, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		push((uint16_t)(seq0 + i), ts0 + 160 * i, t0 + 20 * i);
}

static unsigned total_samples(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_out; i++)
		n += outs[i].samples;
	return n;
}

TEST(in_order_released_at_once)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	for (unsigned i = 0; i < 10; i++) {
		push((uint16_t)(100 + i), 5000 + 160 * i, 20 * i);
		ASSERT_EQ(n_out, i + 1); /* each one out as it arrives */
		ASSERT_EQ(outs[i].kind, 'P');
		ASSERT_EQ(outs[i].seq, 100 + i);
		ASSERT_TRUE(outs[i].intact && outs[i].first == (uint8_t)(100 + i));
		ASSERT_TRUE(jb.slots == NULL); /* nothing waited: no storage for held packets */
	}
	ASSERT_EQ(jb.stats.lost + jb.stats.late + jb.stats.duplicated, 0);
	ASSERT_EQ(sb_jitter_depth_us(&jb), 0);
out:
	return r;
}

TEST(reorder_put_back_in_order)
{
	int r = 0;

	/* A path with 40 ms of jitter: the buffer waits for the missing packet. */
	setup(SB_JITTER_FIXED, 0, 200, 40);
	clean(0, 0, 0, 3);
	push(4, 4 * 160, 80); /* 3 is late */
	ASSERT_EQ(n_out, 3);
	ASSERT_TRUE(jb.slots != NULL && jb.n_held == 1);
	push(3, 3 * 160, 85);
	ASSERT_EQ(n_out, 5);
	ASSERT_TRUE(jb.slots == NULL && jb.n_held == 0); /* the storage went with the last one */
	ASSERT_EQ(outs[3].seq, 3);
	ASSERT_EQ(outs[4].seq, 4);
	ASSERT_EQ(jb.stats.lost, 0);
	ASSERT_EQ(jb.stats.late, 0);
out:
	return r;
}

TEST(duplicate_dropped_while_held_and_after_release)
{
	int r = 0;

	setup(SB_JITTER_FIXED, 0, 200, 60);
	clean(10, 0, 0, 3);
	push(11, 160, 45); /* already released */
	push(14, 4 * 160, 80);
	push(14, 4 * 160, 81); /* held behind the hole at 13 */
	ASSERT_EQ(n_out, 3);
	push(13, 3 * 160, 82);
	ASSERT_EQ(n_out, 5);
	ASSERT_EQ(jb.stats.duplicated, 2);
	ASSERT_EQ(jb.stats.late, 0);
	for (unsigned i = 0; i < n_out; i++)
		ASSERT_EQ(outs[i].seq, 10 + i);
out:
	return r;
}

TEST(loss_burst_concealed_for_its_media_time)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(0, 0, 0, 5);
	push(8, 8 * 160, 160); /* 5, 6, 7 lost: on a clean path concealed at once */
	ASSERT_EQ(n_out, 7);
	ASSERT_EQ(outs[5].kind, 'C');
	ASSERT_EQ(outs[5].samples, 3 * 160);
	ASSERT_EQ(outs[6].seq, 8);
	ASSERT_EQ(jb.stats.lost, 3);
	ASSERT_EQ(jb.stats.concealed_frames, 3);
	push(6, 6 * 160, 170); /* too late now */
	ASSERT_EQ(jb.stats.late, 1);
	ASSERT_EQ(jb.stats.duplicated, 0);
	ASSERT_EQ(n_out, 7);
	ASSERT_EQ(total_samples(), 9 * 160);
out:
	return r;
}

TEST(hole_waits_for_the_depth_then_conceals)
{
	int r = 0;

	setup(SB_JITTER_FIXED, 0, 200, 60);
	clean(0, 0, 0, 2);
	push(3, 3 * 160, 60); /* 2 due at 40 ms, waits until 100 ms */
	ASSERT_EQ(n_out, 2);
	sb_jitter_poll(&jb, 99 * 1000);
	ASSERT_EQ(n_out, 2);
	sb_jitter_poll(&jb, 100 * 1000);
	ASSERT_EQ(n_out, 4);
	ASSERT_EQ(outs[2].kind, 'C');
	ASSERT_EQ(outs[2].samples, 160);
	ASSERT_EQ(outs[3].seq, 3);
out:
	return r;
}

TEST(sequence_wrap_is_no_loss)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(65530, 0xFFFFFD00u, 0, 12); /* seq and ts both wrap */
	ASSERT_EQ(n_out, 12);
	for (unsigned i = 0; i < 12; i++) {
		ASSERT_EQ(outs[i].kind, 'P');
		ASSERT_EQ(outs[i].seq, (uint16_t)(65530 + i));
	}
	ASSERT_EQ(jb.stats.lost + jb.stats.late + jb.stats.resets, 0);
	/* a hole across the wrap */
	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(65534, 0, 0, 1);
	push(0, 2 * 160, 40); /* 65535 lost */
	ASSERT_EQ(n_out, 3);
	ASSERT_EQ(outs[1].kind, 'C');
	ASSERT_EQ(outs[1].samples, 160);
	ASSERT_EQ(outs[2].seq, 0);
	ASSERT_EQ(jb.stats.lost, 1);
out:
	return r;
}

TEST(timestamp_jump_resyncs_without_filling)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(0, 0, 0, 3);
	push(3, 3 * 160 + 8000 * 30, 60); /* the sender's clock jumped 30 s */
	push(4, 4 * 160 + 8000 * 30, 80);
	ASSERT_EQ(n_out, 5);
	for (unsigned i = 0; i < 5; i++)
		ASSERT_EQ(outs[i].kind, 'P');
	ASSERT_EQ(jb.stats.resets, 1);
	/* and back again: the delay estimate must not take it for 30 s of jitter */
	push(5, 5 * 160, 100);
	push(7, 7 * 160, 140); /* 6 lost */
	ASSERT_EQ(n_out, 8);
	ASSERT_EQ(outs[6].kind, 'C');
	ASSERT_TRUE(sb_jitter_depth_us(&jb) < 20000);
out:
	return r;
}

TEST(marker_bit_resyncs_a_talkspurt)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(0, 0, 0, 3);
	/* silence suppressed for 2 s, next talkspurt marked */
	push_full(3, 3 * 160 + 16000, 160, true, true, 1234, 2060);
	ASSERT_EQ(n_out, 4);
	ASSERT_EQ(outs[3].kind, 'P');
	ASSERT_EQ(total_samples(), 4 * 160);
	/* a small unmarked timestamp gap is media time: filled with silence */
	push(4, 4 * 160 + 16000 + 400, 2080);
	ASSERT_EQ(n_out, 6);
	ASSERT_EQ(outs[4].kind, 'S');
	ASSERT_EQ(outs[4].samples, 400);
out:
	return r;
}

TEST(ptime_change_follows_the_timestamps)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(0, 0, 0, 2);
	push_full(2, 320, 240, false, true, 1234, 40); /* 30 ms packets from here */
	push_full(3, 560, 240, false, true, 1234, 70);
	push_full(5, 1040, 240, false, true, 1234, 130); /* 4 lost: 240 samples */
	ASSERT_EQ(n_out, 6);
	ASSERT_EQ(outs[4].kind, 'C');
	ASSERT_EQ(outs[4].samples, 240);
	ASSERT_EQ(jb.stats.resets, 0);
	ASSERT_EQ(total_samples(), 1040 + 240);
out:
	return r;
}

TEST(events_keep_their_place_and_their_time_is_silence)
{
	int r = 0;

	setup(SB_JITTER_FIXED, 0, 200, 40);
	clean(0, 0, 0, 2);
	/* a 100 ms telephone-event in place of audio: ts of the event start, seq continues */
	push_full(2, 320, 4, true, false, 1234, 40);
	push_full(4, 320, 4, false, false, 1234, 80); /* 3 still on its way */
	push_full(3, 320, 4, false, false, 1234, 82);
	push_full(5, 320, 4, false, false, 1234, 100);
	push(6, 320 + 800, 140); /* audio resumes 100 ms later */
	ASSERT_EQ(n_out, 8);
	for (unsigned i = 2; i < 6; i++) {
		ASSERT_EQ(outs[i].kind, 'P');
		ASSERT_TRUE(!outs[i].audio);
		ASSERT_EQ(outs[i].seq, i);
	}
	ASSERT_EQ(outs[6].kind, 'S');
	ASSERT_EQ(outs[6].samples, 800);
	ASSERT_EQ(outs[7].seq, 6);
	ASSERT_EQ(jb.stats.lost + jb.stats.late, 0);
	/* an event packet lost: nothing is synthesised for it */
	push_full(7, 1280, 4, true, false, 1234, 160);
	push_full(9, 1280, 4, false, false, 1234, 200);
	sb_jitter_poll(&jb, 240 * 1000);
	ASSERT_EQ(n_out, 10);
	ASSERT_EQ(outs[9].seq, 9);
	ASSERT_EQ(jb.stats.lost, 1);
out:
	return r;
}

TEST(adaptive_depth_learns_from_late_packets_and_decays)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(0, 0, 0, 5);
	push(6, 6 * 160, 120);
	push(5, 5 * 160, 150); /* 50 ms late: concealed already, but the depth learns */
	ASSERT_EQ(jb.stats.late, 1);
	ASSERT_TRUE(sb_jitter_depth_us(&jb) >= 45000);
	/* the next reorder of that size is absorbed */
	clean(7, 7 * 160, 140, 3);
	push(11, 11 * 160, 220);
	push(10, 10 * 160, 240);
	ASSERT_EQ(jb.stats.late, 1);
	ASSERT_EQ(outs[n_out - 1].seq, 11);
	/* a clean path: the depth decays towards zero */
	clean(12, 12 * 160, 240, 1500);
	ASSERT_TRUE(sb_jitter_depth_us(&jb) < 5000);
	/* bounded by the maximum */
	setup(SB_JITTER_ADAPTIVE, 10, 30, 60);
	clean(0, 0, 0, 3);
	ASSERT_EQ(sb_jitter_depth_us(&jb), 10000);
	push(4, 4 * 160, 80);
	push(3, 3 * 160, 200);
	ASSERT_EQ(sb_jitter_depth_us(&jb), 30000);
out:
	return r;
}

TEST(new_ssrc_and_far_jumps_start_again)
{
	int r = 0;

	setup(SB_JITTER_ADAPTIVE, 0, 200, 60);
	clean(0, 0, 0, 3);
	push_full(9000, 777, 160, false, true, 999, 60); /* another source */
	ASSERT_EQ(n_out, 4);
	ASSERT_EQ(outs[3].seq, 9000);
	push_full(9001, 937, 160, false, true, 999, 80);
	push_full(20000, 9999, 160, false, true, 999, 100); /* far ahead */
	ASSERT_EQ(n_out, 6);
	ASSERT_EQ(outs[5].seq, 20000);
	ASSERT_EQ(jb.stats.lost, 0);
	/* a sender that went back in its sequence for good */
	for (unsigned i = 0; i < 4; i++)
		push_full((uint16_t)(100 + i), 20000 + 160 * i, 160, false, true, 999,
		          120 + 20 * i);
	ASSERT_EQ(jb.stats.late, 2);
	ASSERT_EQ(outs[n_out - 1].seq, 103);
	ASSERT_EQ(outs[n_out - 2].seq, 102);
out:
	return r;
}

TEST(flush_releases_everything_in_order)
{
	int r = 0;

	setup(SB_JITTER_FIXED, 0, 200, 200);
	clean(0, 0, 0, 1);
	push(2, 320, 40);
	push(4, 640, 80);
	ASSERT_EQ(n_out, 1);
	sb_jitter_flush(&jb);
	ASSERT_EQ(n_out, 5);
	ASSERT_EQ(outs[1].kind, 'C');
	ASSERT_EQ(outs[2].seq, 2);
	ASSERT_EQ(outs[3].kind, 'C');
	ASSERT_EQ(outs[4].seq, 4);
	ASSERT_EQ(total_samples(), 5 * 160);
out:
	return r;
}

TEST(long_payloads_kept_apart_and_intact)
{
	static const unsigned lens[] = {160, 240, 480, 160, 320, 160};
	static const unsigned order[] = {1, 0, 2, 3, 4, 5};
	uint32_t ts = 0;
	int r = 0;

	setup(SB_JITTER_FIXED, 0, 200, 200);
	clean(0, 0, 0, 3);
	ASSERT_TRUE(jb.big == NULL); /* 20 ms packets live in their slots */
	/* mixed lengths, the first two swapped, with the sequence's bytes in every payload */
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		unsigned k = order[i];
		uint32_t t = 480;

		for (unsigned j = 0; j < k; j++)
			t += lens[j];
		push_full((uint16_t)(3 + k), t, lens[k], false, true, 1234, 60 + 20 * i);
		ts = t + lens[k];
		if (i == 0) /* 240 bytes held behind the hole */
			ASSERT_TRUE(jb.big != NULL && jb.n_held == 1);
	}
	ASSERT_TRUE(jb.slots == NULL && jb.big == NULL); /* nothing held: the storage is gone */
	sb_jitter_flush(&jb);
	ASSERT_EQ(n_out, 9);
	for (unsigned i = 0; i < n_out; i++) {
		ASSERT_EQ(outs[i].kind, 'P');
		ASSERT_EQ(outs[i].seq, i);
		ASSERT_EQ(outs[i].first, (uint8_t)i);
		ASSERT_TRUE(outs[i].intact);
		ASSERT_EQ(outs[i].samples, i < 3 ? 160 : lens[i - 3]);
	}
	ASSERT_EQ(total_samples(), ts);
	sb_jitter_free(&jb);
	ASSERT_TRUE(jb.big == NULL);
out:
	return r;
}

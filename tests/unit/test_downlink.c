/* Unit tests for downlink.c: audio comes out in order, frames from before a clear are dropped,
 * marks are reported played when the audio before them has gone, and a full up ring never
 * stops playout: the played marks wait and are reported in order once there is room. */
#include <stdatomic.h>
#include <string.h>

#include <sb/downlink.h>

#include "harness.h"

static struct sb_ring down, up;
static atomic_uint epoch;

static void setup(void)
{
	sb_ring_done(&down);
	sb_ring_done(&up);
	sb_ring_init(&down, 64);
	sb_ring_init(&up, 4);
	atomic_store(&epoch, 0);
}

static void push_audio(int16_t v, uint16_t samples)
{
	struct sb_frame f = {
	        .kind = SB_FRAME_AUDIO, .samples = samples, .epoch = atomic_load(&epoch)};

	for (int i = 0; i < SB_FRAME_SAMPLES; i++)
		f.pcm[i] = v;
	sb_ring_push(&down, &f);
}

static void push_mark(uint32_t id)
{
	struct sb_frame f = {.kind = SB_FRAME_MARK, .mark_id = id, .epoch = atomic_load(&epoch)};

	sb_ring_push(&down, &f);
}

/* Fills the up ring with caller audio the ws thread has not taken yet. */
static void fill_up(void)
{
	struct sb_frame f = {.kind = SB_FRAME_AUDIO, .samples = SB_FRAME_SAMPLES};

	while (sb_ring_push(&up, &f))
		;
}

/* Takes every frame of the up ring; returns the mark ids in order (at most max). */
static unsigned drain_up(uint32_t *ids, unsigned max)
{
	struct sb_frame f;
	unsigned n = 0;

	while (sb_ring_pop(&up, &f))
		if (f.kind == SB_FRAME_MARK && n < max)
			ids[n++] = f.mark_id;
	return n;
}

TEST(audio_marks_and_clear)
{
	struct sb_downlink d = {0};
	int16_t pcm[SB_FRAME_SAMPLES];
	struct sb_downlink_dtmf dt;
	uint32_t ids[8];
	int r = 0;

	setup();
	push_audio(1, SB_FRAME_SAMPLES);
	push_mark(7);
	push_audio(2, 80); /* a short frame is padded with zeros */
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), SB_FRAME_SAMPLES);
	ASSERT_EQ(pcm[0], 1);
	ASSERT_EQ(drain_up(ids, 8), 0); /* the mark is not played yet */
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 80);
	ASSERT_TRUE(pcm[79] == 2 && pcm[80] == 0 && pcm[159] == 0);
	ASSERT_EQ(drain_up(ids, 8), 1);
	ASSERT_EQ(ids[0], 7);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 0);
	/* A clear: what was queued before it is dropped, marks included; newer audio plays. */
	push_audio(3, SB_FRAME_SAMPLES);
	push_mark(8);
	atomic_fetch_add(&epoch, 1);
	push_audio(4, SB_FRAME_SAMPLES);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), SB_FRAME_SAMPLES);
	ASSERT_EQ(pcm[0], 4);
	ASSERT_EQ(drain_up(ids, 8), 0);
out:
	return r;
}

TEST(full_up_ring_never_stops_playout)
{
	struct sb_downlink d = {0};
	int16_t pcm[SB_FRAME_SAMPLES];
	struct sb_downlink_dtmf dt;
	uint32_t ids[16];
	int r = 0;

	setup();
	fill_up();
	/* audio, mark 1, audio, mark 2, mark 3, audio: all the audio plays at once */
	push_audio(10, SB_FRAME_SAMPLES);
	push_mark(1);
	push_audio(11, SB_FRAME_SAMPLES);
	push_mark(2);
	push_mark(3);
	push_audio(12, SB_FRAME_SAMPLES);
	for (int16_t v = 10; v <= 12; v++) {
		ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), SB_FRAME_SAMPLES);
		ASSERT_EQ(pcm[0], v);
	}
	ASSERT_EQ(d.n, 3);
	/* Room again: the marks go first, in order, even with nothing left to play. */
	ASSERT_EQ(drain_up(ids, 16), 0);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 0);
	ASSERT_EQ(drain_up(ids, 16), 3);
	ASSERT_TRUE(ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
	ASSERT_EQ(d.n, 0);
	ASSERT_EQ(d.marks_lost, 0);
out:
	return r;
}

TEST(pending_overflow_keeps_the_newest)
{
	struct sb_downlink d = {0};
	int16_t pcm[SB_FRAME_SAMPLES];
	struct sb_downlink_dtmf dt;
	uint32_t ids[8];
	unsigned total = SB_DOWNLINK_MAX_PENDING + 5;
	int r = 0;

	sb_ring_done(&down);
	sb_ring_done(&up);
	sb_ring_init(&down, 512);
	sb_ring_init(&up, 2);
	fill_up();
	for (uint32_t i = 1; i <= total; i++)
		push_mark(i);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 0);
	ASSERT_EQ(d.n, SB_DOWNLINK_MAX_PENDING);
	ASSERT_EQ(d.marks_lost, 5);
	drain_up(ids, 8);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 0);
	ASSERT_EQ(drain_up(ids, 8), 2);
	ASSERT_EQ(ids[0], 6); /* the oldest five were given up */
out:
	sb_ring_done(&down);
	sb_ring_done(&up);
	return r;
}

TEST(dtmf_taken_in_order_and_dropped_by_clear)
{
	struct sb_downlink d = {0};
	int16_t pcm[SB_FRAME_SAMPLES];
	struct sb_downlink_dtmf dt;
	struct sb_frame f = {.kind = SB_FRAME_DTMF, .digit = '#', .duration_ms = 250};
	int r = 0;

	setup();
	push_audio(7, SB_FRAME_SAMPLES);
	sb_ring_push(&down, &f);
	push_audio(9, SB_FRAME_SAMPLES);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), SB_FRAME_SAMPLES);
	ASSERT_EQ(dt.digit, 0);
	ASSERT_EQ(pcm[0], 7);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 0);
	ASSERT_EQ(dt.digit, '#');
	ASSERT_EQ(dt.duration_ms, 250);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), SB_FRAME_SAMPLES);
	ASSERT_EQ(dt.digit, 0);
	ASSERT_EQ(pcm[0], 9);
	/* queued before a clear: never sent */
	f.epoch = atomic_load(&epoch);
	sb_ring_push(&down, &f);
	atomic_fetch_add(&epoch, 1);
	ASSERT_EQ(sb_downlink_next(&d, &down, &up, &epoch, pcm, &dt), 0);
	ASSERT_EQ(dt.digit, 0);
out:
	sb_ring_done(&down);
	sb_ring_done(&up);
	return r;
}

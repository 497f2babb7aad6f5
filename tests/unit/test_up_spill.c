/* Unit tests for up_spill: the ring is used while it has room, frames that find it full wait
 * and reach the consumer in order ahead of newer ones, both full drops, the consumer is told
 * whenever frames reached the ring (also waiting ones a new frame moved on), the storage
 * exists only while something waits, done() forgets what waited, and what waits when the call
 * ends is taken by the consumer in order.
 * Thread: main thread only. Owns its rings and spills. */
#include <sb/up_spill.h>

#include "harness.h"

/* Writes frame number seq through the spill: 1 when the ring got frames (the consumer is to be
 * told), 0 when nothing reached it, -1 when the frame was refused. */
static int put(struct sb_up_spill *s, struct sb_ring *up, uint32_t seq)
{
	struct sb_frame *f = sb_up_spill_slot(s, up);

	if (!f)
		return -1;
	memset(f, 0, sizeof(*f));
	f->kind = SB_FRAME_AUDIO;
	f->samples = SB_FRAME_SAMPLES;
	f->mark_id = seq;
	for (int i = 0; i < SB_FRAME_SAMPLES; i++)
		f->pcm[i] = (int16_t)(seq * 7 + (uint32_t)i);
	return sb_up_spill_commit(s, up) ? 1 : 0;
}

/* Reads one frame off the ring: its number, or -1 when the ring is empty or the frame is not
 * the one put() wrote under that number. */
static long take(struct sb_ring *up)
{
	struct sb_frame f;

	if (!sb_ring_pop(up, &f))
		return -1;
	for (int i = 0; i < SB_FRAME_SAMPLES; i++)
		if (f.pcm[i] != (int16_t)(f.mark_id * 7 + (uint32_t)i))
			return -1;
	return f.mark_id;
}

TEST(up_spill_ring_first)
{
	int r = 0;
	struct sb_ring up = {0};
	struct sb_up_spill s = {0};

	ASSERT_EQ(sb_ring_init(&up, 4), 0);
	for (uint32_t i = 0; i < 4; i++)
		ASSERT_EQ(put(&s, &up, i), 1);
	ASSERT_TRUE(s.frames == NULL); /* nothing waited: no storage */
	for (long i = 0; i < 4; i++)
		ASSERT_EQ(take(&up), i);
	ASSERT_EQ(sb_up_spill_drain(&s, &up), 0);
out:
	sb_up_spill_done(&s);
	sb_ring_done(&up);
	return r;
}

TEST(up_spill_order_and_bound)
{
	int r = 0;
	struct sb_ring up = {0};
	struct sb_up_spill s = {0};
	uint32_t seq = 0;
	long want = 0;

	ASSERT_EQ(sb_ring_init(&up, 4), 0);
	for (; seq < 4; seq++)
		ASSERT_EQ(put(&s, &up, seq), 1);
	/* The consumer is behind: the next ones wait, up to the spill's bound, then are refused. */
	for (; seq < 4 + SB_UP_SPILL_FRAMES; seq++)
		ASSERT_EQ(put(&s, &up, seq), 0);
	ASSERT_TRUE(s.frames != NULL);
	ASSERT_EQ(s.n, SB_UP_SPILL_FRAMES);
	ASSERT_EQ(put(&s, &up, 999), -1);
	ASSERT_EQ(s.n, SB_UP_SPILL_FRAMES);

	/* The consumer takes two: a new frame goes behind the waiting ones, two of which move up
	 * first, so the consumer is told although the new frame itself waits. */
	ASSERT_EQ(take(&up), want++);
	ASSERT_EQ(take(&up), want++);
	ASSERT_EQ(put(&s, &up, seq++), 1);
	ASSERT_EQ(s.n, SB_UP_SPILL_FRAMES - 1);
	ASSERT_EQ(sb_ring_count(&up), 4);
	/* Nothing moved this time: nothing to tell. */
	ASSERT_EQ(put(&s, &up, seq++), 0);
	ASSERT_EQ(s.n, SB_UP_SPILL_FRAMES);

	/* The consumer catches up: each drain moves what fits, oldest first, in order. */
	for (int round = 0; round < 20 && (s.n || sb_ring_count(&up)); round++) {
		while (sb_ring_count(&up)) {
			long got = take(&up);

			if (got != want)
				FAIL_AT("frame %ld where %ld was due", got, want);
			want++;
		}
		sb_up_spill_drain(&s, &up);
	}
	ASSERT_EQ(want, (long)seq);
	ASSERT_EQ(s.n, 0);
	ASSERT_TRUE(s.frames == NULL); /* freed once nothing waits */

	/* And the ring is used directly again. */
	ASSERT_EQ(put(&s, &up, seq), 1);
	ASSERT_EQ(take(&up), (long)seq);
out:
	sb_up_spill_done(&s);
	sb_ring_done(&up);
	return r;
}

TEST(up_spill_drain_partial_keeps_storage)
{
	int r = 0;
	struct sb_ring up = {0};
	struct sb_up_spill s = {0};

	ASSERT_EQ(sb_ring_init(&up, 2), 0);
	for (uint32_t i = 0; i < 2; i++)
		ASSERT_EQ(put(&s, &up, i), 1);
	for (uint32_t i = 2; i < 6; i++)
		ASSERT_EQ(put(&s, &up, i), 0);
	ASSERT_EQ(take(&up), 0);
	ASSERT_EQ(sb_up_spill_drain(&s, &up), 1); /* room for one */
	ASSERT_EQ(s.n, 3);
	ASSERT_TRUE(s.frames != NULL);
	ASSERT_EQ(take(&up), 1);
	ASSERT_EQ(take(&up), 2);
	ASSERT_EQ(take(&up), -1);
	sb_up_spill_done(&s); /* what waited is forgotten; the spill works again */
	ASSERT_TRUE(s.frames == NULL);
	ASSERT_EQ(s.n, 0);
	ASSERT_EQ(put(&s, &up, 7), 1);
	ASSERT_EQ(take(&up), 7);
out:
	sb_up_spill_done(&s);
	sb_ring_done(&up);
	return r;
}

/* What waits when the call ends is handed over and taken by the consumer in order, after the
 * ring's frames, across the end of the spill's storage; nothing is left after. */
TEST(up_spill_handed_over)
{
	int r = 0;
	struct sb_ring up = {0};
	struct sb_up_spill s = {0}, left = {0};
	const struct sb_frame *f;
	uint32_t want = 4;

	ASSERT_EQ(sb_ring_init(&up, 2), 0);
	for (uint32_t i = 0; i < 2 + SB_UP_SPILL_FRAMES; i++)
		ASSERT_TRUE(put(&s, &up, i) >= 0);
	ASSERT_EQ(put(&s, &up, 99), -1); /* both full */
	ASSERT_EQ(take(&up), 0);
	ASSERT_EQ(take(&up), 1);
	ASSERT_EQ(put(&s, &up, 26), 1); /* 2 and 3 move on; 26 waits at the storage's start */
	ASSERT_EQ(s.n, SB_UP_SPILL_FRAMES - 1);
	left = s; /* the producer lets go */
	s = (struct sb_up_spill){0};
	ASSERT_EQ(take(&up), 2);
	ASSERT_EQ(take(&up), 3);
	ASSERT_EQ(take(&up), -1);
	while ((f = sb_up_spill_take(&left))) {
		ASSERT_EQ(f->mark_id, want);
		ASSERT_EQ(f->pcm[SB_FRAME_SAMPLES - 1], (int16_t)(want * 7 + SB_FRAME_SAMPLES - 1));
		want++;
	}
	ASSERT_EQ(want, 27);
	ASSERT_EQ(left.n, 0);
	ASSERT_TRUE(sb_up_spill_take(&left) == NULL);
	sb_up_spill_done(&left);
	ASSERT_TRUE(left.frames == NULL);
out:
	sb_up_spill_done(&left);
	sb_up_spill_done(&s);
	sb_ring_done(&up);
	return r;
}

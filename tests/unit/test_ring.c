/* Unit tests for ring: capacity checks, FIFO order across wrap-around, full/empty edges,
 * the zero-copy slot API and the producer's count of frames written, and a producer/consumer
 * pair on two threads.
 * Thread: main thread, plus one producer thread in ring_two_threads. Owns its rings. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include <sb/ring.h>

#include "harness.h"

static void fill(struct sb_frame *f, uint32_t seq)
{
	memset(f, 0, sizeof(*f));
	f->kind = seq % 7 == 0 ? SB_FRAME_MARK : SB_FRAME_AUDIO;
	f->samples = (uint16_t)(1 + seq % SB_FRAME_SAMPLES);
	f->epoch = seq / 1000;
	f->mark_id = seq;
	for (int i = 0; i < SB_FRAME_SAMPLES; i++)
		f->pcm[i] = (int16_t)(seq * 31 + (uint32_t)i);
}

/* 0 when f is exactly what fill(seq) produced. */
static int check(const struct sb_frame *f, uint32_t seq)
{
	struct sb_frame want;

	fill(&want, seq);
	return memcmp(f, &want, sizeof(want)) != 0;
}

TEST(ring_init_capacity)
{
	int r = 0;
	struct sb_ring ring = {0};
	static const unsigned bad[] = {0, 1, 3, 6, 12, 1000, 0x80000001u};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_EQ(sb_ring_init(&ring, bad[i]), -EINVAL);
	ASSERT_EQ(sb_ring_init(&ring, 2), 0);
	sb_ring_done(&ring);
	ASSERT_TRUE(ring.slots == NULL);
	sb_ring_done(&ring); /* twice, and on a zeroed ring */
	ASSERT_EQ(sb_ring_init(&ring, 1024), 0);
	ASSERT_EQ(sb_ring_count(&ring), 0);
out:
	sb_ring_done(&ring);
	return r;
}

TEST(ring_empty_full_order)
{
	int r = 0;
	struct sb_ring ring = {0};
	struct sb_frame f;

	ASSERT_EQ(sb_ring_init(&ring, 4), 0);
	ASSERT_TRUE(sb_ring_read_slot(&ring) == NULL);
	ASSERT_TRUE(!sb_ring_pop(&ring, &f));
	for (uint32_t s = 0; s < 4; s++) {
		fill(&f, s);
		ASSERT_TRUE(sb_ring_push(&ring, &f));
		ASSERT_EQ(sb_ring_count(&ring), s + 1);
	}
	fill(&f, 99);
	ASSERT_TRUE(!sb_ring_push(&ring, &f));
	ASSERT_TRUE(sb_ring_write_slot(&ring) == NULL);
	ASSERT_EQ(sb_ring_count(&ring), 4);
	for (uint32_t s = 0; s < 4; s++) {
		ASSERT_TRUE(sb_ring_pop(&ring, &f));
		ASSERT_EQ(check(&f, s), 0);
	}
	ASSERT_TRUE(!sb_ring_pop(&ring, &f));
	ASSERT_EQ(sb_ring_count(&ring), 0);
out:
	sb_ring_done(&ring);
	return r;
}

TEST(ring_wraparound_interleaved)
{
	int r = 0;
	struct sb_ring ring = {0};
	struct sb_frame f;
	uint32_t wr = 0, rd = 0;

	ASSERT_EQ(sb_ring_init(&ring, 8), 0);
	/* Uneven bursts walk the indices around the ring thousands of times. */
	for (int round = 0; round < 20000; round++) {
		unsigned burst = (unsigned)(round * 7 % 9);

		for (unsigned k = 0; k < burst; k++) {
			fill(&f, wr);
			if (!sb_ring_push(&ring, &f))
				break;
			wr++;
		}
		ASSERT_EQ(sb_ring_count(&ring), wr - rd);
		ASSERT_TRUE(wr - rd <= 8);
		for (unsigned k = 0; k < (unsigned)(round * 5 % 7); k++) {
			if (!sb_ring_pop(&ring, &f))
				break;
			ASSERT_EQ(check(&f, rd), 0);
			rd++;
		}
	}
	ASSERT_TRUE(rd > 50000);
out:
	sb_ring_done(&ring);
	return r;
}

TEST(ring_slot_api)
{
	int r = 0;
	struct sb_ring ring = {0};
	struct sb_frame *w;
	const struct sb_frame *rs;

	ASSERT_EQ(sb_ring_init(&ring, 2), 0);
	ASSERT_EQ(sb_ring_written(&ring), 0);
	w = sb_ring_write_slot(&ring);
	ASSERT_TRUE(w != NULL);
	fill(w, 5);
	/* Not visible before commit, and not counted as written. */
	ASSERT_TRUE(sb_ring_read_slot(&ring) == NULL);
	ASSERT_EQ(sb_ring_count(&ring), 0);
	ASSERT_EQ(sb_ring_written(&ring), 0);
	sb_ring_commit_write(&ring);
	ASSERT_EQ(sb_ring_written(&ring), 1);
	rs = sb_ring_read_slot(&ring);
	ASSERT_TRUE(rs != NULL);
	ASSERT_EQ(check(rs, 5), 0);
	/* Reading the slot twice without commit sees the same frame. */
	ASSERT_TRUE(sb_ring_read_slot(&ring) == rs);
	sb_ring_commit_read(&ring);
	ASSERT_TRUE(sb_ring_read_slot(&ring) == NULL);
	ASSERT_EQ(sb_ring_written(&ring), 1); /* reading does not move it */
	for (uint32_t s = 0; s < 5; s++) {
		ASSERT_TRUE(sb_ring_push(&ring, &(struct sb_frame){.kind = SB_FRAME_AUDIO}));
		ASSERT_TRUE(sb_ring_pop(&ring, &(struct sb_frame){0}));
	}
	ASSERT_EQ(sb_ring_written(&ring), 6); /* past the capacity: a count, not a slot */
out:
	sb_ring_done(&ring);
	return r;
}

#define N_FRAMES 200000u

static void *producer(void *arg)
{
	struct sb_ring *ring = arg;

	for (uint32_t s = 0; s < N_FRAMES; s++) {
		struct sb_frame *f;

		while (!(f = sb_ring_write_slot(ring)))
			sched_yield();
		fill(f, s);
		sb_ring_commit_write(ring);
	}
	return NULL;
}

TEST(ring_two_threads)
{
	int r = 0;
	struct sb_ring ring = {0};
	pthread_t t;
	int started = 0;
	uint32_t seq = 0;

	ASSERT_EQ(sb_ring_init(&ring, 8), 0);
	ASSERT_EQ(pthread_create(&t, NULL, producer, &ring), 0);
	started = 1;
	while (seq < N_FRAMES) {
		const struct sb_frame *f = sb_ring_read_slot(&ring);
		unsigned n;

		if (!f) {
			sched_yield();
			continue;
		}
		n = sb_ring_count(&ring);
		if (n < 1 || n > 8)
			FAIL_AT("count %u out of range", n);
		if (check(f, seq))
			FAIL_AT("frame %u corrupt or out of order (mark_id %u)", seq, f->mark_id);
		sb_ring_commit_read(&ring);
		seq++;
	}
	ASSERT_TRUE(sb_ring_read_slot(&ring) == NULL);
out:
	if (started) {
		/* On failure, drain so the producer can finish. */
		struct sb_frame f;

		while (seq < N_FRAMES) {
			if (sb_ring_pop(&ring, &f))
				seq++;
			else
				sched_yield();
		}
		pthread_join(t, NULL);
	}
	sb_ring_done(&ring);
	return r;
}

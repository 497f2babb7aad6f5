/* Unit tests for playout: re-framing of odd-sized pushes, little-endian decoding, mark order
 * and padding, the bound, clear, and a long randomised push/pop run against a model.
 * Thread: the test's main thread. Owns its queues. */
#include <errno.h>
#include <stdlib.h>

#include <sb/playout.h>

#include "harness.h"

/* Little-endian bytes of samples v, v+1, ... (mod 2^16) into buf. */
static void ramp(uint8_t *buf, size_t samples, uint16_t v)
{
	for (size_t i = 0; i < samples; i++, v++) {
		buf[2 * i] = (uint8_t)(v & 0xff);
		buf[2 * i + 1] = (uint8_t)(v >> 8);
	}
}

/* 0 when f is a full audio frame of the ramp starting at v. */
static int is_ramp(const struct sb_frame *f, uint16_t v)
{
	if (f->kind != SB_FRAME_AUDIO || f->samples != SB_FRAME_SAMPLES)
		return 1;
	for (int i = 0; i < SB_FRAME_SAMPLES; i++, v++)
		if ((uint16_t)f->pcm[i] != v)
			return 1;
	return 0;
}

TEST(playout_odd_length_rejected)
{
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t b[3] = {1, 2, 3};

	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ASSERT_EQ(sb_playout_push_audio(p, b, 3), -EINVAL);
	ASSERT_EQ(sb_playout_push_audio(p, b, 1), -EINVAL);
	ASSERT_EQ(sb_playout_queued_samples(p), 0);
	ASSERT_EQ(sb_playout_push_audio(p, b, 0), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 0);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_little_endian)
{
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t b[320] = {0x34, 0x12, 0xff, 0xff, 0x00, 0x80, 0xff, 0x7f};
	struct sb_frame f;

	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ASSERT_EQ(sb_playout_push_audio(p, b, sizeof(b)), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.pcm[0], 0x1234);
	ASSERT_EQ(f.pcm[1], -1);
	ASSERT_EQ(f.pcm[2], -32768);
	ASSERT_EQ(f.pcm[3], 32767);
	ASSERT_EQ(f.pcm[4], 0);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_reframes_any_even_length)
{
	static const size_t sizes[] = {640, 100, 3202, 2, 318, 322, 3200, 6};
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[4000];
	struct sb_frame f;
	uint16_t in = 0, out = 0;
	size_t total = 0;

	ASSERT_EQ(sb_playout_new(&p, 100000), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ramp(buf, sizes[i] / 2, in);
		ASSERT_EQ(sb_playout_push_audio(p, buf, sizes[i]), 0);
		in = (uint16_t)(in + sizes[i] / 2);
		total += sizes[i] / 2;
		while (sb_playout_pop(p, &f) == 1) {
			ASSERT_EQ(is_ramp(&f, out), 0);
			out = (uint16_t)(out + SB_FRAME_SAMPLES);
		}
		/* Only a partial frame waits. */
		ASSERT_EQ(sb_playout_queued_samples(p), total % SB_FRAME_SAMPLES);
	}
	ASSERT_EQ(out, (uint16_t)(total / SB_FRAME_SAMPLES * SB_FRAME_SAMPLES));
	ASSERT_EQ(sb_playout_pop(p, &f), 0);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_mark_pads_partial_frame)
{
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[200];
	struct sb_frame f;

	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ramp(buf, 100, 1000);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 200), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 7), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), SB_FRAME_SAMPLES);
	ASSERT_EQ(sb_playout_queued_marks(p), 1);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.kind, SB_FRAME_AUDIO);
	ASSERT_EQ(f.samples, SB_FRAME_SAMPLES);
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(f.pcm[i], 1000 + i);
	for (int i = 100; i < SB_FRAME_SAMPLES; i++)
		ASSERT_EQ(f.pcm[i], 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.kind, SB_FRAME_MARK);
	ASSERT_EQ(f.mark_id, 7);
	ASSERT_EQ(sb_playout_pop(p, &f), 0);
	ASSERT_EQ(sb_playout_queued_marks(p), 0);
	/* Audio after the mark starts a fresh frame. */
	ramp(buf, 100, 5);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 200), 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 120), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.pcm[0], 5);
	ASSERT_EQ(f.pcm[99], 104);
	ASSERT_EQ(f.pcm[100], 5);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_marks_keep_order)
{
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[640];
	struct sb_frame f;
	/* 'A' audio frame, or the mark id expected. */
	static const int want[] = {'A', 'A', 1, 'A', 2, 3, 'A', 4};
	size_t k = 0;

	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 0);
	ramp(buf, 320, 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 640), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 1), 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 320), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 2), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 3), 0); /* no audio between: no padding */
	ASSERT_EQ(sb_playout_push_audio(p, buf, 2), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 4), 0);
	ASSERT_EQ(sb_playout_queued_marks(p), 4);
	ASSERT_EQ(sb_playout_queued_samples(p), 4 * SB_FRAME_SAMPLES);
	while (sb_playout_pop(p, &f) == 1) {
		ASSERT_TRUE(k < sizeof(want) / sizeof(want[0]));
		if (want[k] == 'A')
			ASSERT_EQ(f.kind, SB_FRAME_AUDIO);
		else if (f.kind != SB_FRAME_MARK || f.mark_id != (uint32_t)want[k])
			FAIL_AT("item %zu: kind %u id %u", k, f.kind, f.mark_id);
		k++;
	}
	ASSERT_EQ(k, sizeof(want) / sizeof(want[0]));
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_mark_on_empty_queue_comes_out_at_once)
{
	int r = 0;
	struct sb_playout *p = NULL;
	struct sb_frame f;

	ASSERT_EQ(sb_playout_new(&p, 0), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 42), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.kind, SB_FRAME_MARK);
	ASSERT_EQ(f.mark_id, 42);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_bound_drops_and_reports)
{
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[2000];
	struct sb_frame f;

	ASSERT_EQ(sb_playout_new(&p, 500), 0);
	ramp(buf, 1000, 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 2000), 500);
	ASSERT_EQ(sb_playout_queued_samples(p), 500);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 20), 10);
	ASSERT_EQ(sb_playout_queued_samples(p), 500);
	/* The oldest audio is kept, the excess is cut from the end. */
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(is_ramp(&f, 0), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 340);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 400), 40);
	ASSERT_EQ(sb_playout_queued_samples(p), 500);
	/* A mark pads past the bound rather than lose its place. */
	ASSERT_EQ(sb_playout_push_mark(p, 9), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 640);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 2), 1);
out:
	p = sb_playout_free(p);
	return r;
}

static uint32_t seen[16];
static size_t n_seen;

static void on_mark(void *arg, uint32_t id)
{
	(*(int *)arg)++;
	if (n_seen < 16)
		seen[n_seen++] = id;
}

TEST(playout_clear)
{
	int r = 0, calls = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[1000];
	struct sb_frame f;

	n_seen = 0;
	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ramp(buf, 500, 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 1000), 0); /* 500 */
	ASSERT_EQ(sb_playout_push_mark(p, 11), 0);         /* pads to 640 */
	ASSERT_EQ(sb_playout_push_audio(p, buf, 100), 0);  /* 690 */
	ASSERT_EQ(sb_playout_push_mark(p, 12), 0);         /* pads to 800 */
	ASSERT_EQ(sb_playout_push_mark(p, 13), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(sb_playout_clear(p, on_mark, &calls), 640);
	ASSERT_EQ(calls, 3);
	ASSERT_EQ(seen[0], 11);
	ASSERT_EQ(seen[1], 12);
	ASSERT_EQ(seen[2], 13);
	ASSERT_EQ(sb_playout_queued_samples(p), 0);
	ASSERT_EQ(sb_playout_queued_marks(p), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 0);
	/* A partial frame is dropped too, and framing restarts with the next push. */
	ASSERT_EQ(sb_playout_push_audio(p, buf, 100), 0);
	ASSERT_EQ(sb_playout_clear(p, NULL, NULL), 50);
	ramp(buf, 160, 777);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 320), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(is_ramp(&f, 777), 0);
	ASSERT_EQ(sb_playout_clear(p, on_mark, &calls), 0);
	ASSERT_EQ(calls, 3);
out:
	p = sb_playout_free(p);
	return r;
}

static uint32_t rng = 0x9e3779b9;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static uint64_t mark_pos[8192];

/* Pops one item and checks it against the model; returns 0 when the queue was empty. */
static int pop_check(struct sb_playout *p, uint16_t *next_out, uint32_t *mark_out,
                     uint64_t *out_total, int *bad)
{
	struct sb_frame f;

	if (sb_playout_pop(p, &f) == 0)
		return 0;
	if (f.kind == SB_FRAME_MARK) {
		/* A mark comes out exactly when the audio pushed before it has come out. */
		*bad |= f.mark_id != *mark_out || mark_pos[f.mark_id] != *out_total;
		(*mark_out)++;
	} else {
		*bad |= is_ramp(&f, *next_out);
		*next_out = (uint16_t)(*next_out + SB_FRAME_SAMPLES);
		*out_total += SB_FRAME_SAMPLES;
	}
	return 1;
}

/* Random pushes of whole frames, marks and pops against a model: samples are a running
 * counter, so any loss, duplication or reordering shows up. Alternating push-heavy and
 * pop-heavy phases make both internal rings grow and wrap. */
TEST(playout_random_against_model)
{
	int r = 0, bad = 0;
	struct sb_playout *p = NULL;
	static uint8_t buf[12 * SB_FRAME_SAMPLES * 2];
	uint16_t next_in = 0, next_out = 0;
	uint32_t mark_in = 0, mark_out = 0;
	uint64_t in_total = 0, out_total = 0;
	size_t peak = 0;

	ASSERT_EQ(sb_playout_new(&p, 480000), 0);
	for (int step = 0; step < 6000; step++) {
		int push_heavy = (step / 500) % 2 == 0;
		uint32_t op = rnd() % 10;

		if (op < (push_heavy ? 5u : 1u)) {
			/* Whole frames only, so that no padding enters the ramp. */
			size_t n = (rnd() % 12) * SB_FRAME_SAMPLES;

			ramp(buf, n, next_in);
			ASSERT_EQ(sb_playout_push_audio(p, buf, n * 2), 0);
			next_in = (uint16_t)(next_in + n);
			in_total += n;
		} else if (op < (push_heavy ? 6u : 2u)) {
			ASSERT_TRUE(mark_in < sizeof(mark_pos) / sizeof(mark_pos[0]));
			mark_pos[mark_in] = in_total;
			ASSERT_EQ(sb_playout_push_mark(p, mark_in++), 0);
		} else {
			for (int k = 0; k < (push_heavy ? 1 : 10); k++) {
				if (!pop_check(p, &next_out, &mark_out, &out_total, &bad)) {
					ASSERT_EQ(in_total, out_total);
					ASSERT_EQ(mark_in, mark_out);
					break;
				}
			}
			ASSERT_EQ(bad, 0);
		}
		ASSERT_EQ(sb_playout_queued_samples(p), in_total - out_total);
		ASSERT_EQ(sb_playout_queued_marks(p), mark_in - mark_out);
		if (in_total - out_total > peak)
			peak = in_total - out_total;
	}
	/* The run must have needed far more than the initial storage. */
	ASSERT_TRUE(peak > 100000);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_free_null)
{
	int r = 0;

	ASSERT_TRUE(sb_playout_free(NULL) == NULL);
out:
	return r;
}

/* The end of an utterance that is not a whole number of frames: flush pads it to a frame. */
TEST(playout_flush_pads_the_tail)
{
	int r = 0;
	struct sb_playout *p = NULL;
	struct sb_frame f;
	uint8_t b[2 * 240];

	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ASSERT_EQ(sb_playout_flush(p), 0); /* nothing queued */
	ramp(b, 240, 1000);
	ASSERT_EQ(sb_playout_push_audio(p, b, sizeof(b)), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(is_ramp(&f, 1000), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 0); /* 80 samples wait for more */
	ASSERT_EQ(sb_playout_flush(p), 80);
	ASSERT_EQ(sb_playout_flush(p), 0); /* already whole */
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.samples, SB_FRAME_SAMPLES);
	ASSERT_EQ((uint16_t)f.pcm[0], 1160);
	ASSERT_EQ((uint16_t)f.pcm[79], 1239);
	ASSERT_EQ(f.pcm[80], 0);
	ASSERT_EQ(f.pcm[159], 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 0);
	/* Audio after the padding starts a new frame. */
	ASSERT_EQ(sb_playout_push_audio(p, b, 320), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(is_ramp(&f, 1000), 0);
out:
	p = sb_playout_free(p);
	return r;
}

TEST(playout_dtmf_plays_after_its_audio_and_goes_on_clear)
{
	int r = 0, calls = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[640];
	struct sb_frame f;

	n_seen = 0;
	ASSERT_EQ(sb_playout_new(&p, 8000), 0);
	ramp(buf, 250, 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 500), 0); /* 250: a frame and a partial */
	ASSERT_EQ(sb_playout_push_dtmf(p, '7', 180), 0);  /* pads to 320 */
	ASSERT_EQ(sb_playout_push_mark(p, 5), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(is_ramp(&f, 0), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.kind, SB_FRAME_AUDIO);
	ASSERT_EQ(f.pcm[89], 249);
	ASSERT_EQ(f.pcm[90], 0); /* padding */
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.kind, SB_FRAME_DTMF);
	ASSERT_EQ(f.digit, '7');
	ASSERT_EQ(f.duration_ms, 180);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(f.kind, SB_FRAME_MARK);
	ASSERT_EQ(f.mark_id, 5);
	ASSERT_EQ(sb_playout_pop(p, &f), 0);
	/* a digit dropped by clear is not reported as a mark */
	ASSERT_EQ(sb_playout_push_dtmf(p, '1', 100), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 6), 0);
	sb_playout_clear(p, on_mark, &calls);
	ASSERT_EQ(calls, 1);
	ASSERT_EQ(seen[0], 6);
	ASSERT_EQ(sb_playout_queued_marks(p), 0);
out:
	p = sb_playout_free(p);
	return r;
}

/* Unit tests for playout: re-framing of odd-sized pushes, little-endian decoding, mark order
 * (inside a frame, behind a partial one until it is padded), the bound, clear, a long randomised
 * push/pop run against a model, and the chunked storage: frames across chunk boundaries, memory
 * freed once played or cleared, the spare reused, the bound on storage, marks on chunk boundaries.
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

/* 100 samples, then a mark: the mark waits behind the partial frame. With 100 samples more,
 * the frame runs on without silence (no hole where a bot marks between chunks); with flush()
 * it is padded (the end of what the bot sent). Either way the mark comes out after it. */
TEST(playout_mark_inside_a_frame)
{
	int r = 0;
	struct sb_playout *p = NULL;
	uint8_t buf[200];
	struct sb_frame f;

	for (int flush = 0; flush < 2; flush++) {
		ASSERT_EQ(sb_playout_new(&p, 8000), 0);
		ramp(buf, 100, 1000);
		ASSERT_EQ(sb_playout_push_audio(p, buf, 200), 0);
		ASSERT_EQ(sb_playout_push_mark(p, 7), 0);
		ASSERT_EQ(sb_playout_queued_samples(p), 100);
		ASSERT_EQ(sb_playout_queued_marks(p), 1);
		ASSERT_EQ(sb_playout_pop(p, &f), 0); /* the frame is not whole yet */
		if (flush) {
			ASSERT_EQ(sb_playout_flush(p), SB_FRAME_SAMPLES - 100);
		} else {
			ramp(buf, 100, 2000);
			ASSERT_EQ(sb_playout_push_audio(p, buf, 200), 0);
		}
		ASSERT_EQ(sb_playout_pop(p, &f), 1);
		ASSERT_EQ(f.kind, SB_FRAME_AUDIO);
		ASSERT_EQ(f.samples, SB_FRAME_SAMPLES);
		for (int i = 0; i < 100; i++)
			ASSERT_EQ(f.pcm[i], 1000 + i);
		for (int i = 100; i < SB_FRAME_SAMPLES; i++)
			ASSERT_EQ(f.pcm[i], flush ? 0 : 2000 + i - 100);
		ASSERT_EQ(sb_playout_pop(p, &f), 1);
		ASSERT_EQ(f.kind, SB_FRAME_MARK);
		ASSERT_EQ(f.mark_id, 7);
		ASSERT_EQ(sb_playout_queued_samples(p), flush ? 0 : 40);
		ASSERT_EQ(sb_playout_queued_marks(p), 0);
		ASSERT_EQ(sb_playout_pop(p, &f), 0);
		p = sb_playout_free(p);
	}
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
	size_t k = 0, flushed = 0;

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
	ASSERT_EQ(sb_playout_queued_samples(p), 3 * SB_FRAME_SAMPLES + 1);
	/* The last mark stands behind one sample: it waits for the frame to be padded. */
	while (sb_playout_pop(p, &f) == 1 ||
	       (!flushed && (flushed = sb_playout_flush(p)) && sb_playout_pop(p, &f) == 1)) {
		ASSERT_TRUE(k < sizeof(want) / sizeof(want[0]));
		ASSERT_TRUE(k < 6 || flushed);
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
	/* A mark adds no audio; flush() pads past the bound rather than leave a mark behind. */
	ASSERT_EQ(sb_playout_push_mark(p, 9), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 500);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 2), 1);
	ASSERT_EQ(sb_playout_flush(p), 140);
	ASSERT_EQ(sb_playout_queued_samples(p), 640);
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
	ASSERT_EQ(sb_playout_push_mark(p, 11), 0);
	ASSERT_EQ(sb_playout_push_audio(p, buf, 100), 0); /* 550 */
	ASSERT_EQ(sb_playout_push_mark(p, 12), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 13), 0);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(sb_playout_clear(p, on_mark, &calls), 390);
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
	ASSERT_EQ(sb_playout_queued_samples(p), 320);
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

/* What the queue must hand out, by absolute position (modulo its size): the pushed samples,
 * 0 for padding. */
#define MODEL_SIZE (1u << 20)
static int16_t model[MODEL_SIZE];

/* Pops one item and checks it against the model; returns 0 when nothing was complete. */
static int pop_odd_check(struct sb_playout *p, uint32_t *mark_out, uint64_t *out_total, int *bad)
{
	struct sb_frame f;

	if (sb_playout_pop(p, &f) == 0)
		return 0;
	if (f.kind == SB_FRAME_MARK) {
		/* In order, once the audio before it is out, and with the rest of its frame only.
		 */
		*bad |= f.mark_id != *mark_out || mark_pos[f.mark_id] > *out_total ||
		        *out_total - mark_pos[f.mark_id] >= SB_FRAME_SAMPLES;
		(*mark_out)++;
		return 1;
	}
	for (int i = 0; i < SB_FRAME_SAMPLES; i++)
		*bad |= f.pcm[i] != model[(*out_total + (uint64_t)i) % MODEL_SIZE];
	*out_total += SB_FRAME_SAMPLES;
	return 1;
}

/* Random pushes of any length, marks anywhere in a frame, flushes and pops against a model:
 * audio after a mark goes on in the mark's frame, a mark comes out after the frame that holds
 * its position, and only flush() pads. */
TEST(playout_random_odd_sizes_against_model)
{
	int r = 0, bad = 0;
	struct sb_playout *p = NULL;
	static uint8_t buf[600 * 2];
	uint16_t next_in = 1;
	uint32_t mark_in = 0, mark_out = 0;
	uint64_t in_total = 0, out_total = 0;

	ASSERT_EQ(sb_playout_new(&p, 480000), 0);
	for (int step = 0; step < 8000; step++) {
		uint32_t op = rnd() % 10;

		if (op < 5) {
			size_t n = 1 + rnd() % 600;

			ramp(buf, n, next_in);
			ASSERT_EQ(sb_playout_push_audio(p, buf, n * 2), 0);
			for (size_t i = 0; i < n; i++)
				model[(in_total + i) % MODEL_SIZE] =
				        (int16_t)(uint16_t)(next_in + i);
			next_in = (uint16_t)(next_in + n);
			in_total += n;
		} else if (op < 7) {
			ASSERT_TRUE(mark_in < sizeof(mark_pos) / sizeof(mark_pos[0]));
			mark_pos[mark_in] = in_total;
			ASSERT_EQ(sb_playout_push_mark(p, mark_in++), 0);
		} else if (op < 8) {
			size_t pad =
			        (SB_FRAME_SAMPLES - (in_total - out_total) % SB_FRAME_SAMPLES) %
			        SB_FRAME_SAMPLES;

			ASSERT_EQ(sb_playout_flush(p), pad);
			for (size_t i = 0; i < pad; i++)
				model[(in_total + i) % MODEL_SIZE] = 0;
			in_total += pad;
		} else {
			while (pop_odd_check(p, &mark_out, &out_total, &bad))
				;
			ASSERT_EQ(bad, 0);
			/* What is left: a partial frame, and marks that stand in it. */
			ASSERT_TRUE(in_total - out_total < SB_FRAME_SAMPLES);
			ASSERT_TRUE(mark_out == mark_in || mark_pos[mark_out] > out_total);
		}
		ASSERT_EQ(sb_playout_queued_samples(p), in_total - out_total);
		ASSERT_EQ(sb_playout_queued_marks(p), mark_in - mark_out);
	}
	ASSERT_TRUE(mark_out > 1000);
out:
	p = sb_playout_free(p);
	return r;
}

/* Bytes one chunk adds: what a queue holding one sample and no mark holds. */
static size_t one_chunk_bytes(void)
{
	struct sb_playout *p = NULL;
	uint8_t b[2] = {0};
	size_t n = 0;

	if (sb_playout_new(&p, 100) == 0 && sb_playout_push_audio(p, b, 2) == 0)
		n = sb_playout_bytes(p);
	sb_playout_free(p);
	return n;
}

/* Pushes samples of the ramp from *next in pieces of `piece` samples. */
static int push_ramp(struct sb_playout *p, uint16_t *next, size_t samples, size_t piece)
{
	static uint8_t buf[2 * 4096];

	while (samples) {
		size_t k = samples < piece ? samples : piece;

		ramp(buf, k, *next);
		if (sb_playout_push_audio(p, buf, 2 * k) != 0)
			return -1;
		*next = (uint16_t)(*next + k);
		samples -= k;
	}
	return 0;
}

/* The chunks a queue holds after `total` samples were pushed into it empty and `played` of them
 * popped: those with a sample left in them, and the spare once one has been played out. */
static size_t chunks_held(size_t total, size_t played)
{
	size_t c = SB_PLAYOUT_CHUNK_SAMPLES;
	size_t in_use = played < total ? (total - 1) / c - played / c + 1 : 0;

	return in_use + (played >= c ? 1 : 0);
}

/* Frames that straddle two chunks come out whole and in order, pushes of any size cross chunk
 * boundaries, and each chunk goes as soon as it has been played. */
TEST(playout_chunk_boundaries)
{
	static const size_t pieces[] = {1,
	                                7,
	                                159,
	                                160,
	                                161,
	                                1000,
	                                SB_PLAYOUT_CHUNK_SAMPLES - 1,
	                                SB_PLAYOUT_CHUNK_SAMPLES,
	                                SB_PLAYOUT_CHUNK_SAMPLES + 1,
	                                4096};
	/* whole frames into the fourth chunk */
	const size_t total =
	        (3 * SB_PLAYOUT_CHUNK_SAMPLES / SB_FRAME_SAMPLES + 2) * SB_FRAME_SAMPLES;
	size_t chunk = one_chunk_bytes();
	int r = 0;
	struct sb_playout *p = NULL;
	struct sb_frame f;

	ASSERT_TRUE(chunk >= SB_PLAYOUT_CHUNK_SAMPLES * sizeof(int16_t));
	/* A chunk is not a whole number of frames, so frames do straddle. */
	ASSERT_TRUE(SB_PLAYOUT_CHUNK_SAMPLES % SB_FRAME_SAMPLES != 0);
	ASSERT_TRUE(total > 3 * SB_PLAYOUT_CHUNK_SAMPLES && total < 4 * SB_PLAYOUT_CHUNK_SAMPLES);
	for (size_t i = 0; i < ARRAY_SIZE(pieces); i++) {
		uint16_t in = (uint16_t)(i * 1000), out = in;

		ASSERT_EQ(sb_playout_new(&p, 100000), 0);
		ASSERT_EQ(sb_playout_bytes(p), 0);
		ASSERT_EQ(push_ramp(p, &in, total, pieces[i]), 0);
		ASSERT_EQ(sb_playout_bytes(p), 4 * chunk);
		for (size_t k = 0; k < total / SB_FRAME_SAMPLES; k++) {
			ASSERT_EQ(sb_playout_pop(p, &f), 1);
			if (is_ramp(&f, out))
				FAIL_AT("piece %zu, frame %zu", pieces[i], k);
			out = (uint16_t)(out + SB_FRAME_SAMPLES);
			ASSERT_EQ(sb_playout_bytes(p),
			          chunks_held(total, (k + 1) * SB_FRAME_SAMPLES) * chunk);
		}
		ASSERT_EQ(sb_playout_pop(p, &f), 0);
		ASSERT_EQ(sb_playout_queued_samples(p), 0);
		/* All played: only the spare is left. */
		ASSERT_EQ(sb_playout_bytes(p), chunk);
		p = sb_playout_free(p);
	}
out:
	p = sb_playout_free(p);
	return r;
}

/* A bot streaming at about the playout rate uses the spare over and over: the storage never
 * grows past one chunk, however long the stream. */
TEST(playout_steady_stream_reuses_storage)
{
	size_t chunk = one_chunk_bytes(), peak = 0;
	int r = 0;
	struct sb_playout *p = NULL;
	struct sb_frame f;
	uint16_t in = 0, out = 0;

	ASSERT_EQ(sb_playout_new(&p, 480000), 0);
	for (int msg = 0; msg < 1000; msg++) {
		/* 100 ms messages, each played out in five 20 ms frames before the next. */
		ASSERT_EQ(push_ramp(p, &in, 800, 800), 0);
		if (sb_playout_bytes(p) > peak)
			peak = sb_playout_bytes(p);
		for (int k = 0; k < 5; k++) {
			ASSERT_EQ(sb_playout_pop(p, &f), 1);
			ASSERT_EQ(is_ramp(&f, out), 0);
			out = (uint16_t)(out + SB_FRAME_SAMPLES);
		}
	}
	ASSERT_EQ(peak, chunk);
	ASSERT_EQ(sb_playout_bytes(p), chunk);
out:
	p = sb_playout_free(p);
	return r;
}

/* Clear frees what a long prompt took, down to one spare chunk, which the next push reuses. */
TEST(playout_clear_frees_storage)
{
	size_t chunk = one_chunk_bytes();
	int r = 0;
	struct sb_playout *p = NULL;
	struct sb_frame f;
	uint16_t in = 0;

	ASSERT_EQ(sb_playout_new(&p, 480000), 0);
	/* 30 s in one go, as a bot sending a whole prompt at once does. */
	ASSERT_EQ(push_ramp(p, &in, 240000, 4096), 0);
	ASSERT_EQ(sb_playout_bytes(p),
	          (240000 + SB_PLAYOUT_CHUNK_SAMPLES - 1) / SB_PLAYOUT_CHUNK_SAMPLES * chunk);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(sb_playout_clear(p, NULL, NULL), 240000 - SB_FRAME_SAMPLES);
	ASSERT_EQ(sb_playout_bytes(p), chunk);
	/* The spare is reused, and framing restarts at the first new sample. */
	in = 500;
	ASSERT_EQ(push_ramp(p, &in, SB_FRAME_SAMPLES, 100), 0);
	ASSERT_EQ(sb_playout_bytes(p), chunk);
	ASSERT_EQ(sb_playout_pop(p, &f), 1);
	ASSERT_EQ(is_ramp(&f, 500), 0);
	/* Clearing several chunks and a partial frame leaves the spare only, too. */
	ASSERT_EQ(push_ramp(p, &in, 3 * SB_PLAYOUT_CHUNK_SAMPLES + 7, 1000), 0);
	ASSERT_EQ(sb_playout_bytes(p), 4 * chunk);
	ASSERT_EQ(sb_playout_clear(p, NULL, NULL), 3 * SB_PLAYOUT_CHUNK_SAMPLES + 7);
	ASSERT_EQ(sb_playout_bytes(p), chunk);
out:
	p = sb_playout_free(p);
	return r;
}

/* The bound caps the storage: a bot sending far more than max_queue_ms holds only the
 * chunks the bound allows. */
TEST(playout_bound_caps_storage)
{
	const size_t max = 8000; /* max_queue_ms = 1000 */
	size_t chunk = one_chunk_bytes(), dropped = 0;
	int r = 0;
	struct sb_playout *p = NULL;
	static uint8_t buf[1600];

	ASSERT_EQ(sb_playout_new(&p, max), 0);
	ramp(buf, 800, 0);
	for (int i = 0; i < 600; i++) { /* 60 s of 100 ms messages, none played */
		long d = sb_playout_push_audio(p, buf, sizeof(buf));

		ASSERT_TRUE(d >= 0);
		dropped += (size_t)d;
	}
	ASSERT_EQ(sb_playout_queued_samples(p), max);
	ASSERT_EQ(dropped, 600 * 800 - max);
	ASSERT_EQ(sb_playout_bytes(p),
	          (max + SB_PLAYOUT_CHUNK_SAMPLES - 1) / SB_PLAYOUT_CHUNK_SAMPLES * chunk);
out:
	p = sb_playout_free(p);
	return r;
}

/* Marks and digits whose padding or position falls on a chunk boundary keep their place. */
TEST(playout_marks_across_chunks)
{
	size_t chunk = one_chunk_bytes(), k = 0;
	int r = 0, calls = 0;
	struct sb_playout *p = NULL;
	struct sb_frame f;
	uint16_t in = 0;
	uint64_t pos[4], played = 0; /* in frames */

	n_seen = 0;
	ASSERT_EQ(sb_playout_new(&p, 100000), 0);
	/* Ends 10 samples short of the chunk: the padding of its partial frame crosses into the
	 * next. */
	ASSERT_EQ(push_ramp(p, &in, SB_PLAYOUT_CHUNK_SAMPLES - 10, 1000), 0);
	ASSERT_EQ(sb_playout_push_mark(p, 0), 0);
	pos[0] = (SB_PLAYOUT_CHUNK_SAMPLES - 10 + SB_FRAME_SAMPLES - 1) / SB_FRAME_SAMPLES;
	ASSERT_EQ(sb_playout_queued_samples(p), SB_PLAYOUT_CHUNK_SAMPLES - 10);
	/* A digit, which pads the partial frame, then a mark right behind it: both come out
	 * after the same frames as the mark before them. */
	ASSERT_EQ(sb_playout_push_dtmf(p, '5', 100), 0);
	pos[1] = pos[0];
	ASSERT_EQ(sb_playout_push_mark(p, 1), 0);
	pos[2] = pos[0];
	ASSERT_EQ(sb_playout_queued_samples(p), pos[0] * SB_FRAME_SAMPLES);
	ASSERT_TRUE(sb_playout_bytes(p) >= 2 * chunk);
	/* Up to the end of the fourth chunk, a frame boundary too, then a mark: no padding. */
	ASSERT_EQ((4 * SB_PLAYOUT_CHUNK_SAMPLES) % SB_FRAME_SAMPLES, 0);
	ASSERT_EQ(push_ramp(p, &in, 4 * SB_PLAYOUT_CHUNK_SAMPLES - pos[0] * SB_FRAME_SAMPLES, 333),
	          0);
	ASSERT_EQ(sb_playout_push_mark(p, 2), 0);
	ASSERT_EQ(sb_playout_queued_samples(p), 4 * SB_PLAYOUT_CHUNK_SAMPLES);
	pos[3] = 4 * SB_PLAYOUT_CHUNK_SAMPLES / SB_FRAME_SAMPLES;
	ASSERT_EQ(sb_playout_queued_marks(p), 4);
	/* Each item must come out once exactly the frames queued before it have. */
	while (sb_playout_pop(p, &f) == 1) {
		if (f.kind == SB_FRAME_AUDIO) {
			played++;
			continue;
		}
		ASSERT_TRUE(k < 4);
		if (played != pos[k])
			FAIL_AT("item %zu after %llu frames, expected %llu", k,
			        (unsigned long long)played, (unsigned long long)pos[k]);
		if (k == 1) {
			ASSERT_EQ(f.kind, SB_FRAME_DTMF);
			ASSERT_EQ(f.digit, '5');
		} else {
			ASSERT_EQ(f.kind, SB_FRAME_MARK);
			ASSERT_EQ(f.mark_id, k == 0 ? 0 : k - 1);
		}
		k++;
	}
	ASSERT_EQ(k, 4);
	ASSERT_EQ(played, pos[3]);
	/* Marks dropped by a clear over many chunks are reported in order, and the mark ring
	 * that many marks grew is freed with the chunks. */
	for (uint32_t id = 100; id < 140; id++) {
		ASSERT_EQ(push_ramp(p, &in, 777, 777), 0);
		ASSERT_EQ(sb_playout_push_mark(p, id), 0);
	}
	ASSERT_TRUE(sb_playout_bytes(p) > 10 * chunk);
	ASSERT_EQ(sb_playout_clear(p, on_mark, &calls), 40 * 777); /* marks add no audio */
	ASSERT_EQ(calls, 40);
	for (uint32_t i = 0; i < 16; i++) /* on_mark keeps the first 16 ids */
		ASSERT_EQ(seen[i], 100 + i);
	ASSERT_EQ(sb_playout_bytes(p), chunk);
out:
	p = sb_playout_free(p);
	return r;
}

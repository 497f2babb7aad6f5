/* Unit tests for pcm_fifo.c: order, wrap-around, drop-oldest when full, silence when short,
 * a saturating mix, the drops of a mix counted once per mix frame, and a worker's count of
 * its calls' drops in frames that adds up to the calls' own. */
#include <sb/common.h>
#include <sb/pcm_fifo.h>

#include "harness.h"

static struct sb_pcm_fifo f;

TEST(order_and_wrap)
{
	int16_t in[700], out[700];
	uint16_t next_in = 0, next_out = 0;
	int r = 0;

	f = (struct sb_pcm_fifo){0};
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < 700; i++)
			in[i] = (int16_t)next_in++;
		sb_pcm_fifo_push(&f, in, 700);
		ASSERT_EQ(sb_pcm_fifo_pop(&f, out, 700), 700);
		for (size_t i = 0; i < 700; i++)
			ASSERT_EQ((uint16_t)out[i], next_out++);
	}
	ASSERT_EQ(f.dropped, 0);
out:
	return r;
}

TEST(full_drops_the_oldest)
{
	int16_t in[SB_PCM_FIFO_SAMPLES + 400], out[SB_PCM_FIFO_SAMPLES];
	int r = 0;

	f = (struct sb_pcm_fifo){0};
	for (size_t i = 0; i < SB_PCM_FIFO_SAMPLES + 400; i++)
		in[i] = (int16_t)i;
	sb_pcm_fifo_push(&f, in, 1000);
	sb_pcm_fifo_push(&f, in + 1000, 800); /* 200 too many */
	ASSERT_EQ(f.dropped, 200);
	ASSERT_EQ(sb_pcm_fifo_pop(&f, out, SB_PCM_FIFO_SAMPLES), SB_PCM_FIFO_SAMPLES);
	ASSERT_EQ(out[0], 200);
	ASSERT_EQ(out[SB_PCM_FIFO_SAMPLES - 1], 1799);
	/* one push larger than the whole FIFO keeps its newest samples */
	sb_pcm_fifo_push(&f, in, 10);
	sb_pcm_fifo_push(&f, in, SB_PCM_FIFO_SAMPLES + 100);
	ASSERT_EQ(f.dropped, 200 + 110);
	ASSERT_EQ(sb_pcm_fifo_pop(&f, out, 1), 1);
	ASSERT_EQ(out[0], 100);
out:
	return r;
}

TEST(short_pop_pads_silence_and_mix_saturates)
{
	int16_t in[4] = {30000, -30000, 5, 7}, out[6] = {10000, -10000, 1, 1, 9, 9};
	int r = 0;

	f = (struct sb_pcm_fifo){0};
	sb_pcm_fifo_push(&f, in, 4);
	ASSERT_EQ(sb_pcm_fifo_mix(&f, out, 6), 4);
	ASSERT_EQ(out[0], 32767);
	ASSERT_EQ(out[1], -32768);
	ASSERT_EQ(out[2], 6);
	ASSERT_EQ(out[3], 8);
	ASSERT_EQ(out[4], 9); /* untouched beyond what was there */
	sb_pcm_fifo_push(&f, in, 2);
	ASSERT_EQ(sb_pcm_fifo_pop(&f, out, 6), 2);
	ASSERT_EQ(out[1], -30000);
	ASSERT_EQ(out[2], 0);
	ASSERT_EQ(out[5], 0);
out:
	return r;
}

static struct sb_pcm_fifo mix[2];

/* A listening bot's mix of two parties: what both lost before the same mix frame counts once,
 * what one party lost counts as it is, and nothing is counted twice. */
TEST(mix_drops_count_each_mix_frame_once)
{
	static int16_t in[SB_PCM_FIFO_SAMPLES + SB_FRAME_SAMPLES];
	int16_t out[SB_FRAME_SAMPLES];
	uint64_t seen[2] = {0, 0};
	int r = 0;

	mix[0] = mix[1] = (struct sb_pcm_fifo){0};
	ASSERT_EQ(sb_pcm_fifo_mix_dropped(mix, seen), 0);
	/* both parties 20 ms over the bound before one mix frame: one frame of the mix */
	sb_pcm_fifo_push(&mix[0], in, SB_PCM_FIFO_SAMPLES + SB_FRAME_SAMPLES);
	sb_pcm_fifo_push(&mix[1], in, SB_PCM_FIFO_SAMPLES + SB_FRAME_SAMPLES);
	ASSERT_EQ(sb_pcm_fifo_mix_dropped(mix, seen), SB_FRAME_SAMPLES);
	ASSERT_EQ(sb_pcm_fifo_mix_dropped(mix, seen), 0); /* counted already */
	sb_pcm_fifo_pop(&mix[0], out, SB_FRAME_SAMPLES);
	sb_pcm_fifo_mix(&mix[1], out, SB_FRAME_SAMPLES);
	/* then only the agent, 40 ms over, and the caller 10 ms: the larger */
	sb_pcm_fifo_push(&mix[1], in, 3 * SB_FRAME_SAMPLES);
	sb_pcm_fifo_push(&mix[0], in, SB_FRAME_SAMPLES + SB_FRAME_SAMPLES / 2);
	ASSERT_EQ(mix[1].dropped - seen[1], 2 * SB_FRAME_SAMPLES);
	ASSERT_EQ(mix[0].dropped - seen[0], SB_FRAME_SAMPLES / 2);
	ASSERT_EQ(sb_pcm_fifo_mix_dropped(mix, seen), 2 * SB_FRAME_SAMPLES);
	ASSERT_EQ(seen[0], mix[0].dropped);
	ASSERT_EQ(seen[1], mix[1].dropped);
out:
	return r;
}

/* As media_rx.c counts what a call's relay dropped: the call's samples (its record gives
 * sb_frames_of of them), the worker's frames (the /metrics figure, summed over workers). */
static void count_drops(const struct sb_pcm_fifo *relay, uint64_t before, uint64_t *call_samples,
                        uint64_t *worker_frames)
{
	uint64_t dropped = relay->dropped - before;

	*worker_frames += sb_frames_added(*call_samples, dropped);
	*call_samples += dropped;
}

TEST(worker_drop_frames_add_up_to_the_calls_frames)
{
	static struct sb_pcm_fifo relay[3];
	static int16_t in[SB_PCM_FIFO_SAMPLES];
	uint64_t call[3] = {0, 0, 0}, worker = 0, sum;
	unsigned seed = 1;
	int r = 0;

	/* Two calls, each 10 ms over the bound in two pushes of 5 ms: a part of a frame each,
	 * one frame in each call's record, two in the worker's count (the samples of both,
	 * rounded once, would make one). */
	for (int c = 0; c < 2; c++) {
		static const size_t pushes[] = {SB_PCM_FIFO_SAMPLES, 40, 40};

		relay[c] = (struct sb_pcm_fifo){0};
		for (size_t i = 0; i < ARRAY_SIZE(pushes); i++) {
			uint64_t before = relay[c].dropped;

			sb_pcm_fifo_push(&relay[c], in, pushes[i]);
			count_drops(&relay[c], before, &call[c], &worker);
		}
		ASSERT_EQ(call[c], SB_FRAME_SAMPLES / 2);
	}
	ASSERT_EQ(sb_frames_of(call[0]) + sb_frames_of(call[1]), 2);
	ASSERT_EQ(worker, 2);
	/* Drops of any size, interleaved over three calls, with pops between them. */
	relay[2] = (struct sb_pcm_fifo){0};
	for (int i = 0; i < 3000; i++) {
		int c = i % 3;
		uint64_t before = relay[c].dropped;
		int16_t out[SB_FRAME_SAMPLES];

		seed = seed * 1103515245u + 12345u;
		sb_pcm_fifo_push(&relay[c], in, 1 + (seed >> 16) % 400);
		count_drops(&relay[c], before, &call[c], &worker);
		if ((seed >> 8) % 3 == 0)
			sb_pcm_fifo_pop(&relay[c], out, SB_FRAME_SAMPLES);
	}
	sum = sb_frames_of(call[0]) + sb_frames_of(call[1]) + sb_frames_of(call[2]);
	ASSERT_TRUE(sum > 100);
	ASSERT_EQ(worker, sum);
out:
	return r;
}

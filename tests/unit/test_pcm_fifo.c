/* Unit tests for pcm_fifo.c: order, wrap-around, drop-oldest when full, silence when short,
 * a saturating mix, and the drops of a mix counted once per mix frame. */
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

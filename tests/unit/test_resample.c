/* Unit tests for resample: exact sample counts over a stream of 20 ms frames at every rate
 * pair the bridge uses, a tone that keeps its pitch both ways, the delay the filter adds at
 * the default quality, a drain that gives a stream's last samples, reset, and refused
 * arguments. Thread: the test's main thread. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <sb/common.h>
#include <sb/resample.h>

#include "harness.h"

/* Power of hz in pcm at rate (Goertzel), per sample. */
static double power_at(const int16_t *pcm, size_t n, double hz, double rate)
{
	double k = 2.0 * cos(2.0 * M_PI * hz / rate), s1 = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		double s0 = pcm[i] + k * s1 - s2;

		s2 = s1;
		s1 = s0;
	}
	return (s1 * s1 + s2 * s2 - k * s1 * s2) / (double)n;
}

static void tone(int16_t *pcm, size_t n, size_t from, double hz, double rate)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)lrint(8000.0 * sin(2.0 * M_PI * hz * (double)(from + i) / rate));
}

/* 50 frames of 20 ms of a 1 kHz tone up to rate and back down to 8 kHz. */
static int round_trip(int rate)
{
	struct sb_resampler *up = NULL, *down = NULL;
	int16_t in[160], mid[512], out[256], *all = calloc(8000, sizeof(int16_t));
	size_t n_mid = 0, n_out = 0, k;
	int r = 0;

	ASSERT_TRUE(all != NULL);
	ASSERT_EQ(sb_resampler_new(&up, 8000, rate, 3), 0);
	ASSERT_EQ(sb_resampler_new(&down, rate, 8000, 3), 0);
	for (size_t f = 0; f < 50; f++) {
		tone(in, 160, f * 160, 1000, 8000);
		k = sb_resampler_run(up, in, 160, mid, sb_resampler_out_max(up, 160));
		ASSERT_TRUE(k <= sb_resampler_out_max(up, 160));
		n_mid += k;
		k = sb_resampler_run(down, mid, k, out, sb_resampler_out_max(down, k));
		ASSERT_TRUE(n_out + k <= 8000);
		memcpy(all + n_out, out, k * sizeof(int16_t));
		n_out += k;
	}
	/* Everything but the filters' look-ahead has come out, at the right rate. */
	ASSERT_TRUE(n_mid <= (size_t)rate &&
	            n_mid >= (size_t)rate -
	                             2 * (size_t)sb_resampler_latency(up) * (size_t)rate / 8000);
	ASSERT_TRUE(n_out <= 8000 && n_out >= 8000 - 160);
	/* 1 kHz dominates its neighbours after the round trip. */
	ASSERT_TRUE(power_at(all + 400, 6400, 1000, 8000) >
	            100 * power_at(all + 400, 6400, 1500, 8000));
	ASSERT_TRUE(power_at(all + 400, 6400, 1000, 8000) >
	            100 * power_at(all + 400, 6400, 700, 8000));
	printf("  8000 -> %d -> 8000: %zu samples at %d Hz for 1 s, %zu of 8000 back; "
	       "look-ahead %d + %d input samples (%.2f ms + %.2f ms)\n",
	       rate, n_mid, rate, n_out, sb_resampler_latency(up), sb_resampler_latency(down),
	       sb_resampler_latency(up) * 1000.0 / 8000,
	       sb_resampler_latency(down) * 1000.0 / rate);
out:
	sb_resampler_free(up);
	sb_resampler_free(down);
	free(all);
	return r;
}

TEST(resample_16k_round_trip)
{
	return round_trip(16000);
}

TEST(resample_24k_round_trip)
{
	return round_trip(24000);
}

/* The stream keeps its timing: the first output sample is the first input sample (the
 * filter's start-up zeros are skipped), so a tone's phase lines up. */
TEST(resample_keeps_phase)
{
	struct sb_resampler *up = NULL;
	int16_t in[1600], out[3300], ref[3300];
	size_t k;
	int r = 0;
	double err = 0, sig = 0;

	ASSERT_EQ(sb_resampler_new(&up, 8000, 16000, 3), 0);
	tone(in, 1600, 0, 500, 8000);
	k = sb_resampler_run(up, in, 1600, out, sizeof(out) / sizeof(out[0]));
	ASSERT_TRUE(k > 3000);
	tone(ref, k, 0, 500, 16000);
	for (size_t i = 200; i < k - 200; i++) {
		err += (double)(out[i] - ref[i]) * (out[i] - ref[i]);
		sig += (double)ref[i] * ref[i];
	}
	ASSERT_TRUE(err < sig / 100); /* within 20 dB of the ideal, in phase */
out:
	sb_resampler_free(up);
	return r;
}

/* 50 frames of 20 ms of a 1 kHz tone from in_rate to out_rate, then a drain, twice over: each
 * stream comes out whole (a second at out_rate, nothing held back), its last samples carry the
 * tone, and the drain leaves the converter ready for a stream of its own. */
static int drain_pair(int in_rate, int out_rate)
{
	struct sb_resampler *rs = NULL;
	int16_t in[480], out[1024], tail[512];
	size_t n_in = (size_t)in_rate / 50, total, k;
	int r = 0;

	ASSERT_EQ(sb_resampler_new(&rs, in_rate, out_rate, 3), 0);
	for (int stream = 0; stream < 2; stream++) {
		total = 0;
		for (size_t f = 0; f < 50; f++) {
			tone(in, n_in, f * n_in, 1000, in_rate);
			total += sb_resampler_run(rs, in, n_in, out, ARRAY_SIZE(out));
		}
		ASSERT_TRUE(total < (size_t)out_rate); /* the look-ahead is held back... */
		k = sb_resampler_drain(rs, tail, ARRAY_SIZE(tail));
		ASSERT_TRUE(k <= sb_resampler_out_max(rs, (size_t)sb_resampler_latency(rs)));
		/* ...and comes out: the tone's last samples, not silence */
		ASSERT_EQ(total + k, out_rate);
		ASSERT_TRUE(power_at(tail, k, 1000, out_rate) > 1e6);
		ASSERT_EQ(sb_resampler_drain(rs, tail, ARRAY_SIZE(tail)), 0); /* nothing more */
	}
out:
	sb_resampler_free(rs);
	return r;
}

TEST(resample_drain_gives_the_last_samples)
{
	int r = 0;

	ASSERT_EQ(drain_pair(8000, 16000), 0);
	ASSERT_EQ(drain_pair(8000, 24000), 0);
	ASSERT_EQ(drain_pair(16000, 8000), 0);
	ASSERT_EQ(drain_pair(24000, 8000), 0);
out:
	return r;
}

TEST(resample_reset_and_bad_args)
{
	struct sb_resampler *rs = NULL, *none = NULL;
	int16_t in[160] = {0}, out[400];
	int r = 0;

	ASSERT_EQ(sb_resampler_new(&none, 0, 8000, 3), -EINVAL);
	ASSERT_EQ(sb_resampler_new(&none, 8000, 16000, 11), -EINVAL);
	ASSERT_TRUE(none == NULL);
	ASSERT_EQ(sb_resampler_new(&rs, 8000, 24000, 3), 0);
	ASSERT_TRUE(sb_resampler_run(rs, in, 160, out, 400) > 0);
	sb_resampler_reset(rs);
	ASSERT_TRUE(sb_resampler_run(rs, in, 160, out, 400) > 0);
	ASSERT_EQ(sb_resampler_run(rs, in, 0, out, 400), 0);
	/* A short output buffer is filled, never overrun. */
	ASSERT_TRUE(sb_resampler_run(rs, in, 160, out, 10) <= 10);
out:
	sb_resampler_free(rs);
	return r;
}

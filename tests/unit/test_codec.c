/* Unit tests for codec: the G.711 tables against spandsp's routines for every octet and every
 * sample (also from several threads at once, the first use building them), reference points
 * (ITU-T tables), silence octets, the decode(encode(decode(x))) fixpoint for every octet,
 * monotonic and bounded quantisation. Thread: the test's main thread, and the threads of the
 * first-use test. Owns its stack buffers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The reference the tables must match bit for bit: the routines codec.c used per sample. */
#include <spandsp.h>

#include <sb/codec.h>

#include "harness.h"

static const enum sb_codec both[] = {SB_CODEC_PCMU, SB_CODEC_PCMA};

static int16_t dec1(enum sb_codec c, uint8_t o)
{
	int16_t s;

	sb_codec_decode(c, &o, 1, &s);
	return s;
}

static uint8_t enc1(enum sb_codec c, int16_t s)
{
	uint8_t o;

	sb_codec_encode(c, &s, 1, &o);
	return o;
}

/* Every sample, in an order that starts at 0 and jumps between both ends. */
static int16_t all_samples[65536];

/* Every octet and every sample through the tables, compared with spandsp; the count of
 * differences. */
static void *tables_match_spandsp(void *arg)
{
	uint8_t a[65536], u[65536], oct[256];
	int16_t da[256], du[256];
	long bad = 0;

	(void)arg;
	for (int o = 0; o < 256; o++)
		oct[o] = (uint8_t)o;
	sb_codec_decode(SB_CODEC_PCMA, oct, 256, da);
	sb_codec_decode(SB_CODEC_PCMU, oct, 256, du);
	for (int o = 0; o < 256; o++)
		bad += (da[o] != alaw_to_linear((uint8_t)o)) +
		       (du[o] != ulaw_to_linear((uint8_t)o));
	sb_codec_encode(SB_CODEC_PCMA, all_samples, 65536, a);
	sb_codec_encode(SB_CODEC_PCMU, all_samples, 65536, u);
	for (int i = 0; i < 65536; i++)
		bad += (a[i] != linear_to_alaw(all_samples[i])) +
		       (u[i] != linear_to_ulaw(all_samples[i]));
	return (void *)bad;
}

/* The first test of the file (the harness runs them in order), so its threads race to build
 * the tables, as the media and ws threads may. */
TEST(codec_tables_equal_spandsp)
{
	pthread_t th[4];
	int r = 0, started = 0;
	void *bad;

	for (int i = 0; i < 65536; i++)
		all_samples[i] = (int16_t)(uint16_t)(i * 40503u);
	for (; started < 4; started++)
		if (pthread_create(&th[started], NULL, tables_match_spandsp, NULL) != 0)
			break;
	for (; started > 0; started--) {
		pthread_join(th[started - 1], &bad);
		if ((long)bad != 0)
			FAIL_AT("thread %d: %ld differences", started - 1, (long)bad);
	}
	ASSERT_EQ((long)tables_match_spandsp(NULL), 0);
out:
	for (; started > 0; started--)
		pthread_join(th[started - 1], NULL);
	return r;
}

TEST(codec_reference_points)
{
	int r = 0;

	/* µ-law: 0xFF and 0x7F are +0 and -0; 0x80/0x00 are the extremes. */
	ASSERT_EQ(dec1(SB_CODEC_PCMU, 0xFF), 0);
	ASSERT_EQ(dec1(SB_CODEC_PCMU, 0x7F), 0);
	ASSERT_EQ(dec1(SB_CODEC_PCMU, 0x80), 32124);
	ASSERT_EQ(dec1(SB_CODEC_PCMU, 0x00), -32124);
	/* A-law has no zero: 0xD5/0x55 are ±8; 0xAA/0x2A the extremes; 0x5D (the idle octet
	 * some stacks send) is -136, which is why it must not be used as silence. */
	ASSERT_EQ(dec1(SB_CODEC_PCMA, 0xD5), 8);
	ASSERT_EQ(dec1(SB_CODEC_PCMA, 0x55), -8);
	ASSERT_EQ(dec1(SB_CODEC_PCMA, 0xAA), 32256);
	ASSERT_EQ(dec1(SB_CODEC_PCMA, 0x2A), -32256);
	ASSERT_EQ(dec1(SB_CODEC_PCMA, 0x5D), -136);
	ASSERT_EQ(enc1(SB_CODEC_PCMU, 32767), 0x80);
	ASSERT_EQ(enc1(SB_CODEC_PCMU, -32768), 0x00);
	ASSERT_EQ(enc1(SB_CODEC_PCMA, 32767), 0xAA);
	ASSERT_EQ(enc1(SB_CODEC_PCMA, -32768), 0x2A);
out:
	return r;
}

TEST(codec_silence)
{
	int r = 0;

	ASSERT_EQ(sb_codec_silence_octet(SB_CODEC_PCMU), 0xFF);
	ASSERT_EQ(sb_codec_silence_octet(SB_CODEC_PCMA), 0xD5);
	for (size_t i = 0; i < 2; i++) {
		enum sb_codec c = both[i];
		int16_t s = dec1(c, sb_codec_silence_octet(c));

		/* Silence is what encoding 0 gives, and decodes to the smallest magnitude. */
		ASSERT_EQ(enc1(c, 0), sb_codec_silence_octet(c));
		ASSERT_TRUE(abs(s) <= 8);
		for (int o = 0; o < 256; o++)
			ASSERT_TRUE(abs(dec1(c, (uint8_t)o)) >= abs(s));
	}
out:
	return r;
}

TEST(codec_fixpoint_every_octet)
{
	int r = 0;

	for (size_t i = 0; i < 2; i++) {
		enum sb_codec c = both[i];
		uint8_t oct[256], re[256];
		int16_t lin[256], lin2[256];

		for (int o = 0; o < 256; o++)
			oct[o] = (uint8_t)o;
		sb_codec_decode(c, oct, 256, lin);
		sb_codec_encode(c, lin, 256, re);
		sb_codec_decode(c, re, 256, lin2);
		for (int o = 0; o < 256; o++) {
			if (lin2[o] != lin[o])
				FAIL_AT("%s octet 0x%02x: %d -> %d", sb_codec_name(c), o, lin[o],
				        lin2[o]);
			/* Only µ-law's -0 (0x7F) may map to a different octet (+0). */
			if (re[o] != o && !(c == SB_CODEC_PCMU && o == 0x7F))
				FAIL_AT("%s octet 0x%02x re-encodes to 0x%02x", sb_codec_name(c), o,
				        re[o]);
		}
	}
out:
	return r;
}

TEST(codec_quantisation_monotonic_and_bounded)
{
	int r = 0;

	for (size_t i = 0; i < 2; i++) {
		enum sb_codec c = both[i];
		int prev = -40000;

		for (int x = -32768; x <= 32767; x++) {
			int y = dec1(c, enc1(c, (int16_t)x));
			int err = abs(y - x), bound = abs(x) / 16 + 16;

			if (y < prev)
				FAIL_AT("%s not monotonic at %d", sb_codec_name(c), x);
			if (err > bound)
				FAIL_AT("%s error %d at %d", sb_codec_name(c), err, x);
			if ((x > 64 && y <= 0) || (x < -64 && y >= 0))
				FAIL_AT("%s sign flipped at %d", sb_codec_name(c), x);
			prev = y;
		}
	}
out:
	return r;
}

TEST(codec_block_equals_single)
{
	int r = 0;
	int16_t pcm[160], out1[160], out2[160];
	uint8_t g[160];

	for (int k = 0; k < 160; k++)
		pcm[k] = (int16_t)((k * 2731) % 65536 - 32768);
	for (size_t i = 0; i < 2; i++) {
		sb_codec_encode(both[i], pcm, 160, g);
		sb_codec_decode(both[i], g, 160, out1);
		for (int k = 0; k < 160; k++) {
			ASSERT_EQ(g[k], enc1(both[i], pcm[k]));
			out2[k] = dec1(both[i], g[k]);
		}
		ASSERT_MEMEQ(out1, out2, sizeof(out1));
	}
	/* Zero samples write nothing (the media worker encodes a frame of 0 bot samples and
	 * pads it itself). */
	memset(g, 0xA5, sizeof(g));
	sb_codec_encode(SB_CODEC_PCMU, pcm, 0, g);
	sb_codec_decode(SB_CODEC_PCMA, g, 0, out1);
	for (int k = 0; k < 160; k++)
		ASSERT_EQ(g[k], 0xA5);
out:
	return r;
}

TEST(codec_names)
{
	int r = 0;

	ASSERT_STREQ(sb_codec_name(SB_CODEC_PCMU), "PCMU");
	ASSERT_STREQ(sb_codec_name(SB_CODEC_PCMA), "PCMA");
	ASSERT_EQ(SB_CODEC_PCMU, 0);
	ASSERT_EQ(SB_CODEC_PCMA, 8);
out:
	return r;
}

/* Concealment continues the tone it learnt (same period, audible, fading), for every
 * position of the concealer's history (each 20 ms frame leaves it elsewhere), and a good
 * frame after it is taken as is apart from the cross-fade. */
TEST(plc_conceals_a_tone)
{
	struct sb_plc *p = NULL;
	int16_t frame[160], lost[160];
	int r = 0;

	for (int frames_before = 1; frames_before <= 7; frames_before++) {
		long sum = 0, diff = 0;

		p = sb_plc_new();
		ASSERT_TRUE(p != NULL);
		for (int f = 0; f < frames_before; f++) {
			for (int i = 0; i < 160; i++) /* 500 Hz: a 16-sample period */
				frame[i] = (int16_t)((i % 16 < 8) ? 6000 : -6000);
			sb_plc_rx(p, frame, 160);
		}
		sb_plc_fillin(p, lost, 160);
		for (int i = 0; i < 160; i++) {
			sum += labs(lost[i]);
			if (i >= 16)
				diff += labs(lost[i] - lost[i - 16]);
		}
		if (sum / 160 < 2000)
			FAIL_AT("%d frames before: concealment too quiet (mean %ld)", frames_before,
			        sum / 160);
		if (diff > sum / 2) /* periodic like what it continues */
			FAIL_AT("%d frames before: concealment not periodic (%ld vs %ld)",
			        frames_before, diff, sum);
		p = sb_plc_free(p);
	}
out:
	sb_plc_free(p);
	return r;
}

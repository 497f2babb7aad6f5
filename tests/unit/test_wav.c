/* Unit tests for wav.c: the RIFF header, file names made from call ids, and the placement of
 * two channels' frames by position (alignment, gaps, jitter, a channel running ahead, a
 * silent channel, the end). */
#include <errno.h>
#include <stdlib.h>

#include <sb/wav.h>

#include "harness.h"

#define OUT_MAX 40000 /* stereo samples captured */

/* What the mix wrote, as stereo samples. */
struct capture {
	int16_t pcm[OUT_MAX * SB_WAV_CHANNELS];
	size_t n, calls;
};

static void on_write(void *arg, const int16_t *pcm, size_t n)
{
	struct capture *c = arg;

	if (c->n + n <= OUT_MAX)
		memcpy(c->pcm + c->n * SB_WAV_CHANNELS, pcm, n * SB_WAV_FRAME_BYTES);
	c->n += n;
	c->calls++;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A frame whose samples name its channel and position: ch * 10000 + (pos + i) % 10000. */
static void frame(int16_t *pcm, int ch, int64_t pos, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pcm[i] = (int16_t)(ch * 10000 + (pos + i) % 10000);
}

static void put(struct sb_wav_mix *m, int ch, int64_t pos, int64_t at)
{
	int16_t pcm[SB_FRAME_SAMPLES];

	frame(pcm, ch, at, SB_FRAME_SAMPLES);
	sb_wav_mix_put(m, (enum sb_wav_channel)ch, pos, pcm, SB_FRAME_SAMPLES);
}

static int16_t at(const struct capture *c, size_t i, int ch)
{
	return c->pcm[i * SB_WAV_CHANNELS + (size_t)ch];
}

TEST(header)
{
	uint8_t h[SB_WAV_HEADER_BYTES];
	int r = 0;

	sb_wav_header(h, 32000);
	ASSERT_MEMEQ(h, "RIFF", 4);
	ASSERT_EQ(le32(h + 4), 36 + 32000);
	ASSERT_MEMEQ(h + 8, "WAVEfmt ", 8);
	ASSERT_EQ(le32(h + 16), 16);
	ASSERT_EQ(le16(h + 20), 1);
	ASSERT_EQ(le16(h + 22), 2);
	ASSERT_EQ(le32(h + 24), 8000);
	ASSERT_EQ(le32(h + 28), 32000);
	ASSERT_EQ(le16(h + 32), 4);
	ASSERT_EQ(le16(h + 34), 16);
	ASSERT_MEMEQ(h + 36, "data", 4);
	ASSERT_EQ(le32(h + 40), 32000);
	/* Sizes past what 32 bits hold are capped at whole stereo samples. */
	sb_wav_header(h, UINT32_MAX);
	ASSERT_EQ(le32(h + 40), SB_WAV_MAX_DATA_BYTES);
	ASSERT_EQ(le32(h + 40) % 4, 0);
	ASSERT_TRUE(le32(h + 4) >= le32(h + 40));
out:
	return r;
}

TEST(path)
{
	char buf[64];
	int r = 0;

	ASSERT_EQ(sb_wav_path(buf, sizeof(buf), "/var/rec", "ab12cd"), 0);
	ASSERT_STREQ(buf, "/var/rec/ab12cd.wav");
	ASSERT_EQ(sb_wav_path(buf, sizeof(buf), "/var/rec/", "x-Y_9"), 0);
	ASSERT_STREQ(buf, "/var/rec/x-Y_9.wav");
	/* Nothing in an id can leave the folder, hide the file or end the name. */
	ASSERT_EQ(sb_wav_path(buf, sizeof(buf), "/r", "../a/.b c\n\xff"), 0);
	ASSERT_STREQ(buf, "/r/___a__b_c__.wav");
	ASSERT_EQ(sb_wav_path(buf, sizeof(buf), "/r", ""), -EINVAL);
	ASSERT_EQ(sb_wav_path(buf, 14, "/r", "1234567"), -ENAMETOOLONG);
	ASSERT_EQ(sb_wav_path(buf, 15, "/r", "1234567"), 0);
	ASSERT_STREQ(buf, "/r/1234567.wav");
out:
	return r;
}

/* Both channels steady, the right one stamped a little later each frame (jitter under the
 * slack) and starting 25 ms after the left: written interleaved, sample-exact at their
 * positions, with nothing held back at the end. */
TEST(steady_channels_aligned)
{
	static struct sb_wav_mix m;
	static struct capture c;
	int r = 0;

	sb_wav_mix_init(&m, on_write, &c);
	for (int i = 0; i < 100; i++) {
		put(&m, 0, 400 + i * 160, 400 + i * 160);
		put(&m, 1, 600 + i * 160 + (i % 3) * 50, 600 + i * 160);
	}
	sb_wav_mix_flush(&m);
	ASSERT_EQ(c.n, 600 + 100 * 160);
	for (size_t i = 0; i < c.n; i++) {
		int16_t l = i < 400 || i >= 400 + 16000 ? 0 : (int16_t)(i % 10000);
		int16_t rr = i < 600 ? 0 : (int16_t)(10000 + i % 10000);

		if (at(&c, i, 0) != l || at(&c, i, 1) != rr)
			FAIL_AT("sample %zu: %d %d, wanted %d %d", i, at(&c, i, 0), at(&c, i, 1), l,
			        rr);
	}
	ASSERT_EQ(m.ahead_drops, 0);
out:
	return r;
}

/* A pause longer than the slack stays silent, and the audio after it lands at its time. */
TEST(gap_left_silent)
{
	static struct sb_wav_mix m;
	static struct capture c;
	int r = 0;

	sb_wav_mix_init(&m, on_write, &c);
	for (int i = 0; i < 30; i++) {
		if (i < 10 || i >= 20)
			put(&m, 0, i * 160, i * 160);
		put(&m, 1, i * 160, i * 160);
	}
	sb_wav_mix_flush(&m);
	ASSERT_EQ(c.n, 30 * 160);
	ASSERT_EQ(at(&c, 1599, 0), 1599);
	for (size_t i = 1600; i < 3200; i++)
		ASSERT_EQ(at(&c, i, 0), 0);
	ASSERT_EQ(at(&c, 3200, 0), 3200);
	ASSERT_EQ(at(&c, 4799, 0), 4799);
	ASSERT_EQ(at(&c, 2000, 1), 12000);
out:
	return r;
}

/* Frames stamped in a burst (held back by jitter) are appended, not spread, as long as the
 * channel stays within the slack of its positions; beyond it frames are dropped until it is
 * back in step, which also bounds a channel whose clock runs slow. */
TEST(burst_and_running_ahead)
{
	static struct sb_wav_mix m;
	static struct capture c;
	int64_t pos = 0;
	int r = 0;

	sb_wav_mix_init(&m, on_write, &c);
	for (int i = 0; i < 4; i++) /* 80 ms released together at 320 */
		put(&m, 0, 320, i * 160);
	ASSERT_EQ(m.tr[0].cursor, 320 + 640);
	ASSERT_EQ(m.ahead_drops, 0);
	put(&m, 0, 320, 0); /* 100 ms: past the slack */
	ASSERT_EQ(m.tr[0].cursor, 320 + 640);
	ASSERT_EQ(m.ahead_drops, 1);
	/* Then frames 158 samples apart (a slower clock): 480 ahead after 240 of them. */
	pos = 960;
	for (int i = 0; i < 400; i++) {
		put(&m, 0, pos, 0);
		if (m.tr[0].cursor - pos > SB_WAV_SLACK_SAMPLES + SB_FRAME_SAMPLES)
			FAIL_AT("frame %d: %" PRId64 " ahead", i, m.tr[0].cursor - pos);
		pos += 158;
	}
	ASSERT_TRUE(m.ahead_drops >= 2);
	ASSERT_TRUE(m.ahead_drops <= 1 + 400 * 2 / SB_FRAME_SAMPLES + 1);
out:
	return r;
}

/* One channel alone is written half a window behind it; the other one starting later lands
 * at its position when that is still held, and at the first unwritten sample otherwise. */
TEST(one_channel_alone)
{
	static struct sb_wav_mix m;
	static struct capture c;
	int r = 0;

	sb_wav_mix_init(&m, on_write, &c);
	for (int i = 0; i < 50; i++)
		put(&m, 1, i * 160, i * 160);
	ASSERT_EQ(c.n, 50 * 160 - SB_WAV_WINDOW_SAMPLES / 2);
	put(&m, 0, 50 * 160 - 800, 50 * 160 - 800); /* within the held half window */
	sb_wav_mix_flush(&m);
	ASSERT_EQ(c.n, 50 * 160);
	ASSERT_EQ(at(&c, 50 * 160 - 801, 0), 0);
	ASSERT_EQ(at(&c, 50 * 160 - 800, 0), 50 * 160 - 800);
	ASSERT_EQ(at(&c, 50 * 160 - 641, 0), 50 * 160 - 641);
	ASSERT_EQ(at(&c, 50 * 160 - 640, 0), 0);
	ASSERT_EQ(at(&c, 50 * 160 - 1, 1), 10000 + 50 * 160 - 1);
out:
	return r;
}

/* A long gap on both channels is written as silence, a window at a time; frames given as
 * silence (pcm NULL) are zeros. */
TEST(long_gap_and_silence)
{
	static struct sb_wav_mix m;
	static struct capture c;
	int r = 0;

	sb_wav_mix_init(&m, on_write, &c);
	put(&m, 0, 0, 0);
	put(&m, 1, 0, 0);
	put(&m, 0, 20000, 20000);
	sb_wav_mix_put(&m, SB_WAV_RIGHT, 20000, NULL, SB_FRAME_SAMPLES);
	sb_wav_mix_flush(&m);
	ASSERT_EQ(c.n, 20160);
	ASSERT_TRUE(c.calls >= 20000 / SB_WAV_WINDOW_SAMPLES);
	ASSERT_EQ(at(&c, 159, 1), 10159);
	ASSERT_EQ(at(&c, 10000, 0), 0);
	ASSERT_EQ(at(&c, 20000, 0), 0); /* (20000 + 0) % 10000 */
	ASSERT_EQ(at(&c, 20001, 0), 1);
	ASSERT_EQ(at(&c, 20001, 1), 0);
	/* Nothing to write after a flush; empty and oversized frames are ignored. */
	sb_wav_mix_flush(&m);
	sb_wav_mix_put(&m, SB_WAV_LEFT, 20160, NULL, 0);
	sb_wav_mix_put(&m, SB_WAV_LEFT, 20160, NULL, SB_FRAME_SAMPLES + 1);
	sb_wav_mix_flush(&m);
	ASSERT_EQ(c.n, 20160);
out:
	return r;
}

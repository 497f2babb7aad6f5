/* Call recording files: WAV header, file name, and the two-channel window that places each
 * channel's frames at their sample positions. Pure. Thread: the recorder. Owns nothing
 * beyond the window it is given.
 *
 * Placement: each channel keeps a cursor, the position of its next sample. A frame is
 * appended at the cursor as long as its own position is within SB_WAV_SLACK_SAMPLES of it,
 * so the jitter of frames that are stamped when they become available (caller audio) does
 * not chop the audio. A frame further ahead starts after a gap (no RTP, a hold, the first
 * frame): the cursor jumps to it and the gap stays silent. A frame further behind means the
 * channel runs ahead of time (a burst after a gap, or a faster clock): it is dropped and
 * counted, which brings the channel back. So neither channel strays more than the slack
 * from the clock both are stamped with. A stretch is written once both channels have passed
 * it, or once one leads by half the window (the other is silent there). */
#include <errno.h>
#include <string.h>

#include <sb/wav.h>

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

void sb_wav_header(uint8_t out[SB_WAV_HEADER_BYTES], uint32_t data_bytes)
{
	if (data_bytes > SB_WAV_MAX_DATA_BYTES)
		data_bytes = SB_WAV_MAX_DATA_BYTES;
	memcpy(out, "RIFF", 4);
	put_le32(out + 4, 36 + data_bytes);
	memcpy(out + 8, "WAVEfmt ", 8);
	put_le32(out + 16, 16);                              /* the fmt chunk's size */
	put_le16(out + 20, 1);                               /* PCM */
	put_le16(out + 22, SB_WAV_CHANNELS);                 /* left caller, right bot */
	put_le32(out + 24, SB_RATE_8K);                      /* samples per second */
	put_le32(out + 28, SB_RATE_8K * SB_WAV_FRAME_BYTES); /* bytes per second */
	put_le16(out + 32, SB_WAV_FRAME_BYTES);              /* block align */
	put_le16(out + 34, 16);                              /* bits per sample */
	memcpy(out + 36, "data", 4);
	put_le32(out + 40, data_bytes);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int sb_wav_path(char *buf, size_t len, const char *folder, const char *id)
{
	size_t fl = strlen(folder), il = strlen(id), at;
	bool slash = fl > 0 && folder[fl - 1] == '/';

	if (il == 0)
		return -EINVAL;
	if (fl + !slash + il + sizeof(".wav") > len)
		return -ENAMETOOLONG;
	memcpy(buf, folder, fl);
	at = fl;
	if (!slash)
		buf[at++] = '/';
	for (size_t i = 0; i < il; i++)
		buf[at++] = name_char(id[i]) ? id[i] : '_';
	memcpy(buf + at, ".wav", sizeof(".wav"));
	return 0;
}

void sb_wav_mix_init(struct sb_wav_mix *m, sb_wav_write_fn *write, void *arg)
{
	memset(m, 0, sizeof(*m));
	m->write = write;
	m->arg = arg;
}

/* Writes the window up to position `to` (silence beyond what was placed) and moves on. */
static void advance(struct sb_wav_mix *m, int64_t to)
{
	while (to > m->base) {
		size_t n = (size_t)(to - m->base), keep;

		if (n > SB_WAV_WINDOW_SAMPLES)
			n = SB_WAV_WINDOW_SAMPLES;
		keep = SB_WAV_WINDOW_SAMPLES - n;
		sb_le16_in_place(m->pcm, n * SB_WAV_CHANNELS);
		m->write(m->arg, m->pcm, n);
		memmove(m->pcm, m->pcm + n * SB_WAV_CHANNELS, keep * SB_WAV_FRAME_BYTES);
		memset(m->pcm + keep * SB_WAV_CHANNELS, 0, n * SB_WAV_FRAME_BYTES);
		m->base += (int64_t)n;
	}
}

/* Where both channels are complete; a channel that lags (or has not started) holds writing
 * back by half the window at most. */
static int64_t ready(const struct sb_wav_mix *m)
{
	int64_t lo = INT64_MAX, hi = m->base;

	for (int ch = 0; ch < SB_WAV_CHANNELS; ch++) {
		const struct sb_wav_track *t = &m->tr[ch];
		int64_t at = t->started ? t->cursor : m->base;

		lo = at < lo ? at : lo;
		hi = at > hi ? at : hi;
	}
	return lo > hi - SB_WAV_WINDOW_SAMPLES / 2 ? lo : hi - SB_WAV_WINDOW_SAMPLES / 2;
}

void sb_wav_mix_put(struct sb_wav_mix *m, enum sb_wav_channel ch, int64_t pos, const int16_t *pcm,
                    unsigned n)
{
	struct sb_wav_track *t = &m->tr[ch];
	int64_t d = pos - t->cursor, off;

	if (n == 0 || n > SB_FRAME_SAMPLES)
		return;
	if (!t->started || d > SB_WAV_SLACK_SAMPLES) {
		t->cursor = pos; /* the first frame, or one after a gap */
	} else if (d < -SB_WAV_SLACK_SAMPLES) {
		m->ahead_drops++;
		return;
	}
	t->started = true;
	if (t->cursor < m->base) /* written as silence already */
		t->cursor = m->base;
	if (t->cursor + n - m->base > SB_WAV_WINDOW_SAMPLES)
		advance(m, t->cursor + n - SB_WAV_WINDOW_SAMPLES);
	off = t->cursor - m->base;
	for (unsigned i = 0; i < n; i++)
		m->pcm[(off + i) * SB_WAV_CHANNELS + ch] = pcm ? pcm[i] : 0;
	t->cursor += n;
	advance(m, ready(m));
}

void sb_wav_mix_flush(struct sb_wav_mix *m)
{
	int64_t hi = m->base;

	for (int ch = 0; ch < SB_WAV_CHANNELS; ch++)
		if (m->tr[ch].started && m->tr[ch].cursor > hi)
			hi = m->tr[ch].cursor;
	advance(m, hi);
}

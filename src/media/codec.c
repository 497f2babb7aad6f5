/* G.711 A-law/µ-law ⇄ PCM16 through tables built once from spandsp's G.711 routines, and
 * spandsp's packet loss concealment; the only file that includes <spandsp.h>. Pure.
 * Thread: any (media threads on the audio path, ws threads for Twilio's µ-law). Owns the
 * G.711 tables (built on first use under pthread_once, read-only after) and each concealer's
 * state. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <spandsp.h>

#include <sb/codec.h>

/* spandsp's linear_to_alaw() and linear_to_ulaw() never look at the two low bits of a
 * sample's magnitude, so each answer is shared by a group of four samples and a table of one
 * entry per group holds them all; the unit test checks all 65536 samples against spandsp.
 * A-law shifts by at least 4 the sample, or its one's complement (-s - 1) when negative:
 * groups are [4k, 4k + 3] for both signs, indexed by the sample's top 14 bits. µ-law shifts
 * by at least 3 the magnitude plus a bias of 132 (a multiple of 4): groups are [4k, 4k + 3]
 * for positive samples but [4k + 1, 4k + 4] for negative ones (-1..-3, -4..-7, ...,
 * -32768 alone with -32765..-32767), hence one more entry. */
#define ALAW_ENTRIES 16384
#define ULAW_ENTRIES 16385

static struct {
	int16_t alaw_dec[256], ulaw_dec[256];
	uint8_t alaw_enc[ALAW_ENTRIES], ulaw_enc[ULAW_ENTRIES];
} tab;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static inline unsigned alaw_index(int16_t s)
{
	return (uint16_t)s >> 2;
}

/* Negative samples (65535 down to 32768 as unsigned) are shifted up by 3 so that
 * [4k + 1, 4k + 4] share an index: 0..8191 for 0..32767, 8192..16384 for -32768..-1. */
static inline unsigned ulaw_index(int16_t s)
{
	return ((unsigned)(uint16_t)s + (s < 0 ? 3u : 0u)) >> 2;
}

/* Every sample writes its group's entry, with the same value as the rest of the group. */
static void build_tables(void)
{
	for (int i = 0; i < 256; i++) {
		tab.alaw_dec[i] = alaw_to_linear((uint8_t)i);
		tab.ulaw_dec[i] = ulaw_to_linear((uint8_t)i);
	}
	for (int v = INT16_MIN; v <= INT16_MAX; v++) {
		tab.alaw_enc[alaw_index((int16_t)v)] = linear_to_alaw(v);
		tab.ulaw_enc[ulaw_index((int16_t)v)] = linear_to_ulaw(v);
	}
}

void sb_codec_decode(enum sb_codec c, const uint8_t *in, size_t n, int16_t *out)
{
	const int16_t *t;

	pthread_once(&tab_once, build_tables);
	t = c == SB_CODEC_PCMA ? tab.alaw_dec : tab.ulaw_dec;
	for (size_t i = 0; i < n; i++)
		out[i] = t[in[i]];
}

void sb_codec_encode(enum sb_codec c, const int16_t *in, size_t n, uint8_t *out)
{
	pthread_once(&tab_once, build_tables);
	if (c == SB_CODEC_PCMA) {
		for (size_t i = 0; i < n; i++)
			out[i] = tab.alaw_enc[alaw_index(in[i])];
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = tab.ulaw_enc[ulaw_index(in[i])];
	}
}

uint8_t sb_codec_silence_octet(enum sb_codec c)
{
	/* Not G711_ALAW_IDLE_OCTET (0x5D): that one decodes to -136, an audible DC offset. */
	return c == SB_CODEC_PCMA ? 0xD5 : 0xFF;
}

const char *sb_codec_name(enum sb_codec c)
{
	switch (c) {
	case SB_CODEC_PCMU:
		return "PCMU";
	case SB_CODEC_PCMA:
		return "PCMA";
	}
	return "unknown";
}

struct sb_plc {
	plc_state_t *s;
};

struct sb_plc *sb_plc_new(void)
{
	struct sb_plc *p = malloc(sizeof(*p));

	if (!p)
		return NULL;
	p->s = plc_init(NULL);
	if (!p->s) {
		free(p);
		return NULL;
	}
	return p;
}

struct sb_plc *sb_plc_free(struct sb_plc *p)
{
	if (p) {
		plc_free(p->s);
		free(p);
	}
	return NULL;
}

/* spandsp takes int lengths: feed it in blocks. */
#define PLC_BLOCK 4096

void sb_plc_rx(struct sb_plc *p, int16_t *pcm, size_t n)
{
	for (size_t o = 0; o < n; o += PLC_BLOCK)
		plc_rx(p->s, pcm + o, (int)(n - o < PLC_BLOCK ? n - o : PLC_BLOCK));
}

/* spandsp's normalise_history() rotates the history onto itself with memcpy, whose source
 * and destination overlap (undefined behaviour, which sanitizers report). Rotating it here
 * first, the same way but through a copy, leaves that nothing to do. */
static void rotate_history(plc_state_t *s)
{
	int16_t tmp[PLC_HISTORY_LEN];
	int p = s->buf_ptr;

	if (p <= 0 || p >= PLC_HISTORY_LEN)
		return;
	memcpy(tmp, s->history + p, (size_t)(PLC_HISTORY_LEN - p) * sizeof(tmp[0]));
	memcpy(tmp + PLC_HISTORY_LEN - p, s->history, (size_t)p * sizeof(tmp[0]));
	memcpy(s->history, tmp, sizeof(tmp));
	s->buf_ptr = 0;
}

void sb_plc_fillin(struct sb_plc *p, int16_t *pcm, size_t n)
{
	for (size_t o = 0; o < n; o += PLC_BLOCK) {
		rotate_history(p->s);
		plc_fillin(p->s, pcm + o, (int)(n - o < PLC_BLOCK ? n - o : PLC_BLOCK));
	}
}

/* G.711 A-law/µ-law ⇄ PCM16 through spandsp's inline G.711 routines, and spandsp's packet
 * loss concealment; the only file that includes <spandsp.h>. Pure. Thread: any (media
 * threads on the audio path). Owns each concealer's state. */
#include <stdlib.h>
#include <string.h>

#include <spandsp.h>

#include <sb/codec.h>

void sb_codec_decode(enum sb_codec c, const uint8_t *in, size_t n, int16_t *out)
{
	size_t i;

	if (c == SB_CODEC_PCMA) {
		for (i = 0; i < n; i++)
			out[i] = alaw_to_linear(in[i]);
	} else {
		for (i = 0; i < n; i++)
			out[i] = ulaw_to_linear(in[i]);
	}
}

void sb_codec_encode(enum sb_codec c, const int16_t *in, size_t n, uint8_t *out)
{
	size_t i;

	if (c == SB_CODEC_PCMA) {
		for (i = 0; i < n; i++)
			out[i] = linear_to_alaw(in[i]);
	} else {
		for (i = 0; i < n; i++)
			out[i] = linear_to_ulaw(in[i]);
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

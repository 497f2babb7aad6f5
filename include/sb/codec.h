/* G.711 A-law/µ-law ⇄ PCM16 and packet loss concealment (the only user of spandsp). Pure.
 * Thread: any; one concealer per stream, used by one thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum sb_codec { SB_CODEC_PCMU = 0, SB_CODEC_PCMA = 8 };

/* Decodes n octets into n samples. */
void sb_codec_decode(enum sb_codec c, const uint8_t *in, size_t n, int16_t *out);
/* Encodes n samples into n octets. */
void sb_codec_encode(enum sb_codec c, const int16_t *in, size_t n, uint8_t *out);
/* The quietest octet: A-law 0xD5 (decodes to +8, A-law has no zero code), µ-law 0xFF (0). */
uint8_t sb_codec_silence_octet(enum sb_codec c);
/* "PCMU" / "PCMA". */
const char *sb_codec_name(enum sb_codec c);

/* Packet loss concealment of one 8 kHz stream (spandsp's PLC): it learns from every good
 * block and synthesises a fading continuation for a lost one. */
struct sb_plc;
/* Allocates a concealer; NULL when out of memory. */
struct sb_plc *sb_plc_new(void);
/* Frees; accepts NULL; returns NULL. */
struct sb_plc *sb_plc_free(struct sb_plc *p);
/* Feeds n received samples (smoothed in place where they follow a concealed stretch). */
void sb_plc_rx(struct sb_plc *p, int16_t *pcm, size_t n);
/* Writes n samples of concealment for audio that was lost. */
void sb_plc_fillin(struct sb_plc *p, int16_t *pcm, size_t n);

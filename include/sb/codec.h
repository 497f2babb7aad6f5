/* G.711 A-law/µ-law ⇄ PCM16 (the only user of spandsp's G.711). Pure. Thread: any. */
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

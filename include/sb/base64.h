/* Base64 (RFC 4648, standard alphabet, padded). Pure. Thread: any. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes, without the NUL. */
#define SB_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* 1 for the characters of a base64 text (the alphabet and '='), 0 for every other byte: where
 * they stand is the decoder's to check; a scanner uses this to find where a payload ends. */
extern const uint8_t sb_base64_chars[256];

/* The number of characters at the start of p[0..n) that sb_base64_chars admits: where a
 * payload ends. Sixteen at a time in a build for SSE2 (every x86-64 build). */
size_t sb_base64_span(const char *p, size_t n);

/* Encodes n bytes into out (NUL-terminated). Returns the length or -ENOSPC. */
int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t size);
/* Decodes n characters into out. Requires correct padding and no characters outside the
 * alphabet (no whitespace). Returns the decoded length, -EINVAL on bad input or -ENOSPC. */
long sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t size);

/* Base64 (RFC 4648, standard alphabet, padded). Pure. Thread: any. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes, without the NUL. */
#define SB_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Encodes n bytes into out (NUL-terminated). Returns the length or -ENOSPC. */
int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t size);
/* Decodes n characters into out. Requires correct padding and no characters outside the
 * alphabet (no whitespace). Returns the decoded length, -EINVAL on bad input or -ENOSPC. */
long sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t size);

/* JSON string text written without a JSON tree: RFC 8259 escapes for quotes, backslashes and
 * control characters, and U+FFFD for each byte that does not start a well-formed UTF-8
 * sequence, so any C string becomes valid JSON. Pure. Thread: any. */
#pragma once

#include <stddef.h>

/* Bytes of the well-formed UTF-8 sequence at s, or 0 when it is not one (stray continuation
 * byte, overlong form, surrogate, beyond U+10FFFF, cut short). s[0] is not NUL. */
size_t sb_utf8_len(const unsigned char *s);

/* One character of *s as it appears inside a JSON string (escaped, as it is, or U+FFFD) into
 * piece; returns its length (at most 6) and advances *s past it. **s is not NUL. */
size_t sb_json_str_piece(const unsigned char **s, char piece[8]);

/* Appends s (NULL: "") as a quoted JSON string at buf + *o and NUL-terminates; advances *o.
 * Returns 0, or -ENOSPC (*o unchanged, buf past it undefined) when it does not fit in
 * size. */
int sb_json_put_str(char *buf, size_t size, size_t *o, const char *s);

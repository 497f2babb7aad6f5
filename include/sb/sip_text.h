/* Reading SIP-style text in place (HTTP's header grammar is the same): lines ending in CRLF or
 * a bare LF, "name: value" header lines with compact names, and tokens. Everything is read
 * within [p, end), or up to a string's NUL.
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

static inline bool sb_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 tchar: a character of a token (a header name, a WebSocket subprotocol). */
static inline bool sb_is_tchar(unsigned char c)
{
	return c > ' ' && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* How many of the characters s starts with are a token's. */
static inline size_t sb_token_len(const char *s)
{
	size_t n = 0;

	while (sb_is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

/* End of the line starting at p: its CR or LF, or end. */
static inline const char *sb_line_end(const char *p, const char *end)
{
	while (p < end && *p != '\r' && *p != '\n')
		p++;
	return p;
}

/* Start of the line after the one ending at eol. */
static inline const char *sb_next_line(const char *eol, const char *end)
{
	if (eol < end && *eol == '\r')
		eol++;
	if (eol < end && *eol == '\n')
		eol++;
	return eol;
}

/* Splits the header line [p, eol) at its colon: the name's length without trailing blanks,
 * and where the value starts after leading blanks. False when the line has no colon. */
static inline bool sb_header_split(const char *p, const char *eol, size_t *name_len,
                                   const char **value)
{
	const char *colon = memchr(p, ':', (size_t)(eol - p)), *n, *v;

	if (!colon)
		return false;
	for (n = colon; n > p && sb_is_wsp(n[-1]); n--)
		;
	for (v = colon + 1; v < eol && sb_is_wsp(*v); v++)
		;
	*name_len = (size_t)(n - p);
	*value = v;
	return true;
}

/* Whether the name [p, p + n) is full or its one-letter compact form (NULL: none). */
static inline bool sb_header_name_is(const char *p, size_t n, const char *full, const char *compact)
{
	return (strlen(full) == n && strncasecmp(p, full, n) == 0) ||
	       (compact && n == 1 && (*p | 0x20) == compact[0]);
}

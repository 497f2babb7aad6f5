/* Reading SIP-style text in place: lines ending in CRLF or a bare LF, and "name: value"
 * header lines with compact names. Everything is read within [p, end).
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

/* JSON string text without a JSON tree (json_str.h). Pure. Thread: any. */
#include <errno.h>
#include <string.h>

#include <sb/json_str.h>

size_t sb_utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		lo = s[0] == 0xe0 ? 0xa0 : lo;
		hi = s[0] == 0xed ? 0x9f : hi;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		lo = s[0] == 0xf0 ? 0x90 : lo;
		hi = s[0] == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* The JSON escape of an ASCII control character, quote or backslash; returns its length. */
static size_t escape(unsigned char c, char piece[8])
{
	static const char hex[] = "0123456789abcdef";
	static const char *const short_esc[0x20] = {
	        ['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t"};

	if (c == '"' || c == '\\') {
		piece[0] = '\\';
		piece[1] = (char)c;
		return 2;
	}
	if (c < 0x20 && short_esc[c]) {
		memcpy(piece, short_esc[c], 2);
		return 2;
	}
	memcpy(piece, "\\u00", 4);
	piece[4] = hex[c >> 4];
	piece[5] = hex[c & 15];
	return 6;
}

size_t sb_json_str_piece(const unsigned char **s, char piece[8])
{
	unsigned char c = **s;
	size_t n;

	if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) {
		*s += 1;
		return escape(c, piece);
	}
	n = sb_utf8_len(*s);
	if (n == 0) {
		*s += 1;
		memcpy(piece, "\xef\xbf\xbd", 3); /* U+FFFD */
		return 3;
	}
	memcpy(piece, *s, n);
	*s += n;
	return n;
}

int sb_json_put_str(char *buf, size_t size, size_t *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t at = *o;
	char piece[8];

	if (at >= size || size - at < 3)
		return -ENOSPC;
	buf[at++] = '"';
	while (*s) {
		size_t n;

		/* The usual character, as it is, without a piece of its own. */
		if (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') {
			if (size - at < 3)
				return -ENOSPC;
			buf[at++] = (char)*s++;
			continue;
		}
		n = sb_json_str_piece(&s, piece);
		if (size - at < n + 2)
			return -ENOSPC;
		memcpy(buf + at, piece, n);
		at += n;
	}
	buf[at++] = '"';
	buf[at] = '\0';
	*o = at;
	return 0;
}

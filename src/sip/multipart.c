/* Finding the SDP part of a multipart body: delimiter lines, each part's headers up to its
 * empty line, its Content-Type. Lines may end in CRLF or a bare LF.
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <sb/multipart.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line at p: its CR or LF, or end. */
static const char *eol_of(const char *p, const char *end)
{
	while (p < end && *p != '\r' && *p != '\n')
		p++;
	return p;
}

static const char *after_eol(const char *p, const char *end)
{
	if (p < end && *p == '\r')
		p++;
	if (p < end && *p == '\n')
		p++;
	return p;
}

int sb_multipart_boundary(const char *params, size_t len, char *out)
{
	const char *p = params, *end = params + len;

	while (p < end) {
		const char *q = p, *v;
		size_t n;

		while (q < end && *q != ';')
			q++;
		while (p < q && (is_wsp(*p) || *p == ';'))
			p++;
		if ((size_t)(q - p) > 9 && strncasecmp(p, "boundary=", 9) == 0) {
			v = p + 9;
			n = (size_t)(q - v);
			while (n && is_wsp(v[n - 1]))
				n--;
			if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
				v++, n -= 2;
			if (n == 0 || n > SB_MULTIPART_BOUNDARY_MAX || memchr(v, '\0', n))
				return -EINVAL;
			memcpy(out, v, n);
			out[n] = '\0';
			return (int)n;
		}
		p = q + 1;
	}
	return -EINVAL;
}

/* True when the line [p, eol) is "--boundary" (optionally "--" after it: the close), with
 * trailing blanks allowed. Sets *close for the close delimiter. */
static bool delimiter(const char *p, const char *eol, const char *b, size_t blen, bool *close)
{
	if ((size_t)(eol - p) < blen + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, blen))
		return false;
	p += 2 + blen;
	*close = eol - p >= 2 && p[0] == '-' && p[1] == '-';
	if (*close)
		p += 2;
	while (p < eol && is_wsp(*p))
		p++;
	return p == eol;
}

/* The next delimiter line at or after p (at a line start); NULL when there is none. */
static const char *next_delimiter(const char *p, const char *end, const char *b, size_t blen,
                                  bool *close)
{
	while (p < end) {
		const char *eol = eol_of(p, end);

		if (delimiter(p, eol, b, blen, close))
			return p;
		p = after_eol(eol, end);
	}
	return NULL;
}

/* Whether the part's headers [p, end) name Content-Type application/sdp. */
static bool part_is_sdp(const char *p, const char *end)
{
	while (p < end) {
		const char *eol = eol_of(p, end), *colon = memchr(p, ':', (size_t)(eol - p)), *v,
		           *n;

		if (colon) {
			for (n = colon; n > p && is_wsp(n[-1]); n--)
				;
			if (((size_t)(n - p) == 12 && strncasecmp(p, "content-type", 12) == 0) ||
			    (n - p == 1 && (*p | 0x20) == 'c')) {
				for (v = colon + 1; v < eol && is_wsp(*v); v++)
					;
				return (size_t)(eol - v) >= 15 &&
				       strncasecmp(v, "application/sdp", 15) == 0 &&
				       (eol - v == 15 || v[15] == ';' || is_wsp(v[15]));
			}
		}
		p = after_eol(eol, end);
	}
	return false;
}

int sb_multipart_find_sdp(const char *body, size_t len, const char *boundary, const char **part,
                          size_t *part_len)
{
	const char *end = body + len, *p;
	size_t blen = strlen(boundary);
	bool close = false;

	if (!blen)
		return -EBADMSG;
	p = next_delimiter(body, end, boundary, blen, &close);
	if (!p)
		return -EBADMSG;
	while (!close) {
		const char *start = after_eol(eol_of(p, end), end), *hdr_end = start, *next;
		bool next_close = false;

		/* the part's headers end at its first empty line */
		while (hdr_end < end && eol_of(hdr_end, end) != hdr_end)
			hdr_end = after_eol(eol_of(hdr_end, end), end);
		next = next_delimiter(start, end, boundary, blen, &next_close);
		if (!next)
			return -ENOENT; /* a part with no delimiter after it is cut off */
		if (hdr_end < next && part_is_sdp(start, hdr_end)) {
			const char *c = after_eol(hdr_end, end), *e = next;

			/* the line break before the delimiter belongs to the delimiter */
			if (e > c && e[-1] == '\n')
				e--;
			if (e > c && e[-1] == '\r')
				e--;
			*part = c;
			*part_len = (size_t)(e - c);
			return 0;
		}
		p = next;
		close = next_close;
	}
	return -ENOENT;
}

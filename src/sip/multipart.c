/* Finding the SDP part of a multipart body: delimiter lines, each part's headers up to its
 * empty line, its Content-Type. Lines may end in CRLF or a bare LF.
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <sb/multipart.h>
#include <sb/sip_text.h>

int sb_multipart_boundary(const char *params, size_t len, char *out)
{
	const char *p = params, *end = params + len;

	while (p < end) {
		const char *q = p, *v;
		size_t n;

		while (q < end && *q != ';')
			q++;
		while (p < q && (sb_is_wsp(*p) || *p == ';'))
			p++;
		if ((size_t)(q - p) > 9 && strncasecmp(p, "boundary=", 9) == 0) {
			v = p + 9;
			n = (size_t)(q - v);
			while (n && sb_is_wsp(v[n - 1]))
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
	while (p < eol && sb_is_wsp(*p))
		p++;
	return p == eol;
}

/* The next delimiter line at or after p (at a line start); NULL when there is none. */
static const char *next_delimiter(const char *p, const char *end, const char *b, size_t blen,
                                  bool *close)
{
	while (p < end) {
		const char *eol = sb_line_end(p, end);

		if (delimiter(p, eol, b, blen, close))
			return p;
		p = sb_next_line(eol, end);
	}
	return NULL;
}

/* Whether the part's headers [p, end) name Content-Type application/sdp. */
static bool part_is_sdp(const char *p, const char *end)
{
	while (p < end) {
		const char *eol = sb_line_end(p, end), *v;
		size_t n;

		if (sb_header_split(p, eol, &n, &v) && sb_header_name_is(p, n, "content-type", "c"))
			return (size_t)(eol - v) >= 15 &&
			       strncasecmp(v, "application/sdp", 15) == 0 &&
			       (eol - v == 15 || v[15] == ';' || sb_is_wsp(v[15]));
		p = sb_next_line(eol, end);
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
		const char *start = sb_next_line(sb_line_end(p, end), end), *hdr_end = start, *next;
		bool next_close = false;

		/* the part's headers end at its first empty line */
		while (hdr_end < end && sb_line_end(hdr_end, end) != hdr_end)
			hdr_end = sb_next_line(sb_line_end(hdr_end, end), end);
		next = next_delimiter(start, end, boundary, blen, &next_close);
		if (!next)
			return -ENOENT; /* a part with no delimiter after it is cut off */
		if (hdr_end < next && part_is_sdp(start, hdr_end)) {
			const char *c = sb_next_line(hdr_end, end), *e = next;

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

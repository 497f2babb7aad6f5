/* Stateless SIP responses from a request's raw text: finds the first line and the headers a
 * response must echo (RFC 3261 8.2.6), unfolds them and writes the reply. Everything is read
 * within [req, req + len) and written within [out, out + size).
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sb/sip_reply.h>
#include <sb/sip_text.h>

/* A header value: raw bytes [p, end), possibly folded over several lines. */
struct span {
	const char *p, *end;
};

struct headers {
	struct span via[SB_SIP_REPLY_VIAS];
	unsigned n_via;
	struct span from, to, call_id, cseq;
};

/* Where the first line starts: after the blank lines sofia skips too. */
static const char *first_line(const char *req, const char *end)
{
	while (req < end && (sb_is_wsp(*req) || *req == '\r' || *req == '\n'))
		req++;
	return req;
}

/* Where the headers start. The first line ends at its CR or LF, or at the NUL sofia writes
 * over that CR (CRLF) or LF (bare LF) before it parses the line. */
static const char *headers_start(const char *req, const char *end)
{
	const char *p = first_line(req, end);

	while (p < end && *p != '\r' && *p != '\n' && *p != '\0')
		p++;
	if (p < end && *p == '\0') {
		p++;
		return p < end && *p == '\n' ? p + 1 : p;
	}
	return sb_next_line(p, end);
}

size_t sb_sip_method(const char *req, size_t len, char *out, size_t size)
{
	const char *end = req + len, *p = first_line(req, end), *q;

	q = p;
	while (q < end && !sb_is_wsp(*q) && *q != '\r' && *q != '\n' && *q != '\0')
		q++;
	if ((size_t)(q - p) >= 4 && strncmp(p, "SIP/", 4) == 0)
		q = p; /* a status line */
	if (size) {
		size_t n = (size_t)(q - p) < size - 1 ? (size_t)(q - p) : size - 1;

		memcpy(out, p, n);
		out[n] = '\0';
	}
	return (size_t)(q - p);
}

/* Records one header line [p, eol) and the continuation lines after it; returns the start of
 * the next header line. */
static const char *one_header(struct headers *h, const char *p, const char *eol, const char *end)
{
	const char *v, *next;
	size_t n;
	bool named = sb_header_split(p, eol, &n, &v);
	struct span s;

	next = sb_next_line(eol, end);
	while (next < end && sb_is_wsp(*next)) /* folded continuation */
		next = sb_next_line(eol = sb_line_end(next, end), end);
	if (!named)
		return next;
	s = (struct span){v, eol};
	if (sb_header_name_is(p, n, "via", "v")) {
		if (h->n_via < SB_SIP_REPLY_VIAS)
			h->via[h->n_via++] = s;
	} else if (sb_header_name_is(p, n, "from", "f")) {
		h->from = s;
	} else if (sb_header_name_is(p, n, "to", "t")) {
		h->to = s;
	} else if (sb_header_name_is(p, n, "call-id", "i")) {
		h->call_id = s;
	} else if (sb_header_name_is(p, n, "cseq", NULL)) {
		h->cseq = s;
	}
	return next;
}

/* Reads the header section (up to the empty line or the end). */
static int find_headers(struct headers *h, const char *p, const char *end)
{
	memset(h, 0, sizeof(*h));
	while (p < end) {
		const char *eol = sb_line_end(p, end);

		if (eol == p)
			break; /* the empty line before the body */
		p = one_header(h, p, eol, end);
	}
	if (!h->n_via || !h->from.p || !h->to.p || !h->call_id.p || !h->cseq.p)
		return -EBADMSG;
	return 0;
}

/* Output under construction. */
struct out {
	char *p;
	size_t size, n;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->n + n >= o->size) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Copies a value, unfolding line breaks into one space and trimming trailing blanks. Other
 * bytes are the request's own (a quoted-pair may even hold a NUL): a line break is the only
 * thing a value cannot carry into the reply. */
static void put_value(struct out *o, struct span s)
{
	const char *p = s.p, *end = s.end;

	while (end > p && (sb_is_wsp(end[-1]) || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	while (p < end) {
		if (*p == '\r' || *p == '\n') {
			while (p < end && (*p == '\r' || *p == '\n' || sb_is_wsp(*p)))
				p++;
			put(o, " ", 1);
			continue;
		}
		put(o, p++, 1);
	}
}

static void put_header(struct out *o, const char *name, struct span s)
{
	puts_(o, name);
	put_value(o, s);
	puts_(o, "\r\n");
}

/* True when the To value names a tag parameter (outside <...> and quotes). */
static bool has_tag(struct span s)
{
	bool quoted = false;
	int angle = 0;

	for (const char *p = s.p; p < s.end; p++) {
		if (*p == '"' && (p == s.p || p[-1] != '\\'))
			quoted = !quoted;
		if (quoted)
			continue;
		if (*p == '<')
			angle++;
		else if (*p == '>' && angle)
			angle--;
		else if (*p == ';' && !angle) {
			const char *q = p + 1;

			while (q < s.end && (sb_is_wsp(*q) || *q == '\r' || *q == '\n'))
				q++;
			if (s.end - q >= 3 && strncasecmp(q, "tag", 3) == 0) {
				for (q += 3; q < s.end && sb_is_wsp(*q); q++)
					;
				if (q < s.end && *q == '=')
					return true;
			}
		}
	}
	return false;
}

unsigned sb_sip_header_lines(const char *req, size_t len, unsigned limit, bool *ended)
{
	const char *end = req + len, *p = headers_start(req, end);
	unsigned n = 0;

	if (ended)
		*ended = false;
	while (n <= limit && p < end) {
		const char *eol = sb_line_end(p, end);

		if (eol == p) {
			if (ended)
				*ended = true;
			break; /* the empty line */
		}
		if (!sb_is_wsp(*p))
			n++; /* a folded line continues the header before it */
		p = sb_next_line(eol, end);
	}
	return n;
}

int sb_sip_call_id(const char *req, size_t len, const char **id, size_t *id_len)
{
	const char *end = req + len, *p = headers_start(req, end);

	while (p < end) {
		const char *eol = sb_line_end(p, end), *v;
		size_t n;

		if (eol == p)
			return -ENOENT; /* the empty line: no Call-ID in the whole section */
		if (!sb_is_wsp(*p) && sb_header_split(p, eol, &n, &v) &&
		    sb_header_name_is(p, n, "call-id", "i")) {
			if (eol == end)
				return -EAGAIN; /* the line may go on in the next segment */
			while (eol > v && sb_is_wsp(eol[-1]))
				eol--;
			*id = v;
			*id_len = (size_t)(eol - v);
			return 0;
		}
		p = sb_next_line(eol, end);
	}
	return -EAGAIN;
}

int sb_sip_reply_build(char *out, size_t size, const char *req, size_t len, int status,
                       const char *reason, const char *to_tag, const char *extra)
{
	struct out o = {.p = out, .size = size};
	const char *end = req + len;
	struct headers h;
	char method[16], line[64];

	if (!req || !len || !size || status < 100 || status > 699)
		return -EBADMSG;
	if (!sb_sip_method(req, len, method, sizeof(method)) || strcmp(method, "ACK") == 0)
		return -EBADMSG;
	if (find_headers(&h, headers_start(req, end), end) < 0)
		return -EBADMSG;
	snprintf(line, sizeof(line), "SIP/2.0 %d %s\r\n", status, reason ? reason : "");
	puts_(&o, line);
	for (unsigned i = 0; i < h.n_via; i++)
		put_header(&o, "Via: ", h.via[i]);
	put_header(&o, "From: ", h.from);
	puts_(&o, "To: ");
	put_value(&o, h.to);
	if (!has_tag(h.to) && to_tag && *to_tag) {
		puts_(&o, ";tag=");
		puts_(&o, to_tag);
	}
	puts_(&o, "\r\n");
	put_header(&o, "Call-ID: ", h.call_id);
	put_header(&o, "CSeq: ", h.cseq);
	if (extra)
		puts_(&o, extra);
	puts_(&o, "Content-Length: 0\r\n\r\n");
	if (o.full)
		return -ENOSPC;
	out[o.n] = '\0';
	return (int)o.n;
}

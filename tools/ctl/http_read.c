/* sipbridgectl's reading of one HTTP/1.1 answer: its head (at most SB_CTL_MAX_HEAD bytes),
 * then its body as the head frames it: by Content-Length, chunked (decoded in place), or up to
 * the server's close; at most SB_CTL_MAX_RESPONSE bytes of body, all by one deadline. A server
 * that keeps the connection open after the body does not hold the client. Single-threaded. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ctl.h"

#define LINE_MAX_BYTES 1024 /* a chunk's size line, with its extensions */
#define MAX_INTERIM 8       /* 1xx answers skipped before the final one */
/* What the buffer may hold: a head, the body, and the framing of the chunk being read. */
#define BUF_MAX ((size_t)SB_CTL_MAX_HEAD + SB_CTL_MAX_RESPONSE + 2 * LINE_MAX_BYTES)

struct reader {
	int fd;
	int64_t deadline_ms;
	char *buf;
	size_t n, size;  /* bytes in buf; its allocation (one more than it may fill, for a NUL) */
	const char *why; /* what was wrong with the answer, when it was */
};

/* How the answer's body is delimited. */
enum framing { F_NONE, F_LENGTH, F_CHUNKED, F_CLOSE };

static int bad(struct reader *r, int err, const char *why)
{
	r->why = why;
	return err;
}

/* Reads what is there onto the end of the buffer, first growing it by room bytes (at least 1)
 * within BUF_MAX. Returns 1 when it read some, 0 when the server closed, or a negative errno. */
static int fill(struct reader *r, size_t room)
{
	if (r->n >= BUF_MAX)
		return bad(r, -EFBIG, "the answer is over its size bound");
	if (room > BUF_MAX - r->n)
		room = BUF_MAX - r->n;
	if (r->size < r->n + room + 1) {
		size_t size = r->size * 2 > r->n + room + 1 ? r->size * 2 : r->n + room + 1;
		char *p;

		if (size > BUF_MAX + 1)
			size = BUF_MAX + 1;
		p = realloc(r->buf, size);
		if (!p)
			return -ENOMEM;
		r->buf = p;
		r->size = size;
	}
	for (;;) {
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int left = sb_ctl_left_ms(r->deadline_ms);
		ssize_t got;

		/* One deadline for the whole answer: a server that trickles it never holds the
		 * client past it. */
		if (!left || poll(&pfd, 1, left) == 0)
			return -ETIMEDOUT;
		got = recv(r->fd, r->buf + r->n, r->size - r->n - 1, MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return -errno;
		r->n += (size_t)got;
		r->buf[r->n] = '\0';
		return (int)(got > 0);
	}
}

/* Reads until the buffer holds at least want bytes; the server closing first is an answer
 * cut short (what). */
static int need(struct reader *r, size_t want, const char *what)
{
	while (r->n < want) {
		int k = fill(r, want - r->n);

		if (k <= 0)
			return k < 0 ? k : bad(r, -EBADMSG, what);
	}
	return 0;
}

/* Where the CRLF ending the line at from is, looked for in at most max bytes; reads more as
 * needed. Returns the offset of the CR, or a negative errno (a longer line: toolong). */
static ssize_t line_end(struct reader *r, size_t from, size_t max, const char *toolong,
                        const char *cut)
{
	for (;;) {
		size_t have = r->n - from < max + 2 ? r->n - from : max + 2;
		const char *crlf = memmem(r->buf + from, have, "\r\n", 2);
		int k;

		if (crlf)
			return crlf - r->buf;
		if (have >= max + 2)
			return bad(r, -EBADMSG, toolong);
		k = fill(r, 4096);
		if (k <= 0)
			return k < 0 ? k : bad(r, -EBADMSG, cut);
	}
}

/* A Content-Length value (NUL-terminated at len): digits only; a second one must say the
 * same. */
static int content_length(struct reader *r, const char *v, size_t len, long long *cl)
{
	long long x = 0;

	if (len == 0 || strspn(v, "0123456789") < len)
		return bad(r, -EBADMSG, "the answer's Content-Length is not a number");
	if (len > 18)
		return bad(r, -EFBIG, "the answer's body is over the 64 MiB bound");
	for (size_t i = 0; i < len; i++)
		x = x * 10 + (v[i] - '0');
	if (*cl >= 0 && *cl != x)
		return bad(r, -EBADMSG, "the answer has two different Content-Lengths");
	*cl = x;
	return 0;
}

/* One header line [p, end) of the head; notes Content-Length and Transfer-Encoding. */
static int header(struct reader *r, char *p, char *end, long long *cl, int *chunked)
{
	char *colon = memchr(p, ':', (size_t)(end - p)), *v;

	if (!colon || colon == p || strcspn(p, " \t") < (size_t)(colon - p))
		return bad(r, -EBADMSG, "the answer has a malformed header line");
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(colon - p) == 14 && strncasecmp(p, "content-length", 14) == 0) {
		*end = '\0'; /* the CR or a blank, no longer needed */
		return content_length(r, v, (size_t)(end - v), cl);
	}
	if ((size_t)(colon - p) == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
		if ((size_t)(end - v) != 7 || strncasecmp(v, "chunked", 7) != 0)
			return bad(r, -EBADMSG,
			           "the answer has a transfer coding other than chunked");
		*chunked = 1;
	}
	return 0;
}

/* Parses the head [0, head) (the blank line included): status and framing. */
static int parse_head(struct reader *r, size_t head, int *status, enum framing *f, size_t *len)
{
	char *p = (char *)memmem(r->buf, head, "\r\n", 2) + 2, *end = r->buf + head - 2;
	long long cl = -1;
	int chunked = 0, k;
	char c = 0;

	if (sscanf(r->buf, "HTTP/1.%*1[01] %3d%c", status, &c) != 2 || *status < 100 ||
	    *status > 599 || (c != ' ' && c != '\r'))
		return bad(r, -EBADMSG, "the answer is not HTTP");
	while (p < end) {
		char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);

		k = header(r, p, eol, &cl, &chunked);
		if (k < 0)
			return k;
		p = eol + 2;
	}
	if (*status < 200 || *status == 204 || *status == 304)
		*f = F_NONE;
	else if (chunked) /* it overrides a Content-Length */
		*f = F_CHUNKED;
	else if (cl < 0)
		*f = F_CLOSE;
	else if ((unsigned long long)cl > SB_CTL_MAX_RESPONSE)
		return bad(r, -EFBIG, "the answer's body is over the 64 MiB bound");
	else
		*f = F_LENGTH;
	*len = cl > 0 ? (size_t)cl : 0;
	return 0;
}

/* The value of a hex digit, or -1. */
static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The chunked body from body on, decoded in place to [body, *end). The framing of each chunk
 * is dropped as it is read, so the buffer holds at most the body and one chunk's framing. */
static int read_chunked(struct reader *r, size_t body, size_t *end)
{
	static const char cut[] = "the answer ended inside its chunked body";
	size_t wr = body, p;

	for (;;) {
		ssize_t eol = line_end(r, wr, LINE_MAX_BYTES,
		                       "the answer has a chunk size line over 1 KiB", cut);
		unsigned long long size = 0;
		size_t i = wr, data;
		int k, d;

		if (eol < 0)
			return (int)eol;
		/* hex digits (stopping once over the bound), then nothing, blanks or extensions */
		for (; i < (size_t)eol && (d = hex(r->buf[i])) >= 0 && size <= SB_CTL_MAX_RESPONSE;
		     i++)
			size = size * 16 + (unsigned)d;
		if (size > SB_CTL_MAX_RESPONSE - (wr - body))
			return bad(r, -EFBIG, "the answer's body is over the 64 MiB bound");
		if (i == wr ||
		    (i < (size_t)eol && r->buf[i] != ' ' && r->buf[i] != '\t' && r->buf[i] != ';'))
			return bad(r, -EBADMSG, "the answer has a malformed chunk size");
		data = (size_t)eol + 2;
		if (size == 0) {
			p = data;
			break;
		}
		k = need(r, data + size + 2, cut);
		if (k < 0)
			return k;
		if (memcmp(r->buf + data + size, "\r\n", 2) != 0)
			return bad(r, -EBADMSG,
			           "the answer has a chunk that does not end where its size says");
		memmove(r->buf + wr, r->buf + data, size);
		/* what follows the chunk moves down behind the decoded body */
		memmove(r->buf + wr + size, r->buf + data + size + 2, r->n - (data + size + 2));
		r->n -= data + 2 - wr;
		wr += size;
	}
	*end = wr;
	/* trailer fields up to the blank line, skipped (bounded like a head) */
	for (;;) {
		ssize_t eol =
		        line_end(r, p, SB_CTL_MAX_HEAD, "the answer's trailer is over 64 KiB", cut);

		if (eol < 0)
			return (int)eol;
		if ((size_t)eol == p)
			return 0;
		p = (size_t)eol + 2;
	}
}

/* The body up to the server's close. */
static int read_to_close(struct reader *r, size_t body)
{
	for (;;) {
		int k = fill(r, 65536);

		if (k < 0)
			return k;
		if (r->n - body > SB_CTL_MAX_RESPONSE)
			return bad(r, -EFBIG, "the answer's body is over the 64 MiB bound");
		if (k == 0)
			return 0;
	}
}

/* The head of the final answer, 1xx answers before it skipped: its length in *head. */
static int read_head(struct reader *r, int *status, enum framing *f, size_t *len, size_t *head)
{
	for (int interim = 0;; interim++) {
		const char *blank;
		int k;

		while (!(blank = memmem(r->buf, r->n, "\r\n\r\n", 4))) {
			if (r->n >= SB_CTL_MAX_HEAD)
				return bad(r, -EBADMSG, "the answer's head is over 64 KiB");
			k = fill(r, 4096);
			if (k < 0)
				return k;
			if (k == 0)
				return bad(r, -EBADMSG,
				           r->n ? "the answer ended inside its head"
				                : "the server closed without answering");
		}
		*head = (size_t)(blank - r->buf) + 4;
		k = parse_head(r, *head, status, f, len);
		if (k < 0 || *status >= 200)
			return k;
		if (*status == 101 || interim == MAX_INTERIM)
			return bad(r, -EBADMSG, "the answer is not a final HTTP answer");
		memmove(r->buf, r->buf + *head, r->n - *head + 1);
		r->n -= *head;
	}
}

static int read_answer(struct reader *r, struct sb_ctl_resp *out)
{
	enum framing f;
	size_t head, len = 0, end = 0;
	int status, k;

	k = read_head(r, &status, &f, &len, &head);
	if (k < 0)
		return k;
	switch (f) {
	case F_NONE:
		end = head;
		break;
	case F_LENGTH:
		k = need(r, head + len, "the answer ended before its Content-Length");
		end = head + len;
		break;
	case F_CHUNKED:
		k = read_chunked(r, head, &end);
		break;
	case F_CLOSE:
		k = read_to_close(r, head);
		end = r->n;
		break;
	}
	if (k < 0)
		return k;
	memmove(r->buf, r->buf + head, end - head);
	r->buf[end - head] = '\0';
	out->status = status;
	out->len = end - head;
	out->body = r->buf;
	r->buf = NULL;
	return 0;
}

int sb_ctl_read_response(int fd, int64_t deadline_ms, struct sb_ctl_resp *out, const char **why)
{
	struct reader r = {.fd = fd, .deadline_ms = deadline_ms};
	int k;

	r.size = 8192;
	r.buf = malloc(r.size);
	if (!r.buf)
		return -ENOMEM;
	r.buf[0] = '\0';
	k = read_answer(&r, out);
	if (k < 0)
		*why = r.why ? r.why : strerror(-k);
	free(r.buf);
	return k;
}

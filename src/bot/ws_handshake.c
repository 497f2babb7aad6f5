/* A WebSocket client's opening handshake (see ws_handshake.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include <sb/base64.h>
#include <sb/common.h>
#include <sb/sip_text.h>
#include <sb/ws_handshake.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void sb_ws_key(const uint8_t nonce[16], char *out)
{
	sb_base64_encode(nonce, 16, out, SB_WS_KEY_LEN + 1);
}

int sb_ws_accept(const char *key, char *out)
{
	char text[SB_WS_KEY_LEN + sizeof(WS_GUID)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n = snprintf(text, sizeof(text), "%s%s", key, WS_GUID);

	if (n < 0 || (size_t)n >= sizeof(text) ||
	    !EVP_Digest(text, (size_t)n, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return -1;
	return sb_base64_encode(md, mdlen, out, SB_WS_ACCEPT_LEN + 1) == SB_WS_ACCEPT_LEN ? 0 : -1;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' && *s != '\t')
			return true;
	return false;
}

/* Appends to buf at *n; false once it does not fit. */
SB_PRINTF(4, 5) static bool put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= cap - *n)
		return false;
	*n += (size_t)r;
	return true;
}

int sb_ws_request_build(char *buf, size_t cap, const struct sb_ws_request *rq, unsigned *skipped)
{
	const char *path = rq->path && rq->path[0] ? rq->path : "/";
	size_t n = 0;
	bool ok;

	*skipped = 0;
	if (!cap || has_ctl(path) || has_ctl(rq->host))
		return -1;
	ok = put(buf, cap, &n,
	         "GET %s HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\n"
	         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
	         path, rq->host, rq->host, rq->key);
	if (ok && rq->subprotocol && rq->subprotocol[0]) {
		if (has_ctl(rq->subprotocol))
			return -1;
		ok = put(buf, cap, &n, "Sec-WebSocket-Protocol: %s\r\n", rq->subprotocol);
	}
	for (size_t i = 0; ok && i < rq->n_headers; i++) {
		const char *h = rq->headers[i], *v;
		size_t nl = sb_token_len(h);

		/* what the configuration's check lets through: a token name, a colon */
		if (!nl || h[nl] != ':' || has_ctl(h + nl + 1)) {
			(*skipped)++;
			continue;
		}
		for (v = h + nl + 1; sb_is_wsp(*v); v++)
			;
		ok = put(buf, cap, &n, "%.*s: %s\r\n", (int)nl, h, v);
	}
	if (ok && rq->authorization) {
		if (has_ctl(rq->authorization))
			(*skipped)++;
		else
			ok = put(buf, cap, &n, "Authorization: %s\r\n", rq->authorization);
	}
	if (!ok || !put(buf, cap, &n, "\r\n"))
		return -1;
	return (int)n;
}

/* The value of a header line "Name: value" whose name is name, trimmed; NULL for another. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl))
		return NULL;
	for (v = line + nl + 1; v < end && sb_is_wsp(*v); v++)
		;
	while (end > v && sb_is_wsp(end[-1]))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

/* True when the comma-separated list v holds token, in any case. */
static bool list_has(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token);
	const char *end = v + len;

	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v)), *e = comma ? comma : end;

		while (v < e && sb_is_wsp(*v))
			v++;
		const char *t = e;
		while (t > v && sb_is_wsp(t[-1]))
			t--;
		if ((size_t)(t - v) == tl && !strncasecmp(v, token, tl))
			return true;
		v = comma ? comma + 1 : end;
	}
	return false;
}

static int refuse(char *why, size_t why_len, const char *text)
{
	snprintf(why, why_len, "%s", text);
	return -1;
}

/* Reads "HTTP/1.x NNN" at the head's start. Returns the status or -1. */
static int status_of(const char *line, size_t len)
{
	if (len < 12 || memcmp(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' ||
	    line[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (line[i] < '0' || line[i] > '9')
			return -1;
	if (len > 12 && line[12] != ' ')
		return -1;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

int sb_ws_response_check(const char *buf, size_t len, const char *key, const char *subprotocol,
                         size_t *head_len, int *status, char *why, size_t why_len)
{
	char accept[SB_WS_ACCEPT_LEN + 1];
	bool upgrade = false, connection = false, accepted = false;
	const char *p, *end = NULL, *eol, *v;
	size_t vlen;

	*status = 0;
	for (p = buf; p + 4 <= buf + len; p++) {
		p = memchr(p, '\r', (size_t)(buf + len - p));
		if (!p || p + 4 > buf + len)
			break;
		if (!memcmp(p, "\r\n\r\n", 4)) {
			end = p + 2; /* the last header line's end */
			break;
		}
	}
	if (!end) {
		if (len >= SB_WS_HANDSHAKE_MAX)
			return refuse(why, why_len, "the answer's headers are too long");
		return 0;
	}
	*head_len = (size_t)(end - buf) + 2;
	if (*head_len > SB_WS_HANDSHAKE_MAX)
		return refuse(why, why_len, "the answer's headers are too long");
	eol = memchr(buf, '\r', (size_t)(end - buf));
	*status = status_of(buf, (size_t)(eol - buf));
	if (*status < 0) {
		*status = 0;
		return refuse(why, why_len, "the answer is not HTTP");
	}
	if (*status != 101) {
		snprintf(why, why_len, "the bot answered the WebSocket upgrade with HTTP %d",
		         *status);
		return -1;
	}
	if (sb_ws_accept(key, accept) < 0)
		return refuse(why, why_len, "no SHA-1 to check the answer with");
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) : 0;

		if (!eol || eol[1] != '\n' || memchr(p, '\n', ll))
			return refuse(why, why_len, "a header line of the answer is malformed");

		if ((v = header_value(p, ll, "Upgrade", &vlen)))
			upgrade = list_has(v, vlen, "websocket");
		else if ((v = header_value(p, ll, "Connection", &vlen)))
			connection = list_has(v, vlen, "upgrade");
		else if ((v = header_value(p, ll, "Sec-WebSocket-Accept", &vlen)))
			accepted = vlen == SB_WS_ACCEPT_LEN && !memcmp(v, accept, vlen);
		else if ((v = header_value(p, ll, "Sec-WebSocket-Extensions", &vlen)) && vlen)
			return refuse(why, why_len, "the bot chose an extension none was offered");
		else if ((v = header_value(p, ll, "Sec-WebSocket-Protocol", &vlen)) && vlen &&
		         (!subprotocol || strlen(subprotocol) != vlen ||
		          strncmp(v, subprotocol, vlen)))
			return refuse(why, why_len,
			              "the bot chose a subprotocol that was not offered");
	}
	if (!upgrade)
		return refuse(why, why_len, "the answer has no Upgrade: websocket");
	if (!connection)
		return refuse(why, why_len, "the answer has no Connection: Upgrade");
	if (!accepted)
		return refuse(why, why_len,
		              "the answer's Sec-WebSocket-Accept does not match the key");
	return 1;
}

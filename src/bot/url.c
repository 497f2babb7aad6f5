/* Bot WebSocket URL parsing: ws:// and wss:// only, host (name, IPv4 or [IPv6]), port,
 * userinfo, path with query, and the sample-rate query parameter.
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sb/url.h>

/* Sets *err (when asked for) and fails. */
static int fail(const char **err, const char *why)
{
	if (err)
		*err = why;
	return -EINVAL;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* Port: 1-5 digits, 1..65535. */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* host[:port] or [v6][:port], len bytes at s, userinfo already removed. */
static int parse_hostport(struct sb_url *u, const char *s, size_t len, const char **err)
{
	struct in6_addr a6;
	const char *end = s + len, *colon;
	size_t hlen;

	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb)
			return fail(err, "unterminated [IPv6] host");
		hlen = (size_t)(rb - s - 1);
		if (hlen == 0 || hlen >= sizeof(u->host))
			return fail(err, "bad [IPv6] host");
		memcpy(u->host, s + 1, hlen);
		u->host[hlen] = '\0';
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return fail(err, "bad [IPv6] host");
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return fail(err, "garbage after [IPv6] host");
	} else {
		colon = memchr(s, ':', len);
		hlen = colon ? (size_t)(colon - s) : len;
		if (hlen == 0)
			return fail(err, "empty host");
		if (hlen >= sizeof(u->host))
			return fail(err, "host name too long");
		for (size_t i = 0; i < hlen; i++) {
			if (!host_char(s[i]))
				return fail(err, "bad character in host");
		}
		memcpy(u->host, s, hlen);
		u->host[hlen] = '\0';
	}
	if (colon && parse_port(colon + 1, (size_t)(end - colon - 1), &u->port) < 0)
		return fail(err, "port must be 1-65535");
	return 0;
}

/* Looks for sample-rate / sample_rate in the query (the part after '?'). */
static int parse_query(struct sb_url *u, const char *q, const char **err)
{
	while (*q) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);

		if (eq && eq - q == 11 &&
		    (strncmp(q, "sample-rate", 11) == 0 || strncmp(q, "sample_rate", 11) == 0)) {
			size_t vlen = len - 12;

			if (vlen == 4 && strncmp(eq + 1, "8000", 4) == 0)
				u->sample_rate = 8000;
			else if (vlen == 5 && strncmp(eq + 1, "16000", 5) == 0)
				u->sample_rate = 16000;
			else if (vlen == 5 && strncmp(eq + 1, "24000", 5) == 0)
				u->sample_rate = 24000;
			else
				return fail(err, "sample-rate must be 8000, 16000 or 24000");
			u->rate_given = true;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return 0;
}

/* Splits off the scheme; returns the authority start or NULL. */
static const char *parse_scheme(struct sb_url *u, const char *text)
{
	if (strncasecmp(text, "ws://", 5) == 0) {
		u->port = 80;
		return text + 5;
	}
	if (strncasecmp(text, "wss://", 6) == 0) {
		u->tls = true;
		u->port = 443;
		return text + 6;
	}
	return NULL;
}

int sb_url_parse(struct sb_url *out, const char *text, const char **err)
{
	struct sb_url u = {.sample_rate = 8000};
	const char *auth, *rest, *at;
	size_t len, alen;
	int r;

	if (!out || !text)
		return fail(err, "missing URL");
	len = strlen(text);
	if (len > SB_URL_MAX)
		return fail(err, "URL longer than 1024 bytes");
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
			return fail(err, "whitespace or control character in URL");
	}
	if (strchr(text, '#'))
		return fail(err, "fragments (#) are not allowed");
	auth = parse_scheme(&u, text);
	if (!auth)
		return fail(err, "scheme must be ws:// or wss://");

	alen = strcspn(auth, "/?");
	rest = auth + alen;
	/* The last '@' ends the userinfo: a password may itself hold '@' only percent-encoded,
	 * but being lenient here costs nothing. */
	at = NULL;
	for (const char *p = auth; p < rest; p++) {
		if (*p == '@')
			at = p;
	}
	if (at) {
		size_t ulen = (size_t)(at - auth);

		if (ulen == 0 || ulen >= sizeof(u.userinfo))
			return fail(err, "bad userinfo");
		memcpy(u.userinfo, auth, ulen);
		u.userinfo[ulen] = '\0';
		alen -= ulen + 1;
		auth = at + 1;
	}
	r = parse_hostport(&u, auth, alen, err);
	if (r < 0)
		return r;

	/* "ws://h?x=1" has an empty path: the request still needs "/" before the query. */
	snprintf(u.path, sizeof(u.path), "%s%s", *rest == '/' ? "" : "/", rest);
	rest = strchr(u.path, '?');
	if (rest) {
		r = parse_query(&u, rest + 1, err);
		if (r < 0)
			return r;
	}
	*out = u;
	return 0;
}

bool sb_url_host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

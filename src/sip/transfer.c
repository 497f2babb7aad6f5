/* Transfer targets, the Refer-To with URI headers, NOTIFY sipfrag status lines, a target's
 * host name with a port and the outbound proxy URL for its address. Pure: no I/O, no
 * allocation. Thread: any. Owns nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sb/transfer.h>

static bool has_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int sb_transfer_check_target(const char *uri)
{
	size_t len = strlen(uri), scheme;
	const char *host;

	if (has_prefix(uri, "sip:"))
		scheme = 4;
	else if (has_prefix(uri, "sips:"))
		scheme = 5;
	else
		return -EINVAL;
	if (len > SB_TRANSFER_URI_MAX || len == scheme)
		return -EINVAL;
	for (const char *p = uri; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch >= 0x7f || strchr("<>\"\\", ch))
			return -EINVAL;
	}
	/* A host, after an optional user part: not empty, not starting with a parameter. */
	host = strchr(uri + scheme, '@');
	if (host == uri + scheme)
		return -EINVAL; /* an empty user part */
	host = host ? host + 1 : uri + scheme;
	if (!*host || strchr(";?:@", *host))
		return -EINVAL;
	return 0;
}

size_t sb_transfer_headers(const struct sb_kv *in, size_t n, struct sb_kv *out, size_t *dropped)
{
	size_t n_out = 0, bytes = 0, left_out = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len;
		bool dup = false;

		if (!in[i].name || !in[i].value)
			continue;
		for (size_t j = 0; j < n_out && !dup; j++)
			dup = strcasecmp(out[j].name, in[i].name) == 0;
		len = strlen(in[i].name) + strlen(in[i].value);
		if (!has_prefix(in[i].name, "X-") || sb_route_reserved_header(in[i].name) || dup ||
		    n_out == SB_TRANSFER_HEADERS_MAX || bytes + len > SB_TRANSFER_HEADER_BYTES) {
			left_out++;
			continue;
		}
		bytes += len;
		out[n_out++] = in[i];
	}
	*dropped = left_out;
	return n_out;
}

/* RFC 3261 19.1.1: hname / hvalue = *( hnv-unreserved / unreserved / escaped ). */
static bool keep(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("-_.!~*'()[]/?:+$", ch);
}

/* Appends s escaped; returns false when it does not fit. */
static bool put_escaped(char *buf, size_t size, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (keep(ch)) {
			if (*o + 1 >= size)
				return false;
			buf[(*o)++] = (char)ch;
			continue;
		}
		if (*o + 3 >= size)
			return false;
		buf[(*o)++] = '%';
		buf[(*o)++] = hex[ch >> 4];
		buf[(*o)++] = hex[ch & 15];
	}
	return true;
}

static bool put(char *buf, size_t size, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= size)
		return false;
	memcpy(buf + *o, s, n);
	*o += n;
	return true;
}

int sb_transfer_refer_to(char *buf, size_t size, const char *target, const struct sb_kv *headers,
                         size_t n)
{
	char sep = strchr(target, '?') ? '&' : '?';
	size_t o = 0;

	if (!put(buf, size, &o, "<") || !put(buf, size, &o, target))
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		char s[2] = {i ? '&' : sep, '\0'};

		if (!put(buf, size, &o, s) || !put_escaped(buf, size, &o, headers[i].name) ||
		    !put(buf, size, &o, "=") || !put_escaped(buf, size, &o, headers[i].value))
			return -ENOSPC;
	}
	if (!put(buf, size, &o, ">"))
		return -ENOSPC;
	buf[o] = '\0';
	return (int)o;
}

int sb_transfer_sipfrag(const char *body, size_t len, char *phrase, size_t phrase_size)
{
	static const char version[] = "SIP/2.0 ";
	size_t v = sizeof(version) - 1, end;
	int status = 0;

	if (phrase_size)
		phrase[0] = '\0';
	if (len < v + 3 || strncasecmp(body, version, v) != 0)
		return -EBADMSG;
	for (size_t i = v; i < v + 3; i++) {
		if (body[i] < '0' || body[i] > '9')
			return -EBADMSG;
		status = status * 10 + body[i] - '0';
	}
	if (status < 100 || status > 699 ||
	    (len > v + 3 && body[v + 3] != ' ' && body[v + 3] != '\r' && body[v + 3] != '\n'))
		return -EBADMSG;
	/* The phrase: up to the end of the line, control characters left out. */
	end = v + 4;
	if (end <= len && phrase_size) {
		size_t k = 0;

		for (; end < len && body[end] != '\r' && body[end] != '\n'; end++)
			if ((unsigned char)body[end] >= ' ' && k + 1 < phrase_size)
				phrase[k++] = body[end];
		phrase[k] = '\0';
	}
	return status;
}

const char *sb_transfer_transport(const char *uri)
{
	const char *p = strcasestr(uri, ";transport=");

	if (p) {
		p += strlen(";transport=");
		if (has_prefix(p, "tcp"))
			return "tcp";
		if (has_prefix(p, "tls"))
			return "tls";
	}
	return has_prefix(uri, "sips:") ? "tls" : "udp";
}

/* The host of target (which passed sb_transfer_check_target), with what follows it: after the
 * scheme and the user part, as sb_transfer_check_target finds them. */
static const char *host_of(const char *target)
{
	const char *h = strchr(target, ':') + 1, *at = strchr(h, '@');

	return at ? at + 1 : h;
}

unsigned sb_transfer_named_host(const char *target, char *host, size_t size)
{
	const char *h = host_of(target), *end;
	struct in_addr v4;
	unsigned long port = 0;
	size_t len;

	if (strcasestr(h, ";maddr="))
		return 0; /* it says where to send: the stack's own way */
	if (*h == '[')
		return 0; /* an IPv6 reference */
	len = strcspn(h, ":;?");
	if (h[len] != ':' || len == 0 || len >= size)
		return 0;
	for (end = h + len + 1; *end >= '0' && *end <= '9' && port <= 65535; end++)
		port = port * 10 + (unsigned long)(*end - '0');
	if (end == h + len + 1 || port == 0 || port > 65535 || (*end && !strchr(";?", *end)))
		return 0;
	memcpy(host, h, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, &v4) == 1) {
		host[0] = '\0';
		return 0;
	}
	return (unsigned)port;
}

int sb_transfer_proxy(char *buf, size_t size, const char *target, const char *host, unsigned port,
                      const char *addr)
{
	bool v6 = strchr(addr, ':') != NULL;
	int n = snprintf(buf, size, "sip:%s:%u;transport=%s;maddr=%s%s%s", host, port,
	                 sb_transfer_transport(target), v6 ? "[" : "", addr, v6 ? "]" : "");

	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

bool sb_transfer_numeric_host(const char *target, char *buf, size_t size)
{
	const char *h = host_of(target);
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t len;

	if (*h == '[') {
		len = strcspn(++h, "]");
		if (h[len] != ']')
			return false;
	} else {
		len = strcspn(h, ":;?");
	}
	if (len == 0 || len >= sizeof(addr) || len >= size)
		return false;
	memcpy(addr, h, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, &a6) != 1 && inet_pton(AF_INET6, addr, &a6) != 1)
		return false;
	memcpy(buf, addr, len + 1);
	return true;
}

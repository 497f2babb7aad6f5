/* sipbridgectl's HTTP/1.1 client: one request per connection ("Connection: close") over a
 * plain TCP socket, the whole exchange (connect, send, receive) bounded by one deadline; the
 * answer is read by http_read.c. Single-threaded. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sb/common.h>

#include "ctl.h"

int sb_ctl_url_parse(const char *text, struct sb_ctl_url *u)
{
	const char *p, *host, *end, *slash;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(text, "http://", 7) != 0)
		return -EINVAL;
	p = text + 7;
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	if (*p == '[') { /* [IPv6]:port */
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		host = p + 1;
		hlen = (size_t)(close - host);
		p = close + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		host = p;
		hlen = (size_t)((colon ? colon : end) - p);
		p = colon ? colon : end;
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, host, hlen);
	if (*p == ':') {
		size_t plen = (size_t)(end - p - 1);

		if (plen == 0 || plen >= sizeof(u->port) || strspn(p + 1, "0123456789") < plen)
			return -EINVAL;
		memcpy(u->port, p + 1, plen);
	} else if (p != end) {
		return -EINVAL;
	} else {
		strcpy(u->port, "80");
	}
	if (slash && strlen(slash) >= sizeof(u->prefix))
		return -EINVAL;
	snprintf(u->prefix, sizeof(u->prefix), "%s", slash ? slash : "");
	/* "http://host:8088/" and "http://host:8088" name the same API */
	if (strlen(u->prefix) && u->prefix[strlen(u->prefix) - 1] == '/')
		u->prefix[strlen(u->prefix) - 1] = '\0';
	return 0;
}

int sb_ctl_left_ms(int64_t deadline_ms)
{
	int64_t left = deadline_ms - sb_now_ms();

	return left > 0 ? (int)left : 0;
}

static int connect_to(const struct sb_ctl_url *u, int64_t deadline_ms, const char **why)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int fd = -1, err = -ECONNREFUSED;

	if (getaddrinfo(u->host, u->port, &hints, &res) != 0) {
		*why = "cannot resolve the admin host";
		return -EHOSTUNREACH;
	}
	for (struct addrinfo *ai = res; ai && sb_ctl_left_ms(deadline_ms); ai = ai->ai_next) {
		int ms = sb_ctl_left_ms(deadline_ms);
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		/* On Linux the send timeout bounds connect() too (and the request's send); a
		 * connect() it cuts short fails with EINPROGRESS. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		*why = strerror(-err);
	return fd < 0 ? err : fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int sb_ctl_request(const struct sb_ctl_url *u, const char *method, const char *path,
                   const char *token, int timeout_ms, struct sb_ctl_resp *out, const char **why)
{
	char req[4096];
	int64_t deadline_ms;
	int fd, n, r;

	n = snprintf(req, sizeof(req),
	             "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: " SB_CTL_NAME
	             "\r\nAccept: */*\r\nConnection: close\r\nContent-Length: 0\r\n%s%s%s\r\n",
	             method, u->prefix, path, strchr(u->host, ':') ? "[" : "", u->host,
	             strchr(u->host, ':') ? "]" : "", u->port,
	             token ? "Authorization: Bearer " : "", token ? token : "",
	             token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		*why = "request too long";
		return -E2BIG;
	}
	deadline_ms = sb_now_ms() + timeout_ms;
	fd = connect_to(u, deadline_ms, why);
	if (fd < 0)
		return fd;
	r = send_all(fd, req, (size_t)n);
	if (r < 0)
		*why = strerror(-r);
	else
		r = sb_ctl_read_response(fd, deadline_ms, out, why);
	close(fd);
	return r;
}

/* The RTP side of sipbridge-call: an even RTP port and the RTCP port above it on --local,
 * started by the answer (where to send, which payload types), finished by handing every
 * received sample to the recording and the utterance count. Thread: main. Owns the sockets.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sb/rtp_session.h>

#include "call.h"

#define BIND_TRIES 64

static int bound_socket(int family, const char *addr, uint16_t port, uint16_t *got)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	r = sb_sockaddr_make(family, addr, port, &ss, &len);
	if (r < 0)
		return r;
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, len) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len)) {
		r = -errno;
		close(fd);
		return r;
	}
	*got = sb_sockaddr_port((struct sockaddr *)&ss);
	return fd;
}

int sb_cl_media_open(struct sb_cl_media *m, const char *addr)
{
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	int r = -EADDRINUSE;

	memset(m, 0, sizeof(*m));
	m->fd = m->rtcp_fd = -1;
	m->family = family;
	/* An ephemeral port the kernel picks, kept when it is even and its odd neighbour free. */
	for (int i = 0; i < BIND_TRIES; i++) {
		uint16_t port = 0, rtcp_port = 0;
		int fd = bound_socket(family, addr, 0, &port), rfd;

		if (fd < 0)
			return fd;
		if (port % 2 || port == 0) {
			close(fd);
			continue;
		}
		rfd = bound_socket(family, addr, (uint16_t)(port + 1), &rtcp_port);
		if (rfd < 0) {
			close(fd);
			r = rfd;
			continue;
		}
		m->fd = fd;
		m->rtcp_fd = rfd;
		m->port = port;
		return 0;
	}
	return r;
}

static void sink(void *arg, const int16_t *pcm, size_t n)
{
	struct sb_cl_media *m = arg;

	sb_cl_utter_feed(&m->utter, pcm, n);
	if (m->rec)
		sb_cl_wav_write(m->rec, pcm, n);
}

int sb_cl_media_start(struct sb_cl_media *m, const struct sb_sdp_offer *ans, int64_t now_us)
{
	uint32_t rnd[3];
	int r;

	if (ans->family != m->family)
		return -EAFNOSUPPORT;
	r = sb_sockaddr_make(ans->family, ans->addr, ans->port, &m->peer, &m->peer_len);
	if (r < 0)
		return r;
	memcpy(&m->peer_rtcp, &m->peer, sizeof(m->peer));
	if (m->family == AF_INET)
		((struct sockaddr_in *)&m->peer_rtcp)->sin_port = htons((uint16_t)(ans->port + 1));
	else
		((struct sockaddr_in6 *)&m->peer_rtcp)->sin6_port =
		        htons((uint16_t)(ans->port + 1));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd[0] = rnd[1] = rnd[2] = (uint32_t)now_us;
	m->seq = (uint16_t)rnd[0];
	m->ts = rnd[1];
	m->ssrc = m->tx_stats.ssrc = rnd[2];
	m->codec = ans->codec;
	m->pt = (uint8_t)ans->codec; /* the static type we offered */
	m->rx_pt = ans->pt;
	m->te_pt = ans->te_pt;
	m->marker = true;
	m->start_us = now_us;
	m->next_tx_us = now_us;
	m->next_rtcp_us = now_us + SB_RTCP_INTERVAL_MS * 1000 / 2; /* the first one sooner */
	sb_cl_timeline_init(&m->timeline, sink, m);
	m->started = true;
	return 0;
}

void sb_cl_media_finish(struct sb_cl_media *m)
{
	if (!m->started)
		return;
	m->started = false;
	sb_cl_timeline_flush(&m->timeline);
}

void sb_cl_media_close(struct sb_cl_media *m)
{
	sb_cl_srtp_done(m);
	if (m->fd >= 0)
		close(m->fd);
	if (m->rtcp_fd >= 0)
		close(m->rtcp_fd);
	m->fd = m->rtcp_fd = -1;
}

/* RTP sockets and packet headers. Control binds a call's RTP and RTCP sockets (so the answer
 * can name the port at once) and hands them to the media worker, which owns them from then on.
 * Thread: control (sb_rtp_socket_open, sb_local_addr_for), any (parse/write). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sb/common.h>
#include <sb/rtp_session.h>

int sb_sockaddr_make(int family, const char *addr, uint16_t port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return inet_pton(AF_INET, addr, &sin->sin_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	*len = sizeof(*sin6);
	return inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1 ? 0 : -EINVAL;
}

const char *sb_sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *p = sa->sa_family == AF_INET6
	                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (!inet_ntop(sa->sa_family, p, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

socklen_t sb_sockaddr_v4mapped(const struct sockaddr *v4, struct sockaddr_storage *out)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)v4;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = s4->sin_port;
	s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	return sizeof(*s6);
}

/* The IPv4 address of sa (also inside an IPv4-mapped IPv6 one); false for other addresses. */
static bool ip4_of(const struct sockaddr *sa, const uint8_t **a)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		*a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*a = s6->sin6_addr.s6_addr + 12;
		return true;
	}
	return false;
}

uint16_t sb_sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

bool sb_sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	const uint8_t *a4, *b4;

	if (ip4_of(a, &a4) && ip4_of(b, &b4))
		return memcmp(a4, b4, 4) == 0;
	if (a->sa_family != AF_INET6 || b->sa_family != AF_INET6)
		return false;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

bool sb_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b)
{
	return sb_sockaddr_same_ip(a, b) && sb_sockaddr_port(a) == sb_sockaddr_port(b);
}

static int bind_any(int fd, int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (sb_sockaddr_make(family, addr, port, &ss, &len) < 0)
		return -EAFNOSUPPORT;
	return bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
}

/* A uniformly random even port of [min, max] (both even). */
static unsigned random_even_port(unsigned min, unsigned max)
{
	unsigned pairs = (max - min) / 2 + 1;
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)random();
	return min + 2 * (unsigned)(r % pairs);
}

/* IPv4 media goes out with DF set, as it would by default, but never fragmented here
 * (IP_PMTUDISC_DO): a datagram that cannot be fragmented needs no IP ID (RFC 6864), and the
 * kernel then writes 0 instead of drawing one from its shared table for every packet. What the
 * bridge sends (20 ms of G.711 with SRTP, SB_MEDIA_TX_PACKET_BYTES: about 214 bytes of IP; RTCP
 * and DTMF less) is far smaller than any path MTU the kernel takes (552 at least by default),
 * so nothing is refused for its size. */
static int udp_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int pmtu = IP_PMTUDISC_DO;

	if (fd < 0)
		return -errno;
	if (family == AF_INET)
		(void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	return fd;
}

int sb_rtp_socket_open(const struct sb_config *cfg, int family, uint16_t *port, int *rtcp_fd)
{
	const char *addr = cfg->rtp_address;
	unsigned min = cfg->rtp_port_min, max = cfg->rtp_port_max;
	unsigned pairs = (max - min) / 2 + 1, p = random_even_port(min, max);
	int fd, rfd, r = -EADDRNOTAVAIL;

	/* A wildcard of one family serves the other family's callers through its own wildcard. */
	if (strcmp(addr, "0.0.0.0") == 0 && family == AF_INET6)
		addr = "::";
	else if (strcmp(addr, "::") == 0 && family == AF_INET)
		addr = "0.0.0.0";
	fd = udp_socket(family);
	rfd = fd < 0 ? fd : udp_socket(family);
	if (rfd < 0) {
		if (fd >= 0)
			close(fd);
		return rfd;
	}
	/* From a random pair on, so the next call's port cannot be guessed from this one's. */
	for (unsigned i = 0; i < pairs; i++) {
		r = bind_any(fd, family, addr, (uint16_t)p);
		if (r == 0) {
			r = bind_any(rfd, family, addr, (uint16_t)(p + 1));
			if (r == 0) {
				*port = (uint16_t)p;
				*rtcp_fd = rfd;
				return fd;
			}
			/* The odd port is taken: this pair is unusable, and fd is bound. */
			close(fd);
			fd = udp_socket(family);
			if (fd < 0) {
				r = fd;
				break;
			}
		}
		if (r != -EADDRINUSE)
			break;
		r = -EADDRNOTAVAIL;
		p = p + 2 > max ? min : p + 2;
	}
	if (fd >= 0)
		close(fd);
	close(rfd);
	return r;
}

int sb_rtp_parse(const uint8_t *buf, size_t len, struct sb_rtp_header *h)
{
	size_t off = SB_RTP_HEADER_BYTES, pad = 0;

	if (len < SB_RTP_HEADER_BYTES || (buf[0] >> 6) != 2)
		return -EBADMSG;
	off += 4u * (buf[0] & 0x0f);
	if (buf[0] & 0x10) { /* header extension: 4 bytes + length words */
		if (len < off + 4)
			return -EBADMSG;
		off += 4 + 4u * (((unsigned)buf[off + 2] << 8) | buf[off + 3]);
	}
	if (buf[0] & 0x20) {
		pad = buf[len - 1];
		if (pad == 0)
			return -EBADMSG;
	}
	if (len < off + pad)
		return -EBADMSG;
	h->marker = buf[1] >> 7;
	h->pt = buf[1] & 0x7f;
	h->seq = (uint16_t)((buf[2] << 8) | buf[3]);
	h->ts = sb_get_be32(buf + 4);
	h->ssrc = sb_get_be32(buf + 8);
	h->payload = buf + off;
	h->payload_len = len - off - pad;
	return 0;
}

void sb_rtp_write_header(uint8_t *buf, const struct sb_rtp_header *h)
{
	buf[0] = 0x80;
	buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | (h->pt & 0x7f));
	buf[2] = (uint8_t)(h->seq >> 8);
	buf[3] = (uint8_t)h->seq;
	sb_put_be32(buf + 4, h->ts);
	sb_put_be32(buf + 8, h->ssrc);
}

int sb_local_addr_for(int family, const char *remote, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r = 0;

	if (sb_sockaddr_make(family, remote, 9, &ss, &len) < 0)
		return -EINVAL;
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	len = sizeof(ss);
	if (connect(fd, (struct sockaddr *)&ss,
	            family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) <
	            0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		r = -errno;
	else if (!inet_ntop(family,
	                    family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
	                                      : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
	                    buf, (socklen_t)size))
		r = -errno;
	close(fd);
	return r;
}

/* Unit tests for rtp_session.c: RTP header parsing and writing, and the RTP/RTCP port pairs
 * (random order in the range, the odd port bound for RTCP, a pair whose odd port is taken
 * skipped, the range exhausted), and comparing socket addresses (ports, IPv4-mapped forms). The
 * socket tests bind loopback ports 47000-48998. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sb/config.h>
#include <sb/rtp_session.h>

#include "harness.h"

TEST(parse_and_write)
{
	uint8_t buf[12 + 4 + 8 + 160 + 3] = {0};
	struct sb_rtp_header h = {
	        .pt = 8, .marker = true, .seq = 65535, .ts = 0xdeadbeef, .ssrc = 0x01020304};
	struct sb_rtp_header g;
	int r = 0;

	sb_rtp_write_header(buf, &h);
	ASSERT_EQ(sb_rtp_parse(buf, 12 + 160, &g), 0);
	ASSERT_EQ(g.pt, 8);
	ASSERT_TRUE(g.marker);
	ASSERT_EQ(g.seq, 65535);
	ASSERT_EQ(g.ts, 0xdeadbeef);
	ASSERT_EQ(g.ssrc, 0x01020304);
	ASSERT_EQ(g.payload_len, 160);
	ASSERT_TRUE(g.payload == buf + 12);
	/* One CSRC, a one-word extension and 3 bytes of padding. */
	buf[0] = 0x80 | 0x20 | 0x10 | 1;
	buf[12 + 4 + 3] = 1; /* extension length: 1 word */
	buf[sizeof(buf) - 1] = 3;
	ASSERT_EQ(sb_rtp_parse(buf, sizeof(buf), &g), 0);
	ASSERT_TRUE(g.payload == buf + 12 + 4 + 8);
	ASSERT_EQ(g.payload_len, 160);
	/* Too short, wrong version, padding of zero or beyond the packet. */
	ASSERT_EQ(sb_rtp_parse(buf, 11, &g), -EBADMSG);
	buf[0] = 0x40;
	ASSERT_EQ(sb_rtp_parse(buf, sizeof(buf), &g), -EBADMSG);
	buf[0] = 0xa0;
	buf[sizeof(buf) - 1] = 0;
	ASSERT_EQ(sb_rtp_parse(buf, sizeof(buf), &g), -EBADMSG);
	buf[sizeof(buf) - 1] = 250;
	ASSERT_EQ(sb_rtp_parse(buf, sizeof(buf), &g), -EBADMSG);
out:
	return r;
}

TEST(sockaddr_compare)
{
	struct sockaddr_storage v4, v4b, v4port, mapped, v6, v6b, unix_sa = {.ss_family = AF_UNIX};
	socklen_t len;
	int r = 0;

	ASSERT_EQ(sb_sockaddr_make(AF_INET, "192.0.2.7", 5060, &v4, &len), 0);
	ASSERT_EQ(sb_sockaddr_make(AF_INET, "192.0.2.8", 5060, &v4b, &len), 0);
	ASSERT_EQ(sb_sockaddr_make(AF_INET, "192.0.2.7", 5061, &v4port, &len), 0);
	ASSERT_EQ(sb_sockaddr_make(AF_INET6, "::ffff:192.0.2.7", 5060, &mapped, &len), 0);
	ASSERT_EQ(sb_sockaddr_make(AF_INET6, "2001:db8::7", 5060, &v6, &len), 0);
	ASSERT_EQ(sb_sockaddr_make(AF_INET6, "2001:db8::8", 5060, &v6b, &len), 0);
	ASSERT_EQ(sb_sockaddr_port((struct sockaddr *)&v4port), 5061);
	ASSERT_EQ(sb_sockaddr_port((struct sockaddr *)&v6), 5060);
	ASSERT_EQ(sb_sockaddr_port((struct sockaddr *)&unix_sa), 0);
	/* an IPv4 address matches itself and its IPv4-mapped form, either way round */
	ASSERT_TRUE(sb_sockaddr_same((struct sockaddr *)&v4, (struct sockaddr *)&v4));
	ASSERT_TRUE(sb_sockaddr_same((struct sockaddr *)&v4, (struct sockaddr *)&mapped));
	ASSERT_TRUE(sb_sockaddr_same((struct sockaddr *)&mapped, (struct sockaddr *)&v4));
	ASSERT_TRUE(!sb_sockaddr_same((struct sockaddr *)&v4, (struct sockaddr *)&v4b));
	/* the port counts for the endpoint, not for the host */
	ASSERT_TRUE(!sb_sockaddr_same((struct sockaddr *)&v4, (struct sockaddr *)&v4port));
	ASSERT_TRUE(sb_sockaddr_same_ip((struct sockaddr *)&v4, (struct sockaddr *)&v4port));
	ASSERT_TRUE(sb_sockaddr_same((struct sockaddr *)&v6, (struct sockaddr *)&v6));
	ASSERT_TRUE(!sb_sockaddr_same((struct sockaddr *)&v6, (struct sockaddr *)&v6b));
	ASSERT_TRUE(!sb_sockaddr_same_ip((struct sockaddr *)&v6, (struct sockaddr *)&v4));
	ASSERT_TRUE(!sb_sockaddr_same_ip((struct sockaddr *)&unix_sa, (struct sockaddr *)&unix_sa));
out:
	return r;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return 0;
	return ntohs(sin.sin_port);
}

static struct sb_config range(uint16_t min, uint16_t max)
{
	static char addr[] = "127.0.0.1";
	struct sb_config c = {.rtp_address = addr, .rtp_port_min = min, .rtp_port_max = max};

	return c;
}

TEST(pairs_in_random_order)
{
	struct sb_config cfg = range(47000, 48998);
	int fds[20][2];
	unsigned ports[20], ascending = 0;
	size_t n = 0;
	int r = 0;

	for (; n < 20; n++) {
		uint16_t port = 0;
		int rtcp = -1;

		fds[n][0] = sb_rtp_socket_open(&cfg, AF_INET, &port, &rtcp);
		fds[n][1] = rtcp;
		ASSERT_TRUE(fds[n][0] >= 0);
		ports[n] = port;
		ASSERT_TRUE(port >= 47000 && port <= 48998 && port % 2 == 0);
		ASSERT_EQ(bound_port(fds[n][0]), port);
		ASSERT_EQ(bound_port(rtcp), port + 1u);
		for (size_t i = 0; i < n; i++)
			ASSERT_TRUE(ports[i] != port);
		if (n && port == ports[n - 1] + 2)
			ascending++;
	}
	/* Handed out in sequence, 19 of 19 steps would be +2; at random from 1000 pairs, almost
	 * none are. */
	ASSERT_TRUE(ascending < 10);
out:
	for (size_t i = 0; i < n; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	return r;
}

TEST(taken_odd_port_and_exhaustion)
{
	struct sb_config cfg = range(48100, 48102);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(48101)};
	uint16_t port = 0;
	int blocker, a = -1, b = -1, ra = -1, rb = -1;
	int r = 0;

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	blocker = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_TRUE(blocker >= 0);
	ASSERT_EQ(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)), 0);
	/* 48100's RTCP port is taken, so only the pair 48102/48103 is usable. */
	a = sb_rtp_socket_open(&cfg, AF_INET, &port, &ra);
	ASSERT_TRUE(a >= 0);
	ASSERT_EQ(port, 48102);
	ASSERT_EQ(bound_port(ra), 48103);
	b = sb_rtp_socket_open(&cfg, AF_INET, &port, &rb);
	ASSERT_EQ(b, -EADDRNOTAVAIL);
	/* The wrong family for rtp.address. */
	b = sb_rtp_socket_open(&cfg, AF_INET6, &port, &rb);
	ASSERT_EQ(b, -EAFNOSUPPORT);
out:
	close(blocker);
	if (a >= 0) {
		close(a);
		close(ra);
	}
	return r;
}

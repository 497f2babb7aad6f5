/* Unit tests for bind_probe.c on loopback: a port another socket holds is in use, on its
 * address and on the IPv4-mapped form of it, a free one binds, and a host name is refused
 * (the configuration takes numeric addresses only: none is resolved). */
#include <errno.h>
#include <unistd.h>

#include <sb/bind_probe.h>

#include "harness.h"

/* A socket of type bound to 127.0.0.1 on a port the kernel picks (listening, for a stream);
 * returns the descriptor and the port, or -1. */
static int hold(int type, uint16_t *port)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&in, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1) < 0) ||
	    getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(in.sin_port);
	return fd;
}

static int held_port(int type)
{
	uint16_t port = 0;
	int r = 0, fd = hold(type, &port);

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(sb_bind_probe("127.0.0.1", port, type), -EADDRINUSE);
	/* The listeners bind it on a socket that takes IPv4 too, where the port is taken. */
	ASSERT_EQ(sb_bind_probe("::ffff:127.0.0.1", port, type), -EADDRINUSE);
	close(fd);
	fd = -1;
	ASSERT_EQ(sb_bind_probe("127.0.0.1", port, type), 0);
	ASSERT_EQ(sb_bind_probe("::ffff:127.0.0.1", port, type), 0);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

TEST(udp_port_held)
{
	return held_port(SOCK_DGRAM);
}

TEST(tcp_port_held)
{
	return held_port(SOCK_STREAM);
}

/* A name is not resolved here nor passed over as bindable: the caller learns it is no address. */
TEST(host_name_refused)
{
	int r = 0;

	ASSERT_EQ(sb_bind_probe("localhost", 0, SOCK_DGRAM), -EINVAL);
	ASSERT_EQ(sb_bind_probe("localhost", 0, SOCK_STREAM), -EINVAL);
	ASSERT_EQ(sb_bind_probe("", 0, SOCK_DGRAM), -EINVAL);
	ASSERT_EQ(sb_bind_probe("127.0.0.1:5060", 0, SOCK_DGRAM), -EINVAL);
	ASSERT_EQ(sb_bind_probe("[::1]", 0, SOCK_DGRAM), -EINVAL);
out:
	return r;
}

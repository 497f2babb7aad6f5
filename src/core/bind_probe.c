/* Start-up bind probe: tries the bind a listener is about to make to learn its errno (nta and
 * lws only say that it failed). Thread: any (start-up only). Owns nothing past the call. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sb/bind_probe.h>

int sb_bind_probe(const char *addr, uint16_t port, int type)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof(*in);
	int fd, one = 1, r = 0;

	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	} else {
		/* The configuration takes numeric addresses only, so none is resolved: a name here
		 * is refused rather than passed as bindable (the listener's own failure to bind
		 * would say less and, for sofia's, leak). */
		return -EINVAL;
	}
	fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The options the listeners use: a stream's port in TIME-WAIT is not "in use". */
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* An IPv4-mapped address (::ffff:a.b.c.d) binds only on a socket that also takes IPv4,
	 * as the listeners' sockets do (they leave IPV6_V6ONLY at the system default). */
	if (ss.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (type == SOCK_STREAM && listen(fd, 1) < 0))
		r = -errno;
	close(fd);
	return r;
}

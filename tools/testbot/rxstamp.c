/* The kernel's arrival time of what lws reads, for the arrivals log (arrivals.c). lws reads
 * every plain connection with recv(); this definition takes the C library's place in the bot
 * (the dynamic linker resolves lws's reference to the executable's symbol first) and reads with
 * recvmsg() instead, which on a socket with SO_TIMESTAMPNS set also returns when the last data
 * it read came in (for TCP the stamp of the newest segment read, taken on delivery to the host,
 * before this process got a CPU for it). Sockets without the option get no stamp and cost what
 * recv() costs. Over TLS OpenSSL reads the socket with read(): that is defined here too, and
 * a connection marked for stamps (sb_tb_rxstamp_set()) is read as recv() reads it; any other
 * descriptor is read by the system call itself. Thread: the lws service thread, and no other
 * thread may call read() or recv(), since both look into a table that thread grows (lws,
 * libev and OpenSSL start none in this process).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testbot.h"

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctl.buf,
	                    .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm;
	struct timespec ts;
	int64_t stamp = 0;
	ssize_t n = recvmsg(fd, &mh, flags);

	if (n <= 0 || (flags & MSG_PEEK))
		return n;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(ts))) {
			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			stamp = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		}
	}
	/* A read without a stamp (data queued before the option took effect) clears the last
	 * one, which is older than this data and would make it look early. */
	sb_tb_rxstamp_note(fd, stamp);
	return n;
}

ssize_t read(int fd, void *buf, size_t len)
{
	if (sb_tb_rxstamp_on(fd)) {
		int saved = errno;
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 0 || errno != ENOTSOCK)
			return n;
		/* The connection's number now names something else. */
		sb_tb_rxstamp_set(fd, false);
		errno = saved;
	}
	return (ssize_t)syscall(SYS_read, fd, buf, len);
}

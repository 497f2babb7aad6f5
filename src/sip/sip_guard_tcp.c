/* The guard's TCP side: finding the descriptor of one SIP connection, ending it so sofia
 * closes it, and the janitor. Every second the janitor lists the connections to the SIP port
 * (NETLINK_SOCK_DIAG, one request), closes those whose peer has closed them (sofia stops
 * reading a connection after a parse error, and would never see its end), those without
 * data either way for sip.tcp_idle_s and, per source address, the newest beyond
 * sip.tcp_max_per_source. Thread: control. Owns the netlink socket and the timer.
 *
 * The kernel selects the connections to the SIP ports (diag_filter.c), so a pass costs
 * what the SIP connections cost, whatever else the machine holds.
 *
 * DESIGN: sofia gives no access to its connections, but they are the process's own sockets.
 * The kernel names each connection's inode; /proc/self/fd maps inodes to descriptors, walked
 * only when something is to be closed. shutdown() makes the socket report a hang-up, on
 * which sofia closes and frees its transport as for any peer that went away. */
#define SU_TIMER_ARG_T struct sb_sip_guard

#include <dirent.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_SUBSYS "guard"
#include <sb/log.h>

#include <sb/metrics.h>

#include <sb/diag_filter.h>
#include <sb/rtp_session.h>

#include "sip_guard.h"

#define JANITOR_MS 1000
#define MAX_CONNS 65536 /* connections to the SIP port looked at per pass */

void sb_sip_guard_each_fd(bool (*fn)(int fd, void *arg), void *arg)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end || end == e->d_name || fd == dirfd(d))
			continue;
		if (!fn((int)fd, arg))
			break;
	}
	closedir(d);
}

struct stream_query {
	const struct sb_sip_guard *g;
	const struct sockaddr *peer;
	int fd;
};

static bool match_stream(int fd, void *arg)
{
	struct stream_query *q = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0;
	socklen_t olen = sizeof(type);

	/* sofia may report the IPv4 peer of a dual-stack socket as IPv4: the address is
	 * compared in either form */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 || type != SOCK_STREAM ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    !sb_sockaddr_same((struct sockaddr *)&ss, q->peer))
		return true;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    !sb_sip_guard_port(q->g, sb_sockaddr_port((struct sockaddr *)&ss)))
		return true;
	q->fd = fd;
	return false;
}

int sb_sip_guard_find_stream(const struct sb_sip_guard *g, const struct sockaddr *peer)
{
	struct stream_query q = {.g = g, .peer = peer, .fd = -1};

	if (!peer || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		return -1;
	sb_sip_guard_each_fd(match_stream, &q);
	return q.fd;
}

void sb_sip_guard_end_stream(int fd, const char *reply, size_t len)
{
	if (reply && len && send(fd, reply, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("Stateless reply on a TCP connection not sent: %s", strerror(errno));
	shutdown(fd, SHUT_RDWR);
}

/* One connection to the SIP port, as the kernel lists it. */
struct conn {
	uint8_t addr[16]; /* the peer's address (IPv4 in the first 4 bytes) */
	uint8_t family;
	uint8_t state;
	uint32_t inode;   /* 0 while still in the accept queue */
	uint32_t idle_ms; /* since data last went either way (UINT32_MAX: unknown) */
	uint64_t cookie;  /* the kernel's id of the socket, stable for its life */
	int64_t first_ms; /* when a pass first saw it: the age the cap goes by */
};

struct conns {
	struct conn *v;
	size_t n, cap;
};

/* Milliseconds since data last went either way, from the INET_DIAG_INFO attribute. */
static uint32_t idle_of(const struct inet_diag_msg *m, size_t len)
{
	const struct rtattr *a = (const struct rtattr *)(m + 1);
	size_t left = len - sizeof(*m);

	for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		const struct tcp_info *ti = RTA_DATA(a);

		if (a->rta_type != INET_DIAG_INFO ||
		    RTA_PAYLOAD(a) < offsetof(struct tcp_info, tcpi_last_ack_recv))
			continue;
		return ti->tcpi_last_data_recv < ti->tcpi_last_data_sent ? ti->tcpi_last_data_recv
		                                                         : ti->tcpi_last_data_sent;
	}
	return UINT32_MAX;
}

static void add_conn(struct conns *c, const struct inet_diag_msg *m, size_t len)
{
	struct conn *x;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;

		if (cap > MAX_CONNS || !(x = realloc(c->v, cap * sizeof(*x))))
			return;
		c->v = x;
		c->cap = cap;
	}
	x = &c->v[c->n++];
	memset(x, 0, sizeof(*x));
	x->family = m->idiag_family;
	x->state = m->idiag_state;
	x->inode = m->idiag_inode;
	x->idle_ms = idle_of(m, len);
	x->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
	memcpy(x->addr, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
}

/* Asks the kernel for family's TCP sockets in the states that hold a connection whose local
 * port is a SIP port: the kernel selects them with a bytecode filter (without one, every TCP
 * socket of the machine would be listed, each with its tcp_info: thousands a second with the
 * bot connections), and the port is checked here again (for a kernel without the filter). */
static int dump(struct sb_sip_guard *g, int family, bool filter, struct conns *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
		struct rtattr bc_attr;
		struct inet_diag_bc_op bc[SB_DIAG_FILTER_BYTES(2) / sizeof(struct inet_diag_bc_op)];
	} req = {
	        .nlh = {.nlmsg_type = SOCK_DIAG_BY_FAMILY,
	                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
	        .r = {.sdiag_family = (uint8_t)family,
	              .sdiag_protocol = IPPROTO_TCP,
	              .idiag_ext = 1u << (INET_DIAG_INFO - 1),
	              .idiag_states = (1u << TCP_ESTABLISHED) | (1u << TCP_CLOSE_WAIT)},
	};
	static __thread char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	uint16_t ports[2];
	size_t n_ports = 0, len = offsetof(__typeof__(req), bc_attr);
	int bc_len;

	if (g->port)
		ports[n_ports++] = g->port;
	if (g->tls_port)
		ports[n_ports++] = g->tls_port;
	bc_len = filter ? sb_diag_filter_build(req.bc, sizeof(req.bc), ports, n_ports) : -EINVAL;
	if (bc_len > 0) {
		req.bc_attr = (struct rtattr){.rta_len = (unsigned short)RTA_LENGTH(bc_len),
		                              .rta_type = INET_DIAG_REQ_BYTECODE};
		len += RTA_SPACE(bc_len);
	}
	req.nlh.nlmsg_len = (uint32_t)len;
	if (send(g->diag, &req, len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(g->diag, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (n < 0)
			return -errno;
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EIO;
			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*m)) &&
			    sb_sip_guard_port(g, ntohs(m->id.idiag_sport)))
				add_conn(out, m, h->nlmsg_len - NLMSG_LENGTH(0));
		}
	}
}

/* Both families' SIP connections. A kernel that refuses the filter is asked without it from
 * then on. */
static int list_conns(struct sb_sip_guard *g, struct conns *c)
{
	int r;

	for (;;) {
		bool filter = !g->diag_unfiltered;

		c->n = 0;
		r = dump(g, AF_INET, filter, c);
		if (r >= 0)
			r = dump(g, AF_INET6, filter, c);
		if (r >= 0 || !filter)
			return r;
		g->diag_unfiltered = true;
		log_warn("The kernel refuses to select the SIP connections by port (%s); listing "
		         "every TCP connection instead, ignoring",
		         strerror(-r));
	}
}

/* Oldest first within a peer: by when the janitor first saw each connection, then (within
 * one pass) by inode, which follows creation order but for per-CPU batches of numbers. */
static int by_peer_then_age(const void *a, const void *b)
{
	const struct conn *x = a, *y = b;
	int c = x->family - y->family;

	if (!c)
		c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (!c)
		c = x->first_ms < y->first_ms ? -1 : x->first_ms > y->first_ms;
	if (!c)
		c = x->inode < y->inode ? -1 : x->inode > y->inode;
	return c;
}

static int by_cookie(const void *a, const void *b)
{
	uint64_t x = ((const struct sb_seen_conn *)a)->cookie;
	uint64_t y = ((const struct sb_seen_conn *)b)->cookie;

	return x < y ? -1 : x > y;
}

/* Dates each connection by the pass that first saw it, and keeps that for the next pass. */
static void age(struct sb_sip_guard *g, struct conns *c, int64_t now)
{
	struct sb_seen_conn *next = c->n ? malloc(c->n * sizeof(*next)) : NULL;

	for (size_t i = 0; i < c->n; i++) {
		struct sb_seen_conn key = {.cookie = c->v[i].cookie}, *was;

		was = g->seen ? bsearch(&key, g->seen, g->n_seen, sizeof(key), by_cookie) : NULL;
		c->v[i].first_ms = was ? was->first_ms : now;
		if (next)
			next[i] = (struct sb_seen_conn){c->v[i].cookie, c->v[i].first_ms};
	}
	free(g->seen);
	g->seen = next;
	g->n_seen = next ? c->n : 0;
	if (next)
		qsort(next, c->n, sizeof(*next), by_cookie);
}

struct closing {
	const uint32_t *inodes; /* sorted */
	size_t n;
	unsigned closed;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool close_if_listed(int fd, void *arg)
{
	struct closing *c = arg;
	char path[32], link[64];
	unsigned long inode;
	uint32_t key;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return true;
	link[n] = '\0';
	if (sscanf(link, "socket:[%lu]", &inode) != 1)
		return true;
	key = (uint32_t)inode;
	if (bsearch(&key, c->inodes, c->n, sizeof(key), cmp_u32)) {
		shutdown(fd, SHUT_RDWR);
		c->closed++;
	}
	return c->closed < c->n;
}

/* Picks what to close: connections the peer has closed, those without data either way for
 * idle_ms (sofia arms its own idle timer only once data has come, so a connection that never
 * sends would stay for good), and per source the newest (largest inode) beyond the cap.
 * Writes their inodes to out; returns how many, and counts them. */
static size_t pick(struct conns *c, uint32_t *out, unsigned cap, uint32_t idle_ms)
{
	size_t n = 0;

	qsort(c->v, c->n, sizeof(*c->v), by_peer_then_age);
	for (size_t i = 0, run = 0; i < c->n; i++) {
		const struct conn *x = &c->v[i];
		bool same = i && c->v[i - 1].family == x->family &&
		            !memcmp(c->v[i - 1].addr, x->addr, sizeof(x->addr));

		run = same ? run : 0; /* older connections of this peer that stay */
		if (!x->inode) {
			run++;
			continue;
		}
		if (x->state == TCP_CLOSE_WAIT) {
			out[n++] = x->inode;
			SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_PEER);
		} else if (x->idle_ms != UINT32_MAX && x->idle_ms >= idle_ms) {
			out[n++] = x->inode;
			SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_IDLE);
		} else if (run >= cap) {
			out[n++] = x->inode;
			SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_CAP);
		} else {
			run++;
		}
	}
	return n;
}

void sb_sip_guard_sweep(struct sb_sip_guard *g)
{
	const struct sb_config *cfg = *g->cfg;
	struct conns c = {0};
	struct closing cl = {0};
	uint32_t *inodes;
	size_t n;
	int r;

	if (g->diag < 0)
		return;
	r = list_conns(g, &c);
	if (r < 0) {
		log_warn_ratelimited("Cannot list the SIP TCP connections: %s", strerror(-r));
		free(c.v);
		return;
	}
	age(g, &c, sb_now_ms());
	inodes = c.n ? malloc(c.n * sizeof(*inodes)) : NULL;
	n = inodes ? pick(&c, inodes, (unsigned)cfg->tcp_max_per_source,
	                  (uint32_t)cfg->tcp_idle_s * 1000u)
	           : 0;
	if (n) {
		qsort(inodes, n, sizeof(*inodes), cmp_u32);
		cl = (struct closing){.inodes = inodes, .n = n};
		sb_sip_guard_each_fd(close_if_listed, &cl);
		log_notice_ratelimited("Closed %u SIP TCP connection(s): peer gone, idle for "
		                       "sip.tcp_idle_s = %d, or over sip.tcp_max_per_source = %d",
		                       cl.closed, cfg->tcp_idle_s, cfg->tcp_max_per_source);
	}
	free(inodes);
	free(c.v);
}

static void on_janitor(su_root_magic_t *m, su_timer_t *t, struct sb_sip_guard *g)
{
	(void)m;
	(void)t;
	sb_sip_guard_sweep(g);
}

int sb_sip_guard_start_janitor(struct sb_sip_guard *g, su_root_t *root)
{
	g->diag = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (g->diag < 0)
		return -errno;
	g->janitor = su_timer_create(su_root_task(root), JANITOR_MS);
	if (!g->janitor || su_timer_set_for_ever(g->janitor, on_janitor, g) < 0)
		return -ENOMEM;
	return 0;
}

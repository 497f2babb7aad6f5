/* The SIP transports' guard, in front of nua. Sofia parses every message with a copy of its
 * SIP message class whose request and status lines are parsed by the functions here first:
 * a request from outside every trunk's ACL gets one stateless 403 (or nothing) and goes no
 * further, so it never reaches nta (no 100 Trying, no transaction, no retransmission, no nua
 * handle); a first line sofia cannot parse gets a stateless 400 or 501 instead of silence,
 * and its TCP connection is closed (sofia would stop reading it and never see its end).
 * A source gets at most sip.reject_rate such replies a second; the rest are dropped.
 * A socket filter drops TCP SYNs from outside the ACLs in the kernel. The bridge's own
 * dialogs with agents outside the ACLs (bridged transfers) are the exception: their requests
 * pass by Call-ID and address, and an agent reached over TCP may connect. Thread: control.
 * Owns the message class, the filter, the per-source refusal table and the agents' dialogs.
 *
 * DESIGN: sofia has no hook before its transaction layer, but its message classes are
 * extensible (msg_mclass_clone) and a header class's parse function receives the message's
 * home, which is the message itself (msg_home() is a cast): the source address is known
 * (tport sets it before parsing) when the first line is parsed, before any other header.
 * Failing that parse turns the message into garbage nta drops. */
#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_SUBSYS "guard"
#include <sb/log.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/sip_protos.h>

#include <sb/bpf_acl.h>
#include <sb/call.h>
#include <sb/metrics.h>
#include <sb/rtp_session.h>
#include <sb/sip_reply.h>

#include "sip_guard.h"

/* Distinct addresses of agents reached over TCP or TLS that the TCP filters admit on top of
 * the ACLs: 14 BPF instructions each, within the kernel's 4096 with room for long ACLs. */
#define MAX_FILTER_PEERS 64

/* The class's parse functions take no argument: the one guard is found here. */
static struct sb_sip_guard *the_guard;
static struct msg_hclass_s request_class[1], status_class[1];

static bool in_any_acl(const struct sb_config *cfg, const struct sockaddr *sa)
{
	for (size_t i = 0; i < cfg->n_trunks; i++)
		if (sb_acl_match(cfg->trunks[i].acl, cfg->trunks[i].n_acl, sa))
			return true;
	return false;
}

/* The UDP socket to answer src from: its own family, or an IPv6 one for an IPv4 source (as
 * an IPv4-mapped address). */
static int udp_for(const struct sb_sip_guard *g, const struct sockaddr *src,
                   struct sockaddr_storage *to, socklen_t *to_len)
{
	int v6 = -1;

	for (unsigned i = 0; i < g->n_udp; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getsockname(g->udp[i], (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (ss.ss_family == src->sa_family) {
			*to_len = src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
			                                     : sizeof(struct sockaddr_in);
			memcpy(to, src, *to_len);
			return g->udp[i];
		}
		if (ss.ss_family == AF_INET6)
			v6 = g->udp[i];
	}
	if (v6 >= 0 && src->sa_family == AF_INET)
		*to_len = sb_sockaddr_v4mapped(src, to);
	return v6;
}

/* Whether the connection fd came in on the TLS listen port (no tcp entry shares it). */
static bool on_tls(const struct sb_sip_guard *g, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return g->tls_port && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	       sb_sockaddr_port((struct sockaddr *)&ss) == g->tls_port;
}

/* Stateless refusals a source gets are bounded by sip.reject_rate a second: beyond it they
 * go unanswered, so a flood costs little CPU and no reply bandwidth. Warns about a source
 * on its first drop, then at most once a minute. */
static bool may_reply(struct sb_sip_guard *g, const struct sockaddr *src)
{
	char ip[INET6_ADDRSTRLEN];
	uint64_t warn = 0;

	if (!g->rejects || !src ||
	    sb_rate_limit_take(g->rejects, src, (unsigned)(*g->cfg)->reject_rate, sb_now_ms(),
	                       &warn))
		return true;
	SB_METRIC_INC(sip_rejects_dropped_total, SB_M_NONE_ALL);
	if (warn)
		log_warn_ratelimited(
		        "Refusals to %s over sip.reject_rate = %d a second: %" PRIu64
		        " request(s) dropped unanswered (logged once a minute a source)",
		        sb_sockaddr_text(src, ip, sizeof(ip)), (*g->cfg)->reject_rate, warn);
	return false;
}

enum sb_guard_reply sb_sip_guard_respond(struct sb_sip_guard *g, msg_t *msg, const char *raw,
                                         size_t len, int status, const char *reason, bool stream)
{
	const struct sockaddr *src = (const struct sockaddr *)msg_addr(msg);
	char out[SB_SIP_REPLY_MAX], tag[32];
	struct sockaddr_storage to;
	socklen_t to_len = 0;
	int n = -EBADMSG, fd;
	bool limited = status && !may_reply(g, src);

	snprintf(tag, sizeof(tag), "%s%x", g->tag, ++g->tag_seq);
	if (status && !limited && raw && len)
		n = sb_sip_reply_build(out, sizeof(out), raw, len, status, reason, tag, NULL);
	if (n > 0)
		sb_metric_sip_response(status);
	if (stream) {
		fd = sb_sip_guard_find_stream(g, src);
		if (fd >= 0 && on_tls(g, fd))
			n = -EPROTO; /* a plain text reply would break the TLS stream: close only */
		if (fd >= 0)
			sb_sip_guard_end_stream(fd, n > 0 ? out : NULL, n > 0 ? (size_t)n : 0);
		return limited            ? SB_GUARD_REPLY_LIMITED
		       : fd >= 0 && n > 0 ? SB_GUARD_REPLY_SENT
		                          : SB_GUARD_REPLY_NONE;
	}
	if (limited)
		return SB_GUARD_REPLY_LIMITED;
	/* Never more bytes back than came in: a forged source gains nothing by it. */
	if (n < 0 || (size_t)n > len)
		return SB_GUARD_REPLY_NONE;
	fd = udp_for(g, src, &to, &to_len);
	return fd >= 0 && sendto(fd, out, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&to,
	                         to_len) == n
	               ? SB_GUARD_REPLY_SENT
	               : SB_GUARD_REPLY_NONE;
}

/* The same, answering the request as far as it has been received and not parsed yet. */
static enum sb_guard_reply respond(struct sb_sip_guard *g, msg_t *msg, int status,
                                   const char *reason, bool stream)
{
	return sb_sip_guard_respond(g, msg, msg_buf_committed_data(msg), msg_buf_committed(msg),
	                            status, reason, stream);
}

/* A request from outside every trunk's ACL: one stateless 403, or nothing. */
static void reject_stranger(struct sb_sip_guard *g, msg_t *msg, bool stream)
{
	bool answer = (*g->cfg)->acl_reject == SB_ACL_REJECT_403;
	char ip[INET6_ADDRSTRLEN];
	enum sb_guard_reply r = respond(g, msg, answer ? 403 : 0, "Forbidden", stream);

	SB_METRIC_INC(sip_guard_refused_total, SB_M_GUARD_ACL);
	if (r == SB_GUARD_REPLY_LIMITED)
		return; /* may_reply() warns about the source */
	log_warn_ratelimited(
	        "Request from %s: not in any trunk's ACL, %s",
	        sb_sockaddr_text((const struct sockaddr *)msg_addr(msg), ip, sizeof(ip)),
	        answer ? "403" : "dropped");
}

/* Methods the stack knows: a first line it cannot parse with one of these is malformed
 * (400); with any other it is a method this endpoint does not implement (501). */
static bool known_method(const char *m)
{
	static const char *const known[] = {"INVITE",    "ACK",    "BYE",   "CANCEL", "OPTIONS",
	                                    "REGISTER",  "INFO",   "PRACK", "UPDATE", "MESSAGE",
	                                    "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH"};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strcmp(m, known[i]) == 0)
			return true;
	return false;
}

/* A first line sofia cannot parse: nta would drop the message silently and, over TCP,
 * stop reading the connection for good. It gets an answer and the connection is closed. */
static void bad_first_line(struct sb_sip_guard *g, msg_t *msg, bool request, bool stream)
{
	const char *raw = msg_buf_committed_data(msg);
	char method[32] = "", ip[INET6_ADDRSTRLEN];
	int status = 0;
	enum sb_guard_reply sent;

	SB_METRIC_INC(sip_guard_refused_total, SB_M_GUARD_BAD_FIRST_LINE);
	if (raw)
		sb_sip_method(raw, msg_buf_committed(msg), method, sizeof(method));
	if (request && method[0] && strcmp(method, "ACK") != 0)
		status = known_method(method) ? 400 : 501;
	sent = respond(g, msg, status, status == 400 ? "Bad Request Line" : "Not Implemented",
	               stream);
	if (stream)
		SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_BAD);
	log_notice_ratelimited(
	        "%s from %s with a first line the SIP stack cannot parse: %s",
	        request ? "Request" : "Response",
	        sb_sockaddr_text((const struct sockaddr *)msg_addr(msg), ip, sizeof(ip)),
	        sent == SB_GUARD_REPLY_SENT ? "answered" : "dropped");
}

bool sb_sip_guard_is_stream(msg_t *msg)
{
	su_addrinfo_t *ai = msg_addrinfo(msg);

	return ai && ai->ai_socktype == SOCK_STREAM;
}

/* A request from outside every ACL in one of the bridge's dialogs with an agent: its Call-ID
 * is the dialog's and it comes from the agent's address (any port: over UDP an agent may send
 * from another port than it answers from, over TCP it may connect anew). Over TCP the first
 * line may come before the Call-ID: such a request from a TCP agent's address goes on to the
 * stack, which matches it to the dialog or refuses it (a new INVITE fails routing's ACL
 * check, as every request out of a dialog from there would). */
static bool in_peer_dialog(struct sb_sip_guard *g, msg_t *msg, const struct sockaddr *src)
{
	const char *raw = msg_buf_committed_data(msg), *id = NULL;
	size_t id_len = 0;
	int r;

	if (!g->peers.n || !raw)
		return false;
	r = sb_sip_call_id(raw, msg_buf_committed(msg), &id, &id_len);
	if (r == 0)
		return sb_dialog_peers_match(&g->peers, id, id_len, src);
	return r == -EAGAIN && sb_sip_guard_is_stream(msg) &&
	       sb_dialog_peers_has_addr(&g->peers, src, true);
}

/* The request line: the first thing parsed of every request. */
static issize_t parse_request_line(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	msg_t *msg = (msg_t *)home; /* a message's home is the message (msg_home() is a cast) */
	struct sb_sip_guard *g = the_guard;
	const struct sockaddr *src = (const struct sockaddr *)msg_addr(msg);
	issize_t r;

	if (!g || !src)
		return sip_request_class->hc_parse(home, h, s, slen);
	if (!in_any_acl(*g->cfg, src) && !in_peer_dialog(g, msg, src)) {
		if (slen >= 7 && strncmp(s, "INVITE ", 7) == 0)
			SB_METRIC_INC(invites_rejected_total, SB_M_REASON_ACL);
		reject_stranger(g, msg, sb_sip_guard_is_stream(msg));
		return -1; /* garbage to nta: dropped before any transaction */
	}
	if (sb_sip_guard_header_limit(g, msg, h, sb_sip_guard_is_stream(msg)) < 0)
		return -1;
	r = sip_request_class->hc_parse(home, h, s, slen);
	if (r < 0)
		bad_first_line(g, msg, true, sb_sip_guard_is_stream(msg));
	else if (sb_sip_guard_is_stream(msg))
		sb_sip_guard_size_start(g, msg, (struct sb_guard_request *)h);
	return r;
}

/* The status line of a response: responses are never screened by source (a transfer target
 * may answer from anywhere), but one sofia cannot parse must not stall its connection. */
static issize_t parse_status_line(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	msg_t *msg = (msg_t *)home;
	issize_t r = sip_status_class->hc_parse(home, h, s, slen);

	if (r < 0 && the_guard)
		bad_first_line(the_guard, msg, false, sb_sip_guard_is_stream(msg));
	else if (the_guard && sb_sip_guard_is_stream(msg))
		sb_sip_guard_size_response(msg);
	return r;
}

int sb_sip_guard_init(struct sb_sip_guard *g, const struct sb_config *const *cfg)
{
	char seed[17];

	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
	g->diag = -1;
	sb_random_hex(g->tag, 8);
	sb_random_hex(seed, 16);
	sb_dialog_peers_init(&g->peers);
	if (sb_rate_limit_new(&g->rejects, strtoull(seed, NULL, 16)) < 0)
		return -ENOMEM;
	g->mclass = msg_mclass_clone(sip_default_mclass(), 0, 0);
	if (!g->mclass)
		return -ENOMEM;
	*request_class = *sip_request_class;
	request_class->hc_parse = parse_request_line;
	request_class->hc_size = sizeof(struct sb_guard_request); /* room for the line count */
	*status_class = *sip_status_class;
	status_class->hc_parse = parse_status_line;
	g->mclass->mc_request->hr_class = request_class;
	g->mclass->mc_status->hr_class = status_class;
	if (sb_sip_guard_headers_init(g) < 0)
		return -ENOMEM;
	sb_sip_guard_size_init(g);
	the_guard = g;
	return 0;
}

/* Is fd one of sofia's SIP sockets: bound to the listen port, and for TCP listening? */
static void classify(struct sb_sip_guard *g, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, listening = 0;
	socklen_t olen = sizeof(type);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0)
		return;
	if (!sb_sip_guard_port(g, sb_sockaddr_port((struct sockaddr *)&ss)))
		return;
	olen = sizeof(listening);
	if (type == SOCK_DGRAM && g->n_udp < SB_GUARD_MAX_SOCKETS)
		g->udp[g->n_udp++] = fd;
	else if (type == SOCK_STREAM &&
	         getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) == 0 && listening &&
	         g->n_tcp < SB_GUARD_MAX_SOCKETS)
		g->tcp[g->n_tcp++] = fd;
}

static bool on_fd(int fd, void *arg)
{
	classify(arg, fd);
	return true;
}

/* The union of every trunk's ACL and the n_extra addresses as one socket filter, attached to
 * fd (replacing the one it had). */
static int attach_filter(const struct sb_config *cfg, int fd, const struct sb_cidr *extra,
                         size_t n_extra)
{
	size_t n = n_extra, k = 0;
	struct sb_cidr *all;
	struct sock_filter *prog;
	struct sock_fprog fp;
	int r;

	for (size_t i = 0; i < cfg->n_trunks; i++)
		n += cfg->trunks[i].n_acl;
	all = calloc(n ? n : 1, sizeof(*all));
	prog = calloc(SB_BPF_ACL_MAX_INSNS(n), sizeof(*prog));
	if (!all || !prog) {
		free(all);
		free(prog);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_trunks; i++)
		for (size_t j = 0; j < cfg->trunks[i].n_acl; j++)
			all[k++] = cfg->trunks[i].acl[j];
	for (size_t i = 0; i < n_extra; i++)
		all[k++] = extra[i];
	r = sb_bpf_acl_build(prog, SB_BPF_ACL_MAX_INSNS(n), all, n);
	if (r > 0) {
		fp = (struct sock_fprog){.len = (unsigned short)r, .filter = prog};
		r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0 ? -errno : 0;
	}
	free(all);
	free(prog);
	return r;
}

void sb_sip_guard_start(struct sb_sip_guard *g, su_root_t *root)
{
	const struct sb_config *cfg = *g->cfg;
	int r;

	for (size_t i = cfg->n_listen; i-- > 0;) { /* the first udp/tcp entry's port wins */
		if (cfg->listen[i].transport == SB_TP_TLS)
			g->tls_port = cfg->listen[i].port;
		else
			g->port = cfg->listen[i].port;
	}
	sb_sip_guard_each_fd(on_fd, g);
	sb_sip_guard_size_sockets(g);
	if (!g->n_udp && !g->n_tcp)
		log_warn("Found none of the SIP stack's sockets on port %u; requests from outside "
		         "the ACLs are still refused, without socket filters",
		         g->port);
	sb_sip_guard_refilter(g);
	r = g->n_tcp ? sb_sip_guard_start_janitor(g, root) : 0;
	if (r < 0)
		log_warn_errno(r, "Cannot watch the SIP TCP connections; idle ones still close "
		                  "after sip.tcp_idle_s");
	log_debug("SIP guard: %u UDP and %u TCP/TLS socket(s) on ports %u and %u", g->n_udp,
	          g->n_tcp, g->port, g->tls_port);
}

/* Whether c (a host address) is inside a trunk's ACL: the TCP filters admit it already. */
static bool in_acl_cidr(const struct sb_cidr *c, void *arg)
{
	const struct sb_sip_guard *g = arg;
	struct sockaddr_storage ss = {.ss_family = (sa_family_t)c->family};

	if (c->family == AF_INET)
		memcpy(&((struct sockaddr_in *)&ss)->sin_addr, c->addr, 4);
	else
		memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, 16);
	return in_any_acl(*g->cfg, (struct sockaddr *)&ss);
}

static bool same_set(const struct sb_cidr *a, size_t na, const struct sb_cidr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		bool found = false;

		for (size_t j = 0; j < nb && !found; j++)
			found = sb_cidr_equal(&a[i], &b[j]);
		if (!found)
			return false;
	}
	return true;
}

/* The TCP filters: outside every ACL, a TCP client cannot even connect. UDP is not filtered:
 * responses to the bridge's own requests may come from anywhere (a transfer target). They
 * also admit the agents reached over TCP or TLS from outside the ACLs: sofia keeps the
 * bridge's connection to one while the dialog lasts, but the agent's side may close it (its
 * own idle timer, a restart) and then connects to the SIP port for its BYE. Rebuilt when
 * those addresses change, or always (force: at start-up, after a reload that may have changed
 * the ACLs). A filter that cannot be attached is removed: one of older ACLs would keep out a
 * source the current ones let in, and requests from outside the ACLs are refused anyway. */
static void refresh_tcp_filters(struct sb_sip_guard *g, bool force)
{
	struct sb_cidr peers[MAX_FILTER_PEERS], *copy;
	size_t n;
	int r = 0;

	if (!g->n_tcp)
		return;
	n = sb_dialog_peers_stream_addrs(&g->peers, peers, ARRAY_SIZE(peers), in_acl_cidr, g);
	if (n > ARRAY_SIZE(peers)) {
		log_warn_ratelimited(
		        "Over %zu agents outside the ACLs reached over TCP: the others "
		        "cannot connect to send their requests",
		        ARRAY_SIZE(peers));
		n = ARRAY_SIZE(peers);
	}
	if (!force && same_set(peers, n, g->tcp_peers, g->n_tcp_peers))
		return;
	for (unsigned i = 0; i < g->n_tcp; i++) {
		int e = attach_filter(*g->cfg, g->tcp[i], peers, n);

		if (e < 0) {
			setsockopt(g->tcp[i], SOL_SOCKET, SO_DETACH_FILTER, NULL, 0);
			r = e;
		}
	}
	if (r < 0)
		log_warn_errno(r,
		               "Cannot filter TCP connections from outside the ACLs in the kernel "
		               "(the ACLs may be too long); refusing their requests instead");
	copy = n ? malloc(n * sizeof(*copy)) : NULL;
	if (n && !copy) {
		log_error("Out of memory noting the TCP filters' agents");
		return; /* they differ from the list: the next change rebuilds them */
	}
	if (n)
		memcpy(copy, peers, n * sizeof(*copy));
	free(g->tcp_peers);
	g->tcp_peers = copy;
	g->n_tcp_peers = n;
}

void sb_sip_guard_refilter(struct sb_sip_guard *g)
{
	refresh_tcp_filters(g, true);
}

int sb_sip_guard_allow_dialog(struct sb_sip_guard *g, const char *call_id,
                              const struct sockaddr *sa, bool stream)
{
	char ip[INET6_ADDRSTRLEN];
	int r;

	/* limits.max_calls bounds the dialogs: a call has at most one transfer at a time. */
	r = sb_dialog_peers_set(&g->peers, call_id, strlen(call_id), sa, stream,
	                        (size_t)(*g->cfg)->max_calls);
	sb_sockaddr_text(sa, ip, sizeof(ip));
	if (r < 0)
		return log_warn_errno(
		        r,
		        "Requests from the agent at %s cannot pass the ACLs (%s), "
		        "ignoring: from outside them it cannot end its call",
		        ip, r == -ENOSPC ? "limits.max_calls agents already" : strerror(-r));
	log_debug("Requests from %s with Call-ID %s pass the ACLs (%zu agent dialog(s))", ip,
	          call_id, g->peers.n);
	refresh_tcp_filters(g, false);
	return 0;
}

void sb_sip_guard_forget_dialog(struct sb_sip_guard *g, const char *call_id)
{
	if (sb_dialog_peers_remove(&g->peers, call_id, strlen(call_id)) < 0)
		return;
	log_debug("Requests with Call-ID %s no longer pass the ACLs (%zu agent dialog(s) left)",
	          call_id, g->peers.n);
	refresh_tcp_filters(g, false);
}

void sb_sip_guard_done(struct sb_sip_guard *g)
{
	if (g->janitor) {
		su_timer_destroy(g->janitor);
		g->janitor = NULL;
	}
	if (g->diag >= 0)
		close(g->diag);
	g->diag = -1;
	free(g->seen);
	g->seen = NULL;
	g->n_seen = 0;
	g->rejects = sb_rate_limit_free(g->rejects);
	sb_dialog_peers_done(&g->peers);
	free(g->tcp_peers);
	g->tcp_peers = NULL;
	g->n_tcp_peers = 0;
	if (the_guard == g)
		the_guard = NULL;
	sb_sip_guard_headers_done(g);
	sb_sip_guard_size_done(g);
	if (g->mclass)
		free(g->mclass); /* msg_mclass_clone() allocates with malloc() */
	g->mclass = NULL;
}

/* The SIP transports' guard, in front of nua: what a hostile network sends never costs a
 * transaction, a nua handle or a file descriptor for long. Used by sip_agent.c only.
 * Thread: control. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sofia-sip/msg_types.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_wait.h>

#include <sb/config.h>
#include <sb/dialog_peers.h>
#include <sb/rate_limit.h>

#define SB_GUARD_MAX_SOCKETS 4 /* SIP sockets of one kind (IPv4 and IPv6) */

/* A TCP connection the janitor has seen: the kernel's socket cookie and when first seen. */
struct sb_seen_conn {
	uint64_t cookie;
	int64_t first_ms;
};

struct sb_sip_guard {
	const struct sb_config *const *cfg; /* the daemon's current snapshot (seen at each use) */
	msg_mclass_t *mclass;               /* sofia's SIP class with the screening first lines */
	int udp[SB_GUARD_MAX_SOCKETS], tcp[SB_GUARD_MAX_SOCKETS]; /* sofia's listening sockets */
	unsigned n_udp, n_tcp;
	uint16_t port;        /* the SIP listen port (udp/tcp) */
	uint16_t tls_port;    /* the SIP TLS listen port, 0 when none */
	int diag;             /* NETLINK_SOCK_DIAG socket for the janitor, or -1 */
	bool diag_unfiltered; /* the kernel refused the janitor's port filter */
	su_timer_t *janitor;
	struct sb_seen_conn *seen; /* the last pass's connections, by cookie */
	size_t n_seen;
	struct sb_rate_limit *rejects; /* stateless refusals per source: sip.reject_rate */
	struct sb_dialog_peers peers;  /* the bridge's dialogs with agents: their requests pass */
	struct sb_cidr *tcp_peers;     /* the TCP agents' addresses the TCP filters admit */
	size_t n_tcp_peers;            /* ... and how many */
	char tag[12];                  /* To tags of stateless replies: this plus a counter */
	uint32_t tag_seq;
};

/* sip_guard.c. Thread: control, before nua_create(). Prepares the message class nua is to
 * parse with (NTATAG_MCLASS): every request's first line is screened while it is parsed,
 * and the table that bounds each source's stateless refusals (sip.reject_rate). cfg points
 * at the daemon's current configuration pointer. Returns 0 or -ENOMEM. Only one guard
 * exists at a time. */
int sb_sip_guard_init(struct sb_sip_guard *g, const struct sb_config *const *cfg);
/* sip_guard.c. Thread: control, after nua_create(). Finds sofia's SIP sockets, attaches the
 * ACL socket filters and starts the janitor on root. Failures are logged and leave that
 * part of the guard off. */
void sb_sip_guard_start(struct sb_sip_guard *g, su_root_t *root);
/* sip_guard.c. Thread: control. (Re)builds the TCP sockets' ACL filters from the current
 * configuration and the agents' addresses: at start-up, and after a reload that may have
 * changed the trunks' ACLs. A filter that cannot be attached is removed and logged. */
void sb_sip_guard_refilter(struct sb_sip_guard *g);
/* sip_guard.c. Thread: control, after nua_destroy(). Releases everything. */
void sb_sip_guard_done(struct sb_sip_guard *g);
/* sip_guard.c. Thread: control. The bridge's own dialog call_id (copied; the one it opened to
 * a bridged transfer's agent) has its peer at sa (where its responses come from; stream: over
 * TCP or TLS): from there (any port) a request naming that Call-ID passes the ACL check, and
 * over TCP the peer may connect, until sb_sip_guard_forget_dialog(). A later sa replaces the
 * first. At most limits.max_calls dialogs (a call has one transfer at a time). Returns 0 or a
 * negative errno, logged. */
int sb_sip_guard_allow_dialog(struct sb_sip_guard *g, const char *call_id,
                              const struct sockaddr *sa, bool stream);
/* sip_guard.c. Thread: control. The dialog call_id's peer is refused again (as anyone outside
 * the ACLs). A Call-ID not allowed is ignored. */
void sb_sip_guard_forget_dialog(struct sb_sip_guard *g, const char *call_id);

/* What became of a stateless answer. */
enum sb_guard_reply {
	SB_GUARD_REPLY_SENT,
	SB_GUARD_REPLY_NONE,    /* no status, no socket, or no reply could be built from raw */
	SB_GUARD_REPLY_LIMITED, /* the source is over sip.reject_rate */
};

/* sip_guard.c. Thread: control, in a parse function. Answers msg (being parsed) without the
 * stack with status (0: no answer), built from the request text raw[0..len) (borrowed): to
 * the datagram's source over UDP (never to a Via host, so a forged Via cannot aim it
 * elsewhere), or on the connection over TCP (stream), which is then shut down so sofia
 * closes it. A source over sip.reject_rate gets no answer; its connection is closed all the
 * same. */
enum sb_guard_reply sb_sip_guard_respond(struct sb_sip_guard *g, msg_t *msg, const char *raw,
                                         size_t len, int status, const char *reason, bool stream);

/* sip_guard.c. Whether msg came over a stream (TCP or TLS) rather than in a datagram. */
bool sb_sip_guard_is_stream(msg_t *msg);

/* sip_guard_headers.c. The request line as the guard's message class allocates it (its class's
 * hc_size): sofia's, then the count of the request's header lines parsed so far, kept while a
 * request's header section comes over a stream in several reads. */
struct sb_guard_request {
	sip_request_t rq;
	unsigned lines;    /* header lines parsed since the request line */
	bool counting;     /* the header section is still coming: each line is counted */
	bool sized;        /* over a stream: its size is bounded by the guard (sip_guard_size.c) */
	bool section_seen; /* ... and the end of its header section has been received */
};

/* sip_guard_headers.c. Thread: control, from sb_sip_guard_init(). Has g->mclass (replaced by
 * a copy, the old one freed) count a request's header lines as each is parsed, against
 * sip.max_headers, when its header section comes in several reads. Returns 0 or -ENOMEM
 * (g->mclass is then unchanged). */
int sb_sip_guard_headers_init(struct sb_sip_guard *g);
/* sip_guard_headers.c. Thread: control. Forgets g (sb_sip_guard_done()). */
void sb_sip_guard_headers_done(struct sb_sip_guard *g);
/* sip_guard_headers.c. Thread: control, parsing msg's request line rq (not parsed yet, of the
 * guard's request class). Counts its header lines as far as they have come: over
 * sip.max_headers, the request gets a stateless 400 and -EMSGSIZE is returned (the parse is
 * to fail). Over a stream (TCP, TLS) before the end of the header section, each later line is
 * counted as it is parsed, and the request refused the same way once over the limit. Returns
 * 0 otherwise. */
int sb_sip_guard_header_limit(struct sb_sip_guard *g, msg_t *msg, msg_header_t *rq, bool stream);

/* sip_guard_headers.c. Thread: control. Writes into text[0..size) a request with msg's method
 * and the raw lines (extract copy mode) of the headers a stateless reply echoes that have come
 * so far (the topmost Vias that fit), for sb_sip_guard_respond(). Returns its length. */
size_t sb_sip_guard_counted_text(msg_t *msg, const char *method, char *text, size_t size);

/* sip_guard_size.c. Thread: control, from sb_sip_guard_init() and sb_sip_guard_done(). */
void sb_sip_guard_size_init(struct sb_sip_guard *g);
void sb_sip_guard_size_done(struct sb_sip_guard *g);
/* sip_guard_size.c. Thread: control, from sb_sip_guard_start(). Bounds the kernel's receive
 * buffer of the TCP and TLS connections (inherited from g->tcp, the listening sockets) to about
 * sip.max_message_bytes, so that one read of the stack never brings much more than that. */
void sb_sip_guard_size_sockets(struct sb_sip_guard *g);
/* sip_guard_size.c. Thread: control, parsing the request line c (parsed) of msg, which came
 * over a stream (TCP, TLS). From here the guard bounds the request's size by
 * sip.max_message_bytes instead of the stack, which would close the connection without a
 * word: the stack's own bound on msg is raised to twice that and 16 KiB (room for the request
 * so far and one read after it), and msg is watched so that a connection the stack still
 * closes for size is counted and logged. */
void sb_sip_guard_size_start(struct sb_sip_guard *g, msg_t *msg, struct sb_guard_request *c);
/* sip_guard_size.c. Thread: control, parsing the status line of msg, a response that came over
 * a stream. Its size stays bounded by the stack (sip.max_message_bytes); msg is watched so that
 * a connection the stack closes for its size is counted and logged. */
void sb_sip_guard_size_response(msg_t *msg);
/* sip_guard_size.c. Thread: control, parsing a header line of msg while its request line c
 * counts them. When what has come of the request exceeds sip.max_message_bytes without the end
 * of its header section, the request gets a stateless 413 and its connection is closed:
 * returns -EMSGSIZE (the parse is to fail). Returns 0 otherwise. */
int sb_sip_guard_size_line(struct sb_sip_guard *g, msg_t *msg, struct sb_guard_request *c);
/* sip_guard_size.c. Thread: control, parsing the empty line (sep_len bytes) that ends msg's
 * header section, its request line being c. When the header section and the body its
 * Content-Length announces exceed sip.max_message_bytes, the request gets a stateless 413 at
 * once (the body is never read) and its connection is closed: returns -EMSGSIZE. */
int sb_sip_guard_size_section(struct sb_sip_guard *g, msg_t *msg, struct sb_guard_request *c,
                              size_t sep_len);

/* Thread: control. Whether a local port is one of the SIP listen ports. */
static inline bool sb_sip_guard_port(const struct sb_sip_guard *g, uint16_t port)
{
	return port == g->port || (g->tls_port && port == g->tls_port);
}

/* sip_guard_tcp.c. Thread: any. Calls fn(fd, arg) for each open descriptor of the process
 * until it returns false. */
void sb_sip_guard_each_fd(bool (*fn)(int fd, void *arg), void *arg);
/* sip_guard_tcp.c. Thread: control. The TCP socket of the connection from peer to our SIP
 * port, or -1. Walks the process's descriptors: for rare events only. */
int sb_sip_guard_find_stream(const struct sb_sip_guard *g, const struct sockaddr *peer);
/* sip_guard_tcp.c. Thread: control. Sends reply (may be NULL) on fd, best effort, and shuts
 * the connection down both ways: sofia sees the hang-up and closes it. */
void sb_sip_guard_end_stream(int fd, const char *reply, size_t len);
/* sip_guard_tcp.c. Thread: control. Opens the netlink socket and arms the janitor, which
 * every second closes SIP TCP connections whose peer has closed them, those idle for
 * sip.tcp_idle_s and those beyond sip.tcp_max_per_source. Returns 0 or a negative errno. */
int sb_sip_guard_start_janitor(struct sb_sip_guard *g, su_root_t *root);
/* sip_guard_tcp.c. Thread: control. One janitor pass (also run by the timer). */
void sb_sip_guard_sweep(struct sb_sip_guard *g);

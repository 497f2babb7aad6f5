/* The guard's bound on the size of a request that comes over a stream (TCP, TLS):
 * sip.max_message_bytes, answered with a stateless 413 and the connection closed, where the
 * stack would close it without a word. Datagrams keep the stack's own 413. Responses over a
 * stream keep the stack's bound, but a close for their size is counted and logged. Thread:
 * control. Owns nothing but the pointer to the guard its message destructor needs.
 *
 * DESIGN: the stack bounds a message by refusing to grow its receive buffer past the limit
 * (msg_buf_exact() sets MSG_FLG_TOOLARGE and fails): before the data that would take it over is
 * read, so before any parse function could see it, and the transport then closes the connection
 * and reports the error to no one who can answer. So over a stream the stack's bound on the
 * message is raised to twice the limit and 16 KiB when its request line is parsed, and the
 * guard applies the limit itself on what it parses: the end of the header section gives its
 * size and the body its Content-Length announces (case 1, refused before the body is read); a
 * header line parsed while the section is still coming (counted by sip_guard_headers.c) tells
 * how much has come, and when that is over the limit with no end of the section among it, the
 * section alone is too large (case 2). Each read of the stack takes all that waits on the
 * socket into the message being received, or fails (and the connection is closed) if that is
 * past its bound: so the kernel's receive buffer of every connection is bounded to about the
 * limit (set on the listening sockets, which connections inherit), and the raised bound always
 * has room for the request so far and one read (TLS: a record), even when requests sent back to
 * back wait. Should a read still take a message past the raised bound, the stack closes the
 * connection itself, and the guard's watch on the message (a home inside the message's, whose
 * destructor runs while the message is destroyed: its headers and buffer may be freed by then,
 * but the msg_t, with its flags and address, is freed last) finds MSG_FLG_TOOLARGE on a message
 * never completed, and counts and logs it (case 3; no answer is possible, the socket is gone by
 * then). A response is watched the same way from its status line. A message whose first line
 * alone is over the limit is parsed by nothing of the guard before the stack closes it, and
 * goes uncounted; and the message after a request on a connection is made by the stack
 * (msg_next()) with no bound at all until its request line is parsed, so a first line that
 * never ends there is not bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_SUBSYS "guard"
#include <sb/log.h>

#include <sb/metrics.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_protos.h>

#include <sb/rtp_session.h>
#include <sb/sip_reply.h>

#include "sip_guard.h"

/* What one read of a connection may bring beyond the limit: a TLS record (the stack decrypts
 * 16 KiB at most a read), the kernel's accounting and the stack's rounding of its buffer. */
#define READ_SLACK 16384

/* The destructor of the messages the guard watches takes no argument: the one guard. */
static struct sb_sip_guard *size_guard;

static int limit_of(const struct sb_sip_guard *g)
{
	/* not reloaded: the stack keeps the value it was created with, and so does the guard */
	return (*g->cfg)->max_message_bytes;
}

static const char *source(msg_t *msg, char *ip, size_t size)
{
	return sb_sockaddr_text((const struct sockaddr *)msg_addr(msg), ip, size);
}

/* The stateless 413 for msg, from text[0..len) (a request's text; len 0: no reply possible),
 * and the connection closed. what tells what took it over the limit, for the log. */
static void refuse(struct sb_sip_guard *g, msg_t *msg, const char *text, size_t len,
                   const char *what)
{
	char ip[INET6_ADDRSTRLEN];
	enum sb_guard_reply r;

	SB_METRIC_INC(sip_guard_refused_total, SB_M_GUARD_TOO_LARGE);
	r = sb_sip_guard_respond(g, msg, text, len, 413, "Request Entity Too Large", true);
	SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_BAD);
	log_notice_ratelimited("Request from %s over sip.max_message_bytes = %d (%s), %s",
	                       source(msg, ip, sizeof(ip)), limit_of(g), what,
	                       r == SB_GUARD_REPLY_SENT ? "413" : "closed without an answer");
}

/* A watch on a message: a home of its own inside the message's, deinitialised (its
 * destructor run) when the message is destroyed, while the message is still whole. */
struct watch {
	su_home_t home;
	msg_t *msg;
	bool request; /* else a response, whose size the stack alone bounds */
};

/* The stack closed the connection of a message it found too large while reading it (its
 * receive buffer would have grown past the bound): it was never completed nor refused by the
 * guard, which marks what it refuses complete. */
static void on_msg_gone(void *arg)
{
	const struct watch *w = arg;
	msg_t *msg = w->msg; /* being destroyed: its own struct (flags, address) still whole */
	const unsigned mask = MSG_FLG_TOOLARGE | MSG_FLG_COMPLETE | MSG_FLG_TIMEOUT;
	char ip[INET6_ADDRSTRLEN];

	if (!size_guard || msg_get_flags(msg, mask) != MSG_FLG_TOOLARGE)
		return;
	SB_METRIC_INC(sip_guard_refused_total, SB_M_GUARD_TOO_LARGE);
	SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_BAD);
	if (w->request)
		log_notice_ratelimited(
		        "Request from %s over sip.max_message_bytes = %d (too much of it in one "
		        "read), closed by the SIP stack without an answer",
		        source(msg, ip, sizeof(ip)), limit_of(size_guard));
	else
		log_notice_ratelimited(
		        "Response from %s over sip.max_message_bytes = %d, closed by the SIP stack",
		        source(msg, ip, sizeof(ip)), limit_of(size_guard));
}

/* Watches msg: on_msg_gone() runs when it is destroyed. Without memory it goes unwatched (a
 * close by the stack would go uncounted). */
static void watch(msg_t *msg, bool request)
{
	struct watch *w = su_home_clone(msg_home(msg), sizeof(*w));

	if (!w)
		return;
	w->msg = msg;
	w->request = request;
	su_home_destructor(&w->home, on_msg_gone);
}

void sb_sip_guard_size_init(struct sb_sip_guard *g)
{
	size_guard = g;
}

void sb_sip_guard_size_done(struct sb_sip_guard *g)
{
	if (size_guard == g)
		size_guard = NULL;
}

void sb_sip_guard_size_sockets(struct sb_sip_guard *g)
{
	int half = limit_of(g) / 2; /* the kernel doubles it: about the limit waits unread */

	for (unsigned i = 0; i < g->n_tcp; i++)
		if (setsockopt(g->tcp[i], SOL_SOCKET, SO_RCVBUF, &half, sizeof(half)) < 0)
			log_warn_errno(-errno,
			               "Cannot bound the SIP TCP connections' receive buffer "
			               "to sip.max_message_bytes, ignoring: requests sent back "
			               "to back may have their connection closed");
}

void sb_sip_guard_size_start(struct sb_sip_guard *g, msg_t *msg, struct sb_guard_request *c)
{
	c->sized = true;
	c->section_seen = false;
	/* The request so far (the guard keeps it within the limit) and one read more: a bound any
	 * lower closes the connection of requests sent back to back, when the read after this one
	 * brings more of them than the room left. */
	msg_maxsize(msg, 2 * (usize_t)limit_of(g) + READ_SLACK);
	/* The stack flags a new message too large when its first read finds more waiting than
	 * the bound allows (rounded up to its buffer's granularity: a message of the limit sent
	 * whole, or requests sent back to back), then reads 4 KiB of it all the same, and would
	 * answer 413 once it is complete. The guard judges the size from here on. */
	msg_zap_flags(msg, MSG_FLG_TOOLARGE);
	watch(msg, true);
}

void sb_sip_guard_size_response(msg_t *msg)
{
	watch(msg, false);
}

int sb_sip_guard_size_line(struct sb_sip_guard *g, msg_t *msg, struct sb_guard_request *c)
{
	/* what has come: the lines parsed, and from this one on what is still to be parsed */
	const char *rest = msg_buf_committed_data(msg);
	size_t n = msg_buf_committed(msg);
	char text[SB_SIP_REPLY_MAX];

	if (!c->sized || c->section_seen || (uint64_t)msg_size(msg) + n <= (uint64_t)limit_of(g))
		return 0;
	/* Pipelined requests may follow this one: over the limit only if its section goes on. */
	if (rest && (memmem(rest, n, "\n\r\n", 3) || memmem(rest, n, "\n\n", 2))) {
		c->section_seen = true; /* the section's end decides, once it is parsed */
		return 0;
	}
	refuse(g, msg, text,
	       sb_sip_guard_counted_text(msg, c->rq.rq_method_name, text, sizeof(text)),
	       "its header section");
	return -EMSGSIZE;
}

/* Appends h (may be NULL) encoded to text[*len..size); false when it does not fit. */
static bool append(char *text, size_t size, size_t *len, const msg_header_t *h)
{
	issize_t n;

	if (!h)
		return true;
	n = msg_header_e(text + *len, (isize_t)(size - *len), h, 0);
	if (n < 0 || (size_t)n >= size - *len)
		return false;
	*len += (size_t)n;
	return true;
}

/* A request with msg's method and the parsed headers a stateless reply echoes: the topmost
 * Vias that fit with From, To, Call-ID and CSeq. Encoded from what the stack parsed, since
 * its parse writes over the raw text. Returns its length, 0 when it does not fit. */
static size_t parsed_text(msg_t *msg, const char *method, char *text, size_t size)
{
	sip_t *sip = sip_object(msg);
	const msg_header_t *ids[] = {(msg_header_t *)sip->sip_from, (msg_header_t *)sip->sip_to,
	                             (msg_header_t *)sip->sip_call_id,
	                             (msg_header_t *)sip->sip_cseq};
	char tail[SB_SIP_REPLY_MAX];
	size_t len = 0, tail_len = 0;
	unsigned vias = 0;
	int n;

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		if (!append(tail, sizeof(tail), &tail_len, ids[i]))
			return 0;
	n = snprintf(text, size, "%s sip:x SIP/2.0\r\n", method);
	if (n < 0 || (size_t)n + tail_len >= size)
		return 0;
	len = (size_t)n;
	for (const sip_via_t *v = sip->sip_via; v && vias < SB_SIP_REPLY_VIAS;
	     v = v->v_next, vias++)
		if (!append(text, size - tail_len, &len, (const msg_header_t *)v))
			break;
	memcpy(text + len, tail, tail_len);
	return len + tail_len;
}

int sb_sip_guard_size_section(struct sb_sip_guard *g, msg_t *msg, struct sb_guard_request *c,
                              size_t sep_len)
{
	sip_t *sip = sip_object(msg);
	/* the header section, its empty line included */
	uint64_t head = (uint64_t)msg_size(msg) + sep_len;
	uint64_t body = sip && sip->sip_content_length ? sip->sip_content_length->l_length : 0;
	char text[SB_SIP_REPLY_MAX];

	if (!c->sized || head + body <= (uint64_t)limit_of(g))
		return 0;
	refuse(g, msg, text, parsed_text(msg, c->rq.rq_method_name, text, sizeof(text)),
	       body ? "its header section and the body its Content-Length announces"
	            : "its header section");
	return -EMSGSIZE;
}

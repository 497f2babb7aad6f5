/* The guard's bound on a request's header lines (sip.max_headers): the SIP parser's cost grows
 * faster than the header count, so a request over it gets a stateless 400 and goes no
 * further, whether it came whole or in pieces (over TCP or TLS, several reads). Thread:
 * control. Owns the message class's header-section end (the separator's class).
 *
 * DESIGN: a request that has come whole (a datagram, or a read holding its header section) is
 * counted on its raw text when its request line is parsed, before any header is. Over a
 * stream, sofia parses the request line as soon as it has come and each header line as it
 * arrives, calling nothing of ours between them: named header classes cannot be replaced in a
 * cloned message class (nta finds a header's place by its class's address), but the end of
 * the header section, like the first lines, is found by hash and can be. So the request
 * line's check puts a request whose header section has not ended into sofia's "extract copy"
 * mode, in which each parsed header keeps its raw line (sh_data; sh_len is 0 for the second
 * and later fields of a comma-separated line), and the section's end counts those lines
 * however the reads cut them, and builds the refusal from them as from a whole request. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_SUBSYS "guard"
#include <sb/log.h>

#include <sb/metrics.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_protos.h>

#include <sb/rtp_session.h>
#include <sb/sip_reply.h>

#include "sip_guard.h"

/* The class's parse function takes no argument: the one guard is found here. */
static struct sb_sip_guard *hdr_guard;
static struct msg_hclass_s separator_class[1];
static const struct msg_hclass_s *sofia_separator;

/* The stateless 400 for a request over sip.max_headers; raw[0..len) is its text. */
static void refuse(struct sb_sip_guard *g, msg_t *msg, const char *raw, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	bool stream = sb_sip_guard_is_stream(msg);

	SB_METRIC_INC(sip_guard_refused_total, SB_M_GUARD_TOO_MANY_HEADERS);
	sb_sip_guard_respond(g, msg, raw, len, 400, "Too Many Headers", stream);
	if (stream) /* the rest of the request would be read as another: the connection ends */
		SB_METRIC_INC(sip_tcp_closed_total, SB_M_TCPCLOSE_BAD);
	log_notice_ratelimited(
	        "Request from %s with over sip.max_headers = %d header lines, 400",
	        sb_sockaddr_text((const struct sockaddr *)msg_addr(msg), ip, sizeof(ip)),
	        (*g->cfg)->max_headers);
}

int sb_sip_guard_header_limit(struct sb_sip_guard *g, msg_t *msg, bool stream)
{
	const char *raw = msg_buf_committed_data(msg);
	size_t len = msg_buf_committed(msg);
	unsigned limit = (unsigned)(*g->cfg)->max_headers;
	bool ended = true;

	if (raw && sb_sip_header_lines(raw, len, limit, &ended) > limit) {
		refuse(g, msg, raw, len);
		return -EMSGSIZE;
	}
	if (stream && !ended)
		msg_set_flags(msg, MSG_FLG_EXTRACT_COPY); /* counted again at the section's end */
	return 0;
}

/* The header lines parsed so far (in extract copy mode), stopping at limit + 1. */
static unsigned parsed_lines(msg_t *msg, unsigned limit)
{
	msg_header_t **head = msg_chain_head(msg);
	unsigned n = 0;

	for (msg_header_t *h = head && *head ? (*head)->sh_succ : NULL; h && n <= limit;
	     h = h->sh_succ)
		if (h->sh_data && h->sh_len)
			n++;
	return n;
}

/* Refuses msg, whose header lines are in its chain: its text is rebuilt from them (at most
 * sip.max_message_bytes) behind a request line with its method, which is all the reply takes
 * of that line. Without memory for it, the connection is closed without a reply. */
static void refuse_parsed(struct sb_sip_guard *g, msg_t *msg, const char *method)
{
	msg_header_t **head = msg_chain_head(msg), *h;
	size_t len = strlen(method) + sizeof(" sip:x SIP/2.0\r\n"), n;
	char *text;

	for (h = (*head)->sh_succ; h; h = h->sh_succ)
		len += h->sh_data ? h->sh_len : 0;
	text = malloc(len);
	if (!text) {
		refuse(g, msg, NULL, 0);
		return;
	}
	n = (size_t)snprintf(text, len, "%s sip:x SIP/2.0\r\n", method);
	for (h = (*head)->sh_succ; h; h = h->sh_succ) {
		if (h->sh_data && h->sh_len) {
			memcpy(text + n, h->sh_data, h->sh_len);
			n += h->sh_len;
		}
	}
	refuse(g, msg, text, n);
	free(text);
}

/* The empty line ending a header section: a request whose header lines were counted only as
 * far as they had come when its request line was parsed is counted whole here. */
static issize_t parse_separator(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	msg_t *msg = (msg_t *)home; /* sofia parses a separator only into its message */
	struct sb_sip_guard *g = hdr_guard;
	sip_t const *sip = g ? sip_object(msg) : NULL;

	if (sip && sip->sip_request && sip->sip_request->rq_method_name &&
	    msg_get_flags(msg, MSG_FLG_EXTRACT_COPY) &&
	    parsed_lines(msg, (unsigned)(*g->cfg)->max_headers) >
	            (unsigned)(*g->cfg)->max_headers) {
		refuse_parsed(g, msg, sip->sip_request->rq_method_name);
		return -1; /* an error: the message goes no further */
	}
	return sofia_separator->hc_parse(home, h, s, slen);
}

void sb_sip_guard_headers_init(struct sb_sip_guard *g)
{
	sofia_separator = g->mclass->mc_separator->hr_class;
	*separator_class = *sofia_separator;
	separator_class->hc_parse = parse_separator;
	g->mclass->mc_separator->hr_class = separator_class;
	hdr_guard = g;
}

void sb_sip_guard_headers_done(struct sb_sip_guard *g)
{
	if (hdr_guard == g)
		hdr_guard = NULL;
}

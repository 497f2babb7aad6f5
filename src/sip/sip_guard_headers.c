/* The guard's bound on a request's header lines (sip.max_headers): the SIP parser's cost grows
 * faster than the header count, so a request over it gets a stateless 400 and goes no
 * further, whether it came whole or in pieces (over TCP or TLS, several reads). Thread:
 * control. Owns the copies of the message class's header classes that count the lines.
 *
 * DESIGN: a request that has come whole (a datagram, or a read holding its header section) is
 * counted on its raw text when its request line is parsed, before any header is. Over a
 * stream, sofia parses the request line as soon as it has come and each header line as it
 * arrives, in later reads, calling only the header classes' parse functions. So every header
 * class of the message class is copied with a parse function that counts the line in the
 * request line's own structure (struct sb_guard_request) and refuses the request on the line
 * over the limit, which ends the parse at once: the cost stays that of the limit, never of
 * the lines sent, and the connection holds no state but that count. A copy is found by name
 * before its original (the hash table holds both, the copy first in the original's probe
 * sequence), while a lookup by the original class (sip_via(), msg_header_insert()) still finds
 * the original, at the same place. The unnamed unknown-header class is matched by its hash
 * value and is simply replaced. While counting, the request is parsed in sofia's "extract
 * copy" mode, in which each header keeps its raw line (sh_data), so the refusal is built from
 * the raw lines that came, as from a whole request. Lines with no valid header name are
 * parsed by no class: they are counted at the end of the header section. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
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

/* Counting copies of header classes at most (sofia's SIP message class has fewer than 100). */
#define MAX_COUNTED 160

_Static_assert(sizeof(struct sb_guard_request) <= UCHAR_MAX, "hc_size is an unsigned char");

/* The class's parse functions take no argument: the one guard is found here. */
static struct sb_sip_guard *hdr_guard;
static struct msg_hclass_s separator_class[1];
static const struct msg_hclass_s *sofia_separator;
static struct msg_hclass_s counted[MAX_COUNTED];         /* the copies that count */
static const struct msg_hclass_s *original[MAX_COUNTED]; /* ... and sofia's class of each */
static size_t n_counted;
static bool uncounted; /* a class got no copy: MAX_COUNTED is too small */
static msg_href_t short_forms[MC_SHORT_SIZE];

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

int sb_sip_guard_header_limit(struct sb_sip_guard *g, msg_t *msg, msg_header_t *rq, bool stream)
{
	const char *raw = msg_buf_committed_data(msg);
	size_t len = msg_buf_committed(msg);
	unsigned limit = (unsigned)(*g->cfg)->max_headers;
	struct sb_guard_request *c = (struct sb_guard_request *)rq;
	bool ended = true;

	c->lines = 0;
	c->counting = false;
	if (raw && sb_sip_header_lines(raw, len, limit, &ended) > limit) {
		refuse(g, msg, raw, len);
		return -EMSGSIZE;
	}
	if (stream && !ended) {
		msg_set_flags(msg, MSG_FLG_EXTRACT_COPY); /* raw lines kept for the refusal */
		c->counting = true;
	}
	return 0;
}

/* Sofia's class of hc: hc itself, or the original of one of the counting copies. */
static msg_hclass_t *sofia_class(msg_hclass_t *hc)
{
	uintptr_t p = (uintptr_t)hc, first = (uintptr_t)counted;

	if (p >= first && p < first + n_counted * sizeof(counted[0]))
		return original[(p - first) / sizeof(counted[0])];
	return hc;
}

/* Whether the stateless reply echoes headers of class hc, and a Via's. */
static bool echoed(msg_hclass_t *hc, bool *via)
{
	*via = hc == sip_via_class;
	return *via || hc == sip_from_class || hc == sip_to_class || hc == sip_call_id_class ||
	       hc == sip_cseq_class;
}

size_t sb_sip_guard_counted_text(msg_t *msg, const char *method, char *text, size_t size)
{
	msg_header_t **head = msg_chain_head(msg);
	unsigned vias = 0;
	bool via, vias_done = false;
	int n = snprintf(text, size, "%s sip:x SIP/2.0\r\n", method);
	size_t len = n > 0 && (size_t)n < size ? (size_t)n : 0;

	for (msg_header_t *h = head && *head ? (*head)->sh_succ : NULL; h && len; h = h->sh_succ) {
		if (!h->sh_data || !h->sh_len || !echoed(sofia_class(h->sh_class), &via))
			continue;
		if (via && (vias_done || vias == SB_SIP_REPLY_VIAS))
			continue;
		if (h->sh_len > size - len) {
			vias_done = vias_done || via; /* no Via below a missing one */
			continue;
		}
		memcpy(text + len, h->sh_data, h->sh_len);
		len += h->sh_len;
		vias += via;
	}
	return len;
}

/* Refuses msg, whose header lines so far are in its chain with their raw text (extract copy
 * mode), with a reply built from them. The headers it needs that have not come yet leave the
 * request without a reply. */
static void refuse_counted(struct sb_sip_guard *g, msg_t *msg, const char *method)
{
	char text[SB_SIP_REPLY_MAX];

	refuse(g, msg, text, sb_sip_guard_counted_text(msg, method, text, sizeof(text)));
}

/* msg's request line as the guard's class allocated it, else NULL (a response, a message the
 * bridge builds). */
static struct sb_guard_request *guard_request(struct sb_sip_guard *g, msg_t *msg)
{
	sip_t *sip = sip_object(msg);
	sip_request_t *rq = sip ? sip->sip_request : NULL;

	if (!rq || rq->rq_common->h_class != g->mclass->mc_request->hr_class)
		return NULL;
	return (struct sb_guard_request *)rq;
}

/* msg's request line while its header lines are being counted, else NULL (a response, a
 * message the bridge builds, a request that came whole or whose header section has ended). */
static struct sb_guard_request *counting(struct sb_sip_guard *g, msg_t *msg)
{
	struct sb_guard_request *c = guard_request(g, msg);

	return c && c->counting ? c : NULL;
}

/* One header line of msg, counted if its request's header section is being counted. Over
 * sip.max_headers, or once what has come of it is over sip.max_message_bytes, the request is
 * refused and its parse ends here: returns -1. */
static int count_line(struct sb_sip_guard *g, msg_t *msg)
{
	struct sb_guard_request *c = counting(g, msg);

	if (!c)
		return 0;
	if (++c->lines > (unsigned)(*g->cfg)->max_headers)
		refuse_counted(g, msg, c->rq.rq_method_name);
	else if (sb_sip_guard_size_line(g, msg, c) == 0)
		return 0;
	c->counting = false;
	msg_mark_as_complete(msg, MSG_FLG_ERROR); /* the parse stops before the next line */
	return -1;
}

/* The parse function of every counting copy: counts the line, then has sofia's class parse
 * it. h gets sofia's class back, so that what is done with it later finds the original. */
static issize_t parse_counted(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	msg_hclass_t *hc = sofia_class(h->sh_class);

	h->sh_common->h_class = hc;
	/* The stack parses the lines a message class finds into their message's home, which is
	 * the message (msg_header_d(), which takes any home, is used by neither it nor us). */
	if (hdr_guard && count_line(hdr_guard, (msg_t *)home) < 0)
		return -1;
	return hc->hc_parse(home, h, s, slen);
}

/* A header of a list kind parsed in extract copy mode into a list already present keeps the
 * class it was allocated with: the counting copy. Sofia's class is put back on each. */
static void restore_classes(msg_t *msg)
{
	msg_header_t **head = msg_chain_head(msg);

	for (msg_header_t *h = head ? *head : NULL; h; h = h->sh_succ)
		h->sh_common->h_class = sofia_class(h->sh_class);
}

/* The header lines of msg in its chain (extract copy mode), stopping at limit + 1: those no
 * class parsed (no valid name) among them, which count_line() never saw. */
static unsigned chained_lines(msg_t *msg, unsigned limit)
{
	msg_header_t **head = msg_chain_head(msg);
	unsigned n = 0;

	for (msg_header_t *h = head && *head ? (*head)->sh_succ : NULL; h && n <= limit;
	     h = h->sh_succ)
		if (h->sh_data && h->sh_len)
			n++;
	return n;
}

/* The empty line ending a header section: a request counted line by line is complete, but
 * for the lines without a header name, counted here; and a request over a stream is checked
 * against sip.max_message_bytes with the body it announces, before that is read. */
static issize_t parse_separator(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	msg_t *msg = (msg_t *)home; /* sofia parses a separator only into its message */
	struct sb_sip_guard *g = hdr_guard;
	struct sb_guard_request *c = g ? guard_request(g, msg) : NULL;
	unsigned limit;

	if (c && c->counting) {
		c->counting = false;
		restore_classes(msg);
		limit = (unsigned)(*g->cfg)->max_headers;
		if (chained_lines(msg, limit) > limit) {
			refuse_counted(g, msg, c->rq.rq_method_name);
			return -1; /* an error: the message goes no further */
		}
	}
	if (c && sb_sip_guard_size_section(g, msg, c, (size_t)slen) < 0)
		return -1;
	return sofia_separator->hc_parse(home, h, s, slen);
}

/* The copy of hc that counts, or NULL when there is no room for another. */
static msg_hclass_t *counting_copy(msg_hclass_t *hc)
{
	for (size_t i = 0; i < n_counted; i++)
		if (original[i] == hc)
			return &counted[i];
	if (n_counted == MAX_COUNTED) {
		uncounted = true;
		return NULL;
	}
	counted[n_counted] = *hc;
	counted[n_counted].hc_parse = parse_counted;
	original[n_counted] = hc;
	return &counted[n_counted++];
}

/* Puts hr in mc's hash table at the first free place of its probe sequence. */
static void insert(msg_mclass_t *mc, const msg_href_t *hr)
{
	unsigned n = (unsigned)mc->mc_hash_size;

	for (unsigned j = (unsigned)hr->hr_class->hc_hash % n;; j = (j + 1) % n) {
		if (!mc->mc_hash[j].hr_class) {
			mc->mc_hash[j] = *hr;
			mc->mc_hash_used++;
			return;
		}
	}
}

int sb_sip_guard_headers_init(struct sb_sip_guard *g)
{
	const msg_mclass_t *old = g->mclass;
	/* twice the entries, in a table kept under half full as sofia's own */
	msg_mclass_t *mc = msg_mclass_clone(old, 4 * old->mc_hash_used + 1, 1);

	if (!mc)
		return -ENOMEM;
	n_counted = 0;
	uncounted = false;
	mc->mc_hash_used = 0;
	for (short i = 0; i < old->mc_hash_size; i++) {
		msg_href_t hr = old->mc_hash[i];

		if (!hr.hr_class)
			continue;
		hr.hr_class = counting_copy(old->mc_hash[i].hr_class);
		if (hr.hr_class)
			insert(mc, &hr); /* the copy first: found by name before its original */
		insert(mc, &old->mc_hash[i]);
	}
	if (old->mc_short) { /* compact forms (v, f, ...): their own table, not hashed */
		memcpy(short_forms, old->mc_short, sizeof(short_forms));
		for (size_t i = 0; i < MC_SHORT_SIZE; i++)
			if (short_forms[i].hr_class && counting_copy(short_forms[i].hr_class))
				short_forms[i].hr_class = counting_copy(short_forms[i].hr_class);
		mc->mc_short = short_forms;
	}
	if (counting_copy(old->mc_unknown->hr_class)) /* matched by its hash value */
		mc->mc_unknown->hr_class = counting_copy(old->mc_unknown->hr_class);
	sofia_separator = old->mc_separator->hr_class;
	*separator_class = *sofia_separator;
	separator_class->hc_parse = parse_separator;
	mc->mc_separator->hr_class = separator_class;
	free(g->mclass); /* msg_mclass_clone() allocates with malloc() */
	g->mclass = mc;
	hdr_guard = g;
	if (uncounted)
		log_warn("Over %d SIP header classes: the lines of some are not counted against "
		         "sip.max_headers as they come over TCP",
		         MAX_COUNTED);
	log_debug("SIP guard: %zu header classes count their lines", n_counted);
	return 0;
}

void sb_sip_guard_headers_done(struct sb_sip_guard *g)
{
	if (hdr_guard == g)
		hdr_guard = NULL;
}

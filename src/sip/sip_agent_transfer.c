/* Transfers on the control thread: a blind REFER in the caller's dialog (transfer_mode
 * "refer"), or the bridge dialling the agent itself and relaying the audio ("bridge"), at the
 * bot's request or when the bot is gone (on_close / on_fail = transfer); the NOTIFYs or the
 * agent's answer, the deadline, and what a failure does: the bot is told and keeps the call,
 * or the call ends (on_transfer_fail = "hangup", or no bot to tell). While the agent's dialog
 * lasts, the SIP guard lets its requests through even from outside the ACLs. An agent named
 * by a host name with a port is dialled once the resolver has answered (sip_agent_dns.c).
 * Thread: control. Owns each call's transfer record and the agent's nua handle. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_SUBSYS "xfer"
#include <sb/log.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include <sb/media_worker.h>
#include <sb/msg.h>
#include <sb/rtp_session.h>
#include <sb/ws_worker.h>

#include "sip_agent_priv.h"

#define HEADER_TEXT_MAX 1024 /* the kept headers as "Name: value\r\n" lines */
#define SDP_MAX 1024
#define REFER_TO_MAX (SB_TRANSFER_URI_MAX * 3 + HEADER_TEXT_MAX * 3)

static void post_ws(struct sb_sip_agent *a, struct sb_call *c, struct sb_msg *m)
{
	if (m)
		sb_ws_worker_post(a->d->ws[c->ws_idx], m);
	else
		log_error("Out of memory posting to the ws worker");
}

/* The bot's stream ends (stop with reason `reason`) while the call goes on. */
static void stop_bot(struct sb_sip_agent *a, struct sb_call *c, const char *reason)
{
	struct sb_msg *m;

	if (!c->ws_attached)
		return;
	m = sb_msg_new(SB_MSG_BOT_DETACH, c, 0);
	if (m && !(m->text = strdup(reason)))
		m = sb_msg_free(m);
	post_ws(a, c, m);
}

static void close_fds(struct sb_xfer *x)
{
	if (x->rtp_fd >= 0)
		close(x->rtp_fd);
	if (x->rtcp_fd >= 0)
		close(x->rtcp_fd);
	x->rtp_fd = x->rtcp_fd = -1;
}

static void settle(struct sb_sip_agent *a, struct sb_xfer *x)
{
	if (!x->done) {
		x->done = true;
		a->n_xfers--;
	}
}

void sb_sip_transfer_free(struct sb_sip_agent *a, struct sb_call *c)
{
	struct sb_xfer *x = c->xfer;

	if (!x)
		return;
	settle(a, x);
	if (x->call_id[0])
		sb_sip_guard_forget_dialog(&a->guard, x->call_id);
	if (x->agent) {
		nua_handle_bind(x->agent, NULL);
		nua_handle_destroy(x->agent);
	}
	close_fds(x);
	free(x->hdrs);
	free(x);
	c->xfer = NULL;
}

/* The transfer failed with a SIP status: the bot is told and keeps the call, or the call
 * ends. The record stays when the agent's dialog still has to wind down (a CANCEL). */
static void failed(struct sb_sip_agent *a, struct sb_call *c, int status, const char *reason,
                   bool keep_record)
{
	struct sb_xfer *x = c->xfer;
	bool end = x->bot_gone || c->trunk->on_transfer_fail == SB_ON_TRANSFER_FAIL_HANGUP;
	struct sb_msg *m;

	log_notice("Transfer to %s failed: %d %s%s", x->target, status, reason,
	           end ? "; hanging up" : "; the call stays with the bot");
	sb_sip_record_transfer(c, NULL, "failed");
	settle(a, x);
	if (!end) {
		m = sb_msg_new(SB_MSG_BOT_TRANSFER_FAILED, c, status);
		if (m && (!(m->text = strdup(x->target)) || !(m->data = strdup(reason))))
			m = sb_msg_free(m);
		post_ws(a, c, m);
	}
	if (!keep_record)
		sb_sip_transfer_free(a, c);
	if (end)
		sb_sip_call_event(a, c, SB_CALL_EV_TRANSFER_FAILED);
}

/* "Name: value\r\n" lines for the agent's INVITE. */
static int header_lines(char *buf, size_t size, const struct sb_kv *h, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + o, size - o, "%s: %s\r\n", h[i].name, h[i].value);

		if (w < 0 || (size_t)w >= size - o)
			return -ENOSPC;
		o += (size_t)w;
	}
	return 0;
}

static int refer(struct sb_call *c, const struct sb_kv *h, size_t n)
{
	char referto[REFER_TO_MAX];

	if (sb_transfer_refer_to(referto, sizeof(referto), c->xfer->target, h, n) < 0)
		return -ENOSPC;
	log_info("REFER to %s", referto);
	nua_refer(c->nh, SIPTAG_REFER_TO_STR(referto), TAG_END());
	return 0;
}

/* Our Contact for the agent's dialog: the listener its transport reaches (a sips: target gets
 * nua's sips: one); one bound to a wildcard is named by our address that routes to the agent's
 * (addr, numeric; NULL when sofia resolves the name: nua's own Contact then). */
static void agent_contact(const struct sb_sip_agent *a, const struct sb_call *c, const char *addr,
                          char *buf, size_t size)
{
	const char *tp = sb_transfer_transport(c->xfer->target);

	buf[0] = '\0';
	if (strncasecmp(c->xfer->target, "sips:", 5) == 0)
		return;
	sb_sip_listen_contact(&a->listen, c->cfg->sip_public_address,
	                      !strcmp(tp, "tls")   ? SB_TP_TLS
	                      : !strcmp(tp, "tcp") ? SB_TP_TCP
	                                           : SB_TP_UDP,
	                      addr, buf, size);
}

/* Sends the INVITE to the agent at addr (numeric; NULL: a name sofia resolves), with the header
 * lines hdrs; proxy (NULL: none) is where the requests of its dialog go, via what the log adds
 * about it. */
static int dial(struct sb_sip_agent *a, struct sb_call *c, const char *hdrs, const char *addr,
                const char *proxy, const char *via)
{
	struct sb_xfer *x = c->xfer;
	char sdp[SDP_MAX], from[256], to[SB_TRANSFER_URI_MAX + 3];
	char contact[sizeof(c->contact)] = "";
	const char *tp = sb_transfer_transport(x->target);
	int fd;

	fd = sb_rtp_socket_open(c->cfg, c->offer_now.family, &x->port, &x->rtcp_fd);
	if (fd < 0)
		return fd;
	x->rtp_fd = fd;
	if (sb_sdp_build_offer(sdp, sizeof(sdp), c->local_addr, x->port, c->sdp_session_id + 1, 1) <
	    0)
		return -ENOSPC;
	/* The agent sees who is calling: the caller's user at the bridge. */
	snprintf(from, sizeof(from), strchr(c->local_addr, ':') ? "<sip:%s@[%s]>" : "<sip:%s@%s>",
	         c->from_user[0] ? c->from_user : "anonymous", c->local_addr);
	/* In angle brackets: the target's ;parameters (transport=tcp) belong to its URI. */
	snprintf(to, sizeof(to), "<%s>", x->target);
	agent_contact(a, c, addr, contact, sizeof(contact));
	x->agent = nua_handle(a->nua, c, SIPTAG_TO_STR(to), SIPTAG_FROM_STR(from), TAG_END());
	if (!x->agent)
		return -ENOMEM;
	log_info("Dialling the agent at %s over %s%s", x->target, tp, via);
	/* The proxy, as sipbridge-call's: nua keeps it for the dialog's later requests (ACK,
	 * CANCEL, BYE), sends them without a Route header, and the Request-URI and To keep the
	 * name. */
	nua_invite(x->agent, TAG_IF(proxy, NUTAG_PROXY(proxy)),
	           SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp),
	           TAG_IF(contact[0], SIPTAG_CONTACT_STR(contact)),
	           TAG_IF(hdrs[0], SIPTAG_HEADER_STR(hdrs)), TAG_END());
	return 0;
}

/* A target whose host is a name with a port is looked up with the system's resolver first
 * (/etc/hosts, NSS, DNS; sofia's own reads DNS only), off this thread, for an address of the
 * call's family; dial() goes on when the answer comes (sb_sip_transfer_resolved). Numeric
 * hosts, and names without a port (SRV records may apply), are dialled at once. */
static int bridge(struct sb_sip_agent *a, struct sb_call *c, const struct sb_kv *h, size_t n)
{
	struct sb_xfer *x = c->xfer;
	char hdrs[HEADER_TEXT_MAX], host[SB_TRANSFER_URI_MAX + 1], num[INET6_ADDRSTRLEN];
	bool v6 = c->offer_now.family == AF_INET6;
	int r;

	if (header_lines(hdrs, sizeof(hdrs), h, n) < 0)
		return -ENOSPC;
	if (!sb_transfer_named_host(x->target, host, sizeof(host)))
		return dial(a, c, hdrs,
		            sb_transfer_numeric_host(x->target, num, sizeof(num)) ? num : NULL,
		            NULL, "");
	x->hdrs = strdup(hdrs);
	if (!x->hdrs)
		return -ENOMEM;
	snprintf(x->dns_key, sizeof(x->dns_key), "%c %s", v6 ? '6' : '4', host);
	r = sb_sip_dns_ask(a, x->dns_key);
	if (r < 0) {
		x->dns_key[0] = '\0';
		return log_error_errno(r, "Cannot look up %s", host);
	}
	log_info("Looking up %s (%s) to dial the agent at %s", host, v6 ? "IPv6" : "IPv4",
	         x->target);
	return 0;
}

/* The agent's host name has no address the call can use: the transfer failed. */
static void unresolved(struct sb_sip_agent *a, struct sb_call *c, const char *host, int err)
{
	char why[SB_TRANSFER_URI_MAX + 96];

	if (err == EAI_FAMILY)
		snprintf(why, sizeof(why), "Cannot resolve %s: it has no %s address (the call's)",
		         host, c->offer_now.family == AF_INET6 ? "IPv6" : "IPv4");
	else
		snprintf(why, sizeof(why), "Cannot resolve %s: %s", host, gai_strerror(err));
	failed(a, c, 503, why, false);
}

void sb_sip_transfer_resolved(struct sb_sip_agent *a, struct sb_call *c, const char *addr, int err)
{
	struct sb_xfer *x = c->xfer;
	char host[SB_TRANSFER_URI_MAX + 1], proxy[SB_TRANSFER_URI_MAX + 128];
	char via[SB_TRANSFER_URI_MAX + 64];
	unsigned port = sb_transfer_named_host(x->target, host, sizeof(host));
	char *hdrs = x->hdrs; /* ours: failed() may free x */
	int r = -ENOSPC;

	sb_log_ctx_set(c->id);
	x->dns_key[0] = '\0';
	x->hdrs = NULL;
	if (!addr) {
		unresolved(a, c, host, err);
	} else {
		snprintf(via, sizeof(via), " (%s is %s)", host, addr);
		if (sb_transfer_proxy(proxy, sizeof(proxy), x->target, host, port, addr) >= 0)
			r = dial(a, c, hdrs ? hdrs : "", addr, proxy, via);
		if (r < 0)
			failed(a, c, SIP_500_INTERNAL_SERVER_ERROR, false);
	}
	free(hdrs);
	sb_log_ctx_set(NULL);
}

/* Why a transfer cannot start; NULL when it can. */
static const char *refuse(struct sb_call *c, const char *to)
{
	if (c->fsm.state != SB_CALL_ST_ACTIVE)
		return "the call is not established";
	if (c->xfer || c->bridged)
		return "a transfer is already under way";
	if (!to[0])
		return "no target: the bot named none and the trunk has no destination";
	if (sb_transfer_check_target(to) < 0)
		return "the target is not a valid sip: or sips: URI";
	return NULL;
}

void sb_sip_transfer(struct sb_sip_agent *a, struct sb_call *c, const char *to,
                     const struct sb_kv *headers, size_t n, bool bot_gone)
{
	struct sb_kv kept[SB_TRANSFER_HEADERS_MAX];
	const char *why;
	size_t n_kept, dropped = 0;
	struct sb_xfer *x;
	int r;

	sb_log_ctx_set(c->id);
	if (!to || !to[0])
		to = c->trunk->destination;
	why = refuse(c, to);
	if (why) {
		/* A bot may ask again and again: the lines are bounded, the rest counted. */
		log_warn_ratelimited("Transfer to %.*s refused: %s", SB_TRANSFER_URI_MAX,
		                     to[0] ? to : "(none)", why);
		/* With the bot gone there is no one left to talk to. */
		if (bot_gone && !c->xfer && !c->bridged)
			sb_sip_call_event(a, c, SB_CALL_EV_TRANSFER_FAILED);
		goto out;
	}
	n_kept = sb_transfer_headers(headers, n, kept, &dropped);
	if (dropped)
		log_notice(
		        "%zu transfer header(s) left out (only %d X- headers, %d bytes together)",
		        dropped, SB_TRANSFER_HEADERS_MAX, SB_TRANSFER_HEADER_BYTES);
	x = calloc(1, sizeof(*x));
	if (!x) {
		log_error("Out of memory starting a transfer");
		goto out;
	}
	snprintf(x->target, sizeof(x->target), "%s", to);
	x->bot_gone = bot_gone;
	x->deadline_ms = sb_now_ms() + c->trunk->transfer_timeout_ms;
	x->rtp_fd = x->rtcp_fd = -1;
	c->xfer = x;
	a->n_xfers++;
	sb_sip_record_transfer(c, x->target, "pending");
	r = c->trunk->transfer_mode == SB_TRANSFER_BRIDGE ? bridge(a, c, kept, n_kept)
	                                                  : refer(c, kept, n_kept);
	if (r < 0)
		failed(a, c, SIP_500_INTERNAL_SERVER_ERROR, false);
out:
	sb_log_ctx_set(NULL);
}

/* NOTIFY of the REFER's progress: a sipfrag status line. */
static void on_notify(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip)
{
	const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
	char phrase[64];
	int status;

	if (!c->xfer || c->xfer->done || !pl)
		return;
	status = sb_transfer_sipfrag(pl->pl_data, pl->pl_len, phrase, sizeof(phrase));
	if (status < 0) {
		log_notice("NOTIFY without a sipfrag status line, ignoring");
	} else if (status < 200) {
		log_info("Transfer to %s: %d %s", c->xfer->target, status, phrase);
	} else if (status < 300) {
		log_info("Transfer to %s succeeded", c->xfer->target);
		sb_sip_record_transfer(c, NULL, "succeeded");
		sb_sip_transfer_free(a, c);
		sb_sip_call_event(a, c, SB_CALL_EV_TRANSFERRED);
	} else {
		failed(a, c, status, phrase, false);
	}
}

/* The agent answered: its media joins the caller's, the bot's stream ends (or listens). */
static void agent_answered(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip)
{
	struct sb_xfer *x = c->xfer;
	const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
	struct sb_media_bridge *b = calloc(1, sizeof(*b));
	struct sb_msg *m;

	if (!b || !pl || sb_sdp_parse_offer(pl->pl_data, pl->pl_len, &b->agent) < 0 ||
	    b->agent.savp || /* our offer to the agent was RTP/AVP */
	    b->agent.family != c->offer_now.family ||
	    sb_sockaddr_make(b->agent.family, b->agent.addr, b->agent.port, &b->remote,
	                     &b->remote_len) < 0) {
		free(b);
		nua_bye(x->agent, TAG_END());
		failed(a, c, SIP_488_NOT_ACCEPTABLE, true);
		return;
	}
	b->rtp_fd = x->rtp_fd;
	b->rtcp_fd = x->rtcp_fd;
	b->listen = c->trunk->listen_after_transfer;
	m = sb_msg_new(SB_MSG_MEDIA_BRIDGE, c, 0);
	if (!m) {
		free(b);
		nua_bye(x->agent, TAG_END());
		failed(a, c, SIP_500_INTERNAL_SERVER_ERROR, true);
		return;
	}
	m->data = b;
	x->rtp_fd = x->rtcp_fd = -1; /* the media worker's now */
	x->answered = true;
	sb_sip_record_transfer(c, NULL, "succeeded");
	settle(a, x);
	c->bridged = true;
	log_info("Agent at %s answered (%s): caller and agent are bridged%s", x->target,
	         sb_codec_name(b->agent.codec), b->listen ? ", the bot listens" : "");
	if (!b->listen)
		stop_bot(a, c, "transferred");
	sb_media_worker_post(a->d->media[c->media_idx], m); /* b is the worker's from here */
}

/* A response to the agent's INVITE: the agent, or the proxy or SBC in front of it, sends its
 * requests in the dialog from the address its responses come from, which may be outside
 * every trunk's ACL; the guard lets them through (by that address and the dialog's Call-ID)
 * until the transfer record is freed. The latest response's address wins (a failover). */
static void allow_agent(struct sb_sip_agent *a, struct sb_xfer *x, const sip_t *sip)
{
	msg_t *msg = nua_current_request(a->nua); /* the response, while one is handled */
	const su_sockaddr_t *su = msg ? msg_addr(msg) : NULL;
	const su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
	const char *id = sip && sip->sip_call_id ? sip->sip_call_id->i_id : NULL;

	if (!su || !ai || !id || (x->call_id[0] && strcmp(id, x->call_id) != 0))
		return;
	if (strlen(id) >= sizeof(x->call_id)) {
		log_warn("The agent's Call-ID is over %zu bytes: its requests from outside the "
		         "ACLs are refused, ignoring",
		         sizeof(x->call_id) - 1);
		return;
	}
	if (sb_sip_guard_allow_dialog(&a->guard, id, &su->su_sa, ai->ai_socktype == SOCK_STREAM) ==
	    0)
		snprintf(x->call_id, sizeof(x->call_id), "%s", id);
}

static void on_agent_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
                           const char *phrase, const sip_t *sip, tagi_t tags[])
{
	struct sb_xfer *x = c->xfer;
	int state = -1;

	switch (event) {
	case nua_r_invite:
		allow_agent(a, x, sip);
		if (status < 200)
			break;
		if (status >= 300) {
			if (!x->done)
				failed(a, c, status, phrase, false);
			else if (!x->answered)
				sb_sip_transfer_free(a, c); /* the CANCEL has been answered */
			break;
		}
		if (x->done || c->fsm.state != SB_CALL_ST_ACTIVE) /* answered too late */
			nua_bye(x->agent, TAG_END());
		else
			agent_answered(a, c, sip);
		break;
	case nua_i_state:
		tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
		/* The agent hung up (or our BYE is through): the whole call ends. */
		if (state != nua_callstate_terminated)
			break;
		if (x->answered && c->fsm.state == SB_CALL_ST_ACTIVE) {
			log_info("The agent hung up");
			sb_sip_call_event(a, c, SB_CALL_EV_AGENT_BYE);
		} else if (!x->answered && x->done) {
			sb_sip_transfer_free(a, c); /* a late answer we hung up on: over */
		}
		break;
	/* Requests in the agent's dialog: each gets an answer, or the agent's side gives the
	 * dialog up. */
	case nua_i_options:
		sb_sip_on_dialog_options(a, x->agent);
		break;
	case nua_i_info: /* a keep-alive or keys: taken, not relayed */
		sb_sip_answer(a, x->agent, SIP_200_OK);
		break;
	case nua_i_refer:
		sb_sip_refuse_refer(a, x->agent);
		break;
	case nua_i_update: /* a session refresh is taken; an offer, as a re-INVITE's */
		if (!sb_sip_has_body(sip)) {
			sb_sip_answer(a, x->agent, SIP_200_OK);
			break;
		}
		/* fall through */
	case nua_i_invite: /* a hold or a move: the relay's media stays as it was set up */
		sb_sip_answer(a, x->agent, SIP_488_NOT_ACCEPTABLE);
		break;
	default:
		break;
	}
}

bool sb_sip_transfer_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
                           const char *phrase, nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
	bool ours = true;

	sb_log_ctx_set(c->id);
	if (c->xfer && nh == c->xfer->agent) {
		on_agent_event(a, c, event, status, phrase, sip, tags);
	} else if (nh != c->nh) {
		/* an agent's handle whose transfer is over: nothing left to do with it */
	} else if (event == nua_r_refer) {
		if (c->xfer && !c->xfer->done && status >= 300)
			failed(a, c, status, phrase, false);
		else if (status >= 200 && status < 300)
			log_info("REFER accepted (%d)", status);
	} else if (event == nua_i_notify) {
		on_notify(a, c, sip);
	} else {
		ours = false;
	}
	sb_log_ctx_set(NULL);
	return ours;
}

bool sb_sip_transfer_bot(struct sb_sip_agent *a, struct sb_call *c, int msg_type)
{
	const struct sb_bot_cfg *bot = c->bot;

	if (c->bridged && msg_type != SB_MSG_BOT_FAILED) {
		sb_log_ctx_set(c->id);
		log_info("The bot left after the transfer; caller and agent go on");
		sb_log_ctx_set(NULL);
		return true;
	}
	if (msg_type == SB_MSG_BOT_CLOSED && c->xfer && !c->xfer->done) {
		c->xfer->bot_gone = true; /* the outcome decides; a failure now ends the call */
		return true;
	}
	if (msg_type == SB_MSG_BOT_CLOSED && c->transfer_after_ack) {
		c->after_ack_bot_gone = true; /* the same for one that waits for the ACK */
		return true;
	}
	if (msg_type == SB_MSG_BOT_CLOSED && bot->on_close == SB_ON_CLOSE_TRANSFER) {
		if (sb_sip_transfer_wait_ack(c, NULL, true))
			return true;
		if (c->fsm.state == SB_CALL_ST_ACTIVE && !c->xfer) {
			sb_sip_transfer(a, c, NULL, NULL, 0, true);
			return true;
		}
		/* A failed transfer's agent is still ending its INVITE, and the call has one
		 * transfer at a time: with no one left to talk to, it ends. */
		if (c->fsm.state == SB_CALL_ST_ACTIVE) {
			sb_log_ctx_set(c->id);
			log_notice("The bot left while the failed transfer's agent ends its call: "
			           "hanging up");
			sb_log_ctx_set(NULL);
		}
	}
	if (msg_type == SB_MSG_BOT_FAILED && bot->on_fail == SB_ON_FAIL_TRANSFER &&
	    c->fsm.state == SB_CALL_ST_CONNECTING && c->trunk->destination[0]) {
		sb_log_ctx_set(c->id);
		log_notice("Bot unreachable: answering to transfer the caller to %s",
		           c->trunk->destination);
		sb_log_ctx_set(NULL);
		c->transfer_after_ack = true;
		c->after_ack_bot_gone = true;
		sb_sip_call_event(a, c, SB_CALL_EV_BOT_FAILED_TRANSFER);
		return true;
	}
	return false;
}

void sb_sip_transfer_hangup(struct sb_sip_agent *a, struct sb_call *c)
{
	struct sb_xfer *x = c->xfer;

	if (x && x->dns_key[0] && !x->done) {
		/* Its answer finds no transfer waiting: the agent is never dialled. */
		log_info("The call ends while %s is looked up: the agent is not dialled",
		         x->dns_key + 2);
		x->dns_key[0] = '\0';
		sb_sip_record_transfer(c, NULL, "failed");
		settle(a, x);
	}
	if (!x || !x->agent)
		return;
	if (x->answered)
		nua_bye(x->agent, TAG_END());
	else if (!x->cancelled)
		nua_cancel(x->agent, TAG_END());
	x->cancelled = true;
}

void sb_sip_transfer_tick(struct sb_sip_agent *a)
{
	int64_t now = sb_now_ms();

	if (!a->n_xfers)
		return;
	for (struct sb_call *c = LIST_FIRST(&a->calls), *next; c; c = next) {
		struct sb_xfer *x = c->xfer;

		next = LIST_NEXT(c, reg);
		if (!x || x->done || now < x->deadline_ms)
			continue;
		sb_call_ref(c);
		sb_log_ctx_set(c->id);
		if (x->agent && !x->cancelled) { /* the agent did not answer: give up on it */
			nua_cancel(x->agent, TAG_END());
			x->cancelled = true;
		}
		if (x->dns_key[0]) { /* the lookup is still running: its answer will find none */
			log_notice("No address for %s after %d ms", x->dns_key + 2,
			           c->trunk->transfer_timeout_ms);
			x->dns_key[0] = '\0';
		}
		failed(a, c, SIP_408_REQUEST_TIMEOUT, x->agent != NULL);
		sb_log_ctx_set(NULL);
		sb_call_unref(c);
	}
}

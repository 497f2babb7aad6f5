/* Bridged transfers' dialling on the control thread (transfer_mode "bridge"): the bridge's own
 * INVITE to the agent (its Contact, the bot's X- headers, an SDP offer on a socket of its own),
 * the lookup of an agent named by a host name with a port first (sip_agent_dns.c), and what
 * the agent's dialog brings: its answer joins its media to the caller's, its failure fails the
 * transfer (sip_agent_transfer.c), and its requests get an answer. While that dialog lasts, the
 * SIP guard lets its requests through even from outside the ACLs.
 * Thread: control. Owns nothing: the agent's handle and sockets are the transfer record's. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define LOG_SUBSYS "xfer"
#include <sb/log.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include <sb/media_worker.h>
#include <sb/msg.h>
#include <sb/rtp_session.h>

#include "sip_agent_priv.h"

#define SDP_MAX 1024

/* The bot's stream ends (stop with reason `reason`) while the call goes on. */
static void stop_bot(struct sb_sip_agent *a, struct sb_call *c, const char *reason)
{
	struct sb_msg *m;

	if (!c->ws_attached)
		return;
	m = sb_msg_new(SB_MSG_BOT_DETACH, c, 0);
	if (m && !(m->text = strdup(reason)))
		m = sb_msg_free(m);
	sb_sip_post_ws(a, c, m);
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

/* The agent's host name gives no address the call can use (err: the lookup's EAI_* code), or
 * its lookup could not be queued (ask_err: what sb_sip_dns_ask returned; 0 when it was): the
 * transfer failed, with a reason that says which. */
static void unresolved(struct sb_sip_agent *a, struct sb_call *c, const char *host, int err,
                       int ask_err)
{
	char why[SB_TRANSFER_URI_MAX + 96];

	if (ask_err)
		snprintf(why, sizeof(why), "Cannot queue the lookup of %s: %s", host,
		         ask_err == -ENOBUFS  ? "too many names are being looked up already"
		         : ask_err == -ENOMEM ? "out of memory"
		                              : strerror(-ask_err));
	else if (err == EAI_FAMILY)
		snprintf(why, sizeof(why), "Cannot resolve %s: it has no %s address (the call's)",
		         host, c->offer_now.family == AF_INET6 ? "IPv6" : "IPv4");
	else
		snprintf(why, sizeof(why), "Cannot resolve %s: %s", host, gai_strerror(err));
	sb_sip_transfer_failed(a, c, 503, why, false);
}

/* A target whose host is a name with a port is looked up with the system's resolver first
 * (/etc/hosts, NSS, DNS; sofia's own reads DNS only), off this thread, for an address of the
 * call's family; dial() goes on when the answer comes (sb_sip_transfer_resolved). Numeric
 * hosts, and names without a port (SRV records may apply), are dialled at once. A lookup the
 * resolver cannot take fails the transfer here, 503 with why (and returns 0). */
int sb_sip_bridge_dial(struct sb_sip_agent *a, struct sb_call *c, const struct sb_kv *h, size_t n)
{
	struct sb_xfer *x = c->xfer;
	char hdrs[SB_XFER_HEADER_TEXT_MAX], host[SB_TRANSFER_URI_MAX + 1], num[INET6_ADDRSTRLEN];
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
		/* A reason of its own for the bot (503), in the one line that logs the failure. */
		x->dns_key[0] = '\0';
		unresolved(a, c, host, 0, r);
		return 0;
	}
	log_info("Looking up %s (%s) to dial the agent at %s", host, v6 ? "IPv6" : "IPv4",
	         x->target);
	return 0;
}

void sb_sip_transfer_resolved(struct sb_sip_agent *a, struct sb_call *c, const char *addr, int err)
{
	struct sb_xfer *x = c->xfer;
	char host[SB_TRANSFER_URI_MAX + 1], proxy[SB_TRANSFER_URI_MAX + 128];
	char via[SB_TRANSFER_URI_MAX + 64];
	unsigned port = sb_transfer_named_host(x->target, host, sizeof(host));
	char *hdrs = x->hdrs; /* ours: sb_sip_transfer_failed() may free x */
	int r = -ENOSPC;

	sb_log_ctx_set(c->id);
	x->dns_key[0] = '\0';
	x->hdrs = NULL;
	if (!addr) {
		unresolved(a, c, host, err, 0);
	} else {
		snprintf(via, sizeof(via), " (%s is %s)", host, addr);
		if (sb_transfer_proxy(proxy, sizeof(proxy), x->target, host, port, addr) >= 0)
			r = dial(a, c, hdrs ? hdrs : "", addr, proxy, via);
		if (r < 0)
			sb_sip_transfer_failed(a, c, SIP_500_INTERNAL_SERVER_ERROR, false);
	}
	free(hdrs);
	sb_log_ctx_set(NULL);
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
		sb_sip_transfer_failed(a, c, SIP_488_NOT_ACCEPTABLE, true);
		return;
	}
	b->rtp_fd = x->rtp_fd;
	b->rtcp_fd = x->rtcp_fd;
	b->listen = c->trunk->listen_after_transfer;
	m = sb_msg_new(SB_MSG_MEDIA_BRIDGE, c, 0);
	if (!m) {
		free(b);
		nua_bye(x->agent, TAG_END());
		sb_sip_transfer_failed(a, c, SIP_500_INTERNAL_SERVER_ERROR, true);
		return;
	}
	m->data = b;
	x->rtp_fd = x->rtcp_fd = -1; /* the media worker's now */
	x->answered = true;
	sb_sip_record_transfer(c, NULL, "succeeded");
	sb_sip_transfer_settle(a, x);
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

void sb_sip_bridge_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
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
				sb_sip_transfer_failed(a, c, status, phrase, false);
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

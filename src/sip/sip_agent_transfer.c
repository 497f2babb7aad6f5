/* Transfers on the control thread: a blind REFER in the caller's dialog (transfer_mode
 * "refer"), or the bridge dialling the agent itself and relaying the audio ("bridge",
 * sip_agent_bridge.c), at the bot's request or when the bot is gone (on_close / on_fail =
 * transfer); the NOTIFYs, the deadline, the call's end while a transfer is under way, and
 * what a failure does: the bot is told and keeps the call, or the call ends
 * (on_transfer_fail = "hangup", or no bot to tell).
 * Thread: control. Owns each call's transfer record and the agent's nua handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_SUBSYS "xfer"
#include <sb/log.h>

#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include <sb/msg.h>
#include <sb/ws_worker.h>

#include "sip_agent_priv.h"

#define REFER_TO_MAX (SB_TRANSFER_URI_MAX * 3 + SB_XFER_HEADER_TEXT_MAX * 3)

void sb_sip_post_ws(struct sb_sip_agent *a, struct sb_call *c, struct sb_msg *m)
{
	if (m)
		sb_ws_worker_post(a->d->ws[c->ws_idx], m);
	else
		log_error("Out of memory posting to the ws worker");
}

static void close_fds(struct sb_xfer *x)
{
	if (x->rtp_fd >= 0)
		close(x->rtp_fd);
	if (x->rtcp_fd >= 0)
		close(x->rtcp_fd);
	x->rtp_fd = x->rtcp_fd = -1;
}

void sb_sip_transfer_settle(struct sb_sip_agent *a, struct sb_xfer *x)
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
	sb_sip_transfer_settle(a, x);
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

/* Tells the bot that its transfer to `to` failed or was refused, with a SIP-like status. */
static void tell_bot(struct sb_sip_agent *a, struct sb_call *c, const char *to, int status,
                     const char *reason)
{
	struct sb_msg *m = sb_msg_new(SB_MSG_BOT_TRANSFER_FAILED, c, status);

	if (m && (!(m->text = strdup(to)) || !(m->data = strdup(reason))))
		m = sb_msg_free(m);
	sb_sip_post_ws(a, c, m);
}

/* The transfer failed with a SIP status: the bot is told and keeps the call, or the call
 * ends. The record stays when the agent's dialog still has to wind down (a CANCEL). */
void sb_sip_transfer_failed(struct sb_sip_agent *a, struct sb_call *c, int status,
                            const char *reason, bool keep_record)
{
	struct sb_xfer *x = c->xfer;
	bool end = x->bot_gone || c->trunk->on_transfer_fail == SB_ON_TRANSFER_FAIL_HANGUP;

	log_notice("Transfer to %s failed: %d %s%s", x->target, status, reason,
	           end ? "; hanging up" : "; the call stays with the bot");
	sb_sip_record_transfer(c, NULL, "failed");
	sb_sip_transfer_settle(a, x);
	if (!end)
		tell_bot(a, c, x->target, status, reason);
	if (!keep_record)
		sb_sip_transfer_free(a, c);
	if (end)
		sb_sip_call_event(a, c, SB_CALL_EV_TRANSFER_FAILED);
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

/* Why a transfer cannot start, with the status the bot is told; NULL when it can. */
static const char *refuse(struct sb_call *c, const char *to, int *status)
{
	*status = 491; /* Request Pending: one transfer at a time */
	if (c->transfer_after_ack)
		return "a transfer already waits for the caller's ACK";
	*status = 481; /* Call Does Not Exist: it ends */
	if (c->fsm.state != SB_CALL_ST_ACTIVE)
		return "the call is not established";
	*status = 403; /* a listening bot after a bridged transfer */
	if (c->bridged)
		return "the call is already with an agent";
	*status = 491;
	if (c->xfer && c->xfer->done)
		return "the failed transfer's agent is still ending its call";
	if (c->xfer)
		return "a transfer is already under way";
	*status = 400;
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
	int r, status;

	sb_log_ctx_set(c->id);
	if (!to || !to[0])
		to = c->trunk->destination;
	why = refuse(c, to, &status);
	if (why) {
		/* A bot may ask again and again: the lines are bounded, the rest counted; each
		 * request gets its answer. */
		log_warn_ratelimited("Transfer to %.*s refused: %s", SB_TRANSFER_URI_MAX,
		                     to[0] ? to : "(none)", why);
		if (!bot_gone)
			tell_bot(a, c, to, status, why);
		/* With the bot gone there is no one left to talk to. */
		else if (!c->xfer && !c->bridged)
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
	r = c->trunk->transfer_mode == SB_TRANSFER_BRIDGE ? sb_sip_bridge_dial(a, c, kept, n_kept)
	                                                  : refer(c, kept, n_kept);
	if (r < 0)
		sb_sip_transfer_failed(a, c, SIP_500_INTERNAL_SERVER_ERROR, false);
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
		sb_sip_transfer_failed(a, c, status, phrase, false);
	}
}

bool sb_sip_transfer_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
                           const char *phrase, nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
	bool ours = true;

	sb_log_ctx_set(c->id);
	if (c->xfer && nh == c->xfer->agent) {
		sb_sip_bridge_event(a, c, event, status, phrase, sip, tags);
	} else if (nh != c->nh) {
		/* an agent's handle whose transfer is over: nothing left to do with it */
	} else if (event == nua_r_refer) {
		if (c->xfer && !c->xfer->done && status >= 300)
			sb_sip_transfer_failed(a, c, status, phrase, false);
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
		sb_sip_transfer_settle(a, x);
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
		sb_sip_transfer_failed(a, c, SIP_408_REQUEST_TIMEOUT, x->agent != NULL);
		sb_log_ctx_set(NULL);
		sb_call_unref(c);
	}
}

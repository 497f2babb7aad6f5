/* The call-end record: what control notes while a call runs (when and why it ended, the final
 * status, transfers, keys sent by INFO), and the record it builds at release or at the
 * rejection of an INVITE, handed to the webhook thread without waiting.
 * Thread: control. Owns nothing (the notes live in struct sb_call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "call"
#include <sb/log.h>

#include <sb/media_worker.h>
#include <sb/metrics.h>
#include <sb/webhook.h>

#include "sip_agent_priv.h"

#define MAX_PARAMS 8

/* Who ended the call and why, by the event that started the teardown. */
static const struct {
	const char *by, *reason;
} ends[_SB_CALL_EV_MAX] = {
        [SB_CALL_EV_BOT_FAILED] = {"bridge", "bot unreachable"},
        [SB_CALL_EV_CANCEL] = {"caller", "cancel"},
        [SB_CALL_EV_BYE] = {"caller", "bye"},
        [SB_CALL_EV_BOT_CLOSED] = {"bot", "bot closed"},
        [SB_CALL_EV_BOT_HANGUP] = {"bot", "bot hangup"},
        [SB_CALL_EV_RTP_TIMEOUT] = {"bridge", "rtp timeout"},
        [SB_CALL_EV_MEDIA_FAILED] = {"bridge", "error"},
        [SB_CALL_EV_SHUTDOWN] = {"bridge", "shutdown"},
        [SB_CALL_EV_SIP_TERMINATED] = {"bridge", "dialog ended"},
        [SB_CALL_EV_TRANSFERRED] = {"bridge", "transferred"},
        [SB_CALL_EV_TRANSFER_FAILED] = {"bridge", "transfer failed"},
        [SB_CALL_EV_AGENT_BYE] = {"agent", "bye"},
};

void sb_sip_record_end(struct sb_call *c, enum sb_call_event ev, unsigned act)
{
	if (act & SB_CALL_ACT_REJECT_503)
		c->sip_status = 503;
	else if (act & SB_CALL_ACT_REJECT_500)
		c->sip_status = 500;
	else if (ev == SB_CALL_EV_CANCEL && (act & SB_CALL_ACT_DETACH)) {
		/* A CANCEL of the call's INVITE (one of a re-INVITE ends nothing): nua reports it
		 * only while the INVITE has no final response, and answers it 487 itself, so a
		 * response asked for by then (the bot connected as it came) never goes out. */
		if (c->sip_status == 200) {
			log_info("The caller's CANCEL came before the 200 went out: answered 487 "
			         "by the SIP stack");
			c->wall_answer_ms = 0;
		}
		c->sip_status = 487;
	}
	if (c->end_ev >= 0 || !(act & (SB_CALL_ACT_DETACH | SB_CALL_ACT_REJECT_503 |
	                               SB_CALL_ACT_REJECT_500 | SB_CALL_ACT_SEND_BYE)))
		return;
	c->end_ev = (int)ev;
	c->wall_end_ms = sb_wall_ms();
}

void sb_sip_record_transfer(struct sb_call *c, const char *target, const char *outcome)
{
	if (target) {
		free(c->xfer_target);
		c->xfer_target = strdup(target);
	}
	c->xfer_outcome = outcome;
	if (strcmp(outcome, "pending") != 0)
		SB_METRIC_INC(transfers_total,
		              outcome[0] == 's' ? SB_M_XFER_SUCCEEDED : SB_M_XFER_FAILED);
}

void sb_sip_record_info_dtmf(struct sb_call *c, char digit)
{
	size_t n = strlen(c->info_dtmf);

	if (n < SB_CALL_DTMF_MAX) {
		c->info_dtmf[n] = digit;
		c->info_dtmf[n + 1] = '\0';
	}
}

static void post(struct sb_sip_agent *a, const struct sb_webhook_record *r)
{
	size_t len = 0;
	char *body;

	if (!a->d->webhook)
		return;
	body = sb_webhook_encode(r, &len);
	if (!body) {
		log_error("Out of memory encoding the call-end record, dropped");
		return;
	}
	sb_webhook_post(a->d->webhook, body, len, r->call_id);
}

void sb_sip_record_call(struct sb_sip_agent *a, struct sb_call *c)
{
	/* Keys by RFC 4733 (media) first, then by INFO: a caller uses one or the other. */
	char dtmf[2 * SB_CALL_DTMF_MAX + 1];
	bool ended = c->end_ev >= 0 && c->end_ev < _SB_CALL_EV_MAX && ends[c->end_ev].by;
	bool by_admin = ended && c->admin_hangup && c->end_ev == SB_CALL_EV_BOT_HANGUP;
	struct sb_webhook_record r = {
	        .call_id = c->id,
	        .sip_call_id = c->sip_call_id,
	        .trunk = c->trunk ? c->trunk->name : NULL,
	        .from = c->from_user,
	        .to = c->to_user,
	        .bot = c->bot ? c->bot->name : NULL,
	        .start_ms = c->wall_invite_ms,
	        .answer_ms = c->wall_answer_ms,
	        .end_ms = c->wall_end_ms ? c->wall_end_ms : sb_wall_ms(),
	        .hangup_by = by_admin ? "admin"
	                     : ended  ? ends[c->end_ev].by
	                              : "bridge",
	        .hangup_reason = by_admin ? "admin hangup"
	                         : ended  ? ends[c->end_ev].reason
	                                  : "error",
	        .sip_status = c->sip_status,
	        .transfer_target = c->xfer_target,
	        .transfer_mode = c->trunk && c->trunk->transfer_mode == SB_TRANSFER_BRIDGE
	                                 ? "bridge"
	                                 : "refer",
	        .transfer_outcome = c->xfer_outcome,
	        .rtp_packets_in = c->rtp_packets_in,
	        .rtp_packets_out = c->rtp_packets_out,
	        .rtp_lost = c->rtp_lost,
	        .bot_frames_in = c->bot_frames_in,
	        .bot_frames_out = c->bot_frames_out,
	        .drops_to_bot = c->up_drop_frames + c->tx_drop_frames,
	        .drops_to_caller = c->rx_drop_frames,
	        .bridge_drops_to_caller =
	                sb_frames_of(c->bridge_drop_samples[SB_MEDIA_BRIDGE_TO_CALLER]),
	        .bridge_drops_to_agent =
	                sb_frames_of(c->bridge_drop_samples[SB_MEDIA_BRIDGE_TO_AGENT]),
	        .bridge_drops_to_bot = sb_frames_of(c->bridge_drop_samples[SB_MEDIA_BRIDGE_TO_BOT]),
	        .dtmf = dtmf,
	        .params = c->params,
	        .n_params = c->n_params,
	};

	if (!a->d->webhook)
		return;
	snprintf(dtmf, sizeof(dtmf), "%s%s", c->dtmf, c->info_dtmf);
	post(a, &r);
}

void sb_sip_record_reject(struct sb_sip_agent *a, const sip_t *sip,
                          const struct sb_route_out *route, const struct sb_kv *hdrs, size_t n_hdrs,
                          int status)
{
	struct sb_kv params[MAX_PARAMS];
	char id[SB_CALL_ID_LEN + 1];
	const char *to = sip->sip_to && sip->sip_to->a_url->url_user
	                         ? sip->sip_to->a_url->url_user
	                         : (sip->sip_request ? sip->sip_request->rq_url->url_user : NULL);
	int64_t now = sb_wall_ms();
	struct sb_webhook_record r = {
	        .call_id = id,
	        .sip_call_id = sip->sip_call_id ? sip->sip_call_id->i_id : NULL,
	        .trunk = route->trunk ? route->trunk->name : NULL,
	        .from = sip->sip_from ? sip->sip_from->a_url->url_user : NULL,
	        .to = to,
	        .bot = route->bot ? route->bot->name : NULL,
	        .start_ms = now,
	        .end_ms = now,
	        .hangup_by = "bridge",
	        .hangup_reason = "rejected",
	        .sip_status = status,
	        .dtmf = "",
	        .params = params,
	};

	if (!a->d->webhook)
		return;
	/* No call was made: the record gets an id of its own, as a call would. */
	sb_random_hex(id, SB_CALL_ID_LEN);
	r.n_params = sb_route_custom_params(hdrs, n_hdrs, params, MAX_PARAMS, NULL);
	post(a, &r);
}

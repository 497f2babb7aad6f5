/* In-dialog INFO: DTMF as application/dtmf-relay or application/dtmf (as many PBXs send it
 * instead of RFC 4733), passed to the bot like a key pressed in the audio; an INFO without a
 * body (a keep-alive) is accepted; any other content is refused with 415.
 * Thread: control. Owns nothing. */
#include <stdio.h>

#include <sofia-sip/sip_status.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sb/dtmf.h>
#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/ws_worker.h>

#include "sip_agent_priv.h"

#define ACCEPT_DTMF "application/dtmf-relay, application/dtmf"

static void respond(struct sb_sip_agent *a, nua_handle_t *nh, int status, const char *phrase,
                    bool accept)
{
	nua_respond(nh, status, phrase, NUTAG_WITH_THIS(a->nua),
	            TAG_IF(accept, SIPTAG_ACCEPT_STR(ACCEPT_DTMF)), TAG_END());
	sb_metric_sip_response(status);
}

void sb_sip_on_info(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh, const sip_t *sip)
{
	const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
	const sip_content_type_t *ct = sip ? sip->sip_content_type : NULL;
	struct sb_dtmf_report d;
	struct sb_msg *m;
	int r;

	sb_log_ctx_set(c->id);
	if (!pl || !pl->pl_len) {
		respond(a, nh, SIP_200_OK, false);
		goto out;
	}
	r = sb_dtmf_info_parse(ct && ct->c_type ? ct->c_type : "", pl->pl_data, pl->pl_len, &d);
	if (r == -ENOTSUP) {
		log_info("INFO with %s refused (only DTMF is understood)",
		         ct && ct->c_type ? ct->c_type : "no Content-Type");
		respond(a, nh, SIP_415_UNSUPPORTED_MEDIA, true);
		goto out;
	}
	if (r < 0) {
		log_warn("INFO with a DTMF body that holds no valid signal, refused");
		respond(a, nh, SIP_400_BAD_REQUEST, false);
		goto out;
	}
	respond(a, nh, SIP_200_OK, false);
	log_info("Caller pressed %c (%u ms, by INFO)", d.digit, d.duration_ms);
	sb_sip_record_info_dtmf(c, d.digit);
	if (!c->ws_attached)
		goto out;
	m = sb_msg_new(SB_MSG_BOT_DTMF, c,
	               (int64_t)(unsigned char)d.digit | (int64_t)d.duration_ms << 8);
	if (m)
		sb_ws_worker_post(a->d->ws[c->ws_idx], m);
out:
	sb_log_ctx_set(NULL);
}

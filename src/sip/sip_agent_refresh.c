/* Session refreshes the bridge sends (RFC 4028) where it cannot use UPDATE: a caller that
 * requires session timers and names the bridge the refresher (refresher=uas) without allowing
 * UPDATE gets re-INVITEs. nua sends them without SDP, since its media handling is off, so the
 * caller's 200 carries an offer that the ACK must answer (RFC 3261 13.2.1, RFC 3264): nua's own
 * ACK is off for such a call, and ours carries the answer.
 * Thread: control. */
#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_string.h>

#include "sip_agent_priv.h"

bool sb_sip_refresh_choose(nua_handle_t *nh, const sip_t *sip)
{
	const sip_session_expires_t *x = sip->sip_session_expires;

	if (!sip_has_feature(sip->sip_require, "timer") || !x || !x->x_refresher ||
	    !su_casematch(x->x_refresher, "uas") ||
	    SIP_IS_ALLOWED(sip->sip_allow, sip_method_update))
		return false;
	nua_set_hparams(nh, NUTAG_UPDATE_REFRESH(0), NUTAG_AUTOACK(0), TAG_END());
	return true;
}

void sb_sip_on_refresh_response(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                                int status, const char *phrase, const sip_t *sip)
{
	const char *answer = NULL;

	if (!c->refresh_by_invite || status < 200)
		return;
	sb_log_ctx_set(c->id);
	if (status >= 300) {
		log_notice("Session refresh answered %d %s", status, phrase ? phrase : "");
	} else if (!sb_sip_has_body(sip)) {
		/* The 200 to an INVITE without an offer must carry one; the media stays. */
		nua_ack(nh, TAG_END());
		log_notice("Session refresh answered without an offer; the media stays as it was");
	} else if (sb_sip_take_offer(a, c, sip, "Session refresh", &answer) == 200) {
		nua_ack(nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(answer),
		        TAG_END());
	} else {
		/* An offer in a 200 cannot be refused: the ACK goes without an answer, and the
		 * call ends. */
		nua_ack(nh, TAG_END());
		log_notice(
		        "Session refresh answered with an offer that cannot be used, hanging up");
		sb_sip_call_event(a, c, SB_CALL_EV_MEDIA_FAILED);
	}
	sb_log_ctx_set(NULL);
}

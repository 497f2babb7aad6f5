/* Session refreshes the bridge sends (RFC 4028) where it cannot use UPDATE: a caller that
 * requires session timers and names the bridge the refresher (refresher=uas) without allowing
 * UPDATE gets re-INVITEs. nua sends them without SDP, since its media handling is off, so the
 * caller's 200 carries an offer that the ACK must answer (RFC 3261 13.2.1, RFC 3264): nua's own
 * ACK is off for such a call, and ours carries the answer. A refresh answered 491 (the caller's
 * re-INVITE crossed ours) goes again after 0-2 s (RFC 3261 14.1); one the caller refuses
 * otherwise ends the call, since the caller requires refreshes and would end it at the
 * interval; one whose response ends the dialog (408, 481) is nua's to end.
 * Thread: control. */
#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/su_uniqueid.h>

#include "sip_agent_priv.h"

#define GLARE_WAIT_MAX_MS 2000 /* RFC 3261 14.1: the side that does not own the Call-ID */

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

void sb_sip_refresh_forget(struct sb_sip_agent *a, struct sb_call *c)
{
	if (c->refresh_retry_ms) {
		c->refresh_retry_ms = 0;
		a->n_refresh_retries--;
	}
}

void sb_sip_refresh_tick(struct sb_sip_agent *a)
{
	int64_t now;

	if (!a->n_refresh_retries)
		return;
	now = sb_now_ms();
	for (struct sb_call *c = LIST_FIRST(&a->calls); c; c = LIST_NEXT(c, reg)) {
		if (!c->refresh_retry_ms || now < c->refresh_retry_ms)
			continue;
		sb_sip_refresh_forget(a, c);
		if (c->fsm.state != SB_CALL_ST_ACTIVE)
			continue;
		sb_log_ctx_set(c->id);
		log_info("Session refresh sent again");
		nua_invite(c->nh, TAG_END());
		sb_log_ctx_set(NULL);
	}
}

/* The caller refused our refresh with status. */
static void refused(struct sb_sip_agent *a, struct sb_call *c, int status, const char *phrase)
{
	if (sip_response_terminates_dialog(status, sip_method_invite, NULL)) {
		log_notice("Session refresh answered %d %s: the dialog is over", status, phrase);
	} else if (status == 491 && c->fsm.state == SB_CALL_ST_ACTIVE) {
		int ms = su_randint(0, GLARE_WAIT_MAX_MS);

		log_info("Session refresh answered 491 %s: sending it again in %d ms", phrase, ms);
		if (!c->refresh_retry_ms)
			a->n_refresh_retries++;
		c->refresh_retry_ms = sb_now_ms() + ms;
	} else if (c->fsm.state == SB_CALL_ST_ACTIVE) {
		log_notice("Session refresh answered %d %s: hanging up (the caller requires "
		           "refreshes)",
		           status, phrase);
		sb_sip_call_event(a, c, SB_CALL_EV_MEDIA_FAILED);
	}
}

/* ACKs the refresh's 200, with answer (NULL: no body). */
static void ack(struct sb_call *c, nua_handle_t *nh, const char *answer)
{
	c->refresh_acked_answer = answer != NULL;
	nua_ack(nh, TAG_IF(answer, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
	        TAG_IF(answer, SIPTAG_PAYLOAD_STR(answer)), TAG_END());
}

void sb_sip_on_refresh_response(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                                int status, const char *phrase, const sip_t *sip)
{
	const char *answer = NULL;
	uint32_t cseq = sip && sip->sip_cseq ? sip->sip_cseq->cs_seq : 0;

	if (!c->refresh_by_invite || status < 200)
		return;
	sb_log_ctx_set(c->id);
	if (status >= 300) {
		refused(a, c, status, phrase ? phrase : "");
		goto out;
	}
	if (cseq && cseq == c->refresh_cseq) {
		/* The same 200 again (our ACK lost): the same ACK again; its offer is not taken
		 * twice. */
		ack(c, nh, c->refresh_acked_answer ? c->answer_sdp : NULL);
		goto out;
	}
	c->refresh_cseq = cseq;
	if (c->fsm.state != SB_CALL_ST_ACTIVE) {
		ack(c, nh, NULL); /* the call ends: its media stays as it is */
	} else if (!sb_sip_has_body(sip)) {
		/* The 200 to an INVITE without an offer must carry one; the media stays. */
		ack(c, nh, NULL);
		log_notice("Session refresh answered without an offer; the media stays as it was");
	} else if (sb_sip_take_offer(a, c, sip, "Session refresh", &answer) == 200) {
		ack(c, nh, answer);
	} else {
		/* An offer in a 200 cannot be refused: the ACK answers it with the audio stream
		 * refused (port 0), or without a body where it cannot be read, and the call ends.
		 */
		ack(c, nh, sb_sip_refuse_offer(c, sip));
		log_notice(
		        "Session refresh answered with an offer that cannot be used, hanging up");
		sb_sip_call_event(a, c, SB_CALL_EV_MEDIA_FAILED);
	}
out:
	sb_log_ctx_set(NULL);
}

/* Runs a call's state machine on the control thread: answer, reject, BYE, detaching the
 * workers and releasing the call once both SIP and the workers are done.
 * Thread: control. Owns the call registry. */
#include <string.h>

#define LOG_SUBSYS "call"
#include <sb/log.h>

#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include <sb/msg.h>
#include <sb/ws_worker.h>

#include "sip_agent_priv.h"

#define SB_SDP_MAX 1024

void sb_sip_register(struct sb_sip_agent *a, struct sb_call *c)
{
	c->reg_prev = NULL;
	c->reg_next = a->calls;
	if (a->calls)
		a->calls->reg_prev = c;
	a->calls = c;
	a->n_calls++;
}

static void unregister(struct sb_sip_agent *a, struct sb_call *c)
{
	if (c->reg_prev)
		c->reg_prev->reg_next = c->reg_next;
	else
		a->calls = c->reg_next;
	if (c->reg_next)
		c->reg_next->reg_prev = c->reg_prev;
	c->reg_prev = c->reg_next = NULL;
	a->n_calls--;
}

static void post_media(struct sb_sip_agent *a, struct sb_call *c, int type, int64_t arg)
{
	struct sb_msg *m = sb_msg_new(type, c, arg);

	if (!m) {
		log_error("Out of memory posting to the media worker");
		return;
	}
	sb_media_worker_post(a->d->media[c->media_idx], m);
}

static void answer(struct sb_sip_agent *a, struct sb_call *c)
{
	char sdp[SB_SDP_MAX];
	int n;

	n = sb_sdp_build_answer(sdp, sizeof(sdp), &c->offer, c->local_addr, c->local_port,
				(uint64_t)c->t_invite_ms, ++a->sdp_version);
	if (n < 0) {
		/* Cannot happen with a bounded address; fail the call rather than answer badly. */
		log_error("Failed to build the SDP answer, rejecting");
		nua_respond(c->nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	nua_respond(c->nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	c->t_answer_ms = sb_now_ms();
	/* The socket moves to the media leg, which closes it on detach. */
	post_media(a, c, SB_MSG_MEDIA_ATTACH, c->rtp_fd);
	c->rtp_fd = -1;
	c->media_attached = true;
	log_info("Answered: %s/%u ⇄ %s:%u, bot connected in %lld ms", sb_codec_name(c->offer.codec),
		 c->local_port, c->offer.addr, c->offer.port,
		 (long long)(c->t_answer_ms - c->t_invite_ms));
}

static void detach(struct sb_sip_agent *a, struct sb_call *c)
{
	if (c->media_attached)
		post_media(a, c, SB_MSG_MEDIA_DETACH, 0);
	if (c->ws_attached) {
		struct sb_msg *m = sb_msg_new(SB_MSG_BOT_DETACH, c, 0);

		if (m) {
			m->text = strdup(c->stop_reason ? c->stop_reason : "stopped");
			sb_ws_worker_post(a->d->ws[c->ws_idx], m);
		}
	}
	if (!c->media_attached && !c->ws_attached)
		sb_sip_call_event(a, c, SB_CALL_EV_WORKERS_DONE);
}

static void release(struct sb_sip_agent *a, struct sb_call *c)
{
	if (c->nh) {
		nua_handle_bind(c->nh, NULL);
		nua_handle_destroy(c->nh);
		c->nh = NULL;
	}
	unregister(a, c);
	log_info("Call released after %lld ms (%s)", (long long)(sb_now_ms() - c->t_invite_ms),
		 c->stop_reason ? c->stop_reason : "rejected");
	sb_call_unref(c); /* the registry's reference */
	sb_sip_maybe_shutdown(a);
}

void sb_sip_call_event(struct sb_sip_agent *a, struct sb_call *c, enum sb_call_event ev)
{
	enum sb_call_state old = c->fsm.state;
	unsigned act;

	sb_call_ref(c); /* actions may release the registry's reference */
	sb_log_ctx_set(c->id);
	act = sb_call_fsm_step(&c->fsm, ev);
	if (old != c->fsm.state)
		log_debug("%s: %s -> %s", sb_call_event_name(ev), sb_call_state_name(old),
			  sb_call_state_name(c->fsm.state));
	if ((act & SB_CALL_ACT_DETACH) && !c->stop_reason)
		c->stop_reason = sb_call_fsm_stop_reason(ev);
	if (act & SB_CALL_ACT_ANSWER)
		answer(a, c);
	if (act & SB_CALL_ACT_REJECT_503) {
		log_notice("Rejecting with 503 (%s)", sb_call_event_name(ev));
		nua_respond(c->nh, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
			    TAG_END());
	}
	if (act & SB_CALL_ACT_REJECT_500)
		nua_respond(c->nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
	if (act & SB_CALL_ACT_SEND_BYE) {
		log_info("Hanging up (%s)", sb_call_event_name(ev));
		nua_bye(c->nh, TAG_END());
	}
	if (act & SB_CALL_ACT_DETACH)
		detach(a, c);
	if (act & SB_CALL_ACT_RELEASE)
		release(a, c);
	sb_log_ctx_set(NULL);
	sb_call_unref(c);
}

void sb_sip_call_detached(struct sb_sip_agent *a, struct sb_call *c, bool media)
{
	if (media)
		c->media_attached = false;
	else
		c->ws_attached = false;
	if (!c->media_attached && !c->ws_attached)
		sb_sip_call_event(a, c, SB_CALL_EV_WORKERS_DONE);
}

/* Runs a call's state machine on the control thread: answer, reject, BYE, detaching the
 * workers and releasing the call once both SIP and the workers are done.
 * Thread: control. Owns the call registry. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "call"
#include <sb/log.h>

#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/rtp_session.h>
#include <sb/ws_worker.h>

#include "sip_agent_priv.h"

#define SB_SDP_MAX 1024

void sb_sip_register(struct sb_sip_agent *a, struct sb_call *c)
{
	LIST_INSERT_HEAD(&a->calls, c, reg);
	a->n_calls++;
	sb_sip_admin_call_started(a);
}

void sb_sip_unregister(struct sb_sip_agent *a, struct sb_call *c)
{
	LIST_REMOVE(c, reg);
	a->n_calls--;
	sb_sip_refresh_forget(a, c);
	if (c->ending)
		a->n_ending--;
}

static bool post_media(struct sb_sip_agent *a, struct sb_call *c, int type, int64_t arg, void *data)
{
	struct sb_msg *m = sb_msg_new(type, c, arg);

	if (!m) {
		log_error("Out of memory posting to the media worker");
		if (type == SB_MSG_MEDIA_ATTACH) /* SRTP keys */
			sb_srtp_wipe(data, sizeof(struct sb_media_attach));
		else if (type == SB_MSG_MEDIA_UPDATE)
			sb_srtp_wipe(data, sizeof(struct sb_media_update));
		free(data);
		return false;
	}
	m->data = data;
	sb_media_worker_post(a->d->media[c->media_idx], m);
	return true;
}

/* Keeps sdp as the description last sent; returns the kept copy (owned by c) or NULL. */
static const char *keep_sdp(struct sb_call *c, const char *sdp)
{
	if (c->answer_sdp) /* it may hold our SRTP key */
		sb_srtp_wipe(c->answer_sdp, strlen(c->answer_sdp));
	free(c->answer_sdp);
	c->answer_sdp = strdup(sdp);
	return c->answer_sdp;
}

/* Builds the answer to offer; the session version goes up only when the answer changes, as
 * RFC 3264 asks. Returns the SDP (owned by c) or NULL. */
static const char *make_answer(struct sb_call *c, const struct sb_sdp_offer *offer)
{
	char sdp[SB_SDP_MAX];
	/* An offer that takes the audio stream away (port 0) is answered with port 0 (RFC 3264
	 * 8.2); the call keeps its port for an offer that brings the stream back. */
	uint16_t port = offer->port ? c->local_port : 0;
	const char *kept = NULL;

	if (sb_sdp_build_answer(sdp, sizeof(sdp), offer, c->local_addr, port, c->sdp_session_id,
	                        c->sdp_version) < 0)
		goto out;
	if (c->answer_sdp && strcmp(sdp, c->answer_sdp) != 0) {
		c->sdp_version++;
		if (sb_sdp_build_answer(sdp, sizeof(sdp), offer, c->local_addr, port,
		                        c->sdp_session_id, c->sdp_version) < 0)
			goto out;
	}
	kept = keep_sdp(c, sdp);
out:
	sb_srtp_wipe(sdp, sizeof(sdp)); /* may hold our SRTP key */
	return kept;
}

static void attach_media(struct sb_sip_agent *a, struct sb_call *c)
{
	struct sb_media_attach *at = malloc(sizeof(*at));

	/* The sockets move to the media leg, which closes them on detach. On failure they stay
	 * with the call, whose destructor closes them. */
	if (!at) {
		log_error("Out of memory attaching the media leg");
		return;
	}
	*at = (struct sb_media_attach){.rtp_fd = c->rtp_fd, .rtcp_fd = c->rtcp_fd};
	sb_sip_srtp_attach(c, at); /* before the post: c->offer is the media's from then on */
	if (!post_media(a, c, SB_MSG_MEDIA_ATTACH, 0, at))
		return;
	c->rtp_fd = c->rtcp_fd = -1;
	c->media_attached = true;
}

/* Delayed offer: the bridge offers PCMA and PCMU; the media starts when the ACK answers. */
static const char *make_offer(struct sb_call *c)
{
	char sdp[SB_SDP_MAX];

	if (sb_sdp_build_offer(sdp, sizeof(sdp), c->local_addr, c->local_port, c->sdp_session_id,
	                       c->sdp_version) < 0)
		return NULL;
	return keep_sdp(c, sdp);
}

static void answer(struct sb_sip_agent *a, struct sb_call *c)
{
	const char *sdp;

	/* The call id is random hex: its first 12 digits make a unique o= session id. */
	sscanf(c->id, "%12" SCNx64, &c->sdp_session_id);
	c->sdp_version = 1;
	c->offer_now = c->offer;
	sdp = c->late_offer ? make_offer(c) : make_answer(c, &c->offer_now);
	if (!sdp) {
		/* Cannot happen with a bounded address; fail the call rather than answer badly. */
		log_error("Failed to build the SDP, rejecting");
		nua_respond(c->nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		sb_metric_sip_response(500);
		c->sip_status = 500;
		return;
	}
	/* Counted when nua says it went out (sb_sip_answer_sent): a CANCEL may overtake it. */
	nua_respond(c->nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
	            SIPTAG_PAYLOAD_STR(sdp), TAG_IF(c->contact[0], SIPTAG_CONTACT_STR(c->contact)),
	            TAG_END());
	c->t_answer_ms = sb_now_ms();
	c->wall_answer_ms = sb_wall_ms();
	c->sip_status = 200;
	if (c->late_offer) {
		log_info("Answered with an offer (delayed offer), bot connected in %lld ms",
		         (long long)(c->t_answer_ms - c->t_invite_ms));
		return;
	}
	attach_media(a, c);
	log_info("Answered: %s/%u ⇄ %s:%u, bot connected in %lld ms", sb_codec_name(c->offer.codec),
	         c->local_port, c->offer.addr, c->offer.port,
	         (long long)(c->t_answer_ms - c->t_invite_ms));
}

void sb_sip_answer_sent(struct sb_call *c)
{
	if (c->answer_counted || c->sip_status != 200)
		return;
	c->answer_counted = true;
	sb_metric_sip_response(200);
}

/* The SDP an ACK carries (application/sdp or a multipart part), parsed into ans; NULL, or why
 * there is no usable one, in a log line's words. */
static const char *ack_sdp(const sip_t *sip, struct sb_sdp_offer *ans)
{
	const char *sdp;
	size_t len;
	int r;

	if (!sip || sb_sip_body_sdp(sip, false, &sdp, &len) != 0 || !sdp)
		return "no SDP";
	r = sb_sdp_parse_offer(sdp, len, ans);
	return r < 0 ? sb_sdp_parse_problem(r) : NULL;
}

/* The ACK's SDP answers a delayed-offer call's offer: one of the codecs offered, at a usable
 * address of the same family. NULL, or why it does not. */
static const char *take_late_answer(struct sb_call *c, const sip_t *sip)
{
	struct sb_sdp_offer ans;
	const char *why = ack_sdp(sip, &ans);

	if (why)
		return why;
	sb_sip_srtp_wipe(&ans); /* our offer was RTP/AVP: an RTP/SAVP answer is refused */
	if (ans.savp)
		return "RTP/SAVP to an RTP/AVP offer";
	if (ans.port == 0)
		return "port 0";
	if (ans.family != c->offer.family)
		return "an address of another family than the offer's";
	if (ans.pt != (uint8_t)ans.codec)
		return "a payload type the offer did not make";
	if (sb_sockaddr_make(ans.family, ans.addr, ans.port, &c->remote_rtp, &c->remote_rtp_len) <
	    0)
		return "an address that cannot be used";
	c->offer = ans;
	c->offer_now = ans;
	return NULL;
}

/* An offer-less re-INVITE (an SBC re-anchoring media, a refresh): the 200 carries our offer,
 * the current codec at our address, sendrecv (RFC 6337 5.3), and the ACK the answer. */
static void reoffer(struct sb_call *c, nua_handle_t *nh)
{
	struct sb_sdp_offer o = c->offer_now;
	const char *sdp;

	o.dir = SB_DIR_SENDRECV;
	sdp = make_answer(c, &o);
	sb_sip_srtp_wipe(&o);
	if (!sdp) {
		nua_respond(nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		sb_metric_sip_response(500);
		return;
	}
	nua_respond(nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
	            SIPTAG_PAYLOAD_STR(sdp), TAG_IF(c->contact[0], SIPTAG_CONTACT_STR(c->contact)),
	            TAG_END());
	sb_metric_sip_response(200);
	c->reoffer_pending = true;
}

/* Logs a hold or its end. The media worker tells the bot (after it stops or resumes
 * sending), in order with the caller's audio. */
static void note_hold(struct sb_call *c, const struct sb_sdp_offer *o)
{
	bool held = sb_sdp_held(o);

	if (held == c->held)
		return;
	c->held = held;
	log_info("Caller %s the call", held ? "holds" : "resumes");
}

/* The call's media follows the description o (an offer taken, or the answer to ours), with the
 * media update u (owned from here): logged as what. o's keys are wiped. */
static void follow(struct sb_sip_agent *a, struct sb_call *c, struct sb_media_update *u,
                   struct sb_sdp_offer *o, const char *what)
{
	c->offer_now = *o;
	u->offer = *o;
	sb_sip_srtp_wipe(&u->offer);
	sb_sip_srtp_wipe(o);
	log_info("%s: %s %s:%u, %s", what, sb_codec_name(o->codec), o->addr, o->port,
	         o->dir == SB_DIR_SENDRECV ? "sendrecv" : "on hold or one-way");
	note_hold(c, o);
	if (c->media_attached) {
		post_media(a, c, SB_MSG_MEDIA_UPDATE, 0, u);
	} else {
		sb_srtp_wipe(u, sizeof(*u)); /* a new caller key */
		free(u);
	}
}

/* The ACK of an offer-less re-INVITE answers our offer: the codec we offered, at a usable
 * address of the call's family. The media follows it; a missing or unusable answer leaves
 * the media as it was. */
static void take_reoffer_answer(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip)
{
	struct sb_media_update *u;
	struct sb_sdp_offer ans;
	const char *why;

	c->reoffer_pending = false;
	u = calloc(1, sizeof(*u));
	why = !u ? "out of memory" : ack_sdp(sip, &ans);
	if (!why && ans.family != c->offer_now.family)
		why = "an address of another family than the call's";
	else if (!why && ans.codec != c->offer_now.codec)
		why = "another codec than the one offered";
	else if (!why && sb_sip_srtp_reoffer(c, sip, &ans, u) < 0)
		why = "an RTP profile or SRTP key that does not fit the call";
	else if (!why &&
	         sb_sockaddr_make(ans.family, ans.addr, ans.port, &u->remote, &u->remote_len) < 0)
		why = "an address that cannot be used";
	if (why) {
		log_notice("No usable SDP answer in the ACK of a re-INVITE (%s); the media stays "
		           "as it was",
		           why);
		if (u)
			sb_srtp_wipe(u, sizeof(*u));
		free(u);
		return;
	}
	ans.pt = c->offer_now.pt; /* our offer's payload type is the one both sides use */
	follow(a, c, u, &ans, "re-INVITE answered in the ACK");
}

void sb_sip_on_ack(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip)
{
	bool media_failed = false;

	if (c->reoffer_pending) {
		sb_log_ctx_set(c->id);
		take_reoffer_answer(a, c, sip);
		sb_log_ctx_set(NULL);
	}
	if (c->late_offer && !c->media_attached && c->fsm.state == SB_CALL_ST_ANSWERED) {
		sb_log_ctx_set(c->id);
		const char *why = take_late_answer(c, sip);

		if (!why) {
			attach_media(a, c);
			log_info("ACK answered: %s ⇄ %s:%u", sb_codec_name(c->offer.codec),
			         c->offer.addr, c->offer.port);
		} else {
			log_notice("No usable SDP answer in the ACK (%s), hanging up", why);
			media_failed = true;
		}
		sb_log_ctx_set(NULL);
	}
	sb_sip_call_event(a, c, SB_CALL_EV_ACK);
	if (media_failed)
		sb_sip_call_event(a, c, SB_CALL_EV_MEDIA_FAILED);
	else if (c->transfer_after_ack && c->fsm.state == SB_CALL_ST_ACTIVE) {
		struct sb_transfer_req *req = c->after_ack_req;

		c->transfer_after_ack = false;
		c->after_ack_req = NULL;
		sb_sip_transfer(a, c, req ? req->to : NULL, req ? req->headers : NULL,
		                req ? req->n_headers : 0, c->after_ack_bot_gone);
		free(req);
	}
}

bool sb_sip_transfer_wait_ack(struct sb_call *c, struct sb_transfer_req *req, bool bot_gone)
{
	if (c->fsm.state != SB_CALL_ST_ANSWERED || c->transfer_after_ack)
		return false; /* sb_sip_transfer() starts it or says why not */
	sb_log_ctx_set(c->id);
	log_info("Transfer to %.*s asked for before the caller's ACK: it starts once the call is "
	         "established",
	         SB_TRANSFER_URI_MAX,
	         req && req->to && req->to[0] ? req->to
	         : c->trunk->destination[0]   ? c->trunk->destination
	                                      : "(none)");
	sb_log_ctx_set(NULL);
	c->transfer_after_ack = true;
	c->after_ack_bot_gone = bot_gone;
	c->after_ack_req = req;
	return true;
}

int sb_sip_take_offer(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip, const char *what,
                      const char **answer)
{
	struct sb_sdp_offer offer;
	struct sb_media_update *u;
	const char *sdp;
	size_t len;
	int status = 488;

	u = calloc(1, sizeof(*u));
	sb_sip_body_sdp(sip, true, &sdp, &len);
	if (!u || !sdp || sb_sdp_parse_offer(sdp, len, &offer) < 0 ||
	    offer.family != c->offer_now.family || sb_sip_srtp_reoffer(c, sip, &offer, u) < 0 ||
	    sb_sockaddr_make(offer.family, offer.addr, offer.port, &u->remote, &u->remote_len) < 0)
		goto fail;
	*answer = make_answer(c, &offer);
	if (!*answer) {
		status = 500;
		goto fail;
	}
	follow(a, c, u, &offer, what);
	return 200;
fail:
	sb_sip_srtp_wipe(&offer);
	if (u)
		sb_srtp_wipe(u, sizeof(*u));
	free(u);
	return status;
}

const char *sb_sip_refuse_offer(struct sb_call *c, const sip_t *sip)
{
	struct sb_sdp_offer offer;
	const char *sdp = NULL, *answer = NULL;
	size_t len;

	sb_sip_body_sdp(sip, true, &sdp, &len);
	if (sdp && sb_sdp_parse_offer(sdp, len, &offer) >= 0) {
		offer.port = 0;
		answer = make_answer(c, &offer);
	}
	sb_sip_srtp_wipe(&offer);
	return answer;
}

/* A new offer in the dialog, in a re-INVITE or an UPDATE (named by what, for the log). */
static void on_offer(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh, const sip_t *sip,
                     const char *what)
{
	const char *sdp = NULL;
	size_t len;
	int status;

	sb_log_ctx_set(c->id);
	if (c->fsm.state != SB_CALL_ST_ANSWERED && c->fsm.state != SB_CALL_ST_ACTIVE) {
		nua_respond(nh, SIP_500_INTERNAL_SERVER_ERROR, SIPTAG_RETRY_AFTER_STR("1"),
		            NUTAG_WITH_THIS(a->nua), TAG_END());
		sb_metric_sip_response(500);
		goto out;
	}
	status = sb_sip_body_sdp(sip, true, &sdp, &len);
	if (status) {
		/* A refused offer leaves the call as it was (RFC 3261 14.2, RFC 3311 5.2). */
		log_notice("%s body not acceptable, %d; the call goes on unchanged", what, status);
		nua_respond(nh, status, sip_status_phrase(status),
		            TAG_IF(status == 415, SIPTAG_ACCEPT_STR("application/sdp")),
		            NUTAG_WITH_THIS(a->nua), TAG_END());
		sb_metric_sip_response(status);
		goto out;
	}
	if (!sdp) {
		reoffer(c, nh);
		goto out;
	}
	status = sb_sip_take_offer(a, c, sip, what, &sdp);
	if (status == 488) /* it leaves the call as it was (RFC 3261 14.2, RFC 3311 5.2) */
		log_notice("%s offer not acceptable, 488; the call goes on unchanged", what);
	if (status != 200)
		nua_respond(nh, status, sip_status_phrase(status), NUTAG_WITH_THIS(a->nua),
		            TAG_END());
	else
		nua_respond(nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		            SIPTAG_PAYLOAD_STR(sdp),
		            TAG_IF(c->contact[0], SIPTAG_CONTACT_STR(c->contact)),
		            NUTAG_WITH_THIS(a->nua), TAG_END());
	sb_metric_sip_response(status);
out:
	sb_log_ctx_set(NULL);
}

void sb_sip_on_reinvite(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                        const sip_t *sip)
{
	on_offer(a, c, nh, sip, "re-INVITE");
}

void sb_sip_on_update(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh, const sip_t *sip)
{
	/* With an offer it moves the media as a re-INVITE does (RFC 3311); without, it refreshes
	 * the session (RFC 4028: nua adds the timer's headers to the 200) or asks nothing. */
	if (sb_sip_has_body(sip)) {
		on_offer(a, c, nh, sip, "UPDATE");
		return;
	}
	nua_respond(nh, SIP_200_OK, TAG_IF(c->contact[0], SIPTAG_CONTACT_STR(c->contact)),
	            NUTAG_WITH_THIS(a->nua), TAG_END());
	sb_metric_sip_response(200);
}

/* Tells the call's ws worker to stop the bot (a "stop" after what the bot has not had yet).
 * The media worker has let go of the call, or never had it: up_left is the ws worker's. */
static void detach_bot(struct sb_sip_agent *a, struct sb_call *c)
{
	struct sb_msg *m = sb_msg_new(SB_MSG_BOT_DETACH, c, 1);

	c->bot_detach_waits = false;
	if (m) {
		m->text = strdup(c->stop_reason ? c->stop_reason : "stopped");
		sb_ws_worker_post(a->d->ws[c->ws_idx], m);
	} else {
		log_error("Out of memory detaching the bot connection");
		c->ws_attached = false;
	}
}

static void detach(struct sb_sip_agent *a, struct sb_call *c)
{
	/* A command that cannot be sent (out of memory) would never be answered: do not wait for
	 * that worker, so the call is still released. */
	if (c->media_attached && !post_media(a, c, SB_MSG_MEDIA_DETACH, 0, NULL))
		c->media_attached = false;
	/* The bot is stopped once the media worker has let go of the leg: the caller audio it
	 * received before the hangup is in the call's up ring by then, and goes ahead of stop. */
	if (c->ws_attached && c->media_attached)
		c->bot_detach_waits = true;
	else if (c->ws_attached)
		detach_bot(a, c);
	if (!c->media_attached && !c->ws_attached)
		sb_sip_call_event(a, c, SB_CALL_EV_WORKERS_DONE);
}

static void release(struct sb_sip_agent *a, struct sb_call *c)
{
	sb_sip_transfer_free(a, c);
	if (c->nh) {
		nua_handle_bind(c->nh, NULL);
		nua_handle_destroy(c->nh);
		c->nh = NULL;
	}
	sb_sip_unregister(a, c);
	sb_sip_admin_call_ended(a, c);
	sb_sip_record_call(a, c);
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
	sb_sip_record_end(c, ev, act);
	if (act & SB_CALL_ACT_ANSWER)
		answer(a, c);
	if (act & SB_CALL_ACT_REJECT_503) {
		log_notice("Rejecting with 503 (%s)", sb_call_event_name(ev));
		nua_respond(c->nh, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
		            TAG_END());
		sb_metric_sip_response(503);
		SB_METRIC_INC(invites_rejected_total,
		              ev == SB_CALL_EV_BOT_FAILED ? SB_M_REASON_BOT : SB_M_REASON_LIMIT);
	}
	if (act & SB_CALL_ACT_REJECT_500) {
		nua_respond(c->nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		sb_metric_sip_response(500);
	}
	if (act & SB_CALL_ACT_SEND_BYE) {
		log_info("Hanging up (%s)", sb_call_event_name(ev));
		nua_bye(c->nh, TAG_END());
	}
	if (act & SB_CALL_ACT_DETACH) {
		if (!c->ending) {
			c->ending = true;
			a->n_ending++;
		}
		sb_sip_transfer_hangup(a, c);
		detach(a, c);
	}
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
	if (media && c->ws_attached && c->bot_detach_waits)
		detach_bot(a, c);
	if (!c->media_attached && !c->ws_attached)
		sb_sip_call_event(a, c, SB_CALL_EV_WORKERS_DONE);
}

/* Private state of the SIP agent, shared by its files: sip_agent.c (loop, events),
 * sip_agent_invite.c (screening new INVITEs), sip_agent_call.c (running a call's state
 * machine), sip_agent_info.c (INFO in a dialog), sip_agent_transfer.c and sip_agent_bridge.c
 * (transfers), and the rest of sip_agent_*.c.
 * Thread: control only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sb_sip_agent;
struct sb_call;
struct sb_resolver;

#define SU_ROOT_MAGIC_T struct sb_sip_agent
#define SU_WAKEUP_ARG_T struct sb_sip_agent
#define SU_TIMER_ARG_T struct sb_sip_agent
#define NUA_MAGIC_T struct sb_sip_agent
#define NUA_HMAGIC_T struct sb_call

#include <sofia-sip/nua.h>
#include <sofia-sip/su_wait.h>

#include <sb/call.h>
#include <sb/daemon.h>

#include <sb/transfer.h>

#include "sip_guard.h"
#include "sip_listen.h"

/* The bot's X- headers for a transfer, as "Name: value\r\n" lines (the agent's INVITE), at most. */
#define SB_XFER_HEADER_TEXT_MAX 1024

/* A call's transfer (control): REFER in the caller's dialog, or the bridge dialling the
 * agent itself. */
struct sb_xfer {
	char target[SB_TRANSFER_URI_MAX + 1];
	bool bot_gone;       /* no bot to tell of a failure: a failure ends the call */
	bool done;           /* the outcome is known (and acted on) */
	int64_t deadline_ms; /* no outcome by then: it failed (408) */
	/* bridged */
	nua_handle_t *agent; /* the agent's dialog */
	int rtp_fd, rtcp_fd; /* the agent leg's sockets until the media worker takes them */
	uint16_t port;
	bool answered; /* the agent answered: caller and agent are bridged */
	bool cancelled;
	/* while the target's host name is looked up (sip_agent_dns.c): the resolver's key,
	 * "4 HOST" or "6 HOST" ("" when no lookup is awaited), and the INVITE's header lines */
	char dns_key[SB_TRANSFER_URI_MAX + 3];
	char *hdrs;
	/* the agent's dialog, whose requests the guard lets through from where the agent
	 * answers ("" until its first response) */
	char call_id[SB_DIALOG_PEERS_CALL_ID_MAX + 1];
};

struct sb_sip_agent {
	struct sb_daemon *d;
	su_root_t *root;
	nua_t *nua;
	su_wait_t mq_wait, sig_wait;
	int mq_idx, sig_idx; /* su_root registrations, 0 when none */
	int sigfd;
	su_timer_t *watchdog, *deadline;
	su_timer_t *xfer_timer;      /* transfers' deadlines */
	unsigned n_xfers;            /* transfers waiting for an outcome */
	unsigned n_refresh_retries;  /* calls whose session refresh waits to go again (491) */
	unsigned wd_seq;             /* the workers' last ping; each answers it at its next turn */
	int64_t wd_sent_ms;          /* when it was sent */
	struct sb_sip_guard guard;   /* in front of nua: ACL, bad first lines, TCP connections */
	struct sb_sip_listen listen; /* the URLs nua listens on, the TLS certificate directory */
	/* transfer targets' host names (sip_agent_dns.c): the resolver, its answers, and their
	 * su_root registration (0 when none) */
	struct sb_resolver *resolver;
	struct sb_mq *dns_answers;
	su_wait_t dns_wait;
	int dns_idx;

	LIST_HEAD(, sb_call) calls; /* registry: every call not yet released */
	unsigned n_calls;
	unsigned n_ending; /* of n_calls, those whose dialog is over and whose workers are
	                      letting go (the bot's close handshake): not counted in max_calls */

	unsigned next_media, next_ws; /* round-robin sharding */
	int64_t cps_window_ms;        /* one-second window for limits.max_cps */
	unsigned cps_count;

	bool draining;           /* no new calls; those in progress go on until drain_timer */
	su_timer_t *drain_timer; /* limits.drain_timeout_s after the drain began */
	bool stopping;           /* hanging up every call and stopping: no new calls */
	bool nua_shutdown;       /* nua_shutdown() called */
	bool nua_down;           /* nua_r_shutdown final response seen */

	su_timer_t *admin_timer;    /* publishes the calls snapshot (admin API on) */
	bool admin_dirty;           /* a call started or ended since the last one */
	int64_t admin_published_ms; /* when the last one was */
};

/* sip_agent_body.c: the SDP of an INVITE, re-INVITE or ACK (*sdp NULL: there is none; it
 * points into sip). check_accept: the response will carry SDP, so Accept must allow it.
 * Returns 0, or the status to reject the request with: 406 when Accept excludes
 * application/sdp, 415 for a body that is not SDP and holds no SDP part, 400 for a multipart
 * body without a usable boundary or delimiter. */
int sb_sip_body_sdp(const sip_t *sip, bool check_accept, const char **sdp, size_t *len);
struct sb_media_attach;
struct sb_media_update;

/* sip_agent_srtp.c: rtp.srtp (the trunk's srtp) applied to a new INVITE's offer o (late: it
 * had none); on SRTP o->srtp is set and o->local holds a fresh key. Returns 0, or the status
 * to reject with (488, 500) and *why for its Warning. */
int sb_sip_srtp_offer(const struct sb_config *cfg, const struct sb_trunk *t, const sip_t *sip,
                      struct sb_sdp_offer *o, bool late, const char **why);
/* sip_agent_srtp.c: moves c->offer's keys into at (suite NONE on a plain call), wiping them. */
void sb_sip_srtp_attach(struct sb_call *c, struct sb_media_attach *at);
/* sip_agent_srtp.c: a re-INVITE's offer (or the ACK's answer to our re-offer) o on call c:
 * an SRTP call needs RTP/SAVP with the same suite (our key is repeated; a new caller key is
 * put in u), a plain call stays plain. Returns 0 or -EPROTONOSUPPORT (488). */
int sb_sip_srtp_reoffer(const struct sb_call *c, const sip_t *sip, struct sb_sdp_offer *o,
                        struct sb_media_update *u);
/* sip_agent_srtp.c: wipes the key material in o. */
void sb_sip_srtp_wipe(struct sb_sdp_offer *o);
/* sip_agent_invite.c: screens a new INVITE; responds and destroys nh, or creates the call. */
void sb_sip_on_invite(struct sb_sip_agent *a, nua_handle_t *nh, const sip_t *sip);

/* sip_agent_call.c: feeds ev to the call's state machine and runs the resulting actions. */
void sb_sip_call_event(struct sb_sip_agent *a, struct sb_call *c, enum sb_call_event ev);
/* sip_agent_call.c: nua reports the call's INVITE answered (its 200 went out): counted once. */
void sb_sip_answer_sent(struct sb_call *c);
/* sip_agent_call.c: a re-INVITE in an existing dialog (hold, unhold, new address, session
 * refresh): nua leaves it to us because its media handling is off. */
void sb_sip_on_reinvite(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                        const sip_t *sip);
/* sip_agent_call.c: an UPDATE in an existing dialog: an offer moves the media as a re-INVITE's
 * does; without one it is a session refresh. nua leaves it to us (NUTAG_APPL_METHOD). */
void sb_sip_on_update(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                      const sip_t *sip);
/* sip_agent_call.c: takes the offer in sip for the call (named by what, for the log): the
 * media follows it. Returns 200 with *answer (owned by c), or the status that refuses it (488:
 * not usable, the call unchanged; 500). */
int sb_sip_take_offer(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip, const char *what,
                      const char **answer);
/* sip_agent_refresh.c: chooses how the bridge refreshes the session of the INVITE sip on nh,
 * when it is the refresher: re-INVITE, with our own ACK, for a caller that requires session
 * timers and names the bridge the refresher but does not allow UPDATE. Returns true then. */
bool sb_sip_refresh_choose(nua_handle_t *nh, const sip_t *sip);
/* sip_agent_refresh.c: the response to our session refresh re-INVITE (nua_r_invite). */
void sb_sip_on_refresh_response(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                                int status, const char *phrase, const sip_t *sip);
/* sip_agent_refresh.c: sends the refreshes answered 491 whose wait is over; every 100 ms. */
void sb_sip_refresh_tick(struct sb_sip_agent *a);
/* sip_agent_refresh.c: c leaves the registry: a refresh it still waited to send goes. */
void sb_sip_refresh_forget(struct sb_sip_agent *a, struct sb_call *c);
/* sip_agent_call.c: the answer that refuses the offer in sip (its audio stream at port 0,
 * RFC 3264 6), for an offer that cannot be refused otherwise (in a 200); NULL when the offer
 * cannot be read. Owned by c. */
const char *sb_sip_refuse_offer(struct sb_call *c, const sip_t *sip);
/* sip_agent_info.c: an INFO in the call's dialog (DTMF); responds to it. */
void sb_sip_on_info(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh, const sip_t *sip);
/* sip_agent_transfer.c: starts a transfer of c to `to` (NULL or "": the trunk's destination)
 * with the bot's headers (only X- ones pass); bot_gone: nobody to tell of a failure. */
void sb_sip_transfer(struct sb_sip_agent *a, struct sb_call *c, const char *to,
                     const struct sb_kv *headers, size_t n, bool bot_gone);
/* sip_agent_transfer.c: an event on c's handles that belongs to its transfer (REFER response,
 * NOTIFY, anything on the agent's handle). Returns true when it was handled here. */
bool sb_sip_transfer_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
                           const char *phrase, nua_handle_t *nh, const sip_t *sip, tagi_t tags[]);
/* sip_agent_transfer.c: what the bot's socket did (BOT_CLOSED, BOT_HANGUP, BOT_FAILED) means
 * with on_close/on_fail = transfer or while bridged. Returns true when it was handled here. */
bool sb_sip_transfer_bot(struct sb_sip_agent *a, struct sb_call *c, int msg_type);
/* sip_agent_transfer.c: the call is being torn down: hangs up or cancels the agent's leg. */
void sb_sip_transfer_hangup(struct sb_sip_agent *a, struct sb_call *c);
/* sip_agent_transfer.c: frees c's transfer (at release). */
void sb_sip_transfer_free(struct sb_sip_agent *a, struct sb_call *c);
/* sip_agent_transfer.c: posts m (taken; NULL: an allocation failed, logged) to c's ws
 * worker. */
void sb_sip_post_ws(struct sb_sip_agent *a, struct sb_call *c, struct sb_msg *m);
/* sip_agent_transfer.c: the outcome of transfer x is known: it no longer counts as waiting. */
void sb_sip_transfer_settle(struct sb_sip_agent *a, struct sb_xfer *x);
/* sip_agent_transfer.c: c's transfer failed with status and reason (copied): the bot is told
 * and keeps the call, or the call ends; keep_record: the record stays (the agent's dialog
 * still has to wind down), else it is freed. */
void sb_sip_transfer_failed(struct sb_sip_agent *a, struct sb_call *c, int status,
                            const char *reason, bool keep_record);
/* sip_agent_bridge.c: dials the agent of c's bridged transfer with the bot's headers h (n of
 * them, copied), or first looks its host name up. Returns 0 (under way, or failed already
 * with a reason of its own: the lookup could not be queued) or -errno (the caller fails the
 * transfer). */
int sb_sip_bridge_dial(struct sb_sip_agent *a, struct sb_call *c, const struct sb_kv *h, size_t n);
/* sip_agent_bridge.c: an event on the agent's handle of c's transfer (its INVITE's responses,
 * its dialog's state, requests in its dialog). */
void sb_sip_bridge_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
                         const char *phrase, const sip_t *sip, tagi_t tags[]);
/* sip_agent_bridge.c: the lookup of the host name c's transfer waits for is answered: addr
 * (numeric, of the call's family), or NULL and the EAI_* code err. Dials the agent, or fails
 * the transfer. */
void sb_sip_transfer_resolved(struct sb_sip_agent *a, struct sb_call *c, const char *addr, int err);
/* sip_agent_dns.c: the resolver for transfer targets' host names and the registration of its
 * answers' queue in su_root; its threads start at the first lookup. Returns 0 or -errno. */
int sb_sip_dns_start(struct sb_sip_agent *a);
/* sip_agent_dns.c: lets the resolver go (a lookup still running posts nothing) and frees its
 * queue; safe when never started. */
void sb_sip_dns_stop(struct sb_sip_agent *a);
/* sip_agent_dns.c: looks key ("4 HOST" or "6 HOST") up off this thread; its answer goes to
 * sb_sip_transfer_resolved for every call whose transfer's dns_key is key by then. Returns 0,
 * -ENOBUFS or -ENOMEM. */
int sb_sip_dns_ask(struct sb_sip_agent *a, const char *key);
/* sip_agent_transfer.c: fails the transfers whose time is up. */
void sb_sip_transfer_tick(struct sb_sip_agent *a);
/* sip_agent_call.c: an ACK; for a delayed offer it carries the SDP answer. */
void sb_sip_on_ack(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip);
/* sip_agent_call.c: a transfer asked for between our 200 and the caller's ACK waits for the
 * ACK, which starts it (sb_sip_on_ack); req (NULL: the trunk's destination) is then the
 * call's. False, req still the caller's, when the call is not in that state or a transfer
 * already waits. */
bool sb_sip_transfer_wait_ack(struct sb_call *c, struct sb_transfer_req *req, bool bot_gone);
/* sip_agent_call.c: a worker replied DETACHED. */
void sb_sip_call_detached(struct sb_sip_agent *a, struct sb_call *c, bool media);
/* sip_agent_call.c: adds c (taking over the caller's reference); takes it out of the
 * registry and its counts (the reference stays the caller's to drop). */
void sb_sip_register(struct sb_sip_agent *a, struct sb_call *c);
void sb_sip_unregister(struct sb_sip_agent *a, struct sb_call *c);
/* sip_agent_record.c: notes what ev (with the actions act it produced) means for the
 * call-end record: the final status, and the first event that ends the call with its time. */
void sb_sip_record_end(struct sb_call *c, enum sb_call_event ev, unsigned act);
/* sip_agent_record.c: notes a transfer: its target (copied; NULL keeps the last) and outcome
 * ("pending", "succeeded", "failed"; a static string). */
void sb_sip_record_transfer(struct sb_call *c, const char *target, const char *outcome);
/* sip_agent_record.c: notes a key the caller sent by INFO. */
void sb_sip_record_info_dtmf(struct sb_call *c, char digit);
/* sip_agent_record.c: hands c's call-end record to the webhook (at release, after both
 * workers detached). */
void sb_sip_record_call(struct sb_sip_agent *a, struct sb_call *c);
/* sip_agent_record.c: hands the record of an INVITE rejected with status after it passed the
 * ACL (route as far as it was found, hdrs the INVITE's unknown headers) to the webhook. */
void sb_sip_record_reject(struct sb_sip_agent *a, const sip_t *sip,
                          const struct sb_route_out *route, const struct sb_kv *hdrs, size_t n_hdrs,
                          int status);
/* sip_agent.c: starts nua's shutdown once stopping and no call is left; ends a drain once no
 * call is left. */
void sb_sip_maybe_shutdown(struct sb_sip_agent *a);
/* sip_agent.c: hangs up every call and stops (why names the cause in the log). */
void sb_sip_begin_stop(struct sb_sip_agent *a, const char *why);
/* sip_agent_ops.c: starts a graceful drain (idempotent): new INVITEs and OPTIONS get 503 with
 * Retry-After, the calls in progress go on until they end or limits.drain_timeout_s passes,
 * then the rest are hung up and the daemon stops. why names who asked, for the log. */
void sb_sip_agent_drain(struct sb_sip_agent *a, const char *why);
/* sip_agent_ops.c: reads the configuration again from where it came from, and tells systemd
 * (RELOADING=1, then READY=1 whatever the outcome; neither while draining). On success new
 * calls use the new snapshot (calls in progress keep theirs) and keys that need a restart keep
 * their running values (named in the log, and in err when given); returns 0. A bad file
 * changes nothing: -EINVAL (or the read error) with "FILE:LINE: KEY: reason" in the log and
 * in err. */
int sb_sip_agent_reload(struct sb_sip_agent *a, char *err, size_t errlen);
/* sip_agent.c: sets sofia's own log levels from the daemon's current one (verbose at debug,
 * silent otherwise); at start-up and after a reload changed the level. */
void sb_sip_sofia_log_level(void);
/* sip_agent_ops.c: answers an OPTIONS out of any dialog: 200, or 503 with Retry-After while
 * draining or stopping (a load balancer's probe takes this instance out of rotation). */
void sb_sip_on_options(struct sb_sip_agent *a, nua_handle_t *nh);
/* sip_agent_ops.c: answers an OPTIONS in a call's dialog (the caller's or an agent's): 200,
 * draining or not. */
void sb_sip_on_dialog_options(struct sb_sip_agent *a, nua_handle_t *nh);
/* sip_agent_ops.c: answers the request being handled (NUTAG_WITH_THIS: for any method but
 * INVITE nua finds it by no other means) and counts the response. */
void sb_sip_answer(struct sb_sip_agent *a, nua_handle_t *nh, int status, const char *phrase);
/* Whether a request carries a body (an SDP offer, for an UPDATE). */
static inline bool sb_sip_has_body(const sip_t *sip)
{
	return sip && sip->sip_payload && sip->sip_payload->pl_len;
}
/* sip_agent_ops.c: answers a REFER that came to the bridge (in a call's dialog or out of
 * any): 403, the bot asks for transfers. */
void sb_sip_refuse_refer(struct sb_sip_agent *a, nua_handle_t *nh);
/* sip_agent_admin.c: starts publishing the calls snapshot (when the admin API is on). */
int sb_sip_admin_start(struct sb_sip_agent *a);
/* sip_agent_admin.c: stops publishing. */
void sb_sip_admin_stop(struct sb_sip_agent *a);
/* sip_agent_admin.c: carries out an admin command (SB_MSG_ADMIN_*; m stays the caller's). */
void sb_sip_admin_msg(struct sb_sip_agent *a, struct sb_msg *m);
/* sip_agent_admin.c: a call was registered. */
void sb_sip_admin_call_started(struct sb_sip_agent *a);
/* sip_agent_admin.c: a registered call is released: counts it by outcome. */
void sb_sip_admin_call_ended(struct sb_sip_agent *a, const struct sb_call *c);
/* sip_agent_admin.c: counts an INVITE refused with status (route: as far as it was found). */
void sb_sip_admin_rejected(int status, const struct sb_route_out *route);

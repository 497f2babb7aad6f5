/* Private state of the SIP agent, shared by sip_agent.c (loop, events), sip_agent_invite.c
 * (screening new INVITEs), sip_agent_call.c (running a call's state machine) and
 * sip_agent_info.c (INFO in a dialog).
 * Thread: control only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sb_sip_agent;
struct sb_call;

#define SU_ROOT_MAGIC_T struct sb_sip_agent
#define SU_WAKEUP_ARG_T struct sb_sip_agent
#define SU_TIMER_ARG_T struct sb_sip_agent
#define NUA_MAGIC_T struct sb_sip_agent
#define NUA_HMAGIC_T struct sb_call

#include <sofia-sip/nua.h>
#include <sofia-sip/su_wait.h>

#include <sb/call.h>
#include <sb/daemon.h>

#include "sip_guard.h"

struct sb_sip_agent {
	struct sb_daemon *d;
	su_root_t *root;
	nua_t *nua;
	su_wait_t mq_wait, sig_wait;
	int mq_idx, sig_idx; /* su_root registrations, 0 when none */
	int sigfd;
	su_timer_t *watchdog, *deadline;
	unsigned wd_seq;           /* the workers' last ping; each answers it at its next turn */
	int64_t wd_sent_ms;        /* when it was sent */
	struct sb_sip_guard guard; /* in front of nua: ACL, bad first lines, TCP connections */

	LIST_HEAD(, sb_call) calls; /* registry: every call not yet released */
	unsigned n_calls;

	unsigned next_media, next_ws; /* round-robin sharding */
	int64_t cps_window_ms;        /* one-second window for limits.max_cps */
	unsigned cps_count;

	bool stopping;     /* SIGTERM seen: no new calls */
	bool nua_shutdown; /* nua_shutdown() called */
	bool nua_down;     /* nua_r_shutdown final response seen */
};

/* sip_agent_body.c: the SDP of an INVITE, re-INVITE or ACK (*sdp NULL: there is none; it
 * points into sip). check_accept: the response will carry SDP, so Accept must allow it.
 * Returns 0, or the status to reject the request with: 406 when Accept excludes
 * application/sdp, 415 for a body that is not SDP and holds no SDP part, 400 for a multipart
 * body without a usable boundary or delimiter. */
int sb_sip_body_sdp(const sip_t *sip, bool check_accept, const char **sdp, size_t *len);
/* sip_agent_invite.c: screens a new INVITE; responds and destroys nh, or creates the call. */
void sb_sip_on_invite(struct sb_sip_agent *a, nua_handle_t *nh, const sip_t *sip);

/* sip_agent_call.c: feeds ev to the call's state machine and runs the resulting actions. */
void sb_sip_call_event(struct sb_sip_agent *a, struct sb_call *c, enum sb_call_event ev);
/* sip_agent_call.c: a re-INVITE in an existing dialog (hold, unhold, new address, session
 * refresh): nua leaves it to us because its media handling is off. */
void sb_sip_on_reinvite(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh,
                        const sip_t *sip);
/* sip_agent_info.c: an INFO in the call's dialog (DTMF); responds to it. */
void sb_sip_on_info(struct sb_sip_agent *a, struct sb_call *c, nua_handle_t *nh, const sip_t *sip);
/* sip_agent_call.c: an ACK; for a delayed offer it carries the SDP answer. */
void sb_sip_on_ack(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip);
/* sip_agent_call.c: a worker replied DETACHED. */
void sb_sip_call_detached(struct sb_sip_agent *a, struct sb_call *c, bool media);
/* sip_agent_call.c: adds c (taking over the caller's reference). */
void sb_sip_register(struct sb_sip_agent *a, struct sb_call *c);
/* sip_agent.c: starts nua's shutdown once stopping and no call is left. */
void sb_sip_maybe_shutdown(struct sb_sip_agent *a);

/* Call state machine as one table: for each state and event, the next state, the actions
 * and which teardown condition the event satisfies. Pure. Thread: control.
 *
 * DESIGN: a call is torn down when two independent things have finished: the SIP dialog
 * (final error response sent, CANCEL/BYE handled or our BYE answered, reported by nua as
 * "terminated") and the workers (media and ws have closed their own resources and replied
 * DETACHED). Either may finish first, so both are flags and TERMINATING waits for both;
 * the last one yields RELEASE. Everything else is a plain table lookup. */
#include <stddef.h>

#include <sb/call_fsm.h>
#include <sb/common.h>

enum { SET_SIP_DONE = 1, SET_WORKERS_DONE = 2 };

struct transition {
	unsigned char valid;
	unsigned char next;
	unsigned char set;
	unsigned char actions;
};

#define T(n, a, s)                                                                                 \
	{                                                                                          \
		1, SB_CALL_ST_##n, (s), (a)                                                        \
	}
#define END_503 (SB_CALL_ACT_REJECT_503 | SB_CALL_ACT_DETACH)
#define HANGUP (SB_CALL_ACT_SEND_BYE | SB_CALL_ACT_DETACH)

/* clang-format off */
static const struct transition table[_SB_CALL_ST_MAX][_SB_CALL_EV_MAX] = {
	[SB_CALL_ST_CONNECTING] = {
		[SB_CALL_EV_BOT_CONNECTED]  = T(ANSWERED, SB_CALL_ACT_ANSWER, 0),
		[SB_CALL_EV_BOT_FAILED]     = T(TERMINATING, END_503, SET_SIP_DONE),
		[SB_CALL_EV_BOT_CLOSED]     = T(TERMINATING, END_503, SET_SIP_DONE),
		[SB_CALL_EV_BOT_HANGUP]     = T(TERMINATING, END_503, SET_SIP_DONE),
		[SB_CALL_EV_SHUTDOWN]       = T(TERMINATING, END_503, SET_SIP_DONE),
		[SB_CALL_EV_CANCEL]         = T(TERMINATING, SB_CALL_ACT_DETACH, 0),
		[SB_CALL_EV_BYE]            = T(TERMINATING, SB_CALL_ACT_DETACH, 0),
		[SB_CALL_EV_SIP_TERMINATED] = T(TERMINATING, SB_CALL_ACT_DETACH, SET_SIP_DONE),
		[SB_CALL_EV_BOT_FAILED_TRANSFER] = T(ANSWERED, SB_CALL_ACT_ANSWER, 0),
	},
	[SB_CALL_ST_ANSWERED] = {
		[SB_CALL_EV_ACK]            = T(ACTIVE, 0, 0),
		[SB_CALL_EV_BYE]            = T(TERMINATING, SB_CALL_ACT_DETACH, 0),
		[SB_CALL_EV_CANCEL]         = T(TERMINATING, SB_CALL_ACT_DETACH, 0),
		[SB_CALL_EV_BOT_CLOSED]     = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_BOT_HANGUP]     = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_RTP_TIMEOUT]    = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_MEDIA_FAILED]   = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_SHUTDOWN]       = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_SIP_TERMINATED] = T(TERMINATING, SB_CALL_ACT_DETACH, SET_SIP_DONE),
		[SB_CALL_EV_TRANSFER_FAILED] = T(TERMINATING, HANGUP, 0),
	},
	[SB_CALL_ST_ACTIVE] = {
		[SB_CALL_EV_BYE]            = T(TERMINATING, SB_CALL_ACT_DETACH, 0),
		[SB_CALL_EV_BOT_CLOSED]     = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_BOT_HANGUP]     = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_RTP_TIMEOUT]    = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_MEDIA_FAILED]   = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_SHUTDOWN]       = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_SIP_TERMINATED] = T(TERMINATING, SB_CALL_ACT_DETACH, SET_SIP_DONE),
		[SB_CALL_EV_TRANSFERRED]    = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_TRANSFER_FAILED] = T(TERMINATING, HANGUP, 0),
		[SB_CALL_EV_AGENT_BYE]      = T(TERMINATING, HANGUP, 0),
	},
	[SB_CALL_ST_TERMINATING] = {
		[SB_CALL_EV_SIP_TERMINATED] = T(TERMINATING, 0, SET_SIP_DONE),
		[SB_CALL_EV_WORKERS_DONE]   = T(TERMINATING, 0, SET_WORKERS_DONE),
	},
};
/* clang-format on */

unsigned sb_call_fsm_step(struct sb_call_fsm *f, enum sb_call_event ev)
{
	const struct transition *t;
	unsigned actions;

	if ((unsigned)f->state >= _SB_CALL_ST_MAX || (unsigned)ev >= _SB_CALL_EV_MAX)
		return 0;
	t = &table[f->state][ev];
	if (!t->valid)
		return 0;
	f->state = t->next;
	actions = t->actions;
	if (t->set & SET_SIP_DONE)
		f->sip_done = 1;
	if (t->set & SET_WORKERS_DONE)
		f->workers_done = 1;
	if (actions & SB_CALL_ACT_SEND_BYE) {
		if (f->bye_sent)
			actions &= ~(unsigned)SB_CALL_ACT_SEND_BYE;
		f->bye_sent = 1;
	}
	if (f->state == SB_CALL_ST_TERMINATING && f->sip_done && f->workers_done) {
		f->state = SB_CALL_ST_TERMINATED;
		actions |= SB_CALL_ACT_RELEASE;
	}
	return actions;
}

const char *sb_call_fsm_stop_reason(enum sb_call_event ev)
{
	switch (ev) {
	case SB_CALL_EV_BYE:
	case SB_CALL_EV_CANCEL:
	case SB_CALL_EV_AGENT_BYE:
		return "callended";
	case SB_CALL_EV_TRANSFERRED:
		return "transferred";
	default:
		return "stopped";
	}
}

const char *sb_call_state_name(enum sb_call_state s)
{
	static const char *const names[] = {"CONNECTING", "ANSWERED", "ACTIVE", "TERMINATING",
	                                    "TERMINATED"};

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

const char *sb_call_event_name(enum sb_call_event e)
{
	static const char *const names[] = {
	        "BOT_CONNECTED",
	        "BOT_FAILED",
	        "ACK",
	        "CANCEL",
	        "BYE",
	        "BOT_CLOSED",
	        "BOT_HANGUP",
	        "RTP_TIMEOUT",
	        "MEDIA_FAILED",
	        "SHUTDOWN",
	        "SIP_TERMINATED",
	        "WORKERS_DONE",
	        "BOT_FAILED_TRANSFER",
	        "TRANSFERRED",
	        "TRANSFER_FAILED",
	        "AGENT_BYE",
	};

	return (unsigned)e < ARRAY_SIZE(names) ? names[e] : "?";
}

/* Call state machine: state × event → next state + actions, as one table. Pure.
 * Thread: control. */
#pragma once

enum sb_call_state {
	SB_CALL_ST_CONNECTING,  /* INVITE accepted, bot socket opening, 180 sent */
	SB_CALL_ST_ANSWERED,    /* bot connected, 200 OK sent, waiting for ACK */
	SB_CALL_ST_ACTIVE,      /* ACK received */
	SB_CALL_ST_TERMINATING, /* teardown under way: waiting for workers and SIP */
	SB_CALL_ST_TERMINATED,  /* nothing left: unregister and free */
	_SB_CALL_ST_MAX,
};

enum sb_call_event {
	SB_CALL_EV_BOT_CONNECTED,
	SB_CALL_EV_BOT_FAILED,
	SB_CALL_EV_ACK,
	SB_CALL_EV_CANCEL,     /* CANCEL before the 200 */
	SB_CALL_EV_BYE,        /* BYE from the caller */
	SB_CALL_EV_BOT_CLOSED, /* socket closed by the bot */
	SB_CALL_EV_BOT_HANGUP, /* hangup event from the bot */
	SB_CALL_EV_RTP_TIMEOUT,
	SB_CALL_EV_MEDIA_FAILED,        /* no usable SDP (a delayed offer's ACK, the offer in a
	                                   session refresh's 200), or our session refresh refused */
	SB_CALL_EV_SHUTDOWN,            /* the daemon is stopping */
	SB_CALL_EV_SIP_TERMINATED,      /* nua says the dialog is gone */
	SB_CALL_EV_WORKERS_DONE,        /* media and ws both detached */
	SB_CALL_EV_BOT_FAILED_TRANSFER, /* bot unreachable, on_fail = transfer: answer, then
	                                   transfer */
	SB_CALL_EV_TRANSFERRED,         /* a REFER transfer succeeded: the caller is elsewhere */
	SB_CALL_EV_TRANSFER_FAILED,     /* a transfer failed and the call is not to be kept */
	SB_CALL_EV_AGENT_BYE,           /* the agent of a bridged transfer hung up */
	_SB_CALL_EV_MAX,
};

/* Actions, run by sip_agent in this order. */
enum sb_call_action {
	SB_CALL_ACT_ANSWER = 1 << 0,     /* 200 OK with SDP, attach media */
	SB_CALL_ACT_REJECT_503 = 1 << 1, /* final 503 */
	SB_CALL_ACT_REJECT_500 = 1 << 2, /* final 500 (shutdown before the answer) */
	SB_CALL_ACT_SEND_BYE = 1 << 3,
	SB_CALL_ACT_DETACH = 1 << 4,  /* detach media and bot */
	SB_CALL_ACT_RELEASE = 1 << 5, /* destroy the nua handle, unregister, drop the ref */
};

/* Stop reason given to the bot for an event: "callended" when the caller (or the agent of a
 * bridged transfer) hung up, "transferred" after a transfer, otherwise "stopped". */
const char *sb_call_fsm_stop_reason(enum sb_call_event ev);

struct sb_call_fsm {
	enum sb_call_state state;
	unsigned sip_done : 1;     /* SIP dialog finished */
	unsigned workers_done : 1; /* media and ws detached */
	unsigned bye_sent : 1;
};

/* Applies ev. Returns the actions to run (a mask of enum sb_call_action); an event with no
 * meaning in the current state returns 0 and leaves the state unchanged. */
unsigned sb_call_fsm_step(struct sb_call_fsm *f, enum sb_call_event ev);
/* "CONNECTING", "ACTIVE", … */
const char *sb_call_state_name(enum sb_call_state s);
const char *sb_call_event_name(enum sb_call_event e);

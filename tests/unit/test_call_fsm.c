/* Unit tests for the call state machine: every path a call can take ends in exactly one
 * RELEASE, only after both SIP and the workers are done, and events out of place do nothing. */
#include <sb/call_fsm.h>

#include "harness.h"

static unsigned run(struct sb_call_fsm *f, const enum sb_call_event *evs, int n, unsigned *all)
{
	unsigned releases = 0;

	*all = 0;
	for (int i = 0; i < n; i++) {
		unsigned a = sb_call_fsm_step(f, evs[i]);

		*all |= a;
		if (a & SB_CALL_ACT_RELEASE)
			releases++;
	}
	return releases;
}

TEST(normal_call_caller_hangs_up)
{
	struct sb_call_fsm f = {0};
	int r = 0;

	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_BOT_CONNECTED), SB_CALL_ACT_ANSWER);
	ASSERT_EQ(f.state, SB_CALL_ST_ANSWERED);
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_ACK), 0);
	ASSERT_EQ(f.state, SB_CALL_ST_ACTIVE);
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_BYE), SB_CALL_ACT_DETACH);
	ASSERT_STREQ(sb_call_fsm_stop_reason(SB_CALL_EV_BYE), "callended");
	/* Workers first, then SIP: release comes with the last of the two. */
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_WORKERS_DONE), 0);
	ASSERT_EQ(f.state, SB_CALL_ST_TERMINATING);
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_SIP_TERMINATED), SB_CALL_ACT_RELEASE);
	ASSERT_EQ(f.state, SB_CALL_ST_TERMINATED);
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_SIP_TERMINATED), 0);
out:
	return r;
}

TEST(bot_unreachable_rejects_503_without_answer)
{
	static const enum sb_call_event evs[] = {SB_CALL_EV_BOT_FAILED, SB_CALL_EV_WORKERS_DONE};
	struct sb_call_fsm f = {0};
	unsigned all;
	int r = 0;

	ASSERT_EQ(run(&f, evs, 2, &all), 1);
	ASSERT_TRUE(all & SB_CALL_ACT_REJECT_503);
	ASSERT_TRUE(!(all & SB_CALL_ACT_ANSWER));
	ASSERT_TRUE(!(all & SB_CALL_ACT_SEND_BYE));
	ASSERT_STREQ(sb_call_fsm_stop_reason(SB_CALL_EV_BOT_FAILED), "stopped");
out:
	return r;
}

TEST(cancel_before_answer_never_answers)
{
	static const enum sb_call_event evs[] = {SB_CALL_EV_CANCEL, SB_CALL_EV_BOT_CONNECTED,
	                                         SB_CALL_EV_SIP_TERMINATED,
	                                         SB_CALL_EV_WORKERS_DONE};
	struct sb_call_fsm f = {0};
	unsigned all;
	int r = 0;

	ASSERT_EQ(run(&f, evs, 4, &all), 1);
	ASSERT_TRUE(!(all & SB_CALL_ACT_ANSWER));
	ASSERT_TRUE(!(all & (SB_CALL_ACT_REJECT_503 | SB_CALL_ACT_SEND_BYE)));
	ASSERT_EQ(f.state, SB_CALL_ST_TERMINATED);
out:
	return r;
}

TEST(bot_close_and_hangup_send_one_bye)
{
	static const enum sb_call_event evs[] = {
	        SB_CALL_EV_BOT_CONNECTED, SB_CALL_EV_ACK,         SB_CALL_EV_BOT_HANGUP,
	        SB_CALL_EV_BOT_CLOSED,    SB_CALL_EV_RTP_TIMEOUT, SB_CALL_EV_SIP_TERMINATED,
	        SB_CALL_EV_WORKERS_DONE};
	struct sb_call_fsm f = {0};
	unsigned byes = 0;
	int r = 0;

	for (unsigned i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (sb_call_fsm_step(&f, evs[i]) & SB_CALL_ACT_SEND_BYE)
			byes++;
	ASSERT_EQ(byes, 1);
	ASSERT_EQ(f.state, SB_CALL_ST_TERMINATED);
out:
	return r;
}

TEST(every_hangup_path_releases_exactly_once)
{
	static const enum sb_call_event enders[] = {
	        SB_CALL_EV_BYE,          SB_CALL_EV_BOT_CLOSED, SB_CALL_EV_BOT_HANGUP,
	        SB_CALL_EV_RTP_TIMEOUT,  SB_CALL_EV_SHUTDOWN,   SB_CALL_EV_SIP_TERMINATED,
	        SB_CALL_EV_MEDIA_FAILED, SB_CALL_EV_CANCEL};
	int r = 0;

	for (int start = 0; start < 3; start++) {
		for (unsigned e = 0; e < sizeof(enders) / sizeof(enders[0]); e++) {
			for (int order = 0; order < 2; order++) {
				struct sb_call_fsm f = {0};
				unsigned rel = 0, a;

				if (start >= 1)
					sb_call_fsm_step(&f, SB_CALL_EV_BOT_CONNECTED);
				if (start >= 2)
					sb_call_fsm_step(&f, SB_CALL_EV_ACK);
				a = sb_call_fsm_step(&f, enders[e]);
				if (f.state != SB_CALL_ST_TERMINATING) /* CANCEL after ACK: no-op */
					continue;
				ASSERT_TRUE(a & SB_CALL_ACT_DETACH);
				rel += !!(a & SB_CALL_ACT_RELEASE);
				enum sb_call_event tail[2] = {SB_CALL_EV_SIP_TERMINATED,
				                              SB_CALL_EV_WORKERS_DONE};
				for (int k = 0; k < 2; k++)
					rel += !!(sb_call_fsm_step(&f, tail[(k + order) % 2]) &
					          SB_CALL_ACT_RELEASE);
				if (rel != 1)
					FAIL_AT("start %d ender %s order %d: %u releases", start,
					        sb_call_event_name(enders[e]), order, rel);
				ASSERT_EQ(f.state, SB_CALL_ST_TERMINATED);
			}
		}
	}
out:
	return r;
}

TEST(out_of_place_events_change_nothing)
{
	struct sb_call_fsm f = {0};
	int r = 0;

	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_ACK), 0);
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_WORKERS_DONE), 0);
	ASSERT_EQ(sb_call_fsm_step(&f, SB_CALL_EV_RTP_TIMEOUT), 0);
	ASSERT_EQ(f.state, SB_CALL_ST_CONNECTING);
	ASSERT_EQ(sb_call_fsm_step(&f, (enum sb_call_event)99), 0);
	ASSERT_STREQ(sb_call_state_name(SB_CALL_ST_ACTIVE), "ACTIVE");
	ASSERT_STREQ(sb_call_event_name((enum sb_call_event)99), "?");
out:
	return r;
}

/* The whole table, written out independently: every state × event gives exactly this next
 * state and these actions; a pair not listed changes nothing. Entering TERMINATING with both
 * teardown conditions met is checked by the tests above, so each row here starts with neither
 * set. */
#define HANG (SB_CALL_ACT_SEND_BYE | SB_CALL_ACT_DETACH)
#define R503 (SB_CALL_ACT_REJECT_503 | SB_CALL_ACT_DETACH)
#define DET SB_CALL_ACT_DETACH

TEST(explicit_table)
{
	enum {
		C = SB_CALL_ST_CONNECTING,
		AN = SB_CALL_ST_ANSWERED,
		AC = SB_CALL_ST_ACTIVE,
		TG = SB_CALL_ST_TERMINATING
	};
	static const struct {
		int state;
		enum sb_call_event ev;
		int next;
		unsigned actions;
	} rows[] = {
	        {C, SB_CALL_EV_BOT_CONNECTED, AN, SB_CALL_ACT_ANSWER},
	        {C, SB_CALL_EV_BOT_FAILED, TG, R503},
	        {C, SB_CALL_EV_BOT_CLOSED, TG, R503},
	        {C, SB_CALL_EV_BOT_HANGUP, TG, R503},
	        {C, SB_CALL_EV_SHUTDOWN, TG, R503},
	        {C, SB_CALL_EV_CANCEL, TG, DET},
	        {C, SB_CALL_EV_BYE, TG, DET},
	        {C, SB_CALL_EV_SIP_TERMINATED, TG, DET},
	        {C, SB_CALL_EV_BOT_FAILED_TRANSFER, AN, SB_CALL_ACT_ANSWER},
	        {AN, SB_CALL_EV_ACK, AC, 0},
	        {AN, SB_CALL_EV_BYE, TG, DET},
	        {AN, SB_CALL_EV_CANCEL, TG, DET},
	        {AN, SB_CALL_EV_BOT_CLOSED, TG, HANG},
	        {AN, SB_CALL_EV_BOT_HANGUP, TG, HANG},
	        {AN, SB_CALL_EV_RTP_TIMEOUT, TG, HANG},
	        {AN, SB_CALL_EV_MEDIA_FAILED, TG, HANG},
	        {AN, SB_CALL_EV_SHUTDOWN, TG, HANG},
	        {AN, SB_CALL_EV_SIP_TERMINATED, TG, DET},
	        {AN, SB_CALL_EV_TRANSFER_FAILED, TG, HANG},
	        {AC, SB_CALL_EV_BYE, TG, DET},
	        {AC, SB_CALL_EV_BOT_CLOSED, TG, HANG},
	        {AC, SB_CALL_EV_BOT_HANGUP, TG, HANG},
	        {AC, SB_CALL_EV_RTP_TIMEOUT, TG, HANG},
	        {AC, SB_CALL_EV_MEDIA_FAILED, TG, HANG},
	        {AC, SB_CALL_EV_SHUTDOWN, TG, HANG},
	        {AC, SB_CALL_EV_SIP_TERMINATED, TG, DET},
	        {AC, SB_CALL_EV_TRANSFERRED, TG, HANG},
	        {AC, SB_CALL_EV_TRANSFER_FAILED, TG, HANG},
	        {AC, SB_CALL_EV_AGENT_BYE, TG, HANG},
	        {TG, SB_CALL_EV_SIP_TERMINATED, TG, 0},
	        {TG, SB_CALL_EV_WORKERS_DONE, TG, 0},
	};
	int r = 0;

	for (int st = C; st <= TG; st++) {
		for (int ev = 0; ev < _SB_CALL_EV_MAX; ev++) {
			struct sb_call_fsm f = {.state = (enum sb_call_state)st};
			int next = st;
			unsigned want = 0, got;

			for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
				if (rows[i].state == st && rows[i].ev == (enum sb_call_event)ev) {
					next = rows[i].next;
					want = rows[i].actions;
				}
			got = sb_call_fsm_step(&f, (enum sb_call_event)ev);
			if (got != want || (int)f.state != next)
				FAIL_AT("%s × %s: actions %#x state %s, expected %#x %s",
				        sb_call_state_name((enum sb_call_state)st),
				        sb_call_event_name((enum sb_call_event)ev), got,
				        sb_call_state_name(f.state), want,
				        sb_call_state_name((enum sb_call_state)next));
		}
	}
	ASSERT_STREQ(sb_call_fsm_stop_reason(SB_CALL_EV_TRANSFERRED), "transferred");
	ASSERT_STREQ(sb_call_fsm_stop_reason(SB_CALL_EV_AGENT_BYE), "callended");
	ASSERT_STREQ(sb_call_fsm_stop_reason(SB_CALL_EV_BOT_HANGUP), "stopped");
	ASSERT_STREQ(sb_call_event_name(SB_CALL_EV_AGENT_BYE), "AGENT_BYE");
out:
	return r;
}

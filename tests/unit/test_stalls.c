/* Unit tests for the load tool's stalls.c: overlapping caller gaps make a stall window only when
 * there are enough of them, the bridge intervals that overlap a window are reported once each
 * (also one that spans two windows, or ends just inside one), those outside are not, the
 * machine's windows take what the callers' stalls left, a bound on what is kept is reported,
 * and a run with nothing recorded (the usual quiet one) is fine. */
#include <stdint.h>
#include <stdio.h>

#include "harness.h"
#include "stalls.h"

#define MS 1000000LL

struct seen {
	int n;
	int64_t sum;
};

static void add(void *arg, int64_t error_ns)
{
	struct seen *s = arg;

	s->n++;
	s->sum += error_ns;
}

TEST(one_window)
{
	struct stalls *s = stalls_new(100, 100);
	struct stalls_result res;
	struct seen seen = {0};
	int r = 0;

	ASSERT_TRUE(s != NULL);
	stalls_caller_gap(s, 110 * MS, 140 * MS);
	stalls_caller_gap(s, 100 * MS, 130 * MS);
	stalls_caller_gap(s, 105 * MS, 135 * MS);
	stalls_caller_gap(s, 500 * MS, 530 * MS); /* alone: the generator's own, not a stall */
	stalls_bridge_interval(s, 120 * MS, 150 * MS, 10 * MS);
	stalls_bridge_interval(s, 90 * MS, 101 * MS, 9 * MS);  /* ends 1 ms into the window */
	stalls_bridge_interval(s, 80 * MS, 100 * MS, 2 * MS);  /* ends where the window starts */
	stalls_bridge_interval(s, 200 * MS, 222 * MS, 2 * MS); /* after it */
	stalls_bridge_interval(s, 505 * MS, 530 * MS, 5 * MS); /* in the lone gap */
	stalls_finish(s, 3, add, &seen, &res);
	ASSERT_EQ(res.windows, 1);
	ASSERT_EQ(res.longest_ns, 40 * MS);
	ASSERT_EQ(res.bridge_in, 2);
	ASSERT_EQ(seen.n, 2);
	ASSERT_EQ(seen.sum, 19 * MS);
	ASSERT_TRUE(!res.truncated);
out:
	stalls_free(s);
	return r;
}

TEST(two_windows_count_an_interval_once)
{
	struct stalls *s = stalls_new(100, 100);
	struct stalls_result res;
	struct seen seen = {0};
	int r = 0;

	ASSERT_TRUE(s != NULL);
	for (int k = 0; k < 3; k++) {
		stalls_caller_gap(s, (300 + k) * MS, 330 * MS);
		stalls_caller_gap(s, (100 + k) * MS, (140 - k) * MS);
	}
	stalls_bridge_interval(s, 130 * MS, 310 * MS, 160 * MS); /* spans both */
	stalls_bridge_interval(s, 320 * MS, 345 * MS, 5 * MS);
	stalls_bridge_interval(s, 150 * MS, 170 * MS, 1 * MS); /* between them */
	stalls_finish(s, 3, add, &seen, &res);
	ASSERT_EQ(res.windows, 2);
	ASSERT_EQ(res.longest_ns, 40 * MS);
	ASSERT_EQ(res.bridge_in, 2);
	ASSERT_EQ(seen.sum, 165 * MS);
out:
	stalls_free(s);
	return r;
}

TEST(too_few_gaps_and_bounds)
{
	struct stalls *s = stalls_new(2, 100);
	struct stalls_result res;
	struct seen seen = {0};
	int r = 0;

	ASSERT_TRUE(s != NULL);
	stalls_caller_gap(s, 100 * MS, 130 * MS);
	stalls_caller_gap(s, 110 * MS, 140 * MS);
	stalls_caller_gap(s, 120 * MS, 150 * MS); /* over the bound of 2: not kept */
	stalls_caller_gap(s, 150 * MS, 140 * MS); /* ends before it starts: ignored */
	stalls_bridge_interval(s, 115 * MS, 135 * MS, 5 * MS);
	stalls_finish(s, 3, add, &seen, &res);
	ASSERT_EQ(res.windows, 0);
	ASSERT_EQ(res.bridge_in, 0);
	ASSERT_EQ(seen.n, 0);
	ASSERT_TRUE(res.truncated);
out:
	stalls_free(s);
	return r;
}

TEST(machine_windows_take_what_the_callers_stalls_left)
{
	struct stalls *s = stalls_new(100, 100);
	struct stalls_result res;
	struct seen callers = {0}, machine = {0};
	int r = 0;

	ASSERT_TRUE(s != NULL);
	for (int i = 0; i < 3; i++) /* a callers' stall, 100-130 ms */
		stalls_caller_gap(s, 100 * MS, 130 * MS);
	stalls_machine_window(s, 120 * MS, 125 * MS);          /* inside the callers' stall */
	stalls_machine_window(s, 300 * MS, 310 * MS);          /* two that overlap: one window */
	stalls_machine_window(s, 305 * MS, 330 * MS);          /* of 30 ms */
	stalls_machine_window(s, 600 * MS, 600 * MS);          /* empty: not kept */
	stalls_bridge_interval(s, 110 * MS, 130 * MS, 1 * MS); /* the callers' stall takes it */
	stalls_bridge_interval(s, 290 * MS, 301 * MS, 2 * MS); /* ends in the machine's */
	stalls_bridge_interval(s, 320 * MS, 345 * MS, 4 * MS); /* starts in it */
	stalls_bridge_interval(s, 330 * MS, 350 * MS, 8 * MS); /* starts where it ends */
	stalls_bridge_interval(s, 598 * MS, 620 * MS, 16 * MS);
	stalls_finish(s, 3, add, &callers, &res);
	stalls_finish_machine(s, add, &machine, &res);
	ASSERT_EQ(res.windows, 1);
	ASSERT_EQ(res.bridge_in, 1);
	ASSERT_EQ(callers.sum, 1 * MS);
	ASSERT_EQ(res.machine_windows, 2);
	ASSERT_EQ(res.machine_bridge_in, 2);
	ASSERT_EQ(machine.n, 2);
	ASSERT_EQ(machine.sum, 6 * MS);
	ASSERT_TRUE(!res.truncated);
out:
	stalls_free(s);
	return r;
}

TEST(nothing_recorded)
{
	struct stalls *s = stalls_new(100, 100);
	struct stalls_result res;
	struct seen seen = {0};
	int r = 0;

	ASSERT_TRUE(s != NULL);
	stalls_finish(s, 3, add, &seen, &res);
	ASSERT_EQ(res.windows, 0);
	ASSERT_EQ(res.longest_ns, 0);
	ASSERT_EQ(res.bridge_in, 0);
	ASSERT_TRUE(!res.truncated);
	stalls_bridge_interval(s, 10 * MS, 40 * MS, 10 * MS); /* intervals but no gap */
	stalls_finish(s, 3, add, &seen, &res);
	ASSERT_EQ(res.windows, 0);
	ASSERT_EQ(seen.n, 0);
out:
	stalls_free(s);
	return r;
}

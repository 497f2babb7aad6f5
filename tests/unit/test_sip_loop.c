/* Unit tests for sip_loop.c on sofia's own timer queue, with the clock given: the wait before
 * a poll is the exact time to a timer under a millisecond away, and nothing for a timer due
 * already, one further off or none, wherever in its second the clock is. */
#include <sofia-sip/su_wait.h>

#include <sb/sip_loop.h>

#include "harness.h"

#define NTIMERS 2

static void never(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)m;
	(void)t;
	(void)arg;
}

static su_time_t at(long sec, long usec)
{
	su_time_t t = {.tv_sec = (unsigned long)sec, .tv_usec = (unsigned long)usec};

	return t;
}

/* The wait at now with timers at now + each of offsets_us[0..n). */
static long due_with(su_time_t now, const long *offsets_us, int n)
{
	su_root_t *root;
	su_timer_t *t[NTIMERS] = {NULL};
	long us = -1;

	su_init();
	root = su_root_create(NULL);
	if (!root)
		goto out;
	for (int i = 0; i < n && i < NTIMERS; i++) {
		long u = (long)now.tv_usec + offsets_us[i];
		su_time_t when = at((long)now.tv_sec + (u < 0 ? -1 : u / 1000000),
		                    u < 0 ? u + 1000000 : u % 1000000);

		t[i] = su_timer_create(su_root_task(root), 0);
		if (!t[i] || su_timer_set_at(t[i], never, NULL, when) < 0)
			goto out;
	}
	us = sb_sip_loop_due_us(root, now);
out:
	for (int i = 0; i < NTIMERS; i++)
		su_timer_destroy(t[i]);
	if (root)
		su_root_destroy(root);
	su_deinit();
	return us;
}

TEST(no_timer_no_wait)
{
	int r = 0;

	ASSERT_EQ(due_with(at(5000, 250000), NULL, 0), 0);
out:
	return r;
}

TEST(timer_under_a_millisecond_waited_for_exactly)
{
	static const long offs[] = {1, 300, 600, 999};
	int r = 0;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		ASSERT_EQ(due_with(at(5000, 250000), &offs[i], 1), offs[i]);
out:
	return r;
}

TEST(timer_due_or_further_off_not_waited_for)
{
	static const long offs[] = {0, -1, -100, -5000, 1000, 1500, 20000};
	int r = 0;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		ASSERT_EQ(due_with(at(5000, 250000), &offs[i], 1), 0);
out:
	return r;
}

TEST(first_timer_counts)
{
	static const long offs[] = {800, 300};
	int r = 0;

	ASSERT_EQ(due_with(at(5000, 250000), offs, 2), 300);
out:
	return r;
}

/* Near the second's ends: sofia counts the milliseconds from the seconds and the
 * microseconds apart. */
TEST(second_edges)
{
	static const long offs[] = {200, 999};
	int r = 0;

	ASSERT_EQ(due_with(at(5000, 999700), &offs[0], 1), 200);
	ASSERT_EQ(due_with(at(5000, 100), &offs[1], 1), 999);
	ASSERT_EQ(due_with(at(5000, 0), &offs[1], 1), 999);
out:
	return r;
}

/* A queue whose only timer was reset is empty, not a null queue. */
TEST(timer_reset_no_wait)
{
	su_time_t now = at(5000, 250000), when = at(5000, 250500);
	su_root_t *root;
	su_timer_t *t = NULL;
	int r = 0;

	su_init();
	root = su_root_create(NULL);
	ASSERT_TRUE(root != NULL);
	t = su_timer_create(su_root_task(root), 0);
	ASSERT_TRUE(t != NULL);
	ASSERT_EQ(su_timer_set_at(t, never, NULL, when), 0);
	ASSERT_EQ(sb_sip_loop_due_us(root, now), 500);
	ASSERT_EQ(su_timer_reset(t), 0);
	ASSERT_EQ(sb_sip_loop_due_us(root, now), 0);
out:
	su_timer_destroy(t);
	if (root)
		su_root_destroy(root);
	su_deinit();
	return r;
}

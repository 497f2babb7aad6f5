/* sofia's loop without empty polls (include/sb/sip_loop.h). A packet that comes while the
 * thread sleeps for a timer waits as long, under a millisecond. Thread: control. */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include <sofia-sip/su_wait.h>

#include <sb/sip_loop.h>

/* Exported by libsofia-sip-ua but declared only in its uninstalled su_port.h: the
 * milliseconds from now to the first timer of a queue, cut down (0 when it is due or under a
 * millisecond away), SU_DURATION_MAX when there is none. */
su_duration_t su_timer_next_expires(su_timer_queue_t const *timers, su_time_t now);

#define MS_US 1000L
#define S_US 1000000L

static su_time_t shifted(su_time_t t, long us)
{
	long u = (long)t.tv_usec + us;

	while (u < 0) {
		u += S_US;
		t.tv_sec--;
	}
	while (u >= S_US) {
		u -= S_US;
		t.tv_sec++;
	}
	t.tv_usec = (unsigned long)u;
	return t;
}

/* Whether the first timer is still pending at now + us (due after it): sofia's count, cut
 * down, from a millisecond less a microsecond before then is 0 once the timer is due. */
static bool pending_at(su_timer_queue_t const *q, su_time_t now, long us)
{
	return su_timer_next_expires(q, shifted(now, us + 1 - MS_US)) >= 1;
}

long sb_sip_loop_due_us(su_root_t *root, su_time_t now)
{
	su_timer_queue_t const *q = su_task_timers(su_root_task(root));
	long lo = 0, hi = MS_US;

	/* A queue that never held a timer is a null pointer, which su_timer_next_expires()
	 * does not check for. */
	if (!q || !*q || su_timer_next_expires(q, now) != 0 || !pending_at(q, now, 0))
		return 0;
	while (hi - lo > 1) { /* pending at now + lo, due at now + hi */
		long mid = lo + (hi - lo) / 2;

		if (pending_at(q, now, mid))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static void before_poll(su_prepoll_magic_t *magic, su_root_t *root)
{
	long us = sb_sip_loop_due_us(root, su_now());

	(void)magic;
	if (us > 0) {
		struct timespec ts = {.tv_nsec = us * 1000L};

		nanosleep(&ts, NULL);
	}
}

int sb_sip_loop_hook(su_root_t *root)
{
	return su_root_add_prepoll(root, before_poll, NULL) < 0 ? -EBUSY : 0;
}

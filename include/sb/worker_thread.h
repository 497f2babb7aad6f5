/* What the worker threads share: starting one under its name, and the heartbeat through
 * which the watchdog on the control thread sees that its loop still turns.
 * Thread: control (start, ask, answered), the worker (beat). */
#pragma once

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* The watchdog's last question and the worker's last answer. */
struct sb_heartbeat {
	atomic_uint ask, answer;
};

/* Thread: control. Asks; the worker answers at its loop's next turn. */
static inline void sb_heartbeat_ask(struct sb_heartbeat *h, unsigned seq)
{
	atomic_store_explicit(&h->ask, seq, memory_order_relaxed);
}

/* Thread: the worker, once per turn of its loop. Answers the last question. */
static inline void sb_heartbeat_beat(struct sb_heartbeat *h)
{
	atomic_store_explicit(&h->answer, atomic_load_explicit(&h->ask, memory_order_relaxed),
	                      memory_order_relaxed);
}

/* Thread: control. True when the worker has answered seq (its thread is not hung). */
static inline bool sb_heartbeat_answered(const struct sb_heartbeat *h, unsigned seq)
{
	return atomic_load_explicit(&h->answer, memory_order_relaxed) == seq;
}

/* Thread: any. Starts fn(arg) on *t named name (at most 15 bytes, as ps and top show it).
 * The new thread inherits the caller's signal mask, or with block_all blocks every signal:
 * for a thread started before the daemon blocks its signals (the log writer), which must not
 * take one meant for the signalfd. Returns 0 or a negative errno. */
static inline int sb_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name,
                                  bool block_all)
{
	sigset_t all, old;
	int r;

	if (block_all) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
	}
	r = pthread_create(t, NULL, fn, arg);
	if (block_all)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	pthread_setname_np(*t, name);
	return 0;
}

/* Thread: control. Starts fn(arg) on *t, named "<prefix><idx>", with the caller's signal
 * mask. Returns 0 or a negative errno. */
static inline int sb_worker_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                                         const char *prefix, unsigned idx)
{
	char name[16]; /* the kernel's limit, NUL included */

	snprintf(name, sizeof(name), "%s%u", prefix, idx);
	return sb_thread_start(t, fn, arg, name, false);
}

/* Thread: any. The time ms milliseconds from now on clock, as the timed waits take it. */
static inline struct timespec sb_deadline_in(clockid_t clock, long ms)
{
	struct timespec t;

	clock_gettime(clock, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Thread: any but t. Joins t if it ends within ms; returns 0, or -ETIMEDOUT with t still
 * running (the caller decides what it leaves to it). */
static inline int sb_thread_join_within(pthread_t t, long ms)
{
	/* the clock pthread_timedjoin_np reads */
	struct timespec until = sb_deadline_in(CLOCK_REALTIME, ms);

	return -pthread_timedjoin_np(t, NULL, &until);
}

/* Real-time priorities of the threads that carry audio (threads.media_realtime,
 * threads.ws_realtime): the media threads' pacing first, then the ws threads, both before
 * every thread of ordinary scheduling. */
#define SB_RT_PRIO_MEDIA 2
#define SB_RT_PRIO_WS 1

/* Thread: the worker, for itself. Asks for SCHED_FIFO at prio or, with lowest < prio, the
 * highest priority down to lowest that the system allows (an RLIMIT_RTPRIO of 1 allows 1).
 * Threads it starts later (a resolver's) get ordinary scheduling (SCHED_RESET_ON_FORK).
 * Returns the priority obtained, or a negative errno when refused. */
static inline int sb_thread_realtime(int prio, int lowest)
{
	struct sched_param sp;
	int r = EPERM;

	for (; prio >= lowest && prio >= 1; prio--) {
		sp.sched_priority = prio;
		/* Linux: pid 0 is the calling thread, not the process. */
		r = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) ? errno : 0;
		if (r == 0)
			return prio;
		if (r != EPERM)
			break;
	}
	return -r;
}

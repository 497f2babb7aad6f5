/* What the load tool's programs share: a stop flag set by SIGTERM and SIGINT, a clock in ns,
 * and the parsing of a bounded unsigned option. Header-only; each program has its own copy.
 * The flag is read and written atomically (stopped(), stop_now()): a signal handler may run in
 * any thread of a program whose threads read it. */
#ifndef SB_TOOLS_TOOL_UTIL_H
#define SB_TOOLS_TOOL_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t stop;

static inline int stopped(void)
{
	return __atomic_load_n(&stop, __ATOMIC_RELAXED);
}

static inline void stop_now(void)
{
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
}

static void on_signal(int sig)
{
	(void)sig;
	stop_now();
}

/* Stops the main loop on SIGTERM and SIGINT. */
static inline void stop_on_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static inline int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A decimal number in [min, max] into *out, or -EINVAL. */
static inline int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

#endif

/* sipbridge-wakeprobe: how late the machine wakes a sleeping thread, for
 * tools/load/run_load.sh.
 *
 * One thread per CPU, pinned to it, at SCHED_FIFO 3 (one above the daemon's media threads, so
 * what it measures is the machine's wake-up and not their work), sleeps to the next multiple
 * of the period on the monotonic clock and notes how late it woke. On a virtual machine an
 * idle CPU is woken by the host; when the host is late, the probe is late at the same instants
 * as the media threads, whose missed ticks the daemon counts. Each wake-up only reads the
 * clock, so the probe costs the run it measures next to nothing.
 *
 *   sipbridge-wakeprobe --out FILE [--windows FILE] [--duration S] [--period-us N]
 *                       [--late-us N]
 *
 * Runs until SIGTERM/SIGINT or the duration, then writes FILE:
 *   {"cpus":N,"realtime":true,"period_us":N,"late_us":N,"wakeups":N,"late":N,
 *    "late_max_ms":X,"windows_truncated":false,"events":[[REALTIME_MS,CPU,LATE_MS],...]}
 * where late counts the wake-ups more than late_us behind their time, and events lists the
 * first MAX_LISTED of them (for lining them up with other logs). --windows writes each of them
 * (up to MAX_EVENTS a CPU) as a line "START_NS END_NS CPU", CLOCK_REALTIME, from when the
 * wake-up was due to when it came: the moments the machine held a thread up, for
 * sipbridge-wirestat to set the bridge's intervals in them apart.
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sb/worker_thread.h>

#include "tool_util.h"

#define MAX_CPUS 64
#define MAX_EVENTS 16384 /* late wake-ups kept, a CPU */
#define MAX_LISTED 1000  /* late wake-ups listed in the JSON, over all CPUs */
#define PROBE_PRIORITY (SB_RT_PRIO_MEDIA + 1)

struct event {
	int64_t t_ns; /* CLOCK_REALTIME, when it woke */
	int64_t late_ns;
};

struct probe {
	pthread_t thread;
	int cpu;
	bool realtime;
	uint64_t wakeups, late;
	int64_t late_max_ns;
	struct event *ev; /* MAX_EVENTS */
	unsigned n_ev;
};

static struct {
	unsigned period_us, late_us;
	int64_t end_ns; /* CLOCK_MONOTONIC */
} cfg = {.period_us = 5000, .late_us = 5000};

static void add_ns(struct timespec *ts, int64_t ns)
{
	int64_t t = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + ns;

	ts->tv_sec = t / 1000000000;
	ts->tv_nsec = t % 1000000000;
}

static void *run(void *arg)
{
	struct probe *p = arg;
	struct sched_param sp = {.sched_priority = PROBE_PRIORITY};
	cpu_set_t set;
	struct timespec next;
	int64_t period = (int64_t)cfg.period_us * 1000;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	p->realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stopped()) {
		int64_t due, late;

		add_ns(&next, period);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		due = (int64_t)next.tv_sec * 1000000000 + next.tv_nsec;
		late = now_ns(CLOCK_MONOTONIC) - due;
		p->wakeups++;
		if (late > p->late_max_ns)
			p->late_max_ns = late;
		if (late > (int64_t)cfg.late_us * 1000) {
			p->late++;
			if (p->n_ev < MAX_EVENTS)
				p->ev[p->n_ev++] = (struct event){now_ns(CLOCK_REALTIME), late};
		}
		if (late > period) /* no burst of catching up after a long pause */
			clock_gettime(CLOCK_MONOTONIC, &next);
		if (due >= cfg.end_ns)
			break;
	}
	return NULL;
}

/* Every late wake-up kept, as "START_NS END_NS CPU" lines. */
static int write_windows(const char *path, const struct probe *probes, unsigned n)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		perror(path);
		return 1;
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < probes[i].n_ev; k++)
			fprintf(f, "%lld %lld %d\n",
			        (long long)(probes[i].ev[k].t_ns - probes[i].ev[k].late_ns),
			        (long long)probes[i].ev[k].t_ns, probes[i].cpu);
	return fclose(f) ? 1 : 0;
}

static int write_out(const char *path, const struct probe *probes, unsigned n)
{
	FILE *f = fopen(path, "we");
	uint64_t wakeups = 0, late = 0;
	int64_t max_ns = 0;
	bool realtime = true, truncated = false;
	unsigned listed = 0;

	if (!f) {
		perror(path);
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		wakeups += probes[i].wakeups;
		late += probes[i].late;
		realtime = realtime && probes[i].realtime;
		truncated = truncated || probes[i].late > probes[i].n_ev;
		if (probes[i].late_max_ns > max_ns)
			max_ns = probes[i].late_max_ns;
	}
	fprintf(f,
	        "{\"cpus\":%u,\"realtime\":%s,\"period_us\":%u,\"late_us\":%u,\"wakeups\":%llu,"
	        "\"late\":%llu,\"late_max_ms\":%.2f,\"windows_truncated\":%s,\"events\":[",
	        n, realtime ? "true" : "false", cfg.period_us, cfg.late_us,
	        (unsigned long long)wakeups, (unsigned long long)late, (double)max_ns / 1e6,
	        truncated ? "true" : "false");
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < probes[i].n_ev && listed < MAX_LISTED; k++, listed++)
			fprintf(f, "%s[%lld,%d,%.2f]", listed ? "," : "",
			        (long long)(probes[i].ev[k].t_ns / 1000000), probes[i].cpu,
			        (double)probes[i].ev[k].late_ns / 1e6);
	fprintf(f, "]}\n");
	return fclose(f) ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: sipbridge-wakeprobe --out FILE [--windows FILE] [--duration S] "
	                "[--period-us N] [--late-us N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
	                                     {"windows", required_argument, NULL, 'w'},
	                                     {"duration", required_argument, NULL, 'd'},
	                                     {"period-us", required_argument, NULL, 'p'},
	                                     {"late-us", required_argument, NULL, 'l'},
	                                     {NULL, 0, NULL, 0}};
	static struct probe probes[MAX_CPUS];
	const char *out = NULL, *windows = NULL;
	unsigned duration = 3600, n;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'w')
			windows = optarg;
		else if (c == 'd')
			r = parse_uint(optarg, 1, 86400, &duration);
		else if (c == 'p')
			r = parse_uint(optarg, 1000, 1000000, &cfg.period_us);
		else if (c == 'l')
			r = parse_uint(optarg, 100, 1000000, &cfg.late_us);
		else
			return usage();
		if (r < 0)
			return usage();
	}
	if (!out || optind != argc)
		return usage();
	n = cores < 1 ? 1 : cores > MAX_CPUS ? MAX_CPUS : (unsigned)cores;
	cfg.end_ns = now_ns(CLOCK_MONOTONIC) + (int64_t)duration * 1000000000;
	stop_on_signals();
	for (unsigned i = 0; i < n; i++) {
		probes[i].cpu = (int)i;
		probes[i].ev = calloc(MAX_EVENTS, sizeof(*probes[i].ev));
		if (!probes[i].ev || pthread_create(&probes[i].thread, NULL, run, &probes[i])) {
			fprintf(stderr, "sipbridge-wakeprobe: cannot start a thread\n");
			stop_now();
			n = i;
			break;
		}
	}
	fprintf(stderr, "sipbridge-wakeprobe: probing %u CPU(s) every %u us\n", n, cfg.period_us);
	for (unsigned i = 0; i < n; i++)
		pthread_join(probes[i].thread, NULL);
	if (!probes[0].realtime)
		fprintf(stderr, "sipbridge-wakeprobe: no real-time priority (not root?): wake-ups "
		                "include waiting for other threads\n");
	r = write_out(out, probes, n);
	if (windows && write_windows(windows, probes, n))
		r = 1;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		free(probes[i].ev);
	return r;
}

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
 *   sipbridge-wakeprobe --out FILE [--duration S] [--period-us N] [--late-us N]
 *
 * Runs until SIGTERM/SIGINT or the duration, then writes FILE:
 *   {"cpus":N,"realtime":true,"period_us":N,"late_us":N,"wakeups":N,"late":N,
 *    "late_max_ms":X,"events":[[REALTIME_MS,CPU,LATE_MS],...]}
 * where late counts the wake-ups more than late_us behind their time, and events lists the
 * first MAX_EVENTS of them (for lining them up with other logs).
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <sb/worker_thread.h>

#include "tool_util.h"

#define MAX_CPUS 64
#define MAX_EVENTS 1000 /* late wake-ups listed, over all CPUs */
#define PROBE_PRIORITY (SB_RT_PRIO_MEDIA + 1)

struct event {
	int64_t t_ms; /* CLOCK_REALTIME */
	int cpu;
	double late_ms;
};

struct probe {
	pthread_t thread;
	int cpu;
	bool realtime;
	uint64_t wakeups, late;
	int64_t late_max_ns;
	struct event ev[MAX_EVENTS];
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
	while (!stop) {
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
				p->ev[p->n_ev++] = (struct event){now_ns(CLOCK_REALTIME) / 1000000,
				                                  p->cpu, (double)late / 1e6};
		}
		if (late > period) /* no burst of catching up after a long pause */
			clock_gettime(CLOCK_MONOTONIC, &next);
		if (due >= cfg.end_ns)
			break;
	}
	return NULL;
}

static int write_out(const char *path, struct probe *probes, unsigned n)
{
	FILE *f = fopen(path, "we");
	uint64_t wakeups = 0, late = 0;
	int64_t max_ns = 0;
	bool realtime = true;
	unsigned listed = 0;

	if (!f) {
		perror(path);
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		wakeups += probes[i].wakeups;
		late += probes[i].late;
		realtime = realtime && probes[i].realtime;
		if (probes[i].late_max_ns > max_ns)
			max_ns = probes[i].late_max_ns;
	}
	fprintf(f,
	        "{\"cpus\":%u,\"realtime\":%s,\"period_us\":%u,\"late_us\":%u,\"wakeups\":%llu,"
	        "\"late\":%llu,\"late_max_ms\":%.2f,\"events\":[",
	        n, realtime ? "true" : "false", cfg.period_us, cfg.late_us,
	        (unsigned long long)wakeups, (unsigned long long)late, (double)max_ns / 1e6);
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < probes[i].n_ev && listed < MAX_EVENTS; k++, listed++)
			fprintf(f, "%s[%lld,%d,%.2f]", listed ? "," : "",
			        (long long)probes[i].ev[k].t_ms, probes[i].ev[k].cpu,
			        probes[i].ev[k].late_ms);
	fprintf(f, "]}\n");
	return fclose(f) ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: sipbridge-wakeprobe --out FILE [--duration S] [--period-us N] "
	                "[--late-us N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
	                                     {"duration", required_argument, NULL, 'd'},
	                                     {"period-us", required_argument, NULL, 'p'},
	                                     {"late-us", required_argument, NULL, 'l'},
	                                     {NULL, 0, NULL, 0}};
	static struct probe probes[MAX_CPUS];
	const char *out = NULL;
	unsigned duration = 3600, n;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
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
		if (pthread_create(&probes[i].thread, NULL, run, &probes[i])) {
			fprintf(stderr, "sipbridge-wakeprobe: cannot start a thread\n");
			stop = 1;
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
	return write_out(out, probes, n);
}

/* Start and stop order of the daemon: signals blocked before any thread exists, ws workers,
 * the recorder, then media workers (which wake the ws workers and feed the recorder), the
 * webhook client, the admin API, then the SIP agent on this thread; on the way out the
 * reverse. Also the sd_notify channel to systemd.
 * Thread: control (main). Owns the workers and the control queue. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#if SB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define LOG_SUBSYS "daemon"
#include <sb/log.h>

#include <sb/admin.h>
#include <sb/daemon.h>
#include <sb/lws_client.h>
#include <sb/sip_agent.h>

void sb_daemon_notify(const char *state)
{
#if SB_HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

void sb_daemon_notify_reloading(void)
{
	struct timespec ts;
	unsigned long long now_us;
	char msg[64];

	/* MONOTONIC_USEC tells systemd which reload this is (Type=notify-reload waits for a
	 * READY=1 sent after it); older systemd ignores the field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_us = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu", now_us);
	sb_daemon_notify(msg);
}

void sb_daemon_signals(sigset_t *set)
{
	/* SIGHUP (logrotate, a terminal going away) and the user signals would end the process
	 * by default: every call would drop without BYE or stop. */
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};

	sigemptyset(set);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(set, sigs[i]);
}

static void on_ready(struct sb_daemon *d)
{
	log_notice("sipbridged %s ready: %u media worker(s), %u ws worker(s), config %s",
	           SB_VERSION, d->n_media, d->n_ws, d->cfg->source);
	sb_daemon_notify("READY=1");
}

/* Two descriptors per call (RTP socket, bot socket) plus SIP and the workers. lws sizes its
 * descriptor table when a context is created, so this runs before the workers start. */
static void raise_fd_limit(const struct sb_config *cfg)
{
	rlim_t need = (rlim_t)cfg->max_calls * 2 + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		log_warn("limits.max_calls = %d needs about %llu file descriptors, the limit is "
		         "%llu "
		         "(raise LimitNOFILE=)",
		         cfg->max_calls, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

/* The CPUs online, at least one. */
static unsigned online_cores(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	return cores > 1 ? (unsigned)cores : 1;
}

static unsigned media_thread_count(const struct sb_config *cfg)
{
	unsigned cores = online_cores();

	if (cfg->media_threads > 0)
		return (unsigned)cfg->media_threads;
	return cores > 1 ? cores - 1 : 1;
}

/* One per core by default: a ws thread's work (framing, base64, the sockets) is the larger
 * part of a call's, and two on two cores kept caller audio's way to the bot shorter at 2000
 * calls than one (docs/performance.md). */
static unsigned ws_thread_count(const struct sb_config *cfg)
{
	unsigned cores = online_cores();

	if (cfg->ws_threads > 0)
		return (unsigned)cfg->ws_threads;
	return cores > SB_MAX_WS_THREADS ? SB_MAX_WS_THREADS : cores;
}

static int start_workers(struct sb_daemon *d)
{
	int r;

	d->n_ws = ws_thread_count(d->cfg);
	d->n_media = media_thread_count(d->cfg);
	sb_ws_warn_insecure(d->cfg);
	d->ws = calloc(d->n_ws, sizeof(*d->ws));
	d->media = calloc(d->n_media, sizeof(*d->media));
	if (!d->ws || !d->media)
		return log_error_errno(ENOMEM, "Out of memory");
	for (unsigned i = 0; i < d->n_ws; i++) {
		r = sb_ws_worker_new(&d->ws[i], i, d->control, d->cfg);
		if (r == 0)
			r = sb_ws_worker_start(d->ws[i]);
		if (r < 0)
			return log_error_errno(r, "Cannot start ws worker %u", i);
	}
	/* Always running (it sleeps while nothing is recorded): a reload may turn recording on. */
	r = sb_recorder_new(&d->recorder);
	if (r == 0)
		r = sb_recorder_start(d->recorder);
	if (r < 0)
		return log_error_errno(r, "Cannot start the recorder");
	for (unsigned i = 0; i < d->n_media; i++) {
		struct sb_media_opts opts = {.io_mode = d->cfg->media_io,
		                             .realtime = d->cfg->media_realtime,
		                             .rx_buffers = (unsigned)d->cfg->media_rx_buffers};

		r = sb_media_worker_new(&d->media[i], i, d->control, d->ws, d->n_ws, d->recorder,
		                        &opts);
		if (r == 0)
			r = sb_media_worker_start(d->media[i]);
		if (r < 0)
			return log_error_errno(r, "Cannot start media worker %u", i);
	}
	return 0;
}

static int start_webhook(struct sb_daemon *d)
{
	int r = sb_webhook_new(&d->webhook, d->cfg);

	if (r == 0)
		r = sb_webhook_start(d->webhook);
	if (r < 0)
		return log_error_errno(r, "Cannot start the webhook client");
	return 0;
}

static int start_admin(struct sb_daemon *d)
{
	int r = sb_admin_new(&d->admin, d);

	if (r == 0)
		r = sb_admin_start(d->admin);
	if (r < 0)
		return log_error_errno(r, "Cannot start the admin API");
	return 0;
}

/* Media first: its legs hold the rings the ws workers fill, and end their recordings, which
 * the recorder then finishes. */
static void stop_workers(struct sb_daemon *d)
{
	for (unsigned i = 0; d->media && i < d->n_media; i++) {
		if (d->media[i])
			sb_media_worker_stop(d->media[i]);
		d->media[i] = sb_media_worker_free(d->media[i]);
	}
	sb_recorder_stop(d->recorder);
	d->recorder = sb_recorder_free(d->recorder);
	for (unsigned i = 0; d->ws && i < d->n_ws; i++) {
		if (d->ws[i])
			sb_ws_worker_stop(d->ws[i]);
		d->ws[i] = sb_ws_worker_free(d->ws[i]);
	}
	free(d->media);
	free(d->ws);
}

int sb_daemon_run(struct sb_config *cfg, const struct sb_daemon_source *src)
{
	struct sb_daemon d = {.src = src};
	sigset_t set;
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* Blocked here, before any thread starts, so only the signalfd ever sees them. */
	sb_daemon_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	d.cfg = sb_config_ref(cfg);
	raise_fd_limit(cfg);
	/* Before the first lws context: lws's level and sink are process-wide and unlocked. */
	sb_lws_log_init();
	r = sb_mq_new(&d.control);
	if (r < 0)
		log_error_errno(r, "Cannot create the control queue");
	else
		r = start_workers(&d);
	if (r == 0)
		r = start_webhook(&d);
	if (r == 0)
		r = start_admin(&d);
	if (r == 0)
		r = sb_sip_agent_run(&d, on_ready);
	/* Before the workers: the admin thread reads their counters. */
	sb_admin_stop(d.admin);
	d.admin = sb_admin_free(d.admin);
	stop_workers(&d);
	/* Last: the calls ended above have queued their records. */
	sb_webhook_stop(d.webhook);
	d.webhook = sb_webhook_free(d.webhook);
	d.control = sb_mq_free(d.control);
	sb_config_unref(d.cfg);
	if (r == 0)
		log_notice("Stopped");
	return r < 0 ? 1 : 0;
}

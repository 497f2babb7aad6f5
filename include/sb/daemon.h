/* The daemon: owns the configuration, the worker threads and the control queue, and runs
 * the control thread (the SIP agent) until asked to stop. Thread: control. */
#pragma once

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <sb/config.h>
#include <sb/media_worker.h>
#include <sb/mq.h>
#include <sb/recorder.h>
#include <sb/webhook.h>
#include <sb/ws_worker.h>

/* Where the running configuration came from, so that a reload reads it again the same way. */
struct sb_daemon_source {
	const char *path;              /* -c FILE; NULL for the embedded default */
	struct sb_config_overrides ov; /* --bot, --sip-port */
	bool verbose;                  /* -v: debug logging whatever log.level says */
};

struct sb_admin;

struct sb_daemon {
	struct sb_config *cfg; /* current snapshot (control swaps it on reload) */
	const struct sb_daemon_source *src;
	atomic_bool draining;  /* set by control when a drain begins; read by anyone */
	struct sb_mq *control; /* commands for the control thread */
	struct sb_media_worker **media;
	unsigned n_media;
	struct sb_ws_worker **ws;
	unsigned n_ws;
	struct sb_recorder *recorder; /* call recordings */
	struct sb_webhook *webhook;   /* NULL when webhook.url is empty */
	struct sb_admin *admin;       /* NULL when admin.port is 0 */
};

/* Thread: control (main). Runs the daemon with cfg (a reference is taken), read from src
 * (borrowed for the run), until a drain or stop ends it. Returns the process exit status: 0
 * after a clean stop, 1 when start-up fails. */
int sb_daemon_run(struct sb_config *cfg, const struct sb_daemon_source *src);
/* Thread: any. The signals the daemon handles itself (through a signalfd on the control
 * thread): blocked in every thread before any is created. */
void sb_daemon_signals(sigset_t *set);
/* Thread: control. Tells systemd (when NOTIFY_SOCKET is set) the given state, e.g.
 * "READY=1". */
void sb_daemon_notify(const char *state);
/* Thread: control. Tells systemd a reload begins: "RELOADING=1" with MONOTONIC_USEC (now, on
 * CLOCK_MONOTONIC); the caller sends "READY=1" when it has ended, applied or refused. */
void sb_daemon_notify_reloading(void);

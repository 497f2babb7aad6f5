/* WebSocket worker: one thread running lws_service() on its own lws_context, owning the bot
 * connections of its calls. Other threads reach it only through its queue, woken by
 * lws_cancel_service(). Thread: the worker's own; post/wake from any. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sb/mq.h>

struct sb_ws_worker;
struct sb_call;
struct sb_config;

struct sb_ws_stats {
	atomic_uint_fast64_t connects, connect_failures, frames_tx, frames_rx, bytes_tx, bytes_rx,
	        bad_messages, marks, clears;
	atomic_uint_fast64_t queue_drops;    /* bot audio not played to callers, in 20 ms frames */
	atomic_uint_fast64_t tx_queue_drops; /* caller audio not sent to bots, in 20 ms frames */
	atomic_uint_fast64_t listen_ignored; /* listen mode: bot audio and playback events */
	atomic_uint_fast64_t tls_full, tls_resumed; /* wss handshakes done, by kind */
};

/* Thread: control. Creates worker idx, replying to control, with a client vhost for each
 * ca_file of cfg's wss bots (cfg is only read). Returns 0 or a negative errno. */
int sb_ws_worker_new(struct sb_ws_worker **ret, unsigned idx, struct sb_mq *control,
                     const struct sb_config *cfg);
/* Thread: control. Starts the thread. */
int sb_ws_worker_start(struct sb_ws_worker *w);
/* Thread: any. Hands m to the worker (ownership passes) and wakes it. */
void sb_ws_worker_post(struct sb_ws_worker *w, struct sb_msg *m);
/* Thread: any. Wakes the worker to move audio between every socket and its rings. */
void sb_ws_worker_wake(struct sb_ws_worker *w);
/* Thread: a media worker. c has new frames on its up ring: the worker sends them at once
 * (takes its own reference on c; no allocation). */
void sb_ws_worker_notify(struct sb_ws_worker *w, struct sb_call *c);
/* Thread: control. Asks the thread to quit and joins it. */
void sb_ws_worker_stop(struct sb_ws_worker *w);
/* Thread: control, after stop. Frees; accepts NULL; returns NULL. */
struct sb_ws_worker *sb_ws_worker_free(struct sb_ws_worker *w);
/* Thread: control. The watchdog's question: the worker answers seq at its next turn. */
void sb_ws_worker_ping(struct sb_ws_worker *w, unsigned seq);
/* Thread: control. True when the worker has answered seq (its thread is not hung). */
bool sb_ws_worker_answered(const struct sb_ws_worker *w, unsigned seq);
/* Thread: any. The worker's counters. */
const struct sb_ws_stats *sb_ws_worker_stats(const struct sb_ws_worker *w);
/* Thread: control. Warns about every wss bot of cfg whose certificate is not verified. */
void sb_ws_warn_insecure(const struct sb_config *cfg);

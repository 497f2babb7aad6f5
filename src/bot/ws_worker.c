/* WebSocket worker thread: one lws_context serviced on this thread only, on a libev loop of
 * its own (epoll, through lws's libev plugin) or by lws_service()'s poll() (threads.ws_loop).
 * Commands arrive on an sb_mq whose wake-up is lws_cancel_service(); the resulting
 * EVENT_WAIT_CANCELLED callback drains the queue and pumps the audio of the calls waiting.
 * Thread: its own (everything lws), any (post/wake). Owns the context, its connections and
 * the encode buffer they share.
 *
 * DESIGN: lws may be called from this thread only, so nothing else ever touches a wsi.
 * Other threads post a command, or wake the worker. A media worker wakes it once a frame
 * time to refill the down rings of the connections whose playout queue holds more than their
 * ring had room for (the backlog; a connection whose ring took everything is not visited),
 * and names each call whose caller audio is ready, or whose mark has been played, at once on
 * a lock-free list (notify): only the first name since the last pass costs a wake-up, and
 * those calls alone are pumped, so a frame leaves as soon as it is complete without a scan
 * per frame. Audio crosses through the call's SPSC rings, never through the command queue.
 * Bot host names are resolved by a small resolver pool (getaddrinfo blocks; lws 4.1 as Debian
 * builds it has no asynchronous DNS) and cached here; its answers arrive on a second queue
 * with the same wake-up. wss connections share a TLS client context per distinct bot
 * ca_file, and one for the system CA store.
 *
 * The loop: lws 4.1 as Debian builds it waits in poll(), which looks at every socket of the
 * context on each turn; with thousands of bot connections that scan was the largest single
 * cost of the thread. Its libev plugin on a loop of our own (epoll) costs only the sockets
 * that are ready. The loop is run here (ev_run once a turn), not by lws_service(): the plugin
 * of lws 4.1 runs it until it is broken. */
#include <ev.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The shortest turn of the loop. At 1000 calls the loop turned 7500 times a second; a turn a
 * millisecond at most lets one turn serve every bot message that came meanwhile, at the cost
 * of up to a millisecond before a bot message is read or caller audio is written. */
#define SB_WS_MIN_TURN_US 1000

/* How often a ws thread on the libev loop has lws look at its timers. lws 4.1's libev plugin
 * re-arms its timer with ev_timer_set() on a watcher that may still be active, which libev
 * does not take: a deadline set while that timer waits for a later one (lws's own 30 s
 * check) was kept only at the next socket event, or 30 s later on a quiet thread, where a
 * bot's 1 s handshake deadline answered the caller's INVITE after 30 s. lws serves every
 * timer that is due after any event on its sockets; this wakes the context as often while
 * the thread has bot connections (a thread without any sleeps). */
#define SB_WS_TIMER_CHECK_S 0.1

#define LOG_SUBSYS "ws"
#include <sb/log.h>

#include <sb/config.h>
#include <sb/lws_client.h>
#include <sb/msg.h>
#include <sb/metrics.h>
#include <sb/worker_thread.h>
#include <sb/ws_worker.h>

#include "bot_conn_priv.h"

/* What one send() may carry: lws splits a larger write and copies the rest aside. Without it
 * lws takes the receive buffer's size, which would split a 100 ms message at 24 kHz. */
#define TX_PACKET_BYTES 65536
#define DNS_CACHE_NAMES 256 /* distinct bot host names kept */
#define RESOLVER_THREADS 2  /* to start with; more while all are busy (stuck lookups) */

struct sb_ws_worker {
	unsigned idx;
	bool realtime; /* threads.ws_realtime */
	pthread_t thread;
	bool started;
	atomic_bool quit;
	struct sb_heartbeat heartbeat; /* for the watchdog */
	struct sb_mq *mq;
	struct sb_mq *resolved; /* the resolver's answers */
	/* calls with caller audio or played marks to send, linked by _ready_next */
	_Atomic(struct sb_call *) ready;
	atomic_bool refill; /* a refill pass is due */
	struct sb_ws_env env;
	struct sb_ws_stats stats;
	struct ev_loop *loop; /* the context's, or NULL: lws_service()'s poll() */
	ev_timer timer_check; /* on loop: SB_WS_TIMER_CHECK_S, while there are connections */
};

static void on_msg(struct sb_ws_worker *w, struct sb_msg *m)
{
	struct sb_bot_conn *conn;

	switch (m->type) {
	case SB_MSG_BOT_CONNECT:
		sb_log_ctx_set(m->call->id);
		if (sb_bot_conn_new(&conn, &w->env, m->call) < 0) {
			struct sb_msg *f = sb_msg_new(SB_MSG_BOT_FAILED, m->call, 0);

			if (f) {
				f->text = strdup("out of memory");
				sb_mq_push(w->env.control, f);
			}
		} else {
			m->call = NULL; /* the connection holds the message's reference */
		}
		break;
	case SB_MSG_BOT_DETACH:
		sb_log_ctx_set(m->call->id);
		if (m->call->conn) {
			sb_bot_conn_detach(m->call->conn, m->text ? m->text : "stopped",
			                   m->arg != 0);
		} else {
			struct sb_msg *r = sb_msg_new(SB_MSG_BOT_DETACHED, m->call, 0);

			if (r)
				sb_mq_push(w->env.control, r);
		}
		break;
	case SB_MSG_BOT_DTMF:
		if (m->call->conn)
			sb_bot_conn_send_dtmf(m->call->conn, (char)(m->arg & 0xff),
			                      (unsigned)(m->arg >> 8));
		break;
	case SB_MSG_BOT_TRANSFER_FAILED:
		if (m->call->conn)
			sb_bot_conn_transfer_failed(m->call->conn, m->text ? m->text : "",
			                            (int)m->arg, m->data ? m->data : "");
		break;
	case SB_MSG_QUIT:
		atomic_store(&w->quit, true);
		break;
	default:
		log_error("Unexpected ws message %d, ignoring", m->type);
		break;
	}
	sb_log_ctx_set(NULL);
}

/* Takes the calls named by notify; pumps them when pump is set (else just drops them). */
static void take_ready(struct sb_ws_worker *w, bool pump)
{
	struct sb_call *c = atomic_exchange_explicit(&w->ready, NULL, memory_order_acquire), *next;

	for (; c; c = next) {
		next = c->_ready_next;
		/* Cleared before the pump: a frame written during it names the call again. An
		 * exchange, not a store: when notify's exchange came first, this one reads it, and
		 * the pump sees the frames written before it (after a store the pump could read an
		 * older head while notify saw the call still named: a lost wake-up). */
		atomic_exchange_explicit(&c->_ready, false, memory_order_acq_rel);
		if (pump && c->conn)
			sb_bot_conn_pump_up(c->conn);
		sb_call_unref(c);
	}
}

/* An answer of the resolver: cached, then every connection waiting for that name goes on. */
static void on_resolved(struct sb_ws_worker *w, struct sb_msg *m)
{
	const char *addr = m->data;
	struct sb_bot_conn *c, *next;

	if (!addr)
		log_warn("Cannot resolve bot host %s: %s", m->text, gai_strerror((int)m->arg));
	sb_dns_cache_put(w->env.dns, m->text, sb_now_ms(), addr, (int)m->arg);
	for (c = LIST_FIRST(&w->env.conns); c; c = next) {
		next = LIST_NEXT(c, link);
		if (c->resolving && strcmp(c->call->bot->url.host, m->text) == 0)
			sb_bot_conn_resolved(c, addr, (int)m->arg);
	}
}

static void on_wake(struct sb_ws_worker *w)
{
	struct sb_bot_conn *c, *next;

	for (struct sb_msg *m = sb_mq_pop_all(w->resolved), *next; m; m = next) {
		next = m->next;
		on_resolved(w, m);
		sb_msg_free(m);
	}
	for (struct sb_msg *m = sb_mq_pop_all(w->mq), *next; m; m = next) {
		next = m->next;
		on_msg(w, m);
		sb_msg_free(m);
	}
	take_ready(w, true);
	/* A call's connection came: lws's timers are looked at (no-op when already running). */
	if (w->loop && !LIST_EMPTY(&w->env.conns))
		ev_timer_start(w->loop, &w->timer_check);
	if (!atomic_exchange_explicit(&w->refill, false, memory_order_acq_rel))
		return;
	/* Only connections with bot audio waiting: the others' down rings hold all they have,
	 * and caller audio and played marks name their calls (take_ready). */
	for (c = LIST_FIRST(&w->env.backlog); c; c = next) {
		next = LIST_NEXT(c, backlog_link);
		sb_bot_conn_refill(c);
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct sb_bot_conn *conn;
	int r;

	(void)user;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		struct sb_ws_worker *w = lws_context_user(lws_get_context(wsi));

		/* The context has one vhost, its default one: lws tells it once. */
		if (w)
			on_wake(w);
		return 0;
	}
	conn = lws_get_opaque_user_data(wsi);
	if (!conn || (conn->wsi && conn->wsi != wsi))
		return 0;
	sb_log_ctx_set(conn->call->id);
	r = sb_bot_conn_callback(conn, wsi, reason, in, len);
	sb_log_ctx_set(NULL);
	return r;
}

static const struct lws_protocols protocols[] = {
        /* no receive buffer of its own: the raw role reads into the thread's */
        {"sipbridge-bot", callback, 0, 0, 0, NULL, TX_PACKET_BYTES},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Whether a connection of this worker was given ctx (its TLS session may hold it). */
static bool ca_ctx_in_use(struct sb_ws_env *env, const SSL_CTX *ctx)
{
	struct sb_bot_conn *c;

	LIST_FOREACH(c, &env->conns, link)
	if (c->tls_ctx == ctx)
		return true;
	return false;
}

/* A free entry of env->ca. When the table is full, reloads have named more files than it
 * holds (a CA bundle rotated under new names): the least recently used context that no
 * connection holds is given up, with the sessions kept on it (a later context may get its
 * address). NULL when every one is in use. */
static struct sb_ws_ca_ctx *ca_room(struct sb_ws_env *env)
{
	struct sb_ws_ca_ctx *old = NULL;

	if (env->n_ca < SB_WS_MAX_CA_FILES)
		return &env->ca[env->n_ca];
	for (size_t i = 0; i < env->n_ca; i++) {
		struct sb_ws_ca_ctx *v = &env->ca[i];

		if (!ca_ctx_in_use(env, v->ctx) && (!old || v->used < old->used))
			old = v;
	}
	if (!old)
		return NULL;
	log_info("Unloading bot CA file %s (unused) to make room for another", old->ca_file);
	sb_tls_sessions_forget(env->tls_sessions, old->ctx);
	free(old->ca_file);
	SSL_CTX_free(old->ctx);
	*old = env->ca[--env->n_ca];
	return &env->ca[env->n_ca];
}

/* The TLS client context trusting ca_file alone ("": the system store alone), kept while the
 * worker runs or until it makes room for another. */
static SSL_CTX *new_tls_ctx(struct sb_ws_env *env, const char *ca_file)
{
	struct sb_ws_ca_ctx *v;

	if (!ca_file[0]) {
		env->tls_default = sb_tls_client_ctx_new(NULL);
		if (!env->tls_default)
			log_error("Cannot load the system's CA certificates for wss bots");
		return env->tls_default;
	}
	v = ca_room(env);
	if (!v) {
		log_error("%d distinct bot ca_file values are in use, not loading %s",
		          SB_WS_MAX_CA_FILES, ca_file);
		return NULL;
	}
	v->ca_file = strdup(ca_file);
	v->ctx = v->ca_file ? sb_tls_client_ctx_new(ca_file) : NULL;
	if (!v->ctx) {
		log_error("Cannot load bot CA file %s", ca_file);
		free(v->ca_file);
		v->ca_file = NULL;
		return NULL;
	}
	v->used = ++env->ca_clock;
	env->n_ca++;
	return v->ctx;
}

SSL_CTX *sb_ws_env_tls_ctx(struct sb_ws_env *env, const char *ca_file)
{
	if (!ca_file[0] && env->tls_default)
		return env->tls_default;
	for (size_t i = 0; ca_file[0] && i < env->n_ca; i++) {
		if (strcmp(env->ca[i].ca_file, ca_file) == 0) {
			env->ca[i].used = ++env->ca_clock;
			return env->ca[i].ctx;
		}
	}
	/* A reload brought a new CA file: loaded once, on this thread. */
	return new_tls_ctx(env, ca_file);
}

int sb_ws_env_resolve(struct sb_ws_env *env, const char *host, char *addr, size_t addrlen, int *err)
{
	int r = sb_dns_cache_get(env->dns, host, sb_now_ms(), addr, addrlen, err);

	if (r != SB_DNS_MISS)
		return r;
	r = sb_resolver_ask(env->resolver, host);
	if (r < 0) {
		/* Not asked: forget the pending mark so a later attempt asks again. */
		sb_dns_cache_put(env->dns, host, sb_now_ms(), NULL, EAI_AGAIN);
		return r;
	}
	return SB_DNS_MISS;
}

/* Real-time scheduling for the thread that carries caller audio to the bots and theirs back
 * (threads.ws_realtime), below the media threads: on a busy machine ordinary work waits for
 * it, not it for ordinary work. Only where the system lets the media threads above it: at
 * the same priority neither would preempt the other, and a tick could wait out a ws turn.
 * The thread asks for the media threads' priority first to find out. */
static void go_realtime(const struct sb_ws_worker *w)
{
	struct sched_param other = {.sched_priority = 0};
	int r = sb_thread_realtime(SB_RT_PRIO_MEDIA, SB_RT_PRIO_MEDIA);

	if (r >= 0) {
		r = sb_thread_realtime(SB_RT_PRIO_WS, SB_RT_PRIO_WS);
		/* Not left at the probe's priority, the media threads'. The reset-on-fork flag
		 * stays: a thread without privilege may not clear it. */
		if (r < 0 && sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &other))
			log_error("A WebSocket thread is left at SCHED_FIFO %d, the media threads' "
			          "priority: %s",
			          SB_RT_PRIO_MEDIA, strerror(errno));
	}
	if (w->idx == 0 && r < 0)
		log_notice(
		        "WebSocket threads run without real-time scheduling (%s; they ask for it "
		        "only where the media threads may have SCHED_FIFO %d, above them): on a "
		        "busy machine caller audio waits for other work",
		        strerror(-r), SB_RT_PRIO_MEDIA);
	else if (w->idx == 0)
		log_notice("WebSocket threads run with real-time scheduling (SCHED_FIFO %d)", r);
}

static void *run(void *arg)
{
	struct sb_ws_worker *w = arg;

	int64_t turn_us = 0;

	if (w->realtime)
		go_realtime(w);
	else if (w->idx == 0)
		log_notice("WebSocket threads run with ordinary scheduling (threads.ws_realtime or "
		           "threads.media_realtime is off)");

	/* Only a stop ends this loop: other threads keep waking this context until then. */
	while (!atomic_load(&w->quit)) {
		int64_t wait_us = turn_us + SB_WS_MIN_TURN_US - sb_now_us();

		if (wait_us > 0)
			usleep((useconds_t)wait_us);
		turn_us = sb_now_us();
		if (w->loop)
			ev_run(w->loop, EVRUN_ONCE);
		else if (lws_service(w->env.ctx, 0) < 0) {
			log_warn_ratelimited("lws_service failed, retrying");
			usleep(10000); /* do not spin on a persistent failure */
		}
		/* Alive: the loop turns (a ping wakes it when nothing else does). */
		sb_heartbeat_beat(&w->heartbeat);
	}
	w->env.quitting = true;
	/* Before the context goes: an answer's wake-up would reach it. */
	w->env.resolver = sb_resolver_free(w->env.resolver);
	take_ready(w, false);
	while (!LIST_EMPTY(&w->env.conns))
		sb_bot_conn_free(LIST_FIRST(&w->env.conns));
	/* The context outlives this loop: sb_ws_worker_stop() may still be inside
	 * lws_cancel_service(); sb_ws_worker_free() destroys it after the join. */
	return NULL;
}

static void wake(void *arg)
{
	struct sb_ws_worker *w = arg;

	lws_cancel_service(w->env.ctx);
}

static void on_timer_check(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sb_ws_worker *w = container_of(t, struct sb_ws_worker, timer_check);

	(void)revents;
	if (LIST_EMPTY(&w->env.conns)) {
		ev_timer_stop(loop, t);
		return;
	}
	lws_cancel_service(w->env.ctx);
}

/* One TLS context per distinct ca_file of the configuration's wss bots (and the system store's
 * for those without one), made before the thread runs; later ones (after a reload) are made
 * on first use. */
static void load_ca_files(struct sb_ws_env *env, const struct sb_config *cfg)
{
	for (size_t i = 0; i < cfg->n_bots; i++) {
		const struct sb_bot_cfg *b = &cfg->bots[i];

		if (b->url.tls)
			sb_ws_env_tls_ctx(env, b->ca_file ? b->ca_file : "");
	}
}

/* The context, on a libev (epoll) loop unless mode says poll; auto falls back to poll when
 * lws's libev plugin does not load. */
static int new_context(struct sb_ws_worker *w, int mode)
{
	if (mode != SB_WS_LOOP_POLL) {
		w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
		/* lws's default descriptor limit: a worker may hold thousands of bot sockets. */
		if (w->loop)
			w->env.ctx = sb_lws_client_new(protocols, w, 0, w->loop, NULL);
		if (w->env.ctx) {
			ev_timer_init(&w->timer_check, on_timer_check, SB_WS_TIMER_CHECK_S,
			              SB_WS_TIMER_CHECK_S);
			if (w->idx == 0)
				log_info("ws threads wait in epoll (libwebsockets' libev event "
				         "loop)");
			return 0;
		}
		if (w->loop)
			ev_loop_destroy(w->loop);
		w->loop = NULL;
		if (mode == SB_WS_LOOP_EPOLL) {
			log_error("threads.ws_loop = \"epoll\": libwebsockets' libev event loop is "
			          "not "
			          "available (is libwebsockets-evlib-ev installed?)");
			return -ENOTSUP;
		}
		if (w->idx == 0)
			log_notice("libwebsockets' libev event loop is not available "
			           "(libwebsockets-evlib-ev): the ws threads use poll()");
	}
	w->env.ctx = sb_lws_client_new(protocols, w, 0, NULL, NULL);
	if (w->env.ctx && w->idx == 0 && mode == SB_WS_LOOP_POLL)
		log_info("ws threads wait in poll()");
	return w->env.ctx ? 0 : -ENOMEM;
}

int sb_ws_worker_new(struct sb_ws_worker **ret, unsigned idx, struct sb_mq *control,
                     const struct sb_config *cfg)
{
	struct sb_ws_worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	LIST_INIT(&w->env.conns);
	LIST_INIT(&w->env.backlog);
	w->idx = idx;
	w->realtime = cfg->ws_realtime && cfg->media_realtime;
	w->env.control = control;
	w->env.stats = &w->stats;
	sb_ws_keys_init(&w->env.keys);
	r = sb_mq_new(&w->mq);
	if (r == 0)
		r = sb_mq_new(&w->resolved);
	w->env.dns = sb_dns_cache_new(DNS_CACHE_NAMES, cfg->dns_cache_s * INT64_C(1000),
	                              cfg->dns_fail_cache_s * INT64_C(1000));
	if (r == 0 && !w->env.dns)
		r = -ENOMEM;
	if (r == 0)
		r = new_context(w, cfg->ws_loop);
	if (r == 0) {
		sb_mq_set_wake(w->mq, wake, w);
		sb_mq_set_wake(w->resolved, wake, w);
		r = sb_resolver_new(&w->env.resolver, RESOLVER_THREADS, sb_resolve_getaddrinfo,
		                    w->resolved, &sb_metrics.bot_dns_lookups_active[SB_M_NONE_ALL]);
	}
	if (r < 0) {
		sb_ws_worker_free(w);
		return r;
	}
	load_ca_files(&w->env, cfg);
	*ret = w;
	return 0;
}

int sb_ws_worker_start(struct sb_ws_worker *w)
{
	int r = sb_worker_thread_start(&w->thread, run, w, "sb-ws", w->idx);

	if (r < 0)
		return r;
	w->started = true;
	return 0;
}

void sb_ws_worker_ping(struct sb_ws_worker *w, unsigned seq)
{
	sb_heartbeat_ask(&w->heartbeat, seq);
	lws_cancel_service(w->env.ctx);
}

bool sb_ws_worker_answered(const struct sb_ws_worker *w, unsigned seq)
{
	return sb_heartbeat_answered(&w->heartbeat, seq);
}

void sb_ws_worker_post(struct sb_ws_worker *w, struct sb_msg *m)
{
	sb_mq_push(w->mq, m);
}

void sb_ws_worker_wake(struct sb_ws_worker *w)
{
	atomic_store_explicit(&w->refill, true, memory_order_release);
	lws_cancel_service(w->env.ctx);
}

void sb_ws_worker_notify(struct sb_ws_worker *w, struct sb_call *c)
{
	struct sb_call *head;

	if (atomic_exchange_explicit(&c->_ready, true, memory_order_acq_rel))
		return; /* named already, not yet taken */
	sb_call_ref(c);
	head = atomic_load_explicit(&w->ready, memory_order_relaxed);
	do
		c->_ready_next = head;
	while (!atomic_compare_exchange_weak_explicit(&w->ready, &head, c, memory_order_release,
	                                              memory_order_relaxed));
	if (!head) /* the first since the last pass: later ones ride on this wake-up */
		lws_cancel_service(w->env.ctx);
}

void sb_ws_worker_stop(struct sb_ws_worker *w)
{
	if (!w->started)
		return;
	atomic_store(&w->quit, true);
	lws_cancel_service(w->env.ctx);
	pthread_join(w->thread, NULL);
	w->started = false;
}

struct sb_ws_worker *sb_ws_worker_free(struct sb_ws_worker *w)
{
	if (!w)
		return NULL;
	w->env.resolver = sb_resolver_free(w->env.resolver);
	if (w->env.ctx)
		lws_context_destroy(w->env.ctx);
	if (w->loop) { /* after the context, whose sockets' watchers are on it */
		ev_timer_stop(w->loop, &w->timer_check);
		ev_loop_destroy(w->loop);
	}
	take_ready(w, false);
	sb_mq_free(w->mq);
	sb_mq_free(w->resolved);
	sb_dns_cache_free(w->env.dns);
	sb_tls_sessions_free(w->env.tls_sessions); /* before the contexts it names */
	for (size_t i = 0; i < w->env.n_ca; i++) {
		free(w->env.ca[i].ca_file);
		SSL_CTX_free(w->env.ca[i].ctx);
	}
	SSL_CTX_free(w->env.tls_default);
	free(w->env.tls_in);
	free(w->env.tls_out);
	free(w->env.media_buf);
	free(w);
	return NULL;
}

const struct sb_ws_stats *sb_ws_worker_stats(const struct sb_ws_worker *w)
{
	return &w->stats;
}

void sb_ws_warn_insecure(const struct sb_config *cfg)
{
	for (size_t i = 0; i < cfg->n_bots; i++) {
		const struct sb_bot_cfg *b = &cfg->bots[i];

		if (b->url.tls && !b->tls_verify)
			log_warn(
			        "bot %s: TLS certificate verification is OFF (tls_verify = false): "
			        "anyone on the path to %s can impersonate the bot and hear the "
			        "calls",
			        b->name, b->url.host);
	}
}

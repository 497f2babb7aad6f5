/* Call-end webhook delivery: one thread running lws_service() on its own libwebsockets client
 * context, POSTing the records control queues to webhook.url, signed, with retries.
 * Thread: its own (everything lws), control (new, start, post, stop, free). Owns the context,
 * the records waiting or in flight, and their HTTP connections.
 *
 * DESIGN: control never waits for the receiver. It encodes the record at call end and pushes
 * it on an sb_mq whose wake-up is lws_cancel_service(); a counter of records not yet finished
 * bounds the queue (webhook.max_queue), and a full queue drops the new record. This thread
 * turns each record into a job: at most MAX_IN_FLIGHT POSTs run at once, each bounded by
 * webhook.timeout_ms; a failed attempt (connect error, timeout, non-2xx) waits
 * sb_webhook_backoff_ms() and is tried again up to webhook.retries times. One lws timer (sul)
 * wakes the thread for the next due attempt or deadline. At exit the pending jobs get
 * SB_WEBHOOK_EXIT_GRACE_MS, then the rest are dropped and logged.
 * A host name in the URL is never given to lws, whose lookup would block this thread: the
 * resolver pool looks it up, its answer comes back on a second queue with the same wake-up
 * and is cached, and lws connects to the address, with the name in Host and SNI. An attempt
 * waiting for the lookup is in flight, under the same deadline, so a lookup that hangs costs
 * attempts that time out, and this thread never waits: the stop is a plain join. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#define LOG_SUBSYS "webhook"
#include <sb/log.h>

#include <sb/dns_cache.h>
#include <sb/lws_client.h>
#include <sb/msg.h>
#include <sb/mq.h>
#include <sb/resolver.h>
#include <sb/webhook.h>
#include <sb/worker_thread.h>

#include "webhook_priv.h"

#define MAX_IN_FLIGHT 8 /* POSTs at the same time */
#define WHY_MAX 320     /* an attempt's failure, with the host name */

#define STAT_INC(w, f) atomic_fetch_add_explicit(&(w)->stats.f, 1, memory_order_relaxed)

static void free_job(struct sb_webhook *w, struct sb_webhook_job *j)
{
	TAILQ_REMOVE(&w->jobs, j, link);
	w->n_jobs--;
	atomic_fetch_sub_explicit(&w->pending, 1, memory_order_relaxed);
	free(j);
}

/* Stops lws from calling back into j for its connection, closing it if asked. */
static void detach_wsi(struct sb_webhook_job *j, bool kill)
{
	if (!j->wsi)
		return;
	lws_set_opaque_user_data(j->wsi, NULL);
	if (kill)
		lws_set_timeout(j->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	j->wsi = NULL;
}

/* The attempt in flight is over: delivered, or failed (why) and retried or dropped. */
void sb_webhook_attempt_done(struct sb_webhook_job *j, bool ok, const char *why)
{
	struct sb_webhook *w = j->w;
	int64_t wait_ms;

	if (!j->in_flight)
		return;
	j->in_flight = false;
	j->resolving = false;
	w->n_in_flight--;
	detach_wsi(j, !ok);
	sb_log_ctx_set(j->call_id);
	if (ok) {
		log_info("Call-end record delivered (HTTP %d, attempt %u)", j->status, j->attempts);
		STAT_INC(w, delivered);
		free_job(w, j);
	} else if (j->attempts <= (unsigned)w->cfg->webhook_retries) {
		wait_ms = sb_webhook_backoff_ms(j->attempts);
		log_notice("Call-end record: attempt %u failed (%s), retrying in %lld ms",
		           j->attempts, why, (long long)wait_ms);
		STAT_INC(w, retried);
		j->due_ms = sb_now_ms() + wait_ms;
	} else {
		log_warn("Call-end record dropped after %u attempt(s): %s", j->attempts, why);
		STAT_INC(w, failed);
		free_job(w, j);
	}
	sb_log_ctx_set(NULL);
}

/* Connects the attempt in flight to address (numeric: lws does no lookup); Host and SNI name the
 * URL's host (lws cuts SNI at the ':' of the port). */
static void connect_to(struct sb_webhook *w, struct sb_webhook_job *j, const char *address)
{
	struct lws_client_connect_info ci = {0};

	ci.context = w->ctx;
	ci.address = address;
	ci.port = w->url.port;
	ci.path = w->url.path;
	ci.host = w->host_hdr;
	ci.origin = w->host_hdr;
	ci.method = "POST";
	ci.alpn = "http/1.1";
	ci.protocol = "sipbridge-webhook";
	ci.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT | (w->url.tls ? LCCSCF_USE_SSL : 0);
	ci.opaque_user_data = j;
	ci.pwsi = &j->wsi;
	/* A connection that fails at once may report through the callback before this
	 * returns; attempt_done() runs once either way. */
	if (!lws_client_connect_via_info(&ci)) {
		j->wsi = NULL;
		sb_webhook_attempt_done(j, false, "cannot connect");
	}
}

/* The attempt j waits for the host's address: connects once it is known, fails on a known
 * failure, or asks the resolver (once: a name it is resolving is not asked again). */
static void resolve_step(struct sb_webhook *w, struct sb_webhook_job *j)
{
	char addr[SB_DNS_ADDR_MAX], why[WHY_MAX];
	int err = 0, r;

	r = sb_dns_cache_get(w->dns, w->url.host, sb_now_ms(), addr, sizeof(addr), &err);
	if (r == SB_DNS_MISS) {
		int e = sb_resolver_ask(w->resolver, w->url.host);

		if (e < 0) {
			/* Not asked: forget the pending mark so the next attempt asks again. */
			sb_dns_cache_put(w->dns, w->url.host, sb_now_ms(), NULL, EAI_AGAIN);
			r = e;
		}
	}
	j->resolving = r == SB_DNS_MISS || r == SB_DNS_PENDING;
	if (r == SB_DNS_HIT) {
		connect_to(w, j, addr);
	} else if (!j->resolving) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", w->url.host,
		         r == SB_DNS_FAILED ? gai_strerror(err) : strerror(-r));
		sb_webhook_attempt_done(j, false, why);
	}
}

static void start_attempt(struct sb_webhook *w, struct sb_webhook_job *j)
{
	j->attempts++;
	j->in_flight = true;
	j->body_sent = false;
	j->status = 0;
	j->tls_verify_err = 0;
	j->deadline_ms = sb_now_ms() + w->cfg->webhook_timeout_ms;
	w->n_in_flight++;
	if (w->named)
		resolve_step(w, j);
	else
		connect_to(w, j, w->url.host);
}

/* The attempt in flight ran out of time: naming the host when its lookup was what it waited
 * for. */
static void time_out(struct sb_webhook *w, struct sb_webhook_job *j)
{
	char why[WHY_MAX];

	if (j->resolving)
		snprintf(why, sizeof(why), "host name lookup of %s timed out", w->url.host);
	else
		snprintf(why, sizeof(why), "timed out");
	sb_webhook_attempt_done(j, false, why);
}

/* Drops everything still pending at exit. */
static void drop_all(struct sb_webhook *w)
{
	unsigned n = 0;

	while (!TAILQ_EMPTY(&w->jobs)) {
		struct sb_webhook_job *j = TAILQ_FIRST(&w->jobs);

		detach_wsi(j, true);
		STAT_INC(w, dropped_exit);
		free_job(w, j);
		n++;
	}
	if (n)
		log_warn("Stopping: %u call-end record(s) not delivered within %d ms, dropped", n,
		         SB_WEBHOOK_EXIT_GRACE_MS);
}

static void on_timer(lws_sorted_usec_list_t *sul);

/* Times out attempts, starts due ones, and sets the timer for the next thing to do. */
static void schedule_once(struct sb_webhook *w)
{
	int64_t now = sb_now_ms(), next = INT64_MAX;
	struct sb_webhook_job *j, *tmp;

	if (w->quitting && (TAILQ_EMPTY(&w->jobs) || now >= w->exit_deadline_ms)) {
		drop_all(w);
		w->finished = true;
		lws_cancel_service(w->ctx); /* the loop sees finished */
		return;
	}
	/* attempt_done(), resolve_step() and start_attempt() may free j, never another job. */
	for (j = TAILQ_FIRST(&w->jobs); j; j = tmp) {
		tmp = TAILQ_NEXT(j, link);
		if (j->in_flight && now >= j->deadline_ms)
			time_out(w, j);
		else if (j->resolving)
			resolve_step(w, j); /* an answer may have come */
	}
	for (j = TAILQ_FIRST(&w->jobs); j; j = tmp) {
		tmp = TAILQ_NEXT(j, link);
		if (!j->in_flight && j->due_ms <= now && w->n_in_flight < MAX_IN_FLIGHT)
			start_attempt(w, j);
	}
	TAILQ_FOREACH(j, &w->jobs, link)
	{
		int64_t t = j->in_flight ? j->deadline_ms : j->due_ms;

		if (j->in_flight || w->n_in_flight < MAX_IN_FLIGHT)
			next = t < next ? t : next;
	}
	if (w->quitting)
		next = w->exit_deadline_ms < next ? w->exit_deadline_ms : next;
	if (next == INT64_MAX) {
		lws_sul_cancel(&w->sul);
		return;
	}
	next = next > now ? next - now : 0;
	lws_sul_schedule(w->ctx, 0, &w->sul, on_timer, (lws_usec_t)next * LWS_US_PER_MS);
}

/* A connection that fails inside lws_client_connect_via_info() calls back into here while
 * schedule_once() walks the jobs: that nested call only asks for one more pass. */
static void schedule(struct sb_webhook *w)
{
	if (w->in_schedule) {
		w->again = true;
		return;
	}
	w->in_schedule = true;
	do {
		w->again = false;
		if (!w->finished)
			schedule_once(w);
	} while (w->again);
	w->in_schedule = false;
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	schedule(container_of(sul, struct sb_webhook, sul));
}

/* Control's records become jobs, signed here, off the control thread. */
static void take_record(struct sb_webhook *w, struct sb_msg *m)
{
	size_t len = (size_t)m->arg;
	struct sb_webhook_job *j = calloc(1, sizeof(*j) + LWS_PRE + len);

	if (!j) {
		log_error("Out of memory queueing a call-end record, dropped");
		atomic_fetch_sub_explicit(&w->pending, 1, memory_order_relaxed);
		return;
	}
	j->w = w;
	j->len = len;
	memcpy(j->buf + LWS_PRE, m->text, len);
	snprintf(j->call_id, sizeof(j->call_id), "%s", m->data ? (const char *)m->data : "");
	if (w->cfg->webhook_secret[0] &&
	    sb_webhook_sign(j->sig, w->cfg->webhook_secret, j->buf + LWS_PRE, len) < 0)
		log_error("Cannot sign a call-end record, sending it unsigned");
	TAILQ_INSERT_TAIL(&w->jobs, j, link);
	w->n_jobs++;
	j->due_ms = sb_now_ms();
}

/* The resolver's answer for the host: cached; the attempts waiting for it go on in schedule(). */
static void on_resolved(struct sb_webhook *w, struct sb_msg *m)
{
	if (!m->data)
		log_warn("Cannot resolve webhook host %s: %s", m->text, gai_strerror((int)m->arg));
	sb_dns_cache_put(w->dns, m->text, sb_now_ms(), m->data, (int)m->arg);
}

static void on_wake(struct sb_webhook *w)
{
	for (struct sb_msg *m = sb_mq_pop_all(w->resolved), *next; m; m = next) {
		next = m->next;
		on_resolved(w, m);
		sb_msg_free(m);
	}
	for (struct sb_msg *m = sb_mq_pop_all(w->mq), *next; m; m = next) {
		next = m->next;
		if (m->type == SB_MSG_WEBHOOK_RECORD && m->text)
			take_record(w, m);
		sb_msg_free(m);
	}
	if (atomic_load(&w->quit) && !w->quitting) {
		w->quitting = true;
		w->exit_deadline_ms = sb_now_ms() + SB_WEBHOOK_EXIT_GRACE_MS;
	}
	schedule(w);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct sb_webhook *w = lws_context_user(lws_get_context(wsi));
	struct sb_webhook_job *j;
	int r;

	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		if (w)
			on_wake(w);
		return 0;
	}
	if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS) {
		/* the context's client SSL_CTX, inside sb_webhook_new()'s lws_create_context() */
		if (w) {
			int e = sb_webhook_tls_ctx_init(user, w->url.tls ? w->cfg->webhook_ca_file
			                                                 : NULL);

			w->tls_setup = e < 0 ? e : 1;
		}
		return 0;
	}
	j = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION) {
		if (j && j->in_flight)
			sb_webhook_tls_verify_step(j, user, len);
		return 0;
	}
	if (!j || !j->in_flight)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	sb_log_ctx_set(j->call_id);
	r = sb_webhook_job_event(j, wsi, reason, in, len);
	sb_log_ctx_set(NULL);
	schedule(w);
	return r;
}

static const struct lws_protocols protocols[] = {
        {"sipbridge-webhook", callback, 0, 0, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *run(void *arg)
{
	struct sb_webhook *w = arg;

	while (!w->finished) {
		if (lws_service(w->ctx, 0) < 0) {
			log_warn_ratelimited("lws_service failed, retrying");
			usleep(10000); /* do not spin on a persistent failure */
		}
	}
	lws_sul_cancel(&w->sul);
	/* Before the context goes: an answer's wake-up would reach it. A lookup still running
	 * finishes on its resolver thread, which posts nothing more. */
	w->resolver = sb_resolver_free(w->resolver);
	return NULL;
}

static void wake(void *arg)
{
	struct sb_webhook *w = arg;

	lws_cancel_service(w->ctx);
}

/* "host", "[v6]", with ":port" when it is not the scheme's default. */
static void make_host_header(struct sb_webhook *w)
{
	bool v6 = strchr(w->url.host, ':') != NULL;
	bool dflt = w->url.port == (w->url.tls ? 443 : 80);
	char port[8] = "";

	if (!dflt)
		snprintf(port, sizeof(port), ":%u", w->url.port);
	snprintf(w->host_hdr, sizeof(w->host_hdr), "%s%s%s%s", v6 ? "[" : "", w->url.host,
	         v6 ? "]" : "", port);
}

int sb_webhook_new(struct sb_webhook **ret, struct sb_config *cfg)
{
	struct sb_webhook *w;
	const char *why = NULL;
	int r;

	*ret = NULL;
	if (!cfg->webhook_url[0])
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	TAILQ_INIT(&w->jobs);
	r = sb_webhook_url_parse(&w->url, cfg->webhook_url, &why);
	if (r < 0) {
		free(w);
		return log_error_errno(r, "webhook.url: %s", why ? why : "invalid");
	}
	make_host_header(w);
	w->named = !sb_url_host_is_ip(w->url.host);
	w->cfg = sb_config_ref(cfg);
	r = sb_mq_new(&w->mq);
	if (r == 0)
		r = sb_mq_new(&w->resolved);
	if (r == 0 && w->named) {
		/* No thread until the first attempt asks: "-t" and numeric URLs start none. */
		w->dns = sb_dns_cache_new(1, cfg->dns_cache_s * INT64_C(1000),
		                          cfg->dns_fail_cache_s * INT64_C(1000));
		r = w->dns ? sb_resolver_new(&w->resolver, 0, sb_resolve_getaddrinfo, w->resolved,
		                             NULL)
		           : -ENOMEM;
	}
	if (r == 0) {
		const char *ca = cfg->webhook_ca_file ? cfg->webhook_ca_file : "";

		if (!w->url.tls && ca[0])
			log_notice("webhook.ca_file (%s) is not used: webhook.url is http://", ca);
		/* A few descriptors per POST in flight: else lws sizes its tables to the whole
		 * descriptor limit. An http:// receiver: no TLS context, no CA store loaded. */
		w->ctx = sb_lws_client_new(protocols, w, MAX_IN_FLIGHT * 2 + 8, NULL,
		                           w->url.tls ? ca : NULL);
		r = w->ctx ? 0 : -ENOMEM;
	}
	/* https only with the TLS 1.2 floor and the trusted CAs in place (a failure is logged). */
	if (r == 0 && w->url.tls && w->tls_setup <= 0)
		r = w->tls_setup < 0 ? w->tls_setup
		                     : log_error_errno(EPROTO, "lws made no TLS client context");
	if (r < 0) {
		sb_webhook_free(w);
		return r;
	}
	sb_mq_set_wake(w->mq, wake, w);
	sb_mq_set_wake(w->resolved, wake, w);
	*ret = w;
	return 0;
}

int sb_webhook_start(struct sb_webhook *w)
{
	int r;

	if (!w)
		return 0;
	r = sb_worker_thread_start(&w->thread, run, w, "sb-webhook", 0);
	if (r < 0)
		return r;
	w->started = true;
	log_info("Call-end records go to %s://%s%s%s%s%s", w->url.tls ? "https" : "http",
	         w->host_hdr, w->url.path, w->cfg->webhook_secret[0] ? ", signed" : "",
	         w->url.tls && w->cfg->webhook_ca_file[0] ? ", trusting the CAs of " : "",
	         w->url.tls ? w->cfg->webhook_ca_file : "");
	return 0;
}

void sb_webhook_post(struct sb_webhook *w, char *body, size_t len, const char *call_id)
{
	struct sb_msg *m;
	unsigned limit;

	if (!w || !body) {
		free(body);
		return;
	}
	/* Only control posts: the check and the increment cannot race another producer. */
	limit = (unsigned)w->cfg->webhook_max_queue;
	if (atomic_load_explicit(&w->pending, memory_order_relaxed) >= limit) {
		STAT_INC(w, dropped_full);
		log_warn_ratelimited("Webhook queue full (%u records): call-end record dropped "
		                     "(%llu so far)",
		                     limit,
		                     (unsigned long long)atomic_load(&w->stats.dropped_full));
		free(body);
		return;
	}
	m = sb_msg_new(SB_MSG_WEBHOOK_RECORD, NULL, (int64_t)len);
	if (!m || !(m->data = strdup(call_id ? call_id : ""))) {
		log_error("Out of memory queueing a call-end record, dropped");
		sb_msg_free(m);
		free(body);
		return;
	}
	m->text = body;
	atomic_fetch_add_explicit(&w->pending, 1, memory_order_relaxed);
	STAT_INC(w, queued);
	sb_mq_push(w->mq, m);
}

/* The thread never waits on anything but lws_service(): it ends within the exit grace and one
 * service turn. */
void sb_webhook_stop(struct sb_webhook *w)
{
	if (!w || !w->started)
		return;
	atomic_store(&w->quit, true);
	lws_cancel_service(w->ctx);
	pthread_join(w->thread, NULL);
	w->started = false;
}

struct sb_webhook *sb_webhook_free(struct sb_webhook *w)
{
	if (!w)
		return NULL;
	w->resolver = sb_resolver_free(w->resolver); /* never started: its answers' wake-up */
	while (!TAILQ_EMPTY(&w->jobs)) {
		struct sb_webhook_job *j = TAILQ_FIRST(&w->jobs);

		detach_wsi(j, false);
		free_job(w, j);
	}
	/* After the join (or before any start): no other thread can be inside lws, and the
	 * stop's lws_cancel_service() has returned. */
	if (w->ctx)
		lws_context_destroy(w->ctx);
	sb_mq_free(w->mq);
	sb_mq_free(w->resolved);
	sb_dns_cache_free(w->dns);
	sb_config_unref(w->cfg);
	free(w);
	return NULL;
}

const struct sb_webhook_stats *sb_webhook_stats(const struct sb_webhook *w)
{
	return w ? &w->stats : NULL;
}

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
 * SB_WEBHOOK_EXIT_GRACE_MS, then the rest are dropped and logged. A thread that does not come
 * back then (lws resolves the URL's host name on it, and a lookup can hang) is left behind to
 * the process's exit, with what it uses. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <libwebsockets.h>

#define LOG_SUBSYS "webhook"
#include <sb/log.h>

#include <sb/base64.h>
#include <sb/lws_client.h>
#include <sb/msg.h>
#include <sb/mq.h>
#include <sb/webhook.h>
#include <sb/worker_thread.h>

#define MAX_IN_FLIGHT 8 /* POSTs at the same time */
#define CALL_ID_MAX 63  /* of the id kept for the log */

struct job {
	TAILQ_ENTRY(job) link;
	struct sb_webhook *w;
	struct lws *wsi;
	char call_id[CALL_ID_MAX + 1];
	unsigned attempts;   /* made so far */
	int64_t due_ms;      /* waiting: when the next attempt starts */
	int64_t deadline_ms; /* in flight: when it times out */
	bool in_flight, body_sent;
	int status; /* the response's, 0 before one */
	char sig[SB_WEBHOOK_SIG_LEN + 1];
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the body */
};

struct sb_webhook {
	struct sb_config *cfg; /* a reference: url, secret, retries, timeout, max_queue */
	struct sb_url url;
	char host_hdr[300]; /* Host header: host, [v6], with a non-default port */
	pthread_t thread;
	bool started;
	bool abandoned; /* the thread did not stop: it and what it uses are left to the exit */
	struct sb_mq *mq;
	atomic_uint pending; /* records posted and not yet finished (the queue bound) */
	atomic_bool quit;
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	TAILQ_HEAD(, job) jobs;
	unsigned n_jobs, n_in_flight;
	bool quitting, finished; /* quit seen; nothing left to do */
	bool in_schedule, again; /* schedule() runs; it has to run once more */
	int64_t exit_deadline_ms;
	struct sb_webhook_stats stats;
};

/* How much longer than the exit grace stop waits for the thread: its service turn. */
#define STOP_SLACK_MS 3000

#define STAT_INC(w, f) atomic_fetch_add_explicit(&(w)->stats.f, 1, memory_order_relaxed)

static void free_job(struct sb_webhook *w, struct job *j)
{
	TAILQ_REMOVE(&w->jobs, j, link);
	w->n_jobs--;
	atomic_fetch_sub_explicit(&w->pending, 1, memory_order_relaxed);
	free(j);
}

/* Stops lws from calling back into j for its connection, closing it if asked. */
static void detach_wsi(struct job *j, bool kill)
{
	if (!j->wsi)
		return;
	lws_set_opaque_user_data(j->wsi, NULL);
	if (kill)
		lws_set_timeout(j->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	j->wsi = NULL;
}

/* lws is done with wsi and closes it, calling back on it once more as it frees it: that call
 * must not reach j, which attempt_done() may free. */
static void wsi_gone(struct job *j, struct lws *wsi)
{
	lws_set_opaque_user_data(wsi, NULL);
	j->wsi = NULL;
}

/* The attempt in flight is over: delivered, or failed (why) and retried or dropped. */
static void attempt_done(struct job *j, bool ok, const char *why)
{
	struct sb_webhook *w = j->w;
	int64_t wait_ms;

	if (!j->in_flight)
		return;
	j->in_flight = false;
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

static void start_attempt(struct sb_webhook *w, struct job *j)
{
	struct lws_client_connect_info ci = {0};

	j->attempts++;
	j->in_flight = true;
	j->body_sent = false;
	j->status = 0;
	j->deadline_ms = sb_now_ms() + w->cfg->webhook_timeout_ms;
	w->n_in_flight++;
	ci.context = w->ctx;
	ci.address = w->url.host; /* a name is resolved here, on this thread only */
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
		attempt_done(j, false, "cannot connect");
	}
}

/* Drops everything still pending at exit. */
static void drop_all(struct sb_webhook *w)
{
	unsigned n = 0;

	while (!TAILQ_EMPTY(&w->jobs)) {
		struct job *j = TAILQ_FIRST(&w->jobs);

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
	struct job *j, *tmp;

	if (w->quitting && (TAILQ_EMPTY(&w->jobs) || now >= w->exit_deadline_ms)) {
		drop_all(w);
		w->finished = true;
		lws_cancel_service(w->ctx); /* the loop sees finished */
		return;
	}
	/* attempt_done() and start_attempt() may free j, never another job. */
	for (j = TAILQ_FIRST(&w->jobs); j; j = tmp) {
		tmp = TAILQ_NEXT(j, link);
		if (j->in_flight && now >= j->deadline_ms)
			attempt_done(j, false, "timed out");
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
	struct job *j = calloc(1, sizeof(*j) + LWS_PRE + len);

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

static void on_wake(struct sb_webhook *w)
{
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

/* Content-Type, Content-Length, the signature and, for a URL with userinfo, Basic auth. */
static int append_headers(struct job *j, struct lws *wsi, unsigned char **p, unsigned char *end)
{
	const struct sb_url *u = &j->w->url;
	char clen[24], b64[SB_BASE64_ENCODED_LEN(sizeof(u->userinfo)) + 8], auth[sizeof(b64) + 8];
	int n = snprintf(clen, sizeof(clen), "%zu", j->len);

	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
	                                 (const unsigned char *)"application/json", 16, p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
	                                 (const unsigned char *)clen, n, p, end))
		return -1;
	if (j->sig[0] &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)SB_WEBHOOK_SIG_HEADER ":",
	                                (const unsigned char *)j->sig, SB_WEBHOOK_SIG_LEN, p, end))
		return -1;
	if (u->userinfo[0] && sb_base64_encode((const uint8_t *)u->userinfo, strlen(u->userinfo),
	                                       b64, sizeof(b64)) > 0) {
		n = snprintf(auth, sizeof(auth), "Basic %s", b64);
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
		                                 (const unsigned char *)auth, n, p, end))
			return -1;
	}
	/* The body follows in CLIENT_HTTP_WRITEABLE. */
	lws_client_http_body_pending(wsi, 1);
	lws_callback_on_writable(wsi);
	return 0;
}

static int send_body(struct job *j, struct lws *wsi)
{
	if (j->body_sent)
		return 0;
	j->body_sent = true;
	lws_client_http_body_pending(wsi, 0);
	if (lws_write(wsi, j->buf + LWS_PRE, j->len, LWS_WRITE_HTTP_FINAL) < (int)j->len)
		return -1;
	return 0;
}

static bool is_2xx(int status)
{
	return status >= 200 && status < 300;
}

/* One connection's events; returns what lws expects (-1 closes). */
static int on_job_event(struct job *j, struct lws *wsi, enum lws_callback_reasons reason, void *in,
                        size_t len)
{
	char buf[1024 + LWS_PRE], *px = buf + LWS_PRE, why[64];
	int n = sizeof(buf) - LWS_PRE;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(why, sizeof(why), "%s", in ? (const char *)in : "connection error");
		wsi_gone(j, wsi);
		attempt_done(j, false, why);
		return 0;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return append_headers(j, wsi, (unsigned char **)in, (unsigned char *)in + len);
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		return send_body(j, wsi);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		j->status = (int)lws_http_client_http_response(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		return lws_http_client_read(wsi, &px, &n) < 0 ? -1 : 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		return 0; /* the response body is not used */
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		/* A 2xx status line is the receiver's acceptance, whether or not the connection
		 * stays open for more. */
		snprintf(why, sizeof(why), j->status ? "HTTP %d" : "closed without a response",
		         j->status);
		if (reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP)
			wsi_gone(j, wsi);
		attempt_done(j, is_2xx(j->status), why);
		return reason == LWS_CALLBACK_COMPLETED_CLIENT_HTTP ? -1 : 0;
	default:
		return 0;
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct sb_webhook *w = lws_context_user(lws_get_context(wsi));
	struct job *j;
	int r;

	(void)user;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		if (w)
			on_wake(w);
		return 0;
	}
	j = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	if (!j || !j->in_flight)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	sb_log_ctx_set(j->call_id);
	r = on_job_event(j, wsi, reason, in, len);
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
	w->cfg = sb_config_ref(cfg);
	r = sb_mq_new(&w->mq);
	if (r == 0) {
		/* A few descriptors per POST in flight: else lws sizes its tables to the whole
		 * descriptor limit. */
		w->ctx = sb_lws_client_new(protocols, w, MAX_IN_FLIGHT * 2 + 8, NULL);
		r = w->ctx ? 0 : -ENOMEM;
	}
	if (r < 0) {
		sb_webhook_free(w);
		return r;
	}
	sb_mq_set_wake(w->mq, wake, w);
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
	log_info("Call-end records go to %s://%s%s%s", w->url.tls ? "https" : "http", w->host_hdr,
	         w->url.path, w->cfg->webhook_secret[0] ? ", signed" : "");
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

void sb_webhook_stop(struct sb_webhook *w)
{
	if (!w || !w->started)
		return;
	atomic_store(&w->quit, true);
	lws_cancel_service(w->ctx);
	if (sb_thread_join_within(w->thread, SB_WEBHOOK_EXIT_GRACE_MS + STOP_SLACK_MS) ==
	    -ETIMEDOUT) {
		log_warn("Call-end record delivery did not stop within %d ms (a lookup of %s that "
		         "has not returned?), exiting without it",
		         SB_WEBHOOK_EXIT_GRACE_MS + STOP_SLACK_MS, w->url.host);
		pthread_detach(w->thread);
		w->abandoned = true;
	}
	w->started = false;
}

struct sb_webhook *sb_webhook_free(struct sb_webhook *w)
{
	if (!w || w->abandoned)
		return NULL; /* a thread left behind by stop still uses w */
	while (!TAILQ_EMPTY(&w->jobs)) {
		struct job *j = TAILQ_FIRST(&w->jobs);

		detach_wsi(j, false);
		free_job(w, j);
	}
	/* After the join (or before any start): no other thread can be inside lws, and the
	 * stop's lws_cancel_service() has returned. */
	if (w->ctx)
		lws_context_destroy(w->ctx);
	sb_mq_free(w->mq);
	sb_config_unref(w->cfg);
	free(w);
	return NULL;
}

const struct sb_webhook_stats *sb_webhook_stats(const struct sb_webhook *w)
{
	return w ? &w->stats : NULL;
}

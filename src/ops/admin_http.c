/* The admin HTTP server: one lws server context serviced by the admin thread only. A request
 * is read and bounded here (SB_ADMIN_MAX_REQUEST_BYTES of headers and of body), answered from
 * atomics and the published calls snapshot (admin_route.c), or, for a reload, answered when
 * control's reply arrives on this thread's queue (woken by lws_cancel_service).
 * Thread: the admin thread (everything lws), control (life, publish), any (post).
 * Owns the context, its connections and the current snapshot reference. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <openssl/sha.h>

#define LOG_SUBSYS "admin"
#include <sb/log.h>

#include <sb/bind_probe.h>
#include <sb/daemon.h>
#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/worker_thread.h>

#include "admin_priv.h"

#define MAX_CONNECTIONS 64 /* admin clients at once; more wait in the listen backlog */
#define WRITE_CHUNK 4096

static void clear_response(struct sb_admin_req *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = r->sent = 0;
	r->status = 0;
	r->headers_sent = false;
}

/* Forgets what the last transaction on this connection left (a keep-alive connection runs
 * several). */
static void reset(struct sb_admin_req *r)
{
	if (r->waiting) {
		LIST_REMOVE(r, link);
		r->waiting = false;
	}
	clear_response(r);
	r->routed = false;
	r->body_bytes = 0;
}

void sb_admin_respond(struct sb_admin_req *r, int status, const char *ctype, char *body, size_t len)
{
	clear_response(r);
	r->status = status;
	r->ctype = ctype;
	r->body = body;
	r->body_len = body ? len : 0;
	if (r->waiting) {
		LIST_REMOVE(r, link);
		r->waiting = false;
	}
	lws_callback_on_writable(r->wsi);
}

void sb_admin_wait(struct sb_admin *a, struct sb_admin_req *r, uint64_t id)
{
	r->id = id;
	r->waiting = true;
	LIST_INSERT_HEAD(&a->waiting, r, link);
	lws_set_timer_usecs(r->wsi, (lws_usec_t)SB_ADMIN_REPLY_TIMEOUT_MS * 1000);
}

static int write_headers(struct sb_admin_req *r)
{
	uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
	struct lws *wsi = r->wsi;

	if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, r->body_len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const uint8_t *)"cache-control:",
	                                (const uint8_t *)"no-store", 8, &p, end) ||
	    (r->allow &&
	     lws_add_http_header_by_name(wsi, (const uint8_t *)"allow:", (const uint8_t *)r->allow,
	                                 (int)strlen(r->allow), &p, end)) ||
	    (r->status == 401 &&
	     lws_add_http_header_by_name(wsi, (const uint8_t *)"www-authenticate:",
	                                 (const uint8_t *)"Bearer", 6, &p, end)))
		return -1;
	/* HTTP/1.0 closes unless the answer says otherwise (RFC 9112 appendix C.2.2); for 1.1
	 * staying open is the default and goes unsaid. */
	if (r->close && lws_add_http_header_by_name(wsi, (const uint8_t *)"connection:",
	                                            (const uint8_t *)"close", 5, &p, end))
		return -1;
	if (!r->close && r->http10 &&
	    lws_add_http_header_by_name(wsi, (const uint8_t *)"connection:",
	                                (const uint8_t *)"keep-alive", 10, &p, end))
		return -1;
	return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Writes what is left of the response while the socket takes it. Returns -1 to close, 0. */
static int on_writeable(struct sb_admin_req *r)
{
	uint8_t buf[LWS_PRE + WRITE_CHUNK];

	if (!r->status)
		return 0; /* nothing to say yet (a reload waiting for control) */
	if (!r->headers_sent) {
		if (write_headers(r) < 0)
			return -1;
		r->headers_sent = true;
		if (r->body_len && lws_send_pipe_choked(r->wsi)) {
			lws_callback_on_writable(r->wsi);
			return 0;
		}
	}
	while (r->sent < r->body_len) {
		size_t n =
		        r->body_len - r->sent < WRITE_CHUNK ? r->body_len - r->sent : WRITE_CHUNK;
		bool last = r->sent + n == r->body_len;

		memcpy(buf + LWS_PRE, r->body + r->sent, n);
		if (lws_write(r->wsi, buf + LWS_PRE, n,
		              last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
			return -1;
		r->sent += n;
		if (!last && lws_send_pipe_choked(r->wsi)) {
			lws_callback_on_writable(r->wsi);
			return 0;
		}
	}
	clear_response(r);
	if (r->close)
		return -1;
	return lws_http_transaction_completed(r->wsi) ? -1 : 0;
}

static bool is_http11(struct lws *wsi)
{
	char ver[16];

	return lws_hdr_copy(wsi, ver, sizeof(ver), WSI_TOKEN_HTTP) > 7 && ver[5] == '1' &&
	       ver[7] == '1';
}

/* Whether the connection closes after this request's answer, so that the answer can say so
 * (RFC 9112 9.6). The version (keep: HTTP/1.1) and an exact "close" or "keep-alive" decide as
 * they decide for lws (HTTP/1.1 stays open, 1.0 closes); a "close" among several options
 * closes too. */
static bool closes_after(struct lws *wsi, bool keep)
{
	char conn[128], *save = NULL;

	if (lws_hdr_copy(wsi, conn, sizeof(conn), WSI_TOKEN_CONNECTION) <= 0)
		return !keep;
	if (strcasecmp(conn, "keep-alive") == 0)
		return false;
	for (char *t = strtok_r(conn, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
		if (strcasecmp(t, "close") == 0)
			return true;
	return !keep;
}

/* A new request's first callback: the request line and headers are in. A body is waited for
 * only when one is announced, and only up to the limit. */
static int on_http(struct sb_admin *a, struct sb_admin_req *r, struct lws *wsi, const char *path)
{
	char cl[32] = "";
	long long len = 0;

	reset(r);
	r->wsi = wsi;
	r->adm = a;
	r->http10 = !is_http11(wsi);
	r->close = closes_after(wsi, !r->http10);
	r->allow = NULL;
	snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
		len = strtoll(cl, NULL, 10);
	if (len < 0 || len > SB_ADMIN_MAX_REQUEST_BYTES) {
		r->close = true; /* the body is never read */
		sb_admin_error(r, 413, "request body too large");
		return 0;
	}
	if (path && strlen(path) >= sizeof(r->path)) {
		r->close = true;
		sb_admin_error(r, 414, "request path too long");
		return 0;
	}
	if (len > 0 && lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		return 0; /* routed once the body is in (and ignored: no endpoint takes one) */
	r->routed = true;
	sb_admin_route(a, r);
	return 0;
}

/* Control's replies: each answers the request that waits under its number (if it is still
 * there: the client may have gone). */
static void on_wake(struct sb_admin *a)
{
	for (struct sb_msg *m = sb_mq_pop_all(a->mq), *next; m; m = next) {
		struct sb_admin_reply *rep = m->data;
		struct sb_admin_req *r;

		next = m->next;
		LIST_FOREACH(r, &a->waiting, link)
		if (r->id == (uint64_t)m->arg)
			break;
		if (r && rep) {
			size_t len = strlen(rep->body);
			char *body = strdup(rep->body);

			if (body)
				sb_admin_respond(r, rep->status, "application/json", body, len);
			else
				sb_admin_error(r, 500, "out of memory");
		}
		sb_msg_free(m);
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct sb_admin *a = lws_context_user(lws_get_context(wsi));
	struct sb_admin_req *r = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (a)
			on_wake(a);
		return 0;
	case LWS_CALLBACK_HTTP:
		return on_http(a, r, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		r->body_bytes += len;
		/* Over the limit without a Content-Length (chunked): close, read no more. */
		return r->body_bytes > SB_ADMIN_MAX_REQUEST_BYTES ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!r->routed) {
			r->routed = true;
			sb_admin_route(a, r);
		}
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return r ? on_writeable(r) : 0;
	case LWS_CALLBACK_TIMER:
		if (r && r->waiting)
			sb_admin_error(r, 504, "no answer from the control thread in time");
		return 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (r)
			reset(r);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
        {"http", callback, sizeof(struct sb_admin_req), 0, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *run(void *arg)
{
	struct sb_admin *a = arg;

	while (!atomic_load(&a->quit))
		if (lws_service(a->ctx, 0) < 0) {
			log_warn_ratelimited("lws_service failed, retrying");
			usleep(10000); /* do not spin on a persistent failure */
		}
	/* The context outlives this loop: sb_admin_stop() may still be inside
	 * lws_cancel_service(); sb_admin_free() destroys it after the join. */
	return NULL;
}

static void wake(void *arg)
{
	struct sb_admin *a = arg;

	lws_cancel_service(a->ctx);
}

/* lws does not say why its listening socket failed: the same bind, tried again with a socket of
 * our own, names the cause (an address not on this machine, a port in use). If that bind works
 * now, the port was most likely held and released since. */
static int listen_failed(const struct sb_config *cfg, const char *host)
{
	int r = sb_bind_probe(cfg->admin_address, (uint16_t)cfg->admin_port, SOCK_STREAM);

	if (r == 0)
		r = -EADDRINUSE;
	return log_error_errno(r, "Cannot listen for the admin API on %s:%d%s", host,
	                       cfg->admin_port, r == -EADDRINUSE ? " (in use?)" : "");
}

static int create_context(struct sb_admin *a, const struct sb_config *cfg)
{
	struct lws_context_creation_info info = {0};
	bool v6 = strchr(cfg->admin_address, ':') != NULL;
	char host[INET6_ADDRSTRLEN + 2]; /* as a URL writes it: an IPv6 address in brackets */

	snprintf(host, sizeof(host), "%s%s%s", v6 ? "[" : "", cfg->admin_address, v6 ? "]" : "");
	info.port = cfg->admin_port;
	info.iface = cfg->admin_address;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = a;
	info.max_http_header_data = SB_ADMIN_MAX_REQUEST_BYTES;
	info.max_http_header_pool = 8;
	info.fd_limit_per_thread = MAX_CONNECTIONS;
	info.timeout_secs = 10; /* a client that stalls mid-request is dropped */
	info.keepalive_timeout = 10;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 * !v6;
	/* The listening vhost is made apart from the context: when lws 4.1 fails to make the
	 * default vhost inside lws_create_context(), it frees the context but not what the
	 * context had already registered (its system SMD peer). A context whose own vhost
	 * fails is released in full by lws_context_destroy(). */
	info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	/* Without it lws 4.1 makes a vhost that does not listen when the address is not on this
	 * machine (it retries the bind later) and only a port in use fails. */
	info.options |= LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	a->ctx = lws_create_context(&info);
	if (!a->ctx)
		return log_error_errno(ENOMEM, "Cannot create the admin API's lws context");
	if (!lws_create_vhost(a->ctx, &info)) {
		lws_context_destroy(a->ctx);
		a->ctx = NULL;
		return listen_failed(cfg, host);
	}
	log_notice("Admin API on http://%s:%d/%s", host, cfg->admin_port,
	           cfg->admin_token[0] ? " (bearer token required)" : "");
	return 0;
}

int sb_admin_new(struct sb_admin **ret, struct sb_daemon *d)
{
	const struct sb_config *cfg = d->cfg;
	struct sb_admin *a;
	int r;

	sb_metrics_init();
	*ret = NULL;
	if (cfg->admin_port == 0)
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	LIST_INIT(&a->waiting);
	pthread_mutex_init(&a->lock, NULL);
	a->has_token = cfg->admin_token[0] != '\0';
	SHA256((const uint8_t *)cfg->admin_token, strlen(cfg->admin_token), a->token_sha256);
	a->calls = sb_admin_calls_new(0);
	r = a->calls ? sb_mq_new(&a->mq) : -ENOMEM;
	if (r == 0)
		r = create_context(a, cfg);
	if (r < 0) {
		sb_admin_free(a);
		return r;
	}
	sb_mq_set_wake(a->mq, wake, a);
	*ret = a;
	return 0;
}

int sb_admin_start(struct sb_admin *a)
{
	int r;

	if (!a)
		return 0;
	r = sb_worker_thread_start(&a->thread, run, a, "sb-admin", 0);
	if (r == 0)
		a->started = true;
	return r;
}

void sb_admin_stop(struct sb_admin *a)
{
	if (!a || !a->started)
		return;
	atomic_store(&a->quit, true);
	lws_cancel_service(a->ctx);
	pthread_join(a->thread, NULL);
	a->started = false;
}

struct sb_admin *sb_admin_free(struct sb_admin *a)
{
	if (!a)
		return NULL;
	if (a->ctx)
		lws_context_destroy(a->ctx);
	sb_mq_free(a->mq);
	sb_admin_calls_unref(a->calls);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return NULL;
}

void sb_admin_publish(struct sb_admin *a, struct sb_admin_calls *calls)
{
	struct sb_admin_calls *old;

	if (!a) {
		sb_admin_calls_unref(calls);
		return;
	}
	pthread_mutex_lock(&a->lock);
	old = a->calls;
	a->calls = calls;
	pthread_mutex_unlock(&a->lock);
	sb_admin_calls_unref(old);
}

struct sb_admin_calls *sb_admin_snapshot(struct sb_admin *a)
{
	struct sb_admin_calls *s;

	pthread_mutex_lock(&a->lock);
	s = sb_admin_calls_ref(a->calls);
	pthread_mutex_unlock(&a->lock);
	return s;
}

void sb_admin_post(struct sb_admin *a, struct sb_msg *m)
{
	if (!a) {
		sb_msg_free(m);
		return;
	}
	sb_mq_push(a->mq, m);
}

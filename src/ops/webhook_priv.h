/* Private to the webhook client: the client and its jobs (one record each), shared by
 * webhook.c (the thread, the queue, attempts and their schedule), webhook_http.c (one
 * attempt's HTTP exchange) and webhook_tls.c (its TLS handshake). Thread: the webhook thread,
 * but for what webhook.h says. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <libwebsockets.h>

#include <sb/config.h>
#include <sb/url.h>
#include <sb/webhook.h>

#define SB_WEBHOOK_CALL_ID_MAX 63 /* of the id kept for the log */

struct sb_webhook_job {
	TAILQ_ENTRY(sb_webhook_job) link;
	struct sb_webhook *w;
	struct lws *wsi;
	char call_id[SB_WEBHOOK_CALL_ID_MAX + 1];
	unsigned attempts;   /* made so far */
	int64_t due_ms;      /* waiting: when the next attempt starts */
	int64_t deadline_ms; /* in flight: when it times out */
	bool in_flight, body_sent;
	bool resolving;     /* in flight, waiting for the host's address: no wsi yet */
	int status;         /* the response's, 0 before one */
	int tls_verify_err; /* the first failure verifying the receiver's certificate, 0 (none) */
	char sig[SB_WEBHOOK_SIG_LEN + 1];
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the body */
};

struct sb_webhook {
	struct sb_config *cfg; /* a reference: url, secret, retries, timeout, max_queue */
	struct sb_url url;
	char host_hdr[300]; /* Host header: host, [v6], with a non-default port */
	bool named;         /* url.host is a name: resolved by the resolver, never by lws */
	pthread_t thread;
	bool started;
	struct sb_mq *mq;
	struct sb_mq *resolved;       /* the resolver's answers */
	struct sb_resolver *resolver; /* NULL for a numeric host, and once the thread ends */
	struct sb_dns_cache *dns;     /* the host's address, or its lookup's failure */
	atomic_uint pending;          /* records posted and not yet finished (the queue bound) */
	atomic_bool quit;
	struct lws_context *ctx;
	int tls_setup; /* the context's client SSL_CTX: 0 not made, 1 set up, negative errno */
	lws_sorted_usec_list_t sul;
	TAILQ_HEAD(, sb_webhook_job) jobs;
	unsigned n_jobs, n_in_flight;
	bool quitting, finished; /* quit seen; nothing left to do */
	bool in_schedule, again; /* schedule() runs; it has to run once more */
	int64_t exit_deadline_ms;
	struct sb_webhook_stats stats;
};

/* Thread: webhook. The attempt in flight of j is over: delivered, or failed (why, borrowed)
 * and retried or dropped; j may be freed. */
void sb_webhook_attempt_done(struct sb_webhook_job *j, bool ok, const char *why);
/* Thread: webhook. One event of j's connection wsi (lws's reason, in and len); returns what
 * lws expects (-1 closes). j may be freed. */
int sb_webhook_job_event(struct sb_webhook_job *j, struct lws *wsi,
                         enum lws_callback_reasons reason, void *in, size_t len);
/* Thread: control, as the context is made (lws's LOAD_EXTRA_CLIENT_VERIFY_CERTS). Sets up the
 * client SSL_CTX lws made (borrowed): TLS 1.2 at least, whatever OpenSSL's configuration
 * allows, and no SNI for an address; and checks that it trusts a certificate of ca_file
 * (borrowed; NULL or "": the system store, not checked).
 * Returns 0 or a negative errno, logged. */
int sb_webhook_tls_ctx_init(void *ssl_ctx, const char *ca_file);
/* Thread: webhook. One step of verifying the receiver's certificate chain (lws's
 * PERFORM_SERVER_CERT_VERIFICATION: OpenSSL's X509_STORE_CTX, borrowed, and preverify_ok):
 * keeps the first failure in j. lws's own check still decides. */
void sb_webhook_tls_verify_step(struct sb_webhook_job *j, void *x509_ctx, size_t preverify_ok);
/* Thread: webhook. The first fatal TLS alert of wsi's handshake, sent or received, as text in
 * buf (len bytes); false when there was none. */
bool sb_webhook_tls_alert(struct lws *wsi, char *buf, size_t len);
/* Thread: any. OpenSSL's text for a certificate verification error (static). */
const char *sb_webhook_tls_verify_error(int err);

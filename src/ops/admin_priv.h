/* Private to the admin server: the server and one connection's request state, shared by
 * admin_http.c (the lws loop, reading and writing) and admin_route.c (what each endpoint
 * answers). Thread: the admin thread, but for the snapshot's lock and the queue. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <libwebsockets.h>
#include <openssl/sha.h>

#include <sb/admin.h>

struct sb_admin_req {
	struct sb_admin *adm;
	struct lws *wsi;
	char path[256];
	size_t body_bytes; /* of the request body so far */
	bool routed;       /* sb_admin_route has run for this request */
	bool waiting;      /* on adm->waiting for control's reply */
	uint64_t id;       /* the request number control's reply names */
	LIST_ENTRY(sb_admin_req) link;
	/* the response */
	int status; /* 0: none yet */
	const char *ctype, *allow;
	bool close;  /* close the connection after it */
	bool http10; /* an HTTP/1.0 request: an answer that keeps the connection says so */
	char *body;  /* malloc'd */
	size_t body_len, sent;
	bool headers_sent;
};

struct sb_admin {
	struct sb_daemon *d;
	pthread_t thread;
	bool started;
	atomic_bool quit;
	struct lws_context *ctx;
	struct sb_mq *mq; /* control's replies */
	LIST_HEAD(, sb_admin_req) waiting;
	uint64_t next_id;
	bool has_token;
	uint8_t token_sha256[SHA256_DIGEST_LENGTH];
	pthread_mutex_t lock;         /* guards calls (the swap, and taking a reference) */
	struct sb_admin_calls *calls; /* the latest snapshot control published */
};

/* admin_http.c: answers r with status and body (malloc'd, ownership passes; NULL for none) of
 * content type ctype (a static string), written once the socket is writable. */
void sb_admin_respond(struct sb_admin_req *r, int status, const char *ctype, char *body,
                      size_t len);
/* admin_http.c: r waits for control's reply numbered id (at most SB_ADMIN_REPLY_TIMEOUT_MS). */
void sb_admin_wait(struct sb_admin *a, struct sb_admin_req *r, uint64_t id);
/* admin_http.c: the current calls snapshot, referenced (the caller unrefs it). */
struct sb_admin_calls *sb_admin_snapshot(struct sb_admin *a);
/* admin_route.c: answers r (path, method and headers read from r->wsi). */
void sb_admin_route(struct sb_admin *a, struct sb_admin_req *r);
/* admin_route.c: answers r with status and {"ok":false,"error":why}. */
void sb_admin_error(struct sb_admin_req *r, int status, const char *why);

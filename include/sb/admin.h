/* Admin API: an HTTP server on its own thread and lws context (GET /healthz /metrics /calls
 * /calls/ID, POST /calls/ID/hangup /drain /reload), which reads atomics and the calls snapshot
 * control publishes, and posts commands to control's queue. The snapshot itself is an
 * immutable, refcounted list of call summaries as JSON. Thread: control (life, publish,
 * replies), the admin thread (everything lws), any (snapshot helpers). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <sb/call.h>
#include <sb/mq.h>

#define SB_ADMIN_MAX_REQUEST_BYTES 8192 /* headers, and a body, each at most this */
#define SB_ADMIN_REPLY_TIMEOUT_MS 30000 /* control's answer to a reload, at the latest */

struct sb_admin;
struct sb_daemon;

/* One call in a snapshot: its id and where its JSON object lies in the array's text. */
struct sb_admin_call {
	char id[SB_CALL_ID_LEN + 1];
	size_t off, len;
};

/* The calls as control last published them: json is the whole array ("[...]"). Immutable once
 * published; freed with its last reference. */
struct sb_admin_calls {
	atomic_int refs;
	char *json;
	size_t json_len, json_size;
	size_t n, max;
	struct sb_admin_call calls[];
};

/* SB_MSG_ADMIN_REPLY's data: the HTTP answer to a command that waited for control. */
struct sb_admin_reply {
	int status;
	char body[]; /* JSON text */
};

/* Thread: any. An empty snapshot with room for max calls (one reference). NULL on OOM. */
struct sb_admin_calls *sb_admin_calls_new(size_t max);
/* Thread: the snapshot's builder. Appends call id with its JSON object text obj (copied).
 * Returns 0, -ENOSPC when max calls are in, or -ENOMEM. */
int sb_admin_calls_add(struct sb_admin_calls *s, const char *id, const char *obj);
/* Thread: any. Takes a reference; returns s. */
struct sb_admin_calls *sb_admin_calls_ref(struct sb_admin_calls *s);
/* Thread: any. Drops a reference; accepts NULL; returns NULL. */
struct sb_admin_calls *sb_admin_calls_unref(struct sb_admin_calls *s);
/* Thread: any. The call with this id, or NULL. */
const struct sb_admin_call *sb_admin_calls_find(const struct sb_admin_calls *s, const char *id);

/* Thread: control. Creates the admin server for d's config (admin group; read once). *ret is
 * NULL when admin.port is 0. Binds the port. Returns 0 or a negative errno. */
int sb_admin_new(struct sb_admin **ret, struct sb_daemon *d);
/* Thread: control. Starts the admin thread; accepts NULL. Returns 0 or a negative errno. */
int sb_admin_start(struct sb_admin *a);
/* Thread: control. Stops and joins the admin thread; accepts NULL. */
void sb_admin_stop(struct sb_admin *a);
/* Thread: control, after stop. Frees; accepts NULL; returns NULL. */
struct sb_admin *sb_admin_free(struct sb_admin *a);
/* Thread: any. The body of an answer that says how a request went: {"ok":true}, or with a
 * member (e.g. "error", "note") holding text, which may be anything (a byte that is not UTF-8
 * becomes U+FFFD). malloc'd, or NULL on OOM. */
char *sb_admin_result_json(bool ok, const char *member, const char *text);
/* Thread: control. Publishes calls (the reference passes to the server) as what /calls shows
 * from now on. Accepts a == NULL (drops the reference). */
void sb_admin_publish(struct sb_admin *a, struct sb_admin_calls *calls);
/* Thread: any. Hands m (ownership passes) to the admin thread: SB_MSG_ADMIN_REPLY answers
 * the request numbered m->arg. Accepts a == NULL (frees m). */
void sb_admin_post(struct sb_admin *a, struct sb_msg *m);

/* Call-end webhook: control encodes one JSON record per call that ends and hands it to the
 * webhook thread, which POSTs it (HMAC-SHA256 signed when a secret is set) on its own
 * libwebsockets client context, retrying with back-off. The encoder, signature, time format
 * and back-off are pure. Thread: control (new, start, post, stop, free), the webhook thread
 * (delivery), any (the pure helpers). */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sb/config.h>
#include <sb/route.h>
#include <sb/url.h>

#define SB_WEBHOOK_SIG_HEADER "X-Sipbridge-Signature"
#define SB_WEBHOOK_SIG_LEN (7 + 64) /* "sha256=" + 64 lowercase hex digits */
#define SB_WEBHOOK_TIME_LEN 24      /* "2026-12-02T07:30:01.123Z" */
#define SB_WEBHOOK_BACKOFF_FIRST_MS 500
#define SB_WEBHOOK_BACKOFF_MAX_MS 30000
#define SB_WEBHOOK_EXIT_GRACE_MS 2000 /* at exit, pending records get this long */

/* One call's end, as the receiver sees it. Strings are borrowed; NULL is encoded as null. */
struct sb_webhook_record {
	const char *call_id;     /* the bridge's id (the bot's call_sid) */
	const char *sip_call_id; /* the INVITE's Call-ID */
	const char *trunk, *from, *to, *bot;
	int64_t start_ms, answer_ms, end_ms; /* wall clock, ms since the epoch; answer 0: never */
	const char *hangup_by;               /* "caller", "bot", "bridge", "agent" */
	const char *hangup_reason;           /* "bye", "cancel", "bot hangup", … */
	int sip_status;                      /* final response to the INVITE; 0: none */
	const char *transfer_target;         /* NULL: no transfer was attempted */
	const char *transfer_mode;           /* "refer" or "bridge" */
	const char *transfer_outcome;        /* "succeeded", "failed", "pending" */
	uint64_t rtp_packets_in, rtp_packets_out;
	int64_t rtp_lost;
	uint64_t bot_frames_in, bot_frames_out;
	/* audio dropped, in 20 ms frames: on a full queue to the bot / to the caller, and by a
	 * bridged transfer on its way to the caller, the agent and a listening bot's mix */
	uint64_t drops_to_bot, drops_to_caller;
	uint64_t bridge_drops_to_caller, bridge_drops_to_agent, bridge_drops_to_bot;
	const char *dtmf; /* the caller's keys in order; NULL or "" for none */
	const struct sb_kv *params;
	size_t n_params;
};

struct sb_webhook_stats {
	atomic_uint_fast64_t queued, delivered, retried, failed, dropped_full, dropped_exit;
};

struct sb_webhook;

/* Thread: any. Parses an http:// or https:// URL into out (tls set for https). Returns 0, or
 * -EINVAL with a short reason in *err (when err is not NULL). */
int sb_webhook_url_parse(struct sb_url *out, const char *text, const char **err);
/* Thread: any. Writes wall_ms (ms since the epoch, UTC) as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf
 * (at least SB_WEBHOOK_TIME_LEN + 1 bytes). Returns 0, or -EINVAL when it does not fit. */
int sb_webhook_iso8601(char *buf, size_t size, int64_t wall_ms);
/* Thread: any. The record as compact JSON (malloc'd, NUL-terminated, owned by the caller);
 * *len gets its length. NULL on OOM. */
char *sb_webhook_encode(const struct sb_webhook_record *r, size_t *len);
/* Thread: any. "sha256=" and the lowercase hex HMAC-SHA256 of body under secret into out
 * (SB_WEBHOOK_SIG_LEN + 1 bytes). Returns 0 or -EIO. */
int sb_webhook_sign(char *out, const char *secret, const void *body, size_t len);
/* Thread: any. The wait before retry number attempt (1 = the first retry): 0.5 s, 1 s, 2 s …
 * doubling up to SB_WEBHOOK_BACKOFF_MAX_MS. */
int64_t sb_webhook_backoff_ms(unsigned attempt);

/* Thread: control. Creates the webhook client for cfg's webhook group (the config is
 * referenced). *ret is NULL when webhook.url is empty (no thread, posts are ignored).
 * Returns 0 or a negative errno. */
int sb_webhook_new(struct sb_webhook **ret, struct sb_config *cfg);
/* Thread: control. Starts the delivery thread; accepts NULL. */
int sb_webhook_start(struct sb_webhook *w);
/* Thread: control. Queues body (malloc'd, ownership passes) of call call_id (copied, for the
 * log) for delivery without blocking; a full queue drops it with a counted warning. Accepts
 * w == NULL (frees body). */
void sb_webhook_post(struct sb_webhook *w, char *body, size_t len, const char *call_id);
/* Thread: control. Delivers what is pending for at most SB_WEBHOOK_EXIT_GRACE_MS, drops and
 * logs the rest, and joins the thread (which never waits on a host name lookup: a lookup still
 * running is left to its resolver thread). Accepts NULL. */
void sb_webhook_stop(struct sb_webhook *w);
/* Thread: control, after stop. Frees; accepts NULL; returns NULL. */
struct sb_webhook *sb_webhook_free(struct sb_webhook *w);
/* Thread: any. The client's counters; NULL for NULL. */
const struct sb_webhook_stats *sb_webhook_stats(const struct sb_webhook *w);

/* What each admin endpoint answers: the method and bearer-token checks, /healthz from the
 * daemon's draining flag, /metrics from the live counters plus the workers' own statistics,
 * /calls from control's snapshot, and the commands posted to control's queue.
 * Thread: the admin thread. Owns nothing beyond one request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define LOG_SUBSYS "admin"
#include <sb/log.h>

#include <sb/daemon.h>
#include <sb/json_str.h>
#include <sb/metrics.h>
#include <sb/msg.h>

#include "admin_priv.h"

#define JSON "application/json"

enum method { M_GET, M_POST, M_OTHER };

static enum method method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		return M_GET;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		return M_POST;
	return M_OTHER;
}

static void respond_text(struct sb_admin_req *r, int status, const char *ctype, const char *text)
{
	char *body = strdup(text);

	sb_admin_respond(r, body ? status : 500, ctype, body, body ? strlen(text) : 0);
}

char *sb_admin_result_json(bool ok, const char *member, const char *text)
{
	/* Room for every byte's longest escape (six bytes), the quotes and the rest: the text
	 * always fits. */
	size_t size = 32 + (member ? 6 * (strlen(member) + strlen(text ? text : "")) : 0);
	char *body = malloc(size);
	size_t o;

	if (!body)
		return NULL;
	o = (size_t)snprintf(body, size, "{\"ok\":%s", ok ? "true" : "false");
	if (member) {
		body[o++] = ',';
		sb_json_put_str(body, size, &o, member);
		body[o++] = ':';
		sb_json_put_str(body, size, &o, text);
	}
	memcpy(body + o, "}", 2);
	return body;
}

void sb_admin_error(struct sb_admin_req *r, int status, const char *why)
{
	char *body = sb_admin_result_json(false, "error", why);

	if (!body) {
		sb_admin_respond(r, 500, JSON, NULL, 0);
		return;
	}
	sb_admin_respond(r, status, JSON, body, strlen(body));
}

/* The token is compared as SHA-256 digests with CRYPTO_memcmp: the time taken tells nothing
 * of how much of it matched, nor of its length. */
static bool authorized(struct sb_admin *a, struct sb_admin_req *r)
{
	char h[512];
	uint8_t dig[SHA256_DIGEST_LENGTH];
	int n;

	if (!a->has_token)
		return true;
	n = lws_hdr_copy(r->wsi, h, sizeof(h), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 7 || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	SHA256((const uint8_t *)h + 7, (size_t)n - 7, dig);
	return CRYPTO_memcmp(dig, a->token_sha256, sizeof(dig)) == 0;
}

/* The SUM_ families: the workers' own counters, summed now. */
static void collect(const struct sb_daemon *d, struct sb_metrics_values *v)
{
#define LOAD(p) atomic_load_explicit(&(p), memory_order_relaxed)
	for (unsigned i = 0; i < d->n_media; i++) {
		const struct sb_media_stats *s = sb_media_worker_stats(d->media[i]);

		v->rtp_packets_total[SB_M_DIR_IN] += LOAD(s->rtp_rx_packets);
		v->rtp_packets_total[SB_M_DIR_OUT] += LOAD(s->rtp_tx_packets);
		v->rtp_bytes_total[SB_M_DIR_IN] += LOAD(s->rtp_rx_bytes);
		v->rtp_bytes_total[SB_M_DIR_OUT] += LOAD(s->rtp_tx_bytes);
		v->rtp_send_errors_total[SB_M_NONE_ALL] += LOAD(s->rtp_tx_errors);
		v->queue_drops_total[SB_M_PARTY_TO_BOT] += LOAD(s->up_drops);
		v->media_late_ticks_total[SB_M_NONE_ALL] += LOAD(s->late_ticks);
		v->media_rx_buffer_waits_total[SB_M_NONE_ALL] += LOAD(s->rx_buffer_waits);
		v->srtp_dropped_packets_total[SB_M_SRTP_AUTH] += LOAD(s->srtp_rx_auth_fail);
		v->srtp_dropped_packets_total[SB_M_SRTP_REPLAY] += LOAD(s->srtp_rx_replay);
		v->bridge_drops_total[SB_M_BRIDGE_TO_CALLER] +=
		        LOAD(s->bridge_drop_frames[SB_MEDIA_BRIDGE_TO_CALLER]);
		v->bridge_drops_total[SB_M_BRIDGE_TO_AGENT] +=
		        LOAD(s->bridge_drop_frames[SB_MEDIA_BRIDGE_TO_AGENT]);
		v->bridge_drops_total[SB_M_BRIDGE_TO_BOT] +=
		        LOAD(s->bridge_drop_frames[SB_MEDIA_BRIDGE_TO_BOT]);
	}
	for (unsigned i = 0; i < d->n_ws; i++) {
		const struct sb_ws_stats *s = sb_ws_worker_stats(d->ws[i]);

		v->ws_frames_total[SB_M_DIR_IN] += LOAD(s->frames_rx);
		v->ws_frames_total[SB_M_DIR_OUT] += LOAD(s->frames_tx);
		v->ws_bytes_total[SB_M_DIR_IN] += LOAD(s->bytes_rx);
		v->ws_bytes_total[SB_M_DIR_OUT] += LOAD(s->bytes_tx);
		v->queue_drops_total[SB_M_PARTY_TO_BOT] += LOAD(s->tx_queue_drops);
		v->queue_drops_total[SB_M_PARTY_TO_CALLER] += LOAD(s->queue_drops);
		v->bot_marks_total[SB_M_NONE_ALL] += LOAD(s->marks);
		v->bot_clears_total[SB_M_NONE_ALL] += LOAD(s->clears);
		v->bot_bad_messages_total[SB_M_NONE_ALL] += LOAD(s->bad_messages);
		v->bot_tls_handshakes_total[SB_M_TLSHS_FULL] += LOAD(s->tls_full);
		v->bot_tls_handshakes_total[SB_M_TLSHS_RESUMED] += LOAD(s->tls_resumed);
	}
	if (d->webhook) {
		const struct sb_webhook_stats *s = sb_webhook_stats(d->webhook);

		v->webhook_sends_total[SB_M_HOOK_DELIVERED] = LOAD(s->delivered);
		v->webhook_sends_total[SB_M_HOOK_RETRIED] = LOAD(s->retried);
		v->webhook_sends_total[SB_M_HOOK_FAILED] = LOAD(s->failed);
		v->webhook_sends_total[SB_M_HOOK_DROPPED] =
		        LOAD(s->dropped_full) + LOAD(s->dropped_exit);
	}
	if (d->recorder) {
		const struct sb_recorder_stats *s = sb_recorder_stats(d->recorder);

		v->recordings_total[SB_M_REC_COMPLETED] = LOAD(s->recordings);
		v->recordings_total[SB_M_REC_FAILED] = LOAD(s->failed);
		v->recording_drops_total[SB_M_RECDROP_OVERRUN] = LOAD(s->overruns);
		v->recording_drops_total[SB_M_RECDROP_FAILED] = LOAD(s->lost);
		v->recording_drops_total[SB_M_RECDROP_OUT_OF_STEP] = LOAD(s->out_of_step);
	}
#undef LOAD
}

static void get_metrics(struct sb_admin *a, struct sb_admin_req *r)
{
	struct sb_metrics_values *v = calloc(1, sizeof(*v));
	char *text = NULL;
	size_t len = 0;
	FILE *f = v ? open_memstream(&text, &len) : NULL;
	int ret;

	if (!f) {
		free(v);
		sb_admin_error(r, 500, "out of memory");
		return;
	}
	sb_metrics_read(v);
	collect(a->d, v);
	ret = sb_metrics_write(f, v);
	fclose(f);
	free(v);
	if (ret < 0 || !text) {
		free(text);
		sb_admin_error(r, 500, "out of memory");
		return;
	}
	sb_admin_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* A call id as the bridge makes them: 1-64 characters of [0-9A-Za-z_-]. */
static bool valid_id(const char *s, size_t len)
{
	if (len == 0 || len > SB_CALL_ID_LEN * 2)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-",
		            s[i]))
			return false;
	return true;
}

static void get_calls(struct sb_admin *a, struct sb_admin_req *r, const char *id)
{
	struct sb_admin_calls *s = sb_admin_snapshot(a);
	const struct sb_admin_call *c = id ? sb_admin_calls_find(s, id) : NULL;
	const char *src = id ? (c ? s->json + c->off : NULL) : s->json;
	size_t len = id ? (c ? c->len : 0) : s->json_len;
	char *body = src ? malloc(len + 1) : NULL;

	if (body) {
		memcpy(body, src, len);
		body[len] = '\0';
		sb_admin_respond(r, 200, JSON, body, len);
	} else {
		sb_admin_error(r, src ? 500 : 404, src ? "out of memory" : "no such call");
	}
	sb_admin_calls_unref(s);
}

/* Posts a command to control; text (copied) may be NULL. */
static bool post(struct sb_admin *a, int type, int64_t arg, const char *text)
{
	struct sb_msg *m = sb_msg_new(type, NULL, arg);

	if (m && text && !(m->text = strdup(text)))
		m = sb_msg_free(m);
	if (!m)
		return false;
	sb_mq_push(a->d->control, m);
	return true;
}

static void post_hangup(struct sb_admin *a, struct sb_admin_req *r, const char *id)
{
	struct sb_admin_calls *s = sb_admin_snapshot(a);
	bool known = sb_admin_calls_find(s, id) != NULL;

	sb_admin_calls_unref(s);
	if (!known)
		sb_admin_error(r, 404, "no such call");
	else if (!post(a, SB_MSG_ADMIN_HANGUP, 0, id))
		sb_admin_error(r, 500, "out of memory");
	else
		respond_text(r, 202, JSON, "{\"ok\":true}");
}

static void post_command(struct sb_admin *a, struct sb_admin_req *r, int type)
{
	uint64_t id = ++a->next_id;

	if (!post(a, type, (int64_t)id, NULL)) {
		sb_admin_error(r, 500, "out of memory");
		return;
	}
	if (type == SB_MSG_ADMIN_RELOAD)
		sb_admin_wait(a, r, id); /* control's reply carries the outcome */
	else
		respond_text(r, 202, JSON, "{\"ok\":true}");
}

/* Only method m is allowed on this path. */
static bool allowed(struct sb_admin_req *r, enum method have, enum method m)
{
	if (have == m)
		return true;
	r->allow = m == M_GET ? "GET" : "POST";
	sb_admin_error(r, 405, "method not allowed");
	return false;
}

/* /calls/ID and /calls/ID/hangup. */
static void route_call(struct sb_admin *a, struct sb_admin_req *r, enum method m, const char *rest)
{
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	char id[SB_CALL_ID_LEN * 2 + 1];

	if (slash && strcmp(slash, "/hangup") != 0) {
		sb_admin_error(r, 404, "not found");
		return;
	}
	if (!valid_id(rest, len)) {
		sb_admin_error(r, 400, "malformed call id");
		return;
	}
	memcpy(id, rest, len);
	id[len] = '\0';
	if (!slash && allowed(r, m, M_GET))
		get_calls(a, r, id);
	else if (slash && allowed(r, m, M_POST))
		post_hangup(a, r, id);
}

void sb_admin_route(struct sb_admin *a, struct sb_admin_req *r)
{
	enum method m = method_of(r->wsi);
	const char *p = r->path;

	if (strcmp(p, "/healthz") == 0) {
		if (allowed(r, m, M_GET))
			respond_text(r, atomic_load(&a->d->draining) ? 503 : 200, "text/plain",
			             atomic_load(&a->d->draining) ? "draining\n" : "ok\n");
		return;
	}
	if (!authorized(a, r)) {
		log_notice_ratelimited("Admin request for %s without a valid token, 401", p);
		sb_admin_error(r, 401, "a valid bearer token is required");
		return;
	}
	if (strcmp(p, "/metrics") == 0) {
		if (allowed(r, m, M_GET))
			get_metrics(a, r);
	} else if (strcmp(p, "/calls") == 0) {
		if (allowed(r, m, M_GET))
			get_calls(a, r, NULL);
	} else if (strncmp(p, "/calls/", 7) == 0) {
		route_call(a, r, m, p + 7);
	} else if (strcmp(p, "/drain") == 0 || strcmp(p, "/reload") == 0) {
		if (allowed(r, m, M_POST))
			post_command(a, r, p[1] == 'd' ? SB_MSG_ADMIN_DRAIN : SB_MSG_ADMIN_RELOAD);
	} else {
		sb_admin_error(r, 404, "not found");
	}
}

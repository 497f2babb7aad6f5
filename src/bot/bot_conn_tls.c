/* A wss:// bot's TLS session, run by the bridge on the same raw socket a ws:// bot gets
 * (bot_conn_ws.c): what lws reads is ciphertext, decrypted here (tls_client.h) and handed to the
 * WebSocket as a ws:// connection's bytes are; what the WebSocket writes is encrypted here and
 * written by lws, which keeps what the kernel does not take. lws 4.1 cannot start TLS on a raw
 * client connection, and its WebSocket client reads a wss bot's frames a byte at a time; with
 * the session here, a wss bot is read a block at a time too.
 * Thread: the owning ws worker. */
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "bot"
#include <sb/log.h>

#include "bot_conn_priv.h"

/* Writes what the handshake gathered (see sink), and stops gathering. Returns 0 or -1. */
static int uncork(struct sb_ws_env *env)
{
	struct sb_bot_conn *conn = env->tls_cork;
	size_t n = env->tls_out_len;

	env->tls_cork = NULL;
	env->tls_out_len = 0;
	if (!conn || !n)
		return 0;
	return lws_write(conn->tls_wsi, env->tls_out, n, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/* The session's records go out as OpenSSL makes them (the sink of tls_client.h): behind bytes
 * lws still holds, lws keeps these too and reports the older ones. During the handshake the
 * records of one step (ChangeCipherSpec and Finished, then the upgrade request) are gathered
 * and written together: one by one, each woke the bot for a record it could do nothing with
 * alone. */
static int sink(void *ctx, const uint8_t *p, size_t len)
{
	struct sb_bot_conn *conn = ctx;
	struct sb_ws_env *env = conn->env;

	if (env->tls_cork == conn) {
		if (env->tls_out_len + len <= SB_WS_TLS_CHUNK) {
			memcpy(env->tls_out + env->tls_out_len, p, len);
			env->tls_out_len += len;
			return 0;
		}
		if (uncork(env) < 0)
			return -1;
	}
	return lws_write(conn->tls_wsi, (unsigned char *)p, len, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

void sb_bot_conn_tls_free(struct sb_bot_conn *conn)
{
	if (conn->env->tls_cork == conn) {
		conn->env->tls_cork = NULL;
		conn->env->tls_out_len = 0;
	}
	sb_tls_client_free(conn->tls);
	conn->tls = NULL;
}

int sb_bot_conn_wire_write(struct sb_bot_conn *conn, struct lws *wsi, uint8_t *p, size_t len)
{
	/* on wss, wsi is the session's (conn->tls_wsi): both go when the socket does */
	if (!conn->tls)
		return lws_write(wsi, p, len, LWS_WRITE_RAW) < (int)len ? -1 : 0;
	if (sb_tls_client_write(conn->tls, p, len) < 0) {
		log_warn("TLS with the bot failed: %s", sb_tls_client_error(conn->tls));
		return -1;
	}
	return 0;
}

int sb_bot_conn_tls_start(struct sb_bot_conn *conn, struct lws *wsi)
{
	const struct sb_bot_cfg *bot = conn->call->bot;
	struct sb_ws_env *env = conn->env;
	struct sb_tls_peer peer = {bot->url.host, bot->url.port, bot->tls_verify};

	if (!env->tls_in)
		env->tls_in = malloc(SB_WS_TLS_CHUNK);
	if (!env->tls_out)
		env->tls_out = malloc(SB_WS_TLS_CHUNK);
	/* Without it (no memory) the session goes on without resumption; asked again next call. */
	if (!env->tls_sessions)
		env->tls_sessions = sb_tls_sessions_new();
	sb_bot_conn_tls_free(conn);
	conn->tls_wsi = wsi;
	if (env->tls_in && env->tls_out) {
		env->tls_cork = conn;
		/* conn->tls_ctx: found by start_connect() for this attempt */
		conn->tls = sb_tls_client_new(conn->tls_ctx, &peer, env->tls_sessions, sink, conn);
	}
	if (!conn->tls || uncork(env) < 0) {
		sb_bot_conn_tls_free(conn);
		sb_bot_conn_attempt_failed(conn,
		                           "cannot start TLS (no memory, or the socket failed)");
		return -1;
	}
	return 0;
}

/* The session failed: during the attempt it fails the attempt with the reason (a refused
 * certificate among them), later it closes the socket. Returns -1. */
static int failed(struct sb_bot_conn *conn)
{
	char why[260];

	snprintf(why, sizeof(why), "TLS %s", sb_tls_client_error(conn->tls));
	if (conn->state == SB_CONN_CONNECTING)
		sb_bot_conn_attempt_failed(conn, why);
	else
		log_warn("%s, closing the bot's socket", why);
	return -1;
}

static int rx(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len)
{
	uint8_t *plain = conn->env->tls_in;

	if (sb_tls_client_feed(conn->tls, in, len) < 0)
		return failed(conn);
	for (;;) {
		bool was_ready = sb_tls_client_ready(conn->tls);
		int n = sb_tls_client_read(conn->tls, plain, SB_WS_TLS_CHUNK);

		/* Once the handshake is done, the WebSocket's own starts. */
		if (!was_ready && sb_tls_client_ready(conn->tls)) {
			struct sb_ws_stats *st = conn->env->stats;
			atomic_uint_fast64_t *kind =
			        sb_tls_client_resumed(conn->tls) ? &st->tls_resumed : &st->tls_full;

			atomic_fetch_add_explicit(kind, 1, memory_order_relaxed);
			if (sb_bot_conn_ws_upgrade(conn, wsi) < 0)
				return -1;
		}
		if (n > 0) {
			/* A negative answer may have ended the attempt, and freed the session. */
			if (sb_bot_conn_ws_stream(conn, wsi, plain, (size_t)n) < 0)
				return -1;
			continue;
		}
		if (n == SB_TLS_AGAIN)
			return 0;
		if (n == SB_TLS_EOF)
			return -1; /* the bot ended the session: the socket closes */
		return failed(conn);
	}
}

int sb_bot_conn_tls_rx(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len)
{
	struct sb_ws_env *env = conn->env;
	int r;

	if (!sb_tls_client_ready(conn->tls))
		env->tls_cork = conn;
	r = rx(conn, wsi, in, len);
	/* conn may be gone, and then so is what it gathered (sb_bot_conn_tls_free) */
	return uncork(env) < 0 ? -1 : r;
}

void sb_bot_conn_tls_end(struct sb_bot_conn *conn)
{
	if (conn->tls)
		sb_tls_client_close(conn->tls);
}

/* The WebSocket to a bot, spoken by the bridge itself on lws's raw socket role: lws connects,
 * polls, writes and buffers what the kernel does not take; the opening handshake
 * (ws_handshake.h) and the reading of frames (ws_reader.h) are done here, on the socket's
 * bytes for a ws:// bot and on the TLS session's plaintext for a wss:// one (bot_conn_tls.c).
 * lws 4.1 parses a WebSocket client's incoming frames a byte at a time, about a tenth of the
 * daemon's CPU at 2000 calls; its raw role hands over what the socket read in one block.
 * Thread: the owning ws worker. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_SUBSYS "bot"
#include <sb/log.h>

#include <sb/common.h>

#include "bot_conn_priv.h"

#define REQUEST_MAX 8192 /* the handshake's request, headers included */

/* Writes a control frame (masked, as every client frame is) with len <= 125 bytes at p. Only
 * from WRITEABLE or the upgrade, when lws holds nothing of earlier frames: behind such data
 * lws would keep it and report what it wrote of the older bytes. Returns 0 or -1. */
static int write_control(struct sb_bot_conn *conn, struct lws *wsi, enum sb_ws_opcode op,
                         const uint8_t *p, size_t len)
{
	uint8_t buf[LWS_PRE + 125], key[4];
	size_t hlen;

	if (len > 125 || sb_ws_keys_next(&conn->env->keys, key) < 0)
		return -1;
	if (len)
		memcpy(buf + LWS_PRE, p, len);
	hlen = sb_ws_frame_build(buf + LWS_PRE, len, op, key);
	return sb_bot_conn_wire_write(conn, wsi, buf + LWS_PRE - hlen, hlen + len);
}

static int write_close(struct sb_bot_conn *conn, struct lws *wsi, unsigned code, const char *reason)
{
	uint8_t p[125];
	size_t n = strlen(reason);

	if (n > sizeof(p) - 2)
		n = sizeof(p) - 2;
	sb_put_be16(p, (uint16_t)code);
	memcpy(p + 2, reason, n);
	conn->close_sent = true;
	return write_control(conn, wsi, SB_WS_CLOSE, p, n + 2);
}

int sb_bot_conn_ws_close(struct sb_bot_conn *conn, struct lws *wsi)
{
	/* The bot's close frame, or its closing the socket, ends it; the grace timeout set at
	 * detach ends it otherwise. */
	if (conn->close_sent)
		return 0;
	return write_close(conn, wsi, SB_WS_CLOSE_NORMAL, "bye");
}

int sb_bot_conn_ws_connected(struct sb_bot_conn *conn, struct lws *wsi)
{
	int one = 1;

	/* Media messages are small and due now: no waiting to coalesce them. */
	setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sb_ws_reader_init(&conn->reader);
	conn->rx_len = 0;
	if (conn->call->bot->url.tls)
		return sb_bot_conn_tls_start(conn, wsi);
	return sb_bot_conn_ws_upgrade(conn, wsi);
}

int sb_bot_conn_ws_upgrade(struct sb_bot_conn *conn, struct lws *wsi)
{
	const struct sb_bot_cfg *bot = conn->call->bot;
	uint8_t buf[LWS_PRE + REQUEST_MAX], nonce[16];
	char auth[SB_BOT_AUTH_MAX];
	struct sb_ws_request rq = {
	        .host = conn->host,
	        .path = bot->url.path,
	        .subprotocol = bot->subprotocol,
	        .headers = (const char *const *)bot->headers,
	        .n_headers = bot->n_headers,
	        .key = conn->ws_key,
	};
	unsigned skipped;
	int n;

	for (int i = 0; i < 16; i += 4) {
		if (sb_ws_keys_next(&conn->env->keys, nonce + i) < 0) {
			sb_bot_conn_attempt_failed(conn, "no random bytes for the WebSocket key");
			return -1;
		}
	}
	sb_ws_key(nonce, conn->ws_key);
	if (sb_bot_conn_basic_auth(bot, auth, sizeof(auth)))
		rq.authorization = auth;
	n = sb_ws_request_build((char *)buf + LWS_PRE, REQUEST_MAX, &rq, &skipped);
	if (n < 0) {
		sb_bot_conn_attempt_failed(conn, "the WebSocket handshake's request does not fit");
		return -1;
	}
	if (skipped)
		log_warn("%u header(s) of bot %s are not \"Name: value\", not sent", skipped,
		         bot->name);
	if (sb_bot_conn_wire_write(conn, wsi, buf + LWS_PRE, (size_t)n) < 0) {
		sb_bot_conn_attempt_failed(conn, "cannot send the WebSocket handshake");
		return -1;
	}
	return 0;
}

/* Who a frame came to: data needs the connection, control frames its wsi too. */
struct rx_ctx {
	struct sb_bot_conn *conn;
	struct lws *wsi;
	const char *why; /* a control frame that broke the protocol */
};

enum { CTL_STOP = 1, CTL_ANSWER = 2, CTL_BROKEN = 3 };

static void on_data(void *ctx, const uint8_t *p, size_t len, bool first, bool last, bool binary)
{
	struct rx_ctx *rc = ctx;

	sb_bot_conn_on_piece(rc->conn, (const char *)p, len, first, last, binary);
}

/* RFC 6455 §7.4: the codes a close frame may carry. */
static bool close_code_ok(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/* A ping is answered, a close answered and the socket closed, from WRITEABLE (see
 * write_control); the reading stops at a close. */
static int on_control(void *ctx, enum sb_ws_opcode op, const uint8_t *p, size_t len)
{
	struct rx_ctx *rc = ctx;
	struct sb_bot_conn *conn = rc->conn;
	unsigned code = len >= 2 ? sb_get_be16(p) : 0;

	if (op == SB_WS_PING) {
		/* nothing follows our close; only the latest ping needs its pong (§5.5.3) */
		if (!conn->close_sent) {
			memcpy(conn->pong, p, len);
			conn->pong_len = (uint8_t)len;
			conn->pong_due = true;
			lws_callback_on_writable(rc->wsi);
		}
		return 0;
	}
	if (op != SB_WS_CLOSE)
		return 0;
	if (conn->close_sent)
		return CTL_STOP; /* the answer to ours */
	if (len == 1 || (len >= 2 && !close_code_ok(code))) {
		rc->why = len == 1 ? "a close frame of one byte"
		                   : "a close code no endpoint may send";
		return CTL_BROKEN;
	}
	log_info("Bot sent a close frame (code %u)", code);
	/* answered with its code (RFC 6455 §5.5.1), or 1000 when it gave none */
	conn->close_due = len >= 2 ? (uint16_t)code : SB_WS_CLOSE_NORMAL;
	conn->close_reason = "";
	return CTL_ANSWER;
}

static const struct sb_ws_reader_ops reader_ops = {
        .data = on_data,
        .control = on_control,
};

/* The close frame goes out from WRITEABLE, then the socket closes; input is ignored
 * meanwhile, and a bot that does not read is dropped after the close grace. */
static int close_after_answer(struct lws *wsi)
{
	lws_callback_on_writable(wsi);
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, SB_BOT_CLOSE_GRACE_S);
	return 0;
}

static int read_frames(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len)
{
	struct rx_ctx rc = {conn, wsi, NULL};
	const char *why = NULL;
	int r = sb_ws_reader_feed(&conn->reader, in, len, &reader_ops, &rc, &why);

	if (r == 0)
		return 0;
	if (r == CTL_STOP) {
		/* the closing handshake is complete: then the TLS session's end, and the socket's
		 */
		sb_bot_conn_tls_end(conn);
		return -1;
	}
	if (r < 0 || r == CTL_BROKEN) {
		log_warn("Bot broke the WebSocket protocol (%s), closing its socket",
		         r < 0 ? why : rc.why);
		conn->close_due = SB_WS_CLOSE_PROTOCOL;
		conn->close_reason = "protocol error";
	}
	return close_after_answer(wsi);
}

int sb_bot_conn_ws_writeable(struct sb_bot_conn *conn, struct lws *wsi)
{
	if (conn->close_due) {
		if (write_close(conn, wsi, conn->close_due, conn->close_reason) == 0)
			sb_bot_conn_tls_end(conn);
		return -1;
	}
	if (conn->pong_due && !conn->close_sent) {
		conn->pong_due = false;
		if (write_control(conn, wsi, SB_WS_PONG, conn->pong, conn->pong_len) < 0)
			return -1;
	}
	return 0;
}

/* The handshake's answer, gathered in conn->rx until its head is complete. */
static int read_answer(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len)
{
	char why[160], text[220];
	size_t head = 0, rest;
	int status, r;

	if (!sb_bot_conn_rx_append(conn, (const char *)in, len)) {
		sb_bot_conn_attempt_failed(conn, "out of memory for the handshake's answer");
		return -1;
	}
	r = sb_ws_response_check(conn->rx, conn->rx_len, conn->ws_key, conn->call->bot->subprotocol,
	                         &head, &status, why, sizeof(why));
	if (r == 0)
		return 0;
	if (r < 0) {
		snprintf(text, sizeof(text), "WebSocket handshake refused: %s", why);
		sb_bot_conn_attempt_failed(conn, text);
		return -1;
	}
	/* The head ends in this read (it did not in the earlier ones): frames follow it here. */
	rest = conn->rx_len - head;
	free(conn->rx);
	conn->rx = NULL;
	conn->rx_len = conn->rx_cap = 0;
	if (sb_bot_conn_established(conn) < 0)
		return -1;
	return rest ? read_frames(conn, wsi, in + len - rest, rest) : 0;
}

int sb_bot_conn_ws_rx(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len)
{
	if (conn->tls)
		return sb_bot_conn_tls_rx(conn, wsi, in, len);
	return sb_bot_conn_ws_stream(conn, wsi, in, len);
}

int sb_bot_conn_ws_stream(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len)
{
	if (conn->state == SB_CONN_CONNECTING)
		return read_answer(conn, wsi, in, len);
	if (conn->state != SB_CONN_OPEN)
		return -1;
	if (conn->close_due)
		return 0; /* the bot's close or its breach is being answered */
	return read_frames(conn, wsi, in, len);
}

/* Bot connection lifecycle on its ws worker: connect (host name resolved off this thread,
 * wss verified against the system CA store or the bot's ca_file) with a deadline per attempt
 * and retries, the greeting of its protocol profile, the outgoing queue (written while the socket
 * takes it, its caller audio bounded in time), stop and close on detach, and the single place
 * where a connection is finished and freed. Thread: the owning ws worker. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "bot"
#include <sb/log.h>

#include <sb/base64.h>
#include <sb/bot_proto.h>
#include <sb/common.h>
#include <sb/metrics.h>
#include <sb/msg.h>

#include "bot_conn_priv.h"

static void post(struct sb_bot_conn *conn, int type, const char *text)
{
	struct sb_msg *m;

	if (conn->env->quitting)
		return;
	m = sb_msg_new(type, conn->call, 0);
	if (!m)
		return;
	if (text)
		m->text = strdup(text);
	sb_mq_push(conn->env->control, m);
}

/* Caller audio that will not be sent, counted in 20 ms frames as the media worker counts the
 * frames it drops on a full up ring; returns them. */
static unsigned count_dropped(struct sb_bot_conn *conn, unsigned audio_ms)
{
	unsigned frames = (audio_ms + SB_FRAME_MS - 1) / SB_FRAME_MS;

	atomic_fetch_add_explicit(&conn->env->stats->tx_queue_drops, frames, memory_order_relaxed);
	conn->call->tx_drop_frames += frames;
	return frames;
}

int sb_bot_conn_send(struct sb_bot_conn *conn, const char *data, size_t len)
{
	int r;

	r = sb_txq_push(&conn->tx, data, len, 0, 0, NULL);
	if (r == -ENOBUFS) {
		/* The queue is at its length bound: a bot that sends but never reads would grow
		 * it without end. Drop the bot, which ends the call as a bot close does. */
		log_warn_ratelimited(
		        "Bot has stopped reading (%u messages queued), closing its socket",
		        conn->tx.count);
		if (conn->wsi)
			lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	if (r < 0)
		return r;
	if (conn->wsi && !conn->pumping)
		lws_callback_on_writable(conn->wsi);
	return 0;
}

int sb_bot_conn_send_media(struct sb_bot_conn *conn, const char *data, size_t len, bool binary,
                           unsigned audio_ms, uint32_t at_us)
{
	struct sb_txq_drop d = {0};
	int r = sb_txq_push(&conn->tx, data, len, SB_TXQ_MEDIA | (binary ? SB_TXQ_BINARY : 0),
	                    audio_ms, &d);

	if (r < 0)
		return r;
	sb_txq_last(&conn->tx)->at_us = at_us;
	if (d.msgs) {
		unsigned frames = count_dropped(conn, d.audio_ms);

		/* The bot, the network or this thread (short of CPU, or with more sockets than
		 * it can serve) is behind. */
		log_warn_ratelimited("Over %d ms of caller audio waiting to be sent to the bot, "
		                     "dropped the oldest %u frame(s) of 20 ms",
		                     SB_BOT_MAX_TX_QUEUE_MS, frames);
	}
	if (conn->wsi && !conn->pumping)
		lws_callback_on_writable(conn->wsi);
	return 0;
}

int sb_bot_conn_send_encoded(struct sb_bot_conn *conn, const char *buf, int n)
{
	if (n <= 0)
		return n;
	return sb_bot_conn_send(conn, buf, (size_t)n);
}

/* Stops lws from calling back into conn for its current wsi. */
static void drop_wsi(struct sb_bot_conn *conn, bool kill)
{
	sb_bot_conn_tls_free(conn);
	if (!conn->wsi)
		return;
	lws_set_opaque_user_data(conn->wsi, NULL);
	if (kill)
		lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	conn->wsi = NULL;
}

void sb_bot_conn_free(struct sb_bot_conn *conn)
{
	lws_sul_cancel(&conn->sul);
	drop_wsi(conn, true);
	LIST_REMOVE(conn, link);
	if (conn->in_backlog)
		LIST_REMOVE(conn, backlog_link);
	sb_txq_done(&conn->tx);
	sb_bot_conn_free_marks(conn);
	sb_playout_free(conn->playout);
	free(conn->up_buf);
	sb_resampler_free(conn->up_rs);
	sb_resampler_free(conn->down_rs);
	free(conn->rx);
	conn->call->conn = NULL;
	sb_call_up_need_set(conn->call, 1); /* no message is gathered: every frame */
	sb_call_unref(conn->call);
	free(conn);
}

static void finish(struct sb_bot_conn *conn)
{
	post(conn, SB_MSG_BOT_DETACHED, NULL);
	sb_bot_conn_free(conn);
}

static void connect_once(struct sb_bot_conn *conn);
static void on_connection_error(struct sb_bot_conn *conn, const char *in);

void sb_bot_conn_attempt_failed(struct sb_bot_conn *conn, const char *why)
{
	const struct sb_bot_cfg *bot = conn->call->bot;

	if (conn->attempt_done)
		return;
	conn->attempt_done = true;
	conn->resolving = false;
	lws_sul_cancel(&conn->sul);
	drop_wsi(conn, false);
	conn->state = SB_CONN_CLOSED;
	if (conn->detaching) {
		finish(conn);
		return;
	}
	if (conn->attempts <= bot->retries) {
		log_notice("Connecting to bot %s failed (%s), retrying", bot->name, why);
		connect_once(conn);
		return;
	}
	atomic_fetch_add_explicit(&conn->env->stats->connect_failures, 1, memory_order_relaxed);
	post(conn, SB_MSG_BOT_FAILED, why);
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	struct sb_bot_conn *conn = container_of(sul, struct sb_bot_conn, sul);
	char why[320];

	if (conn->state != SB_CONN_CONNECTING)
		return;
	sb_log_ctx_set(conn->call->id);
	drop_wsi(conn, true);
	/* The name, as the bot's name alone does not say which lookup is slow or stuck. */
	if (conn->resolving)
		snprintf(why, sizeof(why), "host name resolution timed out for %s",
		         conn->call->bot->url.host);
	else
		snprintf(why, sizeof(why), "handshake timed out");
	sb_bot_conn_attempt_failed(conn, why);
	sb_log_ctx_set(NULL);
}

/* Opens the socket to a numeric address on lws's raw role: the WebSocket and, for wss, TLS are
 * the bridge's own (bot_conn_ws.c, bot_conn_tls.c). The URL's host name still goes in Host, and
 * for wss in SNI and the certificate check. */
static void start_connect(struct sb_bot_conn *conn, const char *address)
{
	const struct sb_bot_cfg *bot = conn->call->bot;
	struct lws_client_connect_info ci = {0};
	int attempt = conn->attempts;

	ci.context = conn->env->ctx;
	ci.address = address;
	ci.port = bot->url.port;
	ci.path = bot->url.path;
	ci.host = conn->host;
	ci.local_protocol_name = "sipbridge-bot";
	ci.method = "RAW";
	conn->close_sent = conn->pong_due = false;
	conn->close_due = 0;
	/* Loaded before the socket is opened: a CA file that cannot be read fails at once. */
	conn->tls_ctx = bot->url.tls
	                        ? sb_ws_env_tls_ctx(conn->env, bot->ca_file ? bot->ca_file : "")
	                        : NULL;
	if (bot->url.tls && !conn->tls_ctx) {
		sb_bot_conn_attempt_failed(conn,
		                           bot->ca_file && bot->ca_file[0]
		                                   ? "cannot load the bot's ca_file"
		                                   : "cannot load the system's CA certificates");
		return;
	}
	ci.opaque_user_data = conn;
	ci.pwsi = &conn->wsi;
	if (!lws_client_connect_via_info(&ci)) {
		/* lws may already have reported this attempt (and started the next one). */
		if (conn->attempts == attempt && !conn->attempt_done) {
			conn->wsi = NULL;
			sb_bot_conn_attempt_failed(conn, "cannot start the connection");
		}
	}
}

static void resolve_failed(struct sb_bot_conn *conn, int err)
{
	char why[320];

	snprintf(why, sizeof(why), "cannot resolve %s: %s", conn->call->bot->url.host,
	         err ? gai_strerror(err) : "too many names waiting");
	sb_bot_conn_attempt_failed(conn, why);
}

/* One attempt: its deadline covers the name resolution and the handshake. */
static void connect_once(struct sb_bot_conn *conn)
{
	const struct sb_bot_cfg *bot = conn->call->bot;
	char addr[SB_DNS_ADDR_MAX];
	int err = 0, r;

	conn->state = SB_CONN_CONNECTING;
	conn->attempts++;
	conn->attempt_done = false;
	conn->resolving = false;
	lws_sul_schedule(conn->env->ctx, 0, &conn->sul, on_timeout,
	                 (lws_usec_t)bot->connect_timeout_ms * 1000);
	if (sb_url_host_is_ip(bot->url.host)) {
		start_connect(conn, bot->url.host);
		return;
	}
	r = sb_ws_env_resolve(conn->env, bot->url.host, addr, sizeof(addr), &err);
	if (r == SB_DNS_HIT)
		start_connect(conn, addr);
	else if (r == SB_DNS_MISS || r == SB_DNS_PENDING)
		conn->resolving = true; /* sb_bot_conn_resolved continues, or on_timeout ends it */
	else
		resolve_failed(conn, r == SB_DNS_FAILED ? err : 0);
}

void sb_bot_conn_resolved(struct sb_bot_conn *conn, const char *addr, int err)
{
	if (!conn->resolving)
		return;
	conn->resolving = false;
	sb_log_ctx_set(conn->call->id);
	if (addr)
		start_connect(conn, addr);
	else
		resolve_failed(conn, err ? err : EAI_FAIL);
	sb_log_ctx_set(NULL);
}

/* Grows the worker's media encode buffer to size bytes. Returns 0 or -ENOMEM. */
static int reserve_media_buf(struct sb_ws_env *env, size_t size)
{
	char *b;

	if (size <= env->media_size)
		return 0;
	b = realloc(env->media_buf, size);
	if (!b)
		return -ENOMEM;
	env->media_buf = b;
	env->media_size = size;
	return 0;
}

/* What the protocol and the rate take, allocated once: the profile, the call as the bot
 * sees it, the caller-audio buffer, room in the worker's media encode buffer, the resamplers
 * and the playout queue. */
static int setup_audio(struct sb_bot_conn *conn)
{
	const struct sb_bot_cfg *bot = conn->call->bot;
	struct sb_call *c = conn->call;
	int frame_ms, r;

	conn->proto = sb_bot_proto_get(bot->protocol);
	conn->rate = bot->sample_rate ? bot->sample_rate : SB_RATE_8K;
	conn->who = (struct sb_bot_call){
	        .stream_sid = c->stream_sid,
	        .call_sid = c->id,
	        .account_sid = c->account_sid,
	        .from = c->from_user,
	        .to = c->to_user,
	        .params = c->params,
	        .n_params = c->n_params,
	        .sample_rate = conn->rate,
	};
	frame_ms = conn->proto->frame_ms ? conn->proto->frame_ms : bot->frame_ms;
	conn->up_cap = (size_t)frame_ms * (size_t)conn->rate / 1000;
	conn->up_buf = malloc(conn->up_cap * sizeof(int16_t));
	if (!conn->up_buf)
		return -ENOMEM;
	r = reserve_media_buf(conn->env, conn->proto->media_max_len(conn->up_cap));
	if (r < 0)
		return r;
	if (conn->rate != SB_RATE_8K) {
		r = sb_resampler_new(&conn->up_rs, SB_RATE_8K, conn->rate, bot->resample_quality);
		if (r >= 0)
			r = sb_resampler_new(&conn->down_rs, conn->rate, SB_RATE_8K,
			                     bot->resample_quality);
		if (r < 0)
			return r;
	}
	return sb_playout_new(&conn->playout, (size_t)bot->max_queue_ms * SB_RATE_8K / 1000);
}

int sb_bot_conn_new(struct sb_bot_conn **ret, struct sb_ws_env *env, struct sb_call *call)
{
	const struct sb_bot_cfg *bot = call->bot;
	struct sb_bot_conn *conn = calloc(1, sizeof(*conn));
	bool v6 = strchr(bot->url.host, ':') != NULL;
	bool dflt = bot->url.port == (bot->url.tls ? 443 : 80);
	int r;

	if (!conn)
		return -ENOMEM;
	conn->env = env;
	conn->call = call;
	r = setup_audio(conn);
	if (r < 0) {
		sb_playout_free(conn->playout);
		free(conn->up_buf);
		sb_resampler_free(conn->up_rs);
		sb_resampler_free(conn->down_rs);
		free(conn);
		return r;
	}
	snprintf(conn->host, sizeof(conn->host), "%s%s%s", v6 ? "[" : "", bot->url.host,
	         v6 ? "]" : "");
	if (!dflt)
		snprintf(conn->host + strlen(conn->host), sizeof(conn->host) - strlen(conn->host),
		         ":%u", bot->url.port);
	/* A clear echoes every pending mark at once: room for them beside the bound. */
	sb_txq_init(&conn->tx, LWS_PRE, SB_BOT_MAX_TX_QUEUE_MS,
	            SB_BOT_MAX_TX_QUEUE_ALL + (unsigned)bot->max_marks);
	STAILQ_INIT(&conn->marks);
	call->conn = conn;
	LIST_INSERT_HEAD(&env->conns, conn, link);
	*ret = conn;
	/* Not url_text: its userinfo is a secret. */
	log_debug("Connecting to bot %s at %s:%u", bot->name, bot->url.host, bot->url.port);
	connect_once(conn);
	return 0;
}

/* A bot being stopped has no use for caller audio it would get late: when more than
 * SB_BOT_STOP_MAX_AUDIO_MS is still queued (the bot, the network or this worker is behind), all
 * of it goes, with the part of a message still being gathered, so that stop is next and the
 * audio the bot gets ends without a gap. A bot that keeps up gets every message. */
static bool drop_late_audio(struct sb_bot_conn *conn)
{
	struct sb_txq_drop d;
	unsigned gathered_ms;

	if (conn->tx.media_ms <= SB_BOT_STOP_MAX_AUDIO_MS)
		return false;
	d = sb_txq_drop_media(&conn->tx);
	gathered_ms = sb_bot_audio_ms(conn->up_n, conn->rate);
	conn->up_n = 0;
	count_dropped(conn, d.audio_ms + gathered_ms);
	log_notice("Stopping the bot with %u ms of caller audio not yet sent (%u messages), "
	           "dropped it",
	           d.audio_ms + gathered_ms, d.msgs);
	return true;
}

void sb_bot_conn_detach(struct sb_bot_conn *conn, const char *reason, bool media_done)
{
	char buf[SB_BOT_MSG_MAX];
	int n;

	/* Stopped already (a transfer), and the call ends before the bot's close: one stop is
	 * enough, and the close grace runs from the first. The connection still says
	 * BOT_DETACHED once, when it is finished. */
	if (conn->detaching)
		return;
	conn->detaching = true;
	lws_sul_cancel(&conn->sul);
	if (conn->state != SB_CONN_OPEN || !conn->wsi) {
		finish(conn);
		return;
	}
	/* What the media worker wrote before the call ended goes ahead of stop: the stop and the
	 * frames may reach this thread in one turn, the stop first. When the call ends, control
	 * sends the stop once the media worker has let go of the call, so nothing more comes. */
	sb_bot_conn_take_up(conn);
	if (media_done)
		sb_bot_conn_take_left(conn);
	if (!drop_late_audio(conn))
		sb_bot_conn_flush_up(conn);
	n = conn->proto->stop(buf, sizeof(buf), conn->seq + 1, &conn->who, reason);
	if (n > 0)
		conn->seq++;
	sb_bot_conn_send_encoded(conn, buf, n);
	conn->closing = true;
	lws_callback_on_writable(conn->wsi);
	/* A bot that stops reading must not hold the call: lws kills the socket after this. */
	lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, SB_BOT_CLOSE_GRACE_S);
}

int sb_bot_conn_established(struct sb_bot_conn *conn)
{
	struct sb_call *c = conn->call;
	char buf[SB_BOT_MSG_MAX];
	int n;

	lws_sul_cancel(&conn->sul);
	conn->state = SB_CONN_OPEN;
	conn->attempt_done = true;
	atomic_fetch_add_explicit(&conn->env->stats->connects, 1, memory_order_relaxed);
	SB_METRIC_OBSERVE(bot_connect_seconds, (sb_now_ms() - c->t_invite_ms) * 1000);
	n = sb_bot_conn_send_encoded(conn, buf, conn->proto->connected(buf, sizeof(buf)));
	if (n >= 0)
		n = sb_bot_conn_send_encoded(
		        conn, buf, conn->proto->start(buf, sizeof(buf), ++conn->seq, &conn->who));
	if (n < 0) {
		/* lws frees this wsi after a non-zero return, without CLIENT_CLOSED: forget it
		 * here and fail the call the way an unreachable bot does. */
		log_error("Cannot send the start message (%s), failing the call", strerror(-n));
		lws_set_opaque_user_data(conn->wsi, NULL);
		conn->wsi = NULL;
		conn->state = SB_CONN_CLOSED;
		post(conn, SB_MSG_BOT_FAILED, "cannot send the start message");
		return -1;
	}
	log_info("Bot %s connected (attempt %d)", c->bot->name, conn->attempts);
	post(conn, SB_MSG_BOT_CONNECTED, NULL);
	return 0;
}

_Static_assert(LWS_PRE >= SB_WS_FRAME_MAX_HEADER, "a frame's header fits in the headroom");

/* Writes the oldest queued message as one frame, built here and written as it is (see
 * ws_frame.h); -1 when the socket failed. */
static int write_first(struct sb_bot_conn *conn, struct lws *wsi)
{
	struct sb_txq_msg *t = sb_txq_first(&conn->tx);
	uint8_t *payload = sb_txq_data(&conn->tx, t), key[4];
	size_t len = t->len, hlen;
	int n = sb_ws_keys_next(&conn->env->keys, key);
	uint32_t at_us;
	bool media;

	if (n < 0) {
		log_error("No random bytes for a WebSocket masking key: %s", strerror(-n));
		return -1;
	}
	hlen = sb_ws_frame_build(payload, len, t->flags & SB_TXQ_BINARY ? SB_WS_BINARY : SB_WS_TEXT,
	                         key);
	n = sb_bot_conn_wire_write(conn, wsi, payload - hlen, hlen + len);
	media = t->flags & SB_TXQ_MEDIA;
	at_us = t->at_us;
	sb_txq_pop(&conn->tx);
	if (n < 0)
		return -1;
	/* Modulo 2^32: the difference is right for any delay under 71 minutes. */
	if (media)
		SB_METRIC_OBSERVE(caller_to_bot_delay_seconds, (uint32_t)sb_now_us() - at_us);
	atomic_fetch_add_explicit(&conn->env->stats->frames_tx, 1, memory_order_relaxed);
	conn->call->bot_frames_out++;
	atomic_fetch_add_explicit(&conn->env->stats->bytes_tx, len, memory_order_relaxed);
	return 0;
}

/* Writes queued messages for as long as the socket takes them: one message per callback would
 * cap a connection at one message per service pass, and with a few thousand sockets a pass
 * takes longer than a media message lasts. lws buffers what the kernel did not take of the last
 * write and reports the pipe choked until it is out. The close waits for a callback that finds
 * the queue empty, so it follows the last message (stop). */
int sb_bot_conn_on_writeable(struct sb_bot_conn *conn, struct lws *wsi)
{
	if (sb_bot_conn_ws_writeable(conn, wsi) < 0)
		return -1;
	/* Nothing follows our close frame (RFC 6455 §5.5.1). */
	if (conn->close_sent)
		return 0;
	if (!sb_txq_first(&conn->tx)) {
		if (!conn->closing)
			return 0;
		return sb_bot_conn_ws_close(conn, wsi);
	}
	do {
		if (write_first(conn, wsi) < 0)
			return -1;
	} while (sb_txq_first(&conn->tx) && !lws_send_pipe_choked(wsi));
	if (sb_txq_first(&conn->tx) || conn->closing)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Caller audio written as soon as it is framed, from the pass that takes it off the up ring
 * (the worker's wake-up, on this thread), instead of asking for a WRITEABLE callback for
 * each message: with lws on epoll that request and its withdrawal after the write were two
 * epoll_ctl() calls and a turn of the loop per message, the largest cost of the thread after
 * the socket work itself. lws 4.1 takes a write outside WRITEABLE on its service thread: what
 * the kernel does not take is kept and flushed by lws, and lws_partial_buffered() says so
 * until it is out, so nothing is written past it (lws_send_pipe_choked() would ask the kernel
 * with a poll() per message; a full socket shows as a partial write just the same). */
void sb_bot_conn_write_now(struct sb_bot_conn *conn)
{
	struct lws *wsi = conn->wsi;

	if (!wsi || !sb_txq_first(&conn->tx))
		return;
	if (conn->state == SB_CONN_OPEN && !conn->closing) {
		while (sb_txq_first(&conn->tx) && !lws_partial_buffered(wsi)) {
			if (write_first(conn, wsi) < 0) {
				/* Closed the way lws closes a failed socket, after this pass. */
				lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
				return;
			}
		}
	}
	if (sb_txq_first(&conn->tx))
		lws_callback_on_writable(wsi);
}

void sb_bot_conn_on_closed(struct sb_bot_conn *conn)
{
	conn->wsi = NULL;
	sb_bot_conn_tls_free(conn);
	if (conn->state == SB_CONN_CONNECTING) {
		on_connection_error(conn, "closed during the handshake");
		return;
	}
	conn->state = SB_CONN_CLOSED;
	if (conn->detaching) {
		finish(conn);
		return;
	}
	log_info("Bot closed the connection");
	post(conn, SB_MSG_BOT_CLOSED, NULL);
}

bool sb_bot_conn_basic_auth(const struct sb_bot_cfg *bot, char *val, size_t size)
{
	char b64[SB_BASE64_ENCODED_LEN(sizeof(bot->url.userinfo)) + 8];

	if (!bot->url.userinfo[0] ||
	    sb_base64_encode((const uint8_t *)bot->url.userinfo, strlen(bot->url.userinfo), b64,
	                     sizeof(b64)) <= 0)
		return false;
	return snprintf(val, size, "Basic %s", b64) < (int)size;
}

static void on_connection_error(struct sb_bot_conn *conn, const char *in)
{
	sb_bot_conn_attempt_failed(conn, in ? in : "connection error");
}

int sb_bot_conn_callback(struct sb_bot_conn *conn, struct lws *wsi,
                         enum lws_callback_reasons reason, void *in, size_t len)
{
	/* lws calls back again while it frees a closed or failed wsi: by then conn may be gone,
	 * so the wsi must stop pointing at it first. */
	if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR || reason == LWS_CALLBACK_RAW_CLOSE)
		lws_set_opaque_user_data(wsi, NULL);
	switch (reason) {
	case LWS_CALLBACK_RAW_WRITEABLE:
		return sb_bot_conn_on_writeable(conn, wsi);
	case LWS_CALLBACK_RAW_CONNECTED:
		return sb_bot_conn_ws_connected(conn, wsi);
	case LWS_CALLBACK_RAW_RX:
		return sb_bot_conn_ws_rx(conn, wsi, in, len);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		on_connection_error(conn, in);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
		sb_bot_conn_on_closed(conn);
		return 0;
	default:
		return 0;
	}
}

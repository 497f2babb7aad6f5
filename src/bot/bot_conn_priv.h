/* One bot WebSocket per call, on the ws worker that owns it: connection attempts with a
 * handshake timeout and retries, a queue of outgoing messages, reassembly of incoming ones,
 * the protocol profile and the resamplers, the playout queue and the marks waiting to be
 * played.
 * Thread: the owning ws worker only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <libwebsockets.h>

#include <sb/base64.h>
#include <sb/bot_proto.h>
#include <sb/call.h>
#include <sb/dns_cache.h>
#include <sb/mq.h>
#include <sb/playout.h>
#include <sb/resample.h>
#include <sb/resolver.h>
#include <sb/tls_client.h>
#include <sb/txq.h>
#include <sb/ws_frame.h>
#include <sb/ws_handshake.h>
#include <sb/ws_reader.h>
#include <sb/ws_worker.h>

#define SB_BOT_MAX_MESSAGE_BYTES (512 * 1024) /* larger bot messages are skipped */
/* Caller audio queued for a bot, at most: beyond it the oldest is dropped. A second of backlog
 * means the bot, the network or this worker is behind; older audio is of no use to a bot that
 * answers in real time. */
#define SB_BOT_MAX_TX_QUEUE_MS 1000
/* At detach, caller audio still queued is all dropped when there is more than this of it (the
 * bot is behind), so that stop goes out next. */
#define SB_BOT_STOP_MAX_AUDIO_MS 500
#define SB_BOT_MAX_TX_QUEUE_ALL 4096 /* queued messages of any kind before the bot is dropped */
#define SB_BOT_CLOSE_GRACE_S 3       /* a closing socket is killed after this long */
#define SB_PLAYOUT_TAIL_MS 100       /* silence before a partial last frame is padded and played */
#define SB_WS_MAX_CA_FILES 32        /* distinct bot ca_file values one worker trusts */
/* What one TLS record holds at most (RFC 8446 §5.1), and so what one read of the session
 * returns. */
#define SB_WS_TLS_CHUNK 16384

/* Adds n to the worker's statistic f (summed into the metrics at scrape time). */
#define STAT_ADD(conn, f, n)                                                                       \
	atomic_fetch_add_explicit(&(conn)->env->stats->f, (n), memory_order_relaxed)

/* The TLS client context of the wss bots that trust one ca_file (instead of the system store). */
struct sb_ws_ca_ctx {
	char *ca_file;
	SSL_CTX *ctx;
	uint64_t used; /* the worker's ca_clock when last looked up */
};

/* What the connections of one worker share. */
struct sb_ws_env {
	struct lws_context *ctx;
	struct sb_mq *control;
	struct sb_ws_stats *stats;
	LIST_HEAD(, sb_bot_conn) conns;
	/* Connections whose playout queue holds what the down ring had no room for, or a partial
	 * frame: the refill pass once a frame time visits these, not every connection. */
	LIST_HEAD(, sb_bot_conn) backlog;
	bool quitting;        /* the worker is stopping: no replies to control */
	SSL_CTX *tls_default; /* wss bots without a ca_file: the system CA store (on first use) */
	struct sb_ws_ca_ctx ca[SB_WS_MAX_CA_FILES];
	size_t n_ca;
	uint64_t ca_clock; /* counts lookups, for the least recently used entry of ca */
	/* wss: a TLS session's plaintext as it is read, and the records a handshake's step
	 * gathers for one write (SB_WS_TLS_CHUNK bytes each, allocated with the first wss
	 * connection) */
	uint8_t *tls_in, *tls_out;
	size_t tls_out_len;
	struct sb_bot_conn *tls_cork;         /* whose records tls_out gathers now, or NULL */
	struct sb_tls_sessions *tls_sessions; /* kept for resumption, with the first wss bot */
	struct sb_dns_cache *dns;             /* bot host names */
	struct sb_resolver *resolver;         /* resolves them off this thread */
	/* Where a media message is encoded before it is copied into a connection's queue: it
	 * holds nothing between two messages, so one serves all the connections (sized for the
	 * largest). */
	char *media_buf;
	size_t media_size;
	struct sb_ws_keys keys; /* masking keys for the frames the connections write */
};

struct sb_pending_mark {
	STAILQ_ENTRY(sb_pending_mark) link;
	uint32_t id;
	char name[];
};

enum sb_conn_state { SB_CONN_CONNECTING, SB_CONN_OPEN, SB_CONN_CLOSED };

struct sb_bot_conn {
	struct sb_ws_env *env;
	struct sb_call *call;         /* a reference */
	LIST_ENTRY(sb_bot_conn) link; /* in env->conns */
	struct lws *wsi;
	enum sb_conn_state state;
	int attempts;
	bool attempt_done; /* the current attempt has been accounted for */
	bool resolving;    /* the attempt waits for the bot's host name to resolve */
	bool detaching;    /* control asked for DETACH */
	bool closing;      /* close once the queue is written */
	bool pumping;      /* in sb_bot_conn_pump_up: it writes what it queued itself */
	bool hangup_sent;
	lws_sorted_usec_list_t sul; /* the attempt's deadline */
	char host[300];             /* Host header value */

	const struct sb_bot_proto *proto;
	struct sb_bot_call who; /* the call as the protocol names it (points into call) */
	int rate;               /* of the audio on the socket */
	struct sb_resampler *up_rs, *down_rs; /* 8 kHz ⇄ rate; NULL at 8 kHz */
	bool down_held; /* down_rs holds the end of the bot's audio (its look-ahead) */

	struct sb_txq tx; /* control messages and caller audio, in order */
	uint64_t seq, chunk, up_samples;
	int16_t *up_buf; /* caller audio at rate for the next media message */
	size_t up_n, up_cap;
	uint32_t up_at_us; /* the at_us of the caller frame last taken into up_buf */
	uint8_t odd_byte;  /* binary audio: a trailing byte kept for the next frame */
	bool has_odd;

	char *rx; /* reassembly of a fragmented message (or the handshake's answer), on demand */
	size_t rx_len, rx_cap;
	bool rx_skip, rx_binary;

	/* lws's raw socket role; the handshake and the frames are read here (bot_conn_ws.c), on
	 * the TLS session's plaintext for a wss:// bot (bot_conn_tls.c). */
	SSL_CTX *tls_ctx;          /* wss: the worker's context for the bot's ca_file */
	struct sb_tls_client *tls; /* wss: the session of the current socket */
	struct lws *tls_wsi;       /* that socket: its records are written there */
	bool close_sent;           /* our close frame is out: the bot's answer ends it */
	uint16_t close_due;        /* a close frame to send from WRITEABLE, then close */
	const char *close_reason;  /* its reason (static text) */
	bool pong_due;             /* the latest ping's payload waits for WRITEABLE */
	uint8_t pong_len;
	uint8_t pong[125];
	char ws_key[SB_WS_KEY_LEN + 1]; /* the handshake's Sec-WebSocket-Key */
	struct sb_ws_reader reader;

	struct sb_playout *playout;
	bool in_backlog;                      /* on env->backlog */
	LIST_ENTRY(sb_bot_conn) backlog_link; /* in env->backlog */
	int64_t tail_since_ms; /* when the caller started to starve with a partial frame queued */
	STAILQ_HEAD(, sb_pending_mark) marks; /* not yet echoed, oldest first */
	unsigned n_marks;
	uint32_t next_mark_id;
};

/* Milliseconds of audio in n samples at rate, rounded up: a short message still counts. */
static inline unsigned sb_bot_audio_ms(size_t n, int rate)
{
	return (unsigned)((n * 1000 + (size_t)rate - 1) / (size_t)rate);
}

/* bot_conn.c */
int sb_bot_conn_new(struct sb_bot_conn **ret, struct sb_ws_env *env, struct sb_call *call);
/* Sends stop (reason) after what the call's up ring holds and, when media_done (the media
 * worker has let go of the call), what it handed over with the call; then closes. */
void sb_bot_conn_detach(struct sb_bot_conn *conn, const char *reason, bool media_done);
/* Frees without replying (worker stop). */
void sb_bot_conn_free(struct sb_bot_conn *conn);
/* Dispatches an lws callback for conn's wsi; returns what lws expects. */
int sb_bot_conn_callback(struct sb_bot_conn *conn, struct lws *wsi,
                         enum lws_callback_reasons reason, void *in, size_t len);
/* Queues a control message (copied, a text frame). Returns 0 or -errno. */
int sb_bot_conn_send(struct sb_bot_conn *conn, const char *data, size_t len);
/* Queues a media message (copied) carrying audio_ms of caller audio whose last sample was ready
 * at at_us (struct sb_frame), dropping the oldest queued audio past SB_BOT_MAX_TX_QUEUE_MS.
 * Returns 0 or -errno. */
int sb_bot_conn_send_media(struct sb_bot_conn *conn, const char *data, size_t len, bool binary,
                           unsigned audio_ms, uint32_t at_us);
/* Queues what an encoder returned: n > 0 bytes of buf as a control text, nothing for n == 0,
 * and passes errors through. */
int sb_bot_conn_send_encoded(struct sb_bot_conn *conn, const char *buf, int n);
/* Writes the queue now, as far as the socket takes it without blocking, and asks lws for a
 * WRITEABLE callback for the rest (see bot_conn.c). */
void sb_bot_conn_write_now(struct sb_bot_conn *conn);

/* Continues an attempt that waited for its host name: connects to addr (numeric), or fails
 * the attempt with the resolver's EAI_* code err when addr is NULL. */
void sb_bot_conn_resolved(struct sb_bot_conn *conn, const char *addr, int err);

/* The Authorization value for the userinfo of the bot's URL ("Basic …") into val; false when
 * the URL has none. */
#define SB_BOT_AUTH_MAX (SB_BASE64_ENCODED_LEN(sizeof(((struct sb_url *)0)->userinfo)) + 16)
bool sb_bot_conn_basic_auth(const struct sb_bot_cfg *bot, char *val, size_t size);
/* Ends the current connection attempt as failed, for why: the next attempt, or the call's
 * bot failure. */
void sb_bot_conn_attempt_failed(struct sb_bot_conn *conn, const char *why);
/* The connection is open: sends the greeting. Returns 0, or -1 when the wsi must close. */
int sb_bot_conn_established(struct sb_bot_conn *conn);
/* Writes queued messages while the socket takes them; closes when asked to (WRITEABLE). */
int sb_bot_conn_on_writeable(struct sb_bot_conn *conn, struct lws *wsi);
/* The bot's socket closed. */
void sb_bot_conn_on_closed(struct sb_bot_conn *conn);

/* bot_conn_ws.c */
/* The socket to the bot is connected: starts TLS (wss) or the opening handshake (ws). Returns
 * 0, or -1 when the wsi must close. */
int sb_bot_conn_ws_connected(struct sb_bot_conn *conn, struct lws *wsi);
/* Sends the opening handshake. Returns 0, or -1 when the attempt failed and the wsi must
 * close. */
int sb_bot_conn_ws_upgrade(struct sb_bot_conn *conn, struct lws *wsi);
/* What the socket read: ciphertext for a wss bot, else the WebSocket's bytes. Returns 0, or
 * -1 when the wsi must close. */
int sb_bot_conn_ws_rx(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len);
/* The WebSocket's bytes from the bot: the handshake's answer, then frames. Returns 0, or -1
 * when the wsi must close (and then conn may be gone: a failed attempt may have ended it). */
int sb_bot_conn_ws_stream(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len);
/* What a connection has to write before its queue, from WRITEABLE: the answer to the bot's
 * close or breach (then -1: close the wsi), or a pong. Returns 0 or -1. */
int sb_bot_conn_ws_writeable(struct sb_bot_conn *conn, struct lws *wsi);
/* Writes the close frame that ends a connection we close. Returns 0 or -1. */
int sb_bot_conn_ws_close(struct sb_bot_conn *conn, struct lws *wsi);

/* bot_conn_tls.c */
/* Writes len bytes of the WebSocket's stream: as they are on a ws:// socket, encrypted on a
 * wss:// one; lws keeps what the kernel does not take. Returns 0, or -1 when the socket or the
 * session failed. */
int sb_bot_conn_wire_write(struct sb_bot_conn *conn, struct lws *wsi, uint8_t *p, size_t len);
/* wss: the socket is connected; starts the TLS handshake. Returns 0, or -1 when the attempt
 * failed and the wsi must close. */
int sb_bot_conn_tls_start(struct sb_bot_conn *conn, struct lws *wsi);
/* wss: ciphertext from the socket; the plaintext goes to sb_bot_conn_ws_stream(), and the
 * opening handshake out once TLS's is done. Returns 0, or -1 when the wsi must close (conn may
 * be gone, as for sb_bot_conn_ws_stream). */
int sb_bot_conn_tls_rx(struct sb_bot_conn *conn, struct lws *wsi, const uint8_t *in, size_t len);
/* Frees the connection's TLS session, if any, and what it gathered. */
void sb_bot_conn_tls_free(struct sb_bot_conn *conn);
/* wss: ends the TLS session (close_notify) before the socket closes. */
void sb_bot_conn_tls_end(struct sb_bot_conn *conn);

/* ws_worker.c */
/* The TLS client context for a bot's ca_file ("" = the system CA store), made on first use.
 * NULL when it cannot be made. */
SSL_CTX *sb_ws_env_tls_ctx(struct sb_ws_env *env, const char *ca_file);
/* Looks host up in the worker's cache: an enum sb_dns_result (addr filled on SB_DNS_HIT, *err
 * on SB_DNS_FAILED; on SB_DNS_MISS the name has been handed to the resolver and the answer
 * comes through sb_bot_conn_resolved), or a negative errno. */
int sb_ws_env_resolve(struct sb_ws_env *env, const char *host, char *addr, size_t addrlen,
                      int *err);

/* bot_conn_io.c */
/* Moves caller audio, keys, hold events and played marks from the up ring to the bot. */
void sb_bot_conn_pump_up(struct sb_bot_conn *conn);
/* The same, queued without asking lws to write (the caller writes, or asks, itself). */
void sb_bot_conn_take_up(struct sb_bot_conn *conn);
/* Thread: ws, at detach, once the media worker has let go of the call. Takes the caller frames
 * it handed over with the call (sb_call.up_left), after the up ring's. */
void sb_bot_conn_take_left(struct sb_bot_conn *conn);
/* Moves bot audio from the playout queue to the down ring, as much as it has room for. */
void sb_bot_conn_refill(struct sb_bot_conn *conn);
/* Takes a piece of a message: first and last say whether it starts and ends it. */
void sb_bot_conn_on_piece(struct sb_bot_conn *conn, const char *in, size_t len, bool first,
                          bool last, bool binary);
/* Appends len bytes at in to conn->rx, growing it up to SB_BOT_MAX_MESSAGE_BYTES; false when
 * they do not fit. */
bool sb_bot_conn_rx_append(struct sb_bot_conn *conn, const char *in, size_t len);
/* Handles one complete message from the bot, a text or a binary frame. */
void sb_bot_conn_on_message(struct sb_bot_conn *conn, const char *data, size_t len, bool binary);
/* Sends the bot a key the caller pressed (when the socket is open). */
void sb_bot_conn_send_dtmf(struct sb_bot_conn *conn, char digit, unsigned duration_ms);
/* Sends the bot an extension event without a body (when the socket is open). */
void sb_bot_conn_send_event(struct sb_bot_conn *conn, const char *event);
/* bot_conn_events.c: posts the bot's transfer request (its target and headers copied) to
 * control. */
void sb_bot_conn_on_transfer(struct sb_bot_conn *conn, const struct sb_bot_event *ev);
/* Tells the bot its transfer to `to` failed with a SIP status (when the socket is open). */
void sb_bot_conn_transfer_failed(struct sb_bot_conn *conn, const char *to, int status,
                                 const char *reason);
/* Sends the caller audio still buffered as a last, shorter media message. */
void sb_bot_conn_flush_up(struct sb_bot_conn *conn);
/* Frees the pending marks. */
void sb_bot_conn_free_marks(struct sb_bot_conn *conn);

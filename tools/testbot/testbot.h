/* Private interfaces of sipbridge-testbot, a bot server for tests and load runs that speaks the
 * Exotel, Twilio and raw (jambonz-like) media-stream protocols. Everything runs on the single
 * lws service thread (main thread); the only other context is the signal handler, which
 * touches nothing here but a flag.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>
#include <jansson.h>
#include <libwebsockets.h>

/* Largest reassembled message accepted; bigger ones are closed with 1009. */
#define SB_TB_MAX_MSG_BYTES (1024 * 1024)
/* Tone mode stops queueing when a client does not read (60 s of 100 ms ticks). */
#define SB_TB_TONE_MAX_QUEUED 600
/* Distinct wait_event counters / (event, name) pairs one script may use. */
#define SB_TB_MAX_COUNTERS 32
#define SB_TB_MAX_NAMED 64
#define SB_TB_SID_MAX 128
/* Twilio ids: two letters and 32 hex digits. */
#define SB_TB_TWILIO_SID_LEN 34

enum sb_tb_mode {
	SB_TB_MODE_ECHO,
	SB_TB_MODE_TONE,
	SB_TB_MODE_SILENT,
	SB_TB_MODE_SCRIPT,
};

/* The bot protocol every connection speaks (--protocol). */
enum sb_tb_proto {
	SB_TB_PROTO_EXOTEL,
	SB_TB_PROTO_TWILIO,
	SB_TB_PROTO_RAW,
};

/* Which id key a generated media message carries; AUTO is the protocol's own. */
enum sb_tb_key {
	SB_TB_KEY_AUTO,
	SB_TB_KEY_SNAKE,
	SB_TB_KEY_CAMEL,
	SB_TB_KEY_NONE,
};

enum sb_tb_wait {
	SB_TB_WAIT_NONE,
	SB_TB_WAIT_TIMER,
	SB_TB_WAIT_EVENT,
	SB_TB_WAIT_DONE,
};

struct sb_tb_script;

/* One queued outgoing frame; buf holds LWS_PRE bytes of headroom before the data. */
struct sb_tb_msg {
	struct sb_tb_msg *next;
	bool binary;     /* PCM of the raw protocol; logged by its size only */
	bool raw;        /* already framed: a batch of echoes (batch.c) */
	json_t *log_msg; /* what the event log shows for it; NULL without --log */
	char *log_raw;   /* for text that is not a JSON object */
	size_t len;
	unsigned char buf[];
};

/* What --strict has seen of a Twilio stream so far. */
struct sb_tb_strict {
	unsigned msgs;       /* text messages received */
	uint64_t seq, chunk; /* last sequenceNumber and media.chunk */
	char stream_sid[SB_TB_TWILIO_SID_LEN + 1], call_sid[SB_TB_TWILIO_SID_LEN + 1];
};

/* Per-connection state; lws allocates it zeroed as the session's user space. */
struct sb_tb_conn {
	struct sb_tb_conn *prev, *next; /* app->conns */
	struct sb_tb_app *app;
	struct lws *wsi;
	unsigned id;
	ev_timer timer; /* wakes lws's loop when the connection's timer is due (timer.c) */

	bool started;
	bool violated; /* --strict found a bad message: ignore the rest, close with 1008 */
	char sid[SB_TB_SID_MAX];
	unsigned sample_rate;
	int rec_fd; /* DIR/<sid>.raw, -1 until the first media */

	/* reassembly of fragmented messages */
	unsigned char *rx;
	size_t rx_len, rx_cap;
	bool rx_active, rx_binary;

	/* write queue, drained one frame per WRITEABLE */
	struct sb_tb_msg *txq_head, *txq_tail;
	size_t txq_count;
	int close_code;      /* close once the queue is empty; 0 = keep open */
	bool write_failed;   /* a frame written outside WRITEABLE failed: close there */
	int peer_close_code; /* from the peer's close frame; 0 = none seen */

	/* echoes of this turn, framed, written after it (batch.c); LWS_PRE bytes of headroom */
	unsigned char *batch;
	size_t batch_len, batch_cap;
	struct sb_tb_conn *batch_next, **batch_pprev; /* app->batched; pprev NULL: not on it */

	/* tone mode */
	double tone_phase;
	int64_t tone_next_us;

	/* script mode */
	size_t pc;
	enum sb_tb_wait wait;
	unsigned counts[SB_TB_MAX_COUNTERS];
	uint64_t named_seen;

	struct sb_tb_strict strict;
};

struct sb_tb_app {
	enum sb_tb_proto proto;
	bool strict; /* check Twilio's message shapes (--strict) */
	enum sb_tb_mode mode;
	unsigned tone_hz;
	const char *record_dir;
	struct sb_tb_script *script;
	FILE *evlog;
	FILE *arrivals;           /* --arrivals; NULL without it */
	const char *arrivals_key; /* the custom parameter that names a call there */

	struct lws_context *ctx;
	struct ev_loop *loop; /* libev loop lws runs on (epoll), or NULL: lws's poll() */
	ev_timer tick;        /* wakes lws's loop for its own timers (timer.c) */
	struct sb_tb_conn *conns;
	struct sb_tb_conn *batched; /* connections with echoes to write after the turn */
	size_t conn_count;
	unsigned next_id;
	bool stopping;
	char pcol_name[64]; /* subprotocol echoed back to the client being upgraded */
};

/* evlog.c */
/* Opens path for appending; returns NULL with errno set on failure. */
FILE *sb_tb_evlog_open(const char *path);
/* Writes one line {"t_ms","conn","dir", ...fields}; borrows fields. No-op when f is NULL. */
void sb_tb_evlog_write(FILE *f, unsigned conn, const char *dir, json_t *fields);
/* Returns a JSON string of up to 200 bytes of data, with bytes that are not valid UTF-8 as '?'. */
json_t *sb_tb_evlog_raw(const void *data, size_t len);
/* Returns a copy of msg fit for the log: media.payload becomes media.payload_bytes. */
json_t *sb_tb_evlog_strip_payload(json_t *msg);

/* arrivals.c */
/* Writes the connection's start line (borrows msg). No-op without --arrivals. */
void sb_tb_arrivals_start(struct sb_tb_conn *c, json_t *msg);
/* Asks the kernel to stamp the connection's reads (rxstamp.c). No-op without --arrivals. */
void sb_tb_arrivals_open(struct sb_tb_conn *c);
/* Writes one media message's read time, sample count and kernel arrival time. No-op without
 * --arrivals. */
void sb_tb_arrivals_media(struct sb_tb_conn *c, size_t samples);
/* The newest kernel arrival time (CLOCK_REALTIME ns) read on fd, from rxstamp.c's recv(). */
void sb_tb_rxstamp_note(int fd, int64_t ns);
/* Marks fd as a connection whose reads are stamped, or no longer (rxstamp.c's read()). */
void sb_tb_rxstamp_set(int fd, bool on);
bool sb_tb_rxstamp_on(int fd);
void sb_tb_rxstamp_free(void);

/* batch.c */
#define SB_TB_WS_HEADER_MAX 10
/* Writes the header of an unmasked final text frame of len bytes to out (room for
 * SB_TB_WS_HEADER_MAX); returns its length. */
size_t sb_tb_ws_text_header(unsigned char *out, size_t len);
/* Frames a text message of len bytes at the end of c's batch and returns where its len bytes
 * go; NULL without memory or when the batch would pass its bound. */
unsigned char *sb_tb_batch_add(struct sb_tb_conn *c, size_t len);
/* Writes c's batch now, or queues it behind what waits. */
void sb_tb_batch_flush(struct sb_tb_conn *c);
/* Flushes every connection's batch: after each turn of the loop. */
void sb_tb_batch_flush_all(struct sb_tb_app *app);
/* Drops c's batch unwritten and frees its buffer. */
void sb_tb_batch_free(struct sb_tb_conn *c);

/* txq.c */
/* Queues obj (borrowed) as a text frame. Returns 0 or -ENOMEM. */
int sb_tb_send_json(struct sb_tb_conn *c, json_t *obj);
/* Queues text verbatim. Returns 0 or -ENOMEM. */
int sb_tb_send_raw(struct sb_tb_conn *c, const char *text, size_t len);
/* A text frame of len bytes for the caller to fill at buf + LWS_PRE and queue with
 * sb_tb_txq_push(); NULL without memory. */
struct sb_tb_msg *sb_tb_msg_text(size_t len);
/* Queues m, a frame of sb_tb_msg_text(), and takes it. */
void sb_tb_txq_push(struct sb_tb_conn *c, struct sb_tb_msg *m);
/* The same, but writes m at once when nothing is queued or buffered before it and no close
 * waits. Only in a callback of c's connection. */
void sb_tb_txq_push_now(struct sb_tb_conn *c, struct sb_tb_msg *m);
/* Queues data (copied) as one binary frame. Returns 0 or -ENOMEM. */
int sb_tb_send_binary(struct sb_tb_conn *c, const void *data, size_t len);
/* Writes the head of the queue, or closes when it is empty and a close is pending. Returns 0
 * or -1 to make lws close the connection. */
int sb_tb_txq_writeable(struct sb_tb_conn *c);
/* Drops every queued frame. */
void sb_tb_txq_clear(struct sb_tb_conn *c);
/* Asks to close with code once the queue has been written. */
void sb_tb_close_after_queue(struct sb_tb_conn *c, int code);
/* Drops the queue and any script or tone work, then closes with code; for bad input. */
void sb_tb_close_now(struct sb_tb_conn *c, int code);

/* proto.c */
/* Queues pcm (PCM16 LE, borrowed) in the connection's protocol: base64 PCM media messages
 * (exotel), base64 µ-law media messages (twilio) or binary frames (raw), each made of at
 * most chunk_bytes of the PCM. Returns 0 or -errno. */
int sb_tb_send_pcm(struct sb_tb_conn *c, const uint8_t *pcm, size_t len, size_t chunk_bytes,
                   enum sb_tb_key key);
/* Bytes of PCM16 one generated media message carries unless told otherwise. */
size_t sb_tb_default_chunk(const struct sb_tb_conn *c);
/* The event name a received text message is logged and counted under; msg is borrowed. */
const char *sb_tb_rx_event(const struct sb_tb_conn *c, json_t *msg);
/* Handles the stream's start (the raw protocol's metadata frame); msg is borrowed. */
void sb_tb_on_start(struct sb_tb_conn *c, json_t *msg);

/* strict.c */
/* --strict: checks a received Twilio message (borrowed; data/len are its text for the log).
 * Returns 0, or logs a violation, starts a 1008 close and returns -EPROTO. */
int sb_tb_strict_check(struct sb_tb_conn *c, json_t *msg, const void *data, size_t len);
/* Logs a violation error about data and starts a 1008 close. Returns -EPROTO. */
int sb_tb_strict_fail(struct sb_tb_conn *c, const char *error, const void *data, size_t len);

/* media.c */
/* G.711 µ-law of one sample, and back (the bridge's codec does the same). */
uint8_t sb_tb_ulaw_encode(int16_t pcm);
int16_t sb_tb_ulaw_decode(uint8_t ulaw);
/* Fills n samples of a sine at amplitude, continuing *phase. */
void sb_tb_tone_fill(int16_t *out, size_t n, double *phase, double hz, double rate,
                     double amplitude);
/* Decoded length of a base64 string, computed without decoding. */
size_t sb_tb_b64_decoded_len(const char *s);
/* The same for the n bytes at s, which need not be NUL-terminated. */
size_t sb_tb_b64_decoded_len_n(const char *s, size_t n);
/* Handles a received JSON media message (exotel, twilio): recording and echo. */
void sb_tb_on_media(struct sb_tb_conn *c, json_t *msg);
/* Handles a received binary frame of PCM16 (raw): recording and echo. */
void sb_tb_on_audio(struct sb_tb_conn *c, const void *data, size_t len);
/* Tone mode: starts the 100 ms pacing once start has arrived. */
void sb_tb_tone_start(struct sb_tb_conn *c);
/* Tone mode: the connection timer fired. */
void sb_tb_tone_tick(struct sb_tb_conn *c);

/* timer.c */
/* On the libev loop: starts the watcher that wakes lws's loop for its own timers. */
void sb_tb_timer_start(struct sb_tb_app *app);
/* Arms c's lws timer to fire in us microseconds, and on the libev loop wakes lws's loop then
 * (lws's libev plugin alone would not). */
void sb_tb_set_timer(struct sb_tb_conn *c, lws_usec_t us);
/* Stops c's watcher; before c goes. */
void sb_tb_timer_stop(struct sb_tb_conn *c);

/* fastecho.c */
/* Where a media message matched by sb_tb_fast_scan() keeps its payload (not NUL-terminated). */
struct sb_tb_fast_msg {
	const char *payload;
	size_t payload_len;
};
/* Pure: true when the len bytes at data are a media message in exactly the shape the bridge's
 * encoder for proto (Exotel or Twilio) writes, with a payload of base64 characters; false for
 * anything else, which the jansson path handles. Reads nothing outside data[0, len). */
bool sb_tb_fast_scan(enum sb_tb_proto proto, const void *data, size_t len,
                     struct sb_tb_fast_msg *out);
/* Pure: the length of the echo of a payload of payload_len bytes on a stream named sid, or 0
 * when sid has a character JSON escapes (or is not NUL-terminated within SB_TB_SID_MAX). */
size_t sb_tb_fast_echo_len(enum sb_tb_proto proto, const char *sid, size_t payload_len);
/* Pure: writes that echo, the bytes the slow path's json_pack and json_dumps give, to out,
 * which holds sb_tb_fast_echo_len() bytes (a nonzero one). */
void sb_tb_fast_echo_write(enum sb_tb_proto proto, const char *sid, const char *payload,
                           size_t payload_len, char *out);
/* Handles a received text message the way the slow path would (arrivals and echo) when it
 * and the connection allow the fast path, and returns true; false when the caller must parse
 * it with jansson. */
bool sb_tb_fast_media(struct sb_tb_conn *c, const void *data, size_t len);

/* script.c */
/* Parses a script file. Returns 0 or -errno; prints the reason on stderr. */
int sb_tb_script_load(const char *path, struct sb_tb_script **ret);
/* Frees a script; takes NULL and returns NULL. */
struct sb_tb_script *sb_tb_script_free(struct sb_tb_script *s);
/* Counts a received event for the script's waits; msg is borrowed and may be NULL. */
void sb_tb_script_note_event(struct sb_tb_conn *c, const char *event, json_t *msg);
/* Runs actions from the current one until one has to wait. */
void sb_tb_script_run(struct sb_tb_conn *c);
/* The connection timer fired while the script waits. */
void sb_tb_script_timer(struct sb_tb_conn *c);

/* server.c */
/* The protocol table the listening vhost uses. */
extern struct lws_protocols sb_tb_protocols[];
/* Closes every connection with 1001 (shutdown). */
void sb_tb_close_all(struct sb_tb_app *app);

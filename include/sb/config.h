/* Configuration: libconfig file → immutable, refcounted struct sb_config, driven by one
 * schema table (config_schema.c). Every key has a default; a bad file is reported as
 * "FILE:LINE: KEY: reason". Thread: control (load), any (read a snapshot it holds). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sb/acl.h>
#include <sb/url.h>

#define SB_NAME_MAX 16 /* trunk and bot names: [A-Za-z0-9_]{1,16} */
#define SB_CONFIG_ERR_MAX 512
#define SB_MAX_WS_THREADS 16 /* threads.ws: at most this many; 0 is one per core, up to it */

enum sb_transport { SB_TP_UDP, SB_TP_TCP, SB_TP_TLS };
enum sb_acl_reject { SB_ACL_REJECT_403, SB_ACL_REJECT_DROP };
enum sb_jitter_mode { SB_JITTER_ADAPTIVE, SB_JITTER_FIXED };
enum sb_bot_protocol { SB_PROTO_EXOTEL, SB_PROTO_TWILIO, SB_PROTO_RAW };
enum sb_bot_mode { SB_MODE_VOICEBOT, SB_MODE_LISTEN };
enum sb_on_close { SB_ON_CLOSE_HANGUP, SB_ON_CLOSE_TRANSFER };
enum sb_on_fail { SB_ON_FAIL_REJECT, SB_ON_FAIL_TRANSFER };
enum sb_transfer_mode { SB_TRANSFER_REFER, SB_TRANSFER_BRIDGE };
enum sb_on_transfer_fail { SB_ON_TRANSFER_FAIL_KEEP, SB_ON_TRANSFER_FAIL_HANGUP };
/* SDES-SRTP; DEFAULT (a trunk's "") takes rtp.srtp, resolved at load. */
enum sb_srtp_mode {
	SB_SRTP_MODE_DEFAULT,
	SB_SRTP_MODE_OFF,
	SB_SRTP_MODE_OPTIONAL,
	SB_SRTP_MODE_REQUIRED
};
/* How the media threads do their socket work: io_uring (one system call per turn of the
 * loop for every leg's sends and receives) or epoll (one per packet); auto takes io_uring
 * when the kernel allows it. */
enum sb_media_io { SB_MEDIA_IO_AUTO, SB_MEDIA_IO_URING, SB_MEDIA_IO_EPOLL };
/* What the ws threads wait in: epoll (lws's libev plugin on a loop of their own) or lws's
 * poll(), which looks at every socket on each turn; auto takes epoll when the plugin loads. */
enum sb_ws_loop { SB_WS_LOOP_AUTO, SB_WS_LOOP_EPOLL, SB_WS_LOOP_POLL };
/* Extension events a bot may opt in to (its events list). */
enum sb_bot_event_opt { SB_BOT_OPT_HOLD = 1 << 0 };

struct sb_listen {
	enum sb_transport transport;
	char *address; /* numeric IPv4/IPv6 address */
	uint16_t port; /* default 5060; 5061 for tls */
	/* tls only ("" otherwise): PEM files, checked at load (readable, PEM, key matches cert) */
	char *cert, *key;
	char *ca;           /* CAs that sign client certificates; "" = none */
	bool verify_client; /* ask for and verify a client certificate (needs ca) */
};

struct sb_bot_cfg {
	char name[SB_NAME_MAX + 1];
	char *url_text;
	struct sb_url url;
	enum sb_bot_protocol protocol;
	int sample_rate;      /* of the audio on the socket: 8000, 16000 or 24000 (resolved from the
	                         key, else the URL's sample-rate, else 8000) */
	int resample_quality; /* speexdsp 0..10 */
	char *subprotocol;    /* Sec-WebSocket-Protocol offered, "" for none */
	enum sb_bot_mode mode;
	char **headers; /* "Name: value" lines sent in the WebSocket handshake */
	size_t n_headers;
	int connect_timeout_ms; /* default 10000 */
	int retries;            /* default 1: one more attempt after a failed handshake */
	enum sb_on_close on_close;
	enum sb_on_fail on_fail;
	int frame_ms; /* caller audio per media message, 20..1000, multiple of 20; default 100 */
	int max_queue_ms; /* bot audio queued for playout before dropping; default 60000 */
	int max_marks;    /* marks waiting to be played before new ones are dropped; default 1000 */
	bool listen_send_silence; /* listen mode: the caller gets silence (else no RTP at all) */
	char **events;            /* extension events it opts in to ("hold") */
	size_t n_events;
	unsigned event_opts; /* the same as a mask of enum sb_bot_event_opt */
	char *record;        /* folder for call recordings; "" = the trunk's setting */
	char *ca_file;       /* wss: PEM file of the CAs trusted for this bot; "" = system store */
	bool tls_verify;     /* wss: verify the certificate and host name (default true) */
};

struct sb_bot_route {
	char *match;                  /* X-Customer-Header value, or "*" for the default */
	const struct sb_bot_cfg *bot; /* points into sb_config.bots */
};

struct sb_trunk {
	char name[SB_NAME_MAX + 1];
	struct sb_cidr *acl;
	size_t n_acl;
	char **numbers; /* E.164 DIDs; empty = any */
	size_t n_numbers;
	char *destination;          /* transfer target ("" when unset) */
	int transfer_mode;          /* enum sb_transfer_mode */
	int transfer_timeout_ms;    /* REFER: the final NOTIFY; bridge: the agent's answer */
	int on_transfer_fail;       /* enum sb_on_transfer_fail */
	bool listen_after_transfer; /* bridge: the bot keeps listening to both parties */
	char *record;               /* folder for call recordings; "" = none (a bot's wins) */
	int srtp;                   /* enum sb_srtp_mode, never DEFAULT once loaded */
	struct sb_bot_route *routes;
	size_t n_routes;
};

struct sb_config {
	atomic_int refs;
	char *source; /* file path, or "(embedded default)" */

	/* sip */
	struct sb_listen *listen;
	size_t n_listen;
	char *sip_public_address; /* "" when unset */
	char *user_agent;
	int acl_reject;        /* enum sb_acl_reject: what a request from outside every ACL gets */
	int max_message_bytes; /* larger SIP messages are refused before they are parsed */
	int max_headers;       /* requests with more header lines are refused unparsed */
	int tcp_idle_s;        /* a TCP connection silent (or stuck mid-message) this long closes */
	int tcp_max_per_source; /* TCP connections one address may hold */
	int reject_rate;        /* stateless refusals a second per source address; 0: no limit */
	int min_se_s;           /* RFC 4028 Min-SE: shorter session intervals get 422 */
	int session_expires_s;  /* the interval asked of a caller that supports timers; 0: none */
	int t1x64_ms;           /* RFC 3261's 64*T1: transaction timeouts, timer J over UDP */

	/* rtp */
	char *rtp_address;
	char *rtp_public_address;            /* "" when unset */
	uint16_t rtp_port_min, rtp_port_max; /* even, min < max */
	int rtp_timeout_s;                   /* 0 disables */
	int jitter_mode;                     /* enum sb_jitter_mode */
	int jitter_min_ms, jitter_max_ms;    /* adaptive: the wait for a missing packet, bounds */
	int jitter_ms;                       /* fixed: that wait */
	int srtp;                            /* enum sb_srtp_mode: off, optional or required */
	bool srtp_over_udp; /* take SDES keys that came over plain UDP/TCP SIP (in clear text) */

	/* limits */
	int max_calls;
	int max_cps;
	int drain_timeout_s; /* a drain hangs up the calls still in progress after this */

	/* threads */
	int media_threads;    /* 0 = number of cores - 1, at least 1 */
	int ws_threads;       /* 0 = one per core, at most SB_MAX_WS_THREADS */
	int media_io;         /* enum sb_media_io: how the media threads do their socket work */
	int ws_loop;          /* enum sb_ws_loop: what the ws threads wait in */
	bool media_realtime;  /* media threads ask for SCHED_FIFO, so pacing waits for no one */
	bool ws_realtime;     /* ws threads ask for SCHED_FIFO below the media threads */
	int media_rx_buffers; /* io_uring: each media thread's receive buffers (a power of two) */

	/* log */
	int log_level;  /* enum sb_log_level */
	int log_format; /* enum sb_log_format: text lines or one JSON object per line */

	/* dns: the host-name caches of the bots' and the webhook's lookups (read at start-up) */
	int dns_cache_s;      /* an address is used this long before its name is asked again */
	int dns_fail_cache_s; /* a failed lookup is not repeated for this long */

	/* webhook: the call-end record */
	char *webhook_url;     /* http:// or https://; "" = off */
	char *webhook_secret;  /* HMAC-SHA256 key; "" = unsigned (never logged) */
	char *webhook_ca_file; /* https: PEM file of the receiver's CAs; "" = system store */
	int webhook_retries;   /* extra attempts after a failed one */
	int webhook_timeout_ms;
	int webhook_max_queue; /* records waiting for delivery before new ones are dropped */

	/* admin: the HTTP admin API and metrics (read at start-up) */
	char *admin_address; /* numeric IPv4 or IPv6 address */
	int admin_port;      /* 0 = off */
	char *admin_token;   /* bearer token; "" = no authentication (never logged) */

	struct sb_trunk *trunks;
	size_t n_trunks;
	struct sb_bot_cfg *bots;
	size_t n_bots;
};

/* Command-line settings applied on top of the file or the embedded default. */
struct sb_config_overrides {
	const char *bot_url; /* --bot: replaces the URL of every bot; NULL keeps them */
	int sip_port;        /* --sip-port: replaces every udp/tcp listen port; 0 keeps them */
};

/* Thread: control. Loads and validates a file. On success *ret holds one reference. On
 * failure *ret is untouched, err holds "FILE:LINE: KEY: reason" and the return is -EINVAL
 * (bad content) or -ENOENT/-EACCES (cannot read). */
int sb_config_load_file(struct sb_config **ret, const char *path,
                        const struct sb_config_overrides *ov, char *err, size_t errlen);
/* Thread: control. Same for text held in memory; name is used in messages. */
int sb_config_load_string(struct sb_config **ret, const char *text, const char *name,
                          const struct sb_config_overrides *ov, char *err, size_t errlen);
/* Thread: control. The embedded default: SIP UDP+TCP on 127.0.0.1:5060, RTP 10000-20000,
 * ACL 127.0.0.0/8 and ::1, one trunk routing "*" to one bot at ov->bot_url (or
 * ws://127.0.0.1:5001/media). */
int sb_config_load_default(struct sb_config **ret, const struct sb_config_overrides *ov, char *err,
                           size_t errlen);
/* Thread: any. The libconfig text of the embedded default (for --help and docs). */
const char *sb_config_default_text(void);
/* Thread: any. Takes a reference; returns c. */
struct sb_config *sb_config_ref(struct sb_config *c);
/* Thread: any. Drops a reference, frees on the last; accepts NULL; returns NULL. */
struct sb_config *sb_config_unref(struct sb_config *c);
/* Thread: any. Whether sip.listen has a tls entry. */
bool sb_config_has_tls(const struct sb_config *c);
/* Thread: any. Bot by name or NULL. */
const struct sb_bot_cfg *sb_config_find_bot(const struct sb_config *c, const char *name);

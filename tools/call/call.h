/* Private interfaces of sipbridge-call, the bot developer's test phone: one SIP call with real
 * RTP (G.711 from a WAV file, RFC 4733 keys), the far end's audio recorded and summed up in one
 * JSON line. Everything runs on the main thread, which runs sofia's su_root with nua on it
 * (a --to host name's lookup aside: resolve.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <sb/codec.h>
#include <sb/common.h>
#include <sb/dtmf.h>
#include <sb/rtcp.h>
#include <sb/sdp_neg.h>
#include <sb/srtp_ctx.h>

#define SB_CL_NAME "sipbridge-call"

/* Exit statuses. */
#define SB_CL_EXIT_OK 0
#define SB_CL_EXIT_FAILED 1
#define SB_CL_EXIT_USAGE 2
#define SB_CL_EXIT_TLS 3 /* the server's TLS certificate was refused: the INVITE never left */

/* Limits on what the command line may ask for. */
#define SB_CL_MAX_HEADERS 16
#define SB_CL_HEADER_MAX 512 /* bytes of one --header */
#define SB_CL_MAX_DIGITS 64
#define SB_CL_MAX_SECONDS 7200.0 /* --duration, --dtmf-at, --timeout */
#define SB_CL_WAV_MAX_SECONDS 3600
#define SB_CL_ERR_MAX 256
#define SB_CL_ADDR_MAX 46 /* a numeric IPv4 or IPv6 address and its NUL (INET6_ADDRSTRLEN) */

/* DTMF as a phone sends it: each key this long, this far apart. */
#define SB_CL_DTMF_MS 100
#define SB_CL_DTMF_GAP_MS 100

/* ------------------------------------------------------------------------------------------ */
/* opts.c: the command line */

struct sb_cl_opts {
	const char *to; /* the request URI as given */
	const char *headers[SB_CL_MAX_HEADERS];
	size_t n_headers;
	const char *play, *record;
	char dtmf[SB_CL_MAX_DIGITS + 1];
	double dtmf_at_s;
	double duration_s; /* < 0: not given */
	double timeout_s;
	enum sb_codec codec;
	bool tcp;
	bool tls;          /* --transport tls: the server's certificate is verified */
	const char *ca;    /* --ca: the CA file it is verified with; NULL: the system's */
	const char *local; /* numeric address SIP and RTP bind to */
	/* The --to host name's address of --local's family, as the system's resolver found it
	 * (numeric): the requests go there. "" (a numeric host, no port, no answer in time): the
	 * SIP stack resolves the host itself. */
	char to_addr[SB_CL_ADDR_MAX];
	bool verbose;
	bool srtp;          /* offer RTP/SAVP (SDES, AES_CM_128_HMAC_SHA1_80) */
	double tamper_at_s; /* < 0: never; else flip a byte of one SRTP packet then */
};

/* Fills *o from argv (strings borrowed from argv). Returns 0; 1 when --help or --version was
 * printed; -EINVAL after printing one line about the bad option to stderr. */
int sb_cl_opts_parse(struct sb_cl_opts *o, int argc, char **argv);

/* ------------------------------------------------------------------------------------------ */
/* resolve.c: the addresses a --to host name resolves to */

#define SB_CL_HOST_MAX 255       /* the longest host name looked up */
#define SB_CL_LOOKUP_MS 1000     /* how long a lookup is waited for (within the run's bound) */
#define SB_CL_FAM_IPV4 (1u << 0) /* bits of sb_cl_resolve_families()'s answer */
#define SB_CL_FAM_IPV6 (1u << 1)

/* Once per process. Looks host (borrowed) up with getaddrinfo, waiting at most wait_ms, and
 * returns the SB_CL_FAM_* bits of its IPv4 and IPv6 addresses, which it lists in addrs (size
 * bytes, ", "-separated, " ..." when not all fit), and puts the first one of family af
 * (AF_INET or AF_INET6) in first (first_size bytes; "" when none); 0 when the name did not
 * resolve in time. */
unsigned sb_cl_resolve_families(const char *host, long wait_ms, int af, char *addrs, size_t size,
                                char *first, size_t first_size);

/* ------------------------------------------------------------------------------------------ */
/* tls_refusal.c: why sofia's TLS transport refused a server's certificate, from its log */

#define SB_CL_DN_MAX 256        /* a certificate's name as sofia logs it (X509_NAME_oneline) */
#define SB_CL_TLS_TEXT_MAX 1280 /* sb_cl_tls_refusal_text()'s longest text */

/* The last refusal read (seen), and the verification block being read (_fields). */
struct sb_cl_tls_refusal {
	bool seen;
	/* the name the certificate was checked against ("": the log did not say) */
	char host[SB_CL_HOST_MAX + 1];
	/* OpenSSL's verification error, or "it does not name HOST" */
	char reason[SB_CL_HOST_MAX + 64];
	/* the refused certificate's place in its chain (0: the server's own; -1: not said) */
	int depth;
	char subject[SB_CL_DN_MAX], issuer[SB_CL_DN_MAX];
	bool _in_block;
	int _depth;
	char _subject[SB_CL_DN_MAX], _issuer[SB_CL_DN_MAX];
};

/* Reads one line (borrowed, formatted) of sofia's transport log (tport_log, level 3) and keeps
 * a refusal it reports; other lines change nothing. Start from a zeroed struct. Pure. */
void sb_cl_tls_refusal_feed(struct sb_cl_tls_refusal *r, const char *line);
/* Writes "the certificate of HOST failed verification: REASON (subject .., issuer ..)" into buf
 * (size bytes, cut to fit); host (borrowed) names the server when the log did not. 0, or
 * -ENOENT when no refusal was read. Pure. */
int sb_cl_tls_refusal_text(const struct sb_cl_tls_refusal *r, const char *host, char *buf,
                           size_t size);

/* ------------------------------------------------------------------------------------------ */
/* wav.c: 8 kHz mono PCM16 WAV in and out */

/* Checks a WAV file's bytes (len at buf, borrowed) and sets *pcm_off and *n_samples to
 * its audio. Returns 0, or -EINVAL with a reason ("16000 Hz, need 8000 Hz") in err. Pure. */
int sb_cl_wav_parse(const uint8_t *buf, size_t len, size_t *pcm_off, size_t *n_samples, char *err,
                    size_t err_size);
/* Reads path (at most SB_CL_WAV_MAX_SECONDS of audio) into a malloc'd *pcm the caller frees.
 * Returns 0, or a negative errno with the reason in err. */
int sb_cl_wav_load(const char *path, int16_t **pcm, size_t *n_samples, char *err, size_t err_size);

struct sb_cl_wav_writer {
	FILE *f;
	uint64_t samples;
	bool failed; /* a write failed: reported once at close */
};

/* Creates path with a header for 8 kHz mono PCM16 (sizes fixed at close). 0 or -errno. */
int sb_cl_wav_create(struct sb_cl_wav_writer *w, const char *path);
/* Appends n samples (borrowed). */
void sb_cl_wav_write(struct sb_cl_wav_writer *w, const int16_t *pcm, size_t n);
/* Writes the sizes into the header and closes; accepts a writer never opened. 0 or -errno. */
int sb_cl_wav_close(struct sb_cl_wav_writer *w);

/* ------------------------------------------------------------------------------------------ */
/* utter.c: bursts of audio above a low energy threshold (what the far end said) */

#define SB_CL_UTTER_BLOCK 160     /* 20 ms blocks */
#define SB_CL_UTTER_RMS 300       /* below this a block is quiet (about -41 dBFS) */
#define SB_CL_UTTER_GAP_BLOCKS 10 /* 200 ms of quiet ends a burst */

struct sb_cl_utter {
	int64_t energy; /* of the block being filled */
	unsigned fill;  /* samples in it */
	bool in_burst;
	unsigned quiet; /* quiet blocks since the burst's last loud one */
	unsigned count; /* bursts begun */
};

/* Feeds n samples in time order (borrowed). Pure. */
void sb_cl_utter_feed(struct sb_cl_utter *u, const int16_t *pcm, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* timeline.c: received audio put in time order, gaps as silence */

#define SB_CL_TIMELINE_WINDOW 8000 /* samples (1 s) a late packet may still fill in */

typedef void sb_cl_sink_fn(void *arg, const int16_t *pcm, size_t n);

struct sb_cl_timeline {
	int16_t win[SB_CL_TIMELINE_WINDOW]; /* ring: sample p is at win[p % WINDOW] */
	int64_t flushed;                    /* samples handed to the sink */
	int64_t end;                        /* one past the latest sample placed */
	bool anchored;
	uint32_t ssrc, base_ts; /* the stream's RTP timestamp base_ts is at sample base_pos */
	int64_t base_pos;
	unsigned behind;       /* packets in a row too late for their places */
	uint64_t late_samples; /* arrived after their place was handed on */
	sb_cl_sink_fn *sink;
	void *sink_arg;
};

/* Starts an empty time line; the sink gets every sample in order. Pure. */
void sb_cl_timeline_init(struct sb_cl_timeline *t, sb_cl_sink_fn *sink, void *arg);
/* Places n samples (borrowed) of stream ssrc with RTP timestamp ts, which arrived at sample
 * arrival_pos of the call (its samples since the answer). A stream is laid by its timestamps
 * from where its first packet arrived; a new SSRC, or a timestamp over 10 s away from the
 * arrival time, lays it afresh. Pure. */
void sb_cl_timeline_put(struct sb_cl_timeline *t, uint32_t ssrc, uint32_t ts, const int16_t *pcm,
                        size_t n, int64_t arrival_pos);
/* Hands everything placed to the sink. Pure. */
void sb_cl_timeline_flush(struct sb_cl_timeline *t);

/* ------------------------------------------------------------------------------------------ */
/* sdp.c: the offer (one codec and telephone-event) and the answer */

#define SB_CL_TE_PT 101
#define SB_CL_CRYPTO_TAG 1

/* Writes the offer: codec c and telephone-event SB_CL_TE_PT at addr (numeric) and port; with
 * srtp (NULL: plain RTP/AVP) RTP/SAVP and a=crypto SB_CL_CRYPTO_TAG AES_CM_128_HMAC_SHA1_80
 * with that key. Returns the length, or -EINVAL / -ENOSPC. Pure. */
int sb_cl_sdp_offer(char *buf, size_t size, const char *addr, uint16_t port, enum sb_codec c,
                    uint64_t session_id, const struct sb_srtp_key *srtp);
/* Parses the answer into *ans and checks it carries codec c, and with srtp RTP/SAVP with an
 * a=crypto of our tag and suite (without: RTP/AVP). Returns 0, or -EBADMSG with *why set to
 * a static reason. Pure. */
int sb_cl_sdp_answer(const char *sdp, size_t len, enum sb_codec c, bool srtp,
                     struct sb_sdp_offer *ans, const char **why);

/* ------------------------------------------------------------------------------------------ */
/* media.c, media_tx.c, media_rx.c: the RTP side */

struct sb_cl_media {
	int fd, rtcp_fd;
	int family;
	uint16_t port; /* ours, even; RTCP on port + 1 */
	bool started;  /* the answer is in: sending and receiving */
	enum sb_codec codec;
	uint8_t pt; /* ours */
	int rx_pt;  /* the answer's, for what we receive */
	int te_pt;  /* the answer's telephone-event, or -1 */
	struct sockaddr_storage peer, peer_rtcp;
	socklen_t peer_len;
	int64_t start_us; /* the answer */

	/* sending */
	const int16_t *play; /* the file's audio, borrowed; NULL: silence */
	size_t play_n, play_pos;
	uint16_t seq;
	uint32_t ts, ssrc;
	bool marker;
	int64_t next_tx_us;
	uint64_t tx_packets, tx_octets, audio_samples_sent;
	int64_t next_rtcp_us;
	struct sb_rtp_tx_stats tx_stats;

	/* keys to send */
	const char *digits; /* borrowed */
	size_t next_digit;
	int64_t next_digit_us;
	struct sb_dtmf_tx dtmf;
	int64_t dtmf_start_us;
	uint32_t dtmf_ts;
	char dtmf_sent[SB_CL_MAX_DIGITS + 1];
	size_t n_dtmf_sent;

	/* receiving */
	struct sb_rtp_rx_stats rx_stats;
	int64_t lost_before; /* by streams the statistics have moved on from */
	uint64_t rx_packets, rx_audio_samples, rx_invalid;
	struct sb_dtmf_rx dtmf_rx;
	char dtmf_received[SB_CL_MAX_DIGITS + 1];
	size_t n_dtmf_received;
	struct sb_cl_timeline timeline;
	struct sb_cl_utter utter;
	struct sb_cl_wav_writer *rec; /* NULL without --record */

	/* SRTP (--srtp): our key (offered), the contexts once the answer is in */
	bool srtp_on;
	struct sb_srtp_key srtp_key;
	struct sb_srtp *srtp;
	int64_t tamper_us; /* when one packet goes out altered (< 0: never) */
	bool tampered;
	uint64_t srtp_rx_failed; /* packets that failed authentication or replay checks */
};

/* Binds an even RTP port and the RTCP port above it on addr (numeric). 0 or -errno. */
int sb_cl_media_open(struct sb_cl_media *m, const char *addr);
/* The answer is in: start sending to it (file audio, then silence) and taking its RTP. */
int sb_cl_media_start(struct sb_cl_media *m, const struct sb_sdp_offer *ans, int64_t now_us);
/* Stops and hands every received sample on to the recording and utterance count. */
void sb_cl_media_finish(struct sb_cl_media *m);
/* Closes the sockets; accepts a closed one. */
void sb_cl_media_close(struct sb_cl_media *m);

/* srtp.c: makes our key (with --srtp; tamper_at_s < 0: no tampering). 0 or -errno. */
int sb_cl_srtp_prepare(struct sb_cl_media *m, bool srtp, double tamper_at_s);
/* srtp.c: the answer is in: the contexts from our key and the answer's (wiped after). */
int sb_cl_srtp_start(struct sb_cl_media *m, struct sb_sdp_offer *ans, int64_t now_us);
/* srtp.c: protects the packet of *len bytes at pkt (cap bytes of room) in place, and alters
 * the one packet due for --tamper-at. False when it cannot be sent. */
bool sb_cl_srtp_out(struct sb_cl_media *m, uint8_t *pkt, size_t *len, size_t cap, bool rtcp);
/* srtp.c: checks and decrypts a received packet in place; false (counted) when it fails. */
bool sb_cl_srtp_in(struct sb_cl_media *m, uint8_t *pkt, size_t *len, bool rtcp);
/* srtp.c: frees the contexts and wipes our key. */
void sb_cl_srtp_done(struct sb_cl_media *m);

/* Sends what is due by now_us: audio or silence every 20 ms, key presses, RTCP. */
void sb_cl_media_tx_tick(struct sb_cl_media *m, int64_t now_us);
/* Sends one RTP packet; counted. */
void sb_cl_media_send(struct sb_cl_media *m, uint8_t pt, bool marker, uint32_t ts,
                      const uint8_t *payload, size_t len);
/* True once every key was sent (or there were none). */
bool sb_cl_media_tx_keys_done(const struct sb_cl_media *m);

/* Reads every datagram waiting on the RTP socket (and drains RTCP). */
void sb_cl_media_rx(struct sb_cl_media *m, int64_t now_us);
/* Packets lost so far by the received sequence numbers. */
uint64_t sb_cl_media_rx_lost(const struct sb_cl_media *m);

/* ------------------------------------------------------------------------------------------ */
/* report.c: the JSON line */

enum sb_cl_hangup { SB_CL_HANGUP_NONE, SB_CL_HANGUP_LOCAL, SB_CL_HANGUP_REMOTE };

/* What became of the BYE the tool sent. */
enum sb_cl_bye {
	SB_CL_BYE_NONE,      /* none was sent: never answered, or the far end hung up first */
	SB_CL_BYE_PENDING,   /* sent, no final answer yet */
	SB_CL_BYE_ANSWERED,  /* its final answer came: bye_code, bye_reason */
	SB_CL_BYE_TIMEOUT,   /* no answer within SB_CL_BYE_WAIT_MS */
	SB_CL_BYE_TRANSPORT, /* it could not be sent */
	SB_CL_BYE_CROSSED,   /* the far end's own BYE came while ours was out: it ended the call */
};

/* A BYE's answer is waited for this long, not for the SIP stack's 32 s (timer F): with the
 * --timeout and --duration before it, the run stays within its hard limit. */
#define SB_CL_BYE_WAIT_MS 3000

struct sb_cl_result {
	int code;
	char reason[128];
	bool answered;
	enum sb_cl_hangup hangup;
	enum sb_cl_bye bye;
	int bye_code; /* SB_CL_BYE_ANSWERED: the final answer's status and phrase */
	char bye_reason[128];
	double duration_s; /* from the answer to the end */
};

/* Writes the one-line JSON summary of the call to f. */
void sb_cl_report(FILE *f, const struct sb_cl_result *r, const struct sb_cl_media *m);

/* ------------------------------------------------------------------------------------------ */
/* main.c, sip.c: the call */

enum sb_cl_state {
	SB_CL_ST_CALLING,    /* INVITE sent, no final answer yet */
	SB_CL_ST_CANCELLING, /* CANCEL sent (--timeout or a signal) */
	SB_CL_ST_ACTIVE,     /* answered, media running */
	SB_CL_ST_ENDING,     /* BYE sent */
	SB_CL_ST_DONE,
};

struct su_root_s;
struct nua_s;
struct nua_handle_s;

struct sb_cl_app {
	const struct sb_cl_opts *opts;
	double duration_s; /* --duration or its default */
	enum sb_cl_state state;
	bool provisional; /* a 1xx came: a CANCEL can be sent */
	int64_t run_ms;   /* the run's start (before the options' name lookup) */
	int64_t start_ms, answer_ms, end_ms;
	int64_t phase_deadline_ms; /* CANCELLING / ENDING give up waiting then */
	struct sb_cl_result res;
	struct sb_cl_media media;
	char failure[SB_CL_ERR_MAX]; /* why an answered call still failed */

	struct su_root_s *root;
	struct nua_s *nua;
	struct nua_handle_s *nh;
	bool nua_down;
	int rtp_idx, rtcp_idx;            /* the media sockets in the root */
	char *tls_dir;                    /* --transport tls: sofia's certificate directory */
	char to_host[SB_CL_HOST_MAX + 1]; /* the --to URI's host, as written */
	/* --transport tls: what sofia's transport log said of a refused certificate, and the text
	 * the run ends with when the INVITE could not be sent because of it ("" otherwise) */
	struct sb_cl_tls_refusal tls_refusal;
	char tls_refused[SB_CL_TLS_TEXT_MAX];
};

/* tls.c: with --transport tls, the directory sofia's TLS transport reads the trusted CAs from
 * (--ca, else the system's CA file) and a throwaway identity for its own listener, and TLS 1.2
 * made the least version. 0 or a negative errno with a line on stderr. */
int sb_cl_tls_prepare(struct sb_cl_app *a);
/* tls.c: removes that directory; accepts an app without one. */
void sb_cl_tls_done(struct sb_cl_app *a);

/* Starts sofia (su_root, nua bound to --local over --transport) and watches the media
 * sockets, which must be open. 0 or a negative errno with a line on stderr. */
int sb_cl_sip_init(struct sb_cl_app *a);
/* Sends the INVITE with the offer for the open media port. 0 or a negative errno. */
int sb_cl_sip_invite(struct sb_cl_app *a);
/* Runs sofia for at most ms milliseconds (events, timers, media sockets). */
void sb_cl_sip_step(struct sb_cl_app *a, long ms);
/* Ends the call from our side: CANCEL before the answer, BYE after it. */
void sb_cl_sip_hangup(struct sb_cl_app *a, int64_t now_ms);
/* Shuts nua down (bounded) and frees sofia; accepts a half-started app. */
void sb_cl_sip_done(struct sb_cl_app *a);
/* Prints a progress line on stderr with --verbose. */
void sb_cl_verbose(const struct sb_cl_app *a, const char *fmt, ...) SB_PRINTF(2, 3);

/* DTMF: RFC 4733 telephone-events received from and sent to the caller (8000 Hz clock), and
 * the SIP INFO bodies some PBXs send instead. Pure. Thread: any (the media thread owns the
 * rx/tx state of its legs, control parses INFO). Owns nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_DTMF_PAYLOAD_BYTES 4
/* An event whose end packets were all lost is reported after this. */
#define SB_DTMF_RX_TIMEOUT_MS 300
#define SB_DTMF_MIN_MS 40    /* shortest event sent */
#define SB_DTMF_MAX_MS 5000  /* longest event sent, longest INFO duration */
#define SB_DTMF_UPDATE_MS 50 /* interval of the sender's update packets */
#define SB_DTMF_END_PACKETS 3

/* "0123456789*#ABCD"[event] for event 0-15, else 0. */
char sb_dtmf_digit(unsigned event);
/* The event code of digit (0-9 * # A-D, also a-d), or -EINVAL. */
int sb_dtmf_event(char digit);

struct sb_dtmf_report {
	char digit; /* 0-9 * # A-D */
	unsigned duration_ms;
};

/* Receive state of one RTP stream; zero-initialise. */
struct sb_dtmf_rx {
	bool active;       /* an event is being received and not reported yet */
	uint32_t ts;       /* its RTP timestamp (the event's start) */
	uint8_t event;     /* its event code */
	uint32_t duration; /* largest duration seen, timestamp units */
	int64_t last_ms;   /* when its latest packet came */
	bool have_last;    /* last_ts is valid */
	uint32_t last_ts;  /* the last reported event's timestamp: its later packets are ignored */
};

/* Feeds one telephone-event payload (len bytes at payload, borrowed) received at now_ms with
 * RTP timestamp ts. Returns the number of completed key presses written to out[0..2) (0, 1 or
 * 2), or -EBADMSG for a payload shorter than 4 bytes or an event code over 15 (state
 * unchanged). A key press is reported once: on its first end packet (later packets with its
 * timestamp are ignored), or, when its ends were lost, as soon as a packet with another
 * timestamp arrives, before that packet is processed. The first packet of any kind with a new
 * timestamp starts an event. A straggler, a timestamp less than 60 s behind the last reported
 * event's, is ignored. duration_ms is the largest duration seen / 8. */
int sb_dtmf_rx_packet(struct sb_dtmf_rx *rx, uint32_t ts, const uint8_t *payload, size_t len,
                      int64_t now_ms, struct sb_dtmf_report out[2]);
/* Reports an unreported event once no packet of it came for SB_DTMF_RX_TIMEOUT_MS (all its
 * end packets lost). Returns 1 with *out filled, else 0. */
int sb_dtmf_rx_poll(struct sb_dtmf_rx *rx, int64_t now_ms, struct sb_dtmf_report *out);

/* One event being sent; zero-initialise. */
struct sb_dtmf_tx {
	bool active;    /* an event is being sent */
	uint8_t event;  /* its event code */
	uint32_t total; /* its duration in timestamp units */
	uint32_t next;  /* elapsed timestamp units at which the next update is due */
	bool started;   /* its first packet went out */
};

/* Starts sending digit for duration_ms (clamped to SB_DTMF_MIN_MS..SB_DTMF_MAX_MS), replacing
 * any event in progress. Returns 0 or -EINVAL (bad digit; tx unchanged). */
int sb_dtmf_tx_start(struct sb_dtmf_tx *tx, char digit, unsigned duration_ms);
/* The packets due once `elapsed` timestamp units (8 per ms) have passed since the event
 * started (the RTP timestamp of every packet is the event's start). Writes up to 3 payloads of
 * SB_DTMF_PAYLOAD_BYTES into out (out[i * 4..]) and returns how many; *marker is set to whether
 * the first one is the event's first packet (RTP marker bit). Schedule (RFC 4733 §2.5.1.2): the
 * first call sends the start packet with duration = elapsed, at least 1 so that no packet
 * claims a zero duration; then one update for each multiple of SB_DTMF_UPDATE_MS * 8 that
 * elapsed has reached, with that multiple as its duration, so that durations step by exactly
 * 50 ms whatever the caller's tick (a late call catches up, up to 3 updates at once, as audio
 * frames do); once elapsed >= total, SB_DTMF_END_PACKETS end packets (E
 * bit, duration = total) together, after which the event is over (active false; calls return
 * 0). If the first call already finds elapsed >= total, only the ends are sent, the first one
 * with the marker. Volume 10 (-10 dBm0). Returns 0 when nothing is due. */
int sb_dtmf_tx_next(struct sb_dtmf_tx *tx, uint32_t elapsed, uint8_t *out, bool *marker);

/* Parses a SIP INFO body (len bytes at body, borrowed, not NUL-terminated). type is the
 * Content-Type's type/subtype, case-insensitive, parameters after ';' ignored:
 * "application/dtmf-relay" with a line "Signal=5" and an optional "Duration=160" (ms; blanks
 * around '=' allowed; CRLF or LF; other lines ignored; the signal is one of 0-9 * # A-D a-d, or
 * 10/11 for * and #), or "application/dtmf" whose body is the signal alone (blanks and line
 * ends around it allowed). On success fills *out (digit upper-case; duration_ms 0 when absent
 * or not a number, else clamped to 0..SB_DTMF_MAX_MS) and returns 0; -ENOTSUP for another
 * content type; -EBADMSG for a body over 1024 bytes or without exactly one valid signal. */
int sb_dtmf_info_parse(const char *type, const char *body, size_t len, struct sb_dtmf_report *out);

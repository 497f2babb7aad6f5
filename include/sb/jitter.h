/* Jitter buffer of one caller RTP stream: puts packets back in sequence order, drops
 * duplicates and late packets, and decides when a missing packet is lost (to be concealed).
 * Audio goes out as soon as it is in order; only a hole makes it wait, for as long as the
 * measured jitter says (adaptive) or a fixed time. Pure. Thread: the media worker owning the
 * leg. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <sb/config.h>
#include <sb/rtp_session.h>

#define SB_JITTER_SLOTS 32          /* packets held at most (a power of two) */
#define SB_JITTER_MAX_PAYLOAD 480   /* 60 ms of G.711, the longest ptime accepted */
#define SB_JITTER_SLOT_PAYLOAD 160  /* held in the slot itself: 20 ms of G.711, the usual ptime */
#define SB_JITTER_MAX_FILL_MS 500   /* a timestamp gap up to this is media time (silence) */
#define SB_JITTER_MAX_LOSS_MS 320   /* a longer hole is a new start, not a loss to conceal */
#define SB_JITTER_WINDOW_US 2000000 /* the path's base delay is the minimum over 2-4 s */

struct sb_jitter_slot {
	bool used;
	bool audio; /* false: another payload type sharing the sequence (telephone-event) */
	bool marker;
	uint8_t pt;
	uint16_t seq;
	uint16_t len;
	uint32_t ts;
	int64_t arrival_us;
	const uint8_t *payload; /* small, the slot's row of the big payloads, or the packet */
	uint8_t small[SB_JITTER_SLOT_PAYLOAD];
};

/* What the buffer has seen. lost: packets never received in time (concealed); late: received
 * after they were concealed; concealed_frames: 20 ms frames of audio synthesised. */
struct sb_jitter_stats {
	uint64_t received, lost, late, duplicated, concealed_frames, resets;
	unsigned jitter_ms, depth_ms; /* the latest estimate and wait */
};

enum sb_jitter_out {
	SB_JITTER_PACKET,  /* slot: the next packet, in order */
	SB_JITTER_CONCEAL, /* samples of lost audio to synthesise */
	SB_JITTER_SILENCE, /* samples of media time without audio packets (an event, a pause) */
};

/* Receives what the buffer releases, in media order. slot is NULL unless kind is PACKET. */
typedef void sb_jitter_out_fn(void *arg, enum sb_jitter_out kind, const struct sb_jitter_slot *slot,
                              unsigned samples);

struct sb_jitter {
	/* settings */
	bool adaptive;
	int64_t min_us, max_us, fixed_us;
	sb_jitter_out_fn *out;
	void *arg;

	/* Storage for held packets: SB_JITTER_SLOTS slots, allocated when a packet has to wait
	 * (one after a hole) and freed when the last one has gone. A packet that continues the
	 * sequence while nothing waits is handed on from the receive buffer itself, so a clean
	 * stream holds none of it. */
	struct sb_jitter_slot *slots;
	/* Payloads longer than a slot holds (a ptime over 20 ms): one row per slot, allocated with
	 * the first such packet held and freed with the slots. */
	uint8_t (*big)[SB_JITTER_MAX_PAYLOAD];
	unsigned n_held;
	bool started, ts_known;
	uint32_t ssrc;
	uint16_t next_seq;     /* the next packet to release */
	uint32_t next_ts;      /* where the next audio begins in media time */
	unsigned last_samples; /* samples of the last audio packet released (the packet time) */
	uint64_t released;     /* bit i: next_seq - 1 - i was released (not concealed) */
	unsigned far_behind;   /* consecutive packets far behind next_seq (a restarted sender) */

	/* delay estimate: transit = arrival - media time, in µs */
	bool have_base;
	int64_t ref_us; /* the media-time origin: ts_ref is at 0 */
	uint32_t ts_ref;
	int64_t min_cur, min_prev, window_start_us;
	int64_t jitter_us; /* peak lateness over the base, decaying */

	struct sb_jitter_stats stats;
};

/* Thread: any. Sets jb up from the rtp settings of cfg; out(arg, ...) receives the releases. */
void sb_jitter_init(struct sb_jitter *jb, const struct sb_config *cfg, sb_jitter_out_fn *out,
                    void *arg);
/* Thread: owner. Frees what jb allocated (the storage of held packets); jb may be set up again. */
void sb_jitter_free(struct sb_jitter *jb);
/* Thread: owner. Takes one packet (copied if it has to wait; h->payload_len must be at most
 * SB_JITTER_MAX_PAYLOAD) received at now_us; audio is false for a payload type that carries no
 * audio (it keeps its sequence place but no media time). Releases what is due. */
void sb_jitter_push(struct sb_jitter *jb, const struct sb_rtp_header *h, bool audio,
                    int64_t now_us);
/* Thread: owner. Releases what has become due by now_us (a hole whose wait is over). */
void sb_jitter_poll(struct sb_jitter *jb, int64_t now_us);
/* Thread: owner. Releases everything held, in order, concealing the holes between. */
void sb_jitter_flush(struct sb_jitter *jb);
/* Thread: owner. The current wait for a missing packet, in µs. */
int64_t sb_jitter_depth_us(const struct sb_jitter *jb);

/* Media worker: one thread with io_uring (or epoll) and a 5 ms tick that owns the RTP legs of its
 * calls: receive, decode, frame caller audio into the up ring; pace bot audio from the down
 * ring out as RTP. Thread: the worker's own; post/wake from any. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sb/mq.h>

struct sb_media_worker;
struct sb_recorder;
struct sb_ws_worker;

/* Where a bridged transfer's audio went when it was dropped on a full buffer. */
enum sb_media_bridge_to {
	SB_MEDIA_BRIDGE_TO_CALLER, /* the agent's audio, relayed to the caller */
	SB_MEDIA_BRIDGE_TO_AGENT,  /* the caller's audio, relayed to the agent */
	SB_MEDIA_BRIDGE_TO_BOT,    /* either party's audio, for a listening bot's mix */
	_SB_MEDIA_BRIDGE_TO_MAX
};

/* Counters, written by the worker, read by anyone. */
struct sb_media_stats {
	atomic_uint_fast64_t rtp_rx_packets, rtp_rx_bad, rtp_rx_other_pt, rtp_tx_packets, up_drops,
	        late_ticks;
	/* io_uring: a leg's receive found every buffer of the worker taken, and waited */
	atomic_uint_fast64_t rx_buffer_waits;
	atomic_uint_fast64_t rtp_rx_bytes, rtp_tx_bytes; /* of the packets counted above */
	/* RTP packets not sent: the kernel refused the send, or SRTP could not protect them */
	atomic_uint_fast64_t rtp_tx_errors;
	/* RTP from outside the caller's addresses and the trunk's ACL; from another allowed
	 * source before it earned the latch */
	atomic_uint_fast64_t rtp_rx_foreign, rtp_rx_unlatched;
	atomic_uint_fast64_t rtcp_tx_packets, rtcp_rx_packets, rtcp_rx_bad;
	/* SRTP and SRTCP packets dropped: failed authentication (forged, tampered, another
	 * key), replayed */
	atomic_uint_fast64_t srtp_rx_auth_fail, srtp_rx_replay;
	/* a bridge's audio pushed out of a full relay or mix buffer (its receiving side fell
	 * 200 ms behind: audio sent faster than real time), in 20 ms frames counted per call as
	 * the call's record counts them (a part of a frame as one), so that they add up to the
	 * records' figures */
	atomic_uint_fast64_t bridge_drop_frames[_SB_MEDIA_BRIDGE_TO_MAX];
};

/* How a media worker runs. */
struct sb_media_opts {
	int io_mode;         /* enum sb_media_io: auto takes io_uring where the system allows it */
	bool realtime;       /* ask for SCHED_FIFO priority 1 (where allowed: else as usual) */
	unsigned rx_buffers; /* io_uring: receive buffers shared by the worker's calls (rounded
	                        up to a power of two, at most 32768; 0: 1024) */
};

/* Thread: control. Creates worker idx; replies go to control; after each tick it wakes every
 * ws worker in ws[0..n_ws); recorded calls go to rec (NULL: none are recorded). Returns 0 or a
 * negative errno (-EPERM and the like: io_uring was asked for and is not allowed). */
int sb_media_worker_new(struct sb_media_worker **ret, unsigned idx, struct sb_mq *control,
                        struct sb_ws_worker **ws, unsigned n_ws, struct sb_recorder *rec,
                        const struct sb_media_opts *opts);
/* Thread: control. Starts the thread. */
int sb_media_worker_start(struct sb_media_worker *w);
/* Thread: any. Hands m to the worker (ownership passes). */
void sb_media_worker_post(struct sb_media_worker *w, struct sb_msg *m);
/* Thread: control. Asks the thread to quit and joins it. */
void sb_media_worker_stop(struct sb_media_worker *w);
/* Thread: control, after stop. Frees; accepts NULL; returns NULL. */
struct sb_media_worker *sb_media_worker_free(struct sb_media_worker *w);
/* Thread: control. The watchdog's question: the worker answers seq at its next turn. */
void sb_media_worker_ping(struct sb_media_worker *w, unsigned seq);
/* Thread: control. True when the worker has answered seq (its thread is not hung). */
bool sb_media_worker_answered(const struct sb_media_worker *w, unsigned seq);
/* Thread: any. The worker's counters. */
const struct sb_media_stats *sb_media_worker_stats(const struct sb_media_worker *w);

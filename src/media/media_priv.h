/* Private to the media worker: a call's media leg and the worker, shared by media_worker.c
 * (the loop, commands), media_rx.c (caller RTP in), media_tx.c (RTP out, paced) and
 * media_rtcp.c (RTCP). Thread: the media worker only. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <sb/call.h>
#include <sb/codec.h>
#include <sb/downlink.h>
#include <sb/dtmf.h>
#include <sb/jitter.h>
#include <sb/media_worker.h>
#include <sb/mq.h>
#include <sb/pcm_fifo.h>
#include <sb/recorder.h>
#include <sb/rtcp.h>
#include <sb/rtp_session.h>
#include <sb/rtp_source.h>
#include <sb/srtp_ctx.h>
#include <sb/up_spill.h>
#include <sb/worker_thread.h>

#define SB_MEDIA_RX_BATCH 32  /* datagrams read per readiness event per socket */
#define SB_MEDIA_TICK_US 5000 /* the worker's clock: pacing, bot audio starting, DTMF updates */
#define SB_MEDIA_MAX_PAYLOAD_SAMPLES SB_JITTER_MAX_PAYLOAD
/* A datagram longer than this is not RTP any call carries (60 ms of G.711, every CSRC, an
 * extension, the SRTP tag): dropped as bad. */
#define SB_MEDIA_RX_PACKET_BYTES 1024
/* The longest RTP packet the bridge sends: 20 ms of G.711 and the SRTP tag. */
#define SB_MEDIA_TX_PACKET_BYTES (SB_RTP_HEADER_BYTES + SB_FRAME_SAMPLES + SB_SRTP_MAX_TRAILER)

struct sb_media_uring;

/* What an epoll event names: a leg's RTP or RTCP socket. */
struct sb_leg_io {
	struct sb_media_leg *leg;
	bool rtcp;
};

/* The caller's RTCP reports, as last read. */
struct sb_caller_reports {
	unsigned count;
	uint8_t fraction_lost;
	int32_t cumulative_lost;
	unsigned jitter_ms;
	int rtt_ms; /* -1: unknown */
};

struct sb_media_leg {
	/* walked on every tick: together at the front */
	LIST_ENTRY(sb_media_leg) link;
	int64_t next_tx_us; /* when the next 20 ms frame is due */
	bool held;          /* the jitter buffer holds packets behind a hole */

	struct sb_call *call; /* a reference */
	struct sb_media_worker *w;
	int fd, rtcp_fd;
	struct sb_leg_io io_rtp, io_rtcp;
	enum sb_codec codec;
	uint8_t pt;
	bool can_send, expect_rx, marker, timed_out;
	bool mute; /* a listening bot without listen_send_silence: nothing is sent to the caller */
	bool has_addr;            /* the SDP names an address (RTCP goes on during a hold) */
	struct sb_rtp_source src; /* who may send to us, and where we send */
	struct sb_downlink down;  /* bot audio to play, marks played */
	uint16_t seq;
	uint32_t ts, ssrc;
	int64_t last_rx_ms;
	/* The call's rtp.timeout_s in ms (0: none), kept here so that the tick, which visits every
	 * leg every 5 ms, does not read the call, whose lines the ws threads write. */
	int64_t rtp_timeout_ms;
	int16_t up_acc[SB_FRAME_SAMPLES]; /* caller audio being framed into 20 ms */
	unsigned up_n;
	int64_t up_at_us;            /* when the audio being framed was last added to (monotonic) */
	struct sb_up_spill up_spill; /* frames waiting for room in the up ring */

	/* caller → bot */
	struct sb_jitter jb;
	struct sb_plc *plc;
	int te_pt; /* the caller's telephone-event payload type, -1: none */
	struct sb_dtmf_rx dtmf_rx;

	/* DTMF sent on this leg (from the bot, or the other party of a bridge) */
	struct sb_dtmf_tx dtmf_tx;
	int64_t dtmf_start_us;
	uint32_t dtmf_ts;

	/* bridged transfer: the caller's leg and the agent's leg relay to each other */
	bool agent;                /* this is the agent's leg (c->leg is the caller's) */
	struct sb_media_leg *peer; /* the other party's leg */
	struct sb_pcm_fifo *relay; /* the other party's audio, to send on this leg */
	struct sb_pcm_fifo *mix;   /* caller's leg in listen mode: [0] caller, [1] agent */
	uint64_t mix_seen[2];      /* mix[i].dropped already counted */

	/* SDES-SRTP (NULL: plain RTP); packets that failed its checks, for the end-of-call line */
	struct sb_srtp *srtp;
	uint64_t srtp_auth_fail, srtp_replay;
	uint64_t tx_errors; /* RTP packets not sent (sb_media_tx_failed), for the same line */

	/* the call's recording (the caller's leg only), NULL when not recorded */
	struct sb_rec *rec;

	/* io_uring (media_uring.c): the leg's requests the kernel holds; a dead leg is gone from
	 * the call and waits for the last of them to be freed */
	unsigned io_refs;
	unsigned file_slot; /* 1 + the RTP socket's index in the ring's file table; 0: none */
	bool dead;

	/* RTCP */
	struct sb_rtp_rx_stats rx;
	struct sb_rtp_tx_stats tx;
	struct sb_caller_reports reports;
	struct sockaddr_storage rtcp_peer; /* where the caller's RTCP comes from, once it has */
	socklen_t rtcp_peer_len;
	int64_t next_rtcp_ms;
};

struct sb_media_worker {
	unsigned idx;
	pthread_t thread;
	bool started, quit;
	int epfd, tfd;
	int io_mode;                  /* enum sb_media_io: epoll or io_uring, as probed */
	bool realtime;                /* ask for SCHED_FIFO */
	struct sb_media_uring *uring; /* NULL: the epoll loop */
	struct sb_mq *mq, *control;
	struct sb_ws_worker **ws;
	unsigned n_ws;
	struct sb_recorder *recorder; /* NULL: no recordings */
	LIST_HEAD(, sb_media_leg) legs;
	unsigned n_legs;
	struct sb_media_stats stats;
	struct sb_heartbeat heartbeat; /* for the watchdog */
	unsigned ticks;                /* the ws workers refill the down rings every SB_FRAME_MS */
	/* The time of the last tick on the worker's 5 ms grid. Legs are scheduled on the grid, so
	 * a frame is due exactly at a tick and a late wake-up cannot move it to the next one. */
	int64_t tick_us;
};

/* The worker's counters have one writer, the worker's thread, and are read elsewhere (the
 * metrics): a plain load and store, not a locked add, on the path of every packet. */
#define STAT_ADD(w, f, n)                                                                          \
	atomic_store_explicit(&(w)->stats.f,                                                       \
	                      atomic_load_explicit(&(w)->stats.f, memory_order_relaxed) + (n),     \
	                      memory_order_relaxed)
#define STAT_INC(w, f) STAT_ADD(w, f, 1)

/* media_worker.c: the work of `expirations` 5 ms ticks, the last of them at now_us (on the
 * worker's grid): every leg's due sends, jitter releases, RTCP and RTP timeout; the ws
 * workers' refill every 20 ms. */
void sb_media_tick(struct sb_media_worker *w, unsigned expirations, int64_t now_us);
/* media_worker.c: runs the commands waiting in the worker's queue. */
void sb_media_drain(struct sb_media_worker *w);

/* media_uring.c: the ring of worker w, disabled until its thread enables it, with rx_buffers
 * receive buffers (struct sb_media_opts). Returns 0 or a negative errno (the kernel or its
 * policy forbids io_uring: the epoll loop is used). */
int sb_media_uring_new(struct sb_media_worker *w, unsigned rx_buffers);
/* media_uring.c: from the worker's thread, which becomes the ring's only submitter. Returns 0
 * or a negative errno (logged). */
int sb_media_uring_enable(struct sb_media_worker *w);
/* media_uring.c: the loop until quit. */
void sb_media_uring_run(struct sb_media_worker *w);
/* media_uring.c: waits (bounded) for the dead legs' requests, then frees the ring; from the
 * worker's thread, or from any once the thread is gone (or never ran). Accepts no ring. */
void sb_media_uring_free(struct sb_media_worker *w);
/* media_uring.c: arms a new leg's RTP receive and RTCP poll. */
void sb_media_uring_leg_added(struct sb_media_worker *w, struct sb_media_leg *leg);
/* media_uring.c: a freed leg (off the worker's list, sockets closed): true when the kernel
 * still holds requests of it, which are cancelled; it is freed with the last. */
bool sb_media_uring_leg_gone(struct sb_media_worker *w, struct sb_media_leg *leg);
/* media_uring.c: queues one RTP packet of len bytes (octets of payload) to the leg's peer,
 * sent at the next submission. False: not queued (no slot), to be sent otherwise. */
bool sb_media_uring_send(struct sb_media_worker *w, struct sb_media_leg *leg, const uint8_t *pkt,
                         size_t len, size_t octets);
/* media_uring.c: runs the completions waiting. True when the command queue has work. */
bool sb_media_uring_reap(struct sb_media_worker *w);

/* media_rx.c: reads the caller's RTP on the leg's socket into the jitter buffer. */
void sb_media_on_rtp(struct sb_media_worker *w, struct sb_media_leg *leg);
/* media_rx.c: one datagram of n bytes that came to the leg's RTP socket from `from`:
 * checked, decrypted, parsed and handed to the jitter buffer, or dropped and counted. */
void sb_media_rx_datagram(struct sb_media_worker *w, struct sb_media_leg *leg, uint8_t *buf,
                          size_t n, const struct sockaddr_storage *from, socklen_t len);
/* media_rx.c: the jitter buffer's releases (decoded, concealed or DTMF) into the up ring. */
sb_jitter_out_fn sb_media_on_jitter;
/* media_rx.c: moves caller frames that waited for room onto the up ring; releases what the
 * jitter buffer holds past its wait; reports DTMF whose end packets were lost. */
void sb_media_rx_poll(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now_us);
/* media_rx.c: puts an event without data (HOLD, UNHOLD) on the up ring, in order with the
 * caller's audio, and names the call to its ws worker. */
void sb_media_up_event(struct sb_media_leg *leg, enum sb_frame_kind kind);
/* media_rx.c: appends caller audio to the up ring, cut into 20 ms frames. */
void sb_media_up_push(struct sb_media_leg *leg, const int16_t *pcm, size_t n);
/* media_rx.c: the caller's last samples short of a frame (ptime 10 or 30, say), as a shorter
 * frame, at the call's end. */
void sb_media_up_flush(struct sb_media_leg *leg);
/* media_rx.c: counts what a listening bot's mix dropped since it was last asked (before each
 * mix frame and at the end), in the worker's and the call's bridge drops; no-op without one. */
void sb_media_count_mix_drops(struct sb_media_leg *leg);
/* media_tx.c: starts sending digit on the leg (the other party of a bridge pressed it). */
void sb_media_tx_dtmf(struct sb_media_worker *w, struct sb_media_leg *leg, char digit,
                      unsigned duration_ms, int64_t now_us);
/* media_tx.c: sends what is due for the leg at now_us: its 20 ms frames (bot audio, or
 * silence), DTMF packets; starts bot audio at once on an idle leg. */
void sb_media_tx_tick(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now_us);
/* media_tx.c: counts an RTP packet of len bytes (octets of payload) that went out. */
void sb_media_tx_sent(struct sb_media_worker *w, struct sb_media_leg *leg, size_t len,
                      size_t octets);
/* media_tx.c: an RTP packet of the leg not sent: err is the send's errno, 0 when SRTP could not
 * protect it. Counted; the leg's first is logged with its address and cause. */
void sb_media_tx_failed(struct sb_media_worker *w, struct sb_media_leg *leg, int err);
/* media_tx.c: a new leg's RTP state: random seq, timestamp and SSRC, first frame now. */
void sb_media_tx_init(struct sb_media_leg *leg, int64_t now_us);

/* media_rtcp.c: sends the leg's compound SR/RR when its interval has come (now in ms). */
void sb_media_send_rtcp(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now);
/* media_rtcp.c: reads the caller's RTCP on the leg's RTCP socket. */
void sb_media_on_rtcp(struct sb_media_worker *w, struct sb_media_leg *leg);
/* media_rx.c: unprotects an SRTP/SRTCP packet in place on an SRTP leg (plain legs: nothing
 * to do); a packet that fails is counted and must be dropped unread. Returns true to go on. */
bool sb_media_srtp_in(struct sb_media_worker *w, struct sb_media_leg *leg, uint8_t *buf,
                      size_t *len, bool rtcp);
/* media_rtcp.c: logs the leg's RTP and RTCP statistics once, at its end. */
void sb_media_log_stats(struct sb_media_leg *leg);

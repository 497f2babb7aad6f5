/* Private to the media worker: a call's media leg and the worker, shared by media_worker.c
 * (the loop, RTP, pacing) and media_rtcp.c (RTCP). Thread: the media worker only. */
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
#include <sb/media_worker.h>
#include <sb/mq.h>
#include <sb/rtcp.h>
#include <sb/rtp_source.h>
#include <sb/worker_thread.h>

#define SB_MEDIA_RX_BATCH 32 /* datagrams read per readiness event per socket */

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
	struct sb_call *call; /* a reference */
	LIST_ENTRY(sb_media_leg) link;
	int fd, rtcp_fd;
	struct sb_leg_io io_rtp, io_rtcp;
	enum sb_codec codec;
	uint8_t pt;
	bool can_send, expect_rx, marker, timed_out;
	bool has_addr;            /* the SDP names an address (RTCP goes on during a hold) */
	struct sb_rtp_source src; /* who may send to us, and where we send */
	struct sb_downlink down;  /* bot audio to play, marks played */
	uint16_t seq;
	uint32_t ts, ssrc;
	int64_t last_rx_ms;
	int16_t up_acc[SB_FRAME_SAMPLES]; /* caller audio being framed into 20 ms */
	unsigned up_n;

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
	struct sb_mq *mq, *control;
	struct sb_ws_worker **ws;
	unsigned n_ws;
	LIST_HEAD(, sb_media_leg) legs;
	unsigned n_legs;
	struct sb_media_stats stats;
	struct sb_heartbeat heartbeat; /* for the watchdog */
};

#define STAT_INC(w, f) atomic_fetch_add_explicit(&(w)->stats.f, 1, memory_order_relaxed)

/* media_rtcp.c: sends the leg's compound SR/RR when its interval has come (now in ms). */
void sb_media_send_rtcp(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now);
/* media_rtcp.c: reads the caller's RTCP on the leg's RTCP socket. */
void sb_media_on_rtcp(struct sb_media_worker *w, struct sb_media_leg *leg);
/* media_rtcp.c: logs the leg's RTP and RTCP statistics once, at its end. */
void sb_media_log_stats(struct sb_media_leg *leg);

/* struct sb_call: one bridged call, shared by the control thread, one media worker and one
 * ws worker. Fields are grouped by owner; only the atomics and the rings cross threads.
 * Thread: any (ref/unref); fields as annotated. */
#pragma once

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <sb/bot_proto.h>
#include <sb/call_fsm.h>
#include <sb/config.h>
#include <sb/ring.h>
#include <sb/route.h>
#include <sb/sdp_neg.h>
#include <sb/up_spill.h>

#define SB_CALL_ID_LEN SB_BOT_SID_LEN
/* A ring has to bridge one ws service pass: the ws worker drains up as soon as a frame is named
 * ready (sb_ws_worker_notify) and refills down from the playout queue on every media wake-up
 * (each 20 ms), so a ring runs full (up) or dry (down) only when a pass takes longer than the
 * ring lasts. Caller audio that finds up full waits on the media side (up_spill.h), 640 ms in
 * all with the ring's, before it is dropped for good (counted): passes over 320 ms do occur on
 * a CPU-starved ws thread. A ring cycles through all its slots, so all of it stays resident;
 * up holds a frame or two nearly always, and its 8 slots save 8 KiB of every call against 32.
 * Down running dry loses nothing (the bot's audio waits in the playout queue; the caller hears
 * a gap as long as the pass overran), so it has 320 ms. */
#define SB_UP_RING_FRAMES 8    /* 160 ms of caller audio between media and ws */
#define SB_DOWN_RING_FRAMES 16 /* 320 ms of bot audio between ws and media */
#define SB_CALL_DTMF_MAX 64    /* caller keys kept for the call-end record */

/* The directions of enum sb_media_bridge_to (caller, agent, bot), for the call's drops. */
#define SB_CALL_BRIDGE_TO_MAX 3

struct sb_media_leg;
struct sb_bot_conn;
struct sb_xfer;
struct sb_transfer_req;

struct sb_call {
	atomic_int refs;

	/* const after setup (written by control before the call is handed to any worker) */
	char id[SB_CALL_ID_LEN + 1]; /* call_sid for the bot and the log context */
	char stream_sid[SB_CALL_ID_LEN + 1];
	char *sip_call_id;
	char *from_user;
	char *to_user;
	char *account_sid;
	struct sb_kv *params; /* custom parameters, names and values owned */
	size_t n_params;
	struct sb_config *cfg;        /* the snapshot the call started with (a reference) */
	const struct sb_trunk *trunk; /* inside cfg */
	const struct sb_bot_cfg *bot; /* inside cfg */
	struct sb_sdp_offer offer;    /* delayed offer: filled from the ACK, before MEDIA_ATTACH */
	struct sockaddr_storage remote_rtp; /* from the offer */
	socklen_t remote_rtp_len;
	char local_addr[64]; /* advertised in the answer */
	uint16_t local_port;
	int rtp_fd, rtcp_fd; /* bound by control, owned by the media leg once attached */
	struct sockaddr_storage sig_src; /* where the INVITE came from (RTP may come from there) */
	socklen_t sig_src_len;
	unsigned media_idx, ws_idx; /* the workers this call is sharded to */

	/* crossing threads */
	struct sb_ring up;   /* media → ws: caller PCM, marks played */
	struct sb_ring down; /* ws → media: bot PCM, marks */
	/* Each of the next three groups has a cache line of its own: the media thread reads the
	 * first on every frame, both threads write the second once a message, and the media
	 * thread writes the third on every packet. */
	_Alignas(64) atomic_uint clear_epoch; /* bumped by ws on clear; media drops older frames */
	_Alignas(64) atomic_bool _ready; /* on its ws worker's ready list (sb_ws_worker_notify) */
	/* ws → media: frames of caller audio on the up ring that complete the bot's next media
	 * message (1: name the call for every frame); see sb_call_up_due() */
	atomic_uint up_need;
	struct sb_call *_ready_next;
	/* media → anyone: the caller leg's packets so far */
	_Alignas(64) atomic_uint rtp_in_live;
	atomic_uint rtp_out_live;
	/* media → ws at detach: up frames that waited for room in the ring (written before
	 * MEDIA_DETACHED, read after a BOT_DETACH that says so), freed with the call */
	struct sb_up_spill up_left;

	/* control */
	_Alignas(64) void *nh; /* nua_handle_t */
	struct sb_call_fsm fsm;
	bool media_attached, ws_attached;
	bool bot_detach_waits; /* detaching: the bot is stopped once the media leg is gone */
	bool ending;           /* being detached: no longer counted against limits.max_calls */
	bool admin_hangup;     /* the admin API asked for the hangup (ended as a bot hangup is) */
	const char *stop_reason;
	char contact[160]; /* our Contact where nua's would be wrong (a TLS listener), else "" */
	bool late_offer;   /* the INVITE had no SDP: our offer went in the 200, the answer comes in
	                      the ACK */
	bool reoffer_pending;   /* an offer-less re-INVITE got our offer: its ACK has the answer */
	bool refresh_by_invite; /* we refresh the session with re-INVITEs and ACK their 200s */
	uint32_t refresh_cseq;  /* the CSeq of the last refresh 200 we ACKed (a retransmission) */
	bool refresh_acked_answer; /* that ACK carried our answer (answer_sdp) */
	int64_t refresh_retry_ms;  /* a refresh answered 491 goes again then (0: none) */
	bool held;                 /* the caller has put the call on hold */
	struct sb_xfer *xfer;      /* a transfer under way (sip_agent_priv.h) */
	/* A transfer to start at the caller's ACK: on_fail = transfer (answered without a bot), or
	 * asked for (by the bot, or by on_close = transfer) between our 200 and the ACK */
	bool transfer_after_ack;
	bool after_ack_bot_gone;               /* that transfer's outcome ends the call or not */
	struct sb_transfer_req *after_ack_req; /* its target and headers (NULL: the trunk's) */
	bool bridged; /* a bridged transfer joined the agent: the bot is out of it */
	struct sb_sdp_offer offer_now; /* the latest accepted offer (re-INVITEs update it) */
	char *answer_sdp;              /* the answer last sent */
	uint64_t sdp_session_id, sdp_version;
	int64_t t_invite_ms, t_answer_ms;
	LIST_ENTRY(sb_call) reg; /* in the SIP agent's registry */
	/* for the call-end record: wall-clock (CLOCK_REALTIME) ms, 0 until it happened */
	int64_t wall_invite_ms, wall_answer_ms, wall_end_ms;
	int end_ev;               /* enum sb_call_event that ended the call, -1 until then */
	int sip_status;           /* final response to the INVITE, 0 before one */
	bool answer_counted;      /* its 200 went out (nua said so) and was counted */
	char *xfer_target;        /* the last transfer asked for (NULL: none) */
	const char *xfer_outcome; /* "pending", "succeeded", "failed" */
	char info_dtmf[SB_CALL_DTMF_MAX + 1]; /* keys the caller sent by INFO */

	/* media worker */
	struct sb_media_leg *leg;
	/* the caller's leg, for the call-end record: written by the media worker until it
	 * replies MEDIA_DETACHED, read by control after that */
	uint32_t rtp_packets_in, rtp_packets_out;
	int32_t rtp_lost;
	char dtmf[SB_CALL_DTMF_MAX + 1]; /* RFC 4733 keys from the caller, in order */
	/* the call's share of the media workers' drop counters: 20 ms frames of caller audio not
	 * queued for the bot; samples a bridged transfer dropped, by enum sb_media_bridge_to */
	uint64_t up_drop_frames;
	uint64_t bridge_drop_samples[SB_CALL_BRIDGE_TO_MAX];

	/* ws worker; read by control after BOT_DETACHED */
	struct sb_bot_conn *conn;
	uint64_t bot_frames_in, bot_frames_out; /* WebSocket messages from / to the bot */
	/* 20 ms frames the ws worker dropped: caller audio to the bot, bot audio to the caller */
	uint64_t tx_drop_frames, rx_drop_frames;
};

/* Thread: the media worker (the only writer). Counts one packet in *n: a plain relaxed store,
 * no read-modify-write on the audio path. */
static inline void sb_call_count_packet(atomic_uint *n)
{
	atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

/* Thread: the media worker, once a frame of caller audio is on the up ring. Whether its ws
 * worker is to be named now: once the frames waiting complete the bot's next media message
 * (up_need), not for every 20 ms frame of it. Each side writes, fences, then reads what the
 * other writes (sb_call_up_need_set()), so a frame that lands while the ws worker publishes a
 * new need is either taken by it or counted here against that need: none waits unnamed. */
static inline bool sb_call_up_due(struct sb_call *c)
{
	atomic_thread_fence(memory_order_seq_cst);
	return sb_ring_count(&c->up) >= atomic_load_explicit(&c->up_need, memory_order_relaxed);
}

/* Thread: the ws worker, having taken every frame on the up ring. Publishes need (at least 1)
 * and returns true when frames came meanwhile that the media worker may not name the call
 * for: the caller takes them now. */
static inline bool sb_call_up_need_set(struct sb_call *c, unsigned need)
{
	atomic_store_explicit(&c->up_need, need ? need : 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return sb_ring_count(&c->up) >= (need ? need : 1);
}

/* Thread: control. Allocates a call with one reference, generated ids, rings and no sockets.
 * Returns 0 or -ENOMEM. */
int sb_call_new(struct sb_call **ret);
/* Thread: any. Takes a reference; returns c. */
struct sb_call *sb_call_ref(struct sb_call *c);
/* Thread: any. Drops a reference; the last one frees everything the call owns (closing
 * rtp_fd and rtcp_fd if still set). Accepts NULL; returns NULL. */
struct sb_call *sb_call_unref(struct sb_call *c);
/* Thread: control. Stores a copy of the custom parameters. Returns 0 or -ENOMEM. */
int sb_call_set_params(struct sb_call *c, const struct sb_kv *params, size_t n);
/* Thread: any. Fills buf with n random lowercase hex digits and a NUL (buf holds n + 1). */
void sb_random_hex(char *buf, size_t n);

/* Media worker thread: its legs' RTP sockets, its command queue and one 5 ms tick that paces
 * every leg (media_rx.c takes caller RTP in, media_tx.c sends bot audio out), on io_uring
 * (media_uring.c) or, where the system does not allow that, on epoll and a timerfd (here).
 * Here: the epoll loop, the tick, attaching, updating and freeing legs.
 * Thread: its own. Owns the legs (sockets, RTP state, SRTP contexts, jitter buffers,
 * framing buffers). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOG_SUBSYS "media"
#include <sb/log.h>

#include <sb/call.h>
#include <sb/codec.h>
#include <sb/downlink.h>
#include <sb/media_worker.h>
#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/rtcp.h>
#include <sb/rtp_session.h>
#include <sb/rtp_source.h>
#include <sb/ws_worker.h>

#include "media_priv.h"

#define MAX_EVENTS 64

static void free_leg(struct sb_media_worker *w, struct sb_media_leg *leg, bool notify);

static void reply(struct sb_media_worker *w, int type, struct sb_call *c)
{
	struct sb_msg *m = sb_msg_new(type, c, 0);

	if (m)
		sb_mq_push(w->control, m);
	else
		log_error("Out of memory replying to control");
}

void sb_media_tick(struct sb_media_worker *w, unsigned expirations, int64_t now_us)
{
	int64_t now = now_us / 1000;
	struct sb_media_leg *leg;

	w->tick_us = now_us;
	if (expirations > 1)
		STAT_ADD(w, late_ticks, expirations - 1);
	LIST_FOREACH(leg, &w->legs, link)
	{
		sb_media_rx_poll(w, leg, now_us);
		sb_media_tx_tick(w, leg, now_us);
		if (now >= leg->next_rtcp_ms)
			sb_media_send_rtcp(w, leg, now);
		if (leg->rtp_timeout_ms > 0 && leg->expect_rx && !leg->timed_out &&
		    now - leg->last_rx_ms > leg->rtp_timeout_ms) {
			leg->timed_out = true;
			sb_log_ctx_set(leg->call->id);
			log_notice("No RTP for %d s", leg->call->cfg->rtp_timeout_s);
			sb_log_ctx_set(NULL);
			reply(w, SB_MSG_RTP_TIMEOUT, leg->call);
		}
	}
	/* The ws workers refill the down rings from their playout queues once a frame time;
	 * caller audio does not wait for this (sb_ws_worker_notify). */
	w->ticks += expirations;
	if (w->ticks >= SB_FRAME_MS * 1000 / SB_MEDIA_TICK_US) {
		w->ticks = 0;
		if (!LIST_EMPTY(&w->legs))
			for (unsigned i = 0; i < w->n_ws; i++)
				sb_ws_worker_wake(w->ws[i]);
	}
}

/* The epoll loop's timerfd. */
static void on_timer(struct sb_media_worker *w)
{
	uint64_t expirations = 0;

	if (read(w->tfd, &expirations, sizeof(expirations)) != sizeof(expirations) || !expirations)
		return;
	if (expirations > UINT_MAX)
		expirations = UINT_MAX;
	/* The timerfd's expirations are on the grid it was armed on. */
	sb_media_tick(w, (unsigned)expirations,
	              w->tick_us + (int64_t)expirations * SB_MEDIA_TICK_US);
}

/* What the caller's SDP direction and address allow: we send unless it holds the call; the
 * RTP timeout only counts while the caller is expected to send. */
static void set_direction(struct sb_media_leg *leg, const struct sb_sdp_offer *o)
{
	leg->has_addr = !sb_sdp_no_address(o);
	leg->can_send = !sb_sdp_held(o);
	leg->expect_rx = o->dir == SB_DIR_SENDRECV || o->dir == SB_DIR_SENDONLY;
	leg->last_rx_ms = sb_now_ms();
	leg->timed_out = false;
}

/* A leg on the sockets fds[0] (RTP) and fds[1] (RTCP), which it owns from here on (closed
 * on failure), sending to remote as offer says; RTP is taken from remote, sig and acl. */
static struct sb_media_leg *new_leg(struct sb_media_worker *w, struct sb_call *c, const int fds[2],
                                    const struct sb_sdp_offer *offer,
                                    const struct sockaddr_storage *remote, socklen_t remote_len,
                                    const struct sockaddr_storage *sig, socklen_t sig_len,
                                    const struct sb_cidr *acl, size_t n_acl)
{
	struct sb_media_leg *leg = calloc(1, sizeof(*leg));
	struct epoll_event ev = {.events = EPOLLIN};

	if (leg)
		leg->plc = sb_plc_new();
	if (!leg || !leg->plc) {
		free(leg);
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	leg->call = sb_call_ref(c);
	leg->w = w;
	leg->fd = fds[0];
	leg->rtcp_fd = fds[1];
	leg->codec = offer->codec;
	leg->pt = offer->pt;
	leg->te_pt = offer->te_pt;
	leg->rtp_timeout_ms = (int64_t)c->cfg->rtp_timeout_s * 1000;
	sb_jitter_init(&leg->jb, c->cfg, sb_media_on_jitter, leg);
	set_direction(leg, offer);
	sb_rtp_source_init(&leg->src, (const struct sockaddr *)remote, remote_len,
	                   (const struct sockaddr *)sig, sig_len, acl, n_acl);
	sb_media_tx_init(leg, w->tick_us + SB_MEDIA_TICK_US); /* the next tick */
	leg->reports.rtt_ms = -1;
	/* RFC 3550 6.2: the first report after half an interval, spread over 1 s. */
	leg->next_rtcp_ms = sb_now_ms() + SB_RTCP_INTERVAL_MS / 2 + leg->seq % 1000;
	leg->io_rtp = (struct sb_leg_io){leg, false};
	leg->io_rtcp = (struct sb_leg_io){leg, true};
	if (w->uring)
		sb_media_uring_leg_added(w, leg);
	ev.data.ptr = &leg->io_rtp;
	if (!w->uring && epoll_ctl(w->epfd, EPOLL_CTL_ADD, leg->fd, &ev) < 0)
		log_error_errno(errno, "epoll_ctl");
	ev.data.ptr = &leg->io_rtcp;
	if (!w->uring && epoll_ctl(w->epfd, EPOLL_CTL_ADD, leg->rtcp_fd, &ev) < 0)
		log_error_errno(errno, "epoll_ctl");
	LIST_INSERT_HEAD(&w->legs, leg, link);
	w->n_legs++;
	return leg;
}

/* The caller's leg of a call whose bot (else trunk) names a folder: recorded from its first
 * slot on. */
static void start_recording(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	const struct sb_call *c = leg->call;
	const char *folder = c->bot->record && *c->bot->record ? c->bot->record : c->trunk->record;

	if (!folder || !*folder)
		return;
	leg->rec = sb_rec_open(w->recorder, folder, c->id, leg->next_tx_us);
	if (!leg->rec) {
		sb_log_ctx_set(c->id);
		log_warn("Cannot record the call (no recorder or out of memory), ignoring");
		sb_log_ctx_set(NULL);
	}
}

/* The leg's SRTP contexts from the attach message's keys, which are wiped here whatever
 * happens. Returns 0 (also for a plain call) or a negative errno. */
static int start_srtp(struct sb_media_leg *leg, struct sb_srtp_keys *k)
{
	int r = 0;

	if (k->suite != SB_SRTP_NONE)
		r = sb_srtp_new(&leg->srtp, k);
	sb_srtp_wipe(k, sizeof(*k));
	if (r < 0) {
		sb_log_ctx_set(leg->call->id);
		log_error_errno(r, "Cannot set up SRTP, the call has no media");
		sb_log_ctx_set(NULL);
	}
	return r;
}

static void attach(struct sb_media_worker *w, struct sb_msg *m)
{
	struct sb_media_attach *at = m->data;
	struct sb_call *c = m->call;
	int fds[2] = {at->rtp_fd, at->rtcp_fd};

	c->leg = new_leg(w, c, fds, &c->offer, &c->remote_rtp, c->remote_rtp_len, &c->sig_src,
	                 c->sig_src_len, c->trunk->acl, c->trunk->n_acl);
	if (c->leg && start_srtp(c->leg, &at->srtp) < 0) {
		free_leg(w, c->leg, true); /* as when out of memory: the call has no media */
		return;
	}
	sb_srtp_wipe(&at->srtp, sizeof(at->srtp));
	if (c->leg) {
		c->leg->mute = c->bot->mode == SB_MODE_LISTEN && !c->bot->listen_send_silence;
		start_recording(w, c->leg);
		if (!c->leg->can_send) /* a call that starts on hold */
			sb_media_up_event(c->leg, SB_FRAME_HOLD);
	}
	if (!c->leg) {
		log_error("Out of memory attaching a media leg");
		reply(w, SB_MSG_MEDIA_DETACHED, c);
	}
}

/* A bridged transfer: the agent's leg joins the caller's, and from now on each relays the
 * other's audio (transcoded and re-framed to 20 ms by decoding and encoding again). */
static void bridge(struct sb_media_worker *w, struct sb_call *c, const struct sb_media_bridge *b)
{
	int fds[2] = {b->rtp_fd, b->rtcp_fd};
	struct sb_media_leg *caller = c->leg, *agent;

	if (!caller || caller->peer) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	agent = new_leg(w, c, fds, &b->agent, &b->remote, b->remote_len, &b->remote, b->remote_len,
	                NULL, 0);
	if (agent) {
		agent->agent = true;
		agent->relay = calloc(1, sizeof(*agent->relay));
		caller->relay = calloc(1, sizeof(*caller->relay));
		caller->mix = b->listen ? calloc(2, sizeof(*caller->mix)) : NULL;
	}
	if (!agent || !agent->relay || !caller->relay || (b->listen && !caller->mix)) {
		log_error("Out of memory bridging the agent's media");
		if (agent) /* not left behind with the call's reference and its sockets */
			free_leg(w, agent, false);
		free(caller->relay);
		free(caller->mix);
		caller->relay = NULL;
		caller->mix = NULL;
		return;
	}
	agent->peer = caller;
	caller->peer = agent;
}

/* A re-INVITE changed codec, address or direction. A new address is where RTP goes, and
 * where it may come from, until the caller's packets show where they really come from
 * (latching again); that holds for a hold (sendonly) too, whose music comes from there. */
static void update(struct sb_media_leg *leg, struct sb_media_update *u)
{
	bool could_send = leg->can_send;

	/* The caller's new SRTP key: a fresh inbound context (what we send does not change). */
	if (u->rekey && leg->srtp && sb_srtp_set_rx(leg->srtp, &u->rx) < 0)
		log_error("Cannot take the caller's new SRTP key; its packets will be dropped");
	sb_srtp_wipe(&u->rx, sizeof(u->rx));

	leg->codec = u->offer.codec;
	leg->pt = u->offer.pt;
	leg->te_pt = u->offer.te_pt;
	set_direction(leg, &u->offer);
	/* The bot learns of a hold only once nothing goes to the caller any more (and of the
	 * end of one once it does again): told from here, after the ring, never before. */
	if (could_send != leg->can_send)
		sb_media_up_event(leg, leg->can_send ? SB_FRAME_UNHOLD : SB_FRAME_HOLD);
	/* An old-style hold names no address (0.0.0.0 or port 0): keep the current one. */
	if (!sb_sdp_no_address(&u->offer) &&
	    sb_rtp_source_set_sdp(&leg->src, (const struct sockaddr *)&u->remote, u->remote_len))
		leg->rtcp_peer_len = 0; /* RTCP follows the media until the new place sends some */
}

static void free_leg(struct sb_media_worker *w, struct sb_media_leg *leg, bool notify)
{
	struct sb_call *c = leg->call;

	if (leg->peer) { /* the two legs of a bridge go together */
		struct sb_media_leg *peer = leg->peer;

		leg->peer = peer->peer = NULL;
		free_leg(w, peer, false);
	}
	if (!w->uring) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, leg->fd, NULL);
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, leg->rtcp_fd, NULL);
	}
	close(leg->fd);
	close(leg->rtcp_fd);
	sb_media_count_mix_drops(leg); /* what the mix dropped after its last frame */
	sb_media_log_stats(leg);
	leg->rec = sb_rec_close(leg->rec);
	if (!leg->agent) { /* for the call-end record, read by control after DETACHED */
		c->rtp_packets_in = sb_rtp_rx_total_received(&leg->rx);
		c->rtp_packets_out = leg->tx.packets;
		c->rtp_lost = sb_rtp_rx_total_lost(&leg->rx);
		sb_metrics_leg_end(&leg->jb.stats, sb_rtp_rx_jitter_ms(&leg->rx));
	}
	STAT_ADD(w, up_drops, leg->up_spill.n); /* caller audio the bot will not get now */
	c->up_drop_frames += leg->up_spill.n;
	sb_up_spill_done(&leg->up_spill);
	sb_plc_free(leg->plc);
	sb_jitter_free(&leg->jb);
	leg->srtp = sb_srtp_free(leg->srtp);
	free(leg->relay);
	free(leg->mix);
	LIST_REMOVE(leg, link);
	w->n_legs--;
	if (c->leg == leg)
		c->leg = NULL;
	if (notify)
		reply(w, SB_MSG_MEDIA_DETACHED, c);
	sb_call_unref(c);
	leg->call = NULL;
	if (w->uring && sb_media_uring_leg_gone(w, leg))
		return; /* freed when the kernel gives back its requests */
	free(leg);
}

/* The call ends: what the caller sent before the hangup goes on to the bot, which is stopped
 * after this (control waits for DETACHED): the packets held behind a hole and the samples
 * short of a frame, then frames that waited for room in the up ring, onto it as far as it has
 * room and the rest with the call. */
static void hand_over(struct sb_media_leg *leg)
{
	if (leg->held) {
		leg->up_at_us = sb_now_us();
		sb_jitter_flush(&leg->jb);
		leg->held = false;
	}
	if (!leg->peer || leg->mix) /* bridged without a listening bot: none goes up */
		sb_media_up_flush(leg);
	sb_up_spill_drain(&leg->up_spill, &leg->call->up);
	if (leg->up_spill.n) { /* the ring is full: the rest goes with the call */
		leg->call->up_left = leg->up_spill;
		leg->up_spill = (struct sb_up_spill){0};
	}
}

static void on_msg(struct sb_media_worker *w, struct sb_msg *m)
{
	switch (m->type) {
	case SB_MSG_MEDIA_ATTACH:
		attach(w, m);
		break;
	case SB_MSG_MEDIA_DETACH:
		if (m->call->leg) {
			hand_over(m->call->leg);
			free_leg(w, m->call->leg, true);
		} else {
			reply(w, SB_MSG_MEDIA_DETACHED, m->call);
		}
		break;
	case SB_MSG_MEDIA_UPDATE:
		if (m->call->leg && m->data)
			update(m->call->leg, m->data);
		else if (m->data) /* the leg is gone: the caller's new SRTP key goes unused */
			sb_srtp_wipe(m->data, sizeof(struct sb_media_update));
		break;
	case SB_MSG_MEDIA_BRIDGE:
		if (m->data)
			bridge(w, m->call, m->data);
		break;
	case SB_MSG_QUIT:
		w->quit = true;
		break;
	default:
		log_error("Unexpected media message %d, ignoring", m->type);
		break;
	}
}

void sb_media_drain(struct sb_media_worker *w)
{
	for (struct sb_msg *m = sb_mq_pop_all(w->mq), *next; m; m = next) {
		next = m->next;
		on_msg(w, m);
		sb_msg_free(m);
	}
}

static void run_epoll(struct sb_media_worker *w)
{
	struct epoll_event evs[MAX_EVENTS];

	while (!w->quit) {
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS, -1);
		bool msgs = false;

		/* Alive: the loop turns (the tick sees to it even without calls). */
		sb_heartbeat_beat(&w->heartbeat);
		/* The tick first: what is due goes out before this batch's receive work. */
		for (int i = 0; i < n; i++)
			if (evs[i].data.ptr == w)
				on_timer(w);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == w->mq)
				msgs = true;
			else if (evs[i].data.ptr == w)
				continue;
			else if (((struct sb_leg_io *)evs[i].data.ptr)->rtcp)
				sb_media_on_rtcp(w, ((struct sb_leg_io *)evs[i].data.ptr)->leg);
			else
				sb_media_on_rtp(w, ((struct sb_leg_io *)evs[i].data.ptr)->leg);
		}
		/* Commands last: a detach frees a leg later events of this batch may name. */
		if (msgs)
			sb_media_drain(w);
	}
}

/* Real-time scheduling for the pacing thread, where the system allows it. */
static void go_realtime(const struct sb_media_worker *w)
{
	int r = sb_thread_realtime(SB_RT_PRIO_MEDIA, 1);

	if (w->idx == 0 && r < 0)
		log_notice(
		        "Media threads run without real-time scheduling (%s): a busy machine can "
		        "delay their packets",
		        strerror(-r));
	else if (w->idx == 0)
		log_notice("Media threads run with real-time scheduling (SCHED_FIFO %d)", r);
}

static void *run(void *arg)
{
	struct sb_media_worker *w = arg;

	if (w->realtime)
		go_realtime(w);
	/* The ring was made with the worker; this thread becomes its only submitter. */
	if (w->uring && sb_media_uring_enable(w) < 0)
		sb_media_uring_free(w);
	if (w->uring)
		sb_media_uring_run(w);
	else
		run_epoll(w);
	while (!LIST_EMPTY(&w->legs))
		free_leg(w, LIST_FIRST(&w->legs), false);
	sb_media_uring_free(w);
	return NULL;
}

int sb_media_worker_new(struct sb_media_worker **ret, unsigned idx, struct sb_mq *control,
                        struct sb_ws_worker **ws, unsigned n_ws, struct sb_recorder *rec,
                        const struct sb_media_opts *opts)
{
	int io_mode = opts->io_mode;
	struct sb_media_worker *w = calloc(1, sizeof(*w));
	struct itimerspec its = {.it_interval = {0, SB_MEDIA_TICK_US * 1000L},
	                         .it_value = {0, SB_MEDIA_TICK_US * 1000L}};
	struct epoll_event ev = {.events = EPOLLIN};
	int r;

	if (!w)
		return -ENOMEM;
	r = sb_srtp_init(); /* once per process, before any leg needs it */
	if (r < 0) {
		free(w);
		return r;
	}
	/* Made here, so the process's descriptors are all open once the workers are (some
	 * container profiles and the io_uring_disabled sysctl forbid io_uring). */
	if (io_mode != SB_MEDIA_IO_EPOLL) {
		r = sb_media_uring_new(w, opts->rx_buffers);
		if (r < 0 && io_mode == SB_MEDIA_IO_URING) {
			free(w);
			return log_error_errno(r, "threads.media_io is io_uring, which this system "
			                          "does not allow");
		}
		if (idx == 0 && r < 0)
			log_info("Media I/O: epoll (io_uring is not available here: %s)",
			         strerror(-r));
		io_mode = r < 0 ? SB_MEDIA_IO_EPOLL : SB_MEDIA_IO_URING;
	}
	if (idx == 0 && io_mode == SB_MEDIA_IO_URING)
		log_info("Media I/O: io_uring");
	else if (idx == 0 && opts->io_mode == SB_MEDIA_IO_EPOLL)
		log_info("Media I/O: epoll (threads.media_io)");
	LIST_INIT(&w->legs);
	w->io_mode = io_mode;
	w->realtime = opts->realtime;
	w->idx = idx;
	w->control = control;
	w->ws = ws;
	w->n_ws = n_ws;
	w->recorder = rec;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	r = sb_mq_new(&w->mq);
	if (w->epfd < 0 || w->tfd < 0 || r < 0 || timerfd_settime(w->tfd, 0, &its, NULL) < 0) {
		r = r < 0 ? r : -errno;
		sb_media_worker_free(w);
		return r;
	}
	w->tick_us = sb_now_us(); /* the timerfd's grid */
	ev.data.ptr = w;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev);
	ev.data.ptr = w->mq;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, sb_mq_fd(w->mq), &ev);
	*ret = w;
	return 0;
}

int sb_media_worker_start(struct sb_media_worker *w)
{
	int r = sb_worker_thread_start(&w->thread, run, w, "sb-media", w->idx);

	if (r < 0)
		return r;
	w->started = true;
	return 0;
}

void sb_media_worker_ping(struct sb_media_worker *w, unsigned seq)
{
	sb_heartbeat_ask(&w->heartbeat, seq);
}

bool sb_media_worker_answered(const struct sb_media_worker *w, unsigned seq)
{
	return sb_heartbeat_answered(&w->heartbeat, seq);
}

void sb_media_worker_post(struct sb_media_worker *w, struct sb_msg *m)
{
	sb_mq_push(w->mq, m);
}

void sb_media_worker_stop(struct sb_media_worker *w)
{
	struct sb_msg *m;

	if (!w->started)
		return;
	m = sb_msg_new(SB_MSG_QUIT, NULL, 0);
	if (m)
		sb_mq_push(w->mq, m);
	pthread_join(w->thread, NULL);
	w->started = false;
}

struct sb_media_worker *sb_media_worker_free(struct sb_media_worker *w)
{
	if (!w)
		return NULL;
	sb_media_uring_free(w); /* a worker whose thread never ran */
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->tfd >= 0)
		close(w->tfd);
	sb_mq_free(w->mq);
	free(w);
	return NULL;
}

const struct sb_media_stats *sb_media_worker_stats(const struct sb_media_worker *w)
{
	return &w->stats;
}

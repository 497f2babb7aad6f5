/* The media worker's loop on io_uring: every leg's RTP receive is a pending recvmsg on one
 * ring, RTCP and the command queue are polls on it, and the RTP a tick sends goes out as one
 * batch of sendmsg entries. One io_uring_enter() per turn of the loop does all of it, where
 * the epoll loop (media_worker.c) makes one or two system calls per packet.
 * Thread: the media worker (the ring is its own: single issuer). Owns the ring, the send
 * slots, each leg's receive buffer, and the legs that are gone but still have requests in the
 * kernel (the dead list).
 *
 * DESIGN
 * A turn waits for the next 5 ms tick or for about a millisecond's worth of completions,
 * whichever comes first (wait_nr grows with the number of legs), so at load the thread is
 * woken about a thousand times a second however many packets there are, and a packet waits
 * at most about a millisecond before its leg reads it. Completions are run in the kernel only
 * when the thread asks for them (DEFER_TASKRUN), so nothing interrupts the work of a turn.
 * A leg's receive is single-shot and re-armed as soon as its packet is read: one packet at a
 * time per leg keeps them in order. A send's buffer is a slot of a fixed pool, freed when its
 * completion is read; UDP sends complete while they are submitted, so the pool only needs
 * one tick's worth; when it runs out the batch is submitted early, and a packet that still
 * finds no slot is sent with sendto(). A leg freed while the kernel holds its requests is
 * cancelled and kept on the dead list until the last of them completes. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#define LOG_SUBSYS "media"
#include <sb/log.h>

#include "media_priv.h"

#define RING_ENTRIES 4096
#define CQ_ENTRIES 16384
#define TX_SLOTS 1024
#define WAIT_LEGS_PER_COMPLETION 20 /* a leg receives one packet per 20 ms: ~1 ms of them */
#define WAIT_MAX 512
#define EXIT_WAIT_MS 2000 /* at quit, for the kernel to give back the dead legs' requests */

enum tag { TAG_NONE, TAG_RX, TAG_RTCP, TAG_TX, TAG_MQ, TAG_MASK = 7 };

/* One RTP packet on its way out. */
struct tx_slot {
	struct tx_slot *next_free;
	struct sb_media_leg *leg; /* NULL once the leg is gone */
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage to;
	size_t len, octets;
	_Alignas(8) uint8_t pkt[SB_MEDIA_TX_PACKET_BYTES];
};

/* A leg's pending receive. */
struct sb_leg_urx {
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage from;
	_Alignas(8) uint8_t buf[SB_MEDIA_RX_PACKET_BYTES];
};

struct sb_media_uring {
	struct io_uring ring;
	struct tx_slot *slots, *free_slots;
	unsigned tx_in_flight;
	LIST_HEAD(, sb_media_leg) dead; /* freed legs the kernel still holds requests of */
	bool mq_armed;
};

static uint64_t udata(const void *p, enum tag t)
{
	return (uint64_t)(uintptr_t)p | (uint64_t)t;
}

/* An entry to fill; the queue is submitted first when it is full. NULL only when the kernel
 * takes nothing (then the caller does without). */
static struct io_uring_sqe *get_sqe(struct sb_media_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe && io_uring_submit(&u->ring) >= 0)
		sqe = io_uring_get_sqe(&u->ring);
	return sqe;
}

static void arm_rx(struct sb_media_uring *u, struct sb_media_leg *leg)
{
	struct sb_leg_urx *rx = leg->urx;
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe) {
		log_error("The io_uring queue takes no more requests: a leg stops receiving");
		return;
	}
	rx->iov = (struct iovec){rx->buf, sizeof(rx->buf)};
	rx->mh = (struct msghdr){.msg_name = &rx->from,
	                         .msg_namelen = sizeof(rx->from),
	                         .msg_iov = &rx->iov,
	                         .msg_iovlen = 1};
	io_uring_prep_recvmsg(sqe, leg->fd, &rx->mh, 0);
	/* Re-armed after the socket was read: wait for the next packet rather than try first. */
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	io_uring_sqe_set_data64(sqe, udata(leg, TAG_RX));
	leg->io_refs++;
}

/* False when the queue takes nothing (logged). */
static bool arm_poll(struct sb_media_uring *u, int fd, const void *p, enum tag t)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe) {
		log_error("The io_uring queue takes no more requests: a socket is no longer read");
		return false;
	}
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, udata(p, t));
	return true;
}

struct sb_leg_urx *sb_media_uring_rx_new(void)
{
	return malloc(sizeof(struct sb_leg_urx));
}

void sb_media_uring_leg_added(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	struct sb_media_uring *u = w->uring;

	arm_rx(u, leg);
	/* The RTCP poll is the leg's request for as long as the leg lives: one reference. */
	if (arm_poll(u, leg->rtcp_fd, leg, TAG_RTCP))
		leg->io_refs++;
}

static void cancel(struct sb_media_uring *u, uint64_t data)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, data, 0);
	io_uring_sqe_set_data64(sqe, udata(NULL, TAG_NONE));
}

static void release(struct sb_media_leg *leg)
{
	free(leg->urx);
	free(leg);
}

bool sb_media_uring_leg_gone(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	struct sb_media_uring *u = w->uring;

	if (u->tx_in_flight) /* its packets still go out, but are no longer its to count */
		for (unsigned i = 0; i < TX_SLOTS; i++)
			if (u->slots[i].leg == leg) {
				u->slots[i].leg = NULL;
				leg->io_refs--;
			}
	if (!leg->io_refs)
		return false;
	leg->dead = true;
	cancel(u, udata(leg, TAG_RX));
	cancel(u, udata(leg, TAG_RTCP));
	LIST_INSERT_HEAD(&u->dead, leg, link);
	return true;
}

/* A completion of a dead leg's request: the last one frees it. */
static void dead_done(struct sb_media_leg *leg)
{
	if (--leg->io_refs)
		return;
	LIST_REMOVE(leg, link);
	release(leg);
}

bool sb_media_uring_send(struct sb_media_worker *w, struct sb_media_leg *leg, const uint8_t *pkt,
                         size_t len, size_t octets)
{
	struct sb_media_uring *u = w->uring;
	struct io_uring_sqe *sqe;
	struct tx_slot *s;

	if (!u->free_slots) { /* a big tick: send what is queued, and read what that freed */
		io_uring_submit(&u->ring);
		sb_media_uring_reap(w);
	}
	s = u->free_slots;
	if (!s || len > sizeof(s->pkt) || !(sqe = get_sqe(u)))
		return false;
	u->free_slots = s->next_free;
	u->tx_in_flight++;
	memcpy(s->pkt, pkt, len);
	memcpy(&s->to, &leg->src.peer, leg->src.peer_len);
	s->iov = (struct iovec){s->pkt, len};
	s->mh = (struct msghdr){.msg_name = &s->to,
	                        .msg_namelen = leg->src.peer_len,
	                        .msg_iov = &s->iov,
	                        .msg_iovlen = 1};
	s->len = len;
	s->octets = octets;
	s->leg = leg;
	leg->io_refs++;
	io_uring_prep_sendmsg(sqe, leg->fd, &s->mh, 0);
	io_uring_sqe_set_data64(sqe, udata(s, TAG_TX));
	return true;
}

static void on_tx(struct sb_media_worker *w, struct sb_media_uring *u, struct tx_slot *s, int res)
{
	struct sb_media_leg *leg = s->leg;

	if (leg && leg->dead) {
		dead_done(leg);
	} else if (leg) {
		leg->io_refs--;
		if (res == (int)s->len)
			sb_media_tx_sent(w, leg, s->len, s->octets);
	}
	s->leg = NULL;
	s->next_free = u->free_slots;
	u->free_slots = s;
	u->tx_in_flight--;
}

static void on_rx(struct sb_media_worker *w, struct sb_media_uring *u, struct sb_media_leg *leg,
                  int res)
{
	struct sb_leg_urx *rx = leg->urx;

	if (leg->dead) {
		dead_done(leg);
		return;
	}
	leg->io_refs--;
	if (res >= 0 && (rx->mh.msg_flags & MSG_TRUNC))
		STAT_INC(w, rtp_rx_bad); /* larger than any packet a call may carry */
	else if (res > 0)
		sb_media_rx_datagram(w, leg, rx->buf, (size_t)res, &rx->from, rx->mh.msg_namelen);
	else if (res < 0 && res != -EAGAIN && res != -EINTR)
		log_debug("RTP receive failed: %s", strerror(-res));
	arm_rx(u, leg);
}

static void on_rtcp(struct sb_media_worker *w, struct sb_media_uring *u, struct sb_media_leg *leg)
{
	if (leg->dead) {
		dead_done(leg);
		return;
	}
	sb_media_on_rtcp(w, leg);
	if (!arm_poll(u, leg->rtcp_fd, leg, TAG_RTCP))
		leg->io_refs--; /* no longer pending */
}

/* Runs what the completion queue holds. Returns true when the command queue has work. */
bool sb_media_uring_reap(struct sb_media_worker *w)
{
	struct sb_media_uring *u = w->uring;
	struct io_uring_cqe *cqe;
	bool msgs = false;

	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		uint64_t d = io_uring_cqe_get_data64(cqe);
		void *p = (void *)(uintptr_t)(d & ~(uint64_t)TAG_MASK);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		switch ((enum tag)(d & TAG_MASK)) {
		case TAG_RX:
			on_rx(w, u, p, res);
			break;
		case TAG_RTCP:
			on_rtcp(w, u, p);
			break;
		case TAG_TX:
			on_tx(w, u, p, res);
			break;
		case TAG_MQ:
			u->mq_armed = false;
			msgs = true;
			break;
		default:
			break;
		}
	}
	return msgs;
}

static int ring_new(struct sb_media_uring *u)
{
	/* Disabled until the worker's thread enables it: that thread is then its submitter. */
	struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
	                                     IORING_SETUP_SINGLE_ISSUER |
	                                     IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
	                            .cq_entries = CQ_ENTRIES};
	int r = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);

	if (r == -EINVAL) { /* a kernel before 6.1: completions run as they come */
		p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED,
		                             .cq_entries = CQ_ENTRIES};
		r = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
	}
	return r;
}

int sb_media_uring_new(struct sb_media_worker *w)
{
	struct sb_media_uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->slots = calloc(TX_SLOTS, sizeof(*u->slots));
	r = u->slots ? ring_new(u) : -ENOMEM;
	if (r < 0) {
		free(u->slots);
		free(u);
		return r;
	}
	for (unsigned i = 0; i < TX_SLOTS; i++) {
		u->slots[i].next_free = u->free_slots;
		u->free_slots = &u->slots[i];
	}
	LIST_INIT(&u->dead);
	w->uring = u;
	return 0;
}

int sb_media_uring_enable(struct sb_media_worker *w)
{
	/* liburing 2.3 declares io_uring_enable_rings() but its library does not carry it. */
	int r = (int)syscall(__NR_io_uring_register, w->uring->ring.ring_fd,
	                     IORING_REGISTER_ENABLE_RINGS, NULL, 0);

	if (r < 0) {
		r = -errno;
		log_error_errno(r, "Media worker %u cannot start its io_uring, using epoll",
		                w->idx);
	}
	return r;
}

void sb_media_uring_free(struct sb_media_worker *w)
{
	struct sb_media_uring *u = w->uring;
	int64_t until = sb_now_ms() + EXIT_WAIT_MS;
	unsigned left = 0;

	if (!u)
		return;
	/* The kernel writes into the dead legs' buffers until their requests end: wait. */
	while (!LIST_EMPTY(&u->dead) && sb_now_ms() < until) {
		struct __kernel_timespec ts = {0, 50 * 1000000L};
		struct io_uring_cqe *cqe;

		io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		sb_media_uring_reap(w);
	}
	io_uring_queue_exit(&u->ring);
	/* Left to the process's end rather than freed under the kernel. */
	for (struct sb_media_leg *leg; (leg = LIST_FIRST(&u->dead));) {
		LIST_REMOVE(leg, link);
		left++;
	}
	if (left)
		log_warn("%u media leg(s) still held by the kernel at exit", left);
	free(u->slots);
	free(u);
	w->uring = NULL;
}

void sb_media_uring_run(struct sb_media_worker *w)
{
	struct sb_media_uring *u = w->uring;
	int64_t next_tick = sb_now_us() + SB_MEDIA_TICK_US;

	w->tick_us = next_tick - SB_MEDIA_TICK_US; /* the grid */

	while (!w->quit) {
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		int64_t now = sb_now_us(), wait_us;
		unsigned wait_nr = 1 + w->n_legs / WAIT_LEGS_PER_COMPLETION;
		bool msgs;

		if (!u->mq_armed) {
			arm_poll(u, sb_mq_fd(w->mq), w, TAG_MQ);
			u->mq_armed = true;
		}
		wait_us = next_tick - now;
		if (wait_us < 0)
			wait_us = 0;
		ts = (struct __kernel_timespec){wait_us / 1000000, (wait_us % 1000000) * 1000};
		io_uring_submit_and_wait_timeout(
		        &u->ring, &cqe, wait_nr < WAIT_MAX ? wait_nr : WAIT_MAX, &ts, NULL);
		/* Alive: the loop turns (the tick sees to it even without calls). */
		sb_heartbeat_beat(&w->heartbeat);
		now = sb_now_us();
		/* The tick first: what is due goes out before this turn's receive work. */
		if (now >= next_tick) {
			unsigned expirations = (unsigned)((now - next_tick) / SB_MEDIA_TICK_US) + 1;

			sb_media_tick(w, expirations,
			              next_tick + (int64_t)(expirations - 1) * SB_MEDIA_TICK_US);
			next_tick += (int64_t)expirations * SB_MEDIA_TICK_US;
			io_uring_submit(&u->ring);
		}
		msgs = sb_media_uring_reap(w);
		/* Commands last: a detach frees a leg this turn's completions may name. */
		if (msgs)
			sb_media_drain(w);
	}
}

/* The media worker's loop on io_uring: every leg's RTP receive is a multishot recvmsg on one
 * ring, RTCP and the command queue are polls on it, and the RTP a tick sends goes out as one
 * batch of sendmsg entries. One io_uring_enter() per turn of the loop does all of it, where
 * the epoll loop (media_worker.c) makes one or two system calls per packet.
 * Thread: the media worker (the ring is its own: single issuer). Owns the ring, the send
 * slots, the receive buffers, and the legs that are gone but still have requests in the
 * kernel (the dead list).
 *
 * DESIGN
 * A turn waits for the next 5 ms tick or for about a millisecond's worth of completions,
 * whichever comes first (wait_nr grows with the number of legs), so at load the thread is
 * woken about a thousand times a second however many packets there are, and a packet waits
 * at most about a millisecond before its leg reads it. Completions are run in the kernel only
 * when the thread asks for them (DEFER_TASKRUN), so nothing interrupts the work of a turn.
 * A leg's receive is one multishot request that stays in the kernel for the leg's life: each
 * packet completes it once more, in the order the socket got them, into a buffer the kernel
 * takes from the worker's ring of them (a provided-buffer ring) and that goes back to it as
 * soon as the packet is read. So a packet costs no request of its own, and the legs share one
 * pool of buffers instead of each holding one. When the pool runs dry (the thread fell far
 * behind), the requests that found no buffer end and are made anew after the turn gave the
 * buffers back; their packets wait in the socket meanwhile. A send's buffer is a slot of a fixed
 * pool, freed when its completion is read; UDP sends complete while they are submitted, so the pool
 * only needs one tick's worth; when it runs out the batch is submitted early, and a packet that
 * still finds no slot is sent with sendto(). A leg freed while the kernel holds its requests is
 * cancelled and kept on the dead list until the last of them completes. A leg's RTP socket is
 * registered in the ring's file table while the leg lives, so its receives and sends name it by
 * index and the kernel does not look the descriptor up and count a reference for each packet
 * (fget() was 2.4 % of the daemon's samples at 2000 calls); a leg that finds the table full
 * goes by its descriptor. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
/* The receive buffers (threads.media_rx_buffers): by default enough for 10 ms of 2000
 * calls' packets; a power of two. */
#define RX_BUFS_DEFAULT 1024
#define RX_BUFS_MAX 32768 /* the most a provided-buffer ring takes */
#define RX_GROUP 0
/* The ring's file table: one entry per leg (a bridged call has two), at most the process's
 * descriptor limit (the kernel's own bound). */
#define FIXED_FILES_MAX 16384
/* A buffer is the kernel's header, room for the sender's address (a sockaddr_in6 takes 28
 * bytes) and the packet, which so starts 64 bytes in. */
#define RX_NAME_BYTES 48
#define RX_HEAD_BYTES (sizeof(struct io_uring_recvmsg_out) + RX_NAME_BYTES)
#define RX_BUF_BYTES (RX_HEAD_BYTES + SB_MEDIA_RX_PACKET_BYTES)
_Static_assert(RX_HEAD_BYTES % 64 == 0 && RX_BUF_BYTES % 64 == 0, "packets start aligned");

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

struct sb_media_uring {
	struct io_uring ring;
	struct io_uring_buf_ring *rx_ring; /* the receive buffers the kernel may take */
	uint8_t *rx_bufs;                  /* rx_bufs_n of RX_BUF_BYTES */
	unsigned rx_bufs_n;                /* of them, a power of two */
	unsigned rx_returned;              /* given back to rx_ring since it was last advanced */
	struct msghdr rx_mh;               /* every receive's: the address's room, no control */
	struct tx_slot *slots, *free_slots;
	unsigned tx_in_flight;
	LIST_HEAD(, sb_media_leg) dead; /* freed legs the kernel still holds requests of */
	bool mq_armed;
	unsigned *file_free; /* the file table's free entries, a stack of n_file_free */
	unsigned n_file_free;
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

/* The leg's RTP socket in sqe: by its index in the file table when it has one. */
static void set_file(struct io_uring_sqe *sqe, const struct sb_media_leg *leg)
{
	if (leg->file_slot) {
		sqe->fd = (int)leg->file_slot - 1;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

/* The leg's receive, pending until the leg is gone (or the buffers ran out): one reference. */
static void arm_rx(struct sb_media_uring *u, struct sb_media_leg *leg)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe) {
		log_error("The io_uring queue takes no more requests: a leg stops receiving");
		return;
	}
	io_uring_prep_recvmsg_multishot(sqe, leg->fd, &u->rx_mh, 0);
	set_file(sqe, leg);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RX_GROUP;
	io_uring_sqe_set_data64(sqe, udata(leg, TAG_RX));
	leg->io_refs++;
}

static uint8_t *rx_buf(struct sb_media_uring *u, unsigned bid)
{
	return u->rx_bufs + (size_t)bid * RX_BUF_BYTES;
}

/* Buffer bid back to the kernel, at the next advance (the end of the reap). */
static void rx_give_back(struct sb_media_uring *u, unsigned bid)
{
	io_uring_buf_ring_add(u->rx_ring, rx_buf(u, bid), RX_BUF_BYTES, (unsigned short)bid,
	                      io_uring_buf_ring_mask(u->rx_bufs_n), (int)u->rx_returned++);
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

/* A free entry of the file table for the leg's RTP socket, when one is left. */
static void file_register(struct sb_media_uring *u, struct sb_media_leg *leg)
{
	unsigned idx;

	if (!u->n_file_free)
		return;
	idx = u->file_free[--u->n_file_free];
	if (io_uring_register_files_update(&u->ring, idx, &leg->fd, 1) == 1)
		leg->file_slot = idx + 1;
	else
		u->file_free[u->n_file_free++] = idx;
}

/* The leg's entry back to the table's free ones. What is queued goes to the kernel first, so
 * that no request still waiting to be submitted names the entry once another leg has it; the
 * requests the kernel holds keep the socket until they end. */
static void file_unregister(struct sb_media_uring *u, struct sb_media_leg *leg)
{
	unsigned idx = leg->file_slot - 1;
	int none = -1;

	if (!leg->file_slot)
		return;
	leg->file_slot = 0;
	io_uring_submit(&u->ring);
	if (io_uring_register_files_update(&u->ring, idx, &none, 1) == 1)
		u->file_free[u->n_file_free++] = idx;
	else /* left out of use rather than given to another leg */
		log_warn("Cannot free entry %u of a media worker's io_uring file table", idx);
}

void sb_media_uring_leg_added(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	struct sb_media_uring *u = w->uring;

	file_register(u, leg);
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

bool sb_media_uring_leg_gone(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	struct sb_media_uring *u = w->uring;

	file_unregister(u, leg);
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
	free(leg);
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
	set_file(sqe, leg);
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
		else
			sb_media_tx_failed(w, leg, res < 0 ? -res : EMSGSIZE);
	}
	s->leg = NULL;
	s->next_free = u->free_slots;
	u->free_slots = s;
	u->tx_in_flight--;
}

/* A datagram the kernel put in buffer b (n bytes with its header), for the leg. */
static void rx_datagram(struct sb_media_worker *w, struct sb_media_uring *u,
                        struct sb_media_leg *leg, uint8_t *b, int n)
{
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(b, n, &u->rx_mh);
	struct sockaddr_storage from;

	if (!o || o->namelen > RX_NAME_BYTES || (o->flags & MSG_TRUNC)) {
		STAT_INC(w, rtp_rx_bad); /* larger than any packet a call may carry */
		return;
	}
	if (!o->payloadlen)
		return;
	memcpy(&from, io_uring_recvmsg_name(o), o->namelen);
	sb_media_rx_datagram(w, leg, io_uring_recvmsg_payload(o, &u->rx_mh), o->payloadlen, &from,
	                     o->namelen);
}

static void on_rx(struct sb_media_worker *w, struct sb_media_uring *u, struct sb_media_leg *leg,
                  int res, unsigned flags)
{
	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

		if (bid < u->rx_bufs_n) {
			if (res > 0 && !leg->dead)
				rx_datagram(w, u, leg, rx_buf(u, bid), res);
			rx_give_back(u, bid);
		}
	}
	if (flags & IORING_CQE_F_MORE)
		return; /* still pending */
	if (leg->dead) {
		dead_done(leg);
		return;
	}
	leg->io_refs--;
	/* Out of buffers (given back by the end of this reap), or a failure: made anew. */
	if (res == -ENOBUFS)
		STAT_INC(w, rx_buffer_waits);
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
		unsigned flags = cqe->flags;

		io_uring_cqe_seen(&u->ring, cqe);
		switch ((enum tag)(d & TAG_MASK)) {
		case TAG_RX:
			on_rx(w, u, p, res, flags);
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
	if (u->rx_returned) {
		io_uring_buf_ring_advance(u->rx_ring, (int)u->rx_returned);
		u->rx_returned = 0;
	}
	return msgs;
}

static size_t rx_ring_bytes(const struct sb_media_uring *u)
{
	return u->rx_bufs_n * sizeof(struct io_uring_buf);
}

/* n receive buffers (rounded up to a power of two), registered with the ring (no thread
 * submits yet). */
static int rx_ring_new(struct sb_media_uring *u, unsigned n)
{
	struct io_uring_buf_reg reg = {.bgid = RX_GROUP};
	void *ring;
	int r;

	u->rx_bufs_n = 1;
	while (u->rx_bufs_n < (n ? n : RX_BUFS_DEFAULT) && u->rx_bufs_n < RX_BUFS_MAX)
		u->rx_bufs_n *= 2;
	ring = mmap(NULL, rx_ring_bytes(u), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	            0);
	if (ring == MAP_FAILED)
		return -errno;
	u->rx_ring = ring;
	u->rx_bufs = aligned_alloc(64, (size_t)u->rx_bufs_n * RX_BUF_BYTES);
	if (!u->rx_bufs)
		return -ENOMEM;
	io_uring_buf_ring_init(u->rx_ring);
	reg.ring_addr = (uint64_t)(uintptr_t)ring;
	reg.ring_entries = u->rx_bufs_n;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < u->rx_bufs_n; i++)
		rx_give_back(u, i);
	io_uring_buf_ring_advance(u->rx_ring, (int)u->rx_returned);
	u->rx_returned = 0;
	u->rx_mh = (struct msghdr){.msg_namelen = RX_NAME_BYTES};
	return 0;
}

/* Frees what sb_media_uring_new made; the ring itself only when made. */
static void uring_free(struct sb_media_uring *u, bool ring)
{
	if (ring)
		io_uring_queue_exit(&u->ring);
	if (u->rx_ring)
		munmap(u->rx_ring, rx_ring_bytes(u));
	free(u->rx_bufs);
	free(u->slots);
	free(u->file_free);
	free(u);
}

/* Disabled until the worker's thread enables it: that thread is then its submitter. A kernel
 * before 6.1 (no DEFER_TASKRUN, hence none of what is used here) refuses it. */
static int ring_new(struct sb_media_uring *u)
{
	struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
	                                     IORING_SETUP_SINGLE_ISSUER |
	                                     IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
	                            .cq_entries = CQ_ENTRIES};

	return io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
}

int sb_media_uring_new(struct sb_media_worker *w, unsigned rx_buffers)
{
	struct sb_media_uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->slots = calloc(TX_SLOTS, sizeof(*u->slots));
	r = u->slots ? ring_new(u) : -ENOMEM;
	if (r < 0) {
		uring_free(u, false);
		return r;
	}
	r = rx_ring_new(u, rx_buffers);
	if (r < 0) {
		uring_free(u, true);
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

/* The ring's file table, empty (on the worker's thread: with a single issuer, only it may
 * register). Without it every leg goes by its descriptor. */
static void files_new(struct sb_media_worker *w)
{
	struct sb_media_uring *u = w->uring;
	struct rlimit rl;
	unsigned n = FIXED_FILES_MAX;
	int r;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < n)
		n = (unsigned)rl.rlim_cur;
	u->file_free = malloc(n * sizeof(*u->file_free));
	r = u->file_free ? io_uring_register_files_sparse(&u->ring, n) : -ENOMEM;
	if (r < 0) {
		log_debug("Media worker %u runs without an io_uring file table: %s", w->idx,
		          strerror(-r));
		free(u->file_free);
		u->file_free = NULL;
		return;
	}
	for (unsigned i = 0; i < n; i++) /* the lowest entries first */
		u->file_free[i] = n - 1 - i;
	u->n_file_free = n;
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
		return r;
	}
	files_new(w);
	return 0;
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
	/* Left to the process's end rather than freed under the kernel. */
	for (struct sb_media_leg *leg; (leg = LIST_FIRST(&u->dead));) {
		LIST_REMOVE(leg, link);
		left++;
	}
	if (left)
		log_warn("%u media leg(s) still held by the kernel at exit", left);
	uring_free(u, true);
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

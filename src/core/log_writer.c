/* The log writer: a bounded queue of preformatted lines and the thread ("sb-log") that
 * write(2)s them, so a media or ws thread never waits for stderr (a stalled journald, a full
 * pipe). Thread: any thread queues; the writer thread owns the output side and the eventfd.
 *
 * DESIGN
 * One MPSC ring of fixed slots shared by every thread (D. Vyukov's bounded queue): each slot
 * has a sequence number that says whose turn it is. A producer claims a position with one CAS
 * on `tail`, formats the line straight into that slot and publishes it by storing pos + 1 in
 * the slot's sequence; no lock, no malloc. When the slot at `tail` still holds an unwritten
 * line the ring is full: the line is dropped and an atomic counter is bumped, which the writer
 * reports as one line ("N line(s) dropped") once it has room again. One shared ring rather than
 * an SPSC ring per thread keeps the lines of all threads in the order they were claimed and
 * needs no registration of threads (sofia, lws and the recorder log too). The writer sleeps on
 * an eventfd; a producer writes to it only when the writer said it sleeps (a fence pair on
 * each side, so no wake-up is lost), and the eventfd never blocks. Several lines go out in one
 * writev of at most PIPE_BUF bytes, so a line is never interleaved with another writer's.
 * Start and stop: producers count themselves in `inflight` while they may touch the queue, so
 * sb_log_stop() can switch back to direct writes, wait for them, drain, and free the queue.
 * The writer waits for stderr in poll(POLLOUT), never inside a write: a pipe or socket that
 * polls writable takes a batch of at most PIPE_BUF bytes at once. So the stop can give the
 * drain a deadline (SB_LOG_STOP_MS): what stderr has not taken by then is dropped and counted,
 * as are the direct writes after it, and a stalled stderr cannot hold up the exit. The join is
 * bounded as well, for a terminal, which may poll writable and still block a write. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_SUBSYS "log"
#include <sb/log.h>

#include <sb/worker_thread.h>

#include "log_priv.h"

#define BATCH_LINES 16

static struct {
	struct sb_log_queue *q;
	pthread_t thread;
	int fd;               /* where lines go; not owned */
	int efd;              /* wakes the writer */
	atomic_bool running;  /* producers queue (else write directly) */
	atomic_int inflight;  /* producers between the `running` check and their publish */
	atomic_bool sleeping; /* the writer waits, or is about to wait, on efd */
	atomic_bool stop;
	atomic_bool stuck;                    /* a stop left the writer in a write: no restart */
	atomic_int_fast64_t stop_deadline_ms; /* 0, or when lines stop waiting for stderr */
	atomic_uint_fast64_t dropped_total;
} w = {.fd = -1, .efd = -1};

int sb_log_queue_new(struct sb_log_queue **ret, unsigned capacity)
{
	struct sb_log_queue *q;

	if (capacity < 2 || (capacity & (capacity - 1)))
		return -EINVAL;
	q = aligned_alloc(_Alignof(struct sb_log_queue), sizeof(*q));
	if (!q)
		return -ENOMEM;
	memset(q, 0, sizeof(*q));
	q->slots = calloc(capacity, sizeof(*q->slots));
	if (!q->slots) {
		free(q);
		return -ENOMEM;
	}
	for (size_t i = 0; i < capacity; i++)
		atomic_init(&q->slots[i].seq, i);
	atomic_init(&q->tail, 0);
	atomic_init(&q->dropped, 0);
	q->mask = capacity - 1;
	*ret = q;
	return 0;
}

struct sb_log_queue *sb_log_queue_free(struct sb_log_queue *q)
{
	if (q) {
		free(q->slots);
		free(q);
	}
	return NULL;
}

struct sb_log_slot *sb_log_queue_claim(struct sb_log_queue *q)
{
	size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);

	for (;;) {
		struct sb_log_slot *s = &q->slots[pos & q->mask];
		size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		intptr_t diff = (intptr_t)seq - (intptr_t)pos;

		if (diff == 0) {
			/* On failure pos becomes the current tail: try that one. */
			if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed)) {
				s->_pos = pos;
				return s;
			}
		} else if (diff < 0) {
			/* The slot still holds the line from one lap ago: full. */
			atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
			return NULL;
		} else {
			pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
		}
	}
}

void sb_log_queue_publish(struct sb_log_slot *s, size_t len)
{
	s->len = (uint32_t)len;
	atomic_store_explicit(&s->seq, s->_pos + 1, memory_order_release);
}

struct sb_log_slot *sb_log_queue_peek(struct sb_log_queue *q, size_t i)
{
	size_t pos = q->head + i;
	struct sb_log_slot *s = &q->slots[pos & q->mask];

	if (i > q->mask || atomic_load_explicit(&s->seq, memory_order_acquire) != pos + 1)
		return NULL;
	return s;
}

void sb_log_queue_release(struct sb_log_queue *q, size_t n)
{
	for (; n > 0; n--, q->head++)
		atomic_store_explicit(&q->slots[q->head & q->mask].seq, q->head + q->mask + 1,
		                      memory_order_release);
}

uint64_t sb_log_queue_take_dropped(struct sb_log_queue *q)
{
	return atomic_exchange_explicit(&q->dropped, 0, memory_order_relaxed);
}

/* Waits until fd takes more bytes, or has failed (the write then says how); with efd >= 0, a
 * kick on it makes a stop's deadline apply at once. False when fd takes nothing by the stop's
 * deadline. */
static bool wait_writable(int fd, int efd)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = efd, .events = POLLIN}};
	uint64_t v;

	for (;;) {
		int64_t deadline = atomic_load(&w.stop_deadline_ms), left = -1;
		int n;

		if (deadline) {
			int64_t now = sb_now_ms();

			left = deadline > now ? deadline - now : 0;
		}
		n = poll(p, efd >= 0 ? 2 : 1, (int)left);
		if (n < 0 && errno != EINTR)
			return true;
		if (n > 0 && p[0].revents)
			return true;
		if (n == 0 && deadline)
			return false;
		if (n > 0 && p[1].revents) {
			/* The stop's kick, or one wait_for_lines does not need: reset it. */
			ssize_t k = read(efd, &v, sizeof(v));

			(void)k;
		}
	}
}

int sb_log_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* Someone made the descriptor non-blocking; this thread may wait. */
			poll(&(struct pollfd){.fd = fd, .events = POLLOUT}, 1, 1000);
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writer thread. All of iov, unless the output is gone (then the lines are lost); false when
 * the output did not take it by the stop's deadline. */
static bool write_iov(struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t r;

		if (!wait_writable(w.fd, w.efd))
			return false;
		r = writev(w.fd, iov, n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return true;
		for (; n > 0 && (size_t)r >= iov->iov_len; iov++, n--)
			r -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return true;
}

/* Writer thread. Writes the oldest complete lines, at most PIPE_BUF bytes; returns how many. */
static size_t write_batch(void)
{
	struct iovec iov[BATCH_LINES];
	struct sb_log_slot *s;
	size_t n = 0, bytes = 0;

	while (n < BATCH_LINES && (s = sb_log_queue_peek(w.q, n)) != NULL) {
		if (n > 0 && bytes + s->len > PIPE_BUF)
			break;
		iov[n++] = (struct iovec){.iov_base = s->line, .iov_len = s->len};
		bytes += s->len;
	}
	if (n > 0) {
		/* Past the deadline: counted with the drops, reported below if stderr takes it. */
		if (!write_iov(iov, (int)n))
			atomic_fetch_add_explicit(&w.q->dropped, n, memory_order_relaxed);
		sb_log_queue_release(w.q, n);
	}
	return n;
}

/* Writer thread. One line for the lines dropped since the last report. */
static void report_dropped(void)
{
	uint64_t n = sb_log_queue_take_dropped(w.q);
	char line[SB_LOG_LINE_MAX], msg[64];
	size_t len;

	if (n == 0)
		return;
	atomic_fetch_add_explicit(&w.dropped_total, n, memory_order_relaxed);
	snprintf(msg, sizeof(msg), "%llu line(s) dropped", (unsigned long long)n);
	len = sb_log_format_now(line, sizeof(line), SB_LOG_WARN, "log", NULL, msg);
	write_iov(&(struct iovec){.iov_base = line, .iov_len = len}, 1);
}

/* Writer thread. Sleeps until a producer publishes a line or stop is asked. */
static void wait_for_lines(void)
{
	struct pollfd p = {.fd = w.efd, .events = POLLIN};
	uint64_t v;
	ssize_t n;

	atomic_store(&w.sleeping, true);
	atomic_thread_fence(memory_order_seq_cst);
	if (!sb_log_queue_peek(w.q, 0) && !atomic_load(&w.q->dropped) && !atomic_load(&w.stop)) {
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
	}
	atomic_store(&w.sleeping, false);
	n = read(w.efd, &v, sizeof(v)); /* resets it; EAGAIN when nobody wrote */
	(void)n;
}

/* Any thread. The eventfd is non-blocking: a full counter (EAGAIN) means already woken. */
static void kick(void)
{
	static const uint64_t one = 1;
	ssize_t n = write(w.efd, &one, sizeof(one));

	(void)n;
}

/* Producer side: after a publish or a drop, wake the writer if it sleeps. Pairs with the
 * fence in wait_for_lines: either the writer sees the line, or this sees `sleeping`. */
static void wake_writer(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w.sleeping, memory_order_relaxed))
		kick();
}

static void *writer_main(void *arg)
{
	(void)arg;
	for (;;) {
		/* Read before draining: once set, every line has been published. */
		bool stopping = atomic_load(&w.stop);

		sb_log_tz_refresh();
		while (write_batch() > 0)
			;
		report_dropped();
		if (stopping)
			return NULL;
		wait_for_lines();
	}
}

struct sb_log_slot *sb_log_writer_claim(bool *queued)
{
	struct sb_log_slot *s;

	atomic_fetch_add(&w.inflight, 1);
	*queued = atomic_load(&w.running);
	if (!*queued)
		return NULL;
	s = sb_log_queue_claim(w.q);
	if (!s)
		wake_writer();
	return s;
}

void sb_log_writer_done(struct sb_log_slot *s, size_t len)
{
	if (s) {
		sb_log_queue_publish(s, len);
		wake_writer();
	}
	atomic_fetch_sub(&w.inflight, 1);
}

int sb_log_start(int fd)
{
	int r;

	if (atomic_load(&w.running))
		return -EALREADY;
	if (atomic_load(&w.stuck))
		return -EBUSY;
	r = sb_log_queue_new(&w.q, SB_LOG_QUEUE_LINES);
	if (r < 0)
		return r;
	w.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w.efd < 0) {
		r = -errno;
		goto out;
	}
	w.fd = fd;
	atomic_store(&w.stop_deadline_ms, 0);
	atomic_store(&w.stop, false);
	atomic_store(&w.sleeping, false);
	/* Every signal blocked: the daemon takes its signals through a signalfd. */
	r = sb_thread_start(&w.thread, writer_main, NULL, "sb-log", true);
	if (r == 0)
		atomic_store(&w.running, true);
out:
	if (r < 0) {
		if (w.efd >= 0)
			close(w.efd);
		w.efd = -1;
		w.q = sb_log_queue_free(w.q);
	}
	return r;
}

void sb_log_stop(void)
{
	if (!atomic_load(&w.running))
		return;
	/* New lines go direct; the ones on their way into the queue get there first. */
	atomic_store(&w.running, false);
	while (atomic_load(&w.inflight) > 0)
		sched_yield();
	/* Set before `stop`: the writer sees the deadline once it sees the stop. */
	atomic_store(&w.stop_deadline_ms, sb_now_ms() + SB_LOG_STOP_MS);
	atomic_store(&w.stop, true);
	kick();
	if (sb_thread_join_within(w.thread, SB_LOG_STOP_MS + 1000) != 0) {
		/* In a write poll said would not block: it ends with the process. */
		atomic_store(&w.stuck, true);
		return;
	}
	close(w.efd);
	w.efd = -1;
	w.q = sb_log_queue_free(w.q);
}

void sb_log_writer_direct(const char *buf, size_t len)
{
	/* After a stop: bounded as the writer's last lines were. */
	if (atomic_load(&w.stop_deadline_ms) && !wait_writable(STDERR_FILENO, -1)) {
		atomic_fetch_add_explicit(&w.dropped_total, 1, memory_order_relaxed);
		return;
	}
	sb_log_write_all(STDERR_FILENO, buf, len);
}

uint64_t sb_log_dropped(void)
{
	return atomic_load_explicit(&w.dropped_total, memory_order_relaxed);
}

/* MPSC command queue: a mutex-protected singly linked list plus an eventfd (or a wake
 * callback) to wake the consumer. Only commands travel here, never audio, so a mutex per
 * message is cheap enough. Thread: producers any, consumer the owner. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sb/call.h>
#include <sb/mq.h>

struct sb_mq {
	pthread_mutex_t lock;
	struct sb_msg *head, *tail;
	int efd;
	sb_mq_wake_fn *wake;
	void *wake_arg;
};

int sb_mq_new(struct sb_mq **ret)
{
	struct sb_mq *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		int r = -errno;

		free(q);
		return r;
	}
	pthread_mutex_init(&q->lock, NULL);
	*ret = q;
	return 0;
}

struct sb_mq *sb_mq_free(struct sb_mq *q)
{
	if (!q)
		return NULL;
	for (struct sb_msg *m = q->head, *next; m; m = next) {
		next = m->next;
		sb_msg_free(m);
	}
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	free(q);
	return NULL;
}

void sb_mq_set_wake(struct sb_mq *q, sb_mq_wake_fn *fn, void *arg)
{
	q->wake = fn;
	q->wake_arg = arg;
}

int sb_mq_fd(const struct sb_mq *q)
{
	return q->efd;
}

void sb_mq_push(struct sb_mq *q, struct sb_msg *m)
{
	bool was_empty;

	m->next = NULL;
	pthread_mutex_lock(&q->lock);
	was_empty = q->head == NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	pthread_mutex_unlock(&q->lock);

	/* A non-empty queue has already been signalled and not yet drained. */
	if (!was_empty)
		return;
	if (q->wake) {
		q->wake(q->wake_arg);
	} else {
		uint64_t one = 1;
		ssize_t n = write(q->efd, &one, sizeof(one));
		(void)n; /* EAGAIN means the counter is already non-zero: the consumer is awake */
	}
}

struct sb_msg *sb_mq_pop_all(struct sb_mq *q)
{
	struct sb_msg *list;
	uint64_t v;
	ssize_t n;

	n = read(q->efd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&q->lock);
	list = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	return list;
}

struct sb_msg *sb_msg_new(int type, struct sb_call *call, int64_t arg)
{
	struct sb_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->type = type;
	m->call = call ? sb_call_ref(call) : NULL;
	m->arg = arg;
	return m;
}

struct sb_msg *sb_msg_free(struct sb_msg *m)
{
	if (!m)
		return NULL;
	sb_call_unref(m->call);
	free(m->text);
	free(m->data);
	free(m);
	return NULL;
}

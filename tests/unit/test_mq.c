/* Unit tests for the MPSC command queue: order, eventfd wake-ups, custom wake callbacks,
 * call references carried by messages, and several producer threads at once. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <sb/call.h>
#include <sb/mq.h>

#include "harness.h"

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

TEST(fifo_order_and_eventfd)
{
	struct sb_mq *q = NULL;
	struct sb_msg *list = NULL;
	int r = 0, i = 0;

	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_TRUE(!readable(sb_mq_fd(q)));
	for (int k = 0; k < 5; k++)
		sb_mq_push(q, sb_msg_new(100 + k, NULL, k));
	ASSERT_TRUE(readable(sb_mq_fd(q)));
	list = sb_mq_pop_all(q);
	ASSERT_TRUE(!readable(sb_mq_fd(q)));
	for (struct sb_msg *m = list; m; m = m->next, i++) {
		ASSERT_EQ(m->type, 100 + i);
		ASSERT_EQ(m->arg, i);
	}
	ASSERT_EQ(i, 5);
	ASSERT_TRUE(sb_mq_pop_all(q) == NULL);
out:
	while (list) {
		struct sb_msg *next = list->next;
		sb_msg_free(list);
		list = next;
	}
	sb_mq_free(q);
	return r;
}

static atomic_int wakes;
static void count_wake(void *arg)
{
	(void)arg;
	atomic_fetch_add(&wakes, 1);
}

TEST(wake_callback_once_per_batch)
{
	struct sb_mq *q = NULL;
	struct sb_msg *list = NULL;
	int r = 0;

	ASSERT_EQ(sb_mq_new(&q), 0);
	sb_mq_set_wake(q, count_wake, NULL);
	atomic_store(&wakes, 0);
	sb_mq_push(q, sb_msg_new(1, NULL, 0));
	sb_mq_push(q, sb_msg_new(2, NULL, 0));
	/* The second push finds the queue non-empty: the consumer is already woken. */
	ASSERT_EQ(atomic_load(&wakes), 1);
	list = sb_mq_pop_all(q);
	sb_mq_push(q, sb_msg_new(3, NULL, 0));
	ASSERT_EQ(atomic_load(&wakes), 2);
out:
	while (list) {
		struct sb_msg *next = list->next;
		sb_msg_free(list);
		list = next;
	}
	sb_mq_free(q); /* frees message 3 too */
	return r;
}

TEST(message_holds_call_reference)
{
	struct sb_call *c = NULL;
	struct sb_msg *m = NULL;
	int r = 0;

	ASSERT_EQ(sb_call_new(&c), 0);
	m = sb_msg_new(7, c, 0);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(atomic_load(&c->refs), 2);
	m = sb_msg_free(m);
	ASSERT_EQ(atomic_load(&c->refs), 1);
out:
	sb_msg_free(m);
	sb_call_unref(c);
	return r;
}

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct producer {
	struct sb_mq *q;
	int id;
	atomic_int *done; /* producers that have pushed all theirs */
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < PER_PRODUCER; i++) {
		struct sb_msg *m = sb_msg_new(p->id, NULL, i);
		if (m)
			sb_mq_push(p->q, m);
	}
	atomic_fetch_add(p->done, 1);
	return NULL;
}

TEST(many_producers_lose_nothing_and_keep_each_order)
{
	struct sb_mq *q = NULL;
	pthread_t t[PRODUCERS];
	struct producer prod[PRODUCERS];
	int64_t last[PRODUCERS];
	long disorder = 0;
	long total = 0;
	atomic_int done = 0;
	bool all_pushed = false;
	int r = 0;

	ASSERT_EQ(sb_mq_new(&q), 0);
	/* Each producer's messages must arrive in the order it pushed them. */
	for (int i = 0; i < PRODUCERS; i++) {
		last[i] = -1;
		prod[i] = (struct producer){q, i, &done};
		pthread_create(&t[i], NULL, produce, &prod[i]);
	}
	/* Until a pop that began after every push had ended: a lost message is a short count, not
	 * a wait for it. */
	while (!all_pushed) {
		struct pollfd p = {.fd = sb_mq_fd(q), .events = POLLIN};

		all_pushed = atomic_load(&done) == PRODUCERS;
		if (!all_pushed)
			poll(&p, 1, 100);
		for (struct sb_msg *m = sb_mq_pop_all(q), *next; m; m = next) {
			next = m->next;
			total++;
			if (m->arg != last[m->type] + 1)
				disorder++;
			last[m->type] = m->arg;
			sb_msg_free(m);
		}
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	ASSERT_EQ(total, (long)PRODUCERS * PER_PRODUCER);
	ASSERT_EQ(disorder, 0);
	ASSERT_TRUE(sb_mq_pop_all(q) == NULL);
out:
	sb_mq_free(q);
	return r;
}

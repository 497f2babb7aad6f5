/* Unit tests for resolver.c with a resolve function that blocks on the names slow* until
 * released: asking never blocks, a blocked name does not hold up the others, every outcome
 * arrives on the queue, a name asked for again while it is being resolved is not looked up
 * twice, the pool grows to its bound while names are stuck, names waiting are bounded, and the
 * owner can let go while a lookup is stuck; a resolver made with no thread starts one when asked,
 * and the owner's gauge counts the lookups running; the family-bound resolve function answers in
 * its family.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <sb/common.h>
#include <sb/mq.h>
#include <sb/resolver.h>

#include "harness.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool released;
static int blocked; /* lookups now waiting in fake_resolve */

static int fake_resolve(const char *host, char *addr, size_t addrlen)
{
	if (strncmp(host, "slow", 4) == 0) {
		pthread_mutex_lock(&lock);
		blocked++;
		pthread_cond_broadcast(&cond);
		while (!released)
			pthread_cond_wait(&cond, &lock);
		blocked--;
		pthread_mutex_unlock(&lock);
	}
	if (strcmp(host, "nx.test") == 0)
		return EAI_NONAME;
	snprintf(addr, addrlen, "192.0.2.%zu", strlen(host));
	return 0;
}

static void set_released(bool v)
{
	pthread_mutex_lock(&lock);
	released = v;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* Waits (5 s at most) until the fake holds n lookups. */
static bool wait_blocked(int n)
{
	int64_t end = sb_now_ms() + 5000;
	bool ok;

	pthread_mutex_lock(&lock);
	while (blocked != n && sb_now_ms() < end) {
		pthread_mutex_unlock(&lock);
		poll(NULL, 0, 5);
		pthread_mutex_lock(&lock);
	}
	ok = blocked == n;
	pthread_mutex_unlock(&lock);
	return ok;
}

/* A test's end: its answer in hand, the answers it kept aside, the resolver, the queue. */
static void free_all(struct sb_msg *m, struct sb_msg *list, struct sb_resolver *res,
                     struct sb_mq *q)
{
	sb_msg_free(m);
	while (list) {
		m = list->next;
		sb_msg_free(list);
		list = m;
	}
	sb_resolver_free(res);
	sb_mq_free(q);
}

/* The next outcome on q (waiting 5 s at most), or NULL. */
static struct sb_msg *next_answer(struct sb_mq *q, struct sb_msg **pending)
{
	struct pollfd p = {.fd = sb_mq_fd(q), .events = POLLIN};
	struct sb_msg *m;

	if (!*pending && poll(&p, 1, 5000) == 1)
		*pending = sb_mq_pop_all(q);
	m = *pending;
	if (m)
		*pending = m->next;
	return m;
}

TEST(blocked_name_does_not_hold_up_others)
{
	struct sb_resolver *res = NULL;
	struct sb_msg *list = NULL, *m = NULL;
	struct sb_mq *q = NULL;
	unsigned answered = 0; /* 1: fast.test, 2: nx.test */
	int r = 0;

	set_released(false);
	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_EQ(sb_resolver_new(&res, 2, fake_resolve, q, NULL), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow.test"), 0);
	ASSERT_TRUE(wait_blocked(1));
	ASSERT_EQ(sb_resolver_ask(res, "fast.test"), 0);
	ASSERT_EQ(sb_resolver_ask(res, "nx.test"), 0);
	/* Both answered while slow is stuck, in either order: the pool may have grown a thread
	 * for one of them. */
	for (int i = 0; i < 2; i++) {
		m = next_answer(q, &list);
		ASSERT_TRUE(m);
		if (!strcmp(m->text, "fast.test")) {
			ASSERT_EQ(answered & 1, 0);
			answered |= 1;
			ASSERT_STREQ(m->data, "192.0.2.9");
			ASSERT_EQ(m->arg, 0);
		} else {
			ASSERT_STREQ(m->text, "nx.test");
			ASSERT_EQ(answered & 2, 0);
			answered |= 2;
			ASSERT_TRUE(m->data == NULL);
			ASSERT_EQ(m->arg, EAI_NONAME);
		}
		m = sb_msg_free(m);
	}
	/* Still stuck, and nothing else arrived for it. */
	ASSERT_TRUE(wait_blocked(1));
	ASSERT_TRUE(list == NULL);
	set_released(true);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "slow.test");
	ASSERT_STREQ(m->data, "192.0.2.9");
out:
	set_released(true); /* on a failure, lets the stuck thread go before the next test */
	wait_blocked(0);
	free_all(m, list, res, q);
	return r;
}

/* A lookup that does not return is not started again when its name is asked for again (as the
 * ws worker does when the cache's wait for it expires): the name keeps one thread, and the
 * other threads still serve the other names. Its one outcome answers every ask. */
TEST(stuck_name_asked_again_keeps_one_thread)
{
	struct sb_resolver *res = NULL;
	struct sb_msg *list = NULL, *m = NULL;
	struct sb_mq *q = NULL;
	struct pollfd p;
	int r = 0;

	set_released(false);
	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_EQ(sb_resolver_new(&res, 2, fake_resolve, q, NULL), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow.test"), 0);
	ASSERT_TRUE(wait_blocked(1));
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(sb_resolver_ask(res, "slow.test"), 0);
	ASSERT_EQ(sb_resolver_ask(res, "fast.test"), 0);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "fast.test");
	m = sb_msg_free(m);
	ASSERT_TRUE(wait_blocked(1));
	set_released(true);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "slow.test");
	m = sb_msg_free(m);
	/* Nothing more: the asks that came while it was stuck started no lookup of their own. */
	p = (struct pollfd){.fd = sb_mq_fd(q), .events = POLLIN};
	ASSERT_TRUE(list == NULL);
	ASSERT_EQ(poll(&p, 1, 300), 0);
	/* Once answered, the name is looked up again when asked. */
	ASSERT_EQ(sb_resolver_ask(res, "slow.test"), 0);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "slow.test");
out:
	set_released(true); /* on a failure, lets the stuck threads go before the next test */
	wait_blocked(0);
	free_all(m, list, res, q);
	return r;
}

/* Names stuck on every thread: an ask that finds all of them busy starts one more, so the
 * other names are still served, up to SB_RESOLVER_MAX_THREADS threads; past it a name waits
 * for a thread, and is served when one is free. */
TEST(stuck_names_grow_the_pool_to_its_bound)
{
	struct sb_resolver *res = NULL;
	struct sb_msg *list = NULL, *m = NULL;
	struct sb_mq *q = NULL;
	struct pollfd p;
	char name[32];
	int r = 0, answers = 0;

	set_released(false);
	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_EQ(sb_resolver_new(&res, 2, fake_resolve, q, NULL), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow1.test"), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow2.test"), 0);
	ASSERT_TRUE(wait_blocked(2));
	ASSERT_EQ(sb_resolver_ask(res, "fast.test"), 0);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "fast.test");
	m = sb_msg_free(m);
	for (int i = 3; i <= SB_RESOLVER_MAX_THREADS + 1; i++) {
		snprintf(name, sizeof(name), "slow%d.test", i);
		ASSERT_EQ(sb_resolver_ask(res, name), 0);
	}
	ASSERT_TRUE(wait_blocked(SB_RESOLVER_MAX_THREADS));
	/* The bound: the last slow name and this one wait, and no thread more is started. */
	ASSERT_EQ(sb_resolver_ask(res, "fast2.test"), 0);
	p = (struct pollfd){.fd = sb_mq_fd(q), .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 300), 0);
	ASSERT_TRUE(wait_blocked(SB_RESOLVER_MAX_THREADS));
	set_released(true);
	while (answers < SB_RESOLVER_MAX_THREADS + 2 && (m = next_answer(q, &list))) {
		answers++;
		m = sb_msg_free(m);
	}
	ASSERT_EQ(answers, SB_RESOLVER_MAX_THREADS + 2);
out:
	set_released(true);
	wait_blocked(0);
	free_all(m, list, res, q);
	return r;
}

/* Every thread stuck and SB_RESOLVER_MAX_WAITING names waiting: a new name is refused with
 * -ENOBUFS (a bridged transfer to it fails at once, 503), one already waiting is taken as
 * asked; once the lookups return every name queued is answered, and asks are taken again. */
TEST(waiting_names_are_bounded)
{
	struct sb_resolver *res = NULL;
	struct sb_msg *list = NULL, *m = NULL;
	struct sb_mq *q = NULL;
	char name[32];
	int r = 0, answers = 0;

	set_released(false);
	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_EQ(sb_resolver_new(&res, SB_RESOLVER_MAX_THREADS, fake_resolve, q, NULL), 0);
	for (int i = 0; i < SB_RESOLVER_MAX_THREADS; i++) {
		snprintf(name, sizeof(name), "slow%d.test", i);
		ASSERT_EQ(sb_resolver_ask(res, name), 0);
	}
	ASSERT_TRUE(wait_blocked(SB_RESOLVER_MAX_THREADS));
	for (int i = 0; i < SB_RESOLVER_MAX_WAITING; i++) {
		snprintf(name, sizeof(name), "waiting%d.test", i);
		ASSERT_EQ(sb_resolver_ask(res, name), 0);
	}
	ASSERT_EQ(sb_resolver_ask(res, "one-more.test"), -ENOBUFS);
	ASSERT_EQ(sb_resolver_ask(res, "waiting0.test"), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow0.test"), 0);
	set_released(true);
	while (answers < SB_RESOLVER_MAX_THREADS + SB_RESOLVER_MAX_WAITING &&
	       (m = next_answer(q, &list))) {
		ASSERT_TRUE(strcmp(m->text, "one-more.test") != 0);
		answers++;
		m = sb_msg_free(m);
	}
	ASSERT_EQ(answers, SB_RESOLVER_MAX_THREADS + SB_RESOLVER_MAX_WAITING);
	ASSERT_EQ(sb_resolver_ask(res, "one-more.test"), 0);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "one-more.test");
out:
	set_released(true);
	wait_blocked(0);
	free_all(m, list, res, q);
	return r;
}

TEST(free_while_a_lookup_is_stuck)
{
	struct sb_resolver *res = NULL;
	struct sb_mq *q = NULL;
	struct pollfd p;
	int64_t t0;
	int r = 0;

	set_released(false);
	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_EQ(sb_resolver_new(&res, 1, fake_resolve, q, NULL), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow.test"), 0);
	ASSERT_TRUE(wait_blocked(1));
	t0 = sb_now_ms();
	res = sb_resolver_free(res);
	ASSERT_TRUE(sb_now_ms() - t0 < 1000);
	/* The thread finishes its lookup on its own and posts nothing to the freed owner. */
	set_released(true);
	ASSERT_TRUE(wait_blocked(0));
	p = (struct pollfd){.fd = sb_mq_fd(q), .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 300), 0);
	ASSERT_TRUE(sb_mq_pop_all(q) == NULL);
out:
	sb_resolver_free(res);
	sb_mq_free(q);
	return r;
}

/* A resolver made with no thread (the webhook's: most URLs hold an address) starts one at the
 * first ask; the owner's gauge counts the lookup while it runs, and not after it returned. */
TEST(first_ask_starts_a_thread_and_gauge_counts)
{
	struct sb_resolver *res = NULL;
	struct sb_msg *list = NULL, *m = NULL;
	struct sb_mq *q = NULL;
	atomic_uint_fast64_t active = 0;
	int r = 0;

	set_released(false);
	ASSERT_EQ(sb_mq_new(&q), 0);
	ASSERT_EQ(sb_resolver_new(&res, 0, fake_resolve, q, &active), 0);
	ASSERT_EQ(sb_resolver_ask(res, "slow.test"), 0);
	ASSERT_TRUE(wait_blocked(1));
	ASSERT_EQ(atomic_load(&active), 1);
	set_released(true);
	m = next_answer(q, &list);
	ASSERT_TRUE(m);
	ASSERT_STREQ(m->text, "slow.test");
	ASSERT_STREQ(m->data, "192.0.2.9");
	ASSERT_EQ(atomic_load(&active), 0);
out:
	free_all(m, list, res, q);
	return r;
}

TEST(getaddrinfo_numeric)
{
	char addr[64];
	int r = 0;

	/* No DNS involved: numeric hosts and /etc/hosts only. */
	ASSERT_EQ(sb_resolve_getaddrinfo("127.0.0.1", addr, sizeof(addr)), 0);
	ASSERT_STREQ(addr, "127.0.0.1");
	ASSERT_EQ(sb_resolve_getaddrinfo("localhost", addr, sizeof(addr)), 0);
	ASSERT_STREQ(addr, "127.0.0.1");
out:
	return r;
}

TEST(in_family_numeric)
{
	char addr[64];
	int r = 0;

	/* Numeric hosts only: the answer's family is the key's, or none. */
	ASSERT_EQ(sb_resolve_in_family("4 127.0.0.1", addr, sizeof(addr)), 0);
	ASSERT_STREQ(addr, "127.0.0.1");
	ASSERT_EQ(sb_resolve_in_family("6 ::1", addr, sizeof(addr)), 0);
	ASSERT_STREQ(addr, "::1");
	ASSERT_EQ(sb_resolve_in_family("6 127.0.0.1", addr, sizeof(addr)), EAI_FAMILY);
	ASSERT_EQ(sb_resolve_in_family("4 ::1", addr, sizeof(addr)), EAI_FAMILY);
	ASSERT_EQ(sb_resolve_in_family("6 fe80::1%1", addr, sizeof(addr)), EAI_FAMILY);
	ASSERT_EQ(sb_resolve_in_family("127.0.0.1", addr, sizeof(addr)), EAI_NONAME);
out:
	return r;
}

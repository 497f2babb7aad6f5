/* Host name resolution on a small pool of threads, so its owner (a ws worker for bot hosts, the
 * webhook thread for the webhook's) never waits on DNS:
 * names are queued (a short mutex for the list, once per connection attempt, never per frame;
 * a semaphore wakes the pool, as sem_post never waits for a waiter the way a condition
 * variable's signal can), resolved with a blocking function, and each outcome is posted to the
 * owner's queue. A name waiting or being resolved is not queued again: a lookup that never
 * returns holds one thread, not one more each time the name is asked for. When every thread is
 * busy and a name waits, the pool grows by one, up to SB_RESOLVER_MAX_THREADS, so a few stuck
 * names do not hold up the rest.
 * Thread: the pool (lookups), the owner (ask, free). Owns the request queue and the list of
 * names being resolved; the last of the owner and the threads to let go frees it. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_SUBSYS "dns"
#include <sb/log.h>

#include <sb/common.h>
#include <sb/resolver.h>
#include <sb/worker_thread.h>

#define ADDR_MAX 46  /* INET6_ADDRSTRLEN */
#define SLOW_MS 5000 /* a lookup that takes longer is logged */

struct request {
	struct request *next;
	char host[];
};

struct sb_resolver {
	pthread_mutex_t lock;
	sem_t ready; /* one post per queued name, and one per thread at the end */
	struct request *head, **tail;
	struct request *active; /* being resolved, one per busy thread */
	unsigned waiting;
	unsigned busy;    /* threads resolving a name (the length of active) */
	unsigned threads; /* started; written by the owner only */
	unsigned refs;    /* the owner and each thread; under lock */
	bool closed;      /* the owner let go: post nothing more */
	sb_resolve_fn *fn;
	struct sb_mq *out;
	atomic_uint_fast64_t *gauge; /* the owner's count of lookups running, or NULL */
};

int sb_resolve_getaddrinfo(const char *host, char *addr, size_t addrlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *p;
	const void *a;
	int r = getaddrinfo(host, NULL, &hints, &res);

	if (r)
		return r;
	/* One address is used: IPv4 first, as a host with both most often serves on both. */
	for (p = res; p->ai_next && p->ai_family != AF_INET; p = p->ai_next)
		;
	if (p->ai_family != AF_INET)
		p = res;
	if (p->ai_family == AF_INET6)
		a = &((struct sockaddr_in6 *)(void *)p->ai_addr)->sin6_addr;
	else
		a = &((struct sockaddr_in *)(void *)p->ai_addr)->sin_addr;
	if (!inet_ntop(p->ai_family, a, addr, (socklen_t)addrlen))
		r = EAI_FAMILY;
	freeaddrinfo(res);
	return r;
}

int sb_resolve_in_family(const char *key, char *addr, size_t addrlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res;
	int af = key[0] == '6' ? AF_INET6 : AF_INET, r;

	if ((key[0] != '4' && key[0] != '6') || key[1] != ' ')
		return EAI_NONAME;
	r = getaddrinfo(key + 2, NULL, &hints, &res);
	if (r)
		return r;
	r = EAI_FAMILY;
	for (const struct addrinfo *p = res; p && r; p = p->ai_next) {
		/* a scoped (link-local) address has no place in a SIP URI */
		if (p->ai_family == af &&
		    getnameinfo(p->ai_addr, p->ai_addrlen, addr, (socklen_t)addrlen, NULL, 0,
		                NI_NUMERICHOST) == 0 &&
		    !strchr(addr, '%'))
			r = 0;
	}
	freeaddrinfo(res);
	return r;
}

/* Drops one reference; the last frees. Called with the lock held, returns with it released. */
static void unref_unlock(struct sb_resolver *r)
{
	bool last = --r->refs == 0;

	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	while (r->head) {
		struct request *q = r->head;

		r->head = q->next;
		free(q);
	}
	sem_destroy(&r->ready);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Takes q off the list of names being resolved and posts its outcome, unless the owner has let
 * go (checked under the lock, so none arrives after sb_resolver_free returned). Frees q. */
static void post(struct sb_resolver *r, struct request *q, const char *addr, int err)
{
	struct sb_msg *m = sb_msg_new(0, NULL, err);
	struct request **pp;

	if (m) {
		m->text = strdup(q->host);
		m->data = addr ? strdup(addr) : NULL;
	}
	pthread_mutex_lock(&r->lock);
	for (pp = &r->active; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	r->busy--;
	free(q);
	if (!r->closed && m && m->text && (!addr || m->data)) {
		sb_mq_push(r->out, m);
		m = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	sb_msg_free(m);
}

static void *run(void *arg)
{
	struct sb_resolver *r = arg;
	char addr[ADDR_MAX];

	for (;;) {
		struct request *q;
		int64_t t0, took_ms;
		int err;

		while (sem_wait(&r->ready) < 0)
			; /* EINTR */
		pthread_mutex_lock(&r->lock);
		if (r->closed)
			break;
		if (!r->head) {
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		q = r->head;
		r->head = q->next;
		if (!r->head)
			r->tail = &r->head;
		r->waiting--;
		r->busy++;
		q->next = r->active;
		r->active = q;
		pthread_mutex_unlock(&r->lock);
		/* A gauge that outlives the owner (a global one): a stuck lookup may. */
		if (r->gauge)
			atomic_fetch_add_explicit(r->gauge, 1, memory_order_relaxed);
		t0 = sb_now_ms();
		err = r->fn(q->host, addr, sizeof(addr));
		took_ms = sb_now_ms() - t0;
		if (r->gauge)
			atomic_fetch_sub_explicit(r->gauge, 1, memory_order_relaxed);
		if (took_ms >= SLOW_MS)
			log_warn("Resolving %s took %" PRId64 " ms", q->host, took_ms);
		if (err)
			log_debug("Cannot resolve %s: %s", q->host, gai_strerror(err));
		post(r, q, err ? NULL : addr, err);
	}
	unref_unlock(r);
	return NULL;
}

static int start_thread(struct sb_resolver *r, unsigned idx)
{
	pthread_t t;
	int e;

	pthread_mutex_lock(&r->lock);
	r->refs++;
	pthread_mutex_unlock(&r->lock);
	e = sb_worker_thread_start(&t, run, r, "sb-dns", idx % 100); /* fits 15 bytes */
	if (e < 0) {
		pthread_mutex_lock(&r->lock);
		r->refs--;
		pthread_mutex_unlock(&r->lock);
		return e;
	}
	pthread_detach(t);
	r->threads++;
	return 0;
}

int sb_resolver_new(struct sb_resolver **ret, unsigned threads, sb_resolve_fn *fn,
                    struct sb_mq *out, atomic_uint_fast64_t *gauge)
{
	struct sb_resolver *r = calloc(1, sizeof(*r));
	int e = 0;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	if (sem_init(&r->ready, 0, 0) < 0) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		return -errno;
	}
	r->tail = &r->head;
	r->refs = 1;
	r->fn = fn;
	r->out = out;
	r->gauge = gauge;
	for (unsigned i = 0; i < threads && e == 0; i++)
		e = start_thread(r, i);
	if (e < 0) {
		sb_resolver_free(r);
		return e;
	}
	*ret = r;
	return 0;
}

static bool listed(const struct request *q, const char *host)
{
	for (; q; q = q->next) {
		if (strcmp(q->host, host) == 0)
			return true;
	}
	return false;
}

int sb_resolver_ask(struct sb_resolver *r, const char *host)
{
	size_t len = strlen(host);
	struct request *q;
	bool grow;
	int e;

	q = malloc(sizeof(*q) + len + 1);
	if (!q)
		return -ENOMEM;
	q->next = NULL;
	memcpy(q->host, host, len + 1);
	pthread_mutex_lock(&r->lock);
	if (listed(r->active, host) || listed(r->head, host)) {
		/* Its outcome is on its way, however long that takes. */
		pthread_mutex_unlock(&r->lock);
		free(q);
		return 0;
	}
	if (r->waiting >= SB_RESOLVER_MAX_WAITING) {
		pthread_mutex_unlock(&r->lock);
		free(q);
		return -ENOBUFS;
	}
	*r->tail = q;
	r->tail = &q->next;
	r->waiting++;
	grow = r->waiting + r->busy > r->threads && r->threads < SB_RESOLVER_MAX_THREADS;
	pthread_mutex_unlock(&r->lock);
	sem_post(&r->ready);
	/* Every thread is taken (by lookups that may never return): one more serves this name. */
	if (grow && (e = start_thread(r, r->threads)) < 0)
		log_warn("Cannot start another resolver thread: %s, ignoring", strerror(-e));
	return 0;
}

struct sb_resolver *sb_resolver_free(struct sb_resolver *r)
{
	if (!r)
		return NULL;
	pthread_mutex_lock(&r->lock);
	r->closed = true;
	for (unsigned i = 0; i < r->threads; i++)
		sem_post(&r->ready);
	unref_unlock(r);
	return NULL;
}

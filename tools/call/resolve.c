/* The addresses a --to host name resolves to, looked up with the system's resolver before
 * anything is sent: a name of the other family than --local is a usage error, not a "transport
 * error", and the call goes to the first address of --local's family (the SIP stack's own DNS
 * client knows neither /etc/hosts nor NSS). The lookup runs on a thread of its own and is
 * waited for a bounded time: a name service that does not answer costs at most that, and the
 * run still ends within its documented bound.
 * Thread: main (the caller), one detached lookup thread. Owns the lookup's static state.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

#include <sb/worker_thread.h>

#include "call.h"

/* Static, not on the caller's stack: a lookup that outlives the wait still writes here. */
static struct {
	sem_t done;
	char host[SB_CL_HOST_MAX + 1];
	struct addrinfo *res; /* the lookup thread's until `done` is posted */
	int err;
} lk;

static void *lookup(void *arg)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};

	(void)arg;
	lk.err = getaddrinfo(lk.host, NULL, &hints, &lk.res);
	sem_post(&lk.done);
	return NULL;
}

/* Starts the lookup, detached, with every signal blocked in its thread (the main thread
 * takes them). */
static int start(void)
{
	pthread_t t;
	int r = sb_thread_start(&t, lookup, NULL, "sbcall-dns", true);

	if (r == 0)
		pthread_detach(t);
	return r;
}

/* Appends addr to the ", "-separated list in buf unless it is there; false when full. */
static bool add(char *buf, size_t size, const char *addr)
{
	size_t n = strlen(buf), a = strlen(addr);

	for (const char *p = buf; (p = strstr(p, addr)); p += a)
		if ((p == buf || p[-1] == ' ') && (p[a] == ',' || !p[a]))
			return true;
	if (n + (n ? 2 : 0) + a + 1 > size)
		return false;
	if (n) {
		memcpy(buf + n, ", ", 2);
		n += 2;
	}
	memcpy(buf + n, addr, a + 1);
	return true;
}

/* Numeric addresses into addrs (as many as fit, "..." after them when some did not), the first
 * one of family af into first. */
static unsigned families(const struct addrinfo *res, int af, char *addrs, size_t size, char *first,
                         size_t first_size)
{
	unsigned fams = 0;
	bool full = false;

	addrs[0] = '\0';
	first[0] = '\0';
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char num[NI_MAXHOST];

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		fams |= ai->ai_family == AF_INET ? SB_CL_FAM_IPV4 : SB_CL_FAM_IPV6;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, num, sizeof(num), NULL, 0,
		                NI_NUMERICHOST) != 0)
			continue;
		/* a scoped (link-local) address has no place in a SIP URI's host */
		if (!first[0] && ai->ai_family == af && !strchr(num, '%') &&
		    strlen(num) < first_size)
			strcpy(first, num);
		if (!full)
			full = !add(addrs, size - 4, num);
	}
	if (full)
		strcat(addrs, " ...");
	return fams;
}

unsigned sb_cl_resolve_families(const char *host, long wait_ms, int af, char *addrs, size_t size,
                                char *first, size_t first_size)
{
	struct timespec until;
	unsigned fams;

	if (first_size > 0)
		first[0] = '\0';
	if (size < 8 || first_size == 0 || strlen(host) > SB_CL_HOST_MAX ||
	    sem_init(&lk.done, 0, 0))
		return 0;
	strcpy(lk.host, host);
	if (start() < 0)
		return 0;
	until = sb_deadline_in(CLOCK_MONOTONIC, wait_ms);
	while (sem_clockwait(&lk.done, CLOCK_MONOTONIC, &until) != 0)
		if (errno != EINTR)
			return 0; /* not answered in time: the thread is left to it */
	if (lk.err)
		return 0;
	fams = families(lk.res, af, addrs, size, first, first_size);
	freeaddrinfo(lk.res);
	lk.res = NULL;
	return fams;
}

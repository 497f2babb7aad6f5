/* Host name cache: a small fixed table scanned linearly (it holds the few distinct hosts of a
 * configuration, looked up once per connection attempt, never per frame).
 * Pure: no I/O, no locks. Thread: its owner (a ws worker, the webhook thread). Owns its table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sb/dns_cache.h>

enum entry_state { ST_FREE, ST_PENDING, ST_OK, ST_FAILED };

struct entry {
	enum entry_state state;
	int err;
	int64_t expires_ms; /* the answer (or the wait for one) is stale after this */
	int64_t used_ms;    /* last lookup or store: the least recent is evicted first */
	char host[SB_DNS_HOST_MAX + 1];
	char addr[SB_DNS_ADDR_MAX];
};

struct sb_dns_cache {
	size_t cap, count;
	int64_t ttl_ms, fail_ttl_ms;
	struct entry e[];
};

struct sb_dns_cache *sb_dns_cache_new(size_t capacity, int64_t ttl_ms, int64_t fail_ttl_ms)
{
	struct sb_dns_cache *c;

	if (capacity == 0)
		return NULL;
	c = calloc(1, sizeof(*c) + capacity * sizeof(struct entry));
	if (!c)
		return NULL;
	c->cap = capacity;
	c->ttl_ms = ttl_ms;
	c->fail_ttl_ms = fail_ttl_ms;
	return c;
}

struct sb_dns_cache *sb_dns_cache_free(struct sb_dns_cache *c)
{
	free(c);
	return NULL;
}

size_t sb_dns_cache_count(const struct sb_dns_cache *c)
{
	return c->count;
}

static struct entry *find(struct sb_dns_cache *c, const char *host)
{
	for (size_t i = 0; i < c->cap; i++) {
		if (c->e[i].state != ST_FREE && strcmp(c->e[i].host, host) == 0)
			return &c->e[i];
	}
	return NULL;
}

/* A free entry, else an expired one, else the least recently used answer; a pending entry
 * that has not expired is never taken (a result is on its way for it). */
static struct entry *make_room(struct sb_dns_cache *c, int64_t now_ms)
{
	struct entry *lru = NULL;

	for (size_t i = 0; i < c->cap; i++) {
		struct entry *e = &c->e[i];

		if (e->state == ST_FREE)
			return e;
		if (e->expires_ms <= now_ms)
			return e;
		if (e->state != ST_PENDING && (!lru || e->used_ms < lru->used_ms))
			lru = e;
	}
	return lru;
}

static struct entry *add(struct sb_dns_cache *c, const char *host, int64_t now_ms)
{
	struct entry *e = make_room(c, now_ms);

	if (!e)
		return NULL;
	if (e->state == ST_FREE)
		c->count++;
	memset(e, 0, sizeof(*e));
	strcpy(e->host, host); /* length checked by the callers */
	return e;
}

static void set_pending(struct sb_dns_cache *c, struct entry *e, int64_t now_ms)
{
	e->state = ST_PENDING;
	e->expires_ms = now_ms + c->ttl_ms;
	e->used_ms = now_ms;
}

int sb_dns_cache_get(struct sb_dns_cache *c, const char *host, int64_t now_ms, char *addr,
                     size_t addrlen, int *err)
{
	struct entry *e;

	if (strlen(host) > SB_DNS_HOST_MAX)
		return -EINVAL;
	e = find(c, host);
	if (!e || e->expires_ms <= now_ms) {
		if (!e)
			e = add(c, host, now_ms);
		if (!e)
			return -ENOSPC;
		set_pending(c, e, now_ms);
		return SB_DNS_MISS;
	}
	e->used_ms = now_ms;
	switch (e->state) {
	case ST_OK:
		if (strlen(e->addr) >= addrlen)
			return -EINVAL;
		strcpy(addr, e->addr);
		return SB_DNS_HIT;
	case ST_FAILED:
		if (err)
			*err = e->err;
		return SB_DNS_FAILED;
	default:
		return SB_DNS_PENDING;
	}
}

int sb_dns_cache_put(struct sb_dns_cache *c, const char *host, int64_t now_ms, const char *addr,
                     int err)
{
	struct entry *e;

	if (strlen(host) > SB_DNS_HOST_MAX || (addr && strlen(addr) >= SB_DNS_ADDR_MAX))
		return -EINVAL;
	e = find(c, host);
	if (!e)
		e = add(c, host, now_ms);
	if (!e)
		return -ENOSPC;
	e->used_ms = now_ms;
	if (addr) {
		e->state = ST_OK;
		e->err = 0;
		strcpy(e->addr, addr);
		e->expires_ms = now_ms + c->ttl_ms;
	} else {
		e->state = ST_FAILED;
		e->err = err;
		e->addr[0] = '\0';
		e->expires_ms = now_ms + c->fail_ttl_ms;
	}
	return 0;
}

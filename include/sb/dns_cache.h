/* Host name cache (a ws worker's bot hosts, the webhook's host): host name → numeric address
 * with a time to live, failures kept for a shorter time, and the names being resolved right
 * now, so that a name is asked for once however many calls wait for it. Bounded: the least recently
 * used entry makes room. Pure: no I/O, no locks. Thread: the one that owns the cache. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SB_DNS_HOST_MAX 255 /* longest host name kept (the URL parser's bound) */
#define SB_DNS_ADDR_MAX 46  /* INET6_ADDRSTRLEN */

enum sb_dns_result {
	SB_DNS_MISS,    /* unknown or expired: the caller resolves it and calls put */
	SB_DNS_PENDING, /* being resolved: wait for the put */
	SB_DNS_HIT,     /* addr holds the numeric address */
	SB_DNS_FAILED,  /* a recent resolution failed: err holds its code */
};

struct sb_dns_cache;

/* Thread: any. A cache of at most capacity names (> 0). An address is kept ttl_ms, a failure
 * fail_ttl_ms; a name still pending after ttl_ms is asked for again. NULL on OOM. */
struct sb_dns_cache *sb_dns_cache_new(size_t capacity, int64_t ttl_ms, int64_t fail_ttl_ms);
/* Thread: owner. Frees; accepts NULL; returns NULL. */
struct sb_dns_cache *sb_dns_cache_free(struct sb_dns_cache *c);
/* Thread: owner. Looks host up at now_ms. On SB_DNS_MISS the name is now pending (the caller
 * must resolve it); on SB_DNS_HIT addr (addrlen bytes) holds the address; on SB_DNS_FAILED *err
 * holds what put stored. -ENOSPC when every entry is pending, -EINVAL for a name too long. */
int sb_dns_cache_get(struct sb_dns_cache *c, const char *host, int64_t now_ms, char *addr,
                     size_t addrlen, int *err);
/* Thread: owner. Stores the outcome for host: addr (copied) or NULL with err. Returns 0,
 * -ENOSPC when no entry can be made, -EINVAL for a name or address too long. */
int sb_dns_cache_put(struct sb_dns_cache *c, const char *host, int64_t now_ms, const char *addr,
                     int err);
/* Thread: owner. Entries in use (any state, expired ones included until reused). */
size_t sb_dns_cache_count(const struct sb_dns_cache *c);

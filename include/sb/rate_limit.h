/* Per-source token buckets in a fixed table: how many refusals each source address may get a
 * second. Allocated once; no allocation, lock or I/O per lookup. Pure. Thread: any (one owner
 * at a time: the SIP guard's, on the control thread). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SB_RATE_LIMIT_SLOTS 4096 /* sources tracked at once: 1024 sets of 4 */
#define SB_RATE_LIMIT_WAYS 4
#define SB_RATE_LIMIT_WARN_MS 60000 /* a source's drops are reported at most this often */

struct sb_rate_slot {
	uint8_t key[16];    /* IPv4 address, or the /64 prefix of an IPv6 one */
	uint8_t family;     /* AF_INET, AF_INET6; 0: free */
	bool warned;        /* a warning about this source has been reported */
	uint64_t milli;     /* tokens in thousandths */
	int64_t last_ms;    /* when the bucket was last refilled (also: last use, for eviction) */
	int64_t warned_ms;  /* when the last warning was reported */
	uint64_t n_dropped; /* drops since that warning */
};

struct sb_rate_limit {
	uint64_t seed; /* keys the hash, so a sender cannot pick colliding addresses */
	struct sb_rate_slot slots[SB_RATE_LIMIT_SLOTS];
};

/* Thread: any. A table with every source's bucket full; seed keys the hash. Returns 0 or
 * -ENOMEM; *ret is the caller's, freed with sb_rate_limit_free(). */
int sb_rate_limit_new(struct sb_rate_limit **ret, uint64_t seed);
/* Thread: any. Frees rl (NULL is fine); returns NULL. */
struct sb_rate_limit *sb_rate_limit_free(struct sb_rate_limit *rl);
/* Thread: the owner's. Takes one token from the bucket of sa's address (AF_INET or AF_INET6;
 * an IPv4-mapped IPv6 address counts as IPv4, an IPv6 one by its /64) at now_ms. A bucket
 * holds at most rate tokens and gains rate a second; rate 0 means no limit. A source not in
 * the table replaces the least recently used of its set, with a full bucket. Returns true
 * when a token was taken. When false and a warning about this source is due (its first drop,
 * then at most once per SB_RATE_LIMIT_WARN_MS), *warn is set to the drops since the last
 * one; else *warn is 0. Addresses of other families are never limited. */
bool sb_rate_limit_take(struct sb_rate_limit *rl, const struct sockaddr *sa, unsigned rate,
                        int64_t now_ms, uint64_t *warn);

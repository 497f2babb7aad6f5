/* Per-source token buckets in a fixed, set-associative table (4 ways): a source's slot is
 * found by a keyed hash of its address; a new source replaces the least recently used slot
 * of its set. Pure: no I/O, no locks, no allocation after sb_rate_limit_new().
 * Thread: the owner's (the SIP guard's, on the control thread). Owns its table. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sb/rate_limit.h>

#define N_SETS (SB_RATE_LIMIT_SLOTS / SB_RATE_LIMIT_WAYS)

_Static_assert((N_SETS & (N_SETS - 1)) == 0, "the number of sets is a power of two");

int sb_rate_limit_new(struct sb_rate_limit **ret, uint64_t seed)
{
	struct sb_rate_limit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return -ENOMEM;
	rl->seed = seed;
	*ret = rl;
	return 0;
}

struct sb_rate_limit *sb_rate_limit_free(struct sb_rate_limit *rl)
{
	free(rl);
	return NULL;
}

/* The source's key: an IPv4 address (also from an IPv4-mapped IPv6 one), or an IPv6 /64, the
 * least a single IPv6 host is given. Returns the family, or 0 for any other. */
static uint8_t key_of(const struct sockaddr *sa, uint8_t key[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a6;

	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
		memcpy(key, a6 + 12, 4);
		return AF_INET;
	}
	memcpy(key, a6, 8);
	return AF_INET6;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static size_t set_of(const struct sb_rate_limit *rl, const uint8_t key[16], uint8_t family)
{
	uint64_t lo, hi;

	memcpy(&lo, key, 8);
	memcpy(&hi, key + 8, 8);
	return (size_t)(mix(mix(lo ^ rl->seed ^ family) ^ hi) & (N_SETS - 1));
}

/* The source's slot, or the set's free or least recently used one, reset for it. */
static struct sb_rate_slot *slot_for(struct sb_rate_limit *rl, const uint8_t key[16],
                                     uint8_t family, unsigned rate, int64_t now_ms)
{
	struct sb_rate_slot *set = &rl->slots[set_of(rl, key, family) * SB_RATE_LIMIT_WAYS];
	struct sb_rate_slot *victim = &set[0];

	for (unsigned i = 0; i < SB_RATE_LIMIT_WAYS; i++) {
		struct sb_rate_slot *s = &set[i];

		if (s->family == family && memcmp(s->key, key, 16) == 0)
			return s;
		if (victim->family && (!s->family || s->last_ms < victim->last_ms))
			victim = s;
	}
	*victim = (struct sb_rate_slot){
	        .family = family, .milli = (uint64_t)rate * 1000u, .last_ms = now_ms};
	memcpy(victim->key, key, 16);
	return victim;
}

/* Adds the tokens earned since the last refill, up to the bucket's size (rate). */
static void refill(struct sb_rate_slot *s, unsigned rate, int64_t now_ms)
{
	uint64_t cap = (uint64_t)rate * 1000u;

	if (now_ms > s->last_ms) {
		uint64_t dt = (uint64_t)(now_ms - s->last_ms);

		/* dt * rate: milli-tokens; past a second's worth the bucket is full anyway */
		s->milli = dt >= 1000 ? cap : s->milli + dt * rate;
		if (s->milli > cap)
			s->milli = cap;
		s->last_ms = now_ms;
	}
}

bool sb_rate_limit_take(struct sb_rate_limit *rl, const struct sockaddr *sa, unsigned rate,
                        int64_t now_ms, uint64_t *warn)
{
	struct sb_rate_slot *s;
	uint8_t key[16], family;

	*warn = 0;
	family = key_of(sa, key);
	if (!rate || !family)
		return true;
	s = slot_for(rl, key, family, rate, now_ms);
	refill(s, rate, now_ms);
	if (s->milli >= 1000) {
		s->milli -= 1000;
		return true;
	}
	s->n_dropped++;
	if (!s->warned || now_ms - s->warned_ms >= SB_RATE_LIMIT_WARN_MS) {
		*warn = s->n_dropped;
		s->n_dropped = 0;
		s->warned = true;
		s->warned_ms = now_ms;
	}
	return false;
}

/* Unit tests for dns_cache.c: a miss becomes pending, answers and failures with their TTLs,
 * refresh after expiry, the bound with least-recently-used eviction, and pending entries that
 * are never evicted while fresh. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>

#include <sb/dns_cache.h>

#include "harness.h"

TEST(miss_pending_hit)
{
	struct sb_dns_cache *c = sb_dns_cache_new(4, 60000, 5000);
	char addr[SB_DNS_ADDR_MAX] = "";
	int r = 0;

	ASSERT_TRUE(c);
	ASSERT_EQ(sb_dns_cache_get(c, "bot.example.com", 1000, addr, sizeof(addr), NULL),
	          SB_DNS_MISS);
	/* Asked once: later lookups wait for the same answer. */
	ASSERT_EQ(sb_dns_cache_get(c, "bot.example.com", 1001, addr, sizeof(addr), NULL),
	          SB_DNS_PENDING);
	ASSERT_EQ(sb_dns_cache_put(c, "bot.example.com", 1200, "192.0.2.7", 0), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "bot.example.com", 1300, addr, sizeof(addr), NULL),
	          SB_DNS_HIT);
	ASSERT_STREQ(addr, "192.0.2.7");
	ASSERT_EQ(sb_dns_cache_count(c), 1);
out:
	sb_dns_cache_free(c);
	return r;
}

TEST(ttl_expiry_and_refresh)
{
	struct sb_dns_cache *c = sb_dns_cache_new(4, 60000, 5000);
	char addr[SB_DNS_ADDR_MAX] = "";
	int r = 0;

	ASSERT_EQ(sb_dns_cache_put(c, "h", 0, "192.0.2.1", 0), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "h", 59999, addr, sizeof(addr), NULL), SB_DNS_HIT);
	/* Stale at the TTL: asked again, and pending until the new answer. */
	ASSERT_EQ(sb_dns_cache_get(c, "h", 60000, addr, sizeof(addr), NULL), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_get(c, "h", 60001, addr, sizeof(addr), NULL), SB_DNS_PENDING);
	ASSERT_EQ(sb_dns_cache_put(c, "h", 60100, "192.0.2.2", 0), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "h", 60200, addr, sizeof(addr), NULL), SB_DNS_HIT);
	ASSERT_STREQ(addr, "192.0.2.2");
	/* The new answer has a full TTL of its own. */
	ASSERT_EQ(sb_dns_cache_get(c, "h", 60100 + 59999, addr, sizeof(addr), NULL), SB_DNS_HIT);
	ASSERT_EQ(sb_dns_cache_get(c, "h", 60100 + 60000, addr, sizeof(addr), NULL), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_count(c), 1);
out:
	sb_dns_cache_free(c);
	return r;
}

TEST(failure_has_its_own_ttl)
{
	struct sb_dns_cache *c = sb_dns_cache_new(4, 60000, 5000);
	char addr[SB_DNS_ADDR_MAX] = "";
	int err = 0, r = 0;

	ASSERT_EQ(sb_dns_cache_get(c, "nx", 0, addr, sizeof(addr), &err), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_put(c, "nx", 10, NULL, EAI_NONAME), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "nx", 4000, addr, sizeof(addr), &err), SB_DNS_FAILED);
	ASSERT_EQ(err, EAI_NONAME);
	ASSERT_EQ(sb_dns_cache_get(c, "nx", 5010, addr, sizeof(addr), &err), SB_DNS_MISS);
	/* A later success replaces the failure. */
	ASSERT_EQ(sb_dns_cache_put(c, "nx", 5020, "2001:db8::1", 0), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "nx", 5030, addr, sizeof(addr), &err), SB_DNS_HIT);
	ASSERT_STREQ(addr, "2001:db8::1");
out:
	sb_dns_cache_free(c);
	return r;
}

TEST(pending_is_asked_again_after_ttl)
{
	struct sb_dns_cache *c = sb_dns_cache_new(2, 1000, 500);
	char addr[SB_DNS_ADDR_MAX];
	int r = 0;

	/* An answer that never comes does not keep the name waiting for ever. */
	ASSERT_EQ(sb_dns_cache_get(c, "lost", 0, addr, sizeof(addr), NULL), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_get(c, "lost", 999, addr, sizeof(addr), NULL), SB_DNS_PENDING);
	ASSERT_EQ(sb_dns_cache_get(c, "lost", 1000, addr, sizeof(addr), NULL), SB_DNS_MISS);
out:
	sb_dns_cache_free(c);
	return r;
}

TEST(bound_evicts_least_recently_used)
{
	struct sb_dns_cache *c = sb_dns_cache_new(3, 60000, 5000);
	char addr[SB_DNS_ADDR_MAX];
	int r = 0;

	ASSERT_EQ(sb_dns_cache_put(c, "a", 1, "192.0.2.1", 0), 0);
	ASSERT_EQ(sb_dns_cache_put(c, "b", 2, "192.0.2.2", 0), 0);
	ASSERT_EQ(sb_dns_cache_put(c, "c", 3, "192.0.2.3", 0), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "a", 4, addr, sizeof(addr), NULL), SB_DNS_HIT);
	/* Full: "b" is the least recently used and makes room. */
	ASSERT_EQ(sb_dns_cache_put(c, "d", 5, "192.0.2.4", 0), 0);
	ASSERT_EQ(sb_dns_cache_count(c), 3);
	ASSERT_EQ(sb_dns_cache_get(c, "a", 6, addr, sizeof(addr), NULL), SB_DNS_HIT);
	ASSERT_EQ(sb_dns_cache_get(c, "c", 6, addr, sizeof(addr), NULL), SB_DNS_HIT);
	ASSERT_EQ(sb_dns_cache_get(c, "d", 6, addr, sizeof(addr), NULL), SB_DNS_HIT);
	ASSERT_STREQ(addr, "192.0.2.4");
	/* "b" is gone: a miss, which takes the room of the least recent ("a") again. */
	ASSERT_EQ(sb_dns_cache_get(c, "b", 7, addr, sizeof(addr), NULL), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_count(c), 3);
	ASSERT_EQ(sb_dns_cache_get(c, "a", 8, addr, sizeof(addr), NULL), SB_DNS_MISS);
out:
	sb_dns_cache_free(c);
	return r;
}

TEST(pending_entries_are_not_evicted)
{
	struct sb_dns_cache *c = sb_dns_cache_new(2, 60000, 5000);
	char addr[SB_DNS_ADDR_MAX];
	int r = 0;

	ASSERT_EQ(sb_dns_cache_get(c, "p1", 0, addr, sizeof(addr), NULL), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_get(c, "p2", 0, addr, sizeof(addr), NULL), SB_DNS_MISS);
	/* Both entries wait for an answer: no room, and nothing the waiters need is lost. */
	ASSERT_EQ(sb_dns_cache_get(c, "p3", 1, addr, sizeof(addr), NULL), -ENOSPC);
	ASSERT_EQ(sb_dns_cache_get(c, "p1", 2, addr, sizeof(addr), NULL), SB_DNS_PENDING);
	ASSERT_EQ(sb_dns_cache_put(c, "p1", 3, "192.0.2.9", 0), 0);
	/* An answered entry can go now. */
	ASSERT_EQ(sb_dns_cache_get(c, "p3", 4, addr, sizeof(addr), NULL), SB_DNS_MISS);
	ASSERT_EQ(sb_dns_cache_get(c, "p2", 5, addr, sizeof(addr), NULL), SB_DNS_PENDING);
	ASSERT_EQ(sb_dns_cache_get(c, "p1", 5, addr, sizeof(addr), NULL), -ENOSPC);
out:
	sb_dns_cache_free(c);
	return r;
}

TEST(bad_input)
{
	struct sb_dns_cache *c = sb_dns_cache_new(2, 60000, 5000);
	char longname[SB_DNS_HOST_MAX + 2], addr[SB_DNS_ADDR_MAX], small[4];
	int r = 0;

	ASSERT_TRUE(sb_dns_cache_new(0, 1, 1) == NULL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ASSERT_EQ(sb_dns_cache_get(c, longname, 0, addr, sizeof(addr), NULL), -EINVAL);
	ASSERT_EQ(sb_dns_cache_put(c, longname, 0, "192.0.2.1", 0), -EINVAL);
	ASSERT_EQ(
	        sb_dns_cache_put(c, "h", 0, "0123456789012345678901234567890123456789012345678", 0),
	        -EINVAL);
	ASSERT_EQ(sb_dns_cache_count(c), 0);
	/* An address that does not fit the caller's buffer is refused, not cut. */
	ASSERT_EQ(sb_dns_cache_put(c, "h", 0, "192.0.2.1", 0), 0);
	ASSERT_EQ(sb_dns_cache_get(c, "h", 1, small, sizeof(small), NULL), -EINVAL);
out:
	sb_dns_cache_free(c);
	return r;
}

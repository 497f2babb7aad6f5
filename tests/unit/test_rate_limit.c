/* Unit tests for rate_limit.c: a source's burst and refill, no limit at rate 0, sources
 * apart from each other, IPv4-mapped and IPv6 /64 keys, eviction of the least recently used
 * source of a full table, and one warning per source a minute with the drops in between. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include <sb/rate_limit.h>

#include "harness.h"

/* Tokens ip gets at now_ms out of tries. */
static unsigned taken(struct sb_rate_limit *rl, const char *ip, unsigned rate, int64_t now_ms,
                      unsigned tries)
{
	struct sockaddr_storage ss;
	unsigned n = 0;
	uint64_t warn;

	for (unsigned i = 0; i < tries; i++)
		n += sb_rate_limit_take(rl, sip_sa(&ss, ip), rate, now_ms, &warn);
	return n;
}

TEST(burst_then_refill)
{
	struct sb_rate_limit *rl = NULL;
	int r = 0;

	ASSERT_EQ(sb_rate_limit_new(&rl, 1), 0);
	/* a full bucket of rate tokens, then nothing within the same millisecond */
	ASSERT_EQ(taken(rl, "192.0.2.1", 50, 1000, 80), 50);
	ASSERT_EQ(taken(rl, "192.0.2.1", 50, 1000, 10), 0);
	/* 100 ms earn 5 tokens; 20 ms one */
	ASSERT_EQ(taken(rl, "192.0.2.1", 50, 1100, 10), 5);
	ASSERT_EQ(taken(rl, "192.0.2.1", 50, 1120, 10), 1);
	/* an hour later the bucket holds rate tokens, not more */
	ASSERT_EQ(taken(rl, "192.0.2.1", 50, 3601120, 200), 50);
	/* a clock that goes back earns nothing */
	ASSERT_EQ(taken(rl, "192.0.2.1", 50, 1000, 10), 0);
out:
	sb_rate_limit_free(rl);
	return r;
}

TEST(rate_zero_and_other_families_unlimited)
{
	struct sb_rate_limit *rl = NULL;
	struct sockaddr_storage ss;
	uint64_t warn = 7;
	int r = 0;

	ASSERT_EQ(sb_rate_limit_new(&rl, 2), 0);
	ASSERT_EQ(taken(rl, "192.0.2.1", 0, 1000, 1000), 1000);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	for (int i = 0; i < 100; i++)
		ASSERT_TRUE(sb_rate_limit_take(rl, (struct sockaddr *)&ss, 1, 1000, &warn));
	ASSERT_EQ(warn, 0);
out:
	sb_rate_limit_free(rl);
	return r;
}

TEST(sources_apart_and_keys)
{
	struct sb_rate_limit *rl = NULL;
	int r = 0;

	ASSERT_EQ(sb_rate_limit_new(&rl, 3), 0);
	ASSERT_EQ(taken(rl, "192.0.2.1", 10, 0, 20), 10);
	ASSERT_EQ(taken(rl, "192.0.2.2", 10, 0, 20), 10);
	/* the IPv4-mapped form of an address shares its bucket */
	ASSERT_EQ(taken(rl, "::ffff:192.0.2.1", 10, 0, 20), 0);
	/* an IPv6 /64 is one source; the next /64 is another */
	ASSERT_EQ(taken(rl, "2001:db8:0:1::1", 10, 0, 6), 6);
	ASSERT_EQ(taken(rl, "2001:db8:0:1:ffff::2", 10, 0, 20), 4);
	ASSERT_EQ(taken(rl, "2001:db8:0:2::1", 10, 0, 20), 10);
out:
	sb_rate_limit_free(rl);
	return r;
}

TEST(full_table_evicts_least_recently_used)
{
	const unsigned n = 4 * SB_RATE_LIMIT_SLOTS;
	struct sb_rate_limit *rl = NULL;
	struct sockaddr_storage ss;
	uint64_t warn = 0;
	char ip[32];
	int r = 0;

	ASSERT_EQ(sb_rate_limit_new(&rl, 4), 0);
	/* the first source empties its bucket and is warned about */
	ASSERT_TRUE(sb_rate_limit_take(rl, sip_sa(&ss, "10.255.255.255"), 1, 0, &warn));
	ASSERT_TRUE(!sb_rate_limit_take(rl, sip_sa(&ss, "10.255.255.255"), 1, 0, &warn));
	ASSERT_EQ(warn, 1);
	/* four times as many sources as slots follow, one a millisecond, each emptying its own */
	for (unsigned i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
		ASSERT_EQ(taken(rl, ip, 1, 1 + i, 2), 1);
	}
	/* the latest is remembered: its bucket is still empty */
	ASSERT_EQ(taken(rl, ip, 1, n, 1), 0);
	/* the first was the least recently used of its set: forgotten, it is new again, and so
	 * is warned about again within the minute (a remembered source would not be) */
	ASSERT_TRUE(sb_rate_limit_take(rl, sip_sa(&ss, "10.255.255.255"), 1, n + 1, &warn));
	ASSERT_TRUE(!sb_rate_limit_take(rl, sip_sa(&ss, "10.255.255.255"), 1, n + 1, &warn));
	ASSERT_EQ(warn, 1);
out:
	sb_rate_limit_free(rl);
	return r;
}

TEST(one_warning_a_minute_with_the_drops)
{
	struct sb_rate_limit *rl = NULL;
	struct sockaddr_storage ss;
	uint64_t warn = 0, warned = 0, n_warnings = 0, drops = 0, drops_warned = 0;
	int r = 0;

	ASSERT_EQ(sb_rate_limit_new(&rl, 5), 0);
	/* 2 allowed a second, 10 tries a second for 2 minutes and a half */
	for (int64_t t = 0; t < 150000; t += 100) {
		bool ok = sb_rate_limit_take(rl, sip_sa(&ss, "198.51.100.7"), 2, t, &warn);

		drops += !ok;
		if (ok)
			ASSERT_EQ(warn, 0);
		if (warn) {
			/* the first drop (the burst and one refill are gone by 200 ms), then the
			 * first drop a minute after the last warning */
			ASSERT_TRUE(n_warnings == 0 ? t == 200 : t % SB_RATE_LIMIT_WARN_MS == 200);
			n_warnings++;
			warned += warn;
			drops_warned = drops;
		}
	}
	ASSERT_EQ(n_warnings, 3);
	/* each warning carries the drops since the one before: together, every drop up to the
	 * last of them */
	ASSERT_EQ(warned, drops_warned);
	ASSERT_TRUE(drops >= 1190 && drops <= 1200); /* 1500 tries, 2 + 2 a second allowed */
	/* another source is warned about on its own first drop */
	ASSERT_EQ(taken(rl, "198.51.100.8", 1, 150000, 1), 1);
	ASSERT_TRUE(!sb_rate_limit_take(rl, sip_sa(&ss, "198.51.100.8"), 1, 150000, &warn));
	ASSERT_EQ(warn, 1);
out:
	sb_rate_limit_free(rl);
	return r;
}

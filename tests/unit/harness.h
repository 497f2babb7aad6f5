/* Minimal unit-test harness: TEST() registers a case, ASSERT_*() jump to the case's `out:`
 * label on failure, main() runs every case and prints "N passed, N failed". */
#pragma once

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct sb_test {
	const char *name;
	int (*fn)(void);
};

#define SB_MAX_TESTS 256
extern struct sb_test sb_tests[SB_MAX_TESTS];
extern int sb_n_tests;

#define TEST(name)                                                                                 \
	static int test_##name(void);                                                              \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		if (sb_n_tests < SB_MAX_TESTS)                                                     \
			sb_tests[sb_n_tests++] = (struct sb_test){#name, test_##name};             \
	}                                                                                          \
	static int test_##name(void)

#define FAIL_AT(...)                                                                               \
	do {                                                                                       \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                  \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		r = -1;                                                                            \
		goto out;                                                                          \
	} while (0)

/* Every test body declares `int r = 0;` and ends with `out: ...; return r;`. */
#define ASSERT_TRUE(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			FAIL_AT("assertion failed: %s", #c);                                       \
	} while (0)
#define ASSERT_EQ(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b)                                                                      \
			FAIL_AT("%s == %s: %lld != %lld", #a, #b, _a, _b);                         \
	} while (0)
#define ASSERT_STREQ(a, b)                                                                         \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0)                                             \
			FAIL_AT("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)",          \
			        _b ? _b : "(null)");                                               \
	} while (0)
#define ASSERT_MEMEQ(a, b, n)                                                                      \
	do {                                                                                       \
		if (memcmp((a), (b), (n)) != 0)                                                    \
			FAIL_AT("%s and %s differ in the first %zu bytes", #a, #b, (size_t)(n));   \
	} while (0)

/* Fills *ss with a numeric IPv4 or IPv6 address and port 5060 (a SIP source), for the
 * address-keyed modules' tests; returns ss as a sockaddr. */
static inline const struct sockaddr *sip_sa(struct sockaddr_storage *ss, const char *ip)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(5060);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(5060);
	}
	return (const struct sockaddr *)ss;
}

/* Defines main(); include harness_main.c once per test executable (done by meson). */

/* Minimal unit-test harness: TEST() registers a case, ASSERT_*() jump to the case's `out:`
 * label on failure, main() runs every case and prints "N passed, N failed". */
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

/* Defines main(); include harness_main.c once per test executable (done by meson). */

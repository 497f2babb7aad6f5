/* Small helpers shared by every module: array size, container_of, branch hints, printf
 * attribute and the monotonic clock. Thread: any. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define SB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SB_UNUSED __attribute__((unused))

/* Samples in one 20 ms frame at 8 kHz, the RTP side's only rate. */
#define SB_FRAME_MS 20
#define SB_RATE_8K 8000
#define SB_FRAME_SAMPLES 160

/* Thread: any. Monotonic milliseconds. */
static inline int64_t sb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Thread: any. Monotonic microseconds. */
static inline int64_t sb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

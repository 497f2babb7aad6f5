/* Small helpers shared by every module: array size, container_of, branch hints, printf
 * attribute, big-endian words and the monotonic clock. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

/* True for the unspecified (wildcard) address as text: 0.0.0.0 or ::. */
static inline bool sb_addr_unspecified(const char *addr)
{
	return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
}

/* Thread: any. Samples at 8 kHz as 20 ms frames, a part of a frame counting as one: how every
 * drop counter counts. */
static inline uint64_t sb_frames_of(uint64_t samples)
{
	return (samples + SB_FRAME_SAMPLES - 1) / SB_FRAME_SAMPLES;
}

/* Thread: any. How many frames (as sb_frames_of counts them) a call's count of had samples
 * grows by when added more join it. A total of these over calls is the sum of the calls' own
 * counts; a total of their samples rounded once is not (two calls' 10 ms: 2 frames, not 1). */
static inline uint64_t sb_frames_added(uint64_t had, uint64_t added)
{
	return sb_frames_of(had + added) - sb_frames_of(had);
}

/* Thread: any. Host-order 16-bit samples to little-endian (WAV, the bots' PCM), in place. */
static inline void sb_le16_in_place(int16_t *pcm, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)__builtin_bswap16((uint16_t)pcm[i]);
#else
	(void)pcm;
	(void)n;
#endif
}

/* Thread: any. The big-endian (network order) 16-bit word at p. */
static inline uint16_t sb_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Thread: any. Writes v at p in big-endian (network) order. */
static inline void sb_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Thread: any. The big-endian (network order) 32-bit word at p. */
static inline uint32_t sb_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Thread: any. Writes v at p in big-endian (network) order. */
static inline void sb_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Thread: any. Monotonic milliseconds. */
static inline int64_t sb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Thread: any. Wall-clock (CLOCK_REALTIME) milliseconds since the epoch: only for times
 * reported outside (the call-end record), never for intervals. */
static inline int64_t sb_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Thread: any. Monotonic microseconds. */
static inline int64_t sb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

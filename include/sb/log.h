/* Logging: levels, subsystems, per-thread call context, journald prefixes, rate limiting.
 * Each .c defines LOG_SUBSYS before including this header. Thread: any. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <sb/common.h>

enum sb_log_level {
	SB_LOG_ERROR = 3, /* syslog priorities, so journald prefixes are the level itself */
	SB_LOG_WARN = 4,
	SB_LOG_NOTICE = 5,
	SB_LOG_INFO = 6,
	SB_LOG_DEBUG = 7,
};

/* Thread: any. Parses "error" | "warn" | "notice" | "info" | "debug"; -EINVAL otherwise. */
int sb_log_level_parse(const char *name);
/* Thread: any. Name of a level ("info"). */
const char *sb_log_level_name(int level);
/* Thread: control (before workers start or on reload). Sets the global threshold. */
void sb_log_set_level(int level);
/* Thread: any. True when a message at this level would be written. */
bool sb_log_enabled(int level);
/* Thread: any. Sets this thread's call id shown in every line; NULL clears it. The string
 * must stay valid until cleared. */
void sb_log_ctx_set(const char *call_id);
/* Thread: any. Writes one line "LEVEL subsys [call] text" to stderr. */
void sb_log_write(int level, const char *subsys, const char *fmt, ...) SB_PRINTF(3, 4);
/* Thread: any. Like sb_log_write but at most `burst` lines per second per call site state. */
struct sb_ratelimit {
	int64_t window_ms;
	unsigned count;
	unsigned suppressed;
};
bool sb_log_ratelimit_ok(struct sb_ratelimit *rl, unsigned burst);

#ifndef LOG_SUBSYS
#error "define LOG_SUBSYS before including <sb/log.h>"
#endif

#define sb_log_(lvl, ...)                                                                          \
	do {                                                                                       \
		if (sb_log_enabled(lvl))                                                           \
			sb_log_write(lvl, LOG_SUBSYS, __VA_ARGS__);                                \
	} while (0)
#define log_error(...) sb_log_(SB_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) sb_log_(SB_LOG_WARN, __VA_ARGS__)
#define log_notice(...) sb_log_(SB_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) sb_log_(SB_LOG_INFO, __VA_ARGS__)
#define log_debug(...) sb_log_(SB_LOG_DEBUG, __VA_ARGS__)

/* Thread: any. Writes the message followed by ": strerror(err)" and returns -abs(err). */
int sb_log_write_errno(int level, const char *subsys, int err, const char *fmt, ...)
        SB_PRINTF(4, 5);

/* Log and evaluate to -abs(err), so a failure is logged once and returned:
 * return log_error_errno(r, "Cannot bind RTP port %u", port); */
#define log_error_errno(err, ...) sb_log_write_errno(SB_LOG_ERROR, LOG_SUBSYS, (err), __VA_ARGS__)
#define log_warn_errno(err, ...) sb_log_write_errno(SB_LOG_WARN, LOG_SUBSYS, (err), __VA_ARGS__)

/* At most 5 lines a second from one call site; the rest are counted and reported. */
#define sb_log_ratelimited_(lvl, ...)                                                              \
	do {                                                                                       \
		static __thread struct sb_ratelimit _rl;                                           \
		if (sb_log_enabled(lvl) && sb_log_ratelimit_ok(&_rl, 5))                           \
			sb_log_write(lvl, LOG_SUBSYS, __VA_ARGS__);                                \
	} while (0)
#define log_warn_ratelimited(...) sb_log_ratelimited_(SB_LOG_WARN, __VA_ARGS__)
#define log_notice_ratelimited(...) sb_log_ratelimited_(SB_LOG_NOTICE, __VA_ARGS__)
#define log_error_ratelimited(...) sb_log_ratelimited_(SB_LOG_ERROR, __VA_ARGS__)

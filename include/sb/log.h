/* Logging: levels, subsystems, per-thread call context, journald prefixes, rate limiting,
 * text or JSON lines, and the writer thread that keeps logging from ever blocking a worker.
 * Each .c defines LOG_SUBSYS before including this header. Thread: any. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <sb/common.h>

enum sb_log_level {
	SB_LOG_ERROR = 3, /* syslog priorities, so journald prefixes are the level itself */
	SB_LOG_WARN = 4,
	SB_LOG_NOTICE = 5,
	SB_LOG_INFO = 6,
	SB_LOG_DEBUG = 7,
};

enum sb_log_format {
	SB_LOG_FMT_TEXT, /* "LEVEL subsys [call] text" */
	SB_LOG_FMT_JSON, /* {"ts":…,"level":…,"subsys":…,"call":…,"msg":…} */
};

/* Thread: any. Parses "error" | "warn" | "notice" | "info" | "debug"; -EINVAL otherwise. */
int sb_log_level_parse(const char *name);
/* Thread: any. Name of a level ("info"). */
const char *sb_log_level_name(int level);
/* Thread: control (before workers start or on reload). Sets the global threshold. */
void sb_log_set_level(int level);
/* Thread: any. Parses "text" | "json"; -EINVAL otherwise. */
int sb_log_format_parse(const char *name);
/* Thread: control (before workers start or on reload). Sets the format of every later line. */
void sb_log_set_format(int format);
/* Thread: control, before any other thread that logs starts. Starts the writer thread: from
 * now on a line is formatted into a slot of a bounded queue and written to fd (not owned) by
 * that thread; a full queue drops the line and counts it. Before this, lines are written
 * directly. 0, or a negative errno (lines stay direct). */
int sb_log_start(int fd);
/* Thread: control, after every other thread that logs has stopped. Writes every queued line
 * (and the count of dropped ones), then stops the writer; later lines are written directly.
 * Does nothing when the writer does not run. */
void sb_log_stop(void);
/* Thread: any. Lines dropped because the writer's queue was full, counted as they are reported. */
uint64_t sb_log_dropped(void);
/* Thread: any. True when a message at this level would be written. */
bool sb_log_enabled(int level);
/* Thread: any. Sets this thread's call id shown in every line; NULL clears it. The string
 * must stay valid until cleared. */
void sb_log_ctx_set(const char *call_id);
/* Thread: any. Writes one line to stderr in the configured format, through the writer thread
 * when it runs; never blocks then. */
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
#define log_info_ratelimited(...) sb_log_ratelimited_(SB_LOG_INFO, __VA_ARGS__)

/* Log output: one line per message to stderr, "LEVEL subsys [call] text", with a timestamp
 * on a terminal and a "<N>" priority prefix instead when stderr is the journal.
 * Thread: any; the level is an atomic, the call context is per thread. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define LOG_SUBSYS "log"
#include <sb/log.h>

static atomic_int log_level = SB_LOG_INFO;
static __thread const char *log_call_id;
static int log_journal = -1; /* -1 unknown, 0 no, 1 yes */

static const char *const level_names[] = {
        [SB_LOG_ERROR] = "error", [SB_LOG_WARN] = "warn",   [SB_LOG_NOTICE] = "notice",
        [SB_LOG_INFO] = "info",   [SB_LOG_DEBUG] = "debug",
};

int sb_log_level_parse(const char *name)
{
	for (int i = SB_LOG_ERROR; i <= SB_LOG_DEBUG; i++)
		if (name && strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *sb_log_level_name(int level)
{
	if (level < SB_LOG_ERROR || level > SB_LOG_DEBUG)
		return "?";
	return level_names[level];
}

void sb_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

bool sb_log_enabled(int level)
{
	return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void sb_log_ctx_set(const char *call_id)
{
	log_call_id = call_id;
}

/* journald sets JOURNAL_STREAM to the device:inode of the stream it reads. */
static bool stderr_is_journal(void)
{
	if (log_journal < 0)
		log_journal = getenv("JOURNAL_STREAM") != NULL;
	return log_journal;
}

void sb_log_write(int level, const char *subsys, const char *fmt, ...)
{
	char text[1024], line[1200], stamp[32] = "";
	int saved_errno = errno, n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	if (!stderr_is_journal()) {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		n = (int)strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		snprintf(stamp + n, sizeof(stamp) - (size_t)n, ".%03ld ", (long)tv.tv_usec / 1000);
		n = snprintf(line, sizeof(line), "%s%-6s %s ", stamp, sb_log_level_name(level),
		             subsys);
	} else {
		n = snprintf(line, sizeof(line), "<%d>%s %s ", level, sb_log_level_name(level),
		             subsys);
	}
	if (log_call_id && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s] ", log_call_id);
	if (n < (int)sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, "%s\n", text);
	fputs(line, stderr);
	errno = saved_errno;
}

int sb_log_write_errno(int level, const char *subsys, int err, const char *fmt, ...)
{
	char text[900];
	va_list ap;

	err = abs(err);
	if (!sb_log_enabled(level))
		return -err;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sb_log_write(level, subsys, "%s: %s", text, strerror(err));
	return -err;
}

bool sb_log_ratelimit_ok(struct sb_ratelimit *rl, unsigned burst)
{
	int64_t now = sb_now_ms();

	if (now - rl->window_ms >= 1000) {
		if (rl->suppressed)
			sb_log_write(SB_LOG_WARN, "log", "%u similar messages suppressed",
			             rl->suppressed);
		rl->window_ms = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < burst) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}

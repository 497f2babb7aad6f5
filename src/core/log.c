/* Log lines: levels, the per-thread call context, and the line itself, "LEVEL subsys [call]
 * text" or one JSON object, with a "<N>" priority prefix when stderr is the journal. A line
 * goes to the writer thread's queue (log_writer.c) when it runs, else straight to stderr.
 * Thread: any; settings are atomics, the call context is per thread, formatting is pure. */
#include <assert.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_SUBSYS "log"
#include <sb/log.h>

#include <sb/json_str.h>

#include "log_priv.h"

#define SUBSYS_MAX_BYTES 32
#define CALL_MAX_BYTES 128
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, where a line was cut */
#define ELLIPSIS_BYTES 3

static atomic_int log_level = SB_LOG_INFO;
static atomic_int log_format = SB_LOG_FMT_TEXT;
static atomic_int log_journal = -1; /* -1 unknown, 0 no, 1 yes */
static atomic_int log_utc_off_s;
static __thread const char *log_call_id;

static const char *const level_names[] = {
        [SB_LOG_ERROR] = "error", [SB_LOG_WARN] = "warn",   [SB_LOG_NOTICE] = "notice",
        [SB_LOG_INFO] = "info",   [SB_LOG_DEBUG] = "debug",
};
static const char *const format_names[] = {[SB_LOG_FMT_TEXT] = "text", [SB_LOG_FMT_JSON] = "json"};

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

int sb_log_format_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
		if (name && strcmp(name, format_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

void sb_log_set_format(int format)
{
	if (format == SB_LOG_FMT_TEXT || format == SB_LOG_FMT_JSON)
		atomic_store(&log_format, format);
}

void sb_log_ctx_set(const char *call_id)
{
	log_call_id = call_id;
}

/* journald sets JOURNAL_STREAM to the device:inode of the stream it reads; it is inherited,
 * so it counts only when stderr is still that stream. */
static bool stderr_is_journal(void)
{
	int j = atomic_load_explicit(&log_journal, memory_order_relaxed);
	const char *e;
	unsigned long long dev, ino;
	struct stat st;

	if (j >= 0)
		return j;
	e = getenv("JOURNAL_STREAM");
	j = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    st.st_dev == dev && st.st_ino == ino;
	atomic_store_explicit(&log_journal, j, memory_order_relaxed);
	return j;
}

void sb_log_tz_refresh(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm))
		atomic_store_explicit(&log_utc_off_s, (int)tm.tm_gmtoff, memory_order_relaxed);
}

/* Days since 1970-01-01 to a date (H. Hinnant's civil_from_days): gmtime_r and localtime_r
 * take a process-wide lock in glibc, which a media thread must not wait for. */
void sb_log_civil(int64_t unix_s, int *year, unsigned *month, unsigned *day, unsigned *sec_of_day)
{
	int64_t days = unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400;
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*sec_of_day = (unsigned)(unix_s - days * 86400);
	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (int)((int64_t)yoe + era * 400 + (*month <= 2));
}

/* The line being built: len bytes in p, at most cap (the NUL is not counted). */
struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_s(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* One character of s as it appears in the line (JSON-escaped or as is) into piece; returns
 * its length and advances *s past it. Text keeps invalid bytes as they are, one at a time. */
static size_t piece_of(const unsigned char **s, char piece[8], bool json)
{
	unsigned char c = **s;
	size_t n;

	if (json)
		return sb_json_str_piece(s, piece);
	n = sb_utf8_len(*s);
	if (n == 0) {
		*s += 1;
		piece[0] = (char)c;
		return 1;
	}
	memcpy(piece, *s, n);
	*s += n;
	return n;
}

/* Appends str, at most max bytes of it as it appears in the line. When it does not all fit,
 * it is cut at a character boundary and ends in "…". */
static void put_str(struct out *o, const char *str, size_t max, bool json)
{
	const unsigned char *s = (const unsigned char *)str, *rest;
	size_t end, need = 0;
	char piece[8];

	if (max > o->cap - o->len)
		max = o->cap - o->len;
	end = o->len + max;
	while (*s) {
		const unsigned char *next = s;
		size_t n = piece_of(&next, piece, json);

		if (o->len + n + ELLIPSIS_BYTES > end)
			break;
		put(o, piece, n);
		s = next;
	}
	/* Near the end: the rest goes in whole if it fits, else the ellipsis. */
	for (rest = s; *rest;)
		need += piece_of(&rest, piece, json);
	if (o->len + need > end) {
		put(o, ELLIPSIS, ELLIPSIS_BYTES);
		return;
	}
	while (*s)
		put(o, piece, piece_of(&s, piece, json));
}

/* journald takes the "<N>" off and makes it the entry's priority (SyslogLevelPrefix=), so it
 * is kept in JSON too: the journal's MESSAGE is still the bare object. */
static void put_prefix(struct out *o, const struct sb_log_rec *r)
{
	char pri[8];

	if (r->journal) {
		snprintf(pri, sizeof(pri), "<%d>", r->level);
		put_s(o, pri);
	}
}

/* {"ts":"2026-12-02T07:30:01.123Z","level":"info","subsys":"sip","call":"…","msg":"…"} */
static void format_json(struct out *o, const struct sb_log_rec *r)
{
	char ts[40];
	unsigned month, day, sec;
	int year;

	sb_log_civil(r->unix_ms / 1000, &year, &month, &day, &sec);
	snprintf(ts, sizeof(ts), "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", year, month, day,
	         sec / 3600, sec / 60 % 60, sec % 60, (unsigned)(r->unix_ms % 1000));
	put_prefix(o, r);
	put_s(o, "{\"ts\":\"");
	put_s(o, ts);
	put_s(o, "\",\"level\":\"");
	put_s(o, sb_log_level_name(r->level));
	put_s(o, "\",\"subsys\":\"");
	put_str(o, r->subsys, SUBSYS_MAX_BYTES, true);
	if (r->call) {
		put_s(o, "\",\"call\":\"");
		put_str(o, r->call, CALL_MAX_BYTES, true);
	}
	put_s(o, "\",\"msg\":\"");
	put_str(o, r->msg, o->cap - o->len - strlen("\"}\n"), true);
	put_s(o, "\"}\n");
}

/* "07:30:01.123 info   sip [call] text" on a terminal, "<6>info sip [call] text" to the
 * journal, which has its own time stamps. */
static void format_text(struct out *o, const struct sb_log_rec *r)
{
	char head[48];
	int64_t local_s = r->unix_ms / 1000 + r->utc_off_s;
	unsigned sec = (unsigned)((local_s % 86400 + 86400) % 86400);

	if (r->journal)
		snprintf(head, sizeof(head), "<%d>%s ", r->level, sb_log_level_name(r->level));
	else
		snprintf(head, sizeof(head), "%02u:%02u:%02u.%03u %-6s ", sec / 3600, sec / 60 % 60,
		         sec % 60, (unsigned)(r->unix_ms % 1000), sb_log_level_name(r->level));
	put_s(o, head);
	put_str(o, r->subsys, SUBSYS_MAX_BYTES, false);
	put_s(o, " ");
	if (r->call) {
		put_s(o, "[");
		put_str(o, r->call, CALL_MAX_BYTES, false);
		put_s(o, "] ");
	}
	put_str(o, r->msg, o->cap - o->len - 1, false);
	put_s(o, "\n");
}

size_t sb_log_format_line(char *buf, size_t size, const struct sb_log_rec *rec)
{
	struct out o = {.p = buf, .len = 0, .cap = size - 1};

	/* The fixed parts, subsystem and call id take at most ~300 bytes, so the message
	 * always gets room and the closing characters always fit. */
	assert(size >= 512);
	if (rec->format == SB_LOG_FMT_JSON)
		format_json(&o, rec);
	else
		format_text(&o, rec);
	buf[o.len] = '\0';
	return o.len;
}

static void fill_rec(struct sb_log_rec *r, int level, const char *subsys, const char *call,
                     const char *msg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*r = (struct sb_log_rec){
	        .level = level,
	        .format = atomic_load_explicit(&log_format, memory_order_relaxed),
	        .journal = stderr_is_journal(),
	        .unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	        .utc_off_s = atomic_load_explicit(&log_utc_off_s, memory_order_relaxed),
	        .subsys = subsys,
	        .call = call,
	        .msg = msg,
	};
}

size_t sb_log_format_now(char *buf, size_t size, int level, const char *subsys, const char *call,
                         const char *msg)
{
	struct sb_log_rec r;

	fill_rec(&r, level, subsys, call, msg);
	return sb_log_format_line(buf, size, &r);
}

/* Into a slot of the writer's queue, formatted in place, or (no writer yet or any more)
 * straight to stderr: this thread may block then, and lines stay in order. */
static void emit(int level, const char *subsys, const char *msg)
{
	char line[SB_LOG_LINE_MAX];
	struct sb_log_slot *s;
	size_t len = 0;
	bool queued;

	s = sb_log_writer_claim(&queued);
	if (s) {
		len = sb_log_format_now(s->line, sizeof(s->line), level, subsys, log_call_id, msg);
	} else if (!queued) {
		sb_log_tz_refresh();
		len = sb_log_format_now(line, sizeof(line), level, subsys, log_call_id, msg);
		sb_log_writer_direct(line, len);
	}
	sb_log_writer_done(s, len);
}

void sb_log_write(int level, const char *subsys, const char *fmt, ...)
{
	/* Longer than a line, so a cut message is always seen as cut by the formatter. */
	char text[SB_LOG_LINE_MAX + 8];
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	emit(level, subsys, text);
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

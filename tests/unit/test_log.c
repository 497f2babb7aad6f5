/* Unit tests for logging: the line formatter (JSON escaping, control characters, invalid
 * UTF-8, cutting long lines, call id present or absent, text and journal forms), the date
 * arithmetic, and the line queue filled past capacity by several threads.
 * Thread: main, plus producer threads. Owns its queues. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define LOG_SUBSYS "test"
#include <sb/log.h>

#include "../../src/core/log_priv.h"
#include "harness.h"

#define ELLIPSIS "\xe2\x80\xa6"
#define FFFD "\xef\xbf\xbd" /* U+FFFD, the replacement character */

static const struct sb_log_rec base_rec = {
        .level = SB_LOG_INFO,
        .format = SB_LOG_FMT_JSON,
        .unix_ms = 1796196601123, /* 2026-12-02T07:30:01.123Z */
        .subsys = "sip",
        .call = "c0ffee-1",
        .msg = "hello",
};

/* The line for rec, parsed; NULL (and a message) when it is not exactly one JSON object
 * followed by one newline. */
static json_t *format_json(const struct sb_log_rec *rec, char *line, size_t *len)
{
	json_error_t err;
	json_t *j;

	*len = sb_log_format_line(line, SB_LOG_LINE_MAX, rec);
	if (*len == 0 || *len >= SB_LOG_LINE_MAX || line[*len - 1] != '\n' ||
	    strlen(line) != *len) {
		fprintf(stderr, "  bad line framing (%zu bytes): %s", *len, line);
		return NULL;
	}
	j = json_loadb(line, *len - 1, 0, &err);
	if (!j)
		fprintf(stderr, "  not JSON (%s at %d): %s", err.text, err.position, line);
	return j;
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* The ISO 8601 UTC stamp of unix_ms by libc, to check the formatter's own arithmetic. */
static void libc_stamp(int64_t unix_ms, char *out, size_t size)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03dZ", (int)(unix_ms % 1000));
}

TEST(log_format_parse)
{
	int r = 0;

	ASSERT_EQ(sb_log_format_parse("text"), SB_LOG_FMT_TEXT);
	ASSERT_EQ(sb_log_format_parse("json"), SB_LOG_FMT_JSON);
	ASSERT_EQ(sb_log_format_parse("JSON"), -EINVAL);
	ASSERT_EQ(sb_log_format_parse(""), -EINVAL);
	ASSERT_EQ(sb_log_format_parse(NULL), -EINVAL);
out:
	return r;
}

TEST(log_json_fields)
{
	int r = 0;
	char line[SB_LOG_LINE_MAX], stamp[40];
	struct sb_log_rec rec = base_rec;
	json_t *j = NULL;
	size_t len;

	j = format_json(&rec, line, &len);
	ASSERT_TRUE(j && json_is_object(j));
	ASSERT_EQ(json_object_size(j), 5);
	libc_stamp(rec.unix_ms, stamp, sizeof(stamp));
	ASSERT_STREQ(jstr(j, "ts"), stamp);
	ASSERT_STREQ(jstr(j, "level"), "info");
	ASSERT_STREQ(jstr(j, "subsys"), rec.subsys);
	ASSERT_STREQ(jstr(j, "call"), rec.call);
	ASSERT_STREQ(jstr(j, "msg"), rec.msg);
	ASSERT_TRUE(line[0] == '{'); /* no priority prefix off the journal */
	json_decref(j);

	/* Without a call context the key is absent; every level has its name. */
	rec.call = NULL;
	for (int lvl = SB_LOG_ERROR; lvl <= SB_LOG_DEBUG; lvl++) {
		rec.level = lvl;
		j = format_json(&rec, line, &len);
		ASSERT_TRUE(j != NULL);
		ASSERT_TRUE(json_object_get(j, "call") == NULL);
		ASSERT_EQ(json_object_size(j), 4);
		ASSERT_STREQ(jstr(j, "level"), sb_log_level_name(lvl));
		json_decref(j);
		j = NULL;
	}
out:
	json_decref(j);
	return r;
}

TEST(log_json_journal_prefix)
{
	int r = 0;
	char line[SB_LOG_LINE_MAX], want[8];
	struct sb_log_rec rec = base_rec;
	json_t *j = NULL;
	size_t len = 0, n;

	rec.journal = true;
	rec.level = SB_LOG_WARN;
	len = sb_log_format_line(line, sizeof(line), &rec);
	n = (size_t)snprintf(want, sizeof(want), "<%d>", SB_LOG_WARN);
	ASSERT_TRUE(len > n && strncmp(line, want, n) == 0);
	/* What journald keeps after stripping the prefix is the JSON object. */
	j = json_loadb(line + n, len - n - 1, 0, NULL);
	ASSERT_TRUE(j != NULL);
	ASSERT_STREQ(jstr(j, "level"), "warn");
out:
	json_decref(j);
	return r;
}

TEST(log_json_escaping_round_trips)
{
	static const char *const msgs[] = {
	        "quote \" backslash \\ slash /",
	        "newline\nreturn\rtab\tbackspace\bformfeed\f",
	        "ctl \x01\x02\x1b[31m\x1f del \x7f end",
	        "utf-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf",
	        "",
	};
	int r = 0;
	char line[SB_LOG_LINE_MAX];
	struct sb_log_rec rec = base_rec;
	json_t *j = NULL;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
		rec.msg = msgs[i];
		rec.call = msgs[i][0] ? msgs[i] : NULL; /* the call id is escaped the same way */
		j = format_json(&rec, line, &len);
		ASSERT_TRUE(j != NULL);
		ASSERT_STREQ(jstr(j, "msg"), msgs[i]);
		if (rec.call)
			ASSERT_STREQ(jstr(j, "call"), msgs[i]);
		/* No raw control byte reaches the line: one event stays one line. */
		for (size_t k = 0; k + 1 < len; k++)
			ASSERT_TRUE((unsigned char)line[k] >= 0x20 && line[k] != 0x7f);
		json_decref(j);
		j = NULL;
	}
out:
	json_decref(j);
	return r;
}

TEST(log_json_invalid_utf8_replaced)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"a\xff-", "a" FFFD "-"},                  /* never valid */
	        {"\x80x", FFFD "x"},                       /* stray continuation byte */
	        {"\xc0\xaf", FFFD FFFD},                   /* overlong '/' */
	        {"\xe0\x80\xaf", FFFD FFFD FFFD},          /* overlong, 3 bytes */
	        {"\xed\xa0\x80", FFFD FFFD FFFD},          /* UTF-16 surrogate */
	        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* beyond U+10FFFF */
	        {"\xe2\x82x", FFFD FFFD "x"},              /* cut short */
	        {"end \xf0\x9f\x98", "end " FFFD FFFD FFFD},
	};
	int r = 0;
	char line[SB_LOG_LINE_MAX];
	struct sb_log_rec rec = base_rec;
	json_t *j = NULL;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		rec.msg = cases[i].in;
		j = format_json(&rec, line, &len);
		ASSERT_TRUE(j != NULL);
		ASSERT_STREQ(jstr(j, "msg"), cases[i].want);
		json_decref(j);
		j = NULL;
	}
out:
	json_decref(j);
	return r;
}

/* A message of n copies of unit (which JSON shows as `shown`, unit_json_bytes long in the
 * line): either whole, or cut at a character boundary and ended with the ellipsis, and cut
 * only when the whole one would not have fitted. */
static int check_cut(const char *unit, const char *shown, size_t unit_json_bytes, size_t n)
{
	int r = 0;
	size_t ulen = strlen(unit), slen = strlen(shown), len, mlen, full_len;
	char *msg = calloc(n * ulen + 1, 1), *want = calloc(n * slen + 1, 1);
	char line[SB_LOG_LINE_MAX];
	struct sb_log_rec rec = base_rec;
	const char *got;
	json_t *j = NULL;

	ASSERT_TRUE(msg && want);
	for (size_t i = 0; i < n; i++) {
		memcpy(msg + i * ulen, unit, ulen);
		memcpy(want + i * slen, shown, slen);
	}
	rec.msg = "";
	full_len = sb_log_format_line(line, sizeof(line), &rec) + n * unit_json_bytes;
	rec.msg = msg;
	j = format_json(&rec, line, &len);
	ASSERT_TRUE(j != NULL);
	got = jstr(j, "msg");
	mlen = strlen(got);
	if (strcmp(got, want) == 0) {
		ASSERT_TRUE(full_len <= SB_LOG_LINE_MAX - 1);
	} else {
		ASSERT_TRUE(full_len > SB_LOG_LINE_MAX - 1);
		ASSERT_TRUE(mlen >= 3 && strcmp(got + mlen - 3, ELLIPSIS) == 0);
		ASSERT_EQ((mlen - 3) % slen, 0); /* whole characters only */
		ASSERT_TRUE(strncmp(got, want, mlen - 3) == 0);
		/* Cut no more than needed: one more unit would not have fitted. */
		ASSERT_TRUE(len + unit_json_bytes > SB_LOG_LINE_MAX - 1 - 3);
	}
out:
	json_decref(j);
	free(msg);
	free(want);
	return r;
}

TEST(log_json_long_lines_cut)
{
	int r = 0;

	/* Around the limit and far beyond it, with 1-, 2-, 3- and 6-byte characters. */
	for (size_t n = 900; n < 1000; n++)
		ASSERT_EQ(check_cut("a", "a", 1, n), 0);
	for (size_t n = 420; n < 520; n++) {
		ASSERT_EQ(check_cut("\n", "\n", 2, n), 0);
		ASSERT_EQ(check_cut("\xc3\xa9", "\xc3\xa9", 2, n), 0);
	}
	for (size_t n = 280; n < 340; n++) {
		ASSERT_EQ(check_cut("\xe2\x82\xac", "\xe2\x82\xac", 3, n), 0);
		ASSERT_EQ(check_cut("\xff", "\xef\xbf\xbd", 3, n), 0); /* as U+FFFD */
	}
	for (size_t n = 140; n < 180; n++)
		ASSERT_EQ(check_cut("\x01", "\x01", 6, n), 0);
	ASSERT_EQ(check_cut("x", "x", 1, 5000), 0);
out:
	return r;
}

TEST(log_text_line)
{
	int r = 0;
	char line[SB_LOG_LINE_MAX], want[SB_LOG_LINE_MAX], *big = NULL;
	struct sb_log_rec rec = base_rec;
	unsigned hh, mm, ss, ms;
	int n = 0;
	size_t len;

	rec.format = SB_LOG_FMT_TEXT;
	rec.utc_off_s = 3600;
	sb_log_format_line(line, sizeof(line), &rec);
	/* Local time of day first, then "LEVEL subsys [call] text". */
	ASSERT_EQ(sscanf(line, "%2u:%2u:%2u.%3u %n", &hh, &mm, &ss, &ms, &n), 4);
	ASSERT_TRUE(hh == 8 && mm == 30 && ss == 1 && ms == 123);
	snprintf(want, sizeof(want), "%-6s %s [%s] %s\n", "info", rec.subsys, rec.call, rec.msg);
	ASSERT_STREQ(line + n, want);

	rec.journal = true;
	rec.call = NULL;
	sb_log_format_line(line, sizeof(line), &rec);
	snprintf(want, sizeof(want), "<%d>info %s %s\n", SB_LOG_INFO, rec.subsys, rec.msg);
	ASSERT_STREQ(line, want);

	/* A long message is cut at a character boundary and ends in "…". */
	big = malloc(3000 * 2 + 1);
	ASSERT_TRUE(big != NULL);
	for (int i = 0; i < 3000; i++)
		memcpy(big + i * 2, "\xc3\xa9", 2);
	big[6000] = '\0';
	rec.msg = big;
	len = sb_log_format_line(line, sizeof(line), &rec);
	ASSERT_TRUE(len <= SB_LOG_LINE_MAX - 1 && len > SB_LOG_LINE_MAX - 8);
	ASSERT_STREQ(line + len - 4, ELLIPSIS "\n");
	n = (int)strlen("<6>info sip ");
	ASSERT_EQ((len - 4 - (size_t)n) % 2, 0);
	ASSERT_TRUE(strncmp(line + n, big, len - 4 - (size_t)n) == 0);
out:
	free(big);
	return r;
}

TEST(log_civil_matches_libc)
{
	int r = 0;
	int64_t t;
	int year;
	unsigned month, day, sec;
	struct tm tm;

	/* Every day from 1970 to 2110 (leap years, 2000 and 2100 included), at varied hours. */
	for (t = 0; t < (int64_t)140 * 366 * 86400; t += 86400 + 3607) {
		time_t tt = (time_t)t;

		gmtime_r(&tt, &tm);
		sb_log_civil(t, &year, &month, &day, &sec);
		ASSERT_EQ(year, tm.tm_year + 1900);
		ASSERT_EQ(month, tm.tm_mon + 1);
		ASSERT_EQ(day, tm.tm_mday);
		ASSERT_EQ(sec, tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
	}
out:
	return r;
}

/* ---- the queue ---------------------------------------------------------------------- */

#define PRODUCERS 4

struct producer {
	struct sb_log_queue *q;
	unsigned id, lines, sent;
	atomic_int *go, finished;
};

/* A line that tells who wrote it, its number, and whether it arrived whole. */
static size_t make_line(char *buf, unsigned id, unsigned seq)
{
	int n = snprintf(buf, SB_LOG_LINE_MAX, "p%u %u ", id, seq);

	/* A body of varying length, so a torn line would not pass for a whole one. */
	for (unsigned k = 0; k < 20 + (seq * 7 + id) % 200; k++)
		buf[n++] = (char)('a' + (seq + id + k) % 26);
	buf[n++] = '\n';
	buf[n] = '\0';
	return (size_t)n;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct sb_log_slot *s;

	while (!atomic_load(p->go))
		;
	for (unsigned i = 0; i < p->lines; i++) {
		s = sb_log_queue_claim(p->q);
		if (s) {
			sb_log_queue_publish(s, make_line(s->line, p->id, i));
			p->sent++;
		}
	}
	atomic_store(&p->finished, 1);
	return NULL;
}

/* Checks one received line: whole, and later than this producer's previous one. */
static int check_line(const char *line, size_t len, int last[PRODUCERS])
{
	char want[SB_LOG_LINE_MAX];
	unsigned id, seq;

	if (sscanf(line, "p%u %u ", &id, &seq) != 2 || id >= PRODUCERS || (int)seq <= last[id])
		return -1;
	last[id] = (int)seq;
	return make_line(want, id, seq) == len && memcmp(want, line, len) == 0 ? 0 : -1;
}

static int run_producers(struct producer *p, struct sb_log_queue *q, unsigned lines, pthread_t *t,
                         atomic_int *go)
{
	for (unsigned i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){.q = q, .id = i, .lines = lines, .go = go};
		if (pthread_create(&t[i], NULL, produce, &p[i]) != 0)
			return -1;
	}
	atomic_store(go, 1);
	return 0;
}

TEST(log_queue_capacity)
{
	int r = 0;
	struct sb_log_queue *q = NULL;
	static const unsigned bad[] = {0, 1, 3, 6, 1000};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ASSERT_EQ(sb_log_queue_new(&q, bad[i]), -EINVAL);
	ASSERT_TRUE(q == NULL);
	ASSERT_EQ(sb_log_queue_new(&q, 2), 0);
	ASSERT_TRUE(sb_log_queue_peek(q, 0) == NULL);
out:
	sb_log_queue_free(q);
	return r;
}

/* No consumer: exactly `capacity` lines get in, every other one is counted as dropped. */
TEST(log_queue_full_drops_counted)
{
	enum { CAP = 64, LINES = 1000 };
	int r = 0, last[PRODUCERS] = {-1, -1, -1, -1};
	struct sb_log_queue *q = NULL;
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];
	atomic_int go = 0;
	unsigned sent = 0, n = 0;
	struct sb_log_slot *s;

	ASSERT_EQ(sb_log_queue_new(&q, CAP), 0);
	ASSERT_EQ(run_producers(p, q, LINES, t, &go), 0);
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		sent += p[i].sent;
	}
	ASSERT_EQ(sent, CAP);
	ASSERT_EQ(sb_log_queue_take_dropped(q), PRODUCERS * LINES - CAP);
	ASSERT_EQ(sb_log_queue_take_dropped(q), 0);
	while ((s = sb_log_queue_peek(q, n)) != NULL) {
		ASSERT_EQ(check_line(s->line, s->len, last), 0);
		n++;
	}
	ASSERT_EQ(n, CAP);
	sb_log_queue_release(q, n);
	ASSERT_TRUE(sb_log_queue_peek(q, 0) == NULL);
	/* Room again after release. */
	s = sb_log_queue_claim(q);
	ASSERT_TRUE(s != NULL);
	sb_log_queue_publish(s, make_line(s->line, 0, 5000));
	ASSERT_TRUE(sb_log_queue_peek(q, 0) == s);
out:
	sb_log_queue_free(q);
	return r;
}

/* A consumer draining while producers overrun it: received + dropped = sent, nothing torn,
 * each producer's lines in order. */
TEST(log_queue_concurrent_exact)
{
	enum { CAP = 32, LINES = 20000 };
	int r = 0, last[PRODUCERS] = {-1, -1, -1, -1}, done = 0, finished;
	struct sb_log_queue *q = NULL;
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];
	atomic_int go = 0;
	uint64_t received = 0, dropped = 0, sent = 0;
	struct sb_log_slot *s;
	bool running = false;

	ASSERT_EQ(sb_log_queue_new(&q, CAP), 0);
	ASSERT_EQ(run_producers(p, q, LINES, t, &go), 0);
	running = true;
	for (;;) {
		size_t n = 0;

		/* Every producer done before this pass: it sees all their lines. */
		finished = 0;
		for (unsigned i = 0; i < PRODUCERS; i++)
			finished += atomic_load(&p[i].finished);
		while ((s = sb_log_queue_peek(q, n)) != NULL) {
			ASSERT_EQ(check_line(s->line, s->len, last), 0);
			n++;
		}
		sb_log_queue_release(q, n);
		received += n;
		dropped += sb_log_queue_take_dropped(q);
		if (done)
			break;
		done = finished == PRODUCERS; /* one more pass: nothing may come after */
	}
	running = false;
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		sent += p[i].sent;
	}
	ASSERT_EQ(received, sent);
	ASSERT_EQ(received + dropped, (uint64_t)PRODUCERS * LINES);
out:
	/* Producers never wait (a full queue drops), so they end without a consumer. */
	for (unsigned i = 0; running && i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	sb_log_queue_free(q);
	return r;
}

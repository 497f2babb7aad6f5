/* Unit tests for the log writer thread: JSON lines from several threads through the queue to
 * a pipe with their call ids and the level filter, drops reported exactly once the writer can
 * write again, direct (synchronous) writes to stderr before start and after stop, and a stop
 * that a pipe nobody reads holds up for SB_LOG_STOP_MS at most.
 * Thread: main, plus logging threads and a pipe reader. Owns its pipes. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define LOG_SUBSYS "test"
#include <sb/log.h>

#include "../../src/core/log_priv.h"
#include "harness.h"

#define THREADS 4

struct reader {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Reads fd to EOF. */
static void *read_all(void *arg)
{
	struct reader *rd = arg;
	ssize_t n;

	for (;;) {
		if (rd->cap - rd->len < 65536) {
			char *p = realloc(rd->buf, rd->cap * 2 + 65536);

			if (!p)
				return NULL;
			rd->buf = p;
			rd->cap = rd->cap * 2 + 65536;
		}
		n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		rd->len += (size_t)n;
	}
	rd->buf[rd->len] = '\0';
	return NULL;
}

struct logger {
	unsigned id, lines;
	char call[16];
};

static void *log_lines(void *arg)
{
	struct logger *l = arg;

	sb_log_ctx_set(l->call);
	for (unsigned i = 0; i < l->lines; i++) {
		log_info("t%u %u \"quoted\"\tand tabbed", l->id, i);
		log_debug("t%u %u below the level", l->id, i);
	}
	sb_log_ctx_set(NULL);
	return NULL;
}

/* Counts the lines of one thread (in order, with its call id) and the dropped reports. */
static int check_lines(char *text, unsigned lines, uint64_t *received, uint64_t *reported)
{
	int last[THREADS] = {-1, -1, -1, -1};
	char *save = NULL, call[16];
	unsigned id, seq;
	unsigned long long n;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(l, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "msg"));
		const char *lvl = json_string_value(json_object_get(j, "level"));
		const char *sub = json_string_value(json_object_get(j, "subsys"));
		const char *c = json_string_value(json_object_get(j, "call"));
		int bad = !msg || !lvl || !sub || !json_string_value(json_object_get(j, "ts"));

		if (!bad && strcmp(sub, "log") == 0 &&
		    sscanf(msg, "%llu line(s) dropped", &n) == 1 && strcmp(lvl, "warn") == 0) {
			*reported += n;
		} else if (!bad && sscanf(msg, "t%u %u \"quoted\"\tand tabbed", &id, &seq) == 2 &&
		           id < THREADS && (int)seq > last[id] && seq < lines &&
		           strcmp(lvl, "info") == 0 && strcmp(sub, "test") == 0) {
			snprintf(call, sizeof(call), "call-%u", id);
			bad = !c || strcmp(c, call) != 0;
			last[id] = (int)seq;
			(*received)++;
		} else {
			bad = 1;
		}
		json_decref(j);
		if (bad) {
			fprintf(stderr, "  unexpected line: %s\n", l);
			return -1;
		}
	}
	return 0;
}

TEST(log_writer_json_drops_exact)
{
	enum { LINES = 5000 };
	int r = 0, fds[2] = {-1, -1};
	struct reader rd = {0};
	struct logger lg[THREADS];
	pthread_t t[THREADS], rt;
	uint64_t before = sb_log_dropped(), received = 0, reported = 0;
	bool reading = false;

	ASSERT_EQ(pipe(fds), 0);
	sb_log_set_level(SB_LOG_INFO);
	sb_log_set_format(SB_LOG_FMT_JSON);
	ASSERT_EQ(sb_log_start(fds[1]), 0);
	ASSERT_EQ(sb_log_start(fds[1]), -EALREADY);
	/* Nobody reads the pipe yet: the writer blocks once it is full, the queue fills and
	 * the loggers drop, without ever waiting themselves. */
	for (unsigned i = 0; i < THREADS; i++) {
		lg[i] = (struct logger){.id = i, .lines = LINES};
		snprintf(lg[i].call, sizeof(lg[i].call), "call-%u", i);
		ASSERT_EQ(pthread_create(&t[i], NULL, log_lines, &lg[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	rd.fd = fds[0];
	ASSERT_EQ(pthread_create(&rt, NULL, read_all, &rd), 0);
	reading = true;
	sb_log_stop(); /* drains the queue and reports the drops */
	close(fds[1]);
	fds[1] = -1;
	pthread_join(rt, NULL);
	reading = false;
	ASSERT_TRUE(rd.buf != NULL);
	ASSERT_EQ(check_lines(rd.buf, LINES, &received, &reported), 0);
	ASSERT_TRUE(reported > 0);
	ASSERT_EQ(received + reported, (uint64_t)THREADS * LINES);
	ASSERT_EQ(sb_log_dropped() - before, reported);
out:
	sb_log_stop();
	if (fds[1] >= 0)
		close(fds[1]);
	if (reading)
		pthread_join(rt, NULL);
	if (fds[0] >= 0)
		close(fds[0]);
	free(rd.buf);
	sb_log_set_format(SB_LOG_FMT_TEXT);
	return r;
}

/* What is in fd now, without waiting. */
static size_t read_now(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* Before sb_log_start and after sb_log_stop a line is on stderr when the call returns; in
 * between it goes to the writer's descriptor, and all of it is there after the stop. */
TEST(log_writer_direct_before_and_after)
{
	int r = 0, err[2] = {-1, -1}, out[2] = {-1, -1}, saved = dup(STDERR_FILENO);
	char buf[4096];

	ASSERT_TRUE(saved >= 0);
	ASSERT_EQ(pipe2(err, O_NONBLOCK), 0);
	ASSERT_EQ(pipe2(out, O_NONBLOCK), 0);
	ASSERT_TRUE(dup2(err[1], STDERR_FILENO) == STDERR_FILENO);
	sb_log_set_format(SB_LOG_FMT_TEXT);
	log_notice("early line");
	read_now(err[0], buf, sizeof(buf));
	ASSERT_TRUE(strstr(buf, " notice test early line\n") != NULL);

	ASSERT_EQ(sb_log_start(out[1]), 0);
	for (int i = 0; i < 10; i++)
		log_notice("queued line %d", i);
	sb_log_stop();
	read_now(out[0], buf, sizeof(buf));
	for (int i = 0; i < 10; i++) {
		char want[64];

		snprintf(want, sizeof(want), " notice test queued line %d\n", i);
		ASSERT_TRUE(strstr(buf, want) != NULL);
	}
	ASSERT_EQ(read_now(err[0], buf, sizeof(buf)), 0);

	log_notice("late line");
	read_now(err[0], buf, sizeof(buf));
	ASSERT_TRUE(strstr(buf, " notice test late line\n") != NULL);
out:
	sb_log_stop();
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	for (int i = 0; i < 2; i++) {
		if (err[i] >= 0)
			close(err[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return r;
}

/* stderr, and the writer's descriptor, are a pipe nobody reads, full when the writer stops:
 * sb_log_stop() returns within its bound instead of waiting for a reader, the lines the pipe
 * did not take are counted as dropped, and a line logged after the stop is dropped too rather
 * than block. */
TEST(log_writer_stop_bounded_when_stalled)
{
	enum { LINES = 2000 }; /* about 140 KB: more than the pipe (64 KiB) takes */
	int r = 0, fds[2] = {-1, -1}, saved = dup(STDERR_FILENO), started;
	uint64_t before = sb_log_dropped(), after_stop, after_late;
	int64_t t0, stop_ms, late_ms;

	ASSERT_TRUE(saved >= 0);
	ASSERT_EQ(pipe(fds), 0);
	sb_log_set_format(SB_LOG_FMT_TEXT);
	/* Nothing may go to the test's own stderr while it is the pipe: results first. */
	ASSERT_TRUE(dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
	started = sb_log_start(fds[1]);
	for (int i = 0; i < LINES && started == 0; i++)
		log_notice("filler line %d, long enough to fill the pipe in fewer lines", i);
	t0 = sb_now_ms();
	sb_log_stop();
	stop_ms = sb_now_ms() - t0;
	after_stop = sb_log_dropped();
	log_notice("late line");
	late_ms = sb_now_ms() - t0;
	after_late = sb_log_dropped();
	dup2(saved, STDERR_FILENO);
	ASSERT_EQ(started, 0);
	ASSERT_TRUE(stop_ms >= SB_LOG_STOP_MS - 100 && stop_ms < SB_LOG_STOP_MS + 1000);
	ASSERT_TRUE(after_stop - before > 0);
	ASSERT_TRUE(late_ms - stop_ms < 100);
	ASSERT_EQ(after_late, after_stop + 1);
out:
	sb_log_stop();
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

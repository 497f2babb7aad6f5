/* Unit tests for lws's log lines in the daemon's log: lws's errors come out as warnings and its
 * warnings as debug lines, each against the daemon's level at the time of the line, so a level
 * set later (a reload) applies to lws too. Thread: main. Owns its pipe. */
#include <fcntl.h>
#include <libwebsockets.h>
#include <unistd.h>

#define LOG_SUBSYS "test"
#include <sb/log.h>
#include <sb/lws_client.h>

#include "harness.h"

/* What has been written to fd since the last call (nothing: an empty string). */
static const char *drain(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* The lines lws's warning and error give at info, a warning after the level went to debug (as a
 * reload does, after lws was set up), and one after it went back to info; with stderr caught in
 * a pipe, which is given back before the checks so that a failure is seen. */
TEST(lws_log_follows_level_changes)
{
	int r = 0, p[2] = {-1, -1}, saved = dup(STDERR_FILENO);
	char info[1024] = "", debug[1024] = "", back[1024] = "";

	ASSERT_TRUE(saved >= 0);
	ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
	ASSERT_TRUE(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
	sb_log_set_format(SB_LOG_FMT_TEXT);
	sb_log_set_level(SB_LOG_INFO);
	sb_lws_log_init();
	lwsl_warn("warning at info\n");
	lwsl_err("error at info\n");
	drain(p[0], info, sizeof(info));
	sb_log_set_level(SB_LOG_DEBUG);
	lwsl_warn("warning at debug\n");
	drain(p[0], debug, sizeof(debug));
	sb_log_set_level(SB_LOG_INFO);
	lwsl_warn("warning back at info\n");
	drain(p[0], back, sizeof(back));
	dup2(saved, STDERR_FILENO);

	ASSERT_TRUE(strstr(info, "warning at info") == NULL);
	ASSERT_TRUE(strstr(info, " warn   lws error at info\n") != NULL);
	ASSERT_TRUE(strstr(debug, " debug  lws warning at debug\n") != NULL);
	ASSERT_EQ(strlen(back), 0);
out:
	sb_log_set_level(SB_LOG_INFO);
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	return r;
}

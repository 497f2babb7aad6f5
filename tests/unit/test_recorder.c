/* Unit tests for recorder.c's start of a recording: one that cannot start (an id or a path
 * too long, an empty id, a recorder not running) returns NULL, creates nothing and is
 * counted as a failed recording. Out of memory takes the same way out, but is not provoked. */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <sb/recorder.h>

#include "harness.h"

/* Entries in folder other than . and .., or -1. */
static int entries(const char *folder)
{
	DIR *d = opendir(folder);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

TEST(refused_recordings_are_counted_failed)
{
	struct sb_recorder *rec = NULL, *idle = NULL;
	const struct sb_recorder_stats *s;
	char folder[] = "/tmp/sb-test-recorder-XXXXXX", long_id[66], long_folder[320];
	int r = 0;

	ASSERT_TRUE(mkdtemp(folder) != NULL);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	snprintf(long_folder, sizeof(long_folder), "%s/%0290d", folder, 0);
	ASSERT_EQ(sb_recorder_new(&rec), 0);
	ASSERT_EQ(sb_recorder_start(rec), 0);
	s = sb_recorder_stats(rec);

	ASSERT_TRUE(sb_rec_open(NULL, folder, "abc", 0) == NULL);
	ASSERT_TRUE(sb_rec_open(rec, folder, long_id, 0) == NULL);
	ASSERT_EQ(atomic_load(&s->failed), 1);
	ASSERT_TRUE(sb_rec_open(rec, folder, "", 0) == NULL);
	ASSERT_EQ(atomic_load(&s->failed), 2);
	ASSERT_TRUE(sb_rec_open(rec, long_folder, "abc", 0) == NULL);
	ASSERT_EQ(atomic_load(&s->failed), 3);
	ASSERT_EQ(atomic_load(&s->recordings), 0);

	/* A recorder whose thread does not run counts its own. */
	ASSERT_EQ(sb_recorder_new(&idle), 0);
	ASSERT_TRUE(sb_rec_open(idle, folder, "abc", 0) == NULL);
	ASSERT_EQ(atomic_load(&sb_recorder_stats(idle)->failed), 1);
	ASSERT_EQ(atomic_load(&s->failed), 3);
out:
	sb_recorder_stop(rec);
	sb_recorder_free(rec);
	sb_recorder_free(idle);
	if (r == 0 && entries(folder) != 0) {
		fprintf(stderr, "  a refused recording left a file in %s\n", folder);
		r = -1;
	}
	rmdir(folder);
	return r;
}

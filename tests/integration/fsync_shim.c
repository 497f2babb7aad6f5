/* Preloaded into sipbridged by the recording tests (LD_PRELOAD): appends "fsync PATH\n" to the
 * file SB_FSYNC_LOG names for every fsync, before the call returns, and fails those of the
 * paths that end in SB_FSYNC_FAIL with EIO (as a disk that lost the data does). Thread: any. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd)
{
	int (*real)(int);
	const char *log = getenv("SB_FSYNC_LOG"), *fail = getenv("SB_FSYNC_FAIL");
	char proc[64], path[PATH_MAX];
	ssize_t n;
	size_t fl = fail ? strlen(fail) : 0;
	int failing;

	*(void **)&real = dlsym(RTLD_NEXT, "fsync"); /* as dlsym(3) shows: no cast of the pointer */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	failing = fl && n >= (ssize_t)fl && strcmp(path + n - fl, fail) == 0;
	if (log) {
		int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (lfd >= 0) {
			dprintf(lfd, "fsync %s\n", path);
			close(lfd);
		}
	}
	if (failing) {
		errno = EIO;
		return -1;
	}
	return real ? real(fd) : 0;
}

/* Preloaded into sipbridged by the resolver tests (LD_PRELOAD): appends "getaddrinfo NAME\n" to
 * the file SB_GAI_LOG names for every lookup, before it starts, and holds a lookup of the name
 * SB_GAI_HANG (as a DNS server that never answers would; "*SUFFIX": of every name ending in
 * SUFFIX) until the file SB_GAI_RELEASE exists; then that name resolves to SB_GAI_ADDR (a
 * numeric address; 127.0.0.1 without it; an empty one: the name does not exist, EAI_NONAME).
 * Other names go to the real getaddrinfo. Thread: any. */
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int gai_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);

/* node is the name hang, or ends in what follows a leading "*" of hang ("*.held.test"). */
static int held(const char *node, const char *hang)
{
	size_t n = strlen(node), h = strlen(hang);

	if (hang[0] != '*')
		return strcmp(node, hang) == 0;
	return n >= h - 1 && strcmp(node + n - (h - 1), hang + 1) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
	const char *log = getenv("SB_GAI_LOG"), *hang = getenv("SB_GAI_HANG");
	const char *release = getenv("SB_GAI_RELEASE"), *addr = getenv("SB_GAI_ADDR");
	gai_fn *real;

	*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo"); /* as dlsym(3) shows */
	if (log && node) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dprintf(fd, "getaddrinfo %s\n", node);
			close(fd);
		}
	}
	if (hang && node && held(node, hang)) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		while (!release || access(release, F_OK) != 0)
			nanosleep(&ts, NULL);
		if (addr && !*addr)
			return EAI_NONAME;
		node = addr ? addr : "127.0.0.1";
	}
	return real ? real(node, service, hints, res) : EAI_FAIL;
}

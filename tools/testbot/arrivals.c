/* The arrivals log of the test bot (--arrivals FILE), for load runs that measure how long
 * caller audio takes to reach the bot: per connection one "S" line at start with the value of
 * one custom parameter (--arrivals-key, which names the call) and the sample rate, then one
 * "M" line per media message with the time the bot read it (CLOCK_REALTIME, ns, the clock of
 * kernel packet timestamps), the samples it carried and the kernel's arrival time of the newest
 * data of the read that completed it (rxstamp.c; 0 when the read was not stamped).
 * The second time leaves out how long the bot waited for a CPU. Thread: the lws service
 * thread. Owns the FILE, which main opens and closes, and the table of stamps.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sb/common.h>

#include "testbot.h"

#define VALUE_MAX 64
#define STAMPS_MIN 1024

/* Per descriptor, by its number: the newest kernel arrival stamp read on it (0: none), and
 * whether it is a connection whose reads are stamped. */
struct stamp {
	int64_t ns;
	bool on;
};
static struct stamp *stamps;
static size_t stamps_len;

/* The descriptor's entry, the table grown to hold it; NULL when there is no room. */
static struct stamp *entry(int fd)
{
	size_t n = stamps_len ? stamps_len : STAMPS_MIN;
	struct stamp *p;

	if ((size_t)fd < stamps_len)
		return &stamps[fd];
	while (n <= (size_t)fd)
		n *= 2;
	p = realloc(stamps, n * sizeof(*p));
	if (!p)
		return NULL;
	memset(p + stamps_len, 0, (n - stamps_len) * sizeof(*p));
	stamps = p;
	stamps_len = n;
	return &stamps[fd];
}

void sb_tb_rxstamp_note(int fd, int64_t ns)
{
	struct stamp *e;

	/* Past the table every entry reads 0: no stamp needs no room (a bot without
	 * --arrivals never grows it). */
	if (fd < 0 || (!ns && (size_t)fd >= stamps_len))
		return;
	e = entry(fd);
	if (e) /* else the message goes without a stamp */
		e->ns = ns;
}

void sb_tb_rxstamp_set(int fd, bool on)
{
	struct stamp *e;

	if (fd < 0 || (!on && (size_t)fd >= stamps_len))
		return;
	e = entry(fd);
	if (e)
		*e = (struct stamp){.on = on};
}

/* The descriptor's entry if the table holds it; NULL reads as no stamp and not stamped. */
static const struct stamp *find(int fd)
{
	return fd >= 0 && (size_t)fd < stamps_len ? &stamps[fd] : NULL;
}

bool sb_tb_rxstamp_on(int fd)
{
	const struct stamp *e = find(fd);

	return e && e->on;
}

void sb_tb_rxstamp_free(void)
{
	free(stamps);
	stamps = NULL;
	stamps_len = 0;
}

void sb_tb_arrivals_open(struct sb_tb_conn *c)
{
	int fd = c->wsi ? lws_get_socket_fd(c->wsi) : -1;
	int on = 1;

	if (!c->app->arrivals || fd < 0)
		return;
	/* The descriptor may be a closed connection's: its stamp is not this one's. */
	sb_tb_rxstamp_set(fd, false);
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)))
		fprintf(stderr, "sipbridge-testbot: SO_TIMESTAMPNS: %s\n", strerror(errno));
	else
		sb_tb_rxstamp_set(fd, true);
}

static long long realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The bridge puts custom parameters in start.custom_parameters (Exotel),
 * start.customParameters (Twilio) or the metadata's customParameters (raw). */
static const char *param(json_t *msg, const char *key)
{
	json_t *start = json_object_get(msg, "start");
	json_t *sets[] = {
	        json_object_get(start, "custom_parameters"),
	        json_object_get(start, "customParameters"),
	        json_object_get(msg, "customParameters"),
	};

	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		const char *v = json_string_value(json_object_get(sets[i], key));
		if (v)
			return v;
	}
	return NULL;
}

void sb_tb_arrivals_start(struct sb_tb_conn *c, json_t *msg)
{
	const char *v;
	char clean[VALUE_MAX + 1];
	size_t n = 0;

	if (!c->app->arrivals)
		return;
	v = param(msg, c->app->arrivals_key);
	/* The value is the caller's: only a short token of safe characters goes in the log. */
	for (; v && *v && n < VALUE_MAX; v++) {
		if ((*v >= '0' && *v <= '9') || (*v >= 'A' && *v <= 'Z') ||
		    (*v >= 'a' && *v <= 'z') || *v == '-' || *v == '_' || *v == '.')
			clean[n++] = *v;
	}
	clean[n] = '\0';
	fprintf(c->app->arrivals, "S %u %u %s\n", c->id, c->sample_rate, n ? clean : "-");
}

void sb_tb_arrivals_media(struct sb_tb_conn *c, size_t samples)
{
	const struct stamp *e;

	if (!c->app->arrivals)
		return;
	e = find(c->wsi ? lws_get_socket_fd(c->wsi) : -1);
	fprintf(c->app->arrivals, "M %u %lld %zu %lld\n", c->id, realtime_ns(), samples,
	        e ? (long long)e->ns : 0LL);
}

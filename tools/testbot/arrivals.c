/* The arrivals log of the test bot (--arrivals FILE), for load runs that measure how long
 * caller audio takes to reach the bot: per connection one "S" line at start with the value of
 * one custom parameter (--arrivals-key, which names the call) and the sample rate, then one
 * "M" line per media message with its arrival time (CLOCK_REALTIME, ns, the clock of kernel
 * packet timestamps) and the samples it carried. Thread: the lws service thread. Owns
 * nothing but the FILE, which main opens and closes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sb/common.h>

#include "testbot.h"

#define VALUE_MAX 64

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
	if (c->app->arrivals)
		fprintf(c->app->arrivals, "M %u %lld %zu\n", c->id, realtime_ns(), samples);
}

/* Unit tests for the metrics: live updates reach the snapshot, histogram observations land in
 * the right bucket, and the exposition writer's text (HELP and TYPE once per family before
 * its samples, labels, cumulative buckets with +Inf equal to _count, only sent SIP codes). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/jitter.h>
#include <sb/metrics.h>

#include "harness.h"

/* The exposition of v, malloc'd. */
static char *render(const struct sb_metrics_values *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (sb_metrics_write(f, v) < 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	return text;
}

/* True when text has line as one whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

TEST(live_updates_reach_snapshot)
{
	static struct sb_metrics_values v;
	uint64_t before, codes_before;
	int r = 0;

	sb_metrics_read(&v);
	before = v.calls_total[SB_M_OUTCOME_CANCELLED];
	codes_before = v.sip_responses_total[486 - SB_METRIC_CODE_MIN];
	SB_METRIC_INC(calls_total, SB_M_OUTCOME_CANCELLED);
	SB_METRIC_ADD(calls_total, SB_M_OUTCOME_CANCELLED, 2);
	sb_metric_sip_response(486);
	sb_metric_sip_response(99);  /* out of range: ignored */
	sb_metric_sip_response(700); /* out of range: ignored */
	sb_metrics_read(&v);
	ASSERT_EQ(v.calls_total[SB_M_OUTCOME_CANCELLED], before + 3);
	ASSERT_EQ(v.sip_responses_total[486 - SB_METRIC_CODE_MIN], codes_before + 1);
out:
	return r;
}

TEST(histogram_buckets)
{
	static struct sb_metrics_values v0, v1;
	int r = 0;

	sb_metrics_read(&v0);
	SB_METRIC_OBSERVE(bot_connect_seconds, 5000);     /* 5 ms: the first bucket (0.01) */
	SB_METRIC_OBSERVE(bot_connect_seconds, 10000);    /* exactly 0.01: still the first */
	SB_METRIC_OBSERVE(bot_connect_seconds, 300000);   /* 0.3 s: le 0.5 (index 5) */
	SB_METRIC_OBSERVE(bot_connect_seconds, 60000000); /* a minute: +Inf */
	sb_metrics_read(&v1);
	ASSERT_EQ(v1.bot_connect_seconds.buckets[0] - v0.bot_connect_seconds.buckets[0], 2);
	ASSERT_EQ(v1.bot_connect_seconds.buckets[5] - v0.bot_connect_seconds.buckets[5], 1);
	ASSERT_EQ(v1.bot_connect_seconds.buckets[10] - v0.bot_connect_seconds.buckets[10], 1);
	ASSERT_EQ(v1.bot_connect_seconds.sum_us - v0.bot_connect_seconds.sum_us,
	          5000 + 10000 + 300000 + 60000000);
out:
	return r;
}

TEST(leg_end_adds_jitter_stats)
{
	static struct sb_metrics_values v0, v1;
	struct sb_jitter_stats s = {.lost = 3, .late = 2, .duplicated = 1, .concealed_frames = 4};
	int r = 0;

	sb_metrics_read(&v0);
	sb_metrics_leg_end(&s, 12);
	sb_metrics_read(&v1);
	ASSERT_EQ(v1.rtp_lost_packets_total[0] - v0.rtp_lost_packets_total[0], 3);
	ASSERT_EQ(v1.rtp_late_packets_total[0] - v0.rtp_late_packets_total[0], 2);
	ASSERT_EQ(v1.rtp_duplicate_packets_total[0] - v0.rtp_duplicate_packets_total[0], 1);
	ASSERT_EQ(v1.rtp_concealed_frames_total[0] - v0.rtp_concealed_frames_total[0], 4);
	ASSERT_EQ(v1.rtp_jitter_seconds.count - v0.rtp_jitter_seconds.count, 1);
	ASSERT_EQ(v1.rtp_jitter_seconds.sum_us - v0.rtp_jitter_seconds.sum_us, 12000);
out:
	return r;
}

TEST(exposition_text)
{
	static struct sb_metrics_values v;
	char *text = NULL;
	int r = 0;

	memset(&v, 0, sizeof(v));
	v.calls_active[0] = 2;
	v.calls_total[SB_M_OUTCOME_COMPLETED] = 7;
	v.invites_rejected_total[SB_M_REASON_CODEC] = 1;
	v.rtp_packets_total[SB_M_DIR_OUT] = 1234567890123ULL;
	v.sip_responses_total[200 - SB_METRIC_CODE_MIN] = 9;
	v.sip_responses_total[503 - SB_METRIC_CODE_MIN] = 1;
	v.bot_connect_seconds.buckets[0] = 1;
	v.bot_connect_seconds.buckets[3] = 2;
	v.bot_connect_seconds.buckets[10] = 1; /* +Inf */
	v.bot_connect_seconds.sum_us = 1500000;
	v.rtp_jitter_seconds.sum_us = 2500;
	v.rtp_jitter_seconds.count = 2;
	text = render(&v);
	ASSERT_TRUE(text);
	ASSERT_TRUE(has_line(text, "# HELP sipbridge_calls_active Calls in progress"));
	ASSERT_TRUE(has_line(text, "# TYPE sipbridge_calls_active gauge"));
	ASSERT_TRUE(has_line(text, "sipbridge_calls_active 2"));
	ASSERT_TRUE(has_line(text, "# TYPE sipbridge_calls_total counter"));
	ASSERT_TRUE(has_line(text, "sipbridge_calls_total{outcome=\"completed\"} 7"));
	ASSERT_TRUE(has_line(text, "sipbridge_calls_total{outcome=\"failed\"} 0"));
	ASSERT_TRUE(has_line(text, "sipbridge_invites_rejected_total{reason=\"codec\"} 1"));
	ASSERT_TRUE(has_line(text, "sipbridge_rtp_packets_total{direction=\"out\"} 1234567890123"));
	/* only the codes sent */
	ASSERT_TRUE(has_line(text, "sipbridge_sip_responses_total{code=\"200\"} 9"));
	ASSERT_TRUE(has_line(text, "sipbridge_sip_responses_total{code=\"503\"} 1"));
	ASSERT_EQ(count_of(text, "sipbridge_sip_responses_total{"), 2);
	/* cumulative buckets, +Inf equal to _count */
	ASSERT_TRUE(has_line(text, "# TYPE sipbridge_bot_connect_seconds histogram"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_bucket{le=\"0.01\"} 1"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_bucket{le=\"0.05\"} 1"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_bucket{le=\"0.1\"} 3"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_bucket{le=\"10\"} 3"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_bucket{le=\"+Inf\"} 4"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_count 4"));
	ASSERT_TRUE(has_line(text, "sipbridge_bot_connect_seconds_sum 1.500000"));
	ASSERT_TRUE(has_line(text, "# TYPE sipbridge_rtp_jitter_seconds summary"));
	ASSERT_TRUE(has_line(text, "sipbridge_rtp_jitter_seconds_sum 0.002500"));
	ASSERT_TRUE(has_line(text, "sipbridge_rtp_jitter_seconds_count 2"));
	/* one TYPE per family */
	ASSERT_EQ(count_of(text, "# TYPE sipbridge_calls_total "), 1);
	ASSERT_EQ(count_of(text, "# TYPE "), count_of(text, "# HELP "));
out:
	free(text);
	return r;
}

/* Every sample line follows its family's HELP and TYPE, and counters end in _total. */
TEST(exposition_order)
{
	static struct sb_metrics_values v;
	char *text = NULL, *line, *save = NULL;
	char family[128] = "", type[16] = "";
	int r = 0, samples = 0;

	memset(&v, 0, sizeof(v));
	text = render(&v);
	ASSERT_TRUE(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			ASSERT_TRUE(sscanf(line + 7, "%127s", family) == 1);
			type[0] = '\0';
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128];

			ASSERT_TRUE(sscanf(line + 7, "%127s %15s", name, type) == 2);
			ASSERT_STREQ(name, family);
			if (strcmp(type, "counter") == 0)
				ASSERT_TRUE(strlen(name) > 6 &&
				            strcmp(name + strlen(name) - 6, "_total") == 0);
		} else {
			ASSERT_TRUE(family[0] && type[0]);
			ASSERT_TRUE(strncmp(line, family, strlen(family)) == 0);
			samples++;
		}
	}
	ASSERT_TRUE(samples > 20);
out:
	free(text);
	return r;
}

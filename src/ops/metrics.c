/* The process's metrics: the live counters, their snapshot for a scrape and the Prometheus
 * text exposition, every part generated from src/ops/metrics.def so that a family is added
 * in one place. Thread: any (updates), the admin thread (read, write). Owns sb_metrics. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include <sb/common.h>
#include <sb/jitter.h>
#include <sb/metrics.h>

struct sb_metrics sb_metrics;

enum kind { K_COUNTER, K_GAUGE, K_SUM_COUNTER, K_SUM_GAUGE, K_CODES, K_HISTOGRAM, K_SUMMARY };

/* Each label set's name and values. */
#define VSTR(set, v, s) s,
#define SET_STRS(set, label)                                                                       \
	static const char label_##set[] = label;                                                   \
	static const char *const values_##set[] = {SB_M_##set(VSTR)};
SB_METRIC_LABELSETS(SET_STRS)

/* Each histogram's bucket bounds, in seconds. */
#define BOUNDS(kind, name, set, help) BOUNDS_##kind(name)
#define BOUNDS_COUNTER(name)
#define BOUNDS_GAUGE(name)
#define BOUNDS_SUM_COUNTER(name)
#define BOUNDS_SUM_GAUGE(name)
#define BOUNDS_CODES(name)
#define BOUNDS_SUMMARY(name)
#define BOUNDS_HISTOGRAM(name)                                                                     \
	static const double bounds_##name[] = {SB_M_BOUNDS_##name};                                \
	_Static_assert(ARRAY_SIZE(bounds_##name) <= SB_METRIC_MAX_BUCKETS, "too many buckets");
SB_METRIC_FAMILIES(BOUNDS)

struct family {
	const char *name, *help;
	enum kind kind;
	const char *label;
	const char *const *values;
	size_t n_values;
	size_t off; /* in struct sb_metrics_values */
	const double *bounds;
	size_t n_bounds;
};

#define BND_COUNTER(name) NULL, 0
#define BND_GAUGE(name) NULL, 0
#define BND_SUM_COUNTER(name) NULL, 0
#define BND_SUM_GAUGE(name) NULL, 0
#define BND_CODES(name) NULL, 0
#define BND_SUMMARY(name) NULL, 0
#define BND_HISTOGRAM(name) bounds_##name, ARRAY_SIZE(bounds_##name)
#define FAMILY(kind, name, set, help)                                                              \
	{"sipbridge_" #name,                                                                       \
	 help,                                                                                     \
	 K_##kind,                                                                                 \
	 label_##set,                                                                              \
	 values_##set,                                                                             \
	 _SB_M_##set##_N,                                                                          \
	 offsetof(struct sb_metrics_values, name),                                                 \
	 BND_##kind(name)},
static const struct family families[] = {SB_METRIC_FAMILIES(FAMILY)};

static void observe(struct sb_metric_hist *h, const double *bounds, size_t n, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < n && (double)us > bounds[i] * 1e6)
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint_fast64_t)us, memory_order_relaxed);
}

#define OBS(kind, name, set, help) OBS_##kind(name)
#define OBS_COUNTER(name)
#define OBS_GAUGE(name)
#define OBS_SUM_COUNTER(name)
#define OBS_SUM_GAUGE(name)
#define OBS_CODES(name)
#define OBS_SUMMARY(name)
#define OBS_HISTOGRAM(name)                                                                        \
	void sb_metric_observe_##name(int64_t us)                                                  \
	{                                                                                          \
		observe(&sb_metrics.name, bounds_##name, ARRAY_SIZE(bounds_##name), us);           \
	}
SB_METRIC_FAMILIES(OBS)

void sb_metric_sip_response(int status)
{
	if (status >= SB_METRIC_CODE_MIN && status < SB_METRIC_CODE_MIN + SB_METRIC_CODES)
		SB_METRIC_INC(sip_responses_total, status - SB_METRIC_CODE_MIN);
}

void sb_metrics_leg_end(const struct sb_jitter_stats *s, unsigned jitter_ms)
{
	SB_METRIC_ADD(rtp_lost_packets_total, SB_M_NONE_ALL, s->lost);
	SB_METRIC_ADD(rtp_late_packets_total, SB_M_NONE_ALL, s->late);
	SB_METRIC_ADD(rtp_duplicate_packets_total, SB_M_NONE_ALL, s->duplicated);
	SB_METRIC_ADD(rtp_concealed_frames_total, SB_M_NONE_ALL, s->concealed_frames);
	atomic_fetch_add_explicit(&sb_metrics.rtp_jitter_seconds.sum_us,
	                          (uint_fast64_t)jitter_ms * 1000, memory_order_relaxed);
	atomic_fetch_add_explicit(&sb_metrics.rtp_jitter_seconds.count, 1, memory_order_relaxed);
}

void sb_metrics_init(void)
{
	atomic_store_explicit(&sb_metrics.process_start_time_seconds[SB_M_NONE_ALL],
	                      (uint_fast64_t)(sb_wall_ms() / 1000), memory_order_relaxed);
}

static uint64_t load(const atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

#define READ(kind, name, set, help) READ_##kind(name)
#define READ_ARRAY(name)                                                                           \
	for (size_t i = 0; i < ARRAY_SIZE(out->name); i++)                                         \
		out->name[i] = load(&sb_metrics.name[i]);
#define READ_COUNTER(name) READ_ARRAY(name)
#define READ_GAUGE(name) READ_ARRAY(name)
#define READ_CODES(name) READ_ARRAY(name)
#define READ_SUM_COUNTER(name)
#define READ_SUM_GAUGE(name)
#define READ_HISTOGRAM(name)                                                                       \
	for (size_t i = 0; i < ARRAY_SIZE(out->name.buckets); i++)                                 \
		out->name.buckets[i] = load(&sb_metrics.name.buckets[i]);                          \
	out->name.sum_us = load(&sb_metrics.name.sum_us);
#define READ_SUMMARY(name)                                                                         \
	out->name.sum_us = load(&sb_metrics.name.sum_us);                                          \
	out->name.count = load(&sb_metrics.name.count);

void sb_metrics_read(struct sb_metrics_values *out)
{
	SB_METRIC_FAMILIES(READ)
}

static const char *type_name(enum kind k)
{
	switch (k) {
	case K_GAUGE:
	case K_SUM_GAUGE:
		return "gauge";
	case K_HISTOGRAM:
		return "histogram";
	case K_SUMMARY:
		return "summary";
	default:
		return "counter";
	}
}

/* A family's samples, one per label value. */
static void write_values(FILE *f, const struct family *fam, const uint64_t *v)
{
	for (size_t i = 0; i < fam->n_values; i++) {
		if (fam->label[0])
			fprintf(f, "%s{%s=\"%s\"} %" PRIu64 "\n", fam->name, fam->label,
			        fam->values[i], v[i]);
		else
			fprintf(f, "%s %" PRIu64 "\n", fam->name, v[i]);
	}
}

/* Only the codes that were sent: 600 zero lines would bury the rest. */
static void write_codes(FILE *f, const struct family *fam, const uint64_t *v)
{
	for (int i = 0; i < SB_METRIC_CODES; i++)
		if (v[i])
			fprintf(f, "%s{code=\"%d\"} %" PRIu64 "\n", fam->name,
			        i + SB_METRIC_CODE_MIN, v[i]);
}

/* Buckets are cumulative and +Inf is the count, so _count is their sum. */
static void write_hist(FILE *f, const struct family *fam, const struct sb_metric_hist_values *h)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < fam->n_bounds; i++) {
		cum += h->buckets[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", fam->name, fam->bounds[i], cum);
	}
	cum += h->buckets[fam->n_bounds];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", fam->name, cum);
	fprintf(f, "%s_sum %.6f\n", fam->name, (double)h->sum_us / 1e6);
	fprintf(f, "%s_count %" PRIu64 "\n", fam->name, cum);
}

int sb_metrics_write(FILE *f, const struct sb_metrics_values *v)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct family *fam = &families[i];
		const void *p = (const char *)v + fam->off;

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
		        type_name(fam->kind));
		if (fam->kind == K_CODES) {
			write_codes(f, fam, p);
		} else if (fam->kind == K_HISTOGRAM) {
			write_hist(f, fam, p);
		} else if (fam->kind == K_SUMMARY) {
			const struct sb_metric_summary_values *s = p;

			fprintf(f, "%s_sum %.6f\n%s_count %" PRIu64 "\n", fam->name,
			        (double)s->sum_us / 1e6, fam->name, s->count);
		} else {
			write_values(f, fam, p);
		}
	}
	return ferror(f) ? -EIO : 0;
}

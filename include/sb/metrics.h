/* Prometheus metrics: the live counters (relaxed atomics, no lock anywhere), a plain snapshot
 * of every family for a scrape, and the text exposition (format 0.0.4). All of it is built
 * from the one list in src/ops/metrics.def. Thread: any (updates, read), the admin thread
 * (snapshot and exposition). */
#pragma once

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "src/ops/metrics.def"

#define SB_METRIC_MAX_BUCKETS 16
#define SB_METRIC_CODE_MIN 100
#define SB_METRIC_CODES 600 /* status codes 100..699 */

/* Label value indexes: SB_M_<SET>_<VALUE>; _SB_M_<SET>_N values in each set. */
#define SB__M_VAL(set, v, s) SB_M_##set##_##v,
#define SB__M_SET_ENUM(set, label) enum { SB_M_##set(SB__M_VAL) _SB_M_##set##_N };
SB_METRIC_LABELSETS(SB__M_SET_ENUM)

struct sb_metric_hist {
	atomic_uint_fast64_t buckets[SB_METRIC_MAX_BUCKETS + 1]; /* per bound, then +Inf */
	atomic_uint_fast64_t sum_us;
};

struct sb_metric_summary {
	atomic_uint_fast64_t sum_us, count;
};

/* The live counters: the families updated where their event happens. */
#define SB__M_LIVE(kind, name, set, help) SB__M_LIVE_##kind(name, set)
#define SB__M_LIVE_COUNTER(name, set) atomic_uint_fast64_t name[_SB_M_##set##_N];
#define SB__M_LIVE_GAUGE(name, set) atomic_uint_fast64_t name[_SB_M_##set##_N];
#define SB__M_LIVE_SUM_COUNTER(name, set)
#define SB__M_LIVE_SUM_GAUGE(name, set)
#define SB__M_LIVE_CODES(name, set) atomic_uint_fast64_t name[SB_METRIC_CODES];
#define SB__M_LIVE_HISTOGRAM(name, set) struct sb_metric_hist name;
#define SB__M_LIVE_SUMMARY(name, set) struct sb_metric_summary name;
struct sb_metrics {
	SB_METRIC_FAMILIES(SB__M_LIVE)
};

struct sb_metric_hist_values {
	uint64_t buckets[SB_METRIC_MAX_BUCKETS + 1]; /* per bound (not cumulative), then +Inf */
	uint64_t sum_us;
};

struct sb_metric_summary_values {
	uint64_t sum_us, count;
};

/* One scrape: every family as plain numbers (what the exposition writes). */
#define SB__M_SNAP(kind, name, set, help) SB__M_SNAP_##kind(name, set)
#define SB__M_SNAP_COUNTER(name, set) uint64_t name[_SB_M_##set##_N];
#define SB__M_SNAP_GAUGE(name, set) uint64_t name[_SB_M_##set##_N];
#define SB__M_SNAP_SUM_COUNTER(name, set) uint64_t name[_SB_M_##set##_N];
#define SB__M_SNAP_SUM_GAUGE(name, set) uint64_t name[_SB_M_##set##_N];
#define SB__M_SNAP_CODES(name, set) uint64_t name[SB_METRIC_CODES];
#define SB__M_SNAP_HISTOGRAM(name, set) struct sb_metric_hist_values name;
#define SB__M_SNAP_SUMMARY(name, set) struct sb_metric_summary_values name;
struct sb_metrics_values {
	SB_METRIC_FAMILIES(SB__M_SNAP)
};

/* The process's counters. */
extern struct sb_metrics sb_metrics;

/* Thread: any. Adds n to value idx (SB_M_<SET>_<VALUE>) of live family name. */
#define SB_METRIC_ADD(name, idx, n)                                                                \
	atomic_fetch_add_explicit(&sb_metrics.name[idx], (uint_fast64_t)(n), memory_order_relaxed)
#define SB_METRIC_INC(name, idx) SB_METRIC_ADD(name, idx, 1)
#define SB_METRIC_DEC(name, idx)                                                                   \
	atomic_fetch_sub_explicit(&sb_metrics.name[idx], 1, memory_order_relaxed)
/* Thread: any. Observes us microseconds in histogram name. */
#define SB_METRIC_OBSERVE(name, us) sb_metric_observe_##name(us)

#define SB__M_DECL(kind, name, set, help) SB__M_DECL_##kind(name)
#define SB__M_DECL_COUNTER(name)
#define SB__M_DECL_GAUGE(name)
#define SB__M_DECL_SUM_COUNTER(name)
#define SB__M_DECL_SUM_GAUGE(name)
#define SB__M_DECL_CODES(name)
#define SB__M_DECL_SUMMARY(name)
#define SB__M_DECL_HISTOGRAM(name) void sb_metric_observe_##name(int64_t us);
SB_METRIC_FAMILIES(SB__M_DECL)

struct sb_jitter_stats;

/* Thread: any. Counts a SIP response sent with status (outside 100..699: ignored). */
void sb_metric_sip_response(int status);
/* Thread: media. Adds a caller leg's final jitter-buffer statistics (loss, late, duplicates,
 * concealment) and its RFC 3550 interarrival jitter when its media ends. */
void sb_metrics_leg_end(const struct sb_jitter_stats *s, unsigned jitter_ms);
/* Thread: control, once at start. Sets the process start time. */
void sb_metrics_init(void);
/* Thread: any. Copies the live families into out (the SUM_ ones are left as they are, for
 * the caller to fill from the workers' statistics). */
void sb_metrics_read(struct sb_metrics_values *out);
/* Thread: any. Writes v as Prometheus text exposition format 0.0.4 to f: "# HELP" and
 * "# TYPE" before each family's samples. Returns 0, or -EIO when f fails. */
int sb_metrics_write(FILE *f, const struct sb_metrics_values *v);

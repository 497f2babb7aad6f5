/* Stalls of the callers' stream in a load run, and which of the bridge's packet intervals fall
 * in them. A gap in the callers' RTP longer than the ptime + 5 ms is the generator's (or the
 * whole machine's) pause, not the bridge's; when several callers' streams pause at once, the
 * bridge's intervals that overlap that moment tell of the machine, not of the bridge's pacing.
 * So do those that overlap a moment when the machine's own probe woke late.
 * Pure: no I/O. Memory grows with what is recorded, up to the bounds given at creation. */
#ifndef SB_TOOLS_STALLS_H
#define SB_TOOLS_STALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stalls;

struct stalls_result {
	unsigned windows;   /* moments when at least min_gaps caller gaps overlapped */
	int64_t longest_ns; /* the longest such moment, from first gap start to last end */
	uint64_t bridge_in; /* recorded bridge intervals that overlap one */
	bool truncated;     /* a bound was reached: later records were not kept */
	/* stalls_finish_machine: the machine's windows (overlapping ones merged), and the recorded
	 * bridge intervals outside the callers' stalls that overlap one */
	unsigned machine_windows;
	uint64_t machine_bridge_in;
};

struct stalls *stalls_new(size_t max_gaps, size_t max_intervals);
void stalls_free(struct stalls *s);
/* One caller stream's gap, from its packet before to its packet after. */
void stalls_caller_gap(struct stalls *s, int64_t start_ns, int64_t end_ns);
/* One of the bridge's intervals far from the ptime, with its error. */
void stalls_bridge_interval(struct stalls *s, int64_t start_ns, int64_t end_ns, int64_t error_ns);
/* A moment the machine itself held a thread up: a probe at the top real-time priority woke
 * this late on one of its CPUs (from when it was due to when it ran). */
void stalls_machine_window(struct stalls *s, int64_t start_ns, int64_t end_ns);
/* Clusters the caller gaps into stall windows and calls in_stall(arg, error) for each recorded
 * bridge interval that overlaps one. Sorts what was recorded; call once. */
void stalls_finish(struct stalls *s, unsigned min_gaps,
                   void (*in_stall)(void *arg, int64_t error_ns), void *arg,
                   struct stalls_result *out);
/* After stalls_finish: calls in_machine(arg, error) for each recorded bridge interval that no
 * stall of the callers took and that overlaps one of the machine's windows, once each, and
 * counts both in out. */
void stalls_finish_machine(struct stalls *s, void (*in_machine)(void *arg, int64_t error_ns),
                           void *arg, struct stalls_result *out);

#endif

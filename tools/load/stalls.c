/* Stalls of the callers' stream and of the machine, and the bridge's intervals that fall in
 * them (stalls.h). Each kind of record is kept in an array that doubles as it fills, up to its
 * bound; at the end they are sorted by start and swept together. */
#include <stdlib.h>

#include "stalls.h"

struct span {
	int64_t start, end, error;
	bool counted; /* a bridge interval some window has taken */
};

struct spans {
	struct span *v;
	size_t n, cap, max;
};

struct stalls {
	struct spans gaps, intervals, machine;
	bool truncated;
};

static bool push(struct spans *a, struct span sp)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 1024;
		struct span *v;

		if (cap > a->max)
			cap = a->max;
		if (cap <= a->n)
			return false;
		v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return false;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = sp;
	return true;
}

static int by_start(const void *x, const void *y)
{
	const struct span *a = x, *b = y;

	return (a->start > b->start) - (a->start < b->start);
}

struct stalls *stalls_new(size_t max_gaps, size_t max_intervals)
{
	struct stalls *s = calloc(1, sizeof(*s));

	if (s) {
		s->gaps.max = max_gaps;
		s->machine.max = max_gaps;
		s->intervals.max = max_intervals;
	}
	return s;
}

void stalls_free(struct stalls *s)
{
	if (!s)
		return;
	free(s->gaps.v);
	free(s->intervals.v);
	free(s->machine.v);
	free(s);
}

void stalls_caller_gap(struct stalls *s, int64_t start_ns, int64_t end_ns)
{
	if (end_ns > start_ns && !push(&s->gaps, (struct span){start_ns, end_ns, 0, false}))
		s->truncated = true;
}

void stalls_machine_window(struct stalls *s, int64_t start_ns, int64_t end_ns)
{
	if (end_ns > start_ns && !push(&s->machine, (struct span){start_ns, end_ns, 0, false}))
		s->truncated = true;
}

void stalls_bridge_interval(struct stalls *s, int64_t start_ns, int64_t end_ns, int64_t error_ns)
{
	if (end_ns > start_ns &&
	    !push(&s->intervals, (struct span){start_ns, end_ns, error_ns, false}))
		s->truncated = true;
}

/* Sorts the windows' spans and sweeps them: each cluster of overlapping ones (each with the
 * union of those before it) of at least min spans is a window, counted in *windows with the
 * longest in *longest_ns (may be NULL), and takes the bridge intervals (sorted by start) that
 * overlap it and no window took before, each once, through cb; returns how many it took. */
static uint64_t sweep(struct spans *w, unsigned min, struct spans *iv,
                      void (*cb)(void *arg, int64_t error_ns), void *arg, unsigned *windows,
                      int64_t *longest_ns)
{
	size_t i = 0, k = 0;
	uint64_t taken = 0;

	if (w->n) /* qsort's base may not be NULL, even for nothing */
		qsort(w->v, w->n, sizeof(*w->v), by_start);
	while (i < w->n) {
		int64_t ws = w->v[i].start, we = w->v[i].end;
		unsigned count = 1;

		for (i++; i < w->n && w->v[i].start < we; i++, count++)
			if (w->v[i].end > we)
				we = w->v[i].end;
		if (count < min)
			continue;
		(*windows)++;
		if (longest_ns && we - ws > *longest_ns)
			*longest_ns = we - ws;
		/* Windows come in order: the intervals that start before this one and end in it
		 * are found by going on from where the last one left. */
		while (k < iv->n && iv->v[k].end <= ws)
			k++;
		for (size_t j = k; j < iv->n && iv->v[j].start < we; j++) {
			if (iv->v[j].end > ws && !iv->v[j].counted) {
				iv->v[j].counted = true;
				cb(arg, iv->v[j].error);
				taken++;
			}
		}
	}
	return taken;
}

void stalls_finish(struct stalls *s, unsigned min_gaps,
                   void (*in_stall)(void *arg, int64_t error_ns), void *arg,
                   struct stalls_result *out)
{
	struct spans *iv = &s->intervals;

	*out = (struct stalls_result){.truncated = s->truncated};
	if (iv->n)
		qsort(iv->v, iv->n, sizeof(*iv->v), by_start);
	out->bridge_in =
	        sweep(&s->gaps, min_gaps, iv, in_stall, arg, &out->windows, &out->longest_ns);
}

void stalls_finish_machine(struct stalls *s, void (*in_machine)(void *arg, int64_t error_ns),
                           void *arg, struct stalls_result *out)
{
	/* The intervals are sorted by stalls_finish; a machine's window stands by itself. */
	out->machine_bridge_in +=
	        sweep(&s->machine, 1, &s->intervals, in_machine, arg, &out->machine_windows, NULL);
}

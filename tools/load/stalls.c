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

/* Takes the intervals from k on (sorted by start) that overlap [ws, we) and no window took
 * before, each once; returns how many. */
static uint64_t take(struct spans *iv, size_t k, int64_t ws, int64_t we,
                     void (*cb)(void *arg, int64_t error_ns), void *arg)
{
	uint64_t n = 0;

	for (size_t j = k; j < iv->n && iv->v[j].start < we; j++) {
		if (iv->v[j].end > ws && !iv->v[j].counted) {
			iv->v[j].counted = true;
			cb(arg, iv->v[j].error);
			n++;
		}
	}
	return n;
}

void stalls_finish(struct stalls *s, unsigned min_gaps,
                   void (*in_stall)(void *arg, int64_t error_ns), void *arg,
                   struct stalls_result *out)
{
	struct spans *g = &s->gaps, *iv = &s->intervals;
	size_t i = 0, k = 0;

	*out = (struct stalls_result){.truncated = s->truncated};
	if (g->n) /* qsort's base may not be NULL, even for nothing */
		qsort(g->v, g->n, sizeof(*g->v), by_start);
	if (iv->n)
		qsort(iv->v, iv->n, sizeof(*iv->v), by_start);
	while (i < g->n) {
		/* One cluster: gaps that overlap, each with the union of those before it. */
		int64_t ws = g->v[i].start, we = g->v[i].end;
		unsigned count = 1;

		for (i++; i < g->n && g->v[i].start < we; i++, count++)
			if (g->v[i].end > we)
				we = g->v[i].end;
		if (count < min_gaps)
			continue;
		out->windows++;
		if (we - ws > out->longest_ns)
			out->longest_ns = we - ws;
		/* Intervals are sorted by start, windows come in order: those that start before
		 * this window and end in it are found by going on from where the last one left. */
		while (k < iv->n && iv->v[k].end <= ws)
			k++;
		out->bridge_in += take(iv, k, ws, we, in_stall, arg);
	}
}

void stalls_finish_machine(struct stalls *s, void (*in_machine)(void *arg, int64_t error_ns),
                           void *arg, struct stalls_result *out)
{
	struct spans *m = &s->machine, *iv = &s->intervals; /* sorted by stalls_finish */
	size_t i = 0, k = 0;

	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), by_start);
	while (i < m->n) {
		int64_t ws = m->v[i].start, we = m->v[i].end;

		for (i++; i < m->n && m->v[i].start < we; i++)
			if (m->v[i].end > we)
				we = m->v[i].end;
		out->machine_windows++;
		while (k < iv->n && iv->v[k].end <= ws)
			k++;
		out->machine_bridge_in += take(iv, k, ws, we, in_machine, arg);
	}
}

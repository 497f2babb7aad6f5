/* The received audio on the call's time line (samples since the answer), so the recording
 * follows real time: a stream is laid by its RTP timestamps from where its first packet
 * arrived, a late or reordered packet fills its own place while that is less than
 * SB_CL_TIMELINE_WINDOW old, and whatever nothing filled is silence. Pure. Thread: main.
 * Owns its window; the sink gets every sample once, in order.
 *
 * DESIGN
 * Placing by timestamp, not arrival, keeps jitter out of the recording; tying a stream to
 * its first arrival keeps pauses (DTX, a late start) in it. A new SSRC, a timestamp
 * JUMP_SAMPLES away from the arrival time, or BEHIND_PACKETS packets in a row too late for
 * their places (the timestamps went back) is a new stream, laid from its arrival but never
 * over what is already there; a single packet too late is a straggler and dropped. Samples
 * move to the sink once they are a window behind the newest one placed, or at the end. */
#include <string.h>

#include "call.h"

#define W SB_CL_TIMELINE_WINDOW
#define JUMP_SAMPLES (10 * SB_RATE_8K)
#define BEHIND_PACKETS 3

void sb_cl_timeline_init(struct sb_cl_timeline *t, sb_cl_sink_fn *sink, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->sink = sink;
	t->sink_arg = arg;
}

/* Hands samples up to position x to the sink; the ring slots it frees are silence again. */
static void flush_to(struct sb_cl_timeline *t, int64_t x)
{
	while (t->flushed < x) {
		size_t idx = (size_t)(t->flushed % W);
		size_t k = W - idx;

		if ((int64_t)k > x - t->flushed)
			k = (size_t)(x - t->flushed);
		if (t->sink)
			t->sink(t->sink_arg, t->win + idx, k);
		memset(t->win + idx, 0, k * sizeof(t->win[0]));
		t->flushed += (int64_t)k;
	}
}

static void anchor(struct sb_cl_timeline *t, uint32_t ssrc, uint32_t ts, int64_t arrival_pos)
{
	t->anchored = true;
	t->ssrc = ssrc;
	t->base_ts = ts;
	t->base_pos = arrival_pos > t->end ? arrival_pos : t->end;
}

void sb_cl_timeline_put(struct sb_cl_timeline *t, uint32_t ssrc, uint32_t ts, const int16_t *pcm,
                        size_t n, int64_t arrival_pos)
{
	int64_t pos, d;

	if (n == 0 || n > W)
		return;
	if (!t->anchored || ssrc != t->ssrc)
		anchor(t, ssrc, ts, arrival_pos);
	pos = t->base_pos + (int32_t)(ts - t->base_ts);
	d = pos - arrival_pos;
	if (d > JUMP_SAMPLES || d < -JUMP_SAMPLES) {
		anchor(t, ssrc, ts, arrival_pos); /* a jump: lay the stream afresh */
		pos = t->base_pos;
	} else if (pos + (int64_t)n <= t->flushed) {
		/* Too late for its place: a straggler, unless the stream keeps coming from there
		 * (its timestamps went back), which is then laid afresh. */
		if (++t->behind < BEHIND_PACKETS) {
			t->late_samples += n;
			return;
		}
		anchor(t, ssrc, ts, arrival_pos);
		pos = t->base_pos;
	}
	t->behind = 0;
	if (pos + (int64_t)n - W > t->flushed)
		flush_to(t, pos + (int64_t)n - W);
	for (size_t i = 0; i < n; i++) {
		if (pos + (int64_t)i < t->flushed) {
			t->late_samples++;
			continue;
		}
		t->win[(pos + (int64_t)i) % W] = pcm[i];
	}
	if (pos + (int64_t)n > t->end)
		t->end = pos + (int64_t)n;
}

void sb_cl_timeline_flush(struct sb_cl_timeline *t)
{
	flush_to(t, t->end);
}

/* Bot → caller playout queue: re-frames bot PCM of any even length into 20 ms frames, keeps
 * marks in arrival order behind their audio, bounds the queued audio and flushes on clear.
 * Pure. Thread: the ws thread that owns the bot connection.
 * Owns a growable sample ring and a growable mark ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sb/playout.h>

/*
 * DESIGN
 *
 * Audio is stored as host-order int16 samples in one ring buffer whose capacity is a power
 * of two. It grows (doubling) only inside the push functions, which run when a bot message
 * arrives, never in pop(), which runs every 20 ms: pop() only copies.
 *
 * Positions are absolute sample counts: in_pos counts every sample ever queued (including
 * silence padding), out_pos every sample handed out or dropped by clear. Since pop() takes
 * whole frames and clear() empties everything, out_pos - (value at the last clear) is always
 * a multiple of SB_FRAME_SAMPLES, and (in_pos - out_pos) % SB_FRAME_SAMPLES is the size of the
 * pending partial frame.
 *
 * A mark is stored with the position it stands at. Pushing a mark first pads a partial frame
 * with silence, so every mark position is a frame boundary and pop() only has to compare the
 * head mark's position with out_pos: equal means the mark comes out before more audio.
 *
 * The bound (max_samples) applies to the bot's audio: what does not fit is cut from the end
 * of the pushed block and reported. Padding is always added, so a mark never jumps ahead of
 * audio; it can exceed the bound by less than one frame.
 *
 * A DTMF digit from the bot is queued exactly like a mark (it plays after the audio before
 * it) and shares the marks' ring and cap.
 *
 * Marks are capped (MAX_MARKS) so that a bot sending marks without audio cannot grow memory
 * without limit; past the cap push_mark() fails with -ENOMEM like any allocation failure.
 */

#define INITIAL_SAMPLES 4096u
#define INITIAL_MARKS 16u
#define MAX_MARKS 65536u

struct mark {
	uint64_t pos;
	uint32_t id;  /* MARK: its id; DTMF: the duration in ms */
	uint8_t kind; /* SB_FRAME_MARK or SB_FRAME_DTMF */
	char digit;   /* DTMF */
};

struct sb_playout {
	size_t max_samples;
	uint64_t in_pos;
	uint64_t out_pos;

	int16_t *buf; /* ring of cap samples; the oldest sample is at rd */
	size_t cap;
	size_t rd;

	struct mark *marks; /* ring of mark_cap marks; the oldest is at mark_rd */
	size_t mark_cap;
	size_t mark_rd;
	size_t n_marks;
};

int sb_playout_new(struct sb_playout **ret, size_t max_samples)
{
	struct sb_playout *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->max_samples = max_samples;
	p->cap = INITIAL_SAMPLES;
	p->buf = malloc(p->cap * sizeof(*p->buf));
	p->mark_cap = INITIAL_MARKS;
	p->marks = malloc(p->mark_cap * sizeof(*p->marks));
	if (!p->buf || !p->marks) {
		sb_playout_free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

struct sb_playout *sb_playout_free(struct sb_playout *p)
{
	if (!p)
		return NULL;
	free(p->buf);
	free(p->marks);
	free(p);
	return NULL;
}

size_t sb_playout_queued_samples(const struct sb_playout *p)
{
	return (size_t)(p->in_pos - p->out_pos);
}

size_t sb_playout_queued_marks(const struct sb_playout *p)
{
	return p->n_marks;
}

/* Makes room for `need` samples in total; the ring is re-laid out linearly from index 0. */
static int reserve_samples(struct sb_playout *p, size_t need)
{
	size_t n = sb_playout_queued_samples(p), cap = p->cap, first;
	int16_t *nb;

	if (need <= cap)
		return 0;
	while (cap < need) {
		if (cap > SIZE_MAX / 2 / sizeof(*nb))
			return -ENOMEM;
		cap *= 2;
	}
	nb = malloc(cap * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	first = n < p->cap - p->rd ? n : p->cap - p->rd;
	memcpy(nb, p->buf + p->rd, first * sizeof(*nb));
	memcpy(nb + first, p->buf, (n - first) * sizeof(*nb));
	free(p->buf);
	p->buf = nb;
	p->cap = cap;
	p->rd = 0;
	return 0;
}

/* Makes room for one more mark. */
static int reserve_mark(struct sb_playout *p)
{
	size_t cap = p->mark_cap * 2;
	struct mark *nm;

	if (p->n_marks < p->mark_cap)
		return 0;
	if (p->n_marks >= MAX_MARKS)
		return -ENOMEM;
	nm = malloc(cap * sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_marks; i++)
		nm[i] = p->marks[(p->mark_rd + i) & (p->mark_cap - 1)];
	free(p->marks);
	p->marks = nm;
	p->mark_cap = cap;
	p->mark_rd = 0;
	return 0;
}

/* Index in buf of the sample at offset k behind the oldest one. */
static size_t at(const struct sb_playout *p, size_t k)
{
	return (p->rd + k) & (p->cap - 1);
}

long sb_playout_push_audio(struct sb_playout *p, const uint8_t *pcm_le, size_t len)
{
	size_t n = len / 2, queued = sb_playout_queued_samples(p), keep = 0, w;
	int r;

	if (len % 2)
		return -EINVAL;
	if (queued < p->max_samples)
		keep = n < p->max_samples - queued ? n : p->max_samples - queued;
	r = reserve_samples(p, queued + keep);
	if (r < 0)
		return r;
	w = at(p, queued);
	for (size_t i = 0; i < keep; i++) {
		/* Through uint16_t: the wire is little-endian whatever the host is. */
		uint16_t v = (uint16_t)(pcm_le[2 * i] | pcm_le[2 * i + 1] << 8);

		p->buf[w] = (int16_t)v;
		w = (w + 1) & (p->cap - 1);
	}
	p->in_pos += keep;
	return (long)(n - keep);
}

/* The silence that completes the partial frame at the end: 0 when there is none. */
static size_t partial_pad(const struct sb_playout *p)
{
	return (SB_FRAME_SAMPLES - sb_playout_queued_samples(p) % SB_FRAME_SAMPLES) %
	       SB_FRAME_SAMPLES;
}

/* Pads the partial frame at the end with silence (room already reserved). */
static size_t pad_partial(struct sb_playout *p)
{
	size_t pad = partial_pad(p), w = at(p, sb_playout_queued_samples(p));

	for (size_t i = 0; i < pad; i++) {
		p->buf[w] = 0;
		w = (w + 1) & (p->cap - 1);
	}
	p->in_pos += pad;
	return pad;
}

size_t sb_playout_flush(struct sb_playout *p)
{
	/* Room for the padding first: on failure nothing changes. */
	if (reserve_samples(p, sb_playout_queued_samples(p) + partial_pad(p)) < 0)
		return 0;
	return pad_partial(p);
}

/* Queues a mark or a DTMF digit behind the audio queued so far. */
static int push_item(struct sb_playout *p, struct mark m)
{
	int r;

	/* Both allocations before any change, so a failure leaves the queue as it was. */
	r = reserve_samples(p, sb_playout_queued_samples(p) + partial_pad(p));
	if (r >= 0)
		r = reserve_mark(p);
	if (r < 0)
		return r;
	pad_partial(p);
	m.pos = p->in_pos;
	p->marks[(p->mark_rd + p->n_marks) & (p->mark_cap - 1)] = m;
	p->n_marks++;
	return 0;
}

int sb_playout_push_mark(struct sb_playout *p, uint32_t mark_id)
{
	return push_item(p, (struct mark){.id = mark_id, .kind = SB_FRAME_MARK});
}

int sb_playout_push_dtmf(struct sb_playout *p, char digit, uint32_t duration_ms)
{
	return push_item(p,
	                 (struct mark){.id = duration_ms, .kind = SB_FRAME_DTMF, .digit = digit});
}

static void pop_mark(struct sb_playout *p, struct sb_frame *f)
{
	const struct mark *m = &p->marks[p->mark_rd];

	f->kind = m->kind;
	f->samples = 0;
	f->digit = m->digit;
	f->mark_id = m->id;
	p->mark_rd = (p->mark_rd + 1) & (p->mark_cap - 1);
	p->n_marks--;
}

static void pop_audio(struct sb_playout *p, struct sb_frame *f)
{
	size_t first = p->cap - p->rd;

	if (first > SB_FRAME_SAMPLES)
		first = SB_FRAME_SAMPLES;
	memcpy(f->pcm, p->buf + p->rd, first * sizeof(f->pcm[0]));
	memcpy(f->pcm + first, p->buf, (SB_FRAME_SAMPLES - first) * sizeof(f->pcm[0]));
	f->kind = SB_FRAME_AUDIO;
	f->samples = SB_FRAME_SAMPLES;
	f->digit = 0;
	f->mark_id = 0;
	p->rd = at(p, SB_FRAME_SAMPLES);
	p->out_pos += SB_FRAME_SAMPLES;
}

int sb_playout_pop(struct sb_playout *p, struct sb_frame *f)
{
	/* A mark's position is a frame boundary at or after out_pos (see DESIGN). */
	if (p->n_marks && p->marks[p->mark_rd].pos == p->out_pos) {
		pop_mark(p, f);
		return 1;
	}
	if (sb_playout_queued_samples(p) < SB_FRAME_SAMPLES)
		return 0;
	pop_audio(p, f);
	return 1;
}

size_t sb_playout_clear(struct sb_playout *p, sb_playout_mark_fn *fn, void *arg)
{
	size_t dropped = sb_playout_queued_samples(p);

	while (p->n_marks) {
		const struct mark *m = &p->marks[p->mark_rd];

		if (fn && m->kind == SB_FRAME_MARK)
			fn(arg, m->id);
		p->mark_rd = (p->mark_rd + 1) & (p->mark_cap - 1);
		p->n_marks--;
	}
	p->out_pos = p->in_pos;
	p->rd = 0;
	p->mark_rd = 0;
	return dropped;
}

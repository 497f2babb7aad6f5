/* Bot → caller playout queue: re-frames bot PCM of any even length into 20 ms frames, keeps
 * marks in arrival order behind their audio, bounds the queued audio and flushes on clear.
 * Pure. Thread: the ws thread that owns the bot connection.
 * Owns a list of fixed-size sample chunks (plus one spare) and a growable mark ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sb/playout.h>

/*
 * DESIGN
 *
 * Audio is stored as host-order int16 samples in a FIFO list of fixed-size chunks
 * (SB_PLAYOUT_CHUNK_SAMPLES each): the oldest sample is at rd in the head chunk, the next one
 * is written at wr in the tail chunk. A chunk goes as soon as its last sample has been popped
 * or dropped by clear, so the memory held follows the audio queued now, never the largest
 * burst the bot ever sent. One released chunk is kept as a spare, so a bot streaming at about
 * the playout rate reuses it and allocates nothing; an empty queue holds no chunk but that
 * spare. Chunks are only allocated inside the push functions, which run when a bot message
 * arrives, never in pop(), which runs every 20 ms and only copies and frees.
 *
 * Positions are absolute sample counts: in_pos counts every sample ever queued (including
 * silence padding), out_pos every sample handed out or dropped by clear. Since pop() takes
 * whole frames and clear() empties everything, out_pos - (value at the last clear) is always
 * a multiple of SB_FRAME_SAMPLES, and (in_pos - out_pos) % SB_FRAME_SAMPLES is the size of the
 * pending partial frame. A frame may straddle two chunks; pop() copies it in two parts.
 *
 * A mark is stored with the position it stands at, which need not be a frame boundary: audio
 * pushed after it goes on in the same frame, so a bot that marks between the chunks of one
 * utterance leaves no hole there. pop() hands the head mark out once out_pos has reached its
 * position: at once when it stands on a boundary, else after the frame that holds it. A mark
 * behind a partial frame at the end waits for the audio that completes the frame, or for
 * flush() to pad it (the owner does that when the caller runs out of audio). A DTMF digit
 * does pad the partial frame before it: it stands in for audio frames.
 *
 * The bound (max_samples) applies to the bot's audio: what does not fit is cut from the end
 * of the pushed block and reported. flush() and a digit add their padding whatever the bound,
 * so they can exceed it by less than one frame.
 *
 * A DTMF digit from the bot is queued like a mark (it plays after the audio before it, the
 * partial frame padded as said above) and shares the marks' ring and cap. The ring is allocated
 * with the first mark, and a ring grown past its first size is freed by clear.
 *
 * Marks are capped (MAX_MARKS) so that a bot sending marks without audio cannot grow memory
 * without limit; past the cap push_mark() fails with -ENOMEM like any allocation failure.
 *
 * Every push reserves what it needs (chunks, a mark slot) before it changes anything, so a
 * failed allocation leaves the queue as it was.
 */

#define INITIAL_MARKS 16u
#define MAX_MARKS 65536u

struct chunk {
	struct chunk *next;
	int16_t s[SB_PLAYOUT_CHUNK_SAMPLES];
};

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

	struct chunk *head; /* oldest chunk, NULL when no sample is queued */
	struct chunk *tail; /* newest chunk */
	size_t rd;          /* the oldest sample in head */
	size_t wr;          /* where the next sample goes in tail */
	struct chunk *spare;
	size_t n_chunks; /* held, the spare included */

	struct mark *marks; /* ring of mark_cap marks (0: none allocated); oldest at mark_rd */
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
	*ret = p;
	return 0;
}

/* Frees a list of chunks linked by next. */
static void free_chunks(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;

		free(c);
		c = next;
	}
}

struct sb_playout *sb_playout_free(struct sb_playout *p)
{
	if (!p)
		return NULL;
	free_chunks(p->head);
	free(p->spare);
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

size_t sb_playout_bytes(const struct sb_playout *p)
{
	return p->n_chunks * sizeof(struct chunk) + p->mark_cap * sizeof(struct mark);
}

/* A chunk no longer used: kept as the spare when there is none, else freed. */
static void release_chunk(struct sb_playout *p, struct chunk *c)
{
	if (!p->spare) {
		c->next = NULL;
		p->spare = c;
		return;
	}
	free(c);
	p->n_chunks--;
}

/* Makes a list in *fresh of the chunks that writing n more samples needs beyond the room left
 * in the tail chunk: the spare first, then new ones. On failure nothing changes. */
static int reserve_chunks(struct sb_playout *p, size_t n, struct chunk **fresh)
{
	size_t room = p->tail ? SB_PLAYOUT_CHUNK_SAMPLES - p->wr : 0, need, made = 0;
	struct chunk *list = NULL;

	*fresh = NULL;
	if (n <= room)
		return 0;
	need = (n - room + SB_PLAYOUT_CHUNK_SAMPLES - 1) / SB_PLAYOUT_CHUNK_SAMPLES;
	/* The new chunks first, so that a failure has only those to free. */
	for (size_t i = p->spare ? 1 : 0; i < need; i++, made++) {
		struct chunk *c = malloc(sizeof(*c));

		if (!c) {
			free_chunks(list);
			return -ENOMEM;
		}
		c->next = list;
		list = c;
	}
	if (p->spare) {
		p->spare->next = list;
		list = p->spare;
		p->spare = NULL;
	}
	p->n_chunks += made;
	*fresh = list;
	return 0;
}

/* Writes n samples at the end: little-endian bytes from pcm_le, or silence when pcm_le is
 * NULL. The chunks beyond the tail's room come from fresh (reserve_chunks). */
static void write_samples(struct sb_playout *p, const uint8_t *pcm_le, size_t n,
                          struct chunk *fresh)
{
	while (n) {
		size_t k;

		if (!p->tail || p->wr == SB_PLAYOUT_CHUNK_SAMPLES) {
			struct chunk *c = fresh;

			fresh = c->next;
			c->next = NULL;
			if (p->tail)
				p->tail->next = c;
			else
				p->head = c;
			p->tail = c;
			p->wr = 0;
		}
		k = SB_PLAYOUT_CHUNK_SAMPLES - p->wr;
		if (k > n)
			k = n;
		if (!pcm_le) {
			memset(p->tail->s + p->wr, 0, k * sizeof(int16_t));
		} else {
			for (size_t i = 0; i < k; i++, pcm_le += 2)
				/* Through uint16_t: the wire is little-endian whatever the host is.
				 */
				p->tail->s[p->wr + i] =
				        (int16_t)(uint16_t)(pcm_le[0] | pcm_le[1] << 8);
		}
		p->wr += k;
		p->in_pos += k;
		n -= k;
	}
}

long sb_playout_push_audio(struct sb_playout *p, const uint8_t *pcm_le, size_t len)
{
	size_t n = len / 2, queued = sb_playout_queued_samples(p), keep = 0;
	struct chunk *fresh;
	int r;

	if (len % 2)
		return -EINVAL;
	if (queued < p->max_samples)
		keep = n < p->max_samples - queued ? n : p->max_samples - queued;
	r = reserve_chunks(p, keep, &fresh);
	if (r < 0)
		return r;
	write_samples(p, pcm_le, keep, fresh);
	return (long)(n - keep);
}

/* The silence that completes the partial frame at the end: 0 when there is none. */
static size_t partial_pad(const struct sb_playout *p)
{
	return (SB_FRAME_SAMPLES - sb_playout_queued_samples(p) % SB_FRAME_SAMPLES) %
	       SB_FRAME_SAMPLES;
}

size_t sb_playout_flush(struct sb_playout *p)
{
	size_t pad = partial_pad(p);
	struct chunk *fresh;

	/* Room for the padding first: on failure nothing changes. */
	if (reserve_chunks(p, pad, &fresh) < 0)
		return 0;
	write_samples(p, NULL, pad, fresh);
	return pad;
}

/* Makes room for one more mark: the first ring on the first mark, then doubling. */
static int reserve_mark(struct sb_playout *p)
{
	size_t cap = p->mark_cap ? p->mark_cap * 2 : INITIAL_MARKS;
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

/* Queues a mark or a DTMF digit behind the audio queued so far. A digit takes the place of
 * audio frames (its RFC 4733 packets go in their slots), so a partial frame before it is
 * padded first: audio sent after the digit does not play before it. */
static int push_item(struct sb_playout *p, struct mark m)
{
	size_t pad = m.kind == SB_FRAME_DTMF ? partial_pad(p) : 0;
	struct chunk *fresh;
	int r;

	/* Both allocations before any change, so a failure leaves the queue as it was. */
	r = reserve_mark(p);
	if (r >= 0)
		r = reserve_chunks(p, pad, &fresh);
	if (r < 0)
		return r;
	write_samples(p, NULL, pad, fresh);
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

/* Drops the head chunk once its samples are all gone (the tail's too when nothing is left). */
static void drop_read_chunks(struct sb_playout *p)
{
	while (p->head && (p->rd == SB_PLAYOUT_CHUNK_SAMPLES || !sb_playout_queued_samples(p))) {
		struct chunk *c = p->head;

		p->head = c->next;
		p->rd = 0;
		if (!p->head) {
			p->tail = NULL;
			p->wr = 0;
		}
		release_chunk(p, c);
	}
}

static void pop_audio(struct sb_playout *p, struct sb_frame *f)
{
	size_t first = SB_PLAYOUT_CHUNK_SAMPLES - p->rd;

	if (first > SB_FRAME_SAMPLES)
		first = SB_FRAME_SAMPLES;
	memcpy(f->pcm, p->head->s + p->rd, first * sizeof(f->pcm[0]));
	p->rd += first;
	p->out_pos += first;
	drop_read_chunks(p);
	if (first < SB_FRAME_SAMPLES) {
		/* The frame goes on at the start of the next chunk. */
		size_t rest = SB_FRAME_SAMPLES - first;

		memcpy(f->pcm + first, p->head->s, rest * sizeof(f->pcm[0]));
		p->rd += rest;
		p->out_pos += rest;
		drop_read_chunks(p);
	}
	f->kind = SB_FRAME_AUDIO;
	f->samples = SB_FRAME_SAMPLES;
	f->digit = 0;
	f->mark_id = 0;
}

int sb_playout_pop(struct sb_playout *p, struct sb_frame *f)
{
	/* Out once the audio before it is (see DESIGN). */
	if (p->n_marks && p->marks[p->mark_rd].pos <= p->out_pos) {
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
	p->mark_rd = 0;
	if (p->mark_cap > INITIAL_MARKS) {
		/* A burst of marks grew it: the next mark starts a ring of the first size. */
		free(p->marks);
		p->marks = NULL;
		p->mark_cap = 0;
	}
	p->out_pos = p->in_pos;
	drop_read_chunks(p);
	return dropped;
}

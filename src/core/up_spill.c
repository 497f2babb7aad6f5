/* Caller frames waiting on the media side for room in the up ring (up_spill.h).
 * Pure. Thread: the up ring's producer, or its consumer once handed over. Owns the storage of
 * the frames it keeps. */
#include <stdlib.h>
#include <string.h>

#include <sb/up_spill.h>

/* Moves waiting frames onto the ring while it has room; returns how many. */
static unsigned move(struct sb_up_spill *s, struct sb_ring *up)
{
	unsigned moved = 0;
	struct sb_frame *f;

	while (s->n && (f = sb_ring_write_slot(up))) {
		memcpy(f, &s->frames[s->head], sizeof(*f));
		sb_ring_commit_write(up);
		s->head = (s->head + 1) % SB_UP_SPILL_FRAMES;
		s->n--;
		moved++;
	}
	return moved;
}

static void release(struct sb_up_spill *s)
{
	free(s->frames);
	s->frames = NULL;
	s->head = 0;
}

struct sb_frame *sb_up_spill_slot(struct sb_up_spill *s, struct sb_ring *up)
{
	struct sb_frame *f;

	s->moved = move(s, up) > 0; /* the oldest go first */
	if (!s->n && (f = sb_ring_write_slot(up))) {
		if (s->frames)
			release(s);
		s->slot_here = false;
		return f;
	}
	if (s->n == SB_UP_SPILL_FRAMES)
		return NULL;
	if (!s->frames && !(s->frames = malloc(SB_UP_SPILL_FRAMES * sizeof(*s->frames))))
		return NULL;
	s->slot_here = true;
	return &s->frames[(s->head + s->n) % SB_UP_SPILL_FRAMES];
}

bool sb_up_spill_commit(struct sb_up_spill *s, struct sb_ring *up)
{
	bool moved = s->moved;

	s->moved = false;
	if (s->slot_here) {
		s->slot_here = false;
		s->n++;
		return moved;
	}
	sb_ring_commit_write(up);
	return true;
}

unsigned sb_up_spill_drain(struct sb_up_spill *s, struct sb_ring *up)
{
	unsigned moved = move(s, up);

	if (!s->n && s->frames)
		release(s);
	return moved;
}

const struct sb_frame *sb_up_spill_take(struct sb_up_spill *s)
{
	const struct sb_frame *f;

	if (!s->n)
		return NULL;
	f = &s->frames[s->head];
	s->head = (s->head + 1) % SB_UP_SPILL_FRAMES;
	s->n--;
	return f;
}

void sb_up_spill_done(struct sb_up_spill *s)
{
	free(s->frames);
	*s = (struct sb_up_spill){0};
}

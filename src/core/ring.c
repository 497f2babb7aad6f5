/* Lock-free single-producer single-consumer ring of 20 ms frames between a media thread and
 * a ws thread. Pure. Thread: one producer thread and one consumer thread per ring.
 * Owns the slot array, allocated once in sb_ring_init(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sb/ring.h>

/* head and tail run freely and wrap; head - tail is the fill level as long as the capacity
 * stays far below UINT_MAX. Each side loads its own index relaxed (only it writes it) and the
 * other side's with acquire, and publishes with release, so a slot's contents are visible
 * before the index that hands it over. */
#define RING_MAX_CAPACITY (1u << 24)

int sb_ring_init(struct sb_ring *r, unsigned capacity)
{
	if (capacity < 2 || capacity > RING_MAX_CAPACITY || (capacity & (capacity - 1)))
		return -EINVAL;
	r->slots = calloc(capacity, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	r->mask = capacity - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void sb_ring_done(struct sb_ring *r)
{
	free(r->slots);
	r->slots = NULL;
	r->mask = 0;
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
}

struct sb_frame *sb_ring_write_slot(struct sb_ring *r)
{
	unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (unlikely(!r->slots || head - tail > r->mask))
		return NULL;
	return &r->slots[head & r->mask];
}

void sb_ring_commit_write(struct sb_ring *r)
{
	unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);

	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

const struct sb_frame *sb_ring_read_slot(struct sb_ring *r)
{
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (head == tail)
		return NULL;
	return &r->slots[tail & r->mask];
}

void sb_ring_commit_read(struct sb_ring *r)
{
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

unsigned sb_ring_written(struct sb_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed);
}

unsigned sb_ring_count(struct sb_ring *r)
{
	/* Tail first: it never passes head, so the difference cannot underflow on either side. */
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	unsigned head = atomic_load_explicit(&r->head, memory_order_acquire);
	unsigned n = head - tail;

	return n > r->mask + 1 ? r->mask + 1 : n;
}

bool sb_ring_push(struct sb_ring *r, const struct sb_frame *f)
{
	struct sb_frame *slot = sb_ring_write_slot(r);

	if (!slot)
		return false;
	memcpy(slot, f, sizeof(*slot));
	sb_ring_commit_write(r);
	return true;
}

bool sb_ring_pop(struct sb_ring *r, struct sb_frame *f)
{
	const struct sb_frame *slot = sb_ring_read_slot(r);

	if (!slot)
		return false;
	memcpy(f, slot, sizeof(*f));
	sb_ring_commit_read(r);
	return true;
}

/* What the caller says while the ws thread is behind: frames for the bot that find the call's
 * up ring full wait here, in order, on the media side, and go onto the ring as it empties.
 * The ring itself is kept small (SB_UP_RING_FRAMES): it holds a frame or two nearly all the
 * time but cycles through every slot, so all of it stays resident for the whole call, while
 * this storage exists only while something waits in it. Together they hold as much as a ring
 * of SB_UP_RING_FRAMES + SB_UP_SPILL_FRAMES would.
 * When the call ends, the producer hands what still waits over with the call (its up_left), and
 * the ring's consumer takes it after the ring's own frames.
 * Pure. Thread: the up ring's producer; once handed over, the consumer. */
#pragma once

#include <stdbool.h>

#include <sb/ring.h>

#define SB_UP_SPILL_FRAMES 24 /* 480 ms more of caller audio, beyond the ring's */

struct sb_up_spill {
	struct sb_frame *frames; /* SB_UP_SPILL_FRAMES, allocated by the first frame kept */
	unsigned head, n;        /* the oldest frame kept, and how many */
	bool slot_here;          /* the slot last handed out is one of frames, not the ring's */
	bool moved;              /* sb_up_spill_slot() moved waiting frames onto the ring */
};

/* The slot for the next frame: the ring's own while nothing waits here and it has room, else
 * one here (the storage allocated on first use); waiting frames move onto the ring first. NULL
 * when both are full, or on no memory: the frame is to be dropped. Publish it with
 * sb_up_spill_commit(). */
struct sb_frame *sb_up_spill_slot(struct sb_up_spill *s, struct sb_ring *up);
/* Publishes the slot sb_up_spill_slot() returned. True when the ring got frames since the
 * last commit, this one or waiting ones moved on (the consumer is to be told), false when
 * nothing reached it. */
bool sb_up_spill_commit(struct sb_up_spill *s, struct sb_ring *up);
/* Moves waiting frames onto the ring, oldest first, while it has room, and frees the storage
 * once nothing waits. Returns the frames moved (the consumer is to be told when not 0). */
unsigned sb_up_spill_drain(struct sb_up_spill *s, struct sb_ring *up);
/* The consumer's side of a spill handed over: the oldest frame still waiting, taken off (valid
 * until sb_up_spill_done()), or NULL when none is left. */
const struct sb_frame *sb_up_spill_take(struct sb_up_spill *s);
/* Drops whatever waits and frees the storage; the spill may be used again. */
void sb_up_spill_done(struct sb_up_spill *s);

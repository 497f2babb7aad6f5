/* Bot audio from a call's down ring to the caller, one 20 ms frame per tick: frames queued
 * before the latest clear are dropped, and a mark is reported played on the up ring as soon
 * as the audio before it has gone. Playout never waits for the up ring: when it is full (the
 * ws thread is behind), played marks wait here and go first when there is room again.
 * Pure. Thread: the media worker owning the call's leg. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include <sb/ring.h>

/* Played marks waiting for room in the up ring. They come out of the down ring, which holds
 * SB_DOWN_RING_FRAMES and is refilled by the ws thread that also empties the up ring: while
 * that thread stands still no more than a ring's worth can arrive. */
#define SB_DOWNLINK_MAX_PENDING 64

struct sb_downlink {
	uint32_t pending[SB_DOWNLINK_MAX_PENDING]; /* mark ids, oldest at head */
	unsigned head, n;
	uint64_t marks_lost; /* pending overflowed (the ws thread stalled for a very long time) */
};

/* A DTMF digit the bot queued, to be sent in place of audio. */
struct sb_downlink_dtmf {
	char digit; /* 0: none */
	uint32_t duration_ms;
};

/* Moves the next playable frame of down into pcm (SB_FRAME_SAMPLES samples; a shorter frame
 * is padded with zeros) and reports marks on up. Returns the samples of audio taken; 0 when
 * none is queued (the caller plays silence) or when the next item is a DTMF digit, which is
 * then taken into *dtmf (dtmf->digit is 0 otherwise). */
unsigned sb_downlink_next(struct sb_downlink *d, struct sb_ring *down, struct sb_ring *up,
                          atomic_uint *clear_epoch, int16_t *pcm, struct sb_downlink_dtmf *dtmf);

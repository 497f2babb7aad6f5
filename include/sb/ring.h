/* Lock-free single-producer single-consumer ring of fixed 20 ms frames (8 kHz PCM16, a mark
 * or a DTMF digit). One per direction per call: up (media → ws) and down (ws → media). Pure.
 * Thread: the producer calls the write side, the consumer the read side. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sb/common.h>

enum sb_frame_kind {
	SB_FRAME_AUDIO,  /* pcm[0..samples) */
	SB_FRAME_MARK,   /* down: play-order marker; up: that marker has been played */
	SB_FRAME_DTMF,   /* up: a key the caller pressed; down: a key to send the caller */
	SB_FRAME_HOLD,   /* up: the caller put the call on hold, nothing goes to it now */
	SB_FRAME_UNHOLD, /* up: the caller took the call off hold */
};

struct sb_frame {
	uint8_t kind;     /* enum sb_frame_kind */
	char digit;       /* DTMF: 0-9 * # A-D */
	uint16_t samples; /* AUDIO: 1..SB_FRAME_SAMPLES */
	uint32_t epoch;   /* down: the clear epoch the frame was queued in */
	union {
		uint32_t mark_id;     /* MARK: the bot connection's id for the mark */
		uint32_t duration_ms; /* DTMF: how long the key is held */
		uint32_t at_us;       /* AUDIO (up): when its last sample was released towards the
		                         bot, monotonic microseconds modulo 2^32 */
	};
	int16_t pcm[SB_FRAME_SAMPLES];
};

struct sb_ring {
	_Alignas(64) atomic_uint head; /* next slot to write; written by the producer only */
	_Alignas(64) atomic_uint tail; /* next slot to read; written by the consumer only */
	_Alignas(64) unsigned mask;    /* capacity - 1 */
	struct sb_frame *slots;
};

/* Allocates capacity slots; capacity must be a power of two ≥ 2. Returns 0 or -EINVAL/-ENOMEM. */
int sb_ring_init(struct sb_ring *r, unsigned capacity);
/* Frees the slots; accepts a zeroed ring. */
void sb_ring_done(struct sb_ring *r);
/* Producer: the slot to fill, or NULL when full. Publish it with sb_ring_commit_write(). */
struct sb_frame *sb_ring_write_slot(struct sb_ring *r);
/* Producer: publishes the slot returned by sb_ring_write_slot(). */
void sb_ring_commit_write(struct sb_ring *r);
/* Consumer: the oldest frame, or NULL when empty. Release it with sb_ring_commit_read(). */
const struct sb_frame *sb_ring_read_slot(struct sb_ring *r);
/* Consumer: releases the slot returned by sb_ring_read_slot(). */
void sb_ring_commit_read(struct sb_ring *r);
/* Producer: frames written so far, modulo 2^32: a change tells that something was written. */
unsigned sb_ring_written(struct sb_ring *r);
/* Producer or consumer: frames queued now (a snapshot). */
unsigned sb_ring_count(struct sb_ring *r);
/* Producer: copies f in; false when full. */
bool sb_ring_push(struct sb_ring *r, const struct sb_frame *f);
/* Consumer: copies the oldest frame out; false when empty. */
bool sb_ring_pop(struct sb_ring *r, struct sb_frame *f);

/* A bounded FIFO of 8 kHz PCM samples between two legs of one media worker (the audio a
 * bridged leg relays to the other, or one party's audio waiting to be mixed): the newest
 * audio wins when it is full. Pure. Thread: the one media worker that owns both ends. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SB_PCM_FIFO_SAMPLES 1600 /* 200 ms */

struct sb_pcm_fifo {
	int16_t buf[SB_PCM_FIFO_SAMPLES];
	size_t head, n;
	uint64_t dropped; /* samples pushed out by newer ones */
};

/* Appends n samples; beyond the capacity the oldest are dropped (counted). */
void sb_pcm_fifo_push(struct sb_pcm_fifo *f, const int16_t *pcm, size_t n);
/* Takes up to n samples into out; the rest of out is filled with silence. Returns how many
 * were taken. */
size_t sb_pcm_fifo_pop(struct sb_pcm_fifo *f, int16_t *out, size_t n);
/* Adds up to n samples into out (saturating), taking them. Returns how many were added. */
size_t sb_pcm_fifo_mix(struct sb_pcm_fifo *f, int16_t *out, size_t n);
/* The samples of the mix of the two FIFOs f[0] and f[1] dropped since seen[0] and seen[1] (their
 * counts when last asked, updated): what both parties lost before the same mix frame is one
 * loss of the mix, so the larger of the two. */
uint64_t sb_pcm_fifo_mix_dropped(const struct sb_pcm_fifo *f, uint64_t *seen);

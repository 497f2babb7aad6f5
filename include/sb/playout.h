/* Bot → caller playout queue: takes bot PCM of any even length and marks in arrival order,
 * hands out 20 ms frames (8 kHz) and marks in the same order, drops everything on clear,
 * and bounds the queued audio. Pure. Thread: the ws thread that owns the bot connection. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <sb/ring.h>

/* Audio is stored in chunks of this many samples (125 ms at 8 kHz: a 100 ms media message
 * fits in one), each freed as soon as it has been played or cleared; one is kept spare. With
 * its link a chunk is 2008 bytes, within a 2 KiB heap block. */
#define SB_PLAYOUT_CHUNK_SAMPLES 1000

struct sb_playout;

typedef void sb_playout_mark_fn(void *arg, uint32_t mark_id);

/* Creates a queue holding at most max_samples of audio. Returns 0 or -ENOMEM. */
int sb_playout_new(struct sb_playout **ret, size_t max_samples);
/* Frees; accepts NULL; returns NULL. */
struct sb_playout *sb_playout_free(struct sb_playout *p);
/* Appends little-endian PCM16 bytes. Odd len: -EINVAL, nothing queued. Samples that do not
 * fit under the bound are dropped; returns how many samples were dropped (≥ 0) or -ENOMEM. */
long sb_playout_push_audio(struct sb_playout *p, const uint8_t *pcm_le, size_t len);
/* Appends a mark: it comes out after all the audio sent before it, and after the rest of the
 * frame that audio ends in (audio pushed later, or flush()'s padding). Returns 0 or -ENOMEM. */
int sb_playout_push_mark(struct sb_playout *p, uint32_t mark_id);
/* Appends a DTMF digit to be sent the caller after the audio queued before it: a partial
 * frame before it is padded with silence first, so audio pushed after it plays after it.
 * Returns 0 or -ENOMEM. */
int sb_playout_push_dtmf(struct sb_playout *p, char digit, uint32_t duration_ms);
/* Pads a partial frame at the end of the queue with silence so it can be taken: the end of
 * an utterance that is not a whole number of frames. Returns the samples of padding added. */
size_t sb_playout_flush(struct sb_playout *p);
/* Takes the next item into f: a full AUDIO frame of SB_FRAME_SAMPLES, a MARK or a DTMF. Returns 1,
 * or 0 when no complete item is queued (a partial frame waits for more audio or flush()). */
int sb_playout_pop(struct sb_playout *p, struct sb_frame *f);
/* Drops all queued audio, marks and digits; calls fn(arg, id) for each dropped mark in order
 * (fn may be NULL). Returns the number of samples dropped. */
size_t sb_playout_clear(struct sb_playout *p, sb_playout_mark_fn *fn, void *arg);
/* Samples queued (including a partial frame). */
size_t sb_playout_queued_samples(const struct sb_playout *p);
/* Marks and digits queued. */
size_t sb_playout_queued_marks(const struct sb_playout *p);
/* Bytes of storage held now: sample chunks (the spare included) and the mark ring. */
size_t sb_playout_bytes(const struct sb_playout *p);

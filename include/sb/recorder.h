/* Call recording: one recorder thread writes a stereo WAV per recorded call (left the
 * caller, right what the caller was sent), fed by the media workers through a lock-free ring
 * per call. Thread: control (the recorder's life), media (a call's recording), the
 * recorder's own (files). */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include <sb/wav.h>

#define SB_REC_RING_FRAMES 64 /* 20 ms frames, each of one channel: 320 ms of a call */
#define SB_REC_POLL_MS 40     /* how often the recorder drains the rings while it records */
/* The longest a file's header lags the audio written to it: a recording's audio reaches its
 * file, and the header's sizes are rewritten to match, at least this often, so a killed
 * daemon leaves a valid WAV missing at most this much and the mixing window. */
#define SB_REC_SYNC_MS 1000

struct sb_recorder;
struct sb_rec; /* one call's recording */

enum sb_rec_channel {
	SB_REC_CALLER = SB_WAV_LEFT, /* the caller's audio, as the bot hears it */
	SB_REC_SENT = SB_WAV_RIGHT,  /* what was sent to the caller, silence included */
};

/* Counters, written by the recorder and the media workers, read by anyone. */
struct sb_recorder_stats {
	atomic_uint_fast64_t recordings; /* files completed */
	atomic_uint_fast64_t failed;     /* recordings that could not be created or written */
	atomic_uint_fast64_t overruns;   /* frames dropped on a full ring (the recorder was late) */
	atomic_uint_fast64_t lost;       /* frames not written after a write error */
	atomic_uint_fast64_t out_of_step; /* frames dropped: their channel ran ahead of its times */
};

/* Thread: control. Creates the recorder (no thread yet). Returns 0 or a negative errno. */
int sb_recorder_new(struct sb_recorder **ret);
/* Thread: control. Starts the thread. Returns 0 or a negative errno. */
int sb_recorder_start(struct sb_recorder *r);
/* Thread: control, once no media worker runs. Finishes every recording and joins. */
void sb_recorder_stop(struct sb_recorder *r);
/* Thread: control, after stop. Frees; accepts NULL; returns NULL. */
struct sb_recorder *sb_recorder_free(struct sb_recorder *r);
/* Thread: any. The recorder's counters. */
const struct sb_recorder_stats *sb_recorder_stats(const struct sb_recorder *r);

/* Thread: media. Starts recording call id into "<folder>/<id>.wav" (both strings are
 * copied); t0_us (sb_now_us) is the recording's start. The file is created by the recorder
 * thread, which logs when it cannot be. NULL when r is NULL or not running, on OOM, or when
 * id or the path is too long or id empty: the caller logs it, and it is counted as failed
 * (unless r is NULL). */
struct sb_rec *sb_rec_open(struct sb_recorder *r, const char *folder, const char *id,
                           int64_t t0_us);
/* Thread: media (the one that opened rec). n samples of channel ch (pcm NULL: silence) whose
 * first sample was heard or sent at t_us. Copies; never blocks; a full ring drops them and
 * counts. No allocation, lock or system call. */
void sb_rec_put(struct sb_rec *rec, enum sb_rec_channel ch, int64_t t_us, const int16_t *pcm,
                unsigned n);
/* Thread: media. The recording ends after what has been put; the recorder finishes the file
 * and frees rec. Accepts NULL; returns NULL. */
struct sb_rec *sb_rec_close(struct sb_rec *rec);

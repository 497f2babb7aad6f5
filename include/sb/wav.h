/* Call recording files: the RIFF header of 8 kHz PCM16 stereo WAV, the file name a call id
 * gives, and the two-channel window that puts each channel's frames at their sample
 * positions so the channels stay aligned in time. Pure. Thread: the recorder (any in tests). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sb/common.h>

#define SB_WAV_HEADER_BYTES 44
#define SB_WAV_CHANNELS 2
#define SB_WAV_FRAME_BYTES (SB_WAV_CHANNELS * 2) /* one stereo sample */
/* Keeps the RIFF size (data + 36) within 32 bits, in whole stereo samples. */
#define SB_WAV_MAX_DATA_BYTES ((UINT32_MAX - 36u) / SB_WAV_FRAME_BYTES * SB_WAV_FRAME_BYTES)
#define SB_WAV_WINDOW_SAMPLES 4000 /* 0.5 s per channel held before it is written */
#define SB_WAV_SLACK_SAMPLES 480   /* 60 ms: how far a channel may stray from its positions */

enum sb_wav_channel {
	SB_WAV_LEFT,  /* the caller */
	SB_WAV_RIGHT, /* what the caller was sent */
};

/* Receives n stereo samples (2n int16, interleaved, little-endian) that are final. */
typedef void sb_wav_write_fn(void *arg, const int16_t *pcm, size_t n);

struct sb_wav_track {
	bool started;
	int64_t cursor; /* the position of this channel's next sample */
};

struct sb_wav_mix {
	sb_wav_write_fn *write;
	void *arg;
	int64_t base; /* the position of pcm[0] */
	struct sb_wav_track tr[SB_WAV_CHANNELS];
	uint64_t ahead_drops; /* frames dropped because their channel ran ahead of its positions */
	int16_t pcm[SB_WAV_WINDOW_SAMPLES * SB_WAV_CHANNELS];
};

/* Thread: any. Writes the header of a file holding data_bytes of audio into out. */
void sb_wav_header(uint8_t out[SB_WAV_HEADER_BYTES], uint32_t data_bytes);
/* Thread: any. "<folder>/<id>.wav" into buf, id's characters outside [A-Za-z0-9_-] made '_'
 * (so it cannot leave the folder or hide). Returns 0; -EINVAL for an empty id;
 * -ENAMETOOLONG when it does not fit in len bytes. */
int sb_wav_path(char *buf, size_t len, const char *folder, const char *id);
/* Thread: any. An empty window at position 0 whose final samples go to write(arg, ...). */
void sb_wav_mix_init(struct sb_wav_mix *m, sb_wav_write_fn *write, void *arg);
/* Thread: any. Places n samples of channel ch (pcm NULL: silence) that belong at position
 * pos, and writes what both channels have completed. Copies pcm; n ≤ SB_FRAME_SAMPLES. */
void sb_wav_mix_put(struct sb_wav_mix *m, enum sb_wav_channel ch, int64_t pos, const int16_t *pcm,
                    unsigned n);
/* Thread: any. Writes everything placed so far (the end of the recording). */
void sb_wav_mix_flush(struct sb_wav_mix *m);

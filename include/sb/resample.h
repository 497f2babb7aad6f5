/* Sample-rate conversion of one mono PCM16 stream (speexdsp), between the rings' 8 kHz and a
 * bot's 16 or 24 kHz. Thread: the one that owns the stream (the ws worker of the call). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct sb_resampler;

/* A converter from in_rate to out_rate at speexdsp quality 0..10. Returns 0, -EINVAL for a
 * rate or quality it cannot do, or -ENOMEM. */
int sb_resampler_new(struct sb_resampler **ret, int in_rate, int out_rate, int quality);
/* Frees; accepts NULL; returns NULL. */
struct sb_resampler *sb_resampler_free(struct sb_resampler *r);
/* Converts n_in samples (all consumed) into out, which holds out_cap samples; returns the
 * samples written. out_cap of sb_resampler_out_max(r, n_in) always suffices. */
size_t sb_resampler_run(struct sb_resampler *r, const int16_t *in, size_t n_in, int16_t *out,
                        size_t out_cap);
/* Most samples n_in input samples can produce. */
size_t sb_resampler_out_max(const struct sb_resampler *r, size_t n_in);
/* Forgets the history (after a clear, so old audio does not ring into new). */
void sb_resampler_reset(struct sb_resampler *r);
/* Ends the stream: the samples the filter still holds (its look-ahead, the last
 * sb_resampler_latency() input samples) come out into out, which holds out_cap samples
 * (sb_resampler_out_max(r, sb_resampler_latency(r)) suffices), and the history is forgotten as
 * by sb_resampler_reset(). Returns the samples written. */
size_t sb_resampler_drain(struct sb_resampler *r, int16_t *out, size_t out_cap);
/* The delay the filter adds, in input samples. */
int sb_resampler_latency(const struct sb_resampler *r);

/* Sample-rate conversion with speexdsp's resampler (the only user of speexdsp). The filter's
 * start-up zeros are skipped, so the first output sample is the first input sample and a
 * stream keeps its timing; a drain brings out the look-ahead that is held back for the next
 * samples, so a stream that ends loses none. Thread: the owner of the stream. Owns the speex
 * state. */
#include <errno.h>
#include <stdlib.h>

#include <speex/speex_resampler.h>

#include <sb/common.h>
#include <sb/resample.h>

struct sb_resampler {
	SpeexResamplerState *st;
	int in_rate, out_rate;
};

int sb_resampler_new(struct sb_resampler **ret, int in_rate, int out_rate, int quality)
{
	struct sb_resampler *r;
	int err = 0;

	if (in_rate <= 0 || out_rate <= 0 || quality < 0 || quality > 10)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->st = speex_resampler_init(1, (spx_uint32_t)in_rate, (spx_uint32_t)out_rate, quality,
	                             &err);
	if (!r->st) {
		free(r);
		return err == RESAMPLER_ERR_ALLOC_FAILED ? -ENOMEM : -EINVAL;
	}
	speex_resampler_skip_zeros(r->st);
	r->in_rate = in_rate;
	r->out_rate = out_rate;
	*ret = r;
	return 0;
}

struct sb_resampler *sb_resampler_free(struct sb_resampler *r)
{
	if (r) {
		speex_resampler_destroy(r->st);
		free(r);
	}
	return NULL;
}

size_t sb_resampler_out_max(const struct sb_resampler *r, size_t n_in)
{
	/* Rounded up, plus one for the fractional phase carried between calls. */
	return (n_in * (size_t)r->out_rate + (size_t)r->in_rate - 1) / (size_t)r->in_rate + 1;
}

size_t sb_resampler_run(struct sb_resampler *r, const int16_t *in, size_t n_in, int16_t *out,
                        size_t out_cap)
{
	size_t done = 0;

	/* speex takes at most what fits in out; loop until the input is used up. */
	while (n_in && done < out_cap) {
		spx_uint32_t in_len = (spx_uint32_t)n_in, out_len = (spx_uint32_t)(out_cap - done);

		speex_resampler_process_int(r->st, 0, in, &in_len, out + done, &out_len);
		if (!in_len && !out_len)
			break;
		in += in_len;
		n_in -= in_len;
		done += out_len;
	}
	return done;
}

void sb_resampler_reset(struct sb_resampler *r)
{
	speex_resampler_reset_mem(r->st);
	speex_resampler_skip_zeros(r->st);
}

size_t sb_resampler_drain(struct sb_resampler *r, int16_t *out, size_t out_cap)
{
	static const int16_t zeros[256];
	size_t left = (size_t)speex_resampler_get_input_latency(r->st), done = 0;

	/* speex has no flush: silence pushed behind the stream brings its look-ahead out, the
	 * stream's last samples computed as if it went on silent. */
	while (left) {
		size_t k = left < ARRAY_SIZE(zeros) ? left : ARRAY_SIZE(zeros);

		done += sb_resampler_run(r, zeros, k, out + done, out_cap - done);
		left -= k;
	}
	sb_resampler_reset(r);
	return done;
}

int sb_resampler_latency(const struct sb_resampler *r)
{
	return speex_resampler_get_input_latency(r->st);
}

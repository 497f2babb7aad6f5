/* Bounded PCM FIFO with drop-oldest and a saturating mix-out. Pure. Thread: the media worker
 * owning it. Owns nothing (the buffer is inside the struct). */
#include <string.h>

#include <sb/pcm_fifo.h>

void sb_pcm_fifo_push(struct sb_pcm_fifo *f, const int16_t *pcm, size_t n)
{
	if (n >= SB_PCM_FIFO_SAMPLES) { /* only the newest fit */
		f->dropped += f->n + n - SB_PCM_FIFO_SAMPLES;
		pcm += n - SB_PCM_FIFO_SAMPLES;
		n = SB_PCM_FIFO_SAMPLES;
		f->head = f->n = 0;
	} else if (f->n + n > SB_PCM_FIFO_SAMPLES) {
		size_t drop = f->n + n - SB_PCM_FIFO_SAMPLES;

		f->head = (f->head + drop) % SB_PCM_FIFO_SAMPLES;
		f->n -= drop;
		f->dropped += drop;
	}
	for (size_t i = 0; i < n; i++)
		f->buf[(f->head + f->n + i) % SB_PCM_FIFO_SAMPLES] = pcm[i];
	f->n += n;
}

size_t sb_pcm_fifo_pop(struct sb_pcm_fifo *f, int16_t *out, size_t n)
{
	size_t take = n < f->n ? n : f->n;

	for (size_t i = 0; i < take; i++)
		out[i] = f->buf[(f->head + i) % SB_PCM_FIFO_SAMPLES];
	memset(out + take, 0, (n - take) * sizeof(*out));
	f->head = (f->head + take) % SB_PCM_FIFO_SAMPLES;
	f->n -= take;
	return take;
}

size_t sb_pcm_fifo_mix(struct sb_pcm_fifo *f, int16_t *out, size_t n)
{
	size_t take = n < f->n ? n : f->n;

	for (size_t i = 0; i < take; i++) {
		int v = out[i] + f->buf[(f->head + i) % SB_PCM_FIFO_SAMPLES];

		out[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
	}
	f->head = (f->head + take) % SB_PCM_FIFO_SAMPLES;
	f->n -= take;
	return take;
}

uint64_t sb_pcm_fifo_mix_dropped(const struct sb_pcm_fifo *f, uint64_t *seen)
{
	uint64_t d0 = f[0].dropped - seen[0], d1 = f[1].dropped - seen[1];

	seen[0] = f[0].dropped;
	seen[1] = f[1].dropped;
	return d0 > d1 ? d0 : d1;
}

/* Bot audio and DTMF digits from the down ring, marks reported played on the up ring, and the marks
 * that wait when the up ring is full. Pure: no I/O, no locks. Thread: the media worker owning the
 * leg. Owns nothing but the pending mark ids. */
#include <string.h>

#include <sb/downlink.h>

/* Reports pending marks, oldest first, while the up ring has room. */
static void flush_pending(struct sb_downlink *d, struct sb_ring *up)
{
	while (d->n) {
		struct sb_frame *f = sb_ring_write_slot(up);

		if (!f)
			return;
		f->kind = SB_FRAME_MARK;
		f->mark_id = d->pending[d->head];
		f->samples = 0;
		sb_ring_commit_write(up);
		d->head = (d->head + 1) % SB_DOWNLINK_MAX_PENDING;
		d->n--;
	}
}

static void mark_played(struct sb_downlink *d, struct sb_ring *up, uint32_t id)
{
	if (d->n == SB_DOWNLINK_MAX_PENDING) {
		/* Out of room even here: the oldest is given up, counted. */
		d->head = (d->head + 1) % SB_DOWNLINK_MAX_PENDING;
		d->n--;
		d->marks_lost++;
	}
	d->pending[(d->head + d->n) % SB_DOWNLINK_MAX_PENDING] = id;
	d->n++;
	flush_pending(d, up);
}

unsigned sb_downlink_next(struct sb_downlink *d, struct sb_ring *down, struct sb_ring *up,
                          atomic_uint *clear_epoch, int16_t *pcm, struct sb_downlink_dtmf *dtmf)
{
	unsigned epoch = atomic_load_explicit(clear_epoch, memory_order_acquire);
	const struct sb_frame *f;

	dtmf->digit = 0;
	flush_pending(d, up);
	while ((f = sb_ring_read_slot(down))) {
		unsigned n;

		if (f->epoch != epoch) {
			/* A clear may have happened after the read above, and this frame be newer
			 * than it: look again before dropping it. */
			epoch = atomic_load_explicit(clear_epoch, memory_order_acquire);
			if (f->epoch != epoch) {
				sb_ring_commit_read(down);
				continue;
			}
		}
		if (f->kind == SB_FRAME_MARK) {
			mark_played(d, up, f->mark_id);
			sb_ring_commit_read(down);
			continue;
		}
		if (f->kind == SB_FRAME_DTMF) {
			dtmf->digit = f->digit;
			dtmf->duration_ms = f->duration_ms;
			sb_ring_commit_read(down);
			return 0;
		}
		n = f->samples <= SB_FRAME_SAMPLES ? f->samples : SB_FRAME_SAMPLES;
		memcpy(pcm, f->pcm, n * sizeof(*pcm));
		memset(pcm + n, 0, (SB_FRAME_SAMPLES - n) * sizeof(*pcm));
		sb_ring_commit_read(down);
		return n;
	}
	return 0;
}

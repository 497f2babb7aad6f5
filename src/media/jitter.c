/* Jitter buffer of one caller RTP stream: reorder, duplicates, late packets, loss decisions.
 * Pure. Thread: the media worker owning the leg. Owns the packets it holds.
 *
 * DESIGN
 * The consumer is a bot, not a loudspeaker: it does not need audio at a steady rate, it
 * needs it early and in order. So a packet that continues the sequence is released at once,
 * and the buffer only ever waits for a hole: the packets behind it are held until the
 * missing one is due, and then it is declared lost and concealed. "Due" is measured on the
 * path itself: transit = arrival - media time; the smallest transit over the last 2-4 s is
 * the path's base delay, and a packet's lateness is its transit over the base. The wait
 * (depth) is the recent peak lateness (fast attack, slow decay, as NetEq and Asterisk's
 * adaptive buffer track their target), clamped to [min, max]; a fixed depth may be set
 * instead. On a clean path the lateness is about zero, so a hole is concealed the moment the
 * packet after it arrives: loss costs no extra delay, and in-order audio never waits.
 * Media time follows the RTP timestamp: a hole is concealed for the time its timestamps
 * span, a timestamp gap between consecutive packets (a telephone-event, a pause) becomes
 * silence, and a marker bit or an implausible jump resynchronises without filling.
 * The slots that hold waiting packets (6 KiB) exist only while one waits: an in-order packet
 * with nothing held goes on from the receive buffer, so a clean stream holds none, where a
 * ring of slots in the leg would keep all of them resident for the whole call. */
#include <stdlib.h>
#include <string.h>

#include <sb/jitter.h>

#define MASK (SB_JITTER_SLOTS - 1)
#define US_PER_SAMPLE 125    /* 8 kHz */
#define FRAME_SAMPLES 160    /* for counting concealed 20 ms frames */
#define DEFAULT_SAMPLES 160  /* packet time before any audio was seen */
#define HISTORY 64           /* packets remembered as released, for duplicates */
#define FAR_BEHIND_RESTART 3 /* this many packets far behind: the sender restarted */
#define REBASE_US 2000000    /* lateness beyond this is a clock jump, not jitter */
#define DECAY_SHIFT 7        /* the peak decays by 1/128 of its excess per packet */

static int64_t media_us(const struct sb_jitter *jb, uint32_t ts)
{
	return (int64_t)(int32_t)(ts - jb->ts_ref) * US_PER_SAMPLE;
}

void sb_jitter_init(struct sb_jitter *jb, const struct sb_config *cfg, sb_jitter_out_fn *out,
                    void *arg)
{
	memset(jb, 0, sizeof(*jb));
	jb->adaptive = cfg->jitter_mode == SB_JITTER_ADAPTIVE;
	jb->min_us = (int64_t)cfg->jitter_min_ms * 1000;
	jb->max_us = (int64_t)cfg->jitter_max_ms * 1000;
	jb->fixed_us = (int64_t)cfg->jitter_ms * 1000;
	jb->out = out;
	jb->arg = arg;
}

/* The storage of held packets goes once nothing is held. */
static void drop_storage(struct sb_jitter *jb)
{
	free(jb->slots);
	jb->slots = NULL;
	free(jb->big);
	jb->big = NULL;
}

void sb_jitter_free(struct sb_jitter *jb)
{
	drop_storage(jb);
	jb->n_held = 0;
}

int64_t sb_jitter_depth_us(const struct sb_jitter *jb)
{
	if (!jb->adaptive)
		return jb->fixed_us;
	if (jb->jitter_us < jb->min_us)
		return jb->min_us;
	return jb->jitter_us > jb->max_us ? jb->max_us : jb->jitter_us;
}

static void rebase(struct sb_jitter *jb, uint32_t ts, int64_t now_us)
{
	jb->have_base = true;
	jb->ts_ref = ts;
	jb->min_cur = jb->min_prev = now_us; /* the media time of ts is 0 */
	jb->window_start_us = now_us;
}

/* The path's base delay: the smallest transit of this window and the last. */
static int64_t base_us(const struct sb_jitter *jb)
{
	return jb->min_cur < jb->min_prev ? jb->min_cur : jb->min_prev;
}

/* Updates the base delay and the peak lateness with an audio packet's arrival. */
static void estimate(struct sb_jitter *jb, uint32_t ts, int64_t now_us)
{
	int64_t transit, late;

	if (!jb->have_base) {
		rebase(jb, ts, now_us);
		return;
	}
	transit = now_us - media_us(jb, ts);
	if (now_us - jb->window_start_us >= SB_JITTER_WINDOW_US) {
		jb->min_prev = jb->min_cur;
		jb->min_cur = transit;
		jb->window_start_us = now_us;
	} else if (transit < jb->min_cur) {
		jb->min_cur = transit;
	}
	late = transit - base_us(jb);
	if (late > REBASE_US) { /* the sender's clock jumped back, or the path stalled */
		rebase(jb, ts, now_us);
		return;
	}
	if (late > jb->jitter_us)
		jb->jitter_us = late;
	else
		jb->jitter_us -= (jb->jitter_us - late) >> DECAY_SHIFT;
	jb->stats.jitter_ms = (unsigned)(jb->jitter_us / 1000);
}

static void remember(struct sb_jitter *jb, unsigned n, bool released)
{
	jb->released = n >= HISTORY ? 0 : jb->released << n;
	if (released)
		jb->released |= 1;
	jb->next_seq = (uint16_t)(jb->next_seq + n);
}

/* Hands the next packet on, first filling the media time since the previous audio. */
static void release(struct sb_jitter *jb, const struct sb_jitter_slot *s)
{
	if (s->audio) {
		int32_t gap = (int32_t)(s->ts - jb->next_ts);

		if (jb->ts_known && gap != 0) {
			if (!s->marker && gap > 0 && gap <= SB_JITTER_MAX_FILL_MS * 8)
				jb->out(jb->arg, SB_JITTER_SILENCE, NULL, (unsigned)gap);
			else
				jb->stats.resets++; /* a new talkspurt or timeline: resync, no fill
				                     */
		}
		jb->next_ts = s->ts + s->len;
		jb->ts_known = true;
		jb->last_samples = s->len;
	}
	jb->out(jb->arg, SB_JITTER_PACKET, s, 0);
	remember(jb, 1, true);
}

/* The first held packet after the hole at next_seq. */
static struct sb_jitter_slot *first_held(struct sb_jitter *jb)
{
	for (unsigned i = 1; i < SB_JITTER_SLOTS; i++) {
		struct sb_jitter_slot *s = &jb->slots[(jb->next_seq + i) & MASK];

		if (s->used)
			return s;
	}
	return NULL;
}

/* Declares the hole before the first held packet lost and conceals its media time. A hole
 * before a telephone-event packet is most likely one of the event's own packets: nothing is
 * synthesised, and the audio that follows the event restores the media time (silence). */
static void conceal_hole(struct sb_jitter *jb, const struct sb_jitter_slot *s)
{
	unsigned missing = (uint16_t)(s->seq - jb->next_seq);
	unsigned per = jb->last_samples ? jb->last_samples : DEFAULT_SAMPLES;
	int64_t samples = (int64_t)missing * per;

	if (!s->audio) {
		jb->stats.lost += missing;
		remember(jb, missing, false);
		return;
	}
	if (jb->ts_known) {
		int32_t span = (int32_t)(s->ts - jb->next_ts);

		if (span > 0)
			samples = span;
	}
	jb->stats.lost += missing;
	if (!jb->ts_known || samples > SB_JITTER_MAX_LOSS_MS * 8) {
		jb->ts_known = false; /* too long to be a loss: the stream resumes, unfilled */
		jb->stats.resets++;
	} else {
		jb->out(jb->arg, SB_JITTER_CONCEAL, NULL, (unsigned)samples);
		jb->stats.concealed_frames +=
		        ((uint64_t)samples + FRAME_SAMPLES - 1) / FRAME_SAMPLES;
		jb->next_ts += (uint32_t)samples;
	}
	remember(jb, missing, false);
}

/* True once the packet at next_seq has waited as long as the depth allows: from when the
 * path's base delay says it was due, or, when the media time of the hole is not known (it
 * lies in a telephone-event), from when the packet after it came. */
static bool hole_due(const struct sb_jitter *jb, const struct sb_jitter_slot *s, int64_t now_us)
{
	if (!s->audio || !jb->have_base || !jb->ts_known)
		return now_us >= s->arrival_us + sb_jitter_depth_us(jb);
	return now_us >= base_us(jb) + media_us(jb, jb->next_ts) + sb_jitter_depth_us(jb);
}

static void drain(struct sb_jitter *jb, int64_t now_us, bool force)
{
	while (jb->n_held) {
		struct sb_jitter_slot *s = &jb->slots[jb->next_seq & MASK];

		if (s->used && s->seq == jb->next_seq) {
			s->used = false;
			jb->n_held--;
			release(jb, s);
			continue;
		}
		s = first_held(jb); /* the packet after the hole */
		if (!force && !hole_due(jb, s, now_us))
			break;
		conceal_hole(jb, s);
	}
	if (!jb->n_held && jb->slots)
		drop_storage(jb);
	jb->stats.depth_ms = (unsigned)(sb_jitter_depth_us(jb) / 1000);
}

void sb_jitter_poll(struct sb_jitter *jb, int64_t now_us)
{
	drain(jb, now_us, false);
}

void sb_jitter_flush(struct sb_jitter *jb)
{
	drain(jb, 0, true);
}

/* A new stream (SSRC) or a new place in it: what is held goes out, then seq is next. */
static void restart(struct sb_jitter *jb, const struct sb_rtp_header *h)
{
	bool new_ssrc = !jb->started || h->ssrc != jb->ssrc;

	sb_jitter_flush(jb);
	if (jb->started)
		jb->stats.resets++;
	jb->started = true;
	jb->ssrc = h->ssrc;
	jb->next_seq = h->seq;
	jb->released = 0;
	jb->far_behind = 0;
	if (new_ssrc) {
		jb->ts_known = false;
		jb->have_base = false;
	}
}

/* A packet before next_seq: a duplicate of one released, or late for one concealed (whose
 * lateness is what the depth must learn). Returns true when it is to be dropped. */
static bool behind(struct sb_jitter *jb, const struct sb_rtp_header *h, bool audio, unsigned age,
                   int64_t now_us)
{
	if (age > HISTORY) {
		if (++jb->far_behind < FAR_BEHIND_RESTART) {
			jb->stats.late++;
			return true;
		}
		restart(jb, h); /* the sender went back in its sequence for good */
		return false;
	}
	if (jb->released & (1ULL << (age - 1))) {
		jb->stats.duplicated++;
		return true;
	}
	jb->stats.late++;
	if (audio)
		estimate(jb, h->ts, now_us);
	return true;
}

/* A packet too far ahead to hold: what is held goes out (holes concealed), and when the
 * packet is still beyond what the buffer spans, the stream starts again from it. */
static void make_room(struct sb_jitter *jb, const struct sb_rtp_header *h)
{
	sb_jitter_flush(jb);
	if ((uint16_t)(h->seq - jb->next_seq) >= SB_JITTER_SLOTS)
		restart(jb, h);
}

static void fill(struct sb_jitter_slot *s, const struct sb_rtp_header *h, bool audio,
                 int64_t now_us, const uint8_t *payload)
{
	s->used = true;
	s->audio = audio;
	s->marker = h->marker;
	s->pt = h->pt;
	s->seq = h->seq;
	s->ts = h->ts;
	s->arrival_us = now_us;
	s->len = (uint16_t)h->payload_len;
	s->payload = payload;
}

/* The packet copied into its slot (the storage allocated first if nothing was held); false
 * when the slot is taken (a duplicate) or memory ran out. */
static bool hold(struct sb_jitter *jb, const struct sb_rtp_header *h, bool audio, int64_t now_us)
{
	struct sb_jitter_slot *s;
	uint8_t *dst;

	if (!jb->slots && !(jb->slots = calloc(SB_JITTER_SLOTS, sizeof(*jb->slots))))
		return false;
	s = &jb->slots[h->seq & MASK];
	if (s->used) {
		jb->stats.duplicated++;
		return false;
	}
	if (h->payload_len <= SB_JITTER_SLOT_PAYLOAD) {
		dst = s->small;
	} else {
		if (!jb->big && !(jb->big = calloc(SB_JITTER_SLOTS, sizeof(*jb->big))))
			return false;
		dst = jb->big[h->seq & MASK];
	}
	memcpy(dst, h->payload, h->payload_len);
	fill(s, h, audio, now_us, dst);
	jb->n_held++;
	return true;
}

void sb_jitter_push(struct sb_jitter *jb, const struct sb_rtp_header *h, bool audio, int64_t now_us)
{
	int16_t d;

	jb->stats.received++;
	if (!jb->started || h->ssrc != jb->ssrc)
		restart(jb, h);
	d = (int16_t)(uint16_t)(h->seq - jb->next_seq);
	if (d < 0 && behind(jb, h, audio, (unsigned)-d, now_us))
		return;
	jb->far_behind = 0;
	if ((uint16_t)(h->seq - jb->next_seq) >= SB_JITTER_SLOTS)
		make_room(jb, h);
	if (!jb->n_held && h->seq == jb->next_seq) {
		/* In order with nothing waiting: on at once, from the packet itself. */
		struct sb_jitter_slot pkt = {0};

		fill(&pkt, h, audio, now_us, h->payload);
		if (audio)
			estimate(jb, h->ts, now_us);
		release(jb, &pkt);
		jb->stats.depth_ms = (unsigned)(sb_jitter_depth_us(jb) / 1000);
		return;
	}
	if (!hold(jb, h, audio, now_us)) {
		/* A duplicate, or out of memory: then a hole, concealed as a loss in its time. */
		if (!jb->n_held)
			drop_storage(jb);
		return;
	}
	if (audio)
		estimate(jb, h->ts, now_us);
	drain(jb, now_us, false);
}

/* Caller → bot on the media worker: reads a leg's RTP (strict source, payload type),
 * passes it through the leg's jitter buffer, and turns what comes out in media order into
 * 20 ms frames on the up ring: decoded audio, concealment for lost packets (PLC), silence for
 * media time without audio, and DTMF key presses. The frame that completes the bot's next
 * media message, and a key, are handed to the ws thread at once (sb_ws_worker_notify), not on
 * the next tick. While a transfer bridges the
 * call, each party's audio goes to the other's leg instead (and to the bot's mix in listen
 * mode). A recorded call's caller audio also goes to its recording from here. On an SRTP
 * leg every packet is authenticated and decrypted first: one that fails is dropped and
 * counted before anything reads it or lets it move the latch.
 * Thread: the media worker. Owns nothing beyond the leg's receive state. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_SUBSYS "media"
#include <sb/log.h>

#include <sb/rtp_session.h>
#include <sb/ws_worker.h>

#include "media_priv.h"

#define RX_CHUNK 8 /* datagrams one recvmmsg() takes (each a full-size buffer on the stack) */

_Static_assert(SB_CALL_BRIDGE_TO_MAX == _SB_MEDIA_BRIDGE_TO_MAX, "the call's bridge drops");

/* The spill of the call's up ring: the caller's leg's, also for the agent's leg of a bridge
 * in listen mode (its keys go up too), so that one ring has one queue in front of it. */
static struct sb_up_spill *spill_of(struct sb_media_leg *leg)
{
	return leg->agent && leg->peer ? &leg->peer->up_spill : &leg->up_spill;
}

/* The slot for the next frame to the bot, of kind (no samples yet): the up ring's, or one
 * that waits for room in it (up_spill.h). NULL when the ws side is too far behind for both:
 * the frame is dropped and counted rather than waited for. */
static struct sb_frame *up_slot(struct sb_media_leg *leg, enum sb_frame_kind kind)
{
	struct sb_frame *f = sb_up_spill_slot(spill_of(leg), &leg->call->up);

	if (!f) {
		STAT_INC(leg->w, up_drops);
		leg->call->up_drop_frames++;
		return NULL;
	}
	f->kind = kind;
	f->samples = 0;
	return f;
}

/* Publishes the slot. One on the ring names the call to its ws worker: a key or hold at once,
 * caller audio once the frames waiting complete the bot's next media message, which the worker
 * then sends at once (sb_call_up_due()); and at once when frames that waited for room moved
 * onto the ring (a key among them, say: the worker is behind, and the tick that names the call
 * while frames wait will not, now that none do). */
static void up_commit(struct sb_media_leg *leg, bool audio)
{
	struct sb_call *c = leg->call;
	struct sb_up_spill *spill = spill_of(leg);
	bool moved = spill->moved;

	if (sb_up_spill_commit(spill, &c->up) && (!audio || moved || sb_call_up_due(c)))
		sb_ws_worker_notify(leg->w->ws[c->ws_idx], c);
}

/* The caller's samples gathered so far go up as a frame: a whole one, or the last ones at
 * the call's end; the gathering starts over either way. */
static void frame_done(struct sb_media_leg *leg)
{
	struct sb_frame *f = up_slot(leg, SB_FRAME_AUDIO);

	if (f) {
		f->samples = (uint16_t)leg->up_n;
		f->at_us = (uint32_t)leg->up_at_us;
		memcpy(f->pcm, leg->up_acc, leg->up_n * sizeof(leg->up_acc[0]));
		up_commit(leg, true);
	}
	leg->up_n = 0;
}

void sb_media_up_push(struct sb_media_leg *leg, const int16_t *pcm, size_t n)
{
	while (n) {
		size_t take = SB_FRAME_SAMPLES - leg->up_n;

		if (take > n)
			take = n;
		memcpy(leg->up_acc + leg->up_n, pcm, take * sizeof(*pcm));
		leg->up_n += (unsigned)take;
		pcm += take;
		n -= take;
		if (leg->up_n == SB_FRAME_SAMPLES)
			frame_done(leg);
	}
}

void sb_media_up_flush(struct sb_media_leg *leg)
{
	if (leg->up_n)
		frame_done(leg);
}

void sb_media_up_event(struct sb_media_leg *leg, enum sb_frame_kind kind)
{
	if (up_slot(leg, kind))
		up_commit(leg, kind == SB_FRAME_AUDIO);
}

static void count_bridge_drops(struct sb_media_leg *leg, enum sb_media_bridge_to to,
                               uint64_t samples)
{
	uint64_t *had = &leg->call->bridge_drop_samples[to];

	if (!samples)
		return;
	/* The frames the call's own count (its record's figure) grows by, not the samples:
	 * rounded once over all calls, samples would add up to fewer frames than the records. */
	STAT_ADD(leg->w, bridge_drop_frames[to], sb_frames_added(*had, samples));
	*had += samples;
}

/* Into the other party's relay buffer; what it pushes out (that side fell 200 ms behind
 * this one: audio sent faster than real time) is counted. */
static void relay_push(struct sb_media_leg *leg, const int16_t *pcm, size_t n)
{
	struct sb_pcm_fifo *f = leg->peer->relay;
	uint64_t before = f->dropped;

	sb_pcm_fifo_push(f, pcm, n);
	count_bridge_drops(leg, leg->agent ? SB_MEDIA_BRIDGE_TO_CALLER : SB_MEDIA_BRIDGE_TO_AGENT,
	                   f->dropped - before);
}

void sb_media_count_mix_drops(struct sb_media_leg *leg)
{
	/* Not per push: both parties' audio lost before the same mix frame is one loss. */
	if (leg->mix)
		count_bridge_drops(leg, SB_MEDIA_BRIDGE_TO_BOT,
		                   sb_pcm_fifo_mix_dropped(leg->mix, leg->mix_seen));
}

/* Where a leg's audio goes: to the bot; while bridged, to the other party (and, in listen
 * mode, to the mix the bot hears); on a recorded call's leg, to the recording too. */
static void deliver(struct sb_media_leg *leg, const int16_t *pcm, size_t n)
{
	struct sb_media_leg *caller = leg->agent ? leg->peer : leg;

	/* Recorded as the bot hears it, released now: it was heard over the last n samples. */
	if (leg->rec)
		sb_rec_put(leg->rec, SB_REC_CALLER, sb_now_us() - (int64_t)n * 1000000 / SB_RATE_8K,
		           pcm, (unsigned)n);
	if (!leg->peer) {
		sb_media_up_push(leg, pcm, n);
		return;
	}
	relay_push(leg, pcm, n);
	if (caller->mix) /* its drops are counted as each mix frame is made */
		sb_pcm_fifo_push(&caller->mix[leg->agent], pcm, n);
}

/* Keeps the caller's key for the call-end record (control reads it after DETACHED). */
static void note_dtmf(struct sb_call *c, char digit)
{
	size_t n = strnlen(c->dtmf, SB_CALL_DTMF_MAX);

	if (n < SB_CALL_DTMF_MAX) {
		c->dtmf[n] = digit;
		c->dtmf[n + 1] = '\0';
	}
}

/* A key pressed on this leg: to the bot (unless bridged without listening) and through to
 * the other party of a bridge. */
static void up_dtmf(struct sb_media_worker *w, struct sb_media_leg *leg,
                    const struct sb_dtmf_report *d)
{
	struct sb_call *c = leg->call;
	struct sb_media_leg *caller = leg->agent ? leg->peer : leg;
	struct sb_frame *f;

	/* A line a press, but a caller can send thousands a second: bounded, the rest counted. */
	sb_log_ctx_set(c->id);
	log_info_ratelimited("%s pressed %c (%u ms)", leg->agent ? "Agent" : "Caller", d->digit,
	                     d->duration_ms);
	sb_log_ctx_set(NULL);
	if (!leg->agent)
		note_dtmf(c, d->digit);
	if (leg->peer)
		sb_media_tx_dtmf(w, leg->peer, d->digit, d->duration_ms, sb_now_us());
	if (leg->peer && !caller->mix)
		return;
	f = up_slot(leg, SB_FRAME_DTMF);
	if (!f)
		return;
	f->digit = d->digit;
	f->duration_ms = d->duration_ms;
	up_commit(leg, false);
}

static void on_event_packet(struct sb_media_leg *leg, const struct sb_jitter_slot *s)
{
	struct sb_dtmf_report reports[2];
	int n = sb_dtmf_rx_packet(&leg->dtmf_rx, s->ts, s->payload, s->len, sb_now_ms(), reports);

	for (int i = 0; i < n; i++)
		up_dtmf(leg->w, leg, &reports[i]);
}

/* Media time without a packet: concealment for lost audio, or silence (a key press, a
 * pause), which the concealer learns. */
static void up_fill(struct sb_media_leg *leg, unsigned samples, bool lost)
{
	int16_t pcm[SB_MEDIA_MAX_PAYLOAD_SAMPLES];

	while (samples) {
		unsigned n = samples < SB_MEDIA_MAX_PAYLOAD_SAMPLES ? samples
		                                                    : SB_MEDIA_MAX_PAYLOAD_SAMPLES;

		if (lost) {
			sb_plc_fillin(leg->plc, pcm, n);
		} else {
			memset(pcm, 0, n * sizeof(pcm[0]));
			sb_plc_rx(leg->plc, pcm, n);
		}
		deliver(leg, pcm, n);
		samples -= n;
	}
}

void sb_media_on_jitter(void *arg, enum sb_jitter_out kind, const struct sb_jitter_slot *s,
                        unsigned samples)
{
	struct sb_media_leg *leg = arg;
	int16_t pcm[SB_MEDIA_MAX_PAYLOAD_SAMPLES];

	switch (kind) {
	case SB_JITTER_PACKET:
		if (!s->audio) {
			on_event_packet(leg, s);
			break;
		}
		/* The codec of the packet's own payload type: a re-INVITE may have changed it
		 * while older packets were held. */
		sb_codec_decode(s->pt == SB_CODEC_PCMA   ? SB_CODEC_PCMA
		                : s->pt == SB_CODEC_PCMU ? SB_CODEC_PCMU
		                                         : leg->codec,
		                s->payload, s->len, pcm);
		sb_plc_rx(leg->plc, pcm, s->len);
		deliver(leg, pcm, s->len);
		break;
	case SB_JITTER_CONCEAL:
	case SB_JITTER_SILENCE:
		up_fill(leg, samples, kind == SB_JITTER_CONCEAL);
		break;
	}
}

bool sb_media_srtp_in(struct sb_media_worker *w, struct sb_media_leg *leg, uint8_t *buf,
                      size_t *len, bool rtcp)
{
	int r;

	if (!leg->srtp)
		return true;
	r = rtcp ? sb_srtp_unprotect_rtcp(leg->srtp, buf, len)
	         : sb_srtp_unprotect(leg->srtp, buf, len);
	if (r == 0)
		return true;
	if (r == -EALREADY) {
		leg->srtp_replay++;
		STAT_INC(w, srtp_rx_replay);
	} else { /* forged, tampered, another key, not SRTP at all, or one SSRC too many */
		leg->srtp_auth_fail++;
		STAT_INC(w, srtp_rx_auth_fail);
	}
	log_debug("Dropped an %s packet: %s", rtcp ? "SRTCP" : "SRTP",
	          r == -EALREADY ? "replayed"
	          : r == -EBUSY  ? "a new SSRC while the far end's others are in use"
	                         : "failed authentication");
	return false;
}

/* As sb_media_rx_datagram, without looking at what the jitter buffer holds. */
static void rx_one(struct sb_media_worker *w, struct sb_media_leg *leg, uint8_t *buf, size_t n,
                   const struct sockaddr_storage *from, socklen_t len)
{
	struct sb_rtp_header h;
	size_t plen = n;
	int64_t now;
	bool audio;

	if (!sb_rtp_source_allowed(&leg->src, (const struct sockaddr *)from)) {
		/* Neither the caller's SDP or signalling address nor the trunk's ACL: it must not
		 * steer where the call's audio goes (strict RTP). */
		STAT_INC(w, rtp_rx_foreign);
		return;
	}
	if (!sb_media_srtp_in(w, leg, buf, &plen, false))
		return; /* never read, never latched */
	if (sb_rtp_parse(buf, plen, &h) < 0 || h.payload_len == 0 ||
	    h.payload_len > SB_MEDIA_MAX_PAYLOAD_SAMPLES) {
		STAT_INC(w, rtp_rx_bad);
		log_debug("Dropped a %zu-byte datagram that is not RTP", n);
		return;
	}
	audio = h.pt == leg->pt;
	if (!audio && (int)h.pt != leg->te_pt) {
		STAT_INC(w, rtp_rx_other_pt);
		return;
	}
	/* Symmetric RTP: send where the caller really sends from, once it is settled. */
	if (sb_rtp_source_check(&leg->src, (const struct sockaddr *)from, len, h.ssrc, h.seq) !=
	    SB_RTP_ACCEPT) {
		STAT_INC(w, rtp_rx_unlatched);
		return;
	}
	STAT_INC(w, rtp_rx_packets);
	STAT_ADD(w, rtp_rx_bytes, (uint_fast64_t)n); /* as it came, with the SRTP tag */
	if (!leg->agent)
		sb_call_count_packet(&leg->call->rtp_in_live);
	now = sb_now_us();
	leg->last_rx_ms = now / 1000;
	leg->up_at_us = now; /* what the jitter buffer releases now goes on at once */
	sb_rtp_rx_update(&leg->rx, h.ssrc, h.seq, h.ts, now);
	sb_jitter_push(&leg->jb, &h, audio, now);
}

void sb_media_rx_datagram(struct sb_media_worker *w, struct sb_media_leg *leg, uint8_t *buf,
                          size_t n, const struct sockaddr_storage *from, socklen_t len)
{
	rx_one(w, leg, buf, n, from, len);
	leg->held = leg->jb.n_held > 0;
}

/* Reads what the socket holds with recvmmsg(), RX_CHUNK datagrams a call: a leg's usual one
 * packet per readiness costs one system call, not a second one to learn there is no more. */
void sb_media_on_rtp(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	_Alignas(8) uint8_t bufs[RX_CHUNK][SB_MEDIA_RX_PACKET_BYTES];
	struct sockaddr_storage from[RX_CHUNK];
	struct mmsghdr msgs[RX_CHUNK];
	struct iovec iov[RX_CHUNK];

	for (int total = 0; total < SB_MEDIA_RX_BATCH;) {
		int n;

		for (int i = 0; i < RX_CHUNK; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
			                                       .msg_namelen = sizeof(from[i]),
			                                       .msg_iov = &iov[i],
			                                       .msg_iovlen = 1}};
		}
		n = recvmmsg(leg->fd, msgs, RX_CHUNK, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				STAT_INC(w,
				         rtp_rx_bad); /* larger than any packet a call may carry */
			else
				rx_one(w, leg, bufs[i], msgs[i].msg_len, &from[i],
				       msgs[i].msg_hdr.msg_namelen);
		}
		total += n;
		if (n < RX_CHUNK)
			break; /* the socket is empty */
	}
	leg->held = leg->jb.n_held > 0;
}

void sb_media_rx_poll(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now_us)
{
	struct sb_dtmf_report d;
	struct sb_call *c = leg->call;

	/* Told on every tick while frames wait, moved or not: the ws thread is behind, and being
	 * named again costs nothing until it has taken the call. */
	if (leg->up_spill.n) {
		sb_up_spill_drain(&leg->up_spill, &c->up);
		sb_ws_worker_notify(w->ws[c->ws_idx], c);
	}
	if (leg->held) {
		leg->up_at_us = now_us;
		sb_jitter_poll(&leg->jb, now_us);
		leg->held = leg->jb.n_held > 0;
	}
	if (leg->dtmf_rx.active && sb_dtmf_rx_poll(&leg->dtmf_rx, now_us / 1000, &d) == 1)
		up_dtmf(w, leg, &d);
}

/* RTP out on the media worker: one packet per 20 ms slot from the call's down ring (silence
 * when it is empty, so the stream never stops), RFC 4733 packets in place of audio while a
 * DTMF digit is being sent, and, while a transfer bridges the call, the other party's audio
 * instead of the bot's. A recorded call gets each slot's frame as sent (silence when nothing
 * was). Thread: the media worker. Owns the leg's sending state (seq,
 * timestamp, SSRC, schedule).
 *
 * DESIGN
 * Each leg has its own schedule (next_tx_us) on the worker's 5 ms clock, and every packet,
 * audio or silence, goes out in its 20 ms slot: the stream's cadence never changes, also when
 * the bot starts to speak after a pause (its audio waits up to a slot rather than start early
 * and give the time back later, which would put a short and a long interval into the
 * caller's stream each time). A DTMF digit takes the slots of its duration: the timestamp advances
 * through them without audio packets, and its own packets (start, an update every 50 ms, three
 * ends) go out on the 5 ms clock. A bridged leg takes the other party's frame in every slot, also
 * while it is on hold or sends a digit (the frame is then not sent): that audio is not delayed for
 * the rest of the call, and a listening bot's mix, made in the caller's leg's slots, keeps coming.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define LOG_SUBSYS "media"
#include <sb/log.h>

#include <sb/rtp_session.h>
#include <sb/ws_worker.h>

#include "media_priv.h"

#define FRAME_US (SB_FRAME_MS * 1000)
#define HALF_TICK_US (SB_MEDIA_TICK_US / 2)
#define MAX_CATCHUP_FRAMES 5 /* frames sent per leg on one late tick, at most */
#define DEFAULT_DTMF_MS 100  /* a bot's digit without a duration */

_Static_assert(SB_DOWNLINK_MAX_PENDING >= 2 * SB_DOWN_RING_FRAMES,
               "a stalled ws thread's ring of marks fits the pending list twice");

void sb_media_tx_init(struct sb_media_leg *leg, int64_t now_us)
{
	uint32_t rnd[3];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd[0] = rnd[1] = rnd[2] = (uint32_t)random();
	leg->seq = (uint16_t)rnd[0];
	leg->ts = rnd[1];
	leg->ssrc = leg->tx.ssrc = rnd[2];
	leg->marker = true;
	leg->next_tx_us = now_us;
}

void sb_media_tx_sent(struct sb_media_worker *w, struct sb_media_leg *leg, size_t len,
                      size_t octets)
{
	STAT_INC(w, rtp_tx_packets);
	STAT_ADD(w, rtp_tx_bytes, len);
	if (!leg->agent)
		sb_call_count_packet(&leg->call->rtp_out_live);
	leg->tx.packets++;
	leg->tx.octets += (uint32_t)octets;
}

void sb_media_tx_failed(struct sb_media_worker *w, struct sb_media_leg *leg, int err)
{
	char addr[INET6_ADDRSTRLEN];

	STAT_INC(w, rtp_tx_errors);
	if (leg->tx_errors++)
		return; /* the first of a leg's failures is logged, the rest counted */
	sb_log_ctx_set(leg->call->id);
	log_warn_ratelimited(
	        "RTP to the %s at %s port %u cannot be sent: %s (this call's further "
	        "failures are counted, not logged)",
	        leg->agent ? "agent" : "caller",
	        sb_sockaddr_text((const struct sockaddr *)&leg->src.peer, addr, sizeof(addr)),
	        sb_sockaddr_port((const struct sockaddr *)&leg->src.peer),
	        err ? strerror(err) : "SRTP could not protect it");
	sb_log_ctx_set(NULL);
}

/* Sends one RTP packet (not during a hold: then the timestamp goes on, the sequence not),
 * protected in place on an SRTP leg. */
static void send_rtp(struct sb_media_worker *w, struct sb_media_leg *leg, uint8_t pt, bool marker,
                     uint32_t ts, const uint8_t *payload, size_t len)
{
	_Alignas(8) uint8_t pkt[SB_MEDIA_TX_PACKET_BYTES];
	struct sb_rtp_header h = {.pt = pt, .marker = marker, .ts = ts, .ssrc = leg->ssrc};
	size_t octets = len;

	if (!leg->can_send)
		return;
	h.seq = leg->seq++;
	sb_rtp_write_header(pkt, &h);
	memcpy(pkt + SB_RTP_HEADER_BYTES, payload, len);
	len += SB_RTP_HEADER_BYTES;
	if (leg->srtp && sb_srtp_protect(leg->srtp, pkt, &len, sizeof(pkt)) < 0) {
		sb_media_tx_failed(w, leg, 0);
		return;
	}
	if (w->uring && sb_media_uring_send(w, leg, pkt, len, octets))
		return; /* counted when it has gone */
	ssize_t n =
	        sendto(leg->fd, pkt, len, 0, (struct sockaddr *)&leg->src.peer, leg->src.peer_len);
	if (n == (ssize_t)len)
		sb_media_tx_sent(w, leg, len, octets);
	else
		sb_media_tx_failed(w, leg, n < 0 ? errno : EMSGSIZE);
}

/* Sends the DTMF packets due by now_us. */
static void dtmf_due(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now_us)
{
	uint8_t out[SB_DTMF_END_PACKETS * SB_DTMF_PAYLOAD_BYTES];
	uint32_t elapsed = (uint32_t)((now_us - leg->dtmf_start_us) * 8 / 1000);
	bool marker = false;
	int n = sb_dtmf_tx_next(&leg->dtmf_tx, elapsed, out, &marker);

	for (int i = 0; i < n; i++)
		send_rtp(w, leg, (uint8_t)leg->te_pt, marker && i == 0, leg->dtmf_ts,
		         out + i * SB_DTMF_PAYLOAD_BYTES, SB_DTMF_PAYLOAD_BYTES);
}

/* Starts sending a digit in place of audio; false when the leg cannot carry one. */
static bool dtmf_start(struct sb_media_worker *w, struct sb_media_leg *leg, char digit,
                       unsigned duration_ms, int64_t now_us)
{
	if (leg->te_pt < 0) {
		sb_log_ctx_set(leg->call->id);
		log_warn_ratelimited("The %s did not offer telephone-event: not sending DTMF %c",
		                     leg->agent ? "agent" : "caller", digit);
		sb_log_ctx_set(NULL);
		return false;
	}
	if (sb_dtmf_tx_start(&leg->dtmf_tx, digit, duration_ms ? duration_ms : DEFAULT_DTMF_MS) < 0)
		return false;
	leg->dtmf_start_us = now_us;
	leg->dtmf_ts = leg->ts;
	dtmf_due(w, leg, now_us);
	return true;
}

void sb_media_tx_dtmf(struct sb_media_worker *w, struct sb_media_leg *leg, char digit,
                      unsigned duration_ms, int64_t now_us)
{
	if (leg->dtmf_tx.active) /* one at a time: a key still being sent is not cut short */
		return;
	dtmf_start(w, leg, digit, duration_ms, now_us);
}

/* The slot's frame as the caller gets it (n = 0: silence, or nothing went out), on the
 * slot's time. */
static void record_slot(struct sb_media_leg *leg, const int16_t *pcm, unsigned n)
{
	int64_t t_us = leg->next_tx_us;

	if (n)
		sb_rec_put(leg->rec, SB_REC_SENT, t_us, pcm, n);
	if (n < SB_FRAME_SAMPLES) /* padded with silence, as sent */
		sb_rec_put(leg->rec, SB_REC_SENT, t_us + (int64_t)n * 1000000 / SB_RATE_8K, NULL,
		           SB_FRAME_SAMPLES - n);
}

static void send_audio(struct sb_media_worker *w, struct sb_media_leg *leg, const int16_t *pcm,
                       unsigned n)
{
	uint8_t payload[SB_FRAME_SAMPLES];

	if (leg->rec)
		record_slot(leg, pcm, n);

	/* A short last frame is padded with the codec's silence, not an encoded 0. */
	sb_codec_encode(leg->codec, pcm, n, payload);
	memset(payload + n, sb_codec_silence_octet(leg->codec), SB_FRAME_SAMPLES - n);
	send_rtp(w, leg, leg->pt, leg->marker, leg->ts, payload, SB_FRAME_SAMPLES);
	leg->marker = false;
}

/* The next frame of bot audio (sb_downlink_next). A mark it reports played goes on the up
 * ring, and the call is named to its ws worker, which echoes the mark at once. */
static unsigned downlink_next(struct sb_media_leg *leg, int16_t *pcm, struct sb_downlink_dtmf *d)
{
	struct sb_call *c = leg->call;
	unsigned written = sb_ring_written(&c->up);
	unsigned n = sb_downlink_next(&leg->down, &c->down, &c->up, &c->clear_epoch, pcm, d);

	if (sb_ring_written(&c->up) != written)
		sb_ws_worker_notify(leg->w->ws[c->ws_idx], c);
	return n;
}

/* A bridged leg's slot: the other party's audio, sent unless the leg is on hold or a key
 * stands in for it. It is taken either way, so that a hold or a key neither backs it up (a
 * delay that would stay) nor stops the bot's mix, which in listen mode gets one frame of both
 * parties every slot. On the caller's leg the bot's audio is taken and dropped (it no longer
 * speaks to the caller). Returns true when the frame went out. */
static bool bridged_slot(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	int16_t pcm[SB_FRAME_SAMPLES];
	struct sb_downlink_dtmf d;
	struct sb_call *c = leg->call;
	bool send = leg->can_send && !leg->dtmf_tx.active;

	if (!leg->agent)
		while (sb_ring_count(&c->down))
			downlink_next(leg, pcm, &d);
	sb_pcm_fifo_pop(leg->relay, pcm, SB_FRAME_SAMPLES);
	if (send)
		send_audio(w, leg, pcm, SB_FRAME_SAMPLES);
	if (leg->mix) {
		leg->up_at_us = w->tick_us;
		sb_media_count_mix_drops(leg);
		sb_pcm_fifo_pop(&leg->mix[0], pcm, SB_FRAME_SAMPLES);
		sb_pcm_fifo_mix(&leg->mix[1], pcm, SB_FRAME_SAMPLES);
		sb_media_up_push(leg, pcm, SB_FRAME_SAMPLES);
	}
	return send;
}

/* One 20 ms slot: the next frame of bot audio, silence, or the slot of a DTMF digit. */
static void slot(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now_us)
{
	struct sb_downlink_dtmf d;
	int16_t pcm[SB_FRAME_SAMPLES];
	unsigned n;
	bool sent = false; /* send_audio() recorded the slot */

	if (leg->relay) {
		sent = bridged_slot(w, leg);
	} else if (!leg->can_send || leg->mute || leg->dtmf_tx.active) {
		/* on hold: the bot's audio waits for the caller to come back; a listening bot whose
		 * caller gets no RTP; a digit that stands in for audio */
	} else {
		n = downlink_next(leg, pcm, &d);
		if (!d.digit || !dtmf_start(w, leg, d.digit, d.duration_ms, now_us)) {
			send_audio(w, leg, pcm, n);
			sent = true;
		}
	}
	if (!sent && leg->rec)
		record_slot(leg, NULL, 0);
	leg->ts += SB_FRAME_SAMPLES; /* a DTMF digit's slots pass in media time too */
}

void sb_media_tx_tick(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now_us)
{
	unsigned sent = 0;

	if (leg->dtmf_tx.active)
		dtmf_due(w, leg, now_us);
	/* After a stall, keep the RTP clock in step with real time, but bounded. */
	if (now_us - leg->next_tx_us > MAX_CATCHUP_FRAMES * FRAME_US)
		leg->next_tx_us = now_us - MAX_CATCHUP_FRAMES * FRAME_US;
	while (leg->next_tx_us <= now_us + HALF_TICK_US && sent < MAX_CATCHUP_FRAMES) {
		slot(w, leg, now_us);
		leg->next_tx_us += FRAME_US;
		sent++;
	}
}

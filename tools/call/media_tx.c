/* RTP out of sipbridge-call: one 20 ms packet per slot from the answer on (the --play file,
 * then silence), RFC 4733 key presses in place of audio from --dtmf-at on, and an RTCP report
 * every 5 s; protected with --srtp. Thread: main, called after every su_root step (at most 5 ms
 * apart). Owns the sending state in struct sb_cl_media.
 *
 * DESIGN
 * As the bridge's own sender does it: slots keep a 20 ms schedule on the monotonic clock; a
 * key takes the slots of its duration (the RTP clock runs on through them, the file waits),
 * and its own packets (start, an update every 50 ms, three ends) go out as they fall due. */
#include <string.h>

#include <sb/rtp_session.h>

#include "call.h"

#define FRAME_US (SB_FRAME_MS * 1000)
#define HALF_TICK_US 2500
#define MAX_CATCHUP_FRAMES 5

void sb_cl_media_send(struct sb_cl_media *m, uint8_t pt, bool marker, uint32_t ts,
                      const uint8_t *payload, size_t len)
{
	_Alignas(8) uint8_t pkt[SB_RTP_HEADER_BYTES + SB_FRAME_SAMPLES + SB_SRTP_MAX_TRAILER];
	struct sb_rtp_header h = {.pt = pt, .marker = marker, .ts = ts, .ssrc = m->ssrc};
	size_t n = SB_RTP_HEADER_BYTES + len;

	if (len > SB_FRAME_SAMPLES)
		return;
	h.seq = m->seq++;
	sb_rtp_write_header(pkt, &h);
	memcpy(pkt + SB_RTP_HEADER_BYTES, payload, len);
	if (!sb_cl_srtp_out(m, pkt, &n, sizeof(pkt), false))
		return;
	if (sendto(m->fd, pkt, n, 0, (struct sockaddr *)&m->peer, m->peer_len) == (ssize_t)n) {
		m->tx_packets++;
		m->tx_stats.packets++;
		m->tx_stats.octets += (uint32_t)len;
	}
}

/* Sends the packets of the key being pressed that are due by now; notes a finished key. */
static void dtmf_due(struct sb_cl_media *m, int64_t now_us)
{
	uint8_t out[SB_DTMF_END_PACKETS * SB_DTMF_PAYLOAD_BYTES];
	uint32_t elapsed = (uint32_t)((now_us - m->dtmf_start_us) * 8 / 1000);
	char digit = sb_dtmf_digit(m->dtmf.event);
	bool marker = false;
	int n = sb_dtmf_tx_next(&m->dtmf, elapsed, out, &marker);

	for (int i = 0; i < n; i++)
		sb_cl_media_send(m, (uint8_t)m->te_pt, marker && i == 0, m->dtmf_ts,
		                 out + i * SB_DTMF_PAYLOAD_BYTES, SB_DTMF_PAYLOAD_BYTES);
	if (n > 0 && !m->dtmf.active) {
		m->dtmf_sent[m->n_dtmf_sent++] = digit;
		m->dtmf_sent[m->n_dtmf_sent] = '\0';
		m->next_digit_us = now_us + SB_CL_DTMF_GAP_MS * 1000;
	}
}

/* The next key, when one is due and the far end takes telephone-events. */
static void dtmf_next(struct sb_cl_media *m, int64_t now_us)
{
	if (m->dtmf.active || m->te_pt < 0 || !m->digits || !m->digits[m->next_digit] ||
	    now_us < m->next_digit_us)
		return;
	if (sb_dtmf_tx_start(&m->dtmf, m->digits[m->next_digit++], SB_CL_DTMF_MS) < 0)
		return;
	m->dtmf_start_us = now_us;
	m->dtmf_ts = m->ts; /* the key's slots start with the next one */
	dtmf_due(m, now_us);
}

bool sb_cl_media_tx_keys_done(const struct sb_cl_media *m)
{
	return !m->digits || (!m->digits[m->next_digit] && !m->dtmf.active);
}

/* One 20 ms slot: a key's, the file's next frame, or silence. */
static void slot(struct sb_cl_media *m)
{
	int16_t pcm[SB_FRAME_SAMPLES];
	uint8_t payload[SB_FRAME_SAMPLES];
	size_t n = 0;

	if (!m->dtmf.active) {
		if (m->play && m->play_pos < m->play_n) {
			n = m->play_n - m->play_pos;
			if (n > SB_FRAME_SAMPLES)
				n = SB_FRAME_SAMPLES;
			memcpy(pcm, m->play + m->play_pos, n * sizeof(pcm[0]));
			m->play_pos += n;
			m->audio_samples_sent += n;
		} else if (!m->play) {
			m->audio_samples_sent +=
			        SB_FRAME_SAMPLES; /* silence is what was asked for */
		}
		/* A short last frame is padded with the codec's silence. */
		sb_codec_encode(m->codec, pcm, n, payload);
		memset(payload + n, sb_codec_silence_octet(m->codec), SB_FRAME_SAMPLES - n);
		sb_cl_media_send(m, m->pt, m->marker, m->ts, payload, SB_FRAME_SAMPLES);
		m->marker = false;
	}
	m->ts += SB_FRAME_SAMPLES;
}

static void rtcp_due(struct sb_cl_media *m, int64_t now_us)
{
	_Alignas(8) uint8_t buf[SB_RTCP_MAX_PACKET + SB_SRTP_MAX_TRAILER];
	size_t len;
	int n;

	if (now_us < m->next_rtcp_us)
		return;
	m->next_rtcp_us = now_us + SB_RTCP_INTERVAL_MS * 1000;
	n = sb_rtcp_build(buf, SB_RTCP_MAX_PACKET, &m->tx_stats, &m->rx_stats, sb_ntp_now(), m->ts,
	                  now_us, SB_CL_NAME);
	len = n > 0 ? (size_t)n : 0;
	if (n > 0 && sb_cl_srtp_out(m, buf, &len, sizeof(buf), true))
		(void)sendto(m->rtcp_fd, buf, len, 0, (struct sockaddr *)&m->peer_rtcp,
		             m->peer_len);
}

void sb_cl_media_tx_tick(struct sb_cl_media *m, int64_t now_us)
{
	unsigned sent = 0;

	if (!m->started)
		return;
	if (m->dtmf.active)
		dtmf_due(m, now_us);
	dtmf_next(m, now_us);
	/* After a stall, keep the RTP clock in step with real time, but bounded. */
	if (now_us - m->next_tx_us > MAX_CATCHUP_FRAMES * FRAME_US)
		m->next_tx_us = now_us - MAX_CATCHUP_FRAMES * FRAME_US;
	while (m->next_tx_us <= now_us + HALF_TICK_US && sent < MAX_CATCHUP_FRAMES) {
		slot(m);
		m->next_tx_us += FRAME_US;
		sent++;
	}
	rtcp_due(m, now_us);
}

/* RTP in of sipbridge-call: every datagram is checked (an RTP header, from the answer's
 * address, the answer's audio or telephone-event payload type, a sane length) before it is
 * counted; audio is decoded onto the call's time line, keys are read as RFC 4733, sequence
 * numbers give the loss. With --srtp a packet is checked and decrypted before anything else
 * (one that fails is counted and dropped). RTCP from the far end is read and dropped. Thread: main.
 * Owns the receiving state in struct sb_cl_media.
 */
#include <errno.h>
#include <sys/socket.h>

#include <sb/rtp_session.h>

#include "call.h"

#define MAX_PER_CALL 256    /* datagrams read per wake-up, so sending is never starved */
#define MAX_AUDIO_BYTES 480 /* 60 ms of G.711, the longest ptime */

static void key(struct sb_cl_media *m, char digit)
{
	if (m->n_dtmf_received < SB_CL_MAX_DIGITS) {
		m->dtmf_received[m->n_dtmf_received++] = digit;
		m->dtmf_received[m->n_dtmf_received] = '\0';
	}
}

/* Counts the packet's sequence number; loss counted on a stream the statistics leave (a
 * new SSRC, or a restarted numbering) is kept. */
static void count(struct sb_cl_media *m, const struct sb_rtp_header *h, int64_t now_us)
{
	struct sb_rtp_rx_stats *s = &m->rx_stats;
	int32_t lost = sb_rtp_rx_lost(s);
	uint32_t before = s->received;
	bool had = s->init;
	uint32_t ssrc = s->ssrc;

	sb_rtp_rx_update(s, h->ssrc, h->seq, h->ts, now_us);
	if (had && (ssrc != s->ssrc || s->received < before) && lost > 0)
		m->lost_before += lost;
	m->rx_packets++;
}

static void audio(struct sb_cl_media *m, const struct sb_rtp_header *h, int64_t now_us)
{
	int16_t pcm[MAX_AUDIO_BYTES];
	int64_t arrival = (now_us - m->start_us) * SB_RATE_8K / 1000000;

	sb_codec_decode(m->codec, h->payload, h->payload_len, pcm);
	m->rx_audio_samples += h->payload_len;
	sb_cl_timeline_put(&m->timeline, h->ssrc, h->ts, pcm, h->payload_len, arrival);
}

static void events(struct sb_cl_media *m, const struct sb_rtp_header *h, int64_t now_us)
{
	struct sb_dtmf_report out[2];
	int n = sb_dtmf_rx_packet(&m->dtmf_rx, h->ts, h->payload, h->payload_len, now_us / 1000,
	                          out);

	for (int i = 0; i < n; i++)
		key(m, out[i].digit);
}

static void packet(struct sb_cl_media *m, const uint8_t *buf, size_t len,
                   const struct sockaddr *from, int64_t now_us)
{
	struct sb_rtp_header h;

	if (sb_rtp_parse(buf, len, &h) < 0 ||
	    !sb_sockaddr_same_ip(from, (struct sockaddr *)&m->peer))
		goto invalid;
	if (h.pt == m->rx_pt || h.pt == m->pt) {
		if (h.payload_len == 0 || h.payload_len > MAX_AUDIO_BYTES)
			goto invalid;
		count(m, &h, now_us);
		audio(m, &h, now_us);
		return;
	}
	if (m->te_pt >= 0 && h.pt == m->te_pt && h.payload_len >= SB_DTMF_PAYLOAD_BYTES) {
		count(m, &h, now_us);
		events(m, &h, now_us);
		return;
	}
invalid:
	m->rx_invalid++;
}

void sb_cl_media_rx(struct sb_cl_media *m, int64_t now_us)
{
	_Alignas(8) uint8_t buf[SB_RTP_MAX_PACKET];
	struct sockaddr_storage from;
	struct sb_dtmf_report r;

	for (int i = 0; i < MAX_PER_CALL; i++) {
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(m->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from,
		                     &flen);

		if (n < 0)
			break;
		/* Before the answer nothing is expected (no early media): dropped unseen. */
		if (!m->started)
			continue;
		size_t len = (size_t)n;

		if (len > sizeof(buf))
			m->rx_invalid++; /* truncated: larger than any RTP packet we take */
		else if (sb_cl_srtp_in(m, buf, &len, false))
			packet(m, buf, len, (struct sockaddr *)&from, now_us);
	}
	if (m->started && sb_dtmf_rx_poll(&m->dtmf_rx, now_us / 1000, &r) == 1)
		key(m, r.digit);
	/* RTCP: read so the socket never fills; the reports are not used. */
	for (int i = 0; i < MAX_PER_CALL && recv(m->rtcp_fd, buf, sizeof(buf), 0) >= 0; i++)
		;
}

uint64_t sb_cl_media_rx_lost(const struct sb_cl_media *m)
{
	int32_t lost = sb_rtp_rx_lost(&m->rx_stats);

	return (uint64_t)m->lost_before + (uint64_t)(lost > 0 ? lost : 0);
}

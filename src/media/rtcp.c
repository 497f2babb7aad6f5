/* RTCP for one media leg: receive statistics (RFC 3550 A.1 sequence tracking, A.3 loss, A.8
 * jitter), the compound SR/RR + SDES the bridge sends, and the caller's reports read back.
 * Pure: no I/O, no locks (it reads the clock for NTP time). Thread: the media worker owning
 * the leg. Owns nothing. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sb/common.h>
#include <sb/rtcp.h>

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_SDES 202
#define NTP_UNIX_OFFSET 2208988800u /* seconds from 1900 to 1970 */

uint64_t sb_ntp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + NTP_UNIX_OFFSET) << 32 |
	       (uint64_t)(((uint64_t)ts.tv_nsec << 32) / 1000000000u);
}

static void restart(struct sb_rtp_rx_stats *s, uint32_t ssrc, uint16_t seq)
{
	uint32_t lsr = s->lsr;
	int64_t lsr_rx_us = s->lsr_rx_us;
	uint32_t received = sb_rtp_rx_total_received(s);
	int32_t lost = sb_rtp_rx_total_lost(s);

	memset(s, 0, sizeof(*s));
	s->earlier_received = received;
	s->earlier_lost = lost;
	s->init = true;
	s->ssrc = ssrc;
	s->base_seq = seq;
	s->max_seq = seq;
	s->lsr = lsr;
	s->lsr_rx_us = lsr_rx_us;
}

void sb_rtp_rx_update(struct sb_rtp_rx_stats *s, uint32_t ssrc, uint16_t seq, uint32_t ts,
                      int64_t arrival_us)
{
	uint16_t udelta;
	uint32_t arrival = (uint32_t)(arrival_us * 8 / 1000), transit;
	int32_t d;

	if (!s->init || ssrc != s->ssrc) {
		restart(s, ssrc, seq);
		s->transit = arrival - ts;
	}
	udelta = (uint16_t)(seq - s->max_seq);
	if (udelta < MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += 1u << 16; /* wrapped */
		s->max_seq = seq;
	} else if (udelta <= (uint16_t)(65536 - MAX_MISORDER)) {
		/* A jump far ahead: the sender restarted its numbering only when the next packet
		 * follows it (RFC 3550 A.1); a stray one is left out of the count. */
		if (!s->has_bad_seq || seq != s->bad_seq) {
			s->bad_seq = (uint16_t)(seq + 1);
			s->has_bad_seq = true;
			return;
		}
		restart(s, ssrc, seq);
		s->transit = arrival - ts;
	}
	/* else a duplicate or late packet: counted, max_seq kept */
	s->received++;
	transit = arrival - ts;
	d = (int32_t)(transit - s->transit);
	s->transit = transit;
	/* |d| without negating INT32_MIN: the timestamps are the caller's to choose */
	s->jitter += (d < 0 ? 0u - (uint32_t)d : (uint32_t)d) - ((s->jitter + 8) >> 4);
}

static uint32_t extended_max(const struct sb_rtp_rx_stats *s)
{
	return s->cycles + s->max_seq;
}

int32_t sb_rtp_rx_lost(const struct sb_rtp_rx_stats *s)
{
	if (!s->init)
		return 0;
	return (int32_t)(extended_max(s) - s->base_seq + 1 - s->received);
}

uint32_t sb_rtp_rx_total_received(const struct sb_rtp_rx_stats *s)
{
	return s->earlier_received + s->received;
}

int32_t sb_rtp_rx_total_lost(const struct sb_rtp_rx_stats *s)
{
	return s->earlier_lost + sb_rtp_rx_lost(s);
}

unsigned sb_rtp_rx_jitter_ms(const struct sb_rtp_rx_stats *s)
{
	return (s->jitter >> 4) / 8;
}

/* One report block about rx's source (RFC 3550 6.4.1), 24 bytes. */
static void report_block(uint8_t *p, struct sb_rtp_rx_stats *rx, int64_t now_us)
{
	uint32_t expected = extended_max(rx) - rx->base_seq + 1;
	uint32_t exp_int = expected - rx->expected_prior,
	         rec_int = rx->received - rx->received_prior;
	int32_t lost = (int32_t)(expected - rx->received), lost_int = (int32_t)(exp_int - rec_int);
	uint8_t fraction =
	        exp_int == 0 || lost_int <= 0 ? 0 : (uint8_t)(((uint32_t)lost_int << 8) / exp_int);
	uint32_t dlsr = 0;

	rx->expected_prior = expected;
	rx->received_prior = rx->received;
	if (lost > 0x7fffff)
		lost = 0x7fffff;
	else if (lost < -0x800000)
		lost = -0x800000;
	if (rx->lsr)
		dlsr = (uint32_t)((now_us - rx->lsr_rx_us) * 65536 / 1000000);
	sb_put_be32(p, rx->ssrc);
	sb_put_be32(p + 4, (uint32_t)fraction << 24 | ((uint32_t)lost & 0xffffff));
	sb_put_be32(p + 8, extended_max(rx));
	sb_put_be32(p + 12, rx->jitter >> 4);
	sb_put_be32(p + 16, rx->lsr);
	sb_put_be32(p + 20, dlsr);
}

int sb_rtcp_build(uint8_t *buf, size_t size, const struct sb_rtp_tx_stats *tx,
                  struct sb_rtp_rx_stats *rx, uint64_t ntp, uint32_t rtp_ts, int64_t now_us,
                  const char *cname)
{
	bool sr = tx->packets > 0, block = rx->init;
	size_t n = 8, clen = strlen(cname), sdes;

	if (clen > 255)
		clen = 255;
	sdes = (8 + 2 + clen + 1 + 3) & ~(size_t)3; /* header, SSRC, item, end, padding */
	if (size < 8 + (sr ? 20 : 0) + (block ? 24 : 0) + sdes)
		return -ENOSPC;
	buf[0] = (uint8_t)(0x80 | (block ? 1 : 0));
	buf[1] = sr ? RTCP_SR : RTCP_RR;
	sb_put_be32(buf + 4, tx->ssrc);
	if (sr) {
		sb_put_be32(buf + 8, (uint32_t)(ntp >> 32));
		sb_put_be32(buf + 12, (uint32_t)ntp);
		sb_put_be32(buf + 16, rtp_ts);
		sb_put_be32(buf + 20, tx->packets);
		sb_put_be32(buf + 24, tx->octets);
		n += 20;
	}
	if (block) {
		report_block(buf + n, rx, now_us);
		n += 24;
	}
	buf[2] = (uint8_t)((n / 4 - 1) >> 8);
	buf[3] = (uint8_t)(n / 4 - 1);
	/* SDES: one chunk, our SSRC with a CNAME item */
	memset(buf + n, 0, sdes);
	buf[n] = 0x81;
	buf[n + 1] = RTCP_SDES;
	buf[n + 2] = (uint8_t)((sdes / 4 - 1) >> 8);
	buf[n + 3] = (uint8_t)(sdes / 4 - 1);
	sb_put_be32(buf + n + 4, tx->ssrc);
	buf[n + 8] = 1; /* CNAME */
	buf[n + 9] = (uint8_t)clen;
	memcpy(buf + n + 10, cname, clen);
	return (int)(n + sdes);
}

/* The report blocks of one SR or RR: keeps the one about our_ssrc. */
static void read_blocks(const uint8_t *p, unsigned count, size_t left, uint32_t our_ssrc,
                        struct sb_rtcp_report *out)
{
	for (unsigned i = 0; i < count && left >= 24; i++, p += 24, left -= 24) {
		uint32_t w;

		if (sb_get_be32(p) != our_ssrc)
			continue;
		w = sb_get_be32(p + 4);
		out->have_block = true;
		out->fraction_lost = (uint8_t)(w >> 24);
		out->cumulative_lost = (int32_t)(w << 8) >> 8; /* 24-bit signed */
		out->highest_seq = sb_get_be32(p + 8);
		out->jitter = sb_get_be32(p + 12);
		out->lsr = sb_get_be32(p + 16);
		out->dlsr = sb_get_be32(p + 20);
	}
}

int sb_rtcp_parse(const uint8_t *buf, size_t len, uint32_t our_ssrc, struct sb_rtcp_report *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 8 || (buf[0] >> 6) != 2 || (buf[1] != RTCP_SR && buf[1] != RTCP_RR))
		return -EBADMSG; /* a compound packet starts with an SR or RR (RFC 3550 6.1) */
	while (len >= 4) {
		size_t plen = 4 * ((size_t)(buf[2] << 8 | buf[3]) + 1);
		unsigned count = buf[0] & 0x1f;

		if ((buf[0] >> 6) != 2 || plen > len)
			return -EBADMSG;
		if (buf[1] == RTCP_SR && plen >= 28) {
			if (!out->have_sr) {
				out->have_sr = true;
				out->sender_ssrc = sb_get_be32(buf + 4);
				out->sr_ntp_mid =
				        sb_get_be32(buf + 8) << 16 | sb_get_be32(buf + 12) >> 16;
			}
			read_blocks(buf + 28, count, plen - 28, our_ssrc, out);
		} else if (buf[1] == RTCP_RR && plen >= 8) {
			out->sender_ssrc =
			        out->sender_ssrc ? out->sender_ssrc : sb_get_be32(buf + 4);
			read_blocks(buf + 8, count, plen - 8, our_ssrc, out);
		}
		buf += plen;
		len -= plen;
	}
	return 0;
}

int sb_rtcp_rtt_ms(const struct sb_rtcp_report *r, uint64_t ntp_now)
{
	uint32_t now_mid = (uint32_t)(ntp_now >> 16), rtt;

	if (!r->have_block || !r->lsr)
		return -1;
	rtt = now_mid - r->lsr - r->dlsr; /* 1/65536 s, modulo 2^32 */
	if (rtt > 0x7fffffffu)
		return 0; /* clocks a little apart: no negative round trip */
	return (int)((uint64_t)rtt * 1000 / 65536);
}

/* A media leg's RTCP (RFC 3550): the compound SR/RR with SDES it sends every few seconds to
 * where the caller's RTCP comes from (else to the RTP peer's port + 1), the caller's reports
 * it reads (only from the addresses RTP is taken from), and the statistics logged at the
 * call's end; SRTCP on an SRTP leg. Thread: the media worker owning the leg. */
#include <netinet/in.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>

#define LOG_SUBSYS "media"
#include <sb/log.h>

#include <sb/rtp_session.h>

#include "media_priv.h"

/* Where RTCP goes: where the caller's RTCP comes from, else the RTP peer's port + 1. */
static bool rtcp_dest(const struct sb_media_leg *leg, struct sockaddr_storage *to, socklen_t *len)
{
	in_port_t *port;

	if (leg->rtcp_peer_len) {
		*to = leg->rtcp_peer;
		*len = leg->rtcp_peer_len;
		return true;
	}
	*to = leg->src.peer;
	*len = leg->src.peer_len;
	port = to->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)to)->sin6_port
	                                 : &((struct sockaddr_in *)to)->sin_port;
	if (ntohs(*port) == 65535)
		return false;
	*port = htons((uint16_t)(ntohs(*port) + 1));
	return true;
}

/* A compound SR (or RR while nothing was sent) with SDES, every SB_RTCP_INTERVAL_MS. */
void sb_media_send_rtcp(struct sb_media_worker *w, struct sb_media_leg *leg, int64_t now)
{
	_Alignas(8) uint8_t buf[SB_RTCP_MAX_PACKET + SB_SRTP_MAX_TRAILER];
	struct sockaddr_storage to;
	socklen_t len;
	char cname[96];
	size_t size;
	int n;

	leg->next_rtcp_ms = now + SB_RTCP_INTERVAL_MS;
	if (!leg->has_addr || !rtcp_dest(leg, &to, &len))
		return;
	snprintf(cname, sizeof(cname), "sipbridge@%s", leg->call->local_addr);
	n = sb_rtcp_build(buf, SB_RTCP_MAX_PACKET, &leg->tx, &leg->rx, sb_ntp_now(), leg->ts,
	                  sb_now_us(), cname);
	if (n <= 0)
		return;
	size = (size_t)n;
	if (leg->srtp && sb_srtp_protect_rtcp(leg->srtp, buf, &size, sizeof(buf)) < 0)
		return;
	if (sendto(leg->rtcp_fd, buf, size, 0, (struct sockaddr *)&to, len) == (ssize_t)size)
		STAT_INC(w, rtcp_tx_packets);
}

/* The caller's RTCP: its SR time (for our next report's LSR) and its report about our
 * stream. Only from the addresses RTP is taken from. */
void sb_media_on_rtcp(struct sb_media_worker *w, struct sb_media_leg *leg)
{
	_Alignas(8) uint8_t buf[SB_RTP_MAX_PACKET];
	struct sb_rtcp_report r;

	for (int i = 0; i < SB_MEDIA_RX_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		ssize_t n =
		        recvfrom(leg->rtcp_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		size_t plen;

		if (n < 0)
			break;
		if (!sb_rtp_source_allowed(&leg->src, (struct sockaddr *)&from)) {
			STAT_INC(w, rtp_rx_foreign);
			continue;
		}
		plen = (size_t)n;
		if (!sb_media_srtp_in(w, leg, buf, &plen, true))
			continue;
		if (sb_rtcp_parse(buf, plen, leg->ssrc, &r) < 0) {
			STAT_INC(w, rtcp_rx_bad);
			continue;
		}
		STAT_INC(w, rtcp_rx_packets);
		leg->rtcp_peer = from;
		leg->rtcp_peer_len = len;
		if (r.have_sr) {
			leg->rx.lsr = r.sr_ntp_mid;
			leg->rx.lsr_rx_us = sb_now_us();
		}
		if (r.have_block) {
			int rtt = sb_rtcp_rtt_ms(&r, sb_ntp_now());

			leg->reports.count++;
			leg->reports.fraction_lost = r.fraction_lost;
			leg->reports.cumulative_lost = r.cumulative_lost;
			leg->reports.jitter_ms = r.jitter / 8;
			if (rtt >= 0)
				leg->reports.rtt_ms = rtt;
		}
	}
}

/* The call's media, once, at its end: what the bridge saw and what the caller reported. */
void sb_media_log_stats(struct sb_media_leg *leg)
{
	const struct sb_caller_reports *r = &leg->reports;
	char rtcp[160] = "no RTCP report from the caller";

	if (r->count)
		snprintf(rtcp, sizeof(rtcp),
		         "RTCP from the caller: %u report(s), last %u%% lost (%d packets in all), "
		         "jitter %u ms, RTT %d ms",
		         r->count, (r->fraction_lost * 100 + 128) / 256, r->cumulative_lost,
		         r->jitter_ms, r->rtt_ms);
	const struct sb_jitter_stats *j = &leg->jb.stats;

	sb_log_ctx_set(leg->call->id);
	log_info("RTP: %u packet(s) in, %d lost, jitter %u ms; %u out, %" PRIu64 " not sent; %s",
	         sb_rtp_rx_total_received(&leg->rx), sb_rtp_rx_total_lost(&leg->rx),
	         sb_rtp_rx_jitter_ms(&leg->rx), leg->tx.packets, leg->tx_errors, rtcp);
	if (leg->srtp)
		log_info("SRTP: %" PRIu64 " packet(s) dropped for failed authentication, %" PRIu64
		         " replayed",
		         leg->srtp_auth_fail, leg->srtp_replay);
	log_info("Jitter buffer: %" PRIu64 " lost, %" PRIu64 " late, %" PRIu64
	         " duplicated, %" PRIu64 " frame(s) concealed, %" PRIu64
	         " resync(s); wait %u ms at the end",
	         j->lost, j->late, j->duplicated, j->concealed_frames, j->resets, j->depth_ms);
	/* In 20 ms frames, a part of one counting as one, as the metrics and the call-end record
	 * count them. */
	if (leg->relay) /* a bridge's buffers pushed out what came faster than real time */
		log_info("Bridge: %" PRIu64 " frame(s) of 20 ms of the %s's audio dropped on its "
		         "way to the %s",
		         sb_frames_of(leg->relay->dropped), leg->agent ? "caller" : "agent",
		         leg->agent ? "agent" : "caller");
	/* The mix's drops were counted up to its end (sb_media_count_mix_drops) before this;
	 * the call has one mix, so its count is the call's. */
	if (leg->mix)
		log_info("Bridge: %" PRIu64 " frame(s) of 20 ms of the bot's mix dropped (%" PRIu64
		         " of the caller's audio, %" PRIu64 " of the agent's)",
		         sb_frames_of(leg->call->bridge_drop_samples[SB_MEDIA_BRIDGE_TO_BOT]),
		         sb_frames_of(leg->mix[0].dropped), sb_frames_of(leg->mix[1].dropped));
	sb_log_ctx_set(NULL);
}

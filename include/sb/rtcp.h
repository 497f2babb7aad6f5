/* RTCP (RFC 3550) for one media leg: statistics of the caller's RTP stream (loss, jitter), the
 * compound SR or RR the bridge sends every few seconds (with an SDES CNAME), and the caller's
 * own reports read back (the loss and jitter it sees, and the round-trip time). SBCs watch
 * RTCP and some hang up a call without it. Pure. Thread: the media worker owning the leg. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_RTCP_INTERVAL_MS 5000 /* between reports (RFC 3550's minimum) */
#define SB_RTCP_MAX_PACKET 512

/* What the bridge has received from the caller (RFC 3550 A.1, A.3, A.8). */
struct sb_rtp_rx_stats {
	bool init;
	uint32_t ssrc;
	uint16_t max_seq;
	uint16_t bad_seq; /* after a jump: the number that confirms it (RFC 3550 A.1) */
	bool has_bad_seq;
	uint32_t cycles; /* sequence number wraps << 16 */
	uint32_t base_seq;
	uint32_t received;
	uint32_t expected_prior, received_prior; /* at the last report */
	uint32_t transit;                        /* of the last packet, in RTP units */
	uint32_t jitter;                         /* RTP units << 4 */
	uint32_t lsr;      /* middle 32 bits of the caller's last SR NTP time, 0 if none */
	int64_t lsr_rx_us; /* when that SR arrived (monotonic) */
	/* Of the streams before this one (a new SSRC, a sender that restarted its numbering):
	 * the counts above are the current stream's, as its report blocks need. */
	uint32_t earlier_received;
	int32_t earlier_lost;
};

/* What the bridge has sent. */
struct sb_rtp_tx_stats {
	uint32_t ssrc;
	uint32_t packets, octets; /* payload octets */
};

/* The caller's report about the bridge's stream. */
struct sb_rtcp_report {
	bool have_block; /* a report block about the bridge's SSRC was in the packet */
	bool have_sr;    /* the packet held an SR (its NTP time is kept for our next LSR) */
	uint32_t sender_ssrc;
	uint32_t sr_ntp_mid;   /* middle 32 bits of the SR's NTP time */
	uint8_t fraction_lost; /* /256 */
	int32_t cumulative_lost;
	uint32_t highest_seq;
	uint32_t jitter;    /* RTP units */
	uint32_t lsr, dlsr; /* 1/65536 s */
};

/* Counts one RTP packet from the caller: sequence number, RTP timestamp and arrival time in
 * microseconds (monotonic). A new SSRC starts the statistics over. */
void sb_rtp_rx_update(struct sb_rtp_rx_stats *s, uint32_t ssrc, uint16_t seq, uint32_t ts,
                      int64_t arrival_us);
/* Packets lost so far (expected - received; may be negative with duplicates). */
int32_t sb_rtp_rx_lost(const struct sb_rtp_rx_stats *s);
/* Packets received and lost over every stream so far (the call's totals). */
uint32_t sb_rtp_rx_total_received(const struct sb_rtp_rx_stats *s);
int32_t sb_rtp_rx_total_lost(const struct sb_rtp_rx_stats *s);
/* Interarrival jitter in milliseconds (8 kHz clock). */
unsigned sb_rtp_rx_jitter_ms(const struct sb_rtp_rx_stats *s);

/* Writes a compound RTCP packet into buf: an SR when tx has sent packets (else an RR), with a
 * report block about the caller's stream when any packet came, then an SDES with cname.
 * ntp is the current wall-clock NTP time (seconds << 32 | fraction), rtp_ts the RTP timestamp
 * of that instant, now_us the monotonic time for the DLSR. Updates rx's interval counters.
 * Returns the length or -ENOSPC. */
int sb_rtcp_build(uint8_t *buf, size_t size, const struct sb_rtp_tx_stats *tx,
                  struct sb_rtp_rx_stats *rx, uint64_t ntp, uint32_t rtp_ts, int64_t now_us,
                  const char *cname);
/* Reads a compound RTCP packet from the caller: the first SR's NTP time and the report block
 * about our_ssrc, if any. Returns 0, or -EBADMSG for a packet that is not RTCP. */
int sb_rtcp_parse(const uint8_t *buf, size_t len, uint32_t our_ssrc, struct sb_rtcp_report *out);
/* Round-trip time in milliseconds from a report block's LSR and DLSR and the NTP time it
 * arrived at; -1 when the block has no LSR (the caller has not seen an SR of ours yet). */
int sb_rtcp_rtt_ms(const struct sb_rtcp_report *r, uint64_t ntp_now);
/* Wall-clock time as a 64-bit NTP timestamp. */
uint64_t sb_ntp_now(void);

/* Which sources a media leg takes caller RTP from, and where it sends (strict RTP, as
 * rtpengine and Asterisk's strictrtp do). A packet is allowed from the SDP's c= address, from
 * the address the call's signalling came from (callers behind NAT), or from inside the
 * trunk's ACL; anything else is dropped and counted. The leg latches onto the first allowed
 * source and sends there. Packets from exactly the SDP's address and port latch at once; any
 * other allowed source takes over only after it has sent SB_RTP_RELATCH_PACKETS packets in a
 * row (one SSRC, consecutive sequence numbers) with nothing from the latched source in
 * between. Pure. Thread: the media worker owning the leg. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sb/acl.h>

#define SB_RTP_RELATCH_PACKETS 4

enum sb_rtp_verdict {
	SB_RTP_ACCEPT,         /* from the latched source (or it just latched) */
	SB_RTP_DROP_FOREIGN,   /* not from an allowed address */
	SB_RTP_DROP_CANDIDATE, /* from another allowed source that has not earned the latch yet */
};

struct sb_rtp_source {
	/* what may send: set at attach and by re-INVITEs */
	struct sockaddr_storage sdp; /* the SDP's c= address and m= port */
	socklen_t sdp_len;
	struct sockaddr_storage
	        sig; /* where the call's signalling came from (the port is ignored) */
	socklen_t sig_len;
	const struct sb_cidr *acl; /* the trunk's ACL, owned by the call's config */
	size_t n_acl;

	/* latching */
	bool latched;
	struct sockaddr_storage peer; /* where RTP is sent: the SDP address until latched */
	socklen_t peer_len;
	struct sockaddr_storage cand; /* another allowed source trying to take over */
	socklen_t cand_len;
	uint32_t cand_ssrc;
	uint16_t cand_seq;
	unsigned cand_n;
	uint64_t relatches; /* times the leg moved to a new source */
};

/* Starts with the SDP address as the peer, not latched. sig may be NULL. */
void sb_rtp_source_init(struct sb_rtp_source *s, const struct sockaddr *sdp, socklen_t sdp_len,
                        const struct sockaddr *sig, socklen_t sig_len, const struct sb_cidr *acl,
                        size_t n_acl);
/* A re-INVITE named a new SDP address: it becomes the peer and the leg latches afresh. The
 * same address again changes nothing. Returns true when the address changed. */
bool sb_rtp_source_set_sdp(struct sb_rtp_source *s, const struct sockaddr *sdp, socklen_t len);
/* True when from may send RTP to this leg at all. */
bool sb_rtp_source_allowed(const struct sb_rtp_source *s, const struct sockaddr *from);
/* Decides about one packet (source address, SSRC and sequence number) and updates the latch. */
enum sb_rtp_verdict sb_rtp_source_check(struct sb_rtp_source *s, const struct sockaddr *from,
                                        socklen_t len, uint32_t ssrc, uint16_t seq);

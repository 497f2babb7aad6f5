/* Strict RTP source policy of a media leg: allowed addresses, the first latch, and re-latching
 * only after a run of consecutive packets from one new allowed source.
 * Pure: no I/O, no locks. Thread: the media worker owning the leg. Owns nothing. */
#include <string.h>

#include <sb/rtp_session.h>
#include <sb/rtp_source.h>

static void set_addr(struct sockaddr_storage *dst, socklen_t *dst_len, const struct sockaddr *src,
                     socklen_t len)
{
	if (len > sizeof(*dst))
		len = sizeof(*dst);
	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, len);
	*dst_len = len;
}

void sb_rtp_source_init(struct sb_rtp_source *s, const struct sockaddr *sdp, socklen_t sdp_len,
                        const struct sockaddr *sig, socklen_t sig_len, const struct sb_cidr *acl,
                        size_t n_acl)
{
	memset(s, 0, sizeof(*s));
	set_addr(&s->sdp, &s->sdp_len, sdp, sdp_len);
	set_addr(&s->peer, &s->peer_len, sdp, sdp_len);
	if (sig)
		set_addr(&s->sig, &s->sig_len, sig, sig_len);
	s->acl = acl;
	s->n_acl = n_acl;
}

bool sb_rtp_source_set_sdp(struct sb_rtp_source *s, const struct sockaddr *sdp, socklen_t len)
{
	if (sb_sockaddr_same((const struct sockaddr *)&s->sdp, sdp))
		return false;
	set_addr(&s->sdp, &s->sdp_len, sdp, len);
	set_addr(&s->peer, &s->peer_len, sdp, len);
	s->latched = false;
	s->cand_n = 0;
	return true;
}

bool sb_rtp_source_allowed(const struct sb_rtp_source *s, const struct sockaddr *from)
{
	return sb_sockaddr_same_ip(from, (const struct sockaddr *)&s->sdp) ||
	       (s->sig_len && sb_sockaddr_same_ip(from, (const struct sockaddr *)&s->sig)) ||
	       sb_acl_match(s->acl, s->n_acl, from);
}

/* Counts from's packet towards taking over the latch; true once it has earned it. */
static bool candidate_earns(struct sb_rtp_source *s, const struct sockaddr *from, socklen_t len,
                            uint32_t ssrc, uint16_t seq)
{
	if (s->cand_n && sb_sockaddr_same((const struct sockaddr *)&s->cand, from) &&
	    ssrc == s->cand_ssrc && seq == (uint16_t)(s->cand_seq + 1)) {
		s->cand_n++;
	} else {
		set_addr(&s->cand, &s->cand_len, from, len);
		s->cand_ssrc = ssrc;
		s->cand_n = 1;
	}
	s->cand_seq = seq;
	return s->cand_n >= SB_RTP_RELATCH_PACKETS;
}

enum sb_rtp_verdict sb_rtp_source_check(struct sb_rtp_source *s, const struct sockaddr *from,
                                        socklen_t len, uint32_t ssrc, uint16_t seq)
{
	if (!sb_rtp_source_allowed(s, from))
		return SB_RTP_DROP_FOREIGN;
	/* The address the caller's SDP names is its own word: it latches at once, also away
	 * from another source (a hold or an SBC moving the media while the old one still
	 * sends). */
	if (sb_sockaddr_same((const struct sockaddr *)&s->sdp, from)) {
		if (s->latched && !sb_sockaddr_same((const struct sockaddr *)&s->peer, from))
			s->relatches++;
		set_addr(&s->peer, &s->peer_len, from, len);
		s->latched = true;
		s->cand_n = 0;
		return SB_RTP_ACCEPT;
	}
	if (!s->latched) {
		set_addr(&s->peer, &s->peer_len, from, len);
		s->latched = true;
		s->cand_n = 0;
		return SB_RTP_ACCEPT;
	}
	if (sb_sockaddr_same((const struct sockaddr *)&s->peer, from)) {
		s->cand_n = 0; /* the latched source is alive: a newcomer starts over */
		return SB_RTP_ACCEPT;
	}
	if (!candidate_earns(s, from, len, ssrc, seq))
		return SB_RTP_DROP_CANDIDATE;
	set_addr(&s->peer, &s->peer_len, from, len);
	s->cand_n = 0;
	s->relatches++;
	return SB_RTP_ACCEPT;
}

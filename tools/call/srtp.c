/* SDES-SRTP of sipbridge-call (--srtp): our key for the offer, the contexts (the project's
 * srtp_ctx) once the answer brings the far end's key, protecting what is sent and checking
 * what is received, and --tamper-at, which alters one protected packet so a test can see the
 * far end drop it. Thread: main. Owns the contexts and our key.
 */
#include <errno.h>
#include <string.h>

#include <sb/rtp_session.h>

#include "call.h"

int sb_cl_srtp_prepare(struct sb_cl_media *m, bool srtp, double tamper_at_s)
{
	m->srtp_on = srtp;
	m->tamper_us = srtp && tamper_at_s >= 0 ? (int64_t)(tamper_at_s * 1e6) : -1;
	return srtp ? sb_srtp_random_key(&m->srtp_key) : 0;
}

int sb_cl_srtp_start(struct sb_cl_media *m, struct sb_sdp_offer *ans, int64_t now_us)
{
	struct sb_srtp_keys k = {.suite = ans->crypto.suite, .rx = ans->crypto.key};
	int r;

	if (!m->srtp_on)
		return 0;
	k.tx = m->srtp_key;
	r = sb_srtp_new(&m->srtp, &k);
	sb_srtp_wipe(&k, sizeof(k));
	sb_srtp_wipe(&ans->crypto, sizeof(ans->crypto));
	if (m->tamper_us >= 0)
		m->tamper_us += now_us; /* --tamper-at counts from the answer */
	return r;
}

bool sb_cl_srtp_out(struct sb_cl_media *m, uint8_t *pkt, size_t *len, size_t cap, bool rtcp)
{
	int r;

	if (!m->srtp)
		return !m->srtp_on;
	r = rtcp ? sb_srtp_protect_rtcp(m->srtp, pkt, len, cap)
	         : sb_srtp_protect(m->srtp, pkt, len, cap);
	if (r < 0)
		return false;
	/* One audio packet's encrypted payload altered after protection: its tag no longer
	 * matches, so an SRTP receiver must drop it. */
	if (!rtcp && !m->tampered && m->tamper_us >= 0 && sb_now_us() >= m->tamper_us &&
	    *len > SB_RTP_HEADER_BYTES + 10) {
		pkt[SB_RTP_HEADER_BYTES + 1] ^= 0x5a;
		m->tampered = true;
	}
	return true;
}

bool sb_cl_srtp_in(struct sb_cl_media *m, uint8_t *pkt, size_t *len, bool rtcp)
{
	int r;

	if (!m->srtp)
		return true;
	r = rtcp ? sb_srtp_unprotect_rtcp(m->srtp, pkt, len) : sb_srtp_unprotect(m->srtp, pkt, len);
	if (r < 0)
		m->srtp_rx_failed++;
	return r == 0;
}

void sb_cl_srtp_done(struct sb_cl_media *m)
{
	m->srtp = sb_srtp_free(m->srtp);
	sb_srtp_wipe(&m->srtp_key, sizeof(m->srtp_key));
}

/* SDP of sipbridge-call: the offer names one codec (PCMU or PCMA) and telephone-event, as a
 * phone restricted to it would (RTP/SAVP with our a=crypto with --srtp); the answer is read
 * with the bridge's own parser and must carry that codec (and SRTP when offered). Pure.
 * Thread: main. Owns nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "call.h"

int sb_cl_sdp_offer(char *buf, size_t size, const char *addr, uint16_t port, enum sb_codec c,
                    uint64_t session_id, const struct sb_srtp_key *srtp)
{
	unsigned char tmp[16];
	const char *ip;
	int n, k;

	if (inet_pton(AF_INET, addr, tmp) == 1)
		ip = "IP4";
	else if (inet_pton(AF_INET6, addr, tmp) == 1)
		ip = "IP6";
	else
		return -EINVAL;
	n = snprintf(buf, size,
	             "v=0\r\n"
	             "o=" SB_CL_NAME " %" PRIu64 " 1 IN %s %s\r\n"
	             "s=" SB_CL_NAME "\r\n"
	             "c=IN %s %s\r\n"
	             "t=0 0\r\n"
	             "m=audio %u %s %d %d\r\n"
	             "a=rtpmap:%d %s/8000\r\n"
	             "a=rtpmap:%d telephone-event/8000\r\n"
	             "a=fmtp:%d 0-15\r\n"
	             "a=ptime:20\r\n"
	             "a=sendrecv\r\n",
	             session_id, ip, addr, ip, addr, port, srtp ? "RTP/SAVP" : "RTP/AVP", (int)c,
	             SB_CL_TE_PT, (int)c, sb_codec_name(c), SB_CL_TE_PT, SB_CL_TE_PT);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	if (!srtp)
		return n;
	k = sb_sdp_crypto_write(buf + n, size - (size_t)n, SB_CL_CRYPTO_TAG,
	                        SB_SRTP_AES_CM_128_HMAC_SHA1_80, srtp);
	return k < 0 ? -ENOSPC : n + k;
}

/* With SRTP offered, the answer must be RTP/SAVP with our tag and suite and its own key. */
static int check_srtp(const struct sb_sdp_offer *ans, bool srtp, const char **why)
{
	if (!srtp) {
		*why = "the answer is RTP/SAVP to an RTP/AVP offer";
		return ans->savp ? -EBADMSG : 0;
	}
	if (!ans->savp) {
		*why = "the answer to an RTP/SAVP offer is not RTP/SAVP";
		return -EBADMSG;
	}
	if (ans->crypto.suite != SB_SRTP_AES_CM_128_HMAC_SHA1_80 ||
	    ans->crypto.tag != SB_CL_CRYPTO_TAG) {
		*why = "the answer has no usable a=crypto with the offered tag and suite";
		return -EBADMSG;
	}
	return 0;
}

int sb_cl_sdp_answer(const char *sdp, size_t len, enum sb_codec c, bool srtp,
                     struct sb_sdp_offer *ans, const char **why)
{
	int r = sb_sdp_parse_offer(sdp, len, ans);

	if (r == -ENOTSUP) {
		*why = "the answer has no PCMU or PCMA";
		return -EBADMSG;
	}
	if (r == -EADDRNOTAVAIL) {
		*why = "the answer's audio goes to a multicast or broadcast address";
		return -EBADMSG;
	}
	if (r == -ERANGE) {
		*why = "the answer's ptime is outside 10-60 ms";
		return -EBADMSG;
	}
	if (r < 0) {
		*why = "the answer's SDP cannot be parsed or has no usable audio stream";
		return -EBADMSG;
	}
	if (ans->codec != c) {
		*why = "the answer chose a codec that was not offered";
		return -EBADMSG;
	}
	if (ans->port == 0 || sb_sdp_no_address(ans)) {
		*why = "the answer rejected the audio stream (port 0 or no address)";
		return -EBADMSG;
	}
	return check_srtp(ans, srtp, why);
}

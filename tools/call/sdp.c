/* SDP of sipbridge-call: the offer names one codec (PCMU or PCMA) and telephone-event, as a
 * phone restricted to it would; the answer is read with the bridge's own parser and must
 * carry that codec. Pure. Thread: main. Owns nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "call.h"

int sb_cl_sdp_offer(char *buf, size_t size, const char *addr, uint16_t port, enum sb_codec c,
                    uint64_t session_id)
{
	unsigned char tmp[16];
	const char *ip;
	int n;

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
	             "m=audio %u RTP/AVP %d %d\r\n"
	             "a=rtpmap:%d %s/8000\r\n"
	             "a=rtpmap:%d telephone-event/8000\r\n"
	             "a=fmtp:%d 0-15\r\n"
	             "a=ptime:20\r\n"
	             "a=sendrecv\r\n",
	             session_id, ip, addr, ip, addr, port, (int)c, SB_CL_TE_PT, (int)c,
	             sb_codec_name(c), SB_CL_TE_PT, SB_CL_TE_PT);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

int sb_cl_sdp_answer(const char *sdp, size_t len, enum sb_codec c, struct sb_sdp_offer *ans,
                     const char **why)
{
	int r = sb_sdp_parse_offer(sdp, len, ans);

	if (r == -ENOTSUP) {
		*why = "the answer has no PCMU or PCMA";
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
	return 0;
}

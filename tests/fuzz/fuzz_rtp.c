/* libFuzzer target for the RTP header and RTCP parsers: any bytes as one UDP datagram from
 * the caller, on the RTP port and on the RTCP port.
 * An accepted packet's payload must lie inside the datagram after the fixed header, and the
 * header fields must be the ones on the wire. Single-threaded. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/rtcp.h>
#include <sb/rtp_session.h>

#include "fuzz_check.h"

/* The same datagram on the RTCP port: a report is read within the packet, or refused. */
static void check_rtcp(const uint8_t *data, size_t size)
{
	struct sb_rtcp_report r;
	int n = sb_rtcp_parse(data, size, 0x01020304, &r);

	CHECK(n == 0 || n == -EBADMSG);
	if (n < 0)
		return;
	CHECK(size >= 8 && data[0] >> 6 == 2 && (data[1] == 200 || data[1] == 201));
	CHECK(!r.have_block || r.cumulative_lost >= -0x800000 && r.cumulative_lost <= 0x7fffff);
	CHECK(sb_rtcp_rtt_ms(&r, sb_ntp_now()) >= -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_rtp_header h, w;
	uint8_t hdr[SB_RTP_HEADER_BYTES];
	const uint8_t *end = data + size;
	size_t csrc_bytes, sum = 0;

	check_rtcp(data, size);
	if (sb_rtp_parse(data, size, &h) < 0)
		return 0;
	csrc_bytes = 4u * (data[0] & 0x0f);
	CHECK(size >= SB_RTP_HEADER_BYTES && data[0] >> 6 == 2);
	CHECK(h.payload >= data + SB_RTP_HEADER_BYTES + csrc_bytes && h.payload <= end);
	CHECK(h.payload_len <= (size_t)(end - h.payload));
	/* Read every payload byte, as the decoder will, so ASan sees any overrun. */
	for (size_t i = 0; i < h.payload_len; i++)
		sum += h.payload[i];
	CHECK(sum <= 255u * h.payload_len);

	/* The writer emits the same 12 bytes, minus the CC/X/P bits it never sets. */
	sb_rtp_write_header(hdr, &h);
	CHECK(hdr[0] == 0x80 && memcmp(hdr + 1, data + 1, SB_RTP_HEADER_BYTES - 1) == 0);
	CHECK(sb_rtp_parse(hdr, sizeof(hdr), &w) == 0);
	CHECK(w.pt == h.pt && w.marker == h.marker && w.seq == h.seq && w.ts == h.ts &&
	      w.ssrc == h.ssrc && w.payload_len == 0);
	return 0;
}

/* libFuzzer target for the SIP text the bridge parses itself: any bytes as one SIP request
 * from the network (seeded with the RFC 4475 torture messages) for the stateless reply
 * builder, and as a multipart body for the SDP part finder. A reply must be well formed (one
 * status line, CRLF-terminated header lines without a stray CR or LF, the empty line),
 * fit the buffer, and echo the request's Call-ID. Single-threaded. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sb/multipart.h>
#include <sb/sip_reply.h>

#include "fuzz_check.h"

/* The same bytes as a multipart body whose boundary is its first line (after "--"): the SDP
 * part found lies inside the body. */
static void check_multipart(const char *body, size_t size)
{
	char b[SB_MULTIPART_BOUNDARY_MAX + 1];
	const char *part = NULL;
	size_t n = 0, blen = 0;
	int r;

	if (size < 3 || body[0] != '-' || body[1] != '-')
		return;
	while (2 + blen < size && blen < SB_MULTIPART_BOUNDARY_MAX && body[2 + blen] != '\r' &&
	       body[2 + blen] != '\n' && body[2 + blen] != '\0')
		blen++;
	memcpy(b, body + 2, blen);
	b[blen] = '\0';
	r = sb_multipart_find_sdp(body, size, b, &part, &n);
	CHECK(r == 0 || r == -ENOENT || r == -EBADMSG);
	if (r == 0)
		CHECK(part >= body && part + n <= body + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[SB_SIP_REPLY_MAX], method[32];
	const char *req = (const char *)data;
	size_t mlen = sb_sip_method(req, size, method, sizeof(method));
	int n;

	check_multipart(req, size);
	CHECK(strlen(method) == (mlen < sizeof(method) ? mlen : sizeof(method) - 1));
	n = sb_sip_reply_build(out, sizeof(out), req, size, 403, "Forbidden", "fz", NULL);
	if (n < 0) {
		CHECK(n == -EBADMSG || n == -ENOSPC);
		return 0;
	}
	CHECK((size_t)n < sizeof(out) && out[n] == '\0');
	CHECK(mlen > 0 && strcmp(method, "ACK") != 0);
	CHECK(strncmp(out, "SIP/2.0 403 Forbidden\r\n", 23) == 0);
	CHECK(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
	for (int i = 0; i < n; i++) {
		CHECK(out[i] != '\r' || out[i + 1] == '\n');
		CHECK(out[i] != '\n' || (i > 0 && out[i - 1] == '\r'));
	}
	CHECK(memmem(out, (size_t)n, "\r\nCall-ID: ", 11) &&
	      memmem(out, (size_t)n, "\r\nCSeq: ", 8) && memmem(out, (size_t)n, "\r\nVia: ", 7));
	return 0;
}

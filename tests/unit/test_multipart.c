/* Unit tests for multipart.c: the boundary parameter, and the SDP part of SIP-I style bodies
 * (CRLF and LF, SDP first or last, compact and parameterised Content-Type, a preamble), bodies
 * without a delimiter or without SDP, a part cut off, a boundary that is a prefix of a line,
 * and NUL bytes (sofia's own parser asserts on one). */
#include <errno.h>
#include <string.h>

#include <sb/multipart.h>
#include <sb/sdp_neg.h>

#include "harness.h"

static int find(const char *body, size_t len, const char *b, char *out)
{
	const char *part;
	size_t n;
	int r = sb_multipart_find_sdp(body, len, b, &part, &n);

	if (r == 0) {
		memcpy(out, part, n);
		out[n] = '\0';
	}
	return r;
}

TEST(boundary_parameter)
{
	char b[SB_MULTIPART_BOUNDARY_MAX + 1];
	char long71[80];
	int r = 0;

	ASSERT_EQ(sb_multipart_boundary("boundary=sb-42", 14, b), 5);
	ASSERT_STREQ(b, "sb-42");
	ASSERT_EQ(sb_multipart_boundary("BOUNDARY=\"a b\"", 14, b), 3);
	ASSERT_STREQ(b, "a b");
	ASSERT_EQ(sb_multipart_boundary("charset=x; boundary=z ", 22, b), 1);
	ASSERT_STREQ(b, "z");
	ASSERT_EQ(sb_multipart_boundary("boundary=", 9, b), -EINVAL);
	ASSERT_EQ(sb_multipart_boundary("boundary=\"\"", 11, b), -EINVAL);
	ASSERT_EQ(sb_multipart_boundary("version=1", 9, b), -EINVAL);
	memset(long71, 'x', sizeof(long71));
	memcpy(long71, "boundary=", 9);
	ASSERT_EQ(sb_multipart_boundary(long71, 9 + 71, b), -EINVAL);
	ASSERT_EQ(sb_multipart_boundary(long71, 9 + 70, b), 70);
out:
	return r;
}

TEST(sip_i_bodies)
{
	static const char crlf[] = "preamble\r\n"
	                           "--b1\r\n"
	                           "Content-Type: application/isup;version=itu-t92+\r\n"
	                           "Content-Disposition: signal;handling=optional\r\n\r\n"
	                           "\x01\x00\x60\r\n"
	                           "--b1\r\n"
	                           "Content-Type: APPLICATION/SDP ; charset=x\r\n\r\n"
	                           "v=0\r\nm=audio 4000 RTP/AVP 8\r\n"
	                           "--b1--\r\n"
	                           "epilogue\r\n";
	static const char lf[] = "--b1\nc:application/sdp\n\nv=0\nm=audio 1 RTP/AVP 0\n\n--b1--\n";
	char out[512];
	int r = 0;

	ASSERT_EQ(find(crlf, sizeof(crlf) - 1, "b1", out), 0);
	/* RFC 2046: the line break before a delimiter belongs to the delimiter */
	ASSERT_STREQ(out, "v=0\r\nm=audio 4000 RTP/AVP 8");
	ASSERT_EQ(find(lf, strlen(lf), "b1", out), 0);
	ASSERT_STREQ(out, "v=0\nm=audio 1 RTP/AVP 0\n"); /* one LF belongs to the delimiter */
	/* The wrong boundary: no delimiter at all. A boundary that only starts a line's text. */
	ASSERT_EQ(find(crlf, sizeof(crlf) - 1, "b2", out), -EBADMSG);
	ASSERT_EQ(find(crlf, sizeof(crlf) - 1, "b", out), -EBADMSG);
out:
	return r;
}

/* The part is an offer the SDP code takes as it is, without its last line break. */
TEST(sdp_part_parses)
{
	static const char body[] =
	        "--q\r\nContent-Type: application/sdp\r\n\r\n"
	        "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\n"
	        "t=0 0\r\nm=audio 5004 RTP/AVP 8\r\n--q--\r\n";
	struct sb_sdp_offer o;
	const char *part;
	size_t n;
	int r = 0;

	ASSERT_EQ(sb_multipart_find_sdp(body, sizeof(body) - 1, "q", &part, &n), 0);
	ASSERT_EQ(sb_sdp_parse_offer(part, n, &o), 0);
	ASSERT_EQ(o.port, 5004);
	ASSERT_EQ(o.codec, SB_CODEC_PCMA);
out:
	return r;
}

TEST(no_sdp_or_cut_off)
{
	static const char isup_only[] =
	        "--x\r\nContent-Type: application/isup\r\n\r\nabc\r\n--x--\r\n";
	static const char cut[] = "--x\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio";
	static const char sdp_like[] = "--x\r\nContent-Type: application/sdpx\r\n\r\nv=0\r\n--x--";
	static const char in_body[] = "--x\r\nContent-Type: text/plain\r\n\r\n"
	                              "Content-Type: application/sdp\r\n--x--";
	char out[512];
	int r = 0;

	ASSERT_EQ(find(isup_only, strlen(isup_only), "x", out), -ENOENT);
	ASSERT_EQ(find(cut, strlen(cut), "x", out), -ENOENT);
	ASSERT_EQ(find(sdp_like, strlen(sdp_like), "x", out), -ENOENT);
	ASSERT_EQ(find(in_body, strlen(in_body), "x", out), -ENOENT); /* a header line in a body */
	ASSERT_EQ(find("", 0, "x", out), -EBADMSG);
	ASSERT_EQ(find("--x", 3, "", out), -EBADMSG);
out:
	return r;
}

TEST(nul_bytes)
{
	/* sofia-sip's msg_multipart_parse() aborts on this body */
	static const char body[] = "--b\r\nv=0\0\r\n--b--\r\n";
	static const char sdp_nul[] = "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\0x\r\n--b--";
	const char *part;
	size_t n;
	int r = 0;

	ASSERT_EQ(sb_multipart_find_sdp(body, sizeof(body) - 1, "b", &part, &n), -ENOENT);
	ASSERT_EQ(sb_multipart_find_sdp(sdp_nul, sizeof(sdp_nul) - 1, "b", &part, &n), 0);
	ASSERT_EQ(n, 5);
	ASSERT_MEMEQ(part, "v=0\0x", 5);
out:
	return r;
}

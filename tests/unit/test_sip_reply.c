/* Unit tests for sip_reply.c: stateless replies echo every Via in order (the topmost 32 of more),
 * From, To (with a tag added only when it has none), Call-ID and CSeq, unfold folded lines, accept
 * compact forms, and refuse ACKs, responses, incomplete requests and control characters. Also
 * builds a reply to every RFC 4475 torture message (tests/integration/data/rfc4475), and finds the
 * raw Call-ID, telling a section without one from one that has not all arrived. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <sb/sip_reply.h>

#include "harness.h"

#define CORPUS "../integration/data/rfc4475"

static int build(char *out, size_t size, const char *req, int status, const char *reason)
{
	return sb_sip_reply_build(out, size, req, strlen(req), status, reason, "sbtag1", NULL);
}

TEST(basic_invite)
{
	static const char req[] = "INVITE sip:+15550001@192.0.2.1 SIP/2.0\r\n"
	                          "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1\r\n"
	                          "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"
	                          "Max-Forwards: 70\r\n"
	                          "From: \"Eve\" <sip:eve@203.0.113.9>;tag=e1\r\n"
	                          "To: <sip:+15550001@192.0.2.1>\r\n"
	                          "Call-ID: abc@203.0.113.9\r\n"
	                          "CSeq: 7 INVITE\r\n"
	                          "Content-Type: application/sdp\r\n"
	                          "Content-Length: 4\r\n\r\nv=0\n";
	static const char want[] = "SIP/2.0 403 Forbidden\r\n"
	                           "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1\r\n"
	                           "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"
	                           "From: \"Eve\" <sip:eve@203.0.113.9>;tag=e1\r\n"
	                           "To: <sip:+15550001@192.0.2.1>;tag=sbtag1\r\n"
	                           "Call-ID: abc@203.0.113.9\r\n"
	                           "CSeq: 7 INVITE\r\n"
	                           "Content-Length: 0\r\n\r\n";
	char out[SB_SIP_REPLY_MAX], method[16];
	int r = 0, n;

	n = build(out, sizeof(out), req, 403, "Forbidden");
	ASSERT_EQ(n, (int)strlen(want));
	ASSERT_STREQ(out, want);
	/* Never larger than the request it answers: no amplification. */
	ASSERT_TRUE((size_t)n <= strlen(req));
	ASSERT_EQ(sb_sip_method(req, strlen(req), method, sizeof(method)), 6);
	ASSERT_STREQ(method, "INVITE");
out:
	return r;
}

TEST(compact_folded_and_tagged)
{
	static const char req[] = "OPTIONS sip:x@h SIP/2.0\n"
	                          "v: SIP/2.0/TCP h1;branch=z9hG4bKa,\n"
	                          " SIP/2.0/TCP h2;branch=z9hG4bKb\n"
	                          "f: <sip:a@h>;tag=1\n"
	                          "t  :   <sip:x@h;tag=notthis>  ;  TAG = 99  \n"
	                          "i: c1\n"
	                          "CSEQ: 1\n"
	                          "\tOPTIONS\n"
	                          "\n";
	static const char want[] =
	        "SIP/2.0 400 Bad Request\r\n"
	        "Via: SIP/2.0/TCP h1;branch=z9hG4bKa, SIP/2.0/TCP h2;branch=z9hG4bKb\r\n"
	        "From: <sip:a@h>;tag=1\r\n"
	        "To: <sip:x@h;tag=notthis>  ;  TAG = 99\r\n"
	        "Call-ID: c1\r\n"
	        "CSeq: 1 OPTIONS\r\n"
	        "Accept: application/sdp\r\n"
	        "Content-Length: 0\r\n\r\n";
	char out[SB_SIP_REPLY_MAX];
	int r = 0;

	ASSERT_EQ(sb_sip_reply_build(out, sizeof(out), req, strlen(req), 400, "Bad Request",
	                             "sbtag1", "Accept: application/sdp\r\n"),
	          (int)strlen(want));
	ASSERT_STREQ(out, want);
	/* A tag inside the <URI> is not the To tag: one is added. */
	ASSERT_TRUE(build(out, sizeof(out),
	                  "BYE sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: <sip:x;tag=1>\r\n"
	                  "Call-ID: c\r\nCSeq: 2 BYE\r\n\r\n",
	                  481, "Call Does Not Exist") > 0);
	ASSERT_TRUE(strstr(out, "To: <sip:x;tag=1>;tag=sbtag1\r\n") != NULL);
out:
	return r;
}

/* A request with more Via lines than a reply echoes still gets one, with the topmost in order. */
TEST(many_vias)
{
	char req[8192], out[SB_SIP_REPLY_MAX], via[64];
	size_t n = (size_t)snprintf(req, sizeof(req), "OPTIONS sip:x SIP/2.0\r\n");
	const char *p;
	int r = 0, len;

	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n,
		                      "v:SIP/2.0/TCP h%d;branch=z9hG4bK%d\r\n", i, i);
	n += (size_t)snprintf(
	        req + n, sizeof(req) - n,
	        "f: <sip:a@h>;tag=1\r\nt: <sip:x@h>\r\ni: c1\r\nCSeq: 1 OPTIONS\r\n\r\n");
	ASSERT_TRUE(n < sizeof(req) - 1);
	len = sb_sip_reply_build(out, sizeof(out), req, n, 400, "Too Many Headers", "t", NULL);
	ASSERT_TRUE(len > 0);
	p = out + strlen("SIP/2.0 400 Too Many Headers\r\n");
	for (int i = 0; i < 32; i++) {
		snprintf(via, sizeof(via), "Via: SIP/2.0/TCP h%d;branch=z9hG4bK%d\r\n", i, i);
		ASSERT_TRUE(strncmp(p, via, strlen(via)) == 0);
		p += strlen(via);
	}
	ASSERT_TRUE(strncmp(p, "From: <sip:a@h>;tag=1\r\n", 23) == 0);
	ASSERT_TRUE(strstr(out, "\r\nCall-ID: c1\r\n") != NULL);
out:
	return r;
}

TEST(refused)
{
	static const struct {
		const char *req;
		int want;
	} cases[] = {
	        /* ACK is never answered; a response is not a request */
	        {"ACK sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 "
	         "ACK\r\n\r\n",
	         -EBADMSG},
	        {"SIP/2.0 200 OK\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 X\r\n\r\n",
	         -EBADMSG},
	        /* each echoed header missing */
	        {"INVITE sip:x SIP/2.0\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 X\r\n\r\n",
	         -EBADMSG},
	        {"INVITE sip:x SIP/2.0\r\nVia: a\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 X\r\n\r\n",
	         -EBADMSG},
	        {"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nCall-ID: d\r\nCSeq: 1 X\r\n\r\n",
	         -EBADMSG},
	        {"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCSeq: 1 X\r\n\r\n",
	         -EBADMSG},
	        {"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\n\r\n",
	         -EBADMSG},
	        /* headers after the empty line are the body */
	        {"INVITE sip:x SIP/2.0\r\nVia: a\r\n\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 "
	         "X\r\n",
	         -EBADMSG},
	        {"", -EBADMSG},
	};
	char out[SB_SIP_REPLY_MAX];
	int r = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (build(out, sizeof(out), cases[i].req, 403, "Forbidden") != cases[i].want)
			FAIL_AT("case %zu", i);
	/* A reply that does not fit; a NUL inside a header value is echoed as it came. */
	ASSERT_EQ(build(out, 40,
	                "INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\n"
	                "CSeq: 1 X\r\n\r\n",
	                403, "Forbidden"),
	          -ENOSPC);
	ASSERT_EQ(sb_sip_reply_build(out, sizeof(out),
	                             "X s SIP/2.0\r\nVia: a\0b\r\nFrom: b\r\n"
	                             "To: c\r\nCall-ID: d\r\nCSeq: 1 X\r\n\r\n",
	                             60, 403, "Forbidden", "t", NULL),
	          99);
	ASSERT_MEMEQ(out, "SIP/2.0 403 Forbidden\r\nVia: a\0b\r\nFrom: b\r\nTo: c;tag=t\r\n", 55);
out:
	return r;
}

/* A reply is one status line, header lines ending in CRLF without a stray CR or LF, and the
 * empty line. */
static bool well_formed(const char *s, size_t n, int status)
{
	char head[16];

	snprintf(head, sizeof(head), "SIP/2.0 %d ", status);
	if (strncmp(s, head, strlen(head)) != 0 || n < 4 || memcmp(s + n - 4, "\r\n\r\n", 4) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '\r' && s[i + 1] != '\n') ||
		    (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')))
			return false;
	}
	return true;
}

TEST(rfc4475_corpus)
{
	DIR *d = opendir(CORPUS);
	struct dirent *e;
	char path[512], out[SB_SIP_REPLY_MAX];
	static char req[65536];
	unsigned files = 0, built = 0;
	int r = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		FILE *f;
		int n;

		if (len < 5 || strcmp(e->d_name + len - 4, ".dat") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", CORPUS, e->d_name);
		f = fopen(path, "rb");
		ASSERT_TRUE(f != NULL);
		len = fread(req, 1, sizeof(req), f);
		fclose(f);
		files++;
		n = sb_sip_reply_build(out, sizeof(out), req, len, 400, "Bad Request", "t1", NULL);
		if (n == -EBADMSG)
			continue;
		if (n < 0 || !well_formed(out, (size_t)n, 400))
			FAIL_AT("%s: reply %d not well formed:\n%s", e->d_name, n,
			        n > 0 ? out : "");
		built++;
	}
	/* 49 messages; the requests with all five headers get a reply (not insuf, not the
	 * responses). */
	ASSERT_TRUE(files >= 49);
	ASSERT_TRUE(built >= 35);
out:
	if (d)
		closedir(d);
	return r;
}

/* The buffer as sofia leaves it when the first line is parsed: a NUL over the first line's
 * CR (CRLF) or LF (bare LF), and blank lines before it skipped. */
TEST(as_sofia_leaves_it)
{
	static const char lf[] = "OPTIONS sip:x SIP/2.0\0Via: a\nFrom: b\nTo: c\nCall-ID: d\n"
	                         "CSeq: 1 OPTIONS\n\n";
	static const char crlf[] = "\r\n\r\nINVITE sip:x SIP/2.0\0\nVia: a\r\nFrom: b\r\nTo: c\r\n"
	                           "Call-ID: d\r\nCSeq: 1 INVITE\r\n\r\n";
	char out[SB_SIP_REPLY_MAX], method[16];
	int r = 0;

	ASSERT_TRUE(sb_sip_reply_build(out, sizeof(out), lf, sizeof(lf) - 1, 400, "Bad", "t",
	                               NULL) > 0);
	ASSERT_TRUE(strstr(out, "\r\nVia: a\r\n") != NULL);
	ASSERT_EQ(sb_sip_header_lines(lf, sizeof(lf) - 1, 100, NULL), 5);
	ASSERT_TRUE(sb_sip_reply_build(out, sizeof(out), crlf, sizeof(crlf) - 1, 403, "Forbidden",
	                               "t", NULL) > 0);
	ASSERT_TRUE(strstr(out, "\r\nCSeq: 1 INVITE\r\n") != NULL);
	ASSERT_EQ(sb_sip_method(crlf, sizeof(crlf) - 1, method, sizeof(method)), 6);
	ASSERT_STREQ(method, "INVITE");
	ASSERT_EQ(sb_sip_header_lines(crlf, sizeof(crlf) - 1, 100, NULL), 5);
out:
	return r;
}

TEST(header_lines)
{
	static const char req[] =
	        "X s SIP/2.0\r\nA: 1\r\n  folded\r\nB: 2\r\nC: 3\r\n\r\nD: body\r\n";
	bool ended = false;
	int r = 0;

	ASSERT_EQ(sb_sip_header_lines(req, strlen(req), 100, &ended), 3);
	ASSERT_TRUE(ended);
	ASSERT_EQ(sb_sip_header_lines(req, strlen(req), 1, &ended), 2); /* stops at limit + 1 */
	ASSERT_TRUE(!ended);
	ASSERT_EQ(sb_sip_header_lines("X s SIP/2.0", 11, 100, NULL), 0);
	ASSERT_EQ(sb_sip_header_lines("", 0, 100, NULL), 0);
	/* cut anywhere before the empty line (over TCP: a read), the section has not ended */
	for (size_t cut = 0; cut <= (size_t)(strstr(req, "\r\n\r\n") - req) + 2; cut++) {
		ended = true;
		sb_sip_header_lines(req, cut, 100, &ended);
		ASSERT_TRUE(!ended);
	}
	ASSERT_EQ(
	        sb_sip_header_lines(req, (size_t)(strstr(req, "\r\n\r\n") - req) + 3, 100, &ended),
	        3);
	ASSERT_TRUE(ended);
out:
	return r;
}

/* Call-ID as the guard reads it: compact or long, blanks trimmed, in the form sofia leaves the
 * buffer in; over TCP a header section that has not ended may still bring it. */
static int call_id(const char *req, size_t len, char *out, size_t size)
{
	const char *id = NULL;
	size_t n = 0;
	int r = sb_sip_call_id(req, len, &id, &n);

	if (r == 0)
		snprintf(out, size, "%.*s", (int)n, id);
	return r;
}

TEST(call_id)
{
	static const char full[] = "BYE sip:x SIP/2.0\0\nVia: a\r\nCALL-ID :  ab@c \t\r\n"
	                           "Call-ID: second\r\n\r\n";
	static const char compact[] = "BYE sip:x SIP/2.0\nv: a\ni:z9\n\n";
	static const char none[] = "BYE sip:x SIP/2.0\r\nVia: a\r\n\r\nCall-ID: in-body\r\n";
	static const char folded[] = "BYE sip:x SIP/2.0\r\nX-Call-ID: no\r\n  Call-ID: no\r\n\r\n";
	char id[64];
	int r = 0;

	ASSERT_EQ(call_id(full, sizeof(full) - 1, id, sizeof(id)), 0);
	ASSERT_STREQ(id, "ab@c");
	ASSERT_EQ(call_id(compact, sizeof(compact) - 1, id, sizeof(id)), 0);
	ASSERT_STREQ(id, "z9");
	ASSERT_EQ(call_id(none, sizeof(none) - 1, id, sizeof(id)), -ENOENT);
	ASSERT_EQ(call_id(folded, sizeof(folded) - 1, id, sizeof(id)), -ENOENT);
	/* cut short: before the header, and within its line (the value may go on) */
	ASSERT_EQ(call_id(full, 30, id, sizeof(id)), -EAGAIN);
	ASSERT_EQ(call_id(full, 38, id, sizeof(id)), -EAGAIN);
	ASSERT_EQ(call_id(full, 44, id, sizeof(id)), -EAGAIN);
	ASSERT_EQ(call_id(full, 45, id, sizeof(id)), 0);
	ASSERT_STREQ(id, "ab@c");
	ASSERT_EQ(call_id("", 0, id, sizeof(id)), -EAGAIN);
out:
	return r;
}

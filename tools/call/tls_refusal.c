/* Why sofia's TLS transport refused a server's certificate, read from its own log lines: the
 * transport closes such a connection without telling nua why (the INVITE fails as a bare
 * transport error), and its log is the only place the reason appears. Recognises the lines of
 * sofia-sip 1.12's tport_tls.c at log level 3: tls_verify_cb's block (OpenSSL's verification
 * error with the certificate's subject and issuer) and tls_post_connection_check's "Peer Subject
 * Mismatch (NAME)" for an outgoing connection; every other line (a SIP message's text among
 * them, with TPORT_LOG) is left alone: the lines are matched from their start.
 * Thread: any (pure). Owns nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

#define DEPTH_LINE "-Error with certificate at depth: "
#define ISSUER_LINE "  issuer   = "
#define SUBJECT_LINE "  subject  = "
#define ERR_LINE "  err "
#define CHECK_FN "tls_post_connection_check("
#define MISMATCH "): Peer Subject Mismatch ("

/* Copies the rest of a line (without its end of line) into dst; cut to fit. */
static void copy_rest(char *dst, size_t size, const char *src)
{
	size_t n = strcspn(src, "\r\n");

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool starts(const char *line, const char *prefix)
{
	return !strncmp(line, prefix, strlen(prefix));
}

/* "  err 10:certificate has expired": ends the block, which becomes the refusal. */
static void chain_error(struct sb_cl_tls_refusal *r, const char *text)
{
	char *end;
	long code = strtol(text, &end, 10);

	if (end == text || *end != ':' || code < 0 || code > 9999)
		return;
	r->seen = true;
	r->host[0] = '\0'; /* the block does not say which connection */
	copy_rest(r->reason, sizeof(r->reason), end + 1);
	r->depth = r->_depth;
	snprintf(r->subject, sizeof(r->subject), "%s", r->_subject);
	snprintf(r->issuer, sizeof(r->issuer), "%s", r->_issuer);
	r->_in_block = false;
}

/* "tls_post_connection_check(0x..): Peer Subject Mismatch (NAME)": NAME is the host the
 * connection was opened for; "(incoming connection)" is the other direction. */
static void mismatch(struct sb_cl_tls_refusal *r, const char *text)
{
	size_t n = strcspn(text, "\r\n");

	if (n < 2 || text[n - 1] != ')')
		return;
	n--;
	if (n == strlen("incoming connection") && !strncmp(text, "incoming connection", n))
		return;
	if (n > SB_CL_HOST_MAX)
		n = SB_CL_HOST_MAX;
	r->seen = true;
	memcpy(r->host, text, n);
	r->host[n] = '\0';
	snprintf(r->reason, sizeof(r->reason), "it does not name %s", r->host);
	r->depth = -1;
	r->subject[0] = r->issuer[0] = '\0';
}

void sb_cl_tls_refusal_feed(struct sb_cl_tls_refusal *r, const char *line)
{
	const char *m;

	if (starts(line, DEPTH_LINE)) {
		long depth = strtol(line + strlen(DEPTH_LINE), NULL, 10);

		r->_in_block = true;
		r->_depth = depth >= 0 && depth <= 100 ? (int)depth : 0;
		r->_subject[0] = r->_issuer[0] = '\0';
	} else if (r->_in_block && starts(line, ISSUER_LINE)) {
		copy_rest(r->_issuer, sizeof(r->_issuer), line + strlen(ISSUER_LINE));
	} else if (r->_in_block && starts(line, SUBJECT_LINE)) {
		copy_rest(r->_subject, sizeof(r->_subject), line + strlen(SUBJECT_LINE));
	} else if (r->_in_block && starts(line, ERR_LINE)) {
		chain_error(r, line + strlen(ERR_LINE));
	} else if (starts(line, CHECK_FN) && (m = strstr(line, MISMATCH)) != NULL) {
		mismatch(r, m + strlen(MISMATCH));
	}
}

int sb_cl_tls_refusal_text(const struct sb_cl_tls_refusal *r, const char *host, char *buf,
                           size_t size)
{
	int n;

	if (!r->seen)
		return -ENOENT;
	n = snprintf(buf, size, "the certificate of %s failed verification: %s",
	             r->host[0] ? r->host : host, r->reason);
	if (n < 0 || (size_t)n >= size || r->depth < 0 || (!r->subject[0] && !r->issuer[0]))
		return 0;
	if (r->depth > 0)
		snprintf(buf + n, size - (size_t)n,
		         " (at depth %d of its chain: subject %s, issuer %s)", r->depth, r->subject,
		         r->issuer);
	else
		snprintf(buf + n, size - (size_t)n, " (subject %s, issuer %s)", r->subject,
		         r->issuer);
	return 0;
}

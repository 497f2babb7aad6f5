/* A request's body as the bridge takes it: Accept must allow application/sdp when the answer
 * will carry SDP, and the SDP is an application/sdp body or the application/sdp part of a
 * multipart one (SIP-I/SIP-T carry ISUP beside it), split by the bridge's own bounded code.
 * Thread: control. Owns nothing: the SDP points into the request. */
#include <string.h>
#include <strings.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/sip.h>

#include <sb/multipart.h>

#include "sip_agent_priv.h"

static bool is_sdp(const char *type)
{
	return type && strcasecmp(type, "application/sdp") == 0;
}

/* RFC 3261 20.1: no Accept means application/sdp; otherwise one entry must cover it. */
static bool accepts_sdp(const sip_t *sip)
{
	if (!sip->sip_accept)
		return true;
	for (const sip_accept_t *a = sip->sip_accept; a; a = a->ac_next) {
		const char *t = a->ac_type;

		if (t &&
		    (is_sdp(t) || strcasecmp(t, "application/*") == 0 || strcmp(t, "*/*") == 0))
			return true;
	}
	return false;
}

/* The boundary among the Content-Type's parameters, or -EINVAL. */
static int boundary_of(const sip_content_type_t *ct, char *out)
{
	for (size_t i = 0; ct->c_params && ct->c_params[i]; i++) {
		int n = sb_multipart_boundary(ct->c_params[i], strlen(ct->c_params[i]), out);

		if (n > 0)
			return n;
	}
	return -EINVAL;
}

int sb_sip_body_sdp(const sip_t *sip, bool check_accept, const char **sdp, size_t *len)
{
	const sip_content_type_t *ct = sip->sip_content_type;
	const sip_payload_t *pl = sip->sip_payload;
	char boundary[SB_MULTIPART_BOUNDARY_MAX + 1];
	int r;

	*sdp = NULL;
	*len = 0;
	if (check_accept && !accepts_sdp(sip))
		return 406;
	if (!pl || !pl->pl_data || !pl->pl_len)
		return 0; /* no SDP: a delayed offer, or an ACK without an answer */
	if (!ct || !ct->c_type)
		return 415;
	if (is_sdp(ct->c_type)) {
		*sdp = pl->pl_data;
		*len = pl->pl_len;
		return 0;
	}
	if (strncasecmp(ct->c_type, "multipart/", 10) != 0)
		return 415;
	if (boundary_of(ct, boundary) < 0)
		return 400;
	r = sb_multipart_find_sdp(pl->pl_data, pl->pl_len, boundary, sdp, len);
	return r == 0 ? 0 : r == -ENOENT ? 415 : 400;
}

/* An INVITE's body as the bridge takes it: Accept must allow application/sdp (the 200 OK
 * carries SDP), and the offer is an application/sdp body or the application/sdp part of a
 * multipart one (SIP-I/SIP-T INVITEs carry ISUP beside it). Thread: control. Owns nothing:
 * parts live in the caller's home. */
#include <string.h>
#include <strings.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/msg_mime.h>
#include <sofia-sip/sip.h>

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

/* The first application/sdp part of a multipart body, depth first. */
static const msg_multipart_t *sdp_part(const msg_multipart_t *mp, unsigned depth)
{
	for (; mp && depth < 4; mp = mp->mp_next) {
		const msg_multipart_t *in;

		if (mp->mp_content_type && is_sdp(mp->mp_content_type->c_type) && mp->mp_payload)
			return mp;
		in = sdp_part(mp->mp_multipart, depth + 1);
		if (in)
			return in;
	}
	return NULL;
}

int sb_sip_invite_sdp(const sip_t *sip, su_home_t *home, const char **sdp, size_t *len)
{
	const sip_content_type_t *ct = sip->sip_content_type;
	const sip_payload_t *pl = sip->sip_payload;
	const msg_multipart_t *mp, *part;

	*sdp = NULL;
	*len = 0;
	if (!accepts_sdp(sip))
		return 406;
	if (!pl || !pl->pl_data || !pl->pl_len)
		return 0; /* a delayed offer */
	if (!ct || !ct->c_type)
		return 415;
	if (is_sdp(ct->c_type)) {
		*sdp = pl->pl_data;
		*len = pl->pl_len;
		return 0;
	}
	if (strncasecmp(ct->c_type, "multipart/", 10) != 0)
		return 415;
	/* nua may have split the parts already */
	mp = sip->sip_multipart ? sip->sip_multipart
	                        : msg_multipart_parse(home, ct, (sip_payload_t *)pl);
	if (!mp)
		return 400;
	part = sdp_part(mp, 0);
	if (!part)
		return 415;
	*sdp = part->mp_payload->pl_data;
	*len = part->mp_payload->pl_len;
	return 0;
}

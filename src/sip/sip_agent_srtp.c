/* SDES-SRTP on the control thread: applies rtp.srtp (or the trunk's srtp) to an INVITE's
 * offer, makes our own key, follows the caller's key through re-INVITEs, and hands both keys
 * to the media leg in the attach message, wiping the call's copy. Keys are never logged.
 * Thread: control. Owns nothing beyond the call's key fields. */
#include <errno.h>
#include <string.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_string.h>

#include <sb/msg.h>

#include "sip_agent_priv.h"

/* Whether the request came over TLS, as its top Via says (the transport its sender used). */
static bool over_tls(const sip_t *sip)
{
	return sip && sip->sip_via && sip->sip_via->v_protocol &&
	       su_casematch(sip->sip_via->v_protocol, sip_transport_tls);
}

/* SDES keys in this request may be used: they came encrypted, or the operator takes clear
 * text ones (with a warning: anyone on the path can read them). */
static bool keys_allowed(const struct sb_config *cfg, const sip_t *sip,
                         const struct sb_sdp_offer *o)
{
	if (o->crypto.suite == SB_SRTP_NONE || !o->savp || over_tls(sip))
		return true;
	if (cfg->srtp_over_udp) {
		log_warn_ratelimited("SDES-SRTP offered over plain SIP, taken (rtp.srtp_over_udp): "
		                     "SDES keys sent in clear text protect nothing");
		return true;
	}
	log_notice("SDES-SRTP offered over plain SIP: treated as no crypto (keys in clear text; "
	           "rtp.srtp_over_udp = false)");
	return false;
}

int sb_sip_srtp_offer(const struct sb_config *cfg, const struct sb_trunk *t, const sip_t *sip,
                      struct sb_sdp_offer *o, bool late, const char **why)
{
	int r;

	if (late) {
		if (t->srtp != SB_SRTP_MODE_REQUIRED)
			return 0;
		*why = "SRTP required: an INVITE without an SDP offer is not taken";
		return 488;
	}
	r = sb_sdp_crypto_decide(o->savp, &o->crypto, t->srtp, keys_allowed(cfg, sip, o));
	if (r == -ENOTSUP) {
		*why = "SRTP required: RTP/SAVP with a usable a=crypto";
		return 488;
	}
	if (r < 0) {
		*why = t->srtp == SB_SRTP_MODE_OFF
		               ? "SRTP is off: RTP/AVP only"
		               : "RTP/SAVP without usable crypto (AES_CM_128_HMAC_SHA1_80 or _32)";
		return 488;
	}
	o->srtp = r == 1;
	if (o->srtp && sb_srtp_random_key(&o->local) < 0) {
		*why = "no random key for SRTP";
		return 500;
	}
	return 0;
}

void sb_sip_srtp_attach(struct sb_call *c, struct sb_media_attach *at)
{
	if (c->offer.srtp) {
		at->srtp.suite = c->offer.crypto.suite;
		at->srtp.rx = c->offer.crypto.key;
		at->srtp.tx = c->offer.local;
	}
	/* The media leg gets them from here on; control keeps the copy in offer_now, which a
	 * re-INVITE's answer repeats. */
	sb_srtp_wipe(&c->offer.crypto, sizeof(c->offer.crypto));
	sb_srtp_wipe(&c->offer.local, sizeof(c->offer.local));
}

int sb_sip_srtp_reoffer(const struct sb_call *c, const sip_t *sip, struct sb_sdp_offer *o,
                        struct sb_media_update *u)
{
	const struct sb_sdp_offer *now = &c->offer_now;

	if (!now->srtp) { /* a plain call stays plain */
		sb_srtp_wipe(&o->crypto, sizeof(o->crypto));
		o->srtp = false;
		return o->savp ? -EPROTONOSUPPORT : 0;
	}
	if (!o->savp || !keys_allowed(c->cfg, sip, o) || o->crypto.suite != now->crypto.suite) {
		sb_srtp_wipe(&o->crypto, sizeof(o->crypto));
		return -EPROTONOSUPPORT;
	}
	o->srtp = true;
	o->local = now->local; /* our key stays: what we send does not change */
	u->rekey = memcmp(&o->crypto.key, &now->crypto.key, sizeof(o->crypto.key)) != 0;
	if (u->rekey)
		u->rx = o->crypto.key;
	return 0;
}

void sb_sip_srtp_wipe(struct sb_sdp_offer *o)
{
	sb_srtp_wipe(&o->crypto, sizeof(o->crypto));
	sb_srtp_wipe(&o->local, sizeof(o->local));
}

/* Screens a new INVITE in the order the spec sets (ACL → DID → bot → limits → SDP → RTP
 * port) and, when everything passes, creates the call, answers 180 and asks a ws worker to
 * connect the bot. A rejected INVITE costs no allocation before the ACL check.
 * Thread: control. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_string.h>

#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/route.h>
#include <sb/rtp_session.h>
#include <sb/ws_worker.h>

#include "sip_agent_priv.h"

#define MAX_HEADERS 32 /* unknown headers looked at per INVITE */
#define MAX_PARAMS 8
#define MAX_USER_BYTES 128 /* request-URI, From and To user parts */

static void reject(nua_handle_t *nh, int status, const char *phrase, const char *warning)
{
	char w[160];

	if (warning) {
		snprintf(w, sizeof(w), "399 sipbridge \"%s\"", warning);
		nua_respond(nh, status, phrase, SIPTAG_WARNING_STR(w),
		            TAG_IF(status == 503, SIPTAG_RETRY_AFTER_STR("5")), TAG_END());
		sb_metric_sip_response(status);
	} else {
		nua_respond(nh, status, phrase, TAG_IF(status == 503, SIPTAG_RETRY_AFTER_STR("5")),
		            TAG_END());
		sb_metric_sip_response(status);
	}
	nua_handle_destroy(nh);
}

static bool users_bounded(const sip_t *sip)
{
	const char *users[] = {
	        sip->sip_request ? sip->sip_request->rq_url->url_user : NULL,
	        sip->sip_from ? sip->sip_from->a_url->url_user : NULL,
	        sip->sip_to ? sip->sip_to->a_url->url_user : NULL,
	};

	for (size_t i = 0; i < ARRAY_SIZE(users); i++)
		if (users[i] && strlen(users[i]) > MAX_USER_BYTES)
			return false;
	return true;
}

static bool over_limits(struct sb_sip_agent *a, const struct sb_config *cfg, const char **why)
{
	int64_t now = sb_now_ms();

	if (a->stopping || a->draining) {
		*why = a->stopping ? "shutting down" : "draining";
		return true;
	}
	/* Calls whose dialog is over do not count: the far end has them as ended, and the
	 * bot's close handshake that keeps them here is bounded by its own grace time. */
	if (a->n_calls - a->n_ending >= (unsigned)cfg->max_calls) {
		*why = "limits.max_calls reached";
		return true;
	}
	if (now - a->cps_window_ms >= 1000) {
		a->cps_window_ms = now;
		a->cps_count = 0;
	}
	if (a->cps_count >= (unsigned)cfg->max_cps) {
		*why = "limits.max_cps reached";
		return true;
	}
	a->cps_count++;
	return false;
}

/* Rejects a body the bridge cannot take: 406, 415 (with Accept: application/sdp) or 400. */
static void reject_body(nua_handle_t *nh, int status)
{
	if (status == 415) {
		log_notice("INVITE body is not SDP and holds no SDP part, rejecting with 415");
		nua_respond(nh, SIP_415_UNSUPPORTED_MEDIA, SIPTAG_ACCEPT_STR("application/sdp"),
		            TAG_END());
		sb_metric_sip_response(415);
		nua_handle_destroy(nh);
	} else if (status == 406) {
		log_notice("INVITE Accept excludes application/sdp, rejecting with 406");
		reject(nh, SIP_406_NOT_ACCEPTABLE, "the answer is application/sdp");
	} else {
		log_notice(
		        "INVITE with a multipart body that cannot be parsed, rejecting with 400");
		reject(nh, SIP_400_BAD_REQUEST, "malformed multipart body");
	}
}

/* Parses the offer. An INVITE without one (delayed offer) is fine: the 200 OK then carries
 * the bridge's offer and the ACK the answer. On failure responds and returns the status. */
static int check_offer(nua_handle_t *nh, const sip_t *sip, const struct sockaddr *src,
                       struct sb_sdp_offer *offer, bool *late)
{
	const char *sdp;
	size_t len;
	int r;

	r = sb_sip_body_sdp(sip, true, &sdp, &len);
	if (r > 0) {
		reject_body(nh, r);
		return r;
	}
	*late = sdp == NULL;
	if (*late) {
		memset(offer, 0, sizeof(*offer));
		offer->te_pt = -1; /* known once the ACK brings the answer */
		offer->family = src->sa_family == AF_INET6 ? AF_INET6 : AF_INET;
		return 0;
	}
	r = sb_sdp_parse_offer(sdp, len, offer);
	if (r == -EBADMSG) {
		log_notice("INVITE with malformed SDP, rejecting with 400");
		reject(nh, SIP_400_BAD_REQUEST, "malformed SDP");
		return 400;
	}
	if (r < 0 || offer->port == 0) {
		log_notice("INVITE offer not acceptable (%s), rejecting with 488",
		           r < 0 ? sb_sdp_parse_problem(r) : "port 0");
		reject(nh, SIP_488_NOT_ACCEPTABLE,
		       r == -ENOTSUP         ? "no common codec (PCMU, PCMA)"
		       : r == -EADDRNOTAVAIL ? "multicast or broadcast media address"
		                             : "unsupported media");
		return 488;
	}
	return 0;
}

/* The address put in the SDP: rtp.public_address, else rtp.address unless it is a wildcard,
 * else the local address that routes to `toward` (the caller's media or SIP address). */
static int pick_local_addr(const struct sb_config *cfg, struct sb_call *c, const char *toward)
{
	const char *a = cfg->rtp_public_address;

	if (!a[0] && !sb_addr_unspecified(cfg->rtp_address))
		a = cfg->rtp_address;
	if (a[0]) {
		snprintf(c->local_addr, sizeof(c->local_addr), "%s", a);
		return 0;
	}
	return sb_local_addr_for(c->offer.family, toward, c->local_addr, sizeof(c->local_addr));
}

static int fill_call(struct sb_sip_agent *a, struct sb_call *c, const sip_t *sip,
                     const struct sb_kv *hdrs, size_t n_hdrs)
{
	struct sb_kv params[MAX_PARAMS];
	size_t n_params, dropped = 0;
	const char *acct = c->trunk->name;
	const char *to = sip->sip_to && sip->sip_to->a_url->url_user
	                         ? sip->sip_to->a_url->url_user
	                         : sip->sip_request->rq_url->url_user;
	const char *from = sip->sip_from ? sip->sip_from->a_url->url_user : NULL;

	n_params = sb_route_custom_params(hdrs, n_hdrs, params, MAX_PARAMS, &dropped);
	if (dropped)
		log_notice("%zu X- header(s) not passed to the bot (reserved, over size or count)",
		           dropped);
	for (size_t i = 0; i < n_params; i++)
		if (strcasecmp(params[i].name, "X-Account-Sid") == 0)
			acct = params[i].value;
	c->sip_call_id = strdup(sip->sip_call_id ? sip->sip_call_id->i_id : "");
	c->from_user = strdup(from ? from : "");
	c->to_user = strdup(to ? to : "");
	c->account_sid = strdup(acct);
	if (!c->sip_call_id || !c->from_user || !c->to_user || !c->account_sid ||
	    sb_call_set_params(c, params, n_params) < 0)
		return -ENOMEM;
	c->media_idx = a->next_media++ % a->d->n_media;
	c->ws_idx = a->next_ws++ % a->d->n_ws;
	c->t_invite_ms = sb_now_ms();
	c->wall_invite_ms = sb_wall_ms();
	return 0;
}

/* What screening learnt about an INVITE that passed. */
struct screened {
	const sip_t *sip;
	struct sb_route_out route;
	struct sb_sdp_offer offer;
	bool late;                  /* no SDP: delayed offer */
	char src[INET6_ADDRSTRLEN]; /* the INVITE's source address */
	const struct sockaddr *src_sa;
	struct sb_kv hdrs[MAX_HEADERS];
	size_t n_hdrs;
};

/* The family of the bridge's own offer, for an INVITE without one: the caller's (its
 * signalling's), unless the address it offers (rtp.public_address, else rtp.address) is
 * of the other family. */
static int own_offer_family(const struct sb_config *cfg, int caller)
{
	const char *a = cfg->rtp_public_address[0] ? cfg->rtp_public_address : cfg->rtp_address;

	if (sb_addr_unspecified(a))
		return caller;
	return strchr(a, ':') ? AF_INET6 : AF_INET;
}

static int open_media(struct sb_call *c, const struct screened *in)
{
	int fd, r;

	if (in->late) {
		c->offer.family = own_offer_family(c->cfg, c->offer.family);
	} else {
		r = sb_sockaddr_make(c->offer.family, c->offer.addr, c->offer.port, &c->remote_rtp,
		                     &c->remote_rtp_len);
		if (r < 0)
			return r;
	}
	r = pick_local_addr(c->cfg, c, in->late ? in->src : sb_sdp_media_peer(&c->offer, in->src));
	if (r < 0)
		return r;
	fd = sb_rtp_socket_open(c->cfg, c->offer.family, &c->local_port, &c->rtcp_fd);
	if (fd < 0)
		return fd;
	c->rtp_fd = fd;
	return 0;
}

/* Our Contact where nua's own choice would be wrong (sb_sip_listen_contact()): a call over
 * TLS names the TLS listener, one over TCP the udp/tcp one with transport=tcp, one over UDP
 * beside a TLS listener the udp/tcp one. A caller over TLS with a sips: Contact gets nua's
 * sips: one. A listener bound to a wildcard is named by our address that routes to the
 * INVITE's source (src), which is where the caller (or the proxy before it) reached us. */
static void call_contact(const struct sb_sip_agent *a, const sip_t *sip, const char *src, char *buf,
                         size_t size)
{
	const sip_via_t *v = sip->sip_via;
	const sip_contact_t *m = sip->sip_contact;
	enum sb_transport tp = SB_TP_UDP;

	buf[0] = '\0';
	if (!v)
		return;
	if (su_casematch(v->v_protocol, sip_transport_tls))
		tp = SB_TP_TLS;
	else if (su_casematch(v->v_protocol, sip_transport_tcp))
		tp = SB_TP_TCP;
	if (tp == SB_TP_TLS && m && m->m_url->url_type == url_sips)
		return;
	sb_sip_listen_contact(&a->listen, a->d->cfg->sip_public_address, tp, src, buf, size);
}

/* Session timers, which RFC 4028 lets the answerer do without unless the caller requires
 * them. The bridge refreshes with UPDATE, so it does without where it would be the refresher
 * of a caller that does not take UPDATE (a 501 or 405, then the call is over): a caller
 * without session timers, which leaves the refreshes to the bridge, and one that names the
 * bridge (refresher=uas) but does not allow UPDATE. One that requires them gets re-INVITEs
 * (sip_agent_refresh.c). nua puts such a caller's Session-Expires
 * in the 200 while the handle lists timer in Supported, so that goes too; a re-INVITE that
 * requires timer then gets 420. */
static void choose_session_timer(nua_handle_t *nh, const sip_t *sip)
{
	const sip_session_expires_t *x = sip->sip_session_expires;

	if (sip_has_feature(sip->sip_require, "timer"))
		return; /* a refresher without UPDATE: sb_sip_refresh_choose() */
	if (!sip_has_feature(sip->sip_supported, "timer"))
		nua_set_hparams(nh, NUTAG_SESSION_TIMER(0), TAG_END());
	else if (x && x->x_refresher && su_casematch(x->x_refresher, "uas") &&
	         !SIP_IS_ALLOWED(sip->sip_allow, sip_method_update))
		nua_set_hparams(nh, NUTAG_SESSION_TIMER(0), SIPTAG_SUPPORTED_STR("100rel"),
		                TAG_END());
}

/* Returns 0 once the call runs, or the status the INVITE was rejected with. */
static int start_call(struct sb_sip_agent *a, nua_handle_t *nh, const struct screened *in)
{
	struct sb_call *c = NULL;
	struct sb_msg *m;
	int r;

	if (sb_call_new(&c) < 0) {
		reject(nh, SIP_503_SERVICE_UNAVAILABLE, "out of memory");
		return 503;
	}
	c->cfg = sb_config_ref(a->d->cfg);
	c->trunk = in->route.trunk;
	c->bot = in->route.bot;
	c->offer = in->offer;
	c->late_offer = in->late;
	call_contact(a, in->sip, in->src, c->contact, sizeof(c->contact));
	c->sig_src_len = in->src_sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                   : sizeof(struct sockaddr_in);
	memcpy(&c->sig_src, in->src_sa, c->sig_src_len);
	r = fill_call(a, c, in->sip, in->hdrs, in->n_hdrs);
	if (r == 0)
		r = open_media(c, in);
	if (r == -EAFNOSUPPORT) {
		/* No retry can help: not 503, which sends the caller (or its proxy) elsewhere and
		 * back again. */
		log_notice("INVITE from %s offers %s media, which rtp.address %s cannot serve, "
		           "rejecting with 488",
		           in->src, c->offer.family == AF_INET6 ? "IPv6" : "IPv4",
		           c->cfg->rtp_address);
		reject(nh, SIP_488_NOT_ACCEPTABLE,
		       c->offer.family == AF_INET6 ? "no IPv6 media address"
		                                   : "no IPv4 media address");
		sb_call_unref(c);
		return 488;
	}
	m = r == 0 ? sb_msg_new(SB_MSG_BOT_CONNECT, c, 0) : NULL;
	if (!m) {
		log_error("Cannot set up media for a call from %s (%s), rejecting with 503",
		          in->src, r < 0 ? strerror(-r) : "out of memory");
		reject(nh, SIP_503_SERVICE_UNAVAILABLE,
		       r == -EADDRNOTAVAIL ? "no free RTP port" : "media setup failed");
		sb_call_unref(c);
		return 503;
	}
	c->nh = nh;
	nua_handle_bind(nh, c);
	choose_session_timer(nh, in->sip);
	c->refresh_by_invite = sb_sip_refresh_choose(nh, in->sip);
	sb_sip_register(a, c);
	sb_log_ctx_set(c->id);
	log_info("INVITE %s -> %s (Call-ID %s): trunk %s, bot %s, %s%s%s", c->from_user, c->to_user,
	         c->sip_call_id, c->trunk->name, c->bot->name,
	         in->late ? "delayed offer" : sb_codec_name(in->offer.codec),
	         in->offer.srtp ? ", SRTP " : "", sb_srtp_suite_name(in->offer.crypto.suite));
	nua_respond(nh, SIP_180_RINGING, TAG_IF(c->contact[0], SIPTAG_CONTACT_STR(c->contact)),
	            TAG_END());
	sb_metric_sip_response(180);
	c->ws_attached = true;
	sb_ws_worker_post(a->d->ws[c->ws_idx], m);
	sb_log_ctx_set(NULL);
	return 0;
}

/* The checks after the ACL (routed is sb_route_select's result). Returns 0 once the call
 * runs, or the status the INVITE was rejected with. */
static int admit(struct sb_sip_agent *a, nua_handle_t *nh, struct screened *in,
                 const struct sb_route_in *rin, int routed)
{
	const sip_t *sip = in->sip;
	const char *why;
	int status;

	/* A malformed request is refused as such, whatever it asks for. */
	if (sip->sip_request && sip->sip_request->rq_url->url_headers) {
		/* "?Route=..." in a request-URI is for building a request, never in one. */
		log_notice("INVITE from %s: headers in the request-URI, 400", in->src);
		reject(nh, SIP_400_BAD_REQUEST, "headers in the Request-URI");
		return 400;
	}
	if (!users_bounded(sip)) {
		log_notice("INVITE from %s: a user part is over %d bytes, 400", in->src,
		           MAX_USER_BYTES);
		reject(nh, SIP_400_BAD_REQUEST, "user part too long");
		return 400;
	}
	if (routed != 0) {
		log_notice("INVITE from %s to %s: no trunk number or bot matches, 404", in->src,
		           rin->ruri_user ? rin->ruri_user : "?");
		reject(nh, SIP_404_NOT_FOUND, "no matching number or bot");
		return 404;
	}
	if (over_limits(a, a->d->cfg, &why)) {
		log_warn_ratelimited("INVITE rejected with 503: %s", why);
		reject(nh, SIP_503_SERVICE_UNAVAILABLE, why);
		return 503;
	}
	status = check_offer(nh, sip, rin->src, &in->offer, &in->late);
	if (status)
		return status;
	status = sb_sip_srtp_offer(a->d->cfg, in->route.trunk, sip, &in->offer, in->late, &why);
	if (status) {
		log_notice("INVITE from %s: %s, rejecting with %d", in->src, why, status);
		if (status == 488)
			reject(nh, SIP_488_NOT_ACCEPTABLE, why);
		else
			reject(nh, SIP_500_INTERNAL_SERVER_ERROR, why);
		return status;
	}
	return start_call(a, nh, in);
}

/* The headers a bot is always given, the routing one and the UUI. */
static bool key_header(const char *name)
{
	return su_casematch(name, "X-Customer-Header") || su_casematch(name, "X-UUI");
}

void sb_sip_on_invite(struct sb_sip_agent *a, nua_handle_t *nh, const sip_t *sip)
{
	const struct sb_config *cfg = a->d->cfg;
	struct screened in = {.sip = sip};
	struct sb_route_in rin = {0};
	su_sockaddr_t *su = msg_addr(nua_current_request(a->nua));
	int status;

	rin.src = in.src_sa = &su->su_sa;
	rin.ruri_user = sip->sip_request ? sip->sip_request->rq_url->url_user : NULL;
	rin.to_user = sip->sip_to ? sip->sip_to->a_url->url_user : NULL;
	/* MAX_HEADERS are kept for the bot and the call's record: first the routing header and
	 * the UUI wherever they stand (sip.max_headers bounds the list), then the others. */
	for (int pass = 0; pass < 2; pass++) {
		for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next) {
			if (!u->un_name || !u->un_value || key_header(u->un_name) != (pass == 0))
				continue;
			if (in.n_hdrs < MAX_HEADERS)
				in.hdrs[in.n_hdrs++] = (struct sb_kv){u->un_name, u->un_value};
			if (!rin.customer_header && su_casematch(u->un_name, "X-Customer-Header"))
				rin.customer_header = u->un_value;
		}
	}
	status = sb_route_select(cfg, &rin, &in.route);
	sb_sockaddr_text(rin.src, in.src, sizeof(in.src));
	/* A source outside every ACL learns nothing but 403. The guard refuses those before
	 * nua; this stays as the fallback for one it could not place (no source address). */
	if (status == 403) {
		log_warn_ratelimited("INVITE from %s: not in any trunk's ACL, 403", in.src);
		reject(nh, SIP_403_FORBIDDEN, NULL);
		sb_sip_admin_rejected(403, NULL);
		return;
	}
	status = admit(a, nh, &in, &rin, status);
	sb_sip_srtp_wipe(&in.offer); /* the call has its copy */
	/* From a trunk's address: the INVITE has a call-end record even when refused. */
	if (status) {
		sb_sip_admin_rejected(status, &in.route);
		sb_sip_record_reject(a, sip, &in.route, in.hdrs, in.n_hdrs, status);
	}
}

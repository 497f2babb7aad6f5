/* The SIP side of sipbridge-call: sofia's su_root with nua on this one thread, the INVITE
 * with the offer and the --header lines (sent to the --to host name's resolved address when
 * there is one), the answer starting the media, CANCEL on --timeout, BYE at --duration, and a
 * BYE from the far end ending the call. The media sockets are watched in the same root.
 * Thread: main. Owns the root, nua and the call's handle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SU_ROOT_MAGIC_T struct sb_cl_app
#define SU_WAKEUP_ARG_T struct sb_cl_app
#define NUA_MAGIC_T struct sb_cl_app
#define NUA_HMAGIC_T struct sb_cl_app

#include <sofia-sip/nta.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>

#include "build_config.h"
#include "call.h"

#define SDP_MAX 1024
#define PROXY_MAX (SB_CL_HOST_MAX + 128) /* the proxy URL: the --to host, port, maddr */
#define HEADERS_MAX (SB_CL_MAX_HEADERS * (SB_CL_HEADER_MAX + 2) + 1)
#define CANCEL_WAIT_MS 2000 /* a CANCEL's answer is waited for this long */
#define SHUTDOWN_WAIT_MS 1000

extern su_log_t nua_log[], nta_log[], tport_log[];

void sb_cl_verbose(const struct sb_cl_app *a, const char *fmt, ...)
{
	va_list ap;

	if (!a->opts->verbose)
		return;
	fputs(SB_CL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void set_reason(struct sb_cl_app *a, int code, const char *reason)
{
	a->res.code = code;
	snprintf(a->res.reason, sizeof(a->res.reason), "%s", reason ? reason : "");
}

static void done(struct sb_cl_app *a, int64_t now_ms)
{
	if (a->state == SB_CL_ST_DONE)
		return;
	if (a->res.answered && !a->end_ms)
		a->end_ms = now_ms;
	a->state = SB_CL_ST_DONE;
}

/* A 2xx: the media starts on the answer, or the call is hung up when it is unusable. */
static void answered(struct sb_cl_app *a, int status, const char *phrase, const sip_t *sip)
{
	const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
	struct sb_sdp_offer ans;
	const char *why = "the 200 OK has no SDP";
	int64_t now_us = sb_now_us();
	bool cancelling;
	int r = -EBADMSG;

	set_reason(a, status, phrase);
	a->res.answered = true;
	a->answer_ms = now_us / 1000;
	if (pl && pl->pl_data)
		r = sb_cl_sdp_answer(pl->pl_data, pl->pl_len, a->opts->codec, a->opts->srtp, &ans,
		                     &why);
	if (pl && pl->pl_data)
		sb_cl_verbose(a, "answer SDP:\n%.*s", (int)pl->pl_len, pl->pl_data);
	if (r == 0) {
		r = sb_cl_media_start(&a->media, &ans, now_us);
		why = "the answer's media address is of another family than --local";
	}
	if (r == 0) {
		r = sb_cl_srtp_start(&a->media, &ans, now_us);
		why = "cannot set up SRTP with the answer's key";
	}
	/* An answer that raced our CANCEL is hung up at once, as is one that cannot be used. */
	cancelling = a->state == SB_CL_ST_CANCELLING;
	a->state = SB_CL_ST_ACTIVE;
	if (r < 0 || cancelling) {
		if (r < 0)
			snprintf(a->failure, sizeof(a->failure), "%s", why);
		sb_cl_sip_hangup(a, now_us / 1000);
		return;
	}
	a->media.next_digit_us = now_us + (int64_t)(a->opts->dtmf_at_s * 1e6);
	sb_cl_verbose(a, "answered %d %s: %s, telephone-event %d, RTP to %s:%u", status, phrase,
	              sb_codec_name(ans.codec), ans.te_pt, ans.addr, ans.port);
}

/* Whether the event's response was made up by the SIP stack (no answer came: the request
 * could not be sent, or timer B ran out) rather than received. */
static bool made_up(nua_t *nua, const sip_t *sip)
{
	nua_saved_event_t saved[1];
	const nua_event_data_t *d;
	bool internal = !sip;

	if (sip && nua_save_event(nua, saved)) {
		d = nua_event_data(saved);
		internal = d && d->e_msg && nta_is_internal_msg(d->e_msg);
		nua_destroy_event(saved);
	}
	return internal;
}

/* The INVITE could not be sent: when sofia's TLS refused the server's certificate (its log said
 * so), that is the reason given instead of a bare transport error. */
static void transport_error(struct sb_cl_app *a)
{
	set_reason(a, 0, "transport error");
	if (a->opts->tls)
		sb_cl_tls_refusal_text(&a->tls_refusal, a->to_host, a->tls_refused,
		                       sizeof(a->tls_refused));
}

/* A final answer that is not 2xx. */
static void rejected(struct sb_cl_app *a, int status, const char *phrase, bool internal)
{
	if (a->state == SB_CL_ST_CALLING) {
		if (!internal)
			set_reason(a, status, phrase);
		else if (status == 408)
			set_reason(a, 0, "timeout");
		else
			transport_error(a);
		sb_cl_verbose(a, "final answer %d %s%s", status, phrase,
		              internal ? " (from the SIP stack itself: nothing came back)" : "");
	}
	done(a, sb_now_ms());
}

static void on_invite_reply(struct sb_cl_app *a, nua_t *nua, int status, const char *phrase,
                            const sip_t *sip)
{
	if (status < 200) {
		a->provisional = true;
		sb_cl_verbose(a, "%d %s", status, phrase);
	} else if (status < 300) {
		if (a->state == SB_CL_ST_CALLING || a->state == SB_CL_ST_CANCELLING)
			answered(a, status, phrase, sip);
	} else if (a->state == SB_CL_ST_CALLING || a->state == SB_CL_ST_CANCELLING) {
		char copy[sizeof(a->res.reason)];

		/* made_up() frees the event, phrase included */
		snprintf(copy, sizeof(copy), "%s", phrase ? phrase : "");
		rejected(a, status, copy, made_up(nua, sip));
	}
}

/* The final answer to our BYE: the call is over. One the SIP stack made up is its own 408
 * (timer F) or a transport that could not deliver the BYE. */
static void on_bye_reply(struct sb_cl_app *a, nua_t *nua, int status, const char *phrase,
                         const sip_t *sip)
{
	char copy[sizeof(a->res.bye_reason)];
	bool internal;

	/* made_up() frees the event, phrase included */
	snprintf(copy, sizeof(copy), "%s", phrase ? phrase : "");
	internal = made_up(nua, sip);
	if (a->res.bye == SB_CL_BYE_PENDING) {
		if (!internal) {
			a->res.bye = SB_CL_BYE_ANSWERED;
			a->res.bye_code = status;
			snprintf(a->res.bye_reason, sizeof(a->res.bye_reason), "%s", copy);
		} else {
			a->res.bye = status == 408 ? SB_CL_BYE_TIMEOUT : SB_CL_BYE_TRANSPORT;
		}
	}
	sb_cl_verbose(a, "BYE answered %d %s%s", status, copy,
	              internal ? " (from the SIP stack itself: nothing came back)" : "");
	done(a, a->end_ms ? a->end_ms : sb_now_ms());
}

static void on_nua_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
                         struct sb_cl_app *a, nua_handle_t *nh, struct sb_cl_app *h,
                         sip_t const *sip, tagi_t tags[])
{
	int state = -1;

	(void)h;
	switch (event) {
	case nua_r_invite:
		on_invite_reply(a, nua, status, phrase, sip);
		break;
	case nua_i_bye:
		if (a->state == SB_CL_ST_ACTIVE) {
			a->res.hangup = SB_CL_HANGUP_REMOTE;
			sb_cl_verbose(a, "BYE from the far end");
		} else if (a->res.bye == SB_CL_BYE_PENDING) {
			/* glare: the far end ended it too; what ours gets does not matter */
			a->res.bye = SB_CL_BYE_CROSSED;
			sb_cl_verbose(a, "BYE from the far end, crossing ours");
		}
		done(a, sb_now_ms());
		break;
	case nua_r_bye:
		if (status >= 200)
			on_bye_reply(a, nua, status, phrase, sip);
		break;
	case nua_i_state:
		/* after our BYE the call ends with its answer (nua_r_bye) or at the wait's end */
		tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
		if (state == nua_callstate_terminated && nh == a->nh &&
		    a->state != SB_CL_ST_CALLING && a->state != SB_CL_ST_ENDING)
			done(a, a->end_ms ? a->end_ms : sb_now_ms());
		break;
	case nua_r_shutdown:
		if (status >= 200)
			a->nua_down = true;
		break;
	default:
		break;
	}
}

static int on_rtp(struct sb_cl_app *root, su_wait_t *w, struct sb_cl_app *a)
{
	(void)root;
	(void)w;
	sb_cl_media_rx(&a->media, sb_now_us());
	return 0;
}

/* Sofia's own messages: on stderr with --verbose, else nowhere (one clear line per error). */
static void sofia_log(void *verbose, char const *fmt, va_list ap)
{
	if (verbose)
		vfprintf(stderr, fmt, ap);
}

/* Sofia's transport log over TLS: read for a refused certificate whatever is printed, then
 * printed as the others are. It runs on this thread (su_root_threading off), one line at a
 * time into a fixed buffer. */
static void tport_tls_log(void *arg, char const *fmt, va_list ap)
{
	struct sb_cl_app *a = arg;
	char line[512];
	va_list copy;

	va_copy(copy, ap);
	vsnprintf(line, sizeof(line), fmt, copy);
	va_end(copy);
	sb_cl_tls_refusal_feed(&a->tls_refusal, line);
	sofia_log(a->opts->verbose ? a : NULL, fmt, ap);
}

/* Level 3 is what --verbose prints. Over TLS the transport log is at that level even without
 * it: the refused certificate's lines (tport_tls.c) are at level 3. */
static void quiet_sofia(struct sb_cl_app *a)
{
	su_log_t *logs[] = {su_log_default, nua_log, nta_log, tport_log};
	bool verbose = a->opts->verbose;

	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		su_log_redirect(logs[i], sofia_log, verbose ? logs[i] : NULL);
		su_log_set_level(logs[i], verbose ? 3 : 0);
	}
	if (a->opts->tls) {
		su_log_redirect(tport_log, tport_tls_log, a);
		su_log_set_level(tport_log, 3);
	}
}

static int watch(struct sb_cl_app *a, int fd)
{
	su_wait_t w;

	if (su_wait_create(&w, fd, SU_WAIT_IN) < 0)
		return -EIO;
	return su_root_register(a->root, &w, on_rtp, a, 0);
}

int sb_cl_sip_init(struct sb_cl_app *a)
{
	const char *local = a->opts->local;
	bool v6 = strchr(local, ':') != NULL, tls = a->opts->tls;
	const char *bind_tp = a->opts->tcp ? ";transport=tcp" : ";transport=udp";
	char url[128];

	su_init();
	quiet_sofia(a);
	a->root = su_root_create(a);
	if (!a->root) {
		fputs(SB_CL_NAME ": cannot start the SIP stack\n", stderr);
		return -ENOMEM;
	}
	su_root_threading(a->root, 0);
	a->rtp_idx = watch(a, a->media.fd);
	a->rtcp_idx = watch(a, a->media.rtcp_fd);
	if (tls && sb_cl_tls_prepare(a) < 0)
		return -EIO;
	/* TLS: sofia's sips transport, verifying the server's chain and name (its subjects). A
	 * connection that ends before its answer (a refused certificate among the causes) fails
	 * the INVITE at once as a transport error (TPTAG_SDWN_ERROR), not at --timeout. */
	snprintf(url, sizeof(url), "%s:%s%s%s:*%s", tls ? "sips" : "sip", v6 ? "[" : "", local,
	         v6 ? "]" : "", tls ? "" : bind_tp);
	a->nua = nua_create(a->root, on_nua_event, a, NUTAG_URL(url),
	                    TAG_IF(tls, TPTAG_CERTIFICATE(a->tls_dir)),
	                    TAG_IF(tls, NUTAG_CERTIFICATE_DIR(a->tls_dir)),
	                    TAG_IF(tls, TPTAG_TLS_VERSION(0)),
	                    TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_SUBJECTS_OUT)),
	                    TAG_IF(tls, TPTAG_TLS_VERIFY_DATE(1)), TAG_IF(tls, TPTAG_SDWN_ERROR(1)),
	                    NUTAG_MEDIA_ENABLE(0), NUTAG_AUTOACK(1), NUTAG_ENABLEMESSAGE(0),
	                    SIPTAG_USER_AGENT_STR(SB_CL_NAME "/" SB_VERSION), TAG_END());
	if (!a->nua) {
		fprintf(stderr, SB_CL_NAME ": cannot bind SIP to %s\n", url);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

/* The --header lines but From and To, as one block; From and To are returned apart. */
static int header_block(const struct sb_cl_opts *o, char *buf, size_t size, const char **from,
                        const char **to)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < o->n_headers; i++) {
		const char *h = o->headers[i], *v = strchr(h, ':') + 1;
		size_t nlen = (size_t)(v - 1 - h);
		int n;

		v += strspn(v, " \t");
		if (nlen == 4 && !strncasecmp(h, "From", 4)) {
			*from = v;
			continue;
		}
		if (nlen == 2 && !strncasecmp(h, "To", 2)) {
			*to = v;
			continue;
		}
		n = snprintf(buf + len, size - len, "%s%s", len ? "\r\n" : "", h);
		if (n < 0 || (size_t)n >= size - len)
			return -ENOSPC;
		len += (size_t)n;
	}
	return 0;
}

/* The request URI's parameter naming --transport ("" for udp, the default). */
static const char *tp_param(const struct sb_cl_opts *o)
{
	return o->tls ? ";transport=tls" : o->tcp ? ";transport=tcp" : "";
}

/* Where the requests go when the system's resolver found the --to host name (o->to_addr):
 * that address is the INVITE's outbound proxy (nua_invite's NUTAG_PROXY, which nua also keeps
 * for the handle's later requests), so the INVITE goes there without a Route header, and the
 * request URI and To keep the name. The proxy URL keeps the name as its host
 * and gives the address as maddr: sofia connects to the maddr and names the connection after
 * the host, and its TLS checks the server's certificate against that name
 * (TPTLS_VERIFY_SUBJECTS_OUT), never against the address. "" when the SIP stack resolves the
 * host itself. 0, or -ENOSPC. */
static int proxy_url(const struct sb_cl_opts *o, char *buf, size_t size)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	const char *tp = o->tls ? "tls" : o->tcp ? "tcp" : "udp";
	bool v6 = strchr(o->to_addr, ':') != NULL;
	url_t *u;
	int n = 0;

	buf[0] = '\0';
	if (!o->to_addr[0])
		return 0;
	u = url_make(home, o->to);
	if (u && u->url_host && u->url_port)
		n = snprintf(buf, size, "sip:%s:%s;transport=%s;maddr=%s%s%s", u->url_host,
		             u->url_port, tp, v6 ? "[" : "", o->to_addr, v6 ? "]" : "");
	su_home_deinit(home);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

/* The --to URI's host: it names the server when its TLS certificate is refused. */
static void keep_to_host(struct sb_cl_app *a)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	url_t *u = url_make(home, a->opts->to);

	snprintf(a->to_host, sizeof(a->to_host), "%s",
	         u && u->url_host ? u->url_host : a->opts->to);
	su_home_deinit(home);
}

int sb_cl_sip_invite(struct sb_cl_app *a)
{
	const struct sb_cl_opts *o = a->opts;
	bool v6 = strchr(o->local, ':') != NULL;
	char sdp[SDP_MAX], hdrs[HEADERS_MAX], ruri[300], dfrom[128], dto[300], proxy[PROXY_MAX];
	const char *tp_name;
	const char *from = NULL, *to = NULL;
	uint64_t sid = (uint64_t)sb_now_us();
	int n;

	n = sb_cl_srtp_prepare(&a->media, o->srtp, o->tamper_at_s);
	if (n < 0)
		return n;
	n = sb_cl_sdp_offer(sdp, sizeof(sdp), o->local, a->media.port, o->codec, sid,
	                    o->srtp ? &a->media.srtp_key : NULL);
	if (n < 0 || header_block(o, hdrs, sizeof(hdrs), &from, &to) < 0 ||
	    proxy_url(o, proxy, sizeof(proxy)) < 0)
		return -ENOSPC;
	snprintf(ruri, sizeof(ruri), "%s%s", o->to, tp_param(o));
	tp_name = o->tls ? "TLS" : o->tcp ? "TCP" : "UDP";
	snprintf(dto, sizeof(dto), "<%s>", o->to);
	snprintf(dfrom, sizeof(dfrom), "<sip:%s@%s%s%s>", SB_CL_NAME, v6 ? "[" : "", o->local,
	         v6 ? "]" : "");
	keep_to_host(a);
	a->nh = nua_handle(a->nua, a, SIPTAG_TO_STR(to ? to : dto),
	                   SIPTAG_FROM_STR(from ? from : dfrom), TAG_END());
	if (!a->nh)
		return -ENOMEM;
	a->state = SB_CL_ST_CALLING;
	a->start_ms = sb_now_ms();
	sb_cl_verbose(a, "INVITE %s over %s, offering %s and telephone-event %d, RTP on %s:%u",
	              ruri, tp_name, sb_codec_name(o->codec), SB_CL_TE_PT, o->local, a->media.port);
	if (proxy[0])
		sb_cl_verbose(a, "sent to %s, the address the system's resolver gave for the host",
		              o->to_addr);
	sb_cl_verbose(a, "offer SDP:\n%s", sdp);
	nua_invite(a->nh, NUTAG_URL(ruri), TAG_IF(proxy[0], NUTAG_PROXY(proxy)),
	           SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp),
	           TAG_IF(hdrs[0], SIPTAG_HEADER_STR(hdrs)), TAG_END());
	sb_srtp_wipe(sdp, sizeof(sdp));
	return 0;
}

void sb_cl_sip_step(struct sb_cl_app *a, long ms)
{
	su_root_step(a->root, ms);
}

void sb_cl_sip_hangup(struct sb_cl_app *a, int64_t now_ms)
{
	switch (a->state) {
	case SB_CL_ST_CALLING:
		/* Without a provisional response nothing is there to cancel (RFC 3261 9.1). */
		if (!a->provisional) {
			sb_cl_verbose(a, "giving up: nothing came back");
			a->state = SB_CL_ST_DONE;
			break;
		}
		sb_cl_verbose(a, "CANCEL");
		nua_cancel(a->nh, TAG_END());
		a->state = SB_CL_ST_CANCELLING;
		a->phase_deadline_ms = now_ms + CANCEL_WAIT_MS;
		break;
	case SB_CL_ST_ACTIVE:
		sb_cl_verbose(a, "BYE");
		nua_bye(a->nh, TAG_END());
		a->res.hangup = SB_CL_HANGUP_LOCAL;
		a->res.bye = SB_CL_BYE_PENDING;
		a->end_ms = now_ms;
		a->state = SB_CL_ST_ENDING;
		a->phase_deadline_ms = now_ms + SB_CL_BYE_WAIT_MS;
		break;
	default:
		break;
	}
}

void sb_cl_sip_done(struct sb_cl_app *a)
{
	if (a->nh) {
		nua_handle_destroy(a->nh);
		a->nh = NULL;
	}
	if (a->nua) {
		int64_t until = sb_now_ms() + SHUTDOWN_WAIT_MS;

		nua_shutdown(a->nua);
		while (!a->nua_down && sb_now_ms() < until)
			su_root_step(a->root, 50);
		nua_destroy(a->nua);
		a->nua = NULL;
	}
	if (a->root) {
		if (a->rtp_idx > 0)
			su_root_deregister(a->root, a->rtp_idx);
		if (a->rtcp_idx > 0)
			su_root_deregister(a->root, a->rtcp_idx);
		su_root_destroy(a->root);
		a->root = NULL;
		/* the transport log's reader points into *a, which is done with */
		su_log_redirect(tport_log, sofia_log, a->opts->verbose ? tport_log : NULL);
		su_deinit();
	}
	sb_cl_tls_done(a);
}

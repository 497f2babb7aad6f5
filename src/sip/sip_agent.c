/* The control thread's loop: sofia's su_root with nua on it (su_root_threading off, so nua
 * never runs elsewhere), the control queue's eventfd and a signalfd registered in the same
 * root. Dispatches nua events and worker replies to the calls' state machines.
 * Thread: control. Owns the nua stack and every nua handle. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/tport_tag.h>

#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/sip_loop.h>

#include "sip_agent_priv.h"

#define SHUTDOWN_GRACE_MS 10000 /* calls get this long to end after SIGTERM */
#define XFER_TICK_MS 100        /* how often transfer deadlines are checked */

extern su_log_t nua_log[], nta_log[], tport_log[];

static void sofia_log(void *stream, char const *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)stream;
	/* Sofia's level-0 lines (its "set log to level" notes among them) come whatever its
	 * level: they are debug lines too. */
	if (!sb_log_enabled(SB_LOG_DEBUG))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n)
		sb_log_write(SB_LOG_DEBUG, "sofia", "%s", line);
}

/* The sofia logs the daemon's log takes in. */
static su_log_t *const sofia_logs[] = {su_log_default, nua_log, nta_log, tport_log};

static void setup_sofia_logs(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(sofia_logs); i++)
		su_log_redirect(sofia_logs[i], sofia_log, NULL);
	sb_sip_sofia_log_level();
}

void sb_sip_sofia_log_level(void)
{
	/* Sofia's levels are plain fields of these logs, read by the stack on this thread. */
	for (size_t i = 0; i < ARRAY_SIZE(sofia_logs); i++)
		su_log_set_level(sofia_logs[i], sb_log_enabled(SB_LOG_DEBUG) ? 3 : 0);
}

void sb_sip_maybe_shutdown(struct sb_sip_agent *a)
{
	if (a->draining && !a->stopping && a->n_calls == 0) {
		sb_sip_begin_stop(a, "Drain complete");
		return;
	}
	if (!a->stopping || a->n_calls > 0 || a->nua_shutdown)
		return;
	a->nua_shutdown = true;
	log_info("No calls left, shutting down SIP");
	nua_shutdown(a->nua);
}

static void on_deadline(struct sb_sip_agent *a, su_timer_t *t, struct sb_sip_agent *arg)
{
	(void)t;
	(void)arg;
	log_warn("Stop took longer than %d ms, forcing it with %u call(s) left", SHUTDOWN_GRACE_MS,
	         a->n_calls);
	su_root_break(a->root);
}

void sb_sip_begin_stop(struct sb_sip_agent *a, const char *why)
{
	if (a->stopping)
		return;
	a->stopping = true;
	if (a->drain_timer) {
		su_timer_destroy(a->drain_timer);
		a->drain_timer = NULL;
	}
	log_notice("%s: hanging up %u call(s) and stopping", why, a->n_calls);
	if (!a->draining) /* a drain has told systemd already */
		sb_daemon_notify("STOPPING=1");
	a->deadline = su_timer_create(su_root_task(a->root), SHUTDOWN_GRACE_MS);
	if (a->deadline)
		su_timer_set(a->deadline, on_deadline, a);
	for (struct sb_call *c = LIST_FIRST(&a->calls), *next; c; c = next) {
		next = LIST_NEXT(c, reg);
		sb_sip_call_event(a, c, SB_CALL_EV_SHUTDOWN);
	}
	sb_sip_maybe_shutdown(a);
}

static void on_call_event(struct sb_sip_agent *a, struct sb_call *c, nua_event_t event, int status,
                          const char *phrase, nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
	int state = -1;

	switch (event) {
	case nua_i_invite:
		sb_sip_on_reinvite(a, c, nh, sip);
		break;
	case nua_i_cancel:
		sb_sip_call_event(a, c, SB_CALL_EV_CANCEL);
		break;
	case nua_i_ack:
		sb_sip_on_ack(a, c, sip);
		break;
	case nua_i_bye:
		sb_sip_call_event(a, c, SB_CALL_EV_BYE);
		break;
	case nua_i_info:
		sb_sip_on_info(a, c, nh, sip);
		break;
	case nua_i_options:
		sb_sip_on_dialog_options(a, nh);
		break;
	case nua_i_update:
		sb_sip_on_update(a, c, nh, sip);
		break;
	case nua_i_refer:
		sb_sip_refuse_refer(a, nh);
		break;
	case nua_r_invite: /* our session refresh */
		sb_sip_on_refresh_response(a, c, nh, status, phrase, sip);
		break;
	case nua_i_state:
		tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
		if (state == nua_callstate_completed || state == nua_callstate_ready)
			sb_sip_answer_sent(c); /* the INVITE's 200 went out */
		if (state == nua_callstate_terminated)
			sb_sip_call_event(a, c, SB_CALL_EV_SIP_TERMINATED);
		break;
	default:
		break;
	}
}

static void on_nua_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
                         struct sb_sip_agent *a, nua_handle_t *nh, struct sb_call *c,
                         sip_t const *sip, tagi_t tags[])
{
	if (c) {
		if (!sb_sip_transfer_event(a, c, event, status, phrase, nh, sip, tags))
			on_call_event(a, c, event, status, phrase, nh, sip, tags);
		return;
	}
	switch (event) {
	case nua_i_invite:
		sb_sip_on_invite(a, nh, sip);
		break;
	case nua_r_shutdown:
		if (status >= 200) {
			log_debug("nua shutdown: %d %s", status, phrase);
			a->nua_down = true;
			su_root_break(a->root);
		}
		break;
	case nua_i_options:
		sb_sip_on_options(a, nh);
		break;
	case nua_i_error:
		log_debug("nua error %d %s", status, phrase);
		break;
	case nua_i_info: /* out of any call: ours to answer (NUTAG_APPL_METHOD) */
	case nua_i_update:
		nua_respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(nua), TAG_END());
		sb_metric_sip_response(481);
		nua_handle_destroy(nh);
		break;
	case nua_i_refer: /* ours to answer too */
		sb_sip_refuse_refer(a, nh);
		nua_handle_destroy(nh);
		break;
	case nua_i_publish:
	case nua_i_message:
	case nua_i_chat:
	case nua_i_subscribe:
	case nua_i_subscription:
	case nua_i_notify:
	case nua_i_method:
		/* Out of any call: nua has answered; the handle it made for us is dropped. */
		if (nh)
			nua_handle_destroy(nh);
		break;
	default:
		break;
	}
}

static void on_control_msg(struct sb_sip_agent *a, struct sb_msg *m)
{
	static const enum sb_call_event events[] = {
	        [SB_MSG_RTP_TIMEOUT] = SB_CALL_EV_RTP_TIMEOUT,
	        [SB_MSG_BOT_CONNECTED] = SB_CALL_EV_BOT_CONNECTED,
	        [SB_MSG_BOT_FAILED] = SB_CALL_EV_BOT_FAILED,
	        [SB_MSG_BOT_CLOSED] = SB_CALL_EV_BOT_CLOSED,
	        [SB_MSG_BOT_HANGUP] = SB_CALL_EV_BOT_HANGUP,
	};

	if ((m->type == SB_MSG_BOT_CLOSED || m->type == SB_MSG_BOT_HANGUP ||
	     m->type == SB_MSG_BOT_FAILED) &&
	    sb_sip_transfer_bot(a, m->call, m->type))
		return;
	switch (m->type) {
	case SB_MSG_MEDIA_DETACHED:
	case SB_MSG_BOT_DETACHED:
		sb_sip_call_detached(a, m->call, m->type == SB_MSG_MEDIA_DETACHED);
		break;
	case SB_MSG_BOT_TRANSFER: {
		struct sb_transfer_req *req = m->data;

		if (req && sb_sip_transfer_wait_ack(m->call, req, false))
			m->data = NULL; /* the call keeps it */
		else if (req)
			sb_sip_transfer(a, m->call, req->to, req->headers, req->n_headers, false);
		break;
	}
	case SB_MSG_BOT_FAILED:
		sb_log_ctx_set(m->call->id);
		log_warn("Bot %s unreachable: %s", m->call->bot->name, m->text ? m->text : "?");
		sb_log_ctx_set(NULL);
		sb_sip_call_event(a, m->call, SB_CALL_EV_BOT_FAILED);
		break;
	case SB_MSG_RTP_TIMEOUT:
	case SB_MSG_BOT_CONNECTED:
	case SB_MSG_BOT_CLOSED:
	case SB_MSG_BOT_HANGUP:
		sb_sip_call_event(a, m->call, events[m->type]);
		break;
	case SB_MSG_ADMIN_HANGUP:
	case SB_MSG_ADMIN_DRAIN:
	case SB_MSG_ADMIN_RELOAD:
		sb_sip_admin_msg(a, m);
		break;
	default:
		log_error("Unexpected control message %d, ignoring", m->type);
		break;
	}
}

static int on_mq(struct sb_sip_agent *a, su_wait_t *w, struct sb_sip_agent *arg)
{
	(void)w;
	(void)arg;
	for (struct sb_msg *m = sb_mq_pop_all(a->d->control), *next; m; m = next) {
		next = m->next;
		on_control_msg(a, m);
		sb_msg_free(m);
	}
	return 0;
}

static int on_signal(struct sb_sip_agent *a, su_wait_t *w, struct sb_sip_agent *arg)
{
	struct signalfd_siginfo si;

	(void)w;
	(void)arg;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		const char *name = sigabbrev_np((int)si.ssi_signo);
		char why[64];

		snprintf(why, sizeof(why), "SIG%s", name ? name : "?");
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			/* The first drains; a second while draining hangs up at once. */
			if (a->draining)
				sb_sip_begin_stop(a, strcat(why, " again"));
			else
				sb_sip_agent_drain(a, why);
		} else if (si.ssi_signo == SIGHUP) {
			log_notice("SIGHUP received from pid %u: reloading the configuration",
			           si.ssi_pid);
			sb_sip_agent_reload(a, NULL, 0);
		} else {
			log_notice("%s received from pid %u: ignoring; %u call(s) go on unchanged",
			           why, si.ssi_pid, a->n_calls);
		}
	}
	return 0;
}

/* True when worker kind[i] has not answered the last ping; logs it. */
static bool hung(struct sb_sip_agent *a, const char *kind, unsigned i, bool answered)
{
	if (answered)
		return false;
	log_error_ratelimited("%s worker %u has not answered for %lld ms: withholding the systemd "
	                      "watchdog ping",
	                      kind, i, (long long)(sb_now_ms() - a->wd_sent_ms));
	return true;
}

static void on_xfer_timer(struct sb_sip_agent *a, su_timer_t *t, struct sb_sip_agent *arg)
{
	(void)t;
	(void)arg;
	sb_sip_transfer_tick(a);
	sb_sip_refresh_tick(a);
}

/* systemd's watchdog sees the whole daemon: the ping goes out only when every worker thread
 * has answered the last one, so a hung media or ws thread gets the service restarted. */
static void on_watchdog(struct sb_sip_agent *a, su_timer_t *t, struct sb_sip_agent *arg)
{
	struct sb_daemon *d = a->d;
	bool stuck = false;

	(void)t;
	(void)arg;
	for (unsigned i = 0; i < d->n_media; i++)
		stuck |= hung(a, "media", i, sb_media_worker_answered(d->media[i], a->wd_seq));
	for (unsigned i = 0; i < d->n_ws; i++)
		stuck |= hung(a, "ws", i, sb_ws_worker_answered(d->ws[i], a->wd_seq));
	if (!stuck) {
		sb_daemon_notify("WATCHDOG=1");
		a->wd_sent_ms = sb_now_ms();
		a->wd_seq++;
		for (unsigned i = 0; i < d->n_media; i++)
			sb_media_worker_ping(d->media[i], a->wd_seq);
		for (unsigned i = 0; i < d->n_ws; i++)
			sb_ws_worker_ping(d->ws[i], a->wd_seq);
	}
}

static int open_signals(struct sb_sip_agent *a)
{
	sigset_t set;

	sb_daemon_signals(&set);
	a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigfd < 0)
		return log_error_errno(errno, "signalfd");
	su_wait_create(&a->sig_wait, a->sigfd, SU_WAIT_IN);
	a->sig_idx = su_root_register(a->root, &a->sig_wait, on_signal, a, 0);
	return a->sig_idx < 0 ? -EIO : 0;
}

/* nua on the listen URLs; a tls entry adds the sips URL, its certificate directory and the
 * client certificate policy. */
static int start_nua(struct sb_sip_agent *a, const struct sb_config *cfg)
{
	const struct sb_sip_listen *l = &a->listen;
	bool tls = l->tls;
	unsigned policy = l->verify_client ? TPTLS_VERIFY_IN : TPTLS_VERIFY_NONE;

	/* Messages over max_message_bytes are refused (413) before they are parsed (over TCP and
	 * TLS the guard applies the limit, sip_guard_size.c); a TCP or TLS connection idle, or
	 * stuck in the middle of a message, for tcp_idle_s is closed. t1x64_ms
	 * is nta's transaction lifetime: timers B, F and H, and J, which keeps every ended
	 * non-INVITE server transaction (each call's BYE) with its request and response. */
	a->nua = nua_create(
	        a->root, on_nua_event, a, NUTAG_URL(l->url),
	        TAG_IF(l->sips[0], NUTAG_SIPS_URL(l->sips)),
	        TAG_IF(tls, NUTAG_CERTIFICATE_DIR(l->tls_dir)),
	        TAG_IF(tls, TPTAG_CERTIFICATE(l->tls_dir)), TAG_IF(tls, TPTAG_TLS_VERSION(0)),
	        TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(policy)), TAG_IF(tls, TPTAG_TLS_VERIFY_DATE(1)),
	        NUTAG_MEDIA_ENABLE(0), NUTAG_AUTOANSWER(0), NUTAG_AUTOALERT(0),
	        NUTAG_ENABLEMESSAGE(0), NUTAG_APPL_METHOD("INFO"), NUTAG_APPL_METHOD("OPTIONS"),
	        NUTAG_APPL_METHOD("UPDATE"), NUTAG_APPL_METHOD("REFER"), NUTAG_ALLOW("INFO"),
	        NUTAG_MIN_SE((unsigned)cfg->min_se_s),
	        NUTAG_SESSION_TIMER((unsigned)cfg->session_expires_s),
	        NUTAG_SESSION_REFRESHER(nua_remote_refresher), NUTAG_UPDATE_REFRESH(1),
	        SIPTAG_USER_AGENT_STR(cfg->user_agent), NTATAG_MCLASS(a->guard.mclass),
	        NTATAG_MAXSIZE((usize_t)cfg->max_message_bytes),
	        NTATAG_SIP_T1X64((unsigned)cfg->t1x64_ms),
	        TPTAG_IDLE((unsigned)cfg->tcp_idle_s * 1000u),
	        TPTAG_TIMEOUT((unsigned)cfg->tcp_idle_s * 1000u), TAG_END());
	if (!a->nua)
		return log_error_errno(EADDRINUSE, "Cannot listen for SIP on %s%s%s (in use?)",
		                       l->url, l->sips[0] ? " and " : "", l->sips);
	log_notice("Listening for SIP on %s%s%s", l->url, l->sips[0] ? " and " : "", l->sips);
	return 0;
}

static int start(struct sb_sip_agent *a)
{
	const struct sb_config *cfg = a->d->cfg;
	const char *wd = getenv("WATCHDOG_USEC");
	int r;

	r = sb_sip_listen_prepare(&a->listen, cfg);
	if (r < 0)
		return r;
	r = sb_sip_guard_init(&a->guard, (const struct sb_config *const *)&a->d->cfg);
	if (r < 0)
		return log_error_errno(r, "Cannot set up the SIP message class");
	r = sb_sip_loop_hook(a->root);
	if (r < 0)
		return log_error_errno(r, "Cannot hook the SIP loop");
	/* nua_create() failing to bind leaves part of its stack allocated for good (its default
	 * handle and timer, created before the transports): a port that is taken is found first. */
	r = sb_sip_listen_probe(cfg);
	if (r < 0)
		return r;
	r = start_nua(a, cfg);
	if (r < 0)
		return r;
	sb_sip_guard_start(&a->guard, a->root);
	su_wait_create(&a->mq_wait, sb_mq_fd(a->d->control), SU_WAIT_IN);
	a->mq_idx = su_root_register(a->root, &a->mq_wait, on_mq, a, 0);
	if (a->mq_idx < 0)
		return log_error_errno(EIO, "Cannot watch the control queue");
	r = open_signals(a);
	if (r < 0)
		return r;
	r = sb_sip_dns_start(a);
	if (r < 0)
		return r;
	a->xfer_timer = su_timer_create(su_root_task(a->root), XFER_TICK_MS);
	if (!a->xfer_timer || su_timer_set_for_ever(a->xfer_timer, on_xfer_timer, a) < 0)
		return log_error_errno(ENOMEM, "Cannot start the transfer timer");
	r = sb_sip_admin_start(a);
	if (r < 0)
		return r;
	if (wd && atoll(wd) > 0) {
		a->watchdog =
		        su_timer_create(su_root_task(a->root), (su_duration_t)(atoll(wd) / 2000));
		if (a->watchdog)
			su_timer_set_for_ever(a->watchdog, on_watchdog, a);
	}
	return 0;
}

/* Releases what a forced stop left behind and lets nua finish its shutdown (bounded). */
static void finish(struct sb_sip_agent *a)
{
	/* Worker replies may still arrive while nua winds down below: stop listening first,
	 * and mark what is left as finished so no event can release it a second time. */
	if (a->mq_idx > 0) {
		su_root_deregister(a->root, a->mq_idx);
		a->mq_idx = 0;
	}
	while (!LIST_EMPTY(&a->calls)) {
		struct sb_call *c = LIST_FIRST(&a->calls);

		c->fsm.state = SB_CALL_ST_TERMINATED;
		sb_sip_transfer_free(a, c); /* the agent's handle too */
		if (c->nh) {
			nua_handle_bind(c->nh, NULL);
			nua_handle_destroy(c->nh);
			c->nh = NULL;
		}
		sb_sip_unregister(a, c);
		sb_call_unref(c);
	}
	if (!a->nua)
		return;
	if (!a->nua_shutdown) {
		a->nua_shutdown = true;
		nua_shutdown(a->nua);
	}
	for (int i = 0; i < 100 && !a->nua_down; i++)
		su_root_step(a->root, 50);
	nua_destroy(a->nua);
	a->nua = NULL;
}

int sb_sip_agent_run(struct sb_daemon *d, void (*ready)(struct sb_daemon *d))
{
	struct sb_sip_agent a = {.d = d, .sigfd = -1, .guard.diag = -1};

	LIST_INIT(&a.calls);
	int r;

	su_init();
	setup_sofia_logs();
	a.root = su_root_create(&a);
	if (!a.root) {
		su_deinit();
		return log_error_errno(ENOMEM, "su_root_create failed");
	}
	su_root_threading(a.root, 0);
	r = start(&a);
	if (r == 0) {
		ready(d);
		su_root_run(a.root);
	}
	su_timer_destroy(a.watchdog);
	su_timer_destroy(a.xfer_timer);
	su_timer_destroy(a.deadline);
	su_timer_destroy(a.drain_timer);
	sb_sip_admin_stop(&a);
	finish(&a);
	sb_sip_dns_stop(&a);
	sb_sip_guard_done(&a.guard);
	sb_sip_listen_done(&a.listen);
	if (a.mq_idx > 0)
		su_root_deregister(a.root, a.mq_idx);
	if (a.sig_idx > 0)
		su_root_deregister(a.root, a.sig_idx);
	if (a.sigfd >= 0)
		close(a.sigfd);
	su_root_destroy(a.root);
	su_deinit();
	return r;
}

/* What an operator asks of the running daemon: a graceful drain (no new calls, the calls in
 * progress end on their own or at limits.drain_timeout_s), a reload of the configuration (a
 * new snapshot for new calls; keys read once at start-up keep their running values), and
 * the answer to an OPTIONS probe (503 while draining, so a load balancer stops sending).
 * Thread: control. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include <sb/metrics.h>

#include "sip_agent_priv.h"

#define RETRY_AFTER_S "5" /* what a 503 while draining or stopping asks callers to wait */

void sb_sip_on_options(struct sb_sip_agent *a, nua_handle_t *nh)
{
	if (!nh)
		return;
	sb_metric_sip_response(a->draining || a->stopping ? 503 : 200);
	if (a->draining || a->stopping)
		nua_respond(nh, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR(RETRY_AFTER_S),
		            NUTAG_WITH_THIS(a->nua), TAG_END());
	else
		nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(a->nua), TAG_END());
	nua_handle_destroy(nh);
}

void sb_sip_answer(struct sb_sip_agent *a, nua_handle_t *nh, int status, const char *phrase)
{
	nua_respond(nh, status, phrase, NUTAG_WITH_THIS(a->nua), TAG_END());
	sb_metric_sip_response(status);
}

void sb_sip_refuse_refer(struct sb_sip_agent *a, nua_handle_t *nh)
{
	/* A transfer is the bot's to ask for: a caller's (or an agent's) REFER is refused at
	 * once (RFC 3515 2.4.2), not accepted and left without a NOTIFY. */
	sb_sip_answer(a, nh, 403, "Transfers are asked for by the bot");
	log_info("Refused a REFER: transfers are asked for by the bot");
}

void sb_sip_on_dialog_options(struct sb_sip_agent *a, nua_handle_t *nh)
{
	/* A keep-alive of a call's dialog: the call is up whatever the daemon's state (a drain
	 * lets calls finish), and the handle is the call's. */
	sb_sip_answer(a, nh, SIP_200_OK);
}

static void on_drain_timeout(struct sb_sip_agent *a, su_timer_t *t, struct sb_sip_agent *arg)
{
	(void)t;
	(void)arg;
	sb_sip_begin_stop(a, "Drain timeout");
}

void sb_sip_agent_drain(struct sb_sip_agent *a, const char *why)
{
	int timeout_s = a->d->cfg->drain_timeout_s;

	if (a->draining || a->stopping)
		return;
	a->draining = true;
	atomic_store(&a->d->draining, true);
	sb_daemon_notify("STOPPING=1\nSTATUS=Draining");
	log_notice("%s: draining: new calls get 503, %u call(s) in progress go on for up to %d s",
	           why, a->n_calls, timeout_s);
	if (a->n_calls && timeout_s > 0) {
		a->drain_timer =
		        su_timer_create(su_root_task(a->root), (su_duration_t)timeout_s * 1000);
		if (a->drain_timer && su_timer_set(a->drain_timer, on_drain_timeout, a) == 0)
			return;
		log_error("Cannot arm the drain timer: hanging up now");
	}
	if (a->n_calls)
		sb_sip_begin_stop(a, "Drain timeout");
	else
		sb_sip_maybe_shutdown(a);
}

/* ---- reload ---------------------------------------------------------------------------- */

/* Appends name to the list of keys that keep their running values. */
static void note_key(char *names, size_t size, const char *name)
{
	size_t len = strlen(names);

	snprintf(names + len, size - len, "%s%s", len ? ", " : "", name);
}

static bool same_str(const char *x, const char *y)
{
	return strcmp(x ? x : "", y ? y : "") == 0;
}

/* next's string key takes cur's value when they differ. Returns -ENOMEM, 1 when kept, 0. */
static int keep_str(char **next, const char *cur)
{
	char *copy;

	if (same_str(*next, cur))
		return 0;
	copy = strdup(cur ? cur : "");
	if (!copy)
		return -ENOMEM;
	free(*next);
	*next = copy;
	return 1;
}

static bool same_entry(const struct sb_listen *x, const struct sb_listen *y)
{
	return x->transport == y->transport && x->port == y->port &&
	       same_str(x->address, y->address) && same_str(x->cert, y->cert) &&
	       same_str(x->key, y->key) && same_str(x->ca, y->ca) &&
	       x->verify_client == y->verify_client;
}

static bool same_listen(const struct sb_config *x, const struct sb_config *y)
{
	if (x->n_listen != y->n_listen)
		return false;
	for (size_t i = 0; i < x->n_listen; i++)
		if (!same_entry(&x->listen[i], &y->listen[i]))
			return false;
	return true;
}

static void free_entries(struct sb_listen *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++) {
		free(l[i].address);
		free(l[i].cert);
		free(l[i].key);
		free(l[i].ca);
	}
	free(l);
}

/* next's sip.listen becomes a copy of cur's (its strings duplicated). */
static int keep_listen(struct sb_config *next, const struct sb_config *cur)
{
	struct sb_listen *l = calloc(cur->n_listen, sizeof(*l));

	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < cur->n_listen; i++) {
		const struct sb_listen *c = &cur->listen[i];

		l[i] = *c;
		l[i].address = strdup(c->address);
		l[i].cert = strdup(c->cert);
		l[i].key = strdup(c->key);
		l[i].ca = strdup(c->ca);
		if (!l[i].address || !l[i].cert || !l[i].key || !l[i].ca) {
			free_entries(l, i + 1);
			return -ENOMEM;
		}
	}
	free_entries(next->listen, next->n_listen);
	next->listen = l;
	next->n_listen = cur->n_listen;
	return 0;
}

#define KEEP_INT(field, name)                                                                      \
	do {                                                                                       \
		if (next->field != cur->field) {                                                   \
			next->field = cur->field;                                                  \
			note_key(names, size, name);                                               \
		}                                                                                  \
	} while (0)

#define KEEP_STR(field, name)                                                                      \
	do {                                                                                       \
		int _r = keep_str(&next->field, cur->field);                                       \
		if (_r < 0)                                                                        \
			return _r;                                                                 \
		if (_r > 0)                                                                        \
			note_key(names, size, name);                                               \
	} while (0)

/* Keys read once at start-up: sockets and nua's parameters, threads, the webhook's client,
 * the admin server. next keeps cur's values for them, so a reload never half-applies one;
 * names lists the ones that differed. Returns 0 or -ENOMEM. */
static int keep_restart_keys(struct sb_config *next, const struct sb_config *cur, char *names,
                             size_t size)
{
	names[0] = '\0';
	if (!same_listen(next, cur)) {
		if (keep_listen(next, cur) < 0)
			return -ENOMEM;
		note_key(names, size, "sip.listen");
	}
	KEEP_STR(sip_public_address, "sip.public_address");
	KEEP_STR(user_agent, "sip.user_agent");
	KEEP_INT(max_message_bytes, "sip.max_message_bytes");
	KEEP_INT(tcp_idle_s, "sip.tcp_idle_s");
	KEEP_INT(min_se_s, "sip.min_se_s");
	KEEP_INT(session_expires_s, "sip.session_expires_s");
	KEEP_INT(t1x64_ms, "sip.t1x64_ms");
	KEEP_STR(rtp_address, "rtp.address");
	KEEP_STR(rtp_public_address, "rtp.public_address");
	KEEP_INT(rtp_port_min, "rtp.port_min");
	KEEP_INT(rtp_port_max, "rtp.port_max");
	KEEP_INT(media_threads, "threads.media");
	KEEP_INT(ws_threads, "threads.ws");
	KEEP_INT(media_io, "threads.media_io");
	KEEP_INT(ws_loop, "threads.ws_loop");
	KEEP_INT(media_realtime, "threads.media_realtime");
	KEEP_INT(ws_realtime, "threads.ws_realtime");
	KEEP_INT(media_rx_buffers, "threads.media_rx_buffers");
	KEEP_INT(dns_cache_s, "dns.cache_s");
	KEEP_INT(dns_fail_cache_s, "dns.fail_cache_s");
	KEEP_STR(webhook_url, "webhook.url");
	KEEP_STR(webhook_secret, "webhook.secret");
	KEEP_STR(webhook_ca_file, "webhook.ca_file");
	KEEP_INT(webhook_retries, "webhook.retries");
	KEEP_INT(webhook_timeout_ms, "webhook.timeout_ms");
	KEEP_INT(webhook_max_queue, "webhook.max_queue");
	KEEP_STR(admin_address, "admin.address");
	KEEP_INT(admin_port, "admin.port");
	KEEP_STR(admin_token, "admin.token");
	return 0;
}

static int load(const struct sb_daemon_source *src, struct sb_config **ret, char *err,
                size_t errlen)
{
	if (src && src->path)
		return sb_config_load_file(ret, src->path, &src->ov, err, errlen);
	return sb_config_load_default(ret, src ? &src->ov : NULL, err, errlen);
}

static int reload(struct sb_sip_agent *a, char *err, size_t errlen)
{
	const struct sb_daemon_source *src = a->d->src;
	char why[SB_CONFIG_ERR_MAX] = "", kept[512];
	struct sb_config *next = NULL, *old;
	int r;

	r = load(src, &next, why, sizeof(why));
	if (r == 0)
		r = keep_restart_keys(next, a->d->cfg, kept, sizeof(kept));
	if (r < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "%s", strerror(-r));
		sb_config_unref(next);
		if (err)
			snprintf(err, errlen, "%s", why);
		log_error("Reload refused, the running configuration stays: %s", why);
		SB_METRIC_INC(config_reloads_total, SB_M_RELOAD_FAILED);
		return r;
	}
	SB_METRIC_INC(config_reloads_total, SB_M_RELOAD_OK);
	old = a->d->cfg;
	a->d->cfg = next;
	sb_config_unref(old);
	/* The trunks' ACLs may have changed: the kernel's TCP filter follows them. */
	sb_sip_guard_refilter(&a->guard);
	sb_log_set_level(src && src->verbose ? SB_LOG_DEBUG : next->log_level);
	sb_log_set_format(next->log_format);
	/* lws's lines follow the new level by themselves (lws_client.c); sofia's are on or off
	 * at the source, set here on the thread that runs sofia. */
	sb_sip_sofia_log_level();
	log_notice("Configuration reloaded from %s: new calls use it, %u call(s) in progress keep "
	           "theirs",
	           next->source, a->n_calls);
	sb_ws_warn_insecure(next);
	if (kept[0])
		log_warn("Reload: %s changed but take effect only after a restart; the running "
		         "values stay until then",
		         kept);
	if (err)
		snprintf(err, errlen, "%s%s", kept[0] ? "restart needed for: " : "", kept);
	return 0;
}

int sb_sip_agent_reload(struct sb_sip_agent *a, char *err, size_t errlen)
{
	/* While draining, systemd has been told STOPPING=1 and waits for no READY=1. */
	bool tell = !a->draining && !a->stopping;
	int r;

	if (tell)
		sb_daemon_notify_reloading();
	r = reload(a, err, errlen);
	if (tell)
		sb_daemon_notify("READY=1");
	return r;
}

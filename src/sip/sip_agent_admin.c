/* The control thread's side of the admin API and of the call metrics: publishes the calls
 * snapshot the admin thread serves (when calls start or end, and every second for their age
 * and packet counts), carries out the admin thread's commands (hang up a call, drain,
 * reload), and counts calls by outcome and refused INVITEs by reason.
 * Thread: control. Owns the publish timer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sb/admin.h>
#include <sb/codec.h>
#include <sb/json_str.h>
#include <sb/metrics.h>
#include <sb/msg.h>

#include "sip_agent_priv.h"

#define PUBLISH_TICK_MS 250   /* a call that started or ended shows this soon */
#define PUBLISH_EVERY_MS 1000 /* ages and packet counts are this fresh */

static char *state_name(enum sb_call_state s, char *buf, size_t size)
{
	size_t i;

	snprintf(buf, size, "%s", sb_call_state_name(s));
	for (i = 0; buf[i]; i++)
		buf[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] - 'A' + 'a' : buf[i]);
	return buf;
}

/* Bytes one call's summary may take: each string six times its length (every byte a \u00XX
 * escape, or three for U+FFFD) with its quotes, and the rest. */
static size_t call_json_max(const struct sb_call *c)
{
	const char *str[] = {c->id,        c->sip_call_id, c->trunk ? c->trunk->name : NULL,
	                     c->from_user, c->to_user,     c->bot ? c->bot->name : NULL};
	size_t n = 256;

	for (size_t i = 0; i < ARRAY_SIZE(str); i++)
		n += str[i] ? 6 * strlen(str[i]) + 3 : 3;
	return n;
}

/* Appends "name":"value", to buf unless *r already holds an error; sets *r to -ENOSPC when it
 * does not fit. */
static void put_member(char *buf, size_t size, size_t *o, const char *name, const char *value,
                       int *r)
{
	if (*r == 0)
		*r = sb_json_put_str(buf, size, o, name);
	if (*r == 0)
		*r = size - *o > 1 ? (buf[(*o)++] = ':', 0) : -ENOSPC;
	if (*r == 0)
		*r = sb_json_put_str(buf, size, o, value);
	if (*r == 0)
		*r = size - *o > 1 ? (buf[(*o)++] = ',', 0) : -ENOSPC;
}

/* One call's summary as compact JSON into buf (size from call_json_max): its strings escaped
 * and made valid UTF-8 (sb_json_put_str), so no SIP header's bytes can spoil the snapshot.
 * Written without a JSON tree: at 200 set-ups a second the snapshot of a thousand calls is
 * made four times a second. Returns 0 or -ENOSPC. */
static int call_json(const struct sb_call *c, int64_t now, char *buf, size_t size)
{
	bool codec_known = !c->late_offer || c->offer.port;
	char state[16];
	size_t o = 1;
	int r = 0, n;

	buf[0] = '{';
	put_member(buf, size, &o, "id", c->id, &r);
	put_member(buf, size, &o, "sip_call_id", c->sip_call_id, &r);
	put_member(buf, size, &o, "trunk", c->trunk ? c->trunk->name : "", &r);
	put_member(buf, size, &o, "from", c->from_user, &r);
	put_member(buf, size, &o, "to", c->to_user, &r);
	put_member(buf, size, &o, "bot", c->bot ? c->bot->name : "", &r);
	put_member(buf, size, &o, "state", state_name(c->fsm.state, state, sizeof(state)), &r);
	if (r < 0)
		return r;
	n = snprintf(buf + o, size - o,
	             "\"age_s\":%.3f,\"codec\":", (double)(now - c->t_invite_ms) / 1000.0);
	if (n < 0 || (size_t)n >= size - o)
		return -ENOSPC;
	o += (size_t)n;
	if (codec_known)
		r = sb_json_put_str(buf, size, &o, sb_codec_name(c->offer.codec));
	n = r < 0 ? -1
	          : snprintf(
	                    buf + o, size - o,
	                    "%s,\"packets_in\":%" PRIu64 ",\"packets_out\":%" PRIu64 "}",
	                    codec_known ? "" : "null",
	                    (uint64_t)atomic_load_explicit(&c->rtp_in_live, memory_order_relaxed),
	                    (uint64_t)atomic_load_explicit(&c->rtp_out_live, memory_order_relaxed));
	return n < 0 || (size_t)n >= size - o ? -ENOSPC : 0;
}

static void publish(struct sb_sip_agent *a)
{
	struct sb_admin_calls *s = sb_admin_calls_new(a->n_calls);
	int64_t now = sb_now_ms();
	size_t size = 0;
	char *buf = NULL;
	struct sb_call *c;

	if (!s) {
		log_warn_ratelimited("Out of memory building the calls snapshot, ignoring");
		return;
	}
	LIST_FOREACH(c, &a->calls, reg)
	{
		size_t need = call_json_max(c);

		if (need > size) {
			char *p = realloc(buf, need);

			if (!p)
				goto oom;
			buf = p;
			size = need;
		}
		if (call_json(c, now, buf, size) < 0 || sb_admin_calls_add(s, c->id, buf) < 0)
			goto oom;
	}
	free(buf);
	sb_admin_publish(a->d->admin, s);
	a->admin_dirty = false;
	a->admin_published_ms = now;
	return;
oom:
	free(buf);
	sb_admin_calls_unref(s);
	log_warn_ratelimited("Out of memory building the calls snapshot, ignoring");
}

static void on_publish_tick(struct sb_sip_agent *a, su_timer_t *t, struct sb_sip_agent *arg)
{
	(void)t;
	(void)arg;
	if (a->admin_dirty || sb_now_ms() - a->admin_published_ms >= PUBLISH_EVERY_MS)
		publish(a);
}

int sb_sip_admin_start(struct sb_sip_agent *a)
{
	if (!a->d->admin)
		return 0;
	publish(a);
	a->admin_timer = su_timer_create(su_root_task(a->root), PUBLISH_TICK_MS);
	if (!a->admin_timer || su_timer_set_for_ever(a->admin_timer, on_publish_tick, a) < 0)
		return log_error_errno(ENOMEM, "Cannot start the admin snapshot timer");
	return 0;
}

void sb_sip_admin_stop(struct sb_sip_agent *a)
{
	su_timer_destroy(a->admin_timer);
	a->admin_timer = NULL;
}

static void hangup(struct sb_sip_agent *a, const char *id)
{
	struct sb_call *c;

	LIST_FOREACH(c, &a->calls, reg)
	if (strcmp(c->id, id) == 0)
		break;
	if (!c) {
		log_info("Admin hangup of call %s: no such call (ended already?), ignoring", id);
		return;
	}
	sb_log_ctx_set(c->id);
	log_notice("Hanging up at the admin API's request");
	sb_log_ctx_set(NULL);
	/* As the bot's hangup event ends a call, whatever a transfer is doing; the call-end
	 * record names the admin API as who hung up. */
	c->admin_hangup = true;
	sb_sip_call_event(a, c, SB_CALL_EV_BOT_HANGUP);
}

/* Reloads and answers the admin thread: 200 {"ok":true} (with a note of keys that need a
 * restart), 400 for a file refused as invalid, 500 when it could not be read. */
static void reload(struct sb_sip_agent *a, int64_t req)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	int r = sb_sip_agent_reload(a, err, sizeof(err));
	char *body = r != 0   ? sb_admin_result_json(false, "error", err)
	             : err[0] ? sb_admin_result_json(true, "note", err)
	                      : sb_admin_result_json(true, NULL, NULL);
	struct sb_admin_reply *rep = body ? malloc(sizeof(*rep) + strlen(body) + 1) : NULL;
	struct sb_msg *m = rep ? sb_msg_new(SB_MSG_ADMIN_REPLY, NULL, req) : NULL;

	if (!m) {
		log_error("Out of memory answering an admin reload; it times out");
		free(body);
		free(rep);
		return;
	}
	rep->status = r == 0 ? 200 : r == -EINVAL ? 400 : 500;
	strcpy(rep->body, body);
	free(body);
	m->data = rep;
	sb_admin_post(a->d->admin, m);
}

void sb_sip_admin_msg(struct sb_sip_agent *a, struct sb_msg *m)
{
	switch (m->type) {
	case SB_MSG_ADMIN_HANGUP:
		if (m->text)
			hangup(a, m->text);
		break;
	case SB_MSG_ADMIN_DRAIN:
		sb_sip_agent_drain(a, "Admin API");
		break;
	case SB_MSG_ADMIN_RELOAD:
		log_notice("Admin API: reloading the configuration");
		reload(a, m->arg);
		break;
	default:
		break;
	}
}

void sb_sip_admin_call_started(struct sb_sip_agent *a)
{
	SB_METRIC_INC(calls_active, SB_M_NONE_ALL);
	a->admin_dirty = true;
}

/* What a call that ran came to, by the event that ended it and its final status. */
static int outcome(const struct sb_call *c)
{
	if (c->end_ev == SB_CALL_EV_TRANSFERRED)
		return SB_M_OUTCOME_TRANSFERRED;
	if (c->sip_status != 200)
		return c->end_ev == SB_CALL_EV_CANCEL ? SB_M_OUTCOME_CANCELLED
		                                      : SB_M_OUTCOME_REJECTED;
	switch (c->end_ev) {
	case SB_CALL_EV_RTP_TIMEOUT:
	case SB_CALL_EV_MEDIA_FAILED:
	case SB_CALL_EV_TRANSFER_FAILED:
	case -1:
		return SB_M_OUTCOME_FAILED;
	default:
		return SB_M_OUTCOME_COMPLETED;
	}
}

void sb_sip_admin_call_ended(struct sb_sip_agent *a, const struct sb_call *c)
{
	SB_METRIC_DEC(calls_active, SB_M_NONE_ALL);
	SB_METRIC_INC(calls_total, outcome(c));
	a->admin_dirty = true;
}

void sb_sip_admin_rejected(int status, const struct sb_route_out *route)
{
	int reason;

	switch (status) {
	case 403:
		reason = SB_M_REASON_ACL;
		break;
	case 404: /* a trunk took the source but not the number: the DID; else the bot route */
		reason = route && route->trunk ? SB_M_REASON_ROUTE : SB_M_REASON_DID;
		break;
	case 488:
		reason = SB_M_REASON_CODEC;
		break;
	case 503:
		reason = SB_M_REASON_LIMIT;
		break;
	default:
		reason = SB_M_REASON_MALFORMED;
		break;
	}
	SB_METRIC_INC(invites_rejected_total, reason);
}

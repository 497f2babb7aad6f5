/* Runs a loaded script on one connection: actions in order from `start` on (the raw protocol's
 * metadata frame), waits as lws timers or event counters so thousands of scripted connections
 * share one thread. Audio actions go out in the connection's protocol.
 * Thread: the lws service thread. Owns nothing; per-connection progress lives in the conn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "script_priv.h"

void sb_tb_script_note_event(struct sb_tb_conn *c, const char *event, json_t *msg)
{
	const struct sb_tb_script *s = c->app->script;
	const char *name;
	size_t i;

	if (!s || !event)
		return;
	for (i = 0; i < s->n_counters; i++)
		if (!strcmp(s->counters[i], event))
			c->counts[i]++;
	if (!s->n_named)
		return;
	name = json_string_value(json_object_get(json_object_get(msg, event), "name"));
	/* The raw protocol's frames keep their body in "data": {"type":"mark","data":{"name"}}. */
	if (!name)
		name = json_string_value(json_object_get(json_object_get(msg, "data"), "name"));
	if (!name)
		return;
	for (i = 0; i < s->n_named; i++)
		if (!strcmp(s->named[i].event, event) && !strcmp(s->named[i].name, name))
			c->named_seen |= UINT64_C(1) << i;
}

#define SID_VAR "$STREAM_SID"

/* item with every "$STREAM_SID" in it replaced by sid (a string that names it in part, as
 * "sip:agent@$STREAM_SID.example:5060", gives each connection its own value). */
static void subst_str(json_t *item, const char *sid)
{
	const char *s = json_string_value(item), *p;
	size_t var = strlen(SID_VAR), len = strlen(sid), n = 0, o = 0;
	char *out;

	for (p = strstr(s, SID_VAR); p; p = strstr(p + var, SID_VAR))
		n++;
	if (!n)
		return;
	out = malloc(strlen(s) + n * len + 1);
	if (!out)
		return;
	for (p = s; *p;) {
		if (strncmp(p, SID_VAR, var) == 0) {
			memcpy(out + o, sid, len);
			o += len;
			p += var;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	json_string_set(item, out);
	free(out);
}

/* Replaces, in place, "$STREAM_SID" in every string anywhere in v. */
static void subst_sid(json_t *v, const char *sid)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
		{
			if (json_is_string(item))
				subst_str(item, sid);
			else
				subst_sid(item, sid);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (json_is_string(item))
				subst_str(item, sid);
			else
				subst_sid(item, sid);
		}
	}
}

static void do_send(struct sb_tb_conn *c, const struct sb_tb_action *a)
{
	/* Deep copy: the script's object is shared by every connection. */
	json_t *obj = json_deep_copy(a->obj);

	if (!obj)
		return;
	subst_sid(obj, c->sid);
	sb_tb_send_json(c, obj);
	json_decref(obj);
}

static void do_tone(struct sb_tb_conn *c, const struct sb_tb_action *a)
{
	size_t samples = (size_t)((long long)c->sample_rate * a->ms / 1000);
	double phase = 0;
	int16_t *pcm;

	if (!samples)
		return;
	pcm = malloc(samples * sizeof(*pcm));
	if (!pcm)
		return;
	sb_tb_tone_fill(pcm, samples, &phase, a->hz, c->sample_rate, a->amplitude);
	sb_tb_send_pcm(c, (const uint8_t *)pcm, samples * sizeof(*pcm),
	               a->chunk_bytes ? a->chunk_bytes : sb_tb_default_chunk(c), a->key);
	free(pcm);
}

static bool event_done(const struct sb_tb_conn *c, const struct sb_tb_action *a)
{
	if (a->named >= 0)
		return c->named_seen & (UINT64_C(1) << a->named);
	return c->counts[a->counter] >= a->count;
}

/* Performs one action. Returns true when the script has to stop here for now. */
static bool step(struct sb_tb_conn *c, const struct sb_tb_action *a)
{
	switch (a->type) {
	case SB_TB_ACT_WAIT_MS:
		if (a->ms <= 0)
			return false;
		c->wait = SB_TB_WAIT_TIMER;
		sb_tb_set_timer(c, (lws_usec_t)a->ms * 1000);
		return true;
	case SB_TB_ACT_WAIT_EVENT:
		if (event_done(c, a))
			return false;
		c->wait = SB_TB_WAIT_EVENT;
		return true;
	case SB_TB_ACT_SEND:
		do_send(c, a);
		return false;
	case SB_TB_ACT_SEND_RAW:
		sb_tb_send_raw(c, a->text, strlen(a->text));
		return false;
	case SB_TB_ACT_TONE:
		do_tone(c, a);
		return false;
	case SB_TB_ACT_PCM:
		sb_tb_send_pcm(c, a->pcm, a->pcm_len,
		               a->chunk_bytes ? a->chunk_bytes : sb_tb_default_chunk(c), a->key);
		return false;
	case SB_TB_ACT_CLOSE:
		sb_tb_close_after_queue(c, a->code);
		c->wait = SB_TB_WAIT_DONE;
		return true;
	}
	return false;
}

void sb_tb_script_run(struct sb_tb_conn *c)
{
	const struct sb_tb_script *s = c->app->script;

	if (!s || !c->started || c->wait == SB_TB_WAIT_TIMER || c->wait == SB_TB_WAIT_DONE)
		return;
	c->wait = SB_TB_WAIT_NONE;
	while (c->pc < s->n) {
		if (step(c, &s->acts[c->pc]))
			break;
		c->pc++;
	}
	if (c->pc >= s->n)
		c->wait = SB_TB_WAIT_DONE;
}

void sb_tb_script_timer(struct sb_tb_conn *c)
{
	if (c->wait != SB_TB_WAIT_TIMER)
		return;
	c->wait = SB_TB_WAIT_NONE;
	c->pc++;
	sb_tb_script_run(c);
}

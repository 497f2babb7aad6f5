/* Raw audio, as jambonz's listen verb and mod_audio_fork speak it (bot-protocols.md §3): one
 * JSON text frame of call metadata first, then binary frames of little-endian PCM16 at the
 * stream's rate both ways, and JSON text frames for control. The bot's control frames may
 * use jambonz's names ({"type":"mark","data":{"name":…}}, killAudio, disconnect) or the
 * bridge's ({"event":"mark","mark":{…}}, clear, hangup, dtmf, transfer). Marks come back as
 * jambonz sends them, with "event":"playout" or "cleared". Pure (jansson). Thread: any. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sb/common.h>

#include "bot_proto_priv.h"

static int connected(char *buf, size_t size)
{
	(void)buf;
	(void)size;
	return 0; /* the metadata frame is the greeting */
}

/* jambonz's call attributes (callSid, direction, from, to, callId, accountSid) plus
 * sampleRate and mixType, and the bridge's streamSid, encoding and customParameters. */
static int start(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c)
{
	json_t *m = json_object();

	(void)seq;
	if (m &&
	    (sb_bp_set_str(m, "callSid", c->call_sid) < 0 ||
	     sb_bp_set_str(m, "streamSid", c->stream_sid) < 0 ||
	     sb_bp_set_str(m, "accountSid", c->account_sid) < 0 ||
	     sb_bp_set_str(m, "direction", "inbound") < 0 ||
	     sb_bp_set_str(m, "from", c->from) < 0 || sb_bp_set_str(m, "to", c->to) < 0 ||
	     sb_bp_set_int(m, "sampleRate", c->sample_rate) < 0 ||
	     sb_bp_set_str(m, "mixType", "mono") < 0 || sb_bp_set_str(m, "encoding", "L16") < 0 ||
	     sb_bp_set_obj(m, "customParameters", sb_bp_params(c->params, c->n_params)) < 0))
		m = sb_bp_drop(m);
	return sb_bp_dump(m, buf, size);
}

/* {"type":type,"data":data}: the shape of jambonz's own frames; takes data (NULL: none). */
static int typed(char *buf, size_t size, const char *type, json_t *data, bool has_data)
{
	json_t *root = json_object();

	if (root && sb_bp_set_str(root, "type", type) < 0)
		root = sb_bp_drop(root);
	if (root && has_data && sb_bp_set_obj(root, "data", data) < 0)
		root = sb_bp_drop(root);
	else if (!root || !has_data)
		json_decref(data);
	return sb_bp_dump(root, buf, size);
}

static int mark(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, const char *name,
                bool cleared)
{
	json_t *d = json_object();

	(void)seq;
	(void)c;
	if (d && (sb_bp_set_str(d, "name", name) < 0 ||
	          sb_bp_set_str(d, "event", cleared ? "cleared" : "playout") < 0))
		d = sb_bp_drop(d);
	return typed(buf, size, "mark", d, true);
}

/* As jambonz's listen passes a key: {"event":"dtmf","dtmf":"5","duration":ms}. */
static int dtmf(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, char digit,
                unsigned duration_ms)
{
	char d[2] = {digit, '\0'};
	json_t *root;

	(void)seq;
	(void)c;
	if (!digit || !strchr(SB_BP_DTMF_DIGITS, digit))
		return -EINVAL;
	root = json_object();
	if (root &&
	    (sb_bp_set_str(root, "event", "dtmf") < 0 || sb_bp_set_str(root, "dtmf", d) < 0 ||
	     sb_bp_set_int(root, "duration", duration_ms) < 0))
		root = sb_bp_drop(root);
	return sb_bp_dump(root, buf, size);
}

static int event(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                 const char *name)
{
	(void)seq;
	(void)c;
	return typed(buf, size, name, NULL, false);
}

static int transfer_failed(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                           const char *to, int status, const char *reason)
{
	json_t *d = json_object();

	(void)seq;
	(void)c;
	if (d && (sb_bp_set_str(d, "to", to) < 0 || sb_bp_set_int(d, "status", status) < 0 ||
	          sb_bp_set_str(d, "reason", reason) < 0))
		d = sb_bp_drop(d);
	return typed(buf, size, "transfer_failed", d, true);
}

static int stop(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                const char *reason)
{
	(void)buf;
	(void)size;
	(void)seq;
	(void)c;
	(void)reason;
	return 0; /* the stream ends with the socket's close */
}

static size_t media_max_len(size_t samples)
{
	return samples * 2;
}

/* A binary frame of little-endian PCM16. */
static int media(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, uint64_t chunk,
                 uint64_t timestamp_ms, const int16_t *pcm, size_t samples)
{
	(void)seq;
	(void)c;
	(void)chunk;
	(void)timestamp_ms;
	if (samples * 2 > size || samples * 2 > INT32_MAX)
		return -ENOSPC;
	for (size_t i = 0; i < samples; i++) {
		buf[2 * i] = (char)((uint16_t)pcm[i] & 0xff);
		buf[2 * i + 1] = (char)((uint16_t)pcm[i] >> 8);
	}
	return (int)(samples * 2);
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* The body of a control frame: jambonz's "data", else the bridge's object named key. */
static json_t *body(json_t *root, const char *key)
{
	json_t *d = sb_bp_sub(root, "data");

	return d ? d : sb_bp_sub(root, key);
}

static int decode_mark(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_mark_body(body(root, "mark"), ev, why);
}

static int decode_dtmf(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_dtmf_body(body(root, "dtmf"), ev, why);
}

static int decode_transfer(json_t *root, struct sb_bot_event *ev, const char **why)
{
	json_t *d = json_object_get(root, "data");

	return sb_bp_decode_transfer_body(d ? d : json_object_get(root, "transfer"), ev, why);
}

static const struct sb_bp_event_def events[] = {
        {"mark", SB_BOT_EV_MARK, decode_mark},
        {"clear", SB_BOT_EV_CLEAR, sb_bp_decode_none},
        {"killAudio", SB_BOT_EV_CLEAR, sb_bp_decode_none},
        {"hangup", SB_BOT_EV_HANGUP, sb_bp_decode_none},
        {"disconnect", SB_BOT_EV_HANGUP, sb_bp_decode_none},
        {"transfer", SB_BOT_EV_TRANSFER, decode_transfer},
        {"dtmf", SB_BOT_EV_DTMF, decode_dtmf},
};

/* Binary: PCM16 as it came; an odd byte count is refused here (the connection keeps an odd
 * trailing byte for the next frame before decoding). */
static int decode_audio(const char *data, size_t len, struct sb_bot_event *ev, const char **why)
{
	memset(ev, 0, sizeof(*ev));
	if (len == 0 || len % 2)
		return sb_bp_fail(why, "binary audio empty or of an odd byte count", -EPROTO);
	ev->pcm = malloc(len);
	if (!ev->pcm)
		return sb_bp_fail(why, "out of memory", -ENOMEM);
	memcpy(ev->pcm, data, len);
	ev->pcm_len = len;
	ev->type = SB_BOT_EV_MEDIA;
	return 0;
}

static int decode(const char *data, size_t len, bool binary, struct sb_bot_event *ev,
                  const char **why)
{
	if (binary)
		return decode_audio(data, len, ev, why);
	return sb_bp_decode_text(data, len, events, ARRAY_SIZE(events), ev, why);
}

const struct sb_bot_proto sb_proto_raw = {
        .name = "raw",
        .binary_media = true,
        .accepts = SB_BP_EVENT(SB_BOT_EV_MEDIA) | SB_BP_EVENT(SB_BOT_EV_MARK) |
                   SB_BP_EVENT(SB_BOT_EV_CLEAR) | SB_BP_EVENT(SB_BOT_EV_HANGUP) |
                   SB_BP_EVENT(SB_BOT_EV_TRANSFER) | SB_BP_EVENT(SB_BOT_EV_DTMF),
        .connected = connected,
        .start = start,
        .media = media,
        .media_max_len = media_max_len,
        .mark = mark,
        .dtmf = dtmf,
        .event = event,
        .transfer_failed = transfer_failed,
        .stop = stop,
        .decode = decode,
        .decode_json = decode, /* no media in text frames */
};

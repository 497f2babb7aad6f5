/* Twilio media streams (bot-protocols.md §2): connected with protocol and version, start with
 * camelCase ids, tracks, mediaFormat and customParameters, then media, mark, dtmf and stop,
 * each with a top-level streamSid and a string sequenceNumber. Audio both ways is base64
 * µ-law at 8 kHz, 20 ms per media message as Twilio sends it. Accepts media, mark, clear and
 * the extension events hangup, transfer and dtmf; media of the usual shape is decoded without a
 * JSON tree (json_media.c). Pure (jansson). Thread: any. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <sb/base64.h>
#include <sb/common.h>

#include "bot_proto_priv.h"

/* Twilio's ids are two letters and 32 hex digits: MZ… for a stream, CA… for a call. */
#define STREAM_PREFIX "MZ"
#define CALL_PREFIX "CA"

static int connected(char *buf, size_t size)
{
	json_t *root = json_object();

	if (root && (sb_bp_set_str(root, "event", "connected") < 0 ||
	             sb_bp_set_str(root, "protocol", "Call") < 0 ||
	             sb_bp_set_str(root, "version", "1.0.0") < 0))
		root = sb_bp_drop(root);
	return sb_bp_dump(root, buf, size);
}

/* {"event":ev,"sequenceNumber":"seq"}: the body follows, then "streamSid" last, as Twilio
 * orders them. */
static json_t *head(const char *ev, uint64_t seq)
{
	json_t *root = json_object();

	if (root && (sb_bp_set_str(root, "event", ev) < 0 ||
	             sb_bp_set_digits(root, "sequenceNumber", seq) < 0))
		root = sb_bp_drop(root);
	return root;
}

/* Adds body (taken; may be absent when key is NULL) and streamSid, then serialises. */
static int finish(char *buf, size_t size, json_t *root, const char *key, json_t *body,
                  const struct sb_bot_call *c)
{
	if (root && key && sb_bp_set_obj(root, key, body) < 0)
		root = sb_bp_drop(root);
	else if (!root)
		json_decref(body);
	if (root && sb_bp_set_prefixed(root, "streamSid", STREAM_PREFIX, c->stream_sid) < 0)
		root = sb_bp_drop(root);
	return sb_bp_dump(root, buf, size);
}

static json_t *media_format(void)
{
	json_t *mf = json_object();

	if (mf && (sb_bp_set_str(mf, "encoding", "audio/x-mulaw") < 0 ||
	           sb_bp_set_int(mf, "sampleRate", SB_RATE_8K) < 0 ||
	           sb_bp_set_int(mf, "channels", 1) < 0))
		mf = sb_bp_drop(mf);
	return mf;
}

static json_t *tracks(void)
{
	json_t *t = json_array();

	if (t && json_array_append_new(t, json_string("inbound")) < 0)
		t = sb_bp_drop(t);
	return t;
}

static int start(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c)
{
	json_t *st = json_object();

	if (st && (sb_bp_set_str(st, "accountSid", c->account_sid) < 0 ||
	           sb_bp_set_prefixed(st, "streamSid", STREAM_PREFIX, c->stream_sid) < 0 ||
	           sb_bp_set_prefixed(st, "callSid", CALL_PREFIX, c->call_sid) < 0 ||
	           sb_bp_set_obj(st, "tracks", tracks()) < 0 ||
	           sb_bp_set_obj(st, "mediaFormat", media_format()) < 0 ||
	           sb_bp_set_obj(st, "customParameters", sb_bp_params(c->params, c->n_params)) < 0))
		st = sb_bp_drop(st);
	return finish(buf, size, head("start", seq), "start", st, c);
}

static int mark(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, const char *name,
                bool cleared)
{
	json_t *m = json_object();

	(void)cleared; /* Twilio sends cleared marks back as it does played ones */
	if (m && sb_bp_set_str(m, "name", name) < 0)
		m = sb_bp_drop(m);
	return finish(buf, size, head("mark", seq), "mark", m, c);
}

static int dtmf(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, char digit,
                unsigned duration_ms)
{
	char d[2] = {digit, '\0'};
	json_t *body;

	(void)duration_ms; /* Twilio's dtmf has no duration */
	if (!digit || !strchr(SB_BP_DTMF_DIGITS, digit))
		return -EINVAL;
	body = json_object();
	if (body && (sb_bp_set_str(body, "track", "inbound_track") < 0 ||
	             sb_bp_set_str(body, "digit", d) < 0))
		body = sb_bp_drop(body);
	return finish(buf, size, head("dtmf", seq), "dtmf", body, c);
}

static int event(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                 const char *name)
{
	return finish(buf, size, head(name, seq), NULL, NULL, c);
}

static int transfer_failed(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                           const char *to, int status, const char *reason)
{
	json_t *t = json_object();

	if (t && (sb_bp_set_str(t, "to", to) < 0 ||
	          sb_bp_set_digits(t, "status", (uint64_t)status) < 0 ||
	          sb_bp_set_str(t, "reason", reason) < 0))
		t = sb_bp_drop(t);
	return finish(buf, size, head("transfer_failed", seq), "transfer", t, c);
}

static int stop(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                const char *reason)
{
	json_t *s = json_object();

	(void)reason; /* Twilio's stop carries the ids only */
	if (s && (sb_bp_set_str(s, "accountSid", c->account_sid) < 0 ||
	          sb_bp_set_prefixed(s, "callSid", CALL_PREFIX, c->call_sid) < 0))
		s = sb_bp_drop(s);
	return finish(buf, size, head("stop", seq), "stop", s, c);
}

/* ---- media: built by hand, 50 a second per call ------------------------------------------ */

#define MEDIA_HEAD                                                                                 \
	"{\"event\":\"media\",\"sequenceNumber\":\"%" PRIu64                                       \
	"\",\"media\":{\"track\":\"inbound\","                                                     \
	"\"chunk\":\"%" PRIu64 "\",\"timestamp\":\"%" PRIu64 "\",\"payload\":\""
#define MEDIA_SID "\"},\"streamSid\":\"" STREAM_PREFIX
#define MEDIA_TAIL "\"}"
#define MEDIA_FIXED_LEN (sizeof(MEDIA_HEAD) + sizeof(MEDIA_SID) + sizeof(MEDIA_TAIL) + 60)

static size_t media_max_len(size_t samples)
{
	return MEDIA_FIXED_LEN + SB_BP_SID_ROOM + SB_BASE64_ENCODED_LEN(samples) + 1;
}

static int media(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, uint64_t chunk,
                 uint64_t timestamp_ms, const int16_t *pcm, size_t samples)
{
	size_t o = 0;
	int r;

	if ((r = sb_bp_putf(buf, size, &o, MEDIA_HEAD, seq, chunk, timestamp_ms)) < 0 ||
	    (r = sb_bp_put_ulaw_b64(buf, size, &o, pcm, samples)) < 0 ||
	    (r = sb_bp_putf(buf, size, &o, MEDIA_SID)) < 0 ||
	    (r = sb_bp_put_escaped(buf, size, &o, c->stream_sid)) < 0 ||
	    (r = sb_bp_putf(buf, size, &o, MEDIA_TAIL)) < 0)
		return r;
	return o > INT32_MAX ? -ENOSPC : (int)o;
}

/* ---- decoding ---------------------------------------------------------------------------- */

static int decode_media(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_ulaw_b64(json_object_get(sb_bp_sub(root, "media"), "payload"), ev, why);
}

static const struct sb_bp_event_def events[] = {
        {"media", SB_BOT_EV_MEDIA, decode_media},
        {"mark", SB_BOT_EV_MARK, sb_bp_decode_mark},
        {"clear", SB_BOT_EV_CLEAR, sb_bp_decode_none},
        {"hangup", SB_BOT_EV_HANGUP, sb_bp_decode_none},
        {"transfer", SB_BOT_EV_TRANSFER, sb_bp_decode_transfer},
        {"dtmf", SB_BOT_EV_DTMF, sb_bp_decode_dtmf},
};

static int decode_json(const char *data, size_t len, bool binary, struct sb_bot_event *ev,
                       const char **why)
{
	if (binary) {
		memset(ev, 0, sizeof(*ev));
		return sb_bp_fail(why, "binary frame", -EBADMSG);
	}
	return sb_bp_decode_text(data, len, events, ARRAY_SIZE(events), ev, why);
}

/* Media, the bulk of what a bot sends, without a JSON tree when it has the usual shape. */
static int decode(const char *data, size_t len, bool binary, struct sb_bot_event *ev,
                  const char **why)
{
	int r = binary ? -EAGAIN : sb_bp_decode_media_fast(data, len, true, ev, why);

	return r == -EAGAIN ? decode_json(data, len, binary, ev, why) : r;
}

const struct sb_bot_proto sb_proto_twilio = {
        .name = "twilio",
        .frame_ms = 20,
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
        .decode_json = decode_json,
};

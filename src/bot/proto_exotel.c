/* Exotel media streams (bot-protocols.md §1): connected, then start with snake_case ids and
 * media_format, media of base64 PCM16 at the stream's rate in text frames of frame_ms, mark,
 * dtmf and stop; every number a digit string. Accepts media, mark, clear and the extension
 * events hangup, transfer and dtmf; media of the usual shape is decoded without a JSON tree
 * (json_media.c). Pure (jansson). Thread: any. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <sb/base64.h>
#include <sb/common.h>

#include "bot_proto_priv.h"

static int connected(char *buf, size_t size)
{
	static const char msg[] = "{\"event\":\"connected\"}";

	if (size < sizeof(msg))
		return -ENOSPC;
	memcpy(buf, msg, sizeof(msg));
	return (int)sizeof(msg) - 1;
}

/* {"event":ev,"sequence_number":"seq","stream_sid":sid}: every message after "connected"
 * starts with these keys in this order (jansson keeps insertion order). */
static json_t *envelope(const char *ev, uint64_t seq, const struct sb_bot_call *c)
{
	json_t *root = json_object();

	if (!root)
		return NULL;
	if (sb_bp_set_str(root, "event", ev) < 0 ||
	    sb_bp_set_digits(root, "sequence_number", seq) < 0 ||
	    sb_bp_set_str(root, "stream_sid", c->stream_sid) < 0)
		return sb_bp_drop(root);
	return root;
}

/* envelope plus one body object under key; takes body. */
static int with_body(char *buf, size_t size, json_t *root, const char *key, json_t *body)
{
	if (root && sb_bp_set_obj(root, key, body) < 0)
		root = sb_bp_drop(root);
	else if (!root)
		json_decref(body);
	return sb_bp_dump(root, buf, size);
}

static json_t *media_format(int sample_rate)
{
	json_t *mf = json_object();
	char bit_rate[32];

	if (!mf)
		return NULL;
	/* PCM16 mono: 16 bits a sample, so 128kbps at 8 kHz as Exotel says. */
	snprintf(bit_rate, sizeof(bit_rate), "%dkbps", sample_rate * 16 / 1000);
	if (sb_bp_set_str(mf, "encoding", "base64") < 0 ||
	    sb_bp_set_digits(mf, "sample_rate", (uint64_t)sample_rate) < 0 ||
	    sb_bp_set_str(mf, "bit_rate", bit_rate) < 0)
		return sb_bp_drop(mf);
	return mf;
}

static int start(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c)
{
	json_t *st = json_object();

	if (st &&
	    (sb_bp_set_str(st, "stream_sid", c->stream_sid) < 0 ||
	     sb_bp_set_str(st, "call_sid", c->call_sid) < 0 ||
	     sb_bp_set_str(st, "account_sid", c->account_sid) < 0 ||
	     sb_bp_set_str(st, "from", c->from) < 0 || sb_bp_set_str(st, "to", c->to) < 0 ||
	     sb_bp_set_obj(st, "custom_parameters", sb_bp_params(c->params, c->n_params)) < 0 ||
	     sb_bp_set_obj(st, "media_format", media_format(c->sample_rate)) < 0))
		st = sb_bp_drop(st);
	return with_body(buf, size, envelope("start", seq, c), "start", st);
}

static int mark(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, const char *name,
                bool cleared)
{
	json_t *m = json_object();

	(void)cleared; /* Exotel echoes a cleared mark as it does a played one */
	if (m && sb_bp_set_str(m, "name", name) < 0)
		m = sb_bp_drop(m);
	return with_body(buf, size, envelope("mark", seq, c), "mark", m);
}

static int dtmf(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, char digit,
                unsigned duration_ms)
{
	char d[2] = {digit, '\0'};
	json_t *body;

	if (!digit || !strchr(SB_BP_DTMF_DIGITS, digit))
		return -EINVAL;
	body = json_object();
	if (body && (sb_bp_set_str(body, "digit", d) < 0 ||
	             sb_bp_set_digits(body, "duration", duration_ms) < 0))
		body = sb_bp_drop(body);
	return with_body(buf, size, envelope("dtmf", seq, c), "dtmf", body);
}

static int event(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                 const char *name)
{
	return sb_bp_dump(envelope(name, seq, c), buf, size);
}

static int transfer_failed(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                           const char *to, int status, const char *reason)
{
	json_t *t = json_object();

	if (t && (sb_bp_set_str(t, "to", to) < 0 ||
	          sb_bp_set_digits(t, "status", (uint64_t)status) < 0 ||
	          sb_bp_set_str(t, "reason", reason) < 0))
		t = sb_bp_drop(t);
	return with_body(buf, size, envelope("transfer_failed", seq, c), "transfer", t);
}

static int stop(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
                const char *reason)
{
	json_t *s = json_object();

	if (s && (sb_bp_set_str(s, "call_sid", c->call_sid) < 0 ||
	          sb_bp_set_str(s, "account_sid", c->account_sid) < 0 ||
	          sb_bp_set_str(s, "reason", reason) < 0))
		s = sb_bp_drop(s);
	return with_body(buf, size, envelope("stop", seq, c), "stop", s);
}

/* ---- media: built by hand, it is sent every frame_ms per call ----------------------------- */

#define MEDIA_HEAD "{\"event\":\"media\",\"sequence_number\":\"%" PRIu64 "\",\"stream_sid\":\""
#define MEDIA_BODY                                                                                 \
	"\",\"media\":{\"chunk\":\"%" PRIu64 "\",\"timestamp\":\"%" PRIu64 "\",\"payload\":\""
#define MEDIA_TAIL "\"}}"
/* Fixed text plus three 20-digit numbers. */
#define MEDIA_FIXED_LEN (sizeof(MEDIA_HEAD) + sizeof(MEDIA_BODY) + sizeof(MEDIA_TAIL) + 60)

static size_t media_max_len(size_t samples)
{
	return MEDIA_FIXED_LEN + SB_BP_SID_ROOM + SB_BASE64_ENCODED_LEN(samples * 2) + 1;
}

static int media(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, uint64_t chunk,
                 uint64_t timestamp_ms, const int16_t *pcm, size_t samples)
{
	size_t o = 0;
	int r;

	if ((r = sb_bp_putf(buf, size, &o, MEDIA_HEAD, seq)) < 0 ||
	    (r = sb_bp_put_escaped(buf, size, &o, c->stream_sid)) < 0 ||
	    (r = sb_bp_putf(buf, size, &o, MEDIA_BODY, chunk, timestamp_ms)) < 0 ||
	    (r = sb_bp_put_pcm_b64(buf, size, &o, pcm, samples)) < 0 ||
	    (r = sb_bp_putf(buf, size, &o, MEDIA_TAIL)) < 0)
		return r;
	return o > INT32_MAX ? -ENOSPC : (int)o;
}

/* ---- decoding ---------------------------------------------------------------------------- */

static int decode_media(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_pcm_b64(json_object_get(sb_bp_sub(root, "media"), "payload"), ev, why);
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
	int r = binary ? -EAGAIN : sb_bp_decode_media_fast(data, len, false, ev, why);

	return r == -EAGAIN ? decode_json(data, len, binary, ev, why) : r;
}

const struct sb_bot_proto sb_proto_exotel = {
        .name = "exotel",
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

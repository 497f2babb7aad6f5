/* Wire formats of the bot protocols the test bot speaks (--protocol): exotel (JSON, base64
 * PCM16 at the stream's rate), twilio (JSON, base64 µ-law at 8 kHz) and raw (one metadata text
 * frame, then binary PCM16 LE and JSON control frames, as jambonz's listen). Thread: the lws
 * service thread. Owns nothing: it reads start messages and turns PCM into outgoing frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sb/common.h>

#include "testbot.h"

#define RATE_MIN 1000
#define RATE_MAX 192000

static enum sb_tb_key resolve_key(const struct sb_tb_conn *c, enum sb_tb_key key)
{
	if (key != SB_TB_KEY_AUTO)
		return key;
	return c->app->proto == SB_TB_PROTO_TWILIO ? SB_TB_KEY_CAMEL : SB_TB_KEY_SNAKE;
}

static json_t *media_msg(const struct sb_tb_conn *c, const char *b64, enum sb_tb_key key)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "event", json_string("media"));
	if (key == SB_TB_KEY_SNAKE)
		json_object_set_new(obj, "stream_sid", json_string(c->sid));
	else if (key == SB_TB_KEY_CAMEL)
		json_object_set_new(obj, "streamSid", json_string(c->sid));
	json_object_set_new(obj, "media", json_pack("{s:s}", "payload", b64));
	return obj;
}

/* One media message carrying data (any bytes) as its base64 payload. */
static int send_b64(struct sb_tb_conn *c, const uint8_t *data, size_t len, enum sb_tb_key key)
{
	size_t cap = len * 4 / 3 + 8;
	char *b64 = malloc(cap);
	json_t *obj;
	int r;

	if (!b64)
		return -ENOMEM;
	if (lws_b64_encode_string((const char *)data, (int)len, b64, (int)cap) < 0) {
		free(b64);
		return -ENOSPC;
	}
	obj = media_msg(c, b64, key);
	r = obj ? sb_tb_send_json(c, obj) : -ENOMEM;
	json_decref(obj);
	free(b64);
	return r;
}

/* Twilio's audio is µ-law: one byte per sample; an odd trailing byte is dropped. */
static int send_ulaw(struct sb_tb_conn *c, const uint8_t *pcm, size_t len, enum sb_tb_key key)
{
	size_t i, n = len / 2;
	uint8_t *ulaw;
	int r;

	if (!n)
		return 0;
	ulaw = malloc(n);
	if (!ulaw)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ulaw[i] = sb_tb_ulaw_encode((int16_t)(pcm[2 * i] | pcm[2 * i + 1] << 8));
	r = send_b64(c, ulaw, n, key);
	free(ulaw);
	return r;
}

static int send_chunk(struct sb_tb_conn *c, const uint8_t *pcm, size_t len, enum sb_tb_key key)
{
	switch (c->app->proto) {
	case SB_TB_PROTO_RAW:
		return sb_tb_send_binary(c, pcm, len);
	case SB_TB_PROTO_TWILIO:
		return send_ulaw(c, pcm, len, key);
	case SB_TB_PROTO_EXOTEL:
		break;
	}
	return send_b64(c, pcm, len, key);
}

int sb_tb_send_pcm(struct sb_tb_conn *c, const uint8_t *pcm, size_t len, size_t chunk_bytes,
                   enum sb_tb_key key)
{
	size_t off, n;
	int r = 0;

	if (!chunk_bytes)
		return -EINVAL;
	key = resolve_key(c, key);
	for (off = 0; off < len && !r; off += n) {
		n = len - off < chunk_bytes ? len - off : chunk_bytes;
		r = send_chunk(c, pcm + off, n, key);
	}
	return r;
}

size_t sb_tb_default_chunk(const struct sb_tb_conn *c)
{
	/* Twilio sends 20 ms per message and so does this bot; Exotel's cadence is 100 ms. */
	if (c->app->proto == SB_TB_PROTO_TWILIO)
		return c->sample_rate / 50 * 2;
	return c->sample_rate / 10 * 2;
}

const char *sb_tb_rx_event(const struct sb_tb_conn *c, json_t *msg)
{
	const char *ev;

	if (c->app->proto != SB_TB_PROTO_RAW)
		return json_string_value(json_object_get(msg, "event"));
	/* jambonz's first text frame is the call's metadata and has no name of its own. */
	if (!c->started)
		return "start";
	ev = json_string_value(json_object_get(msg, "type"));
	return ev ? ev : json_string_value(json_object_get(msg, "event"));
}

/* A rate as a digit string (Exotel) or an integer (raw); 0 when absent or implausible. */
static unsigned parse_rate(json_t *v)
{
	long r = 0;

	if (json_is_string(v))
		r = strtol(json_string_value(v), NULL, 10);
	else if (json_is_integer(v))
		r = (long)json_integer_value(v);
	return r >= RATE_MIN && r <= RATE_MAX ? (unsigned)r : 0;
}

/* The first string member found: objs[0].keys[0], objs[1].keys[1], ... */
static const char *first_str(json_t *const *objs, const char *const *keys, size_t n)
{
	const char *s = NULL;
	size_t i;

	for (i = 0; i < n && !s; i++)
		s = json_string_value(json_object_get(objs[i], keys[i]));
	return s;
}

/* Exotel's ids are snake_case, Twilio's camelCase; either is accepted from either. */
static void start_json(struct sb_tb_conn *c, json_t *msg)
{
	static const char *const snake[] = {"stream_sid", "stream_sid", "streamSid", "streamSid"};
	static const char *const camel[] = {"streamSid", "streamSid", "stream_sid", "stream_sid"};
	json_t *start = json_object_get(msg, "start");
	json_t *objs[] = {start, msg, start, msg};
	const char *sid;
	unsigned rate = 0;

	if (c->app->proto == SB_TB_PROTO_TWILIO) {
		/* µ-law is 8 kHz whatever the message says, so the rate stays at 8000. */
		sid = first_str(objs, camel, ARRAY_SIZE(objs));
	} else {
		sid = first_str(objs, snake, ARRAY_SIZE(objs));
		rate = parse_rate(
		        json_object_get(json_object_get(start, "media_format"), "sample_rate"));
	}
	if (rate)
		c->sample_rate = rate;
	snprintf(c->sid, sizeof(c->sid), "%s", sid ? sid : "");
}

/* jambonz's metadata has a callSid; the bridge adds a streamSid, which names recordings. */
static void start_raw(struct sb_tb_conn *c, json_t *msg)
{
	static const char *const keys[] = {"streamSid", "callSid"};
	json_t *objs[] = {msg, msg};
	const char *sid = first_str(objs, keys, ARRAY_SIZE(objs));
	unsigned rate = parse_rate(json_object_get(msg, "sampleRate"));

	snprintf(c->sid, sizeof(c->sid), "%s", sid ? sid : "");
	if (rate)
		c->sample_rate = rate;
}

void sb_tb_on_start(struct sb_tb_conn *c, json_t *msg)
{
	if (c->started)
		return;
	if (c->app->proto == SB_TB_PROTO_RAW)
		start_raw(c, msg);
	else
		start_json(c, msg);
	c->started = true;
	sb_tb_arrivals_start(c, msg);
	if (c->app->mode == SB_TB_MODE_TONE)
		sb_tb_tone_start(c);
	else if (c->app->mode == SB_TB_MODE_SCRIPT)
		sb_tb_script_run(c);
}

/* Bot WebSocket protocol, Exotel profile: encodes connected/start/media/mark/dtmf/stop for the
 * bot and decodes the bot's media/mark/clear plus the hangup/transfer/dtmf extension events.
 * Pure (jansson). Thread: any (the ws thread that owns the bot connection).
 * Owns nothing; decoded events own their malloc'd payload and strings. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sb/base64.h>
#include <sb/bot_proto.h>
#include <sb/common.h>

/* ---- encoding ---------------------------------------------------------------------------- */

#define SEQ_DIGITS 21 /* UINT64_MAX has 20 digits */
#define DTMF_DIGITS "0123456789*#ABCD"

static json_t *drop(json_t *j)
{
	json_decref(j);
	return NULL;
}

/* A json string for text from outside (SIP headers, mark names): invalid UTF-8 would make
 * jansson refuse the whole message, so such bytes become '?' rather than failing the call. */
static json_t *jstr(const char *s)
{
	json_t *j;
	char *copy;

	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *c = copy; *c; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int set_str(json_t *obj, const char *key, const char *value)
{
	return json_object_set_new(obj, key, jstr(value)) == 0 ? 0 : -ENOMEM;
}

static int set_u64(json_t *obj, const char *key, uint64_t v)
{
	char digits[SEQ_DIGITS];

	snprintf(digits, sizeof(digits), "%" PRIu64, v);
	return set_str(obj, key, digits);
}

/* {"event":ev,"sequence_number":"seq","stream_sid":sid}: every message after "connected"
 * starts with these keys in this order (jansson keeps insertion order). */
static json_t *envelope(const char *ev, uint64_t seq, const char *stream_sid)
{
	json_t *root = json_object();

	if (!root)
		return NULL;
	if (set_str(root, "event", ev) < 0 || set_u64(root, "sequence_number", seq) < 0 ||
	    set_str(root, "stream_sid", stream_sid) < 0)
		return drop(root);
	return root;
}

/* Serialises and releases root. json_dumpb does not terminate, so one byte is kept for it. */
static int dump(json_t *root, char *buf, size_t size)
{
	size_t n;

	if (!root)
		return -ENOMEM;
	n = json_dumpb(root, buf, size, JSON_COMPACT);
	json_decref(root);
	if (n == 0)
		return -ENOMEM;
	if (n >= size || n > INT32_MAX)
		return -ENOSPC;
	buf[n] = '\0';
	return (int)n;
}

int sb_bot_proto_connected(char *buf, size_t size)
{
	static const char msg[] = "{\"event\":\"connected\"}";

	if (size < sizeof(msg))
		return -ENOSPC;
	memcpy(buf, msg, sizeof(msg));
	return (int)sizeof(msg) - 1;
}

static json_t *custom_params(const struct sb_kv *params, size_t n)
{
	json_t *obj = json_object();

	for (size_t i = 0; obj && i < n; i++) {
		/* Object keys must be valid UTF-8 too; jstr's repair is reused through a value. */
		json_t *k = jstr(params[i].name);

		if (!k || set_str(obj, json_string_value(k), params[i].value) < 0) {
			json_decref(obj);
			obj = NULL;
		}
		json_decref(k);
	}
	return obj;
}

static json_t *media_format(int sample_rate)
{
	json_t *mf = json_object();

	if (!mf)
		return NULL;
	if (set_str(mf, "encoding", "base64") < 0 || set_u64(mf, "sample_rate", sample_rate) < 0 ||
	    set_str(mf, "bit_rate", "128kbps") < 0)
		return drop(mf);
	return mf;
}

static json_t *start_body(const struct sb_bot_start *s)
{
	json_t *st = json_object();

	if (!st)
		return NULL;
	if (set_str(st, "stream_sid", s->stream_sid) < 0 ||
	    set_str(st, "call_sid", s->call_sid) < 0 ||
	    set_str(st, "account_sid", s->account_sid) < 0 || set_str(st, "from", s->from) < 0 ||
	    set_str(st, "to", s->to) < 0 ||
	    json_object_set_new(st, "custom_parameters", custom_params(s->params, s->n_params)) ||
	    json_object_set_new(st, "media_format", media_format(s->sample_rate)))
		return drop(st);
	return st;
}

int sb_bot_proto_start(char *buf, size_t size, uint64_t seq, const struct sb_bot_start *s)
{
	json_t *root = envelope("start", seq, s->stream_sid);

	if (root && json_object_set_new(root, "start", start_body(s)) < 0)
		root = drop(root);
	return dump(root, buf, size);
}

int sb_bot_proto_mark(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                      const char *name)
{
	json_t *root = envelope("mark", seq, stream_sid), *mark = json_object();

	if (!mark || set_str(mark, "name", name) < 0) {
		json_decref(mark);
		mark = NULL;
	}
	if (root && json_object_set_new(root, "mark", mark) < 0)
		root = drop(root);
	else if (!root)
		json_decref(mark);
	return dump(root, buf, size);
}

int sb_bot_proto_dtmf(char *buf, size_t size, uint64_t seq, const char *stream_sid, char digit,
                      unsigned duration_ms)
{
	char d[2] = {digit, '\0'};
	json_t *root, *dtmf;

	if (!digit || !strchr(DTMF_DIGITS, digit))
		return -EINVAL;
	root = envelope("dtmf", seq, stream_sid);
	dtmf = json_object();
	if (!dtmf || set_str(dtmf, "digit", d) < 0 || set_u64(dtmf, "duration", duration_ms) < 0) {
		json_decref(dtmf);
		dtmf = NULL;
	}
	if (root && json_object_set_new(root, "dtmf", dtmf) < 0)
		root = drop(root);
	else if (!root)
		json_decref(dtmf);
	return dump(root, buf, size);
}

int sb_bot_proto_event(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                       const char *event)
{
	return dump(envelope(event, seq, stream_sid), buf, size);
}

int sb_bot_proto_transfer_failed(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                                 const char *to, int status, const char *reason)
{
	json_t *root = envelope("transfer_failed", seq, stream_sid), *t = json_object();

	if (!t || set_str(t, "to", to) < 0 || set_u64(t, "status", (uint64_t)status) < 0 ||
	    set_str(t, "reason", reason) < 0) {
		json_decref(t);
		t = NULL;
	}
	if (root && json_object_set_new(root, "transfer", t) < 0)
		root = drop(root);
	else if (!root)
		json_decref(t);
	return dump(root, buf, size);
}

int sb_bot_proto_stop(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                      const char *call_sid, const char *account_sid, const char *reason)
{
	json_t *root = envelope("stop", seq, stream_sid), *stop = json_object();

	if (!stop || set_str(stop, "call_sid", call_sid) < 0 ||
	    set_str(stop, "account_sid", account_sid) < 0 || set_str(stop, "reason", reason) < 0) {
		json_decref(stop);
		stop = NULL;
	}
	if (root && json_object_set_new(root, "stop", stop) < 0)
		root = drop(root);
	else if (!root)
		json_decref(stop);
	return dump(root, buf, size);
}

/* ---- media: built by hand, it is sent every 100 ms per call ------------------------------ */

#define MEDIA_FMT_HEAD "{\"event\":\"media\",\"sequence_number\":\"%" PRIu64 "\",\"stream_sid\":\""
#define MEDIA_FMT_BODY                                                                             \
	"\",\"media\":{\"chunk\":\"%" PRIu64 "\",\"timestamp\":\"%" PRIu64 "\",\"payload\":\""
#define MEDIA_TAIL "\"}}"
/* Fixed text plus three 20-digit numbers. */
#define MEDIA_FIXED_LEN (sizeof(MEDIA_FMT_HEAD) + sizeof(MEDIA_FMT_BODY) + sizeof(MEDIA_TAIL) + 60)
/* Room for a stream_sid of SB_BOT_SID_LEN characters, each escaped as \u00XX at worst. */
#define MEDIA_SID_ROOM (6 * SB_BOT_SID_LEN)

size_t sb_bot_proto_media_max_len(size_t samples)
{
	return MEDIA_FIXED_LEN + MEDIA_SID_ROOM + SB_BASE64_ENCODED_LEN(samples * 2) + 1;
}

/* Appends s as JSON string content. The sid is generated by the bridge, but whatever it holds
 * must not break the message: ASCII is escaped, other bytes are refused (-EINVAL). */
static int put_escaped(char *buf, size_t size, size_t *o, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int n;

		if (c >= 0x80)
			return -EINVAL;
		if (c == '"' || c == '\\')
			n = snprintf(buf + *o, size - *o, "\\%c", c);
		else if (c < 0x20)
			n = snprintf(buf + *o, size - *o, "\\u%04x", c);
		else
			n = snprintf(buf + *o, size - *o, "%c", c);
		if ((size_t)n >= size - *o)
			return -ENOSPC;
		*o += (size_t)n;
	}
	return 0;
}

/* Base64 of the samples as little-endian bytes. */
static int put_pcm(char *buf, size_t size, size_t *o, const int16_t *pcm, size_t samples)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	int n = sb_base64_encode((const uint8_t *)pcm, samples * 2, buf + *o, size - *o);

	if (n < 0)
		return n;
	*o += (size_t)n;
	return 0;
#else
	/* Chunks of 3 samples x 2 bytes keep the base64 quanta aligned between chunks. */
	uint8_t le[960 * 2];

	while (samples) {
		size_t k = samples < 960 ? samples : 960;
		int n;

		for (size_t i = 0; i < k; i++) {
			le[2 * i] = (uint8_t)((uint16_t)pcm[i] & 0xff);
			le[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
		}
		n = sb_base64_encode(le, k * 2, buf + *o, size - *o);
		if (n < 0)
			return n;
		*o += (size_t)n;
		pcm += k;
		samples -= k;
	}
	return 0;
#endif
}

int sb_bot_proto_media(char *buf, size_t size, uint64_t seq, const char *stream_sid, uint64_t chunk,
                       uint64_t timestamp_ms, const int16_t *pcm, size_t samples)
{
	size_t o = 0;
	int n, r;

	n = snprintf(buf, size, MEDIA_FMT_HEAD, seq);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	o = (size_t)n;
	r = put_escaped(buf, size, &o, stream_sid ? stream_sid : "");
	if (r < 0)
		return r;
	n = snprintf(buf + o, size - o, MEDIA_FMT_BODY, chunk, timestamp_ms);
	if (n < 0 || (size_t)n >= size - o)
		return -ENOSPC;
	o += (size_t)n;
	r = put_pcm(buf, size, &o, pcm, samples);
	if (r < 0)
		return r;
	if (size - o < sizeof(MEDIA_TAIL) || o + sizeof(MEDIA_TAIL) > INT32_MAX)
		return -ENOSPC;
	memcpy(buf + o, MEDIA_TAIL, sizeof(MEDIA_TAIL));
	return (int)(o + sizeof(MEDIA_TAIL) - 1);
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef int decode_fn(json_t *root, struct sb_bot_event *ev, const char **why);

/* A sub-object by name, or NULL when absent or not an object. */
static json_t *sub(json_t *root, const char *key)
{
	json_t *o = json_object_get(root, key);

	return json_is_object(o) ? o : NULL;
}

static int fail(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return err;
}

static int decode_media(json_t *root, struct sb_bot_event *ev, const char **why)
{
	json_t *payload = json_object_get(sub(root, "media"), "payload");
	const char *b64 = json_string_value(payload);
	size_t len = json_string_length(payload);
	long n;

	if (!b64)
		return fail(why, "media without a payload string", -EPROTO);
	if (len == 0)
		return fail(why, "empty media payload", -EPROTO);
	ev->pcm = malloc(len / 4 * 3 + 1);
	if (!ev->pcm)
		return fail(why, "out of memory", -ENOMEM);
	n = sb_base64_decode(b64, len, ev->pcm, len / 4 * 3 + 1);
	if (n < 0)
		return fail(why, "media payload is not base64", -EPROTO);
	if (n == 0 || n % 2)
		return fail(why, "media payload has an odd byte count", -EPROTO);
	ev->pcm_len = (size_t)n;
	return 0;
}

static int decode_mark(json_t *root, struct sb_bot_event *ev, const char **why)
{
	json_t *name = json_object_get(sub(root, "mark"), "name");
	size_t len = json_string_length(name);

	if (!json_is_string(name))
		return fail(why, "mark without a name string", -EPROTO);
	if (len == 0 || len > SB_BOT_MARK_NAME_MAX)
		return fail(why, "mark name empty or too long", -EPROTO);
	ev->name = strndup(json_string_value(name), len);
	if (!ev->name)
		return fail(why, "out of memory", -ENOMEM);
	return 0;
}

static int decode_none(json_t *root, struct sb_bot_event *ev, const char **why)
{
	(void)root;
	(void)ev;
	(void)why;
	return 0;
}

/* A header name a SIP message can carry as is: 1..SB_BOT_HEADER_NAME_MAX of [A-Za-z0-9-]. */
static bool header_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= SB_BOT_HEADER_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* transfer.headers: {"Name":"value",...} in the bot's order. Each entry is counted in ev
 * before it is copied, so a failure half way leaves nothing sb_bot_event_done would miss. */
static int decode_headers(json_t *h, struct sb_bot_event *ev, const char **why)
{
	const char *name;
	json_t *value;

	if (!h || json_is_null(h))
		return 0;
	if (!json_is_object(h))
		return fail(why, "transfer.headers is not an object", -EPROTO);
	if (json_object_size(h) > SB_BOT_HEADERS_MAX)
		return fail(why, "transfer.headers has too many entries", -EPROTO);
	if (json_object_size(h) == 0)
		return 0;
	ev->headers = calloc(json_object_size(h), sizeof(*ev->headers));
	if (!ev->headers)
		return fail(why, "out of memory", -ENOMEM);
	json_object_foreach(h, name, value)
	{
		const char *v = json_string_value(value);
		size_t len = json_string_length(value);
		struct sb_kv *kv = &ev->headers[ev->n_headers];

		if (!header_name_ok(name))
			return fail(why, "transfer header name is not a token", -EPROTO);
		if (!v)
			return fail(why, "transfer header value is not a string", -EPROTO);
		if (len > SB_BOT_HEADER_VALUE_MAX || strlen(v) != len || strpbrk(v, "\r\n"))
			return fail(why, "transfer header value too long or with CR, LF or NUL",
			            -EPROTO);
		ev->n_headers++;
		kv->name = strdup(name);
		kv->value = strdup(v);
		if (!kv->name || !kv->value)
			return fail(why, "out of memory", -ENOMEM);
	}
	return 0;
}

static int decode_transfer(json_t *root, struct sb_bot_event *ev, const char **why)
{
	json_t *t = json_object_get(root, "transfer"), *to;

	if (!t || json_is_null(t))
		return 0;
	if (!json_is_object(t))
		return fail(why, "transfer is not an object", -EPROTO);
	to = json_object_get(t, "to");
	if (to && !json_is_null(to)) {
		/* An embedded NUL would cut the target short: refuse rather than transfer
		 * elsewhere. */
		if (!json_is_string(to) || strlen(json_string_value(to)) != json_string_length(to))
			return fail(why, "transfer.to is not a string", -EPROTO);
		ev->to = strdup(json_string_value(to));
		if (!ev->to)
			return fail(why, "out of memory", -ENOMEM);
	}
	return decode_headers(json_object_get(t, "headers"), ev, why);
}

/* dtmf.duration: absent or null, a JSON integer, or a digit string as Exotel writes numbers;
 * 0..SB_BOT_DTMF_MAX_MS. */
static int dtmf_duration(json_t *d, unsigned *ms)
{
	const char *s = json_string_value(d);
	size_t len = json_string_length(d);
	json_int_t v = 0;

	if (!d || json_is_null(d))
		return 0;
	if (json_is_integer(d))
		v = json_integer_value(d);
	else if (s && len > 0 && len <= 5 && strspn(s, "0123456789") == len)
		for (; *s; s++)
			v = v * 10 + (*s - '0');
	else
		return -EPROTO;
	if (v < 0 || v > SB_BOT_DTMF_MAX_MS)
		return -EPROTO;
	*ms = (unsigned)v;
	return 0;
}

static int decode_dtmf(json_t *root, struct sb_bot_event *ev, const char **why)
{
	json_t *d = json_object_get(sub(root, "dtmf"), "digit");
	const char *s = json_string_value(d);

	if (!s || json_string_length(d) != 1 || !s[0] || !strchr(DTMF_DIGITS, s[0]))
		return fail(why, "dtmf without one digit of 0-9*#A-D", -EPROTO);
	if (dtmf_duration(json_object_get(sub(root, "dtmf"), "duration"), &ev->duration_ms) < 0)
		return fail(why, "dtmf.duration is not a number of 0-60000 ms", -EPROTO);
	ev->digit = s[0];
	return 0;
}

static const struct {
	const char *name;
	enum sb_bot_ev type;
	decode_fn *decode;
} events[] = {
        {"media", SB_BOT_EV_MEDIA, decode_media},
        {"mark", SB_BOT_EV_MARK, decode_mark},
        {"clear", SB_BOT_EV_CLEAR, decode_none},
        {"hangup", SB_BOT_EV_HANGUP, decode_none},
        {"transfer", SB_BOT_EV_TRANSFER, decode_transfer},
        {"dtmf", SB_BOT_EV_DTMF, decode_dtmf},
};

/* "event" first; "type" only when "event" is absent, as some bots name it. */
static const char *event_name(json_t *root)
{
	json_t *ev = json_object_get(root, "event");

	if (!ev)
		ev = json_object_get(root, "type");
	return json_string_value(ev);
}

int sb_bot_proto_decode(const char *text, size_t len, struct sb_bot_event *ev, const char **why)
{
	json_t *root;
	const char *name;
	int r = -ENOTSUP;

	memset(ev, 0, sizeof(*ev));
	/* json_loadb takes the length, so embedded NULs are seen (and rejected) by the parser. */
	root = text ? json_loadb(text, len, 0, NULL) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(why, "not a JSON object", -EBADMSG);
	}
	name = event_name(root);
	if (!name) {
		json_decref(root);
		return fail(why, "no event name string", -EBADMSG);
	}
	for (size_t i = 0; i < ARRAY_SIZE(events); i++) {
		if (strcmp(name, events[i].name) == 0) {
			ev->type = events[i].type;
			r = events[i].decode(root, ev, why);
			break;
		}
	}
	json_decref(root);
	if (r == -ENOTSUP)
		fail(why, "unknown event", r);
	if (r < 0)
		sb_bot_event_done(ev);
	return r;
}

void sb_bot_event_done(struct sb_bot_event *ev)
{
	free(ev->pcm);
	free(ev->name);
	free(ev->to);
	for (size_t i = 0; i < ev->n_headers; i++) {
		free((char *)ev->headers[i].name);
		free((char *)ev->headers[i].value);
	}
	free(ev->headers);
	memset(ev, 0, sizeof(*ev));
}

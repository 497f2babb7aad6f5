/* The bot protocol interface: the profile of a configured protocol, and what the profiles
 * share: JSON building, hand-built media framing (base64 of PCM16 or µ-law), and the
 * decoders of events that look the same in every profile (mark, dtmf, transfer).
 * Pure (jansson). Thread: any. Owns nothing; decoded events own their malloc'd strings. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/base64.h>
#include <sb/codec.h>
#include <sb/common.h>
#include <sb/json_media.h>
#include <sb/transfer.h>

#include "bot_proto_priv.h"

const struct sb_bot_proto *sb_bot_proto_get(enum sb_bot_protocol p)
{
	switch (p) {
	case SB_PROTO_TWILIO:
		return &sb_proto_twilio;
	case SB_PROTO_RAW:
		return &sb_proto_raw;
	default:
		return &sb_proto_exotel;
	}
}

/* ---- building ---------------------------------------------------------------------------- */

json_t *sb_bp_drop(json_t *j)
{
	json_decref(j);
	return NULL;
}

json_t *sb_bp_str(const char *s)
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

int sb_bp_set_obj(json_t *obj, const char *key, json_t *child)
{
	if (!child)
		return -ENOMEM;
	return json_object_set_new(obj, key, child) == 0 ? 0 : -ENOMEM;
}

int sb_bp_set_str(json_t *obj, const char *key, const char *value)
{
	return sb_bp_set_obj(obj, key, sb_bp_str(value));
}

int sb_bp_set_prefixed(json_t *obj, const char *key, const char *prefix, const char *value)
{
	size_t lp = strlen(prefix), lv = value ? strlen(value) : 0;
	char *s = malloc(lp + lv + 1);
	int r;

	if (!s)
		return -ENOMEM;
	memcpy(s, prefix, lp);
	memcpy(s + lp, value ? value : "", lv + 1);
	r = sb_bp_set_str(obj, key, s);
	free(s);
	return r;
}

int sb_bp_set_digits(json_t *obj, const char *key, uint64_t v)
{
	char digits[24];

	snprintf(digits, sizeof(digits), "%" PRIu64, v);
	return sb_bp_set_str(obj, key, digits);
}

int sb_bp_set_int(json_t *obj, const char *key, int64_t v)
{
	return sb_bp_set_obj(obj, key, json_integer(v));
}

json_t *sb_bp_params(const struct sb_kv *params, size_t n)
{
	json_t *obj = json_object();

	for (size_t i = 0; obj && i < n; i++) {
		/* Object keys must be valid UTF-8 too; the repair of sb_bp_str is reused. */
		json_t *k = sb_bp_str(params[i].name);

		if (!k || sb_bp_set_str(obj, json_string_value(k), params[i].value) < 0)
			obj = sb_bp_drop(obj);
		json_decref(k);
	}
	return obj;
}

int sb_bp_dump(json_t *root, char *buf, size_t size)
{
	size_t n;

	if (!root)
		return -ENOMEM;
	/* json_dumpb does not terminate, so one byte is kept for the NUL. */
	n = json_dumpb(root, buf, size, JSON_COMPACT);
	json_decref(root);
	if (n == 0)
		return -ENOMEM;
	if (n >= size || n > INT32_MAX)
		return -ENOSPC;
	buf[n] = '\0';
	return (int)n;
}

/* ---- hand-built text --------------------------------------------------------------------- */

int sb_bp_putf(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= size)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, size - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *o)
		return -ENOSPC;
	*o += (size_t)n;
	return 0;
}

int sb_bp_put_escaped(char *buf, size_t size, size_t *o, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		int r;

		if (c >= 0x80)
			return -EINVAL;
		if (c >= 0x20 && c != '"' && c != '\\') {
			/* the usual character, written as it is: a format per character was most of
			 * a media message's cost after its payload */
			if (*o >= size || size - *o < 2)
				return -ENOSPC;
			buf[(*o)++] = (char)c;
			buf[*o] = '\0';
			continue;
		}
		if (c < 0x20)
			r = sb_bp_putf(buf, size, o, "\\u%04x", c);
		else
			r = sb_bp_putf(buf, size, o, "\\%c", c);
		if (r < 0)
			return r;
	}
	return 0;
}

static int put_b64(char *buf, size_t size, size_t *o, const uint8_t *bytes, size_t n)
{
	int r = sb_base64_encode(bytes, n, buf + *o, size - *o);

	if (r < 0)
		return r;
	*o += (size_t)r;
	return 0;
}

/* Chunks of a multiple of 3 bytes keep the base64 quanta aligned between chunks. */
#define CHUNK_SAMPLES 960

int sb_bp_put_pcm_b64(char *buf, size_t size, size_t *o, const int16_t *pcm, size_t samples)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return put_b64(buf, size, o, (const uint8_t *)pcm, samples * 2);
#else
	uint8_t le[CHUNK_SAMPLES * 2];

	while (samples) {
		size_t k = samples < CHUNK_SAMPLES ? samples : CHUNK_SAMPLES;
		int r;

		for (size_t i = 0; i < k; i++) {
			le[2 * i] = (uint8_t)((uint16_t)pcm[i] & 0xff);
			le[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
		}
		r = put_b64(buf, size, o, le, k * 2);
		if (r < 0)
			return r;
		pcm += k;
		samples -= k;
	}
	return 0;
#endif
}

int sb_bp_put_ulaw_b64(char *buf, size_t size, size_t *o, const int16_t *pcm, size_t samples)
{
	uint8_t ulaw[CHUNK_SAMPLES];

	while (samples) {
		size_t k = samples < CHUNK_SAMPLES ? samples : CHUNK_SAMPLES;
		int r;

		sb_codec_encode(SB_CODEC_PCMU, pcm, k, ulaw);
		r = put_b64(buf, size, o, ulaw, k);
		if (r < 0)
			return r;
		pcm += k;
		samples -= k;
	}
	return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

int sb_bp_fail(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return err;
}

json_t *sb_bp_sub(json_t *obj, const char *key)
{
	json_t *o = json_object_get(obj, key);

	return json_is_object(o) ? o : NULL;
}

/* Base64 text of a payload into out (cap bytes, room for len / 4 * 3); its decoded length, or
 * an error. The jansson path and the fast path share it, so their answers are the same. */
static long decode_b64(const char *b64, size_t len, uint8_t *out, size_t cap, const char **why)
{
	long n;

	if (len == 0)
		return sb_bp_fail(why, "empty media payload", -EPROTO);
	n = sb_base64_decode(b64, len, out, cap);
	if (n < 0)
		return sb_bp_fail(why, "media payload is not base64", -EPROTO);
	if (n == 0)
		return sb_bp_fail(why, "empty media payload", -EPROTO);
	return n;
}

/* PCM16 payload text into ev->pcm. */
static int decode_pcm_text(const char *b64, size_t len, struct sb_bot_event *ev, const char **why)
{
	long n;

	if (len == 0)
		return sb_bp_fail(why, "empty media payload", -EPROTO);
	ev->pcm = malloc(len / 4 * 3 + 1);
	if (!ev->pcm)
		return sb_bp_fail(why, "out of memory", -ENOMEM);
	n = decode_b64(b64, len, ev->pcm, len / 4 * 3 + 1, why);
	if (n < 0)
		return (int)n;
	if (n % 2)
		return sb_bp_fail(why, "media payload has an odd byte count", -EPROTO);
	ev->pcm_len = (size_t)n;
	return 0;
}

/* µ-law payloads up to this many octets (0.5 s at 8 kHz; Twilio sends 20 ms) are decoded on
 * the stack, larger ones in a temporary buffer. */
#define ULAW_STACK_BYTES 4096

/* µ-law payload text, expanded to PCM16 into ev->pcm. */
static int decode_ulaw_text(const char *b64, size_t len, struct sb_bot_event *ev, const char **why)
{
	uint8_t stack[ULAW_STACK_BYTES], *ulaw = stack;
	size_t cap = len / 4 * 3 + 1;
	int16_t *pcm;
	long n;

	if (len == 0)
		return sb_bp_fail(why, "empty media payload", -EPROTO);
	if (cap > sizeof(stack) && !(ulaw = malloc(cap)))
		return sb_bp_fail(why, "out of memory", -ENOMEM);
	n = decode_b64(b64, len, ulaw, cap, why);
	pcm = n > 0 ? malloc((size_t)n * sizeof(*pcm)) : NULL;
	if (n > 0 && !pcm)
		n = sb_bp_fail(why, "out of memory", -ENOMEM);
	if (n > 0) {
		sb_codec_decode(SB_CODEC_PCMU, ulaw, (size_t)n, pcm);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		for (long i = 0; i < n; i++)
			pcm[i] = (int16_t)__builtin_bswap16((uint16_t)pcm[i]);
#endif
		ev->pcm = (uint8_t *)pcm;
		ev->pcm_len = (size_t)n * 2;
	}
	if (ulaw != stack)
		free(ulaw);
	return n < 0 ? (int)n : 0;
}

int sb_bp_decode_pcm_b64(json_t *payload, struct sb_bot_event *ev, const char **why)
{
	if (!json_is_string(payload))
		return sb_bp_fail(why, "media without a payload string", -EPROTO);
	return decode_pcm_text(json_string_value(payload), json_string_length(payload), ev, why);
}

int sb_bp_decode_ulaw_b64(json_t *payload, struct sb_bot_event *ev, const char **why)
{
	if (!json_is_string(payload))
		return sb_bp_fail(why, "media without a payload string", -EPROTO);
	return decode_ulaw_text(json_string_value(payload), json_string_length(payload), ev, why);
}

int sb_bp_decode_media_fast(const char *text, size_t len, bool ulaw, struct sb_bot_event *ev,
                            const char **why)
{
	struct sb_json_media m;
	int r;

	if (!sb_json_media_scan(text, len, &m))
		return -EAGAIN;
	/* From here on, exactly what sb_bp_decode_text does with the same payload string. */
	memset(ev, 0, sizeof(*ev));
	ev->type = SB_BOT_EV_MEDIA;
	r = ulaw ? decode_ulaw_text(m.payload, m.payload_len, ev, why)
	         : decode_pcm_text(m.payload, m.payload_len, ev, why);
	if (r < 0)
		sb_bot_event_done(ev);
	return r;
}

int sb_bp_decode_mark_body(json_t *body, struct sb_bot_event *ev, const char **why)
{
	json_t *name = json_object_get(body, "name");
	size_t len = json_string_length(name);

	if (!json_is_string(name))
		return sb_bp_fail(why, "mark without a name string", -EPROTO);
	if (len == 0 || len > SB_BOT_MARK_NAME_MAX)
		return sb_bp_fail(why, "mark name empty or too long", -EPROTO);
	ev->name = strndup(json_string_value(name), len);
	if (!ev->name)
		return sb_bp_fail(why, "out of memory", -ENOMEM);
	return 0;
}

int sb_bp_decode_mark(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_mark_body(sb_bp_sub(root, "mark"), ev, why);
}

int sb_bp_decode_none(json_t *root, struct sb_bot_event *ev, const char **why)
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
		return sb_bp_fail(why, "transfer.headers is not an object", -EPROTO);
	if (json_object_size(h) > SB_BOT_HEADERS_MAX)
		return sb_bp_fail(why, "transfer.headers has too many entries", -EPROTO);
	if (json_object_size(h) == 0)
		return 0;
	ev->headers = calloc(json_object_size(h), sizeof(*ev->headers));
	if (!ev->headers)
		return sb_bp_fail(why, "out of memory", -ENOMEM);
	json_object_foreach(h, name, value)
	{
		const char *v = json_string_value(value);
		size_t len = json_string_length(value);
		struct sb_kv *kv = &ev->headers[ev->n_headers];

		if (!header_name_ok(name))
			return sb_bp_fail(why, "transfer header name is not a token", -EPROTO);
		if (!v)
			return sb_bp_fail(why, "transfer header value is not a string", -EPROTO);
		if (len > SB_BOT_HEADER_VALUE_MAX || strlen(v) != len || strpbrk(v, "\r\n"))
			return sb_bp_fail(why,
			                  "transfer header value too long or with CR, LF or NUL",
			                  -EPROTO);
		ev->n_headers++;
		kv->name = strdup(name);
		kv->value = strdup(v);
		if (!kv->name || !kv->value)
			return sb_bp_fail(why, "out of memory", -ENOMEM);
	}
	return 0;
}

int sb_bp_decode_transfer_body(json_t *t, struct sb_bot_event *ev, const char **why)
{
	json_t *to;

	if (!t || json_is_null(t))
		return 0;
	if (!json_is_object(t))
		return sb_bp_fail(why, "transfer is not an object", -EPROTO);
	to = json_object_get(t, "to");
	if (to && !json_is_null(to)) {
		/* An embedded NUL would cut the target short: refuse rather than transfer
		 * elsewhere. */
		if (!json_is_string(to) || strlen(json_string_value(to)) != json_string_length(to))
			return sb_bp_fail(why, "transfer.to is not a string", -EPROTO);
		/* Longer than any target may be: not copied, nor logged. */
		_Static_assert(SB_TRANSFER_URI_MAX == 256, "the reason below names the bound");
		if (json_string_length(to) > SB_TRANSFER_URI_MAX)
			return sb_bp_fail(why, "transfer.to is longer than 256 bytes", -EPROTO);
		ev->to = strdup(json_string_value(to));
		if (!ev->to)
			return sb_bp_fail(why, "out of memory", -ENOMEM);
	}
	return decode_headers(json_object_get(t, "headers"), ev, why);
}

int sb_bp_decode_transfer(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_transfer_body(json_object_get(root, "transfer"), ev, why);
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

int sb_bp_decode_dtmf_body(json_t *body, struct sb_bot_event *ev, const char **why)
{
	json_t *d = json_object_get(body, "digit");
	const char *s = json_string_value(d);

	if (!s || json_string_length(d) != 1 || !s[0] || !strchr(SB_BP_DTMF_DIGITS, s[0]))
		return sb_bp_fail(why, "dtmf without one digit of 0-9*#A-D", -EPROTO);
	if (dtmf_duration(json_object_get(body, "duration"), &ev->duration_ms) < 0)
		return sb_bp_fail(why, "dtmf.duration is not a number of 0-60000 ms", -EPROTO);
	ev->digit = s[0];
	return 0;
}

int sb_bp_decode_dtmf(json_t *root, struct sb_bot_event *ev, const char **why)
{
	return sb_bp_decode_dtmf_body(sb_bp_sub(root, "dtmf"), ev, why);
}

/* "event" first; "type" only when "event" is absent, as some bots name it. */
static const char *event_name(json_t *root)
{
	json_t *ev = json_object_get(root, "event");

	if (!ev)
		ev = json_object_get(root, "type");
	return json_string_value(ev);
}

int sb_bp_decode_text(const char *text, size_t len, const struct sb_bp_event_def *defs,
                      size_t n_defs, struct sb_bot_event *ev, const char **why)
{
	json_t *root;
	const char *name;
	int r = -ENOTSUP;

	memset(ev, 0, sizeof(*ev));
	/* json_loadb takes the length, so embedded NULs are seen (and rejected) by the parser. */
	root = text ? json_loadb(text, len, 0, NULL) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		return sb_bp_fail(why, "not a JSON object", -EBADMSG);
	}
	name = event_name(root);
	if (!name) {
		json_decref(root);
		return sb_bp_fail(why, "no event name string", -EBADMSG);
	}
	for (size_t i = 0; i < n_defs; i++) {
		if (strcmp(name, defs[i].name) == 0) {
			ev->type = defs[i].type;
			r = defs[i].decode(root, ev, why);
			break;
		}
	}
	json_decref(root);
	if (r == -ENOTSUP)
		sb_bp_fail(why, "unknown event", r);
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

/* --strict with --protocol twilio: holds every received message to the exact shapes of Twilio's
 * media streams (key sets, value types, MZ/CA ids, sequenceNumber and chunk counters, 20 ms
 * µ-law payloads, no snake_case ids) and closes with 1008 at the first deviation, logged as a
 * "violation" line. Thread: the lws service thread. Owns nothing; counters live in the conn.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include <sb/common.h>

#include "testbot.h"

/* Twilio's inbound media messages carry 20 ms of 8 kHz µ-law. */
#define FRAME_BYTES 160
#define DIGITS_MAX 19

struct check {
	struct sb_tb_conn *c;
	json_t *msg;
	char err[200];
};

typedef bool check_fn(struct check *k);

SB_PRINTF(2, 3) static bool fail(struct check *k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->err, sizeof(k->err), fmt, ap);
	va_end(ap);
	return false;
}

static bool is_snake_id(const char *key)
{
	static const char *const keys[] = {"stream_sid",      "call_sid",     "account_sid",
	                                   "sequence_number", "media_format", "custom_parameters"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

/* The first snake_case id key anywhere in v (Exotel's names), or NULL. */
static const char *snake_key(json_t *v)
{
	const char *key, *found = NULL;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
		{
			if (is_snake_id(key))
				return key;
			if ((found = snake_key(item)))
				return found;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if ((found = snake_key(item)))
				return found;
		}
	}
	return NULL;
}

/* obj is an object with exactly the keys (NULL-terminated). */
static bool keys_exact(struct check *k, json_t *obj, const char *where, const char *const *keys)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return fail(k, "%s is not an object", where);
	for (i = 0; keys[i]; i++)
		if (!json_object_get(obj, keys[i]))
			return fail(k, "%s has no \"%s\"", where, keys[i]);
	json_object_foreach(obj, key, v)
	{
		for (i = 0; keys[i] && strcmp(keys[i], key); i++)
			;
		if (!keys[i])
			return fail(k, "%s has an unexpected key \"%s\"", where, key);
	}
	return true;
}

/* A string of decimal digits without a leading zero. */
static bool digits(json_t *v, uint64_t *out)
{
	const char *s = json_string_value(v);
	uint64_t n = 0;
	size_t i;

	if (!s || !s[0] || strlen(s) > DIGITS_MAX || (s[0] == '0' && s[1]))
		return false;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	*out = n;
	return true;
}

/* prefix and 32 hex digits, as Twilio's MZ… and CA… ids. */
static bool is_sid(json_t *v, const char *prefix)
{
	const char *s = json_string_value(v);
	size_t i;

	if (!s || strlen(s) != SB_TB_TWILIO_SID_LEN || strncmp(s, prefix, 2))
		return false;
	for (i = 2; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static bool is_b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '+' || ch == '/';
}

/* Decoded length of strict base64 (padded, no whitespace); false if it is not that. */
static bool b64_len(const char *s, size_t *out)
{
	size_t n = strlen(s), pad = 0, i;

	if (!n || n % 4)
		return false;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (i = 0; i < n - pad; i++)
		if (!is_b64_char(s[i]))
			return false;
	*out = n / 4 * 3 - pad;
	return true;
}

static bool str_is(json_t *v, const char *want)
{
	return json_is_string(v) && !strcmp(json_string_value(v), want);
}

/* What every message after connected has: exactly event, sequenceNumber, streamSid and the
 * body (if any); the next sequence number; the stream's sid. */
static bool head(struct check *k, const char *body)
{
	const char *keys[] = {"event", "sequenceNumber", "streamSid", body, NULL};
	struct sb_tb_strict *st = &k->c->strict;
	json_t *sid = json_object_get(k->msg, "streamSid");
	uint64_t seq;

	if (!keys_exact(k, k->msg, "the message", keys))
		return false;
	if (!digits(json_object_get(k->msg, "sequenceNumber"), &seq))
		return fail(k, "sequenceNumber is not a digit string");
	if (seq != st->seq + 1)
		return fail(k, "sequenceNumber %" PRIu64 " follows %" PRIu64, seq, st->seq);
	st->seq = seq;
	if (!is_sid(sid, "MZ"))
		return fail(k, "streamSid is not MZ and 32 hex digits");
	/* start sets the sid; every later message must repeat it. */
	if (!st->stream_sid[0])
		snprintf(st->stream_sid, sizeof(st->stream_sid), "%s", json_string_value(sid));
	else if (strcmp(st->stream_sid, json_string_value(sid)))
		return fail(k, "streamSid differs from start's");
	return true;
}

static bool check_connected(struct check *k)
{
	static const char *const keys[] = {"event", "protocol", "version", NULL};

	if (k->c->strict.msgs != 1)
		return fail(k, "connected is not the first message");
	if (!keys_exact(k, k->msg, "connected", keys))
		return false;
	if (!str_is(json_object_get(k->msg, "protocol"), "Call") ||
	    !str_is(json_object_get(k->msg, "version"), "1.0.0"))
		return fail(k, "connected is not protocol \"Call\" version \"1.0.0\"");
	return true;
}

static bool check_format(struct check *k, json_t *mf)
{
	static const char *const keys[] = {"encoding", "sampleRate", "channels", NULL};
	json_t *rate = json_object_get(mf, "sampleRate"), *ch = json_object_get(mf, "channels");

	if (!keys_exact(k, mf, "start.mediaFormat", keys))
		return false;
	if (!str_is(json_object_get(mf, "encoding"), "audio/x-mulaw"))
		return fail(k, "start.mediaFormat.encoding is not \"audio/x-mulaw\"");
	if (!json_is_integer(rate) || json_integer_value(rate) != 8000)
		return fail(k, "start.mediaFormat.sampleRate is not the integer 8000");
	if (!json_is_integer(ch) || json_integer_value(ch) != 1)
		return fail(k, "start.mediaFormat.channels is not the integer 1");
	return true;
}

static bool check_start(struct check *k)
{
	static const char *const keys[] = {"accountSid",  "streamSid",        "callSid", "tracks",
	                                   "mediaFormat", "customParameters", NULL};
	json_t *st = json_object_get(k->msg, "start");
	json_t *tracks = json_object_get(st, "tracks");

	if (k->c->strict.msgs != 2)
		return fail(k, "start is not the second message");
	if (!head(k, "start") || !keys_exact(k, st, "start", keys))
		return false;
	if (!json_is_string(json_object_get(st, "accountSid")))
		return fail(k, "start.accountSid is not a string");
	if (!str_is(json_object_get(st, "streamSid"), k->c->strict.stream_sid))
		return fail(k, "start.streamSid differs from the top-level streamSid");
	if (!is_sid(json_object_get(st, "callSid"), "CA"))
		return fail(k, "start.callSid is not CA and 32 hex digits");
	snprintf(k->c->strict.call_sid, sizeof(k->c->strict.call_sid), "%s",
	         json_string_value(json_object_get(st, "callSid")));
	if (json_array_size(tracks) != 1 || !str_is(json_array_get(tracks, 0), "inbound"))
		return fail(k, "start.tracks is not [\"inbound\"]");
	if (!json_is_object(json_object_get(st, "customParameters")))
		return fail(k, "start.customParameters is not an object");
	return check_format(k, json_object_get(st, "mediaFormat"));
}

static bool check_media(struct check *k)
{
	static const char *const keys[] = {"track", "chunk", "timestamp", "payload", NULL};
	json_t *m = json_object_get(k->msg, "media");
	const char *payload = json_string_value(json_object_get(m, "payload"));
	uint64_t chunk, ts;
	size_t n;

	if (!head(k, "media") || !keys_exact(k, m, "media", keys))
		return false;
	if (!str_is(json_object_get(m, "track"), "inbound"))
		return fail(k, "media.track is not \"inbound\"");
	if (!digits(json_object_get(m, "chunk"), &chunk) || chunk != k->c->strict.chunk + 1)
		return fail(k, "media.chunk is not the digit string %" PRIu64,
		            k->c->strict.chunk + 1);
	k->c->strict.chunk = chunk;
	if (!digits(json_object_get(m, "timestamp"), &ts))
		return fail(k, "media.timestamp is not a digit string");
	if (!payload || !b64_len(payload, &n))
		return fail(k, "media.payload is not base64");
	if (n != FRAME_BYTES)
		return fail(k, "media.payload has %zu bytes, not %d (20 ms)", n, FRAME_BYTES);
	return true;
}

static bool check_mark(struct check *k)
{
	static const char *const keys[] = {"name", NULL};
	json_t *m = json_object_get(k->msg, "mark");

	if (!head(k, "mark") || !keys_exact(k, m, "mark", keys))
		return false;
	if (!json_is_string(json_object_get(m, "name")))
		return fail(k, "mark.name is not a string");
	return true;
}

static bool check_dtmf(struct check *k)
{
	static const char *const keys[] = {"track", "digit", NULL};
	json_t *d = json_object_get(k->msg, "dtmf");
	const char *digit = json_string_value(json_object_get(d, "digit"));

	if (!head(k, "dtmf") || !keys_exact(k, d, "dtmf", keys))
		return false;
	if (!str_is(json_object_get(d, "track"), "inbound_track"))
		return fail(k, "dtmf.track is not \"inbound_track\"");
	if (!digit || strlen(digit) != 1 || !strchr("0123456789*#ABCD", digit[0]))
		return fail(k, "dtmf.digit is not one key");
	return true;
}

static bool check_stop(struct check *k)
{
	static const char *const keys[] = {"accountSid", "callSid", NULL};
	json_t *s = json_object_get(k->msg, "stop");

	if (!head(k, "stop") || !keys_exact(k, s, "stop", keys))
		return false;
	if (!json_is_string(json_object_get(s, "accountSid")))
		return fail(k, "stop.accountSid is not a string");
	if (!str_is(json_object_get(s, "callSid"), k->c->strict.call_sid))
		return fail(k, "stop.callSid differs from start's");
	return true;
}

static bool check_bare(struct check *k)
{
	return head(k, NULL);
}

static bool check_transfer_failed(struct check *k)
{
	static const char *const keys[] = {"to", "status", "reason", NULL};
	json_t *t = json_object_get(k->msg, "transfer");
	size_t i;

	if (!head(k, "transfer"))
		return false;
	if (!json_is_object(t))
		return fail(k, "transfer is not an object");
	for (i = 0; keys[i]; i++)
		if (!json_object_get(t, keys[i]))
			return fail(k, "transfer has no \"%s\"", keys[i]);
	return true;
}

static check_fn *checker(const char *event)
{
	static const struct {
		const char *event;
		check_fn *fn;
	} table[] = {
	        {"connected", check_connected},
	        {"start", check_start},
	        {"media", check_media},
	        {"mark", check_mark},
	        {"dtmf", check_dtmf},
	        {"stop", check_stop},
	        {"hold", check_bare},
	        {"unhold", check_bare},
	        {"transfer_failed", check_transfer_failed},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(table); i++)
		if (!strcmp(table[i].event, event))
			return table[i].fn;
	return NULL;
}

static bool check(struct check *k)
{
	const char *event = json_string_value(json_object_get(k->msg, "event"));
	const char *snake = snake_key(k->msg);
	check_fn *fn;

	if (snake)
		return fail(k, "snake_case key \"%s\"", snake);
	if (!event)
		return fail(k, "no \"event\" string");
	if (k->c->strict.msgs == 1 && strcmp(event, "connected"))
		return fail(k, "the first message is \"%s\", not connected", event);
	if (k->c->strict.msgs == 2 && strcmp(event, "start"))
		return fail(k, "the second message is \"%s\", not start", event);
	fn = checker(event);
	if (!fn)
		return fail(k, "unknown event \"%s\"", event);
	return fn(k);
}

int sb_tb_strict_fail(struct sb_tb_conn *c, const char *error, const void *data, size_t len)
{
	json_t *f;

	c->violated = true;
	if (c->app->evlog) {
		f = json_pack("{s:s,s:o}", "error", error, "raw", sb_tb_evlog_raw(data, len));
		sb_tb_evlog_write(c->app->evlog, c->id, "violation", f);
		json_decref(f);
	}
	sb_tb_close_now(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
	return -EPROTO;
}

int sb_tb_strict_check(struct sb_tb_conn *c, json_t *msg, const void *data, size_t len)
{
	struct check k = {.c = c, .msg = msg};

	c->strict.msgs++;
	if (check(&k))
		return 0;
	return sb_tb_strict_fail(c, k.err, data, len);
}

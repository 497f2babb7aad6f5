/* The media fast path: recognises a bot's media message in the shapes Exotel and Twilio bots
 * send (bot-protocols.md §1.5, §2) without building a JSON tree, and finds its payload.
 * Pure: no allocation, no I/O. Thread: any (the ws thread that owns the bot connection).
 * Owns nothing: constant tables.
 *
 * DESIGN: every media message of every call passes through here (10-50 a second per call), so
 * building a jansson tree for it cost more than the rest of the ws thread. The scanner accepts
 * a strict subset of JSON on which its answer is certain to be jansson's: keys from a fixed
 * list, each at most once (jansson keeps the last of duplicates); string values without
 * escapes, control characters or non-ASCII bytes (so the bytes are the value, and UTF-8
 * validation has nothing to do); integers of at most 18 digits (jansson refuses integers
 * beyond int64); nested objects only under "media". Anything else returns false and the
 * caller parses the text with jansson as before, so the result of a decode never depends on
 * which path took it. */
#include <string.h>

#include <sb/base64.h>
#include <sb/json_media.h>

/* The keys a media message may carry. Top level: Exotel's snake_case and Twilio's camelCase
 * sequence number and stream sid. Under "media": the fields Twilio and Exotel's helpers echo. */
enum { TOP_EVENT, TOP_MEDIA, TOP_SEQ, TOP_SEQ_CAMEL, TOP_SID, TOP_SID_CAMEL, _TOP_MAX };
static const char *const top_keys[_TOP_MAX] = {
        "event", "media", "sequence_number", "sequenceNumber", "stream_sid", "streamSid",
};
enum { MEDIA_PAYLOAD, MEDIA_CHUNK, MEDIA_TIMESTAMP, MEDIA_TRACK, MEDIA_SEQ_CAMEL, _MEDIA_MAX };
static const char *const media_keys[_MEDIA_MAX] = {
        "payload", "chunk", "timestamp", "track", "sequenceNumber",
};

/* A cursor over the text; p never passes end. */
struct scan {
	const char *p, *end;
};

/* JSON whitespace, exactly the four characters RFC 8259 (and jansson) allow. */
static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Skips whitespace, then takes c if it comes next. */
static bool eat(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* A printable ASCII byte that stands for itself inside a JSON string. */
static bool plain_char(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* A string of plain characters at s->p; its content (without the quotes) in *str, *len. */
static bool plain_string(struct scan *s, const char **str, size_t *len)
{
	const char *b;

	if (s->p >= s->end || *s->p != '"')
		return false;
	b = ++s->p;
	while (s->p < s->end && plain_char((unsigned char)*s->p))
		s->p++;
	if (s->p >= s->end || *s->p != '"')
		return false;
	*str = b;
	*len = (size_t)(s->p - b);
	s->p++;
	return true;
}

/* -?(0|[1-9][0-9]{0,17}): within int64, so jansson takes it. What follows is checked by the
 * caller: a digit after "0" or after 18 digits, a fraction or an exponent does not fit the
 * grammar there and the scan gives up. */
static bool small_integer(struct scan *s)
{
	int digits = 0;

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0') {
		s->p++;
		return true;
	}
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && digits < 18) {
		s->p++;
		digits++;
	}
	return digits > 0;
}

/* A value the bridge ignores: a plain string or a small integer. */
static bool ignored_value(struct scan *s)
{
	const char *str;
	size_t len;

	if (s->p < s->end && *s->p == '"')
		return plain_string(s, &str, &len);
	return small_integer(s);
}

/* The index of key in keys[n], or -1. */
static int key_index(const char *const *keys, int n, const char *key, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strncmp(keys[i], key, len) == 0 && keys[i][len] == '\0')
			return i;
	return -1;
}

typedef bool member_fn(struct scan *s, int key, struct sb_json_media *m);

/* An object at s->p (after whitespace) whose keys are all in keys[n], none twice; fn reads each
 * value, starting at its first character. The keys seen go to *seen as a bit mask. */
static bool object(struct scan *s, const char *const *keys, int n, member_fn *fn,
                   struct sb_json_media *m, unsigned *seen)
{
	*seen = 0;
	if (!eat(s, '{'))
		return false;
	if (eat(s, '}'))
		return true;
	do {
		const char *key;
		size_t len;
		int k;

		skip_ws(s);
		if (!plain_string(s, &key, &len))
			return false;
		k = key_index(keys, n, key, len);
		if (k < 0 || (*seen & 1u << k) || !eat(s, ':'))
			return false;
		*seen |= 1u << k;
		skip_ws(s);
		if (!fn(s, k, m))
			return false;
	} while (eat(s, ','));
	return eat(s, '}');
}

/* media.payload: a string of base64 characters only, found and checked in one pass. */
static bool payload(struct scan *s, struct sb_json_media *m)
{
	const char *b;

	if (s->p >= s->end || *s->p != '"')
		return false;
	b = ++s->p;
	s->p += sb_base64_span(s->p, (size_t)(s->end - s->p));
	if (s->p >= s->end || *s->p != '"')
		return false;
	m->payload = b;
	m->payload_len = (size_t)(s->p - b);
	s->p++;
	return true;
}

static bool media_member(struct scan *s, int key, struct sb_json_media *m)
{
	return key == MEDIA_PAYLOAD ? payload(s, m) : ignored_value(s);
}

static bool top_member(struct scan *s, int key, struct sb_json_media *m)
{
	const char *str;
	size_t len;
	unsigned seen;

	switch (key) {
	case TOP_EVENT:
		return plain_string(s, &str, &len) && len == 5 && memcmp(str, "media", 5) == 0;
	case TOP_MEDIA:
		return object(s, media_keys, _MEDIA_MAX, media_member, m, &seen) &&
		       (seen & 1u << MEDIA_PAYLOAD);
	default:
		return ignored_value(s);
	}
}

bool sb_json_media_scan(const char *text, size_t len, struct sb_json_media *m)
{
	struct scan s = {text, text + len};
	unsigned seen;

	if (!text)
		return false;
	/* "event" is required: without it the bridge would look for "type", which is not
	 * taken here. */
	if (!object(&s, top_keys, _TOP_MAX, top_member, m, &seen) || !(seen & 1u << TOP_EVENT) ||
	    !(seen & 1u << TOP_MEDIA))
		return false;
	/* jansson refuses anything but whitespace after the value. */
	skip_ws(&s);
	return s.p == s.end;
}

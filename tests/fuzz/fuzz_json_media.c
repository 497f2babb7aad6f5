/* libFuzzer target for the media fast path (json_media.c): any bytes as one text message
 * from an Exotel or a Twilio bot. Differential: the profile's decode (fast path first) and
 * its jansson-only decode_json must give the same result, reason, event and bytes; and
 * whenever the scanner recognises a message, jansson must read the same text as an object
 * with "event":"media" and a media.payload string equal to the span the scanner found. The
 * same checks run on a second text that the input's bytes assemble from pieces of media
 * messages. Single-threaded. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include <sb/bot_proto.h>
#include <sb/json_media.h>

#include "fuzz_check.h"

static int streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Both decoders of p on the text agree in everything the bridge looks at. */
static void same_decode(const struct sb_bot_proto *p, const char *text, size_t len)
{
	struct sb_bot_event a, b;
	const char *why_a = NULL, *why_b = NULL;
	int ra = p->decode(text, len, false, &a, &why_a);
	int rb = p->decode_json(text, len, false, &b, &why_b);

	CHECK(ra == rb);
	if (ra < 0) {
		CHECK(why_a && why_b && strcmp(why_a, why_b) == 0);
		return;
	}
	CHECK(a.type == b.type);
	CHECK(a.pcm_len == b.pcm_len && (a.pcm_len == 0 || memcmp(a.pcm, b.pcm, a.pcm_len) == 0));
	CHECK(streq(a.name, b.name) && streq(a.to, b.to));
	CHECK(a.digit == b.digit && a.duration_ms == b.duration_ms);
	CHECK(a.n_headers == b.n_headers);
	for (size_t i = 0; i < a.n_headers; i++)
		CHECK(streq(a.headers[i].name, b.headers[i].name) &&
		      streq(a.headers[i].value, b.headers[i].value));
	sb_bot_event_done(&a);
	sb_bot_event_done(&b);
}

/* The scanner's claim, checked with jansson directly. */
static void scan_agrees_with_jansson(const char *text, size_t len)
{
	struct sb_json_media m;
	json_t *root, *ev, *payload;

	if (!sb_json_media_scan(text, len, &m))
		return;
	CHECK(m.payload >= text && m.payload_len <= len &&
	      (size_t)(m.payload - text) <= len - m.payload_len);
	for (size_t i = 0; i < m.payload_len; i++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
		             m.payload[i]) &&
		      m.payload[i]);
	root = json_loadb(text, len, 0, NULL);
	CHECK(json_is_object(root));
	ev = json_object_get(root, "event");
	CHECK(json_is_string(ev) && strcmp(json_string_value(ev), "media") == 0);
	payload = json_object_get(json_object_get(root, "media"), "payload");
	CHECK(json_is_string(payload) && json_string_length(payload) == m.payload_len &&
	      memcmp(json_string_value(payload), m.payload, m.payload_len) == 0);
	json_decref(root);
}

/* Pieces of media messages, right and wrong, that one input byte each picks: most texts
 * built from them are close to the shapes the scanner takes, which raw mutation seldom
 * reaches. */
static const char *const pieces[] = {
        "{",
        "}",
        ":",
        ",",
        " ",
        "\n",
        "\t\r",
        "\"event\"",
        "\"media\"",
        "\"payload\"",
        "\"chunk\"",
        "\"timestamp\"",
        "\"track\"",
        "\"sequenceNumber\"",
        "\"sequence_number\"",
        "\"stream_sid\"",
        "\"streamSid\"",
        "\"type\"",
        "\"mark\"",
        "\"name\"",
        "\"x\"",
        "\"\"",
        "\"AAAA\"",
        "\"AQD//wABAIA=\"",
        "\"AQID\"",
        "\"A=AA\"",
        "\"AA==\"",
        "\"AA\\/A\"",
        "\"\\u0041AAA\"",
        "\"MZ1\"",
        "\"caf\xc3\xa9\"",
        "0",
        "-0",
        "12",
        "01",
        "1.5",
        "1e3",
        "999999999999999999",
        "9999999999999999999",
        "null",
        "true",
        "[",
        "]",
        "\"media",
        "\\",
        "\x00",
};

/* The input as indexes into pieces, joined. Returns the length written to out. */
static size_t build(const uint8_t *data, size_t size, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++) {
		const char *p = pieces[data[i] % (sizeof(pieces) / sizeof(pieces[0]))];
		/* "\x00" is one byte that strlen would not count. */
		size_t len = p[0] ? strlen(p) : 1;

		if (n + len > cap)
			break;
		memcpy(out + n, p, len);
		n += len;
	}
	return n;
}

static void check_text(const char *text, size_t len)
{
	scan_agrees_with_jansson(text, len);
	same_decode(&sb_proto_exotel, text, len);
	same_decode(&sb_proto_twilio, text, len);
}

/* The input as it is, then the message its bytes pick from pieces. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char built[16384];

	check_text((const char *)data, size);
	if (size <= 512)
		check_text(built, build(data, size, built, sizeof(built)));
	return 0;
}

/* The media fast path of the test bot: a media message in exactly the shape the bridge's
 * Exotel or Twilio encoder writes is recognised by matching its bytes against that shape,
 * without a JSON tree, and its echo is built by copying the payload's base64 into the reply.
 * Thread: the lws service thread (sb_tb_fast_media); the rest is pure. Owns nothing.
 *
 * DESIGN: in load runs every call's caller audio passes through the bot 10-50 times a second,
 * and parsing each message with jansson, packing the echo and dumping it again cost the bot
 * most of its CPU. The shapes accepted are a strict subset of JSON on which the slow path's
 * answer is certain: fixed keys in the bridge's order, string values whose bytes are their
 * value (digits, printable ASCII without '"' or '\\', base64), nothing before, between or
 * after. Anything else, and every connection whose handling needs more than arrivals and echo
 * (--strict, --log, --record, scripts, the raw protocol), goes to the jansson path, so what
 * the bot does never depends on which path took a message. */
#include <string.h>

#include <sb/base64.h>

#include "testbot.h"

/* Placeholders in the shapes below, none of which occurs in their fixed text:
 * '#' one to 20 digits, '$' printable ASCII but '"' and '\\' (maybe none), '@' base64. */
static const char exotel_shape[] =
        "{\"event\":\"media\",\"sequence_number\":\"#\",\"stream_sid\":\"$\","
        "\"media\":{\"chunk\":\"#\",\"timestamp\":\"#\",\"payload\":\"@\"}}";
static const char twilio_shape[] =
        "{\"event\":\"media\",\"sequenceNumber\":\"#\","
        "\"media\":{\"track\":\"inbound\",\"chunk\":\"#\",\"timestamp\":\"#\",\"payload\":\"@\"},"
        "\"streamSid\":\"$\"}";

#define DIGITS_MAX 20

/* The echo as json_pack + json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) write it. */
#define ECHO_HEAD "{\"event\":\"media\",\""
#define ECHO_KEY_EXOTEL "stream_sid"
#define ECHO_KEY_TWILIO "streamSid"
#define ECHO_MID "\":\""
#define ECHO_MEDIA "\",\"media\":{\"payload\":\""
#define ECHO_TAIL "\"}}"
#define LIT(s) (sizeof(s) - 1)

enum cls {
	CLS_DIGIT = 1,
	CLS_PLAIN = 2,
};

static unsigned char char_class(unsigned char ch)
{
	unsigned char m = 0;

	if (ch >= '0' && ch <= '9')
		m |= CLS_DIGIT;
	if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
		m |= CLS_PLAIN;
	return m;
}

/* The run of bytes of class cls at p, at most max long and never past end. */
static size_t run(const unsigned char *p, const unsigned char *end, unsigned char cls, size_t max)
{
	size_t n = 0;

	while (n < max && p + n < end && (char_class(p[n]) & cls))
		n++;
	return n;
}

static bool match(const char *shape, const unsigned char *p, const unsigned char *end,
                  struct sb_tb_fast_msg *out)
{
	size_t n;

	for (; *shape; shape++) {
		switch (*shape) {
		case '#':
			n = run(p, end, CLS_DIGIT, DIGITS_MAX);
			if (!n)
				return false;
			break;
		case '$':
			n = run(p, end, CLS_PLAIN, (size_t)(end - p));
			break;
		case '@':
			n = sb_base64_span((const char *)p, (size_t)(end - p));
			out->payload = (const char *)p;
			out->payload_len = n;
			break;
		default:
			if (p >= end || *p != (unsigned char)*shape)
				return false;
			n = 1;
			break;
		}
		p += n;
	}
	return p == end;
}

bool sb_tb_fast_scan(enum sb_tb_proto proto, const void *data, size_t len,
                     struct sb_tb_fast_msg *out)
{
	const unsigned char *p = data;
	const char *shape;

	switch (proto) {
	case SB_TB_PROTO_EXOTEL:
		shape = exotel_shape;
		break;
	case SB_TB_PROTO_TWILIO:
		shape = twilio_shape;
		break;
	default:
		return false;
	}
	out->payload = NULL;
	out->payload_len = 0;
	return data && match(shape, p, p + len, out);
}

size_t sb_tb_fast_echo_len(enum sb_tb_proto proto, const char *sid, size_t payload_len)
{
	size_t n = strnlen(sid, SB_TB_SID_MAX);

	if (n >= SB_TB_SID_MAX ||
	    run((const unsigned char *)sid, (const unsigned char *)sid + n, CLS_PLAIN, n) != n)
		return 0;
	return LIT(ECHO_HEAD) +
	       (proto == SB_TB_PROTO_TWILIO ? LIT(ECHO_KEY_TWILIO) : LIT(ECHO_KEY_EXOTEL)) +
	       LIT(ECHO_MID) + n + LIT(ECHO_MEDIA) + payload_len + LIT(ECHO_TAIL);
}

static char *put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

void sb_tb_fast_echo_write(enum sb_tb_proto proto, const char *sid, const char *payload,
                           size_t payload_len, char *out)
{
	char *o = put(out, ECHO_HEAD, LIT(ECHO_HEAD));

	if (proto == SB_TB_PROTO_TWILIO)
		o = put(o, ECHO_KEY_TWILIO, LIT(ECHO_KEY_TWILIO));
	else
		o = put(o, ECHO_KEY_EXOTEL, LIT(ECHO_KEY_EXOTEL));
	o = put(o, ECHO_MID, LIT(ECHO_MID));
	o = put(o, sid, strnlen(sid, SB_TB_SID_MAX));
	o = put(o, ECHO_MEDIA, LIT(ECHO_MEDIA));
	o = put(o, payload, payload_len);
	put(o, ECHO_TAIL, LIT(ECHO_TAIL));
}

bool sb_tb_fast_media(struct sb_tb_conn *c, const void *data, size_t len)
{
	const struct sb_tb_app *app = c->app;
	struct sb_tb_fast_msg m;
	struct sb_tb_msg *reply;
	unsigned char *out;
	bool echo;
	size_t bytes, n = 0;

	if (app->strict || app->evlog || app->record_dir || app->script ||
	    app->mode == SB_TB_MODE_SCRIPT ||
	    (app->proto != SB_TB_PROTO_EXOTEL && app->proto != SB_TB_PROTO_TWILIO))
		return false;
	if (!sb_tb_fast_scan(app->proto, data, len, &m))
		return false;
	echo = c->started && app->mode == SB_TB_MODE_ECHO;
	/* A sid jansson would escape takes the slow path, which escapes it. */
	if (echo && !(n = sb_tb_fast_echo_len(app->proto, c->sid, m.payload_len)))
		return false;
	if (app->arrivals) {
		bytes = sb_tb_b64_decoded_len_n(m.payload, m.payload_len);
		/* Twilio carries 8-bit mu-law, Exotel 16-bit PCM. */
		sb_tb_arrivals_media(c, app->proto == SB_TB_PROTO_TWILIO ? bytes : bytes / 2);
	}
	if (!echo)
		return true;
	/* On a live connection with nothing queued the echo joins this turn's batch (batch.c). */
	if (c->wsi && !c->txq_head && !c->close_code && !c->write_failed &&
	    (out = sb_tb_batch_add(c, n))) {
		sb_tb_fast_echo_write(app->proto, c->sid, m.payload, m.payload_len, (char *)out);
		return true;
	}
	/* Without memory the slow path's json_pack fails too and nothing is sent. */
	reply = sb_tb_msg_text(n);
	if (!reply)
		return true;
	sb_tb_fast_echo_write(app->proto, c->sid, m.payload, m.payload_len,
	                      (char *)reply->buf + LWS_PRE);
	sb_tb_txq_push_now(c, reply);
	return true;
}

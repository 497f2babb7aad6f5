/* What the protocol profiles share (bot_proto.c): JSON building with jansson, hand-built
 * media framing, and the decoders of the events every profile accepts in the same shape.
 * Pure. Thread: any. */
#pragma once

#include <jansson.h>

#include <sb/bot_proto.h>

#define SB_BP_DTMF_DIGITS "0123456789*#ABCD"
#define SB_BP_EVENT(e) (1u << (e))

/* ---- building ---- */

/* A JSON string for text from outside (SIP headers, mark names): invalid UTF-8 becomes '?'
 * rather than failing the whole message. NULL only when out of memory. */
json_t *sb_bp_str(const char *s);
/* obj[key] = string value (NULL: ""). 0 or -ENOMEM. */
int sb_bp_set_str(json_t *obj, const char *key, const char *value);
/* obj[key] = prefix followed by value, as one string. 0 or -ENOMEM. */
int sb_bp_set_prefixed(json_t *obj, const char *key, const char *prefix, const char *value);
/* obj[key] = the decimal digits of v as a string, as Exotel and Twilio write numbers. */
int sb_bp_set_digits(json_t *obj, const char *key, uint64_t v);
/* obj[key] = v as a JSON integer. */
int sb_bp_set_int(json_t *obj, const char *key, int64_t v);
/* obj[key] = child, taking child (NULL child: -ENOMEM). */
int sb_bp_set_obj(json_t *obj, const char *key, json_t *child);
/* {name: value, ...} of the custom parameters, in order; NULL when out of memory. */
json_t *sb_bp_params(const struct sb_kv *params, size_t n);
/* Serialises and releases root (NULL: -ENOMEM) into buf, NUL-terminated; length or -ENOSPC. */
int sb_bp_dump(json_t *root, char *buf, size_t size);
/* Releases j; returns NULL. */
json_t *sb_bp_drop(json_t *j);

/* ---- hand-built text (media is sent every frame of every call) ---- */

/* Appends printf output at *o. 0 or -ENOSPC. */
int sb_bp_putf(char *buf, size_t size, size_t *o, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Appends s as JSON string content: ASCII escaped, other bytes refused (-EINVAL). */
int sb_bp_put_escaped(char *buf, size_t size, size_t *o, const char *s);
/* Appends the base64 of the samples as little-endian PCM16. */
int sb_bp_put_pcm_b64(char *buf, size_t size, size_t *o, const int16_t *pcm, size_t samples);
/* Appends the base64 of the samples as µ-law octets. */
int sb_bp_put_ulaw_b64(char *buf, size_t size, size_t *o, const int16_t *pcm, size_t samples);
/* Room for a sid of SB_BOT_SID_LEN characters plus a 2-letter prefix, each escaped at worst. */
#define SB_BP_SID_ROOM (6 * (SB_BOT_SID_LEN + 2))

/* ---- decoding ---- */

typedef int sb_bp_decode_fn(json_t *root, struct sb_bot_event *ev, const char **why);

struct sb_bp_event_def {
	const char *name;
	enum sb_bot_ev type;
	sb_bp_decode_fn *decode;
};

/* Sets *why and returns err. */
int sb_bp_fail(const char **why, const char *reason, int err);
/* A sub-object by name, or NULL when absent or not an object. */
json_t *sb_bp_sub(json_t *obj, const char *key);
/* Parses a text message and finds its event name ("event", else "type") in the table, then
 * runs that event's decoder: the shared driver of every profile's decode. */
int sb_bp_decode_text(const char *text, size_t len, const struct sb_bp_event_def *defs,
                      size_t n_defs, struct sb_bot_event *ev, const char **why);
/* The media fast path (json_media.h) for a text message: -EAGAIN when the scanner does not
 * recognise it (decode it with sb_bp_decode_text), else the decode of its payload, base64 of
 * PCM16 or of µ-law octets, with the result sb_bp_decode_text would give. */
int sb_bp_decode_media_fast(const char *text, size_t len, bool ulaw, struct sb_bot_event *ev,
                            const char **why);
/* payload: a base64 string of PCM16 (even length) into ev->pcm. */
int sb_bp_decode_pcm_b64(json_t *payload, struct sb_bot_event *ev, const char **why);
/* payload: a base64 string of µ-law octets, decoded to PCM16 into ev->pcm. */
int sb_bp_decode_ulaw_b64(json_t *payload, struct sb_bot_event *ev, const char **why);
/* body.name: a mark name of 1..SB_BOT_MARK_NAME_MAX bytes. */
int sb_bp_decode_mark_body(json_t *body, struct sb_bot_event *ev, const char **why);
/* body.digit (one of 0-9*#A-D) and body.duration (absent, an integer or a digit string of
 * 0..SB_BOT_DTMF_MAX_MS). */
int sb_bp_decode_dtmf_body(json_t *body, struct sb_bot_event *ev, const char **why);
/* body (absent or null: the trunk's destination) with to and headers. */
int sb_bp_decode_transfer_body(json_t *body, struct sb_bot_event *ev, const char **why);
/* Events without a body. */
int sb_bp_decode_none(json_t *root, struct sb_bot_event *ev, const char **why);
/* The extension events in their bridge shape: {"event":"transfer","transfer":{...}},
 * {"event":"dtmf","dtmf":{"digit":...}}. */
int sb_bp_decode_transfer(json_t *root, struct sb_bot_event *ev, const char **why);
int sb_bp_decode_dtmf(json_t *root, struct sb_bot_event *ev, const char **why);
int sb_bp_decode_mark(json_t *root, struct sb_bot_event *ev, const char **why);

/* Bot WebSocket protocol (Exotel media streams plus the hangup/transfer extension events):
 * encodes the bridge's messages and decodes the bot's. Pure (jansson). Thread: any. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <sb/route.h>

#define SB_BOT_MARK_NAME_MAX 256 /* bytes of a mark name */
#define SB_BOT_SID_LEN 32        /* hex digits of a generated stream/call sid */
#define SB_BOT_DTMF_MAX_MS 60000 /* largest dtmf.duration a bot may send */
#define SB_BOT_HEADERS_MAX 8     /* transfer.headers entries */
#define SB_BOT_HEADER_NAME_MAX 64
#define SB_BOT_HEADER_VALUE_MAX 256 /* bytes */

struct sb_bot_start {
	const char *stream_sid;
	const char *call_sid;
	const char *account_sid;
	const char *from;
	const char *to;
	const struct sb_kv *params; /* custom_parameters, in order */
	size_t n_params;
	int sample_rate;
};

/* Every encoder writes one NUL-terminated JSON text into buf and returns its length, or
 * -ENOSPC when it does not fit. Numbers are sent as digit strings, as Exotel does. */

/* {"event":"connected"} */
int sb_bot_proto_connected(char *buf, size_t size);
/* {"event":"start","sequence_number":"1","stream_sid":…,"start":{stream_sid, call_sid,
 * account_sid, from, to, custom_parameters{}, media_format{encoding:"base64",
 * sample_rate:"8000", bit_rate:"128kbps"}}} */
int sb_bot_proto_start(char *buf, size_t size, uint64_t seq, const struct sb_bot_start *s);
/* {"event":"media","sequence_number":"N","stream_sid":…,"media":{"chunk":"K",
 * "timestamp":"ms","payload":base64(PCM16 LE)}} */
int sb_bot_proto_media(char *buf, size_t size, uint64_t seq, const char *stream_sid, uint64_t chunk,
                       uint64_t timestamp_ms, const int16_t *pcm, size_t samples);
/* {"event":"mark","sequence_number":"N","stream_sid":…,"mark":{"name":…}} */
int sb_bot_proto_mark(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                      const char *name);
/* {"event":"dtmf","sequence_number":"N","stream_sid":…,"dtmf":{"digit":"5","duration":"ms"}}:
 * a key the caller pressed. digit is one of 0-9 * # A-D, else -EINVAL. */
int sb_bot_proto_dtmf(char *buf, size_t size, uint64_t seq, const char *stream_sid, char digit,
                      unsigned duration_ms);
/* An extension event without a body: {"event":<event>,"sequence_number":"N","stream_sid":…}
 * ("hold", "unhold"). */
int sb_bot_proto_event(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                       const char *event);
/* {"event":"transfer_failed","sequence_number":"N","stream_sid":…,"transfer":{"to":…,
 * "status":"486","reason":"Busy Here"}}: status is the SIP status that ended the attempt (408
 * when it timed out). */
int sb_bot_proto_transfer_failed(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                                 const char *to, int status, const char *reason);
/* {"event":"stop","sequence_number":"N","stream_sid":…,"stop":{"call_sid":…,
 * "account_sid":…,"reason":…}} */
int sb_bot_proto_stop(char *buf, size_t size, uint64_t seq, const char *stream_sid,
                      const char *call_sid, const char *account_sid, const char *reason);
/* Worst-case length of a media message carrying `samples` samples. */
size_t sb_bot_proto_media_max_len(size_t samples);

enum sb_bot_ev {
	SB_BOT_EV_MEDIA, /* pcm/pcm_len: decoded payload, even length */
	SB_BOT_EV_MARK,  /* name */
	SB_BOT_EV_CLEAR,
	SB_BOT_EV_HANGUP,   /* {"event":"hangup"} or {"type":"hangup"} */
	SB_BOT_EV_TRANSFER, /* to (may be NULL), headers; name unused */
	SB_BOT_EV_DTMF,     /* digit, duration_ms */
};

struct sb_bot_event {
	enum sb_bot_ev type;
	uint8_t *pcm; /* malloc'd */
	size_t pcm_len;
	char *name; /* malloc'd mark name */
	char *to;   /* malloc'd transfer target */
	char digit;
	unsigned duration_ms;  /* dtmf.duration, 0 when absent */
	struct sb_kv *headers; /* malloc'd transfer.headers, names and values malloc'd too */
	size_t n_headers;
};

/* Decodes one text message from the bot (len bytes at text, borrowed) into *ev, which the
 * caller then owns. The event name is "event" (or "type"); stream_sid, streamSid and unknown
 * fields are ignored. Returns 0 with ev filled (release it with sb_bot_event_done); -EBADMSG
 * when the text is not a JSON object with a string event; -EPROTO when a known event is
 * malformed (media without a base64 payload, odd payload length, mark without a name or with
 * a name over SB_BOT_MARK_NAME_MAX, dtmf without one digit of 0-9*#A-D or with a
 * dtmf.duration that is not an integer or digit string of 0..SB_BOT_DTMF_MAX_MS,
 * transfer.headers that is not an object of at most SB_BOT_HEADERS_MAX string values named by
 * 1..SB_BOT_HEADER_NAME_MAX of [A-Za-z0-9-], each value at most SB_BOT_HEADER_VALUE_MAX bytes
 * without CR, LF or NUL); -ENOTSUP for an unknown event. On error nothing is held. *why (if
 * not NULL) gets a short static reason on error. */
int sb_bot_proto_decode(const char *text, size_t len, struct sb_bot_event *ev, const char **why);
/* Frees what an event holds (payload, strings, headers) and zeroes it; accepts a zeroed
 * event. */
void sb_bot_event_done(struct sb_bot_event *ev);

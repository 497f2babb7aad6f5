/* Bot WebSocket protocols behind one interface: a profile (Exotel, Twilio, raw) encodes the
 * bridge's messages and decodes the bot's, and says how its audio travels (text or binary
 * frames, PCM16 or µ-law, frame size, rates). Pure (jansson). Thread: any (the ws thread that
 * owns the bot connection). Profiles: proto_exotel.c, proto_twilio.c, proto_raw.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sb/config.h>
#include <sb/route.h>

#define SB_BOT_MARK_NAME_MAX 256 /* bytes of a mark name */
#define SB_BOT_SID_LEN 32        /* hex digits of a generated stream/call sid */
#define SB_BOT_DTMF_MAX_MS 60000 /* largest dtmf.duration a bot may send */
#define SB_BOT_HEADERS_MAX 8     /* transfer.headers entries */
#define SB_BOT_HEADER_NAME_MAX 64
#define SB_BOT_HEADER_VALUE_MAX 256 /* bytes */
/* Room for any message but media: every field is bounded (SIP users, X- headers, mark names),
 * even fully JSON-escaped. */
#define SB_BOT_MSG_MAX 16384

/* Who the stream is about: named in start, stop and (as the sids) every other message. */
struct sb_bot_call {
	const char *stream_sid;
	const char *call_sid;
	const char *account_sid;
	const char *from;
	const char *to;
	const struct sb_kv *params; /* custom parameters, in order */
	size_t n_params;
	int sample_rate; /* of the audio on the socket */
};

enum sb_bot_ev {
	SB_BOT_EV_MEDIA, /* pcm/pcm_len: PCM16 little-endian at the stream's rate, even length */
	SB_BOT_EV_MARK,  /* name */
	SB_BOT_EV_CLEAR,
	SB_BOT_EV_HANGUP,   /* {"event":"hangup"} or {"type":"hangup"} */
	SB_BOT_EV_TRANSFER, /* to (may be NULL), headers; name unused */
	SB_BOT_EV_DTMF,     /* digit, duration_ms */
	_SB_BOT_EV_MAX,
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

/* One bot protocol. Every encoder writes one message into buf and returns its length; 0
 * when the profile has no such message (nothing is sent); -ENOSPC when it does not fit;
 * -EINVAL for an argument it cannot encode. Text messages are NUL-terminated JSON. */
struct sb_bot_proto {
	const char *name;  /* as in the bot's protocol key */
	bool binary_media; /* media travels in binary frames (else text) */
	int frame_ms;      /* caller audio per media message; 0: the bot's frame_ms */
	unsigned accepts;  /* mask of 1 << enum sb_bot_ev: what the bot may send */

	int (*connected)(char *buf, size_t size);
	int (*start)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c);
	/* Caller audio: samples of host-order PCM16 at c->sample_rate; chunk counts media
	 * messages from 1, timestamp_ms is media time since the stream began. */
	int (*media)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
	             uint64_t chunk, uint64_t timestamp_ms, const int16_t *pcm, size_t samples);
	/* Worst-case length of a media message carrying `samples` samples. */
	size_t (*media_max_len)(size_t samples);
	/* The echo of a bot's mark: played, or dropped by a clear (cleared). */
	int (*mark)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
	            const char *name, bool cleared);
	/* A key the caller pressed: digit is one of 0-9 * # A-D, else -EINVAL. */
	int (*dtmf)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c, char digit,
	            unsigned duration_ms);
	/* An extension event without a body ("hold", "unhold"). */
	int (*event)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
	             const char *event);
	/* A transfer to `to` ended with SIP status (408 when it timed out) and reason. */
	int (*transfer_failed)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
	                       const char *to, int status, const char *reason);
	int (*stop)(char *buf, size_t size, uint64_t seq, const struct sb_bot_call *c,
	            const char *reason);
	/* Decodes one complete message from the bot (len bytes at data, borrowed; binary says
	 * which kind of frame) into *ev, which the caller then owns. Returns 0 with ev filled
	 * (release it with sb_bot_event_done); -EBADMSG when a text is not a JSON object with a
	 * string event name, or a binary frame where the profile takes none; -EPROTO when a
	 * known event is malformed; -ENOTSUP for an unknown event or one the profile does not
	 * accept. On error nothing is held and *why (if not NULL) gets a short static reason. */
	int (*decode)(const char *data, size_t len, bool binary, struct sb_bot_event *ev,
	              const char **why);
	/* decode without the media fast path (json_media.h): every text message through
	 * jansson. Same contract and, for every input, the same result; the reference that the
	 * fast path is checked against. */
	int (*decode_json)(const char *data, size_t len, bool binary, struct sb_bot_event *ev,
	                   const char **why);
};

extern const struct sb_bot_proto sb_proto_exotel, sb_proto_twilio, sb_proto_raw;

/* The profile of a configured protocol (never NULL). */
const struct sb_bot_proto *sb_bot_proto_get(enum sb_bot_protocol p);
/* Frees what an event holds (payload, strings, headers) and zeroes it; accepts a zeroed
 * event. */
void sb_bot_event_done(struct sb_bot_event *ev);

/* The fast path for a bot's media messages (Exotel, Twilio): a strict, bounded scanner of the
 * usual {"event":"media",…,"media":{"payload":"<base64>",…}} text that finds the payload
 * without building a JSON tree, for the caller to base64-decode straight into its buffer.
 * Pure: no allocation, no I/O. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The payload of a recognised media message, borrowed from the scanned text. */
struct sb_json_media {
	const char *payload; /* base64 characters ([A-Za-z0-9+/=] only), not terminated */
	size_t payload_len;
};

/* Thread: any */

/* Scans len bytes of text (borrowed). true only when the text is one JSON object that a
 * conforming parser (jansson) reads as an object whose "event" is the string "media" and
 * whose "media" member is an object with a "payload" string, that string being exactly
 * m->payload: no escapes, no duplicated or unlisted keys, other members strings without
 * escapes or small integers, JSON whitespace anywhere. false for anything else, which the
 * caller hands to its JSON parser; *m is then unspecified. */
bool sb_json_media_scan(const char *text, size_t len, struct sb_json_media *m);

/* A WebSocket client's opening handshake over a plain socket (RFC 6455 §4.1): the request, and
 * the check of the server's answer. Used for ws:// bots, whose frames the bridge reads itself
 * (ws_reader.h); wss:// bots keep libwebsockets' own handshake.
 * Pure (SHA-1 from OpenSSL). Thread: any. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SB_WS_KEY_LEN 24    /* base64 of 16 random bytes */
#define SB_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
/* An answer whose head (status line and headers) is longer than this is refused. */
#define SB_WS_HANDSHAKE_MAX 8192

struct sb_ws_request {
	const char *host;           /* the Host value, with ":port" unless the scheme's default */
	const char *path;           /* with its query; "/" when empty */
	const char *subprotocol;    /* offered in Sec-WebSocket-Protocol; NULL or "" for none */
	const char *authorization;  /* Authorization's value; NULL for none */
	const char *const *headers; /* extra "Name: value" lines */
	size_t n_headers;
	const char *key; /* SB_WS_KEY_LEN characters */
};

/* Writes the key for 16 random bytes into out (SB_WS_KEY_LEN + 1 bytes, NUL-terminated). */
void sb_ws_key(const uint8_t nonce[16], char *out);

/* Writes the Sec-WebSocket-Accept a server must answer key with into out
 * (SB_WS_ACCEPT_LEN + 1 bytes). Returns 0, or -1 when SHA-1 is not available. */
int sb_ws_accept(const char *key, char *out);

/* Writes the request into buf (cap bytes). An extra header whose name is not a token, or whose
 * value holds a control character, is left out and counted in *skipped. Returns the length,
 * or -1 when it does not fit. */
int sb_ws_request_build(char *buf, size_t cap, const struct sb_ws_request *rq, unsigned *skipped);

/* Checks the server's answer, the len bytes received so far at buf, against the request's key
 * and offered subprotocol. Returns 0 while the head is incomplete, 1 when the upgrade is
 * accepted (*head_len: the head's length; what follows it is frames), or -1 when it is refused,
 * with why it was in why (why_len bytes). *status is the answer's HTTP status, 0 while it is not
 * known. */
int sb_ws_response_check(const char *buf, size_t len, const char *key, const char *subprotocol,
                         size_t *head_len, int *status, char *why, size_t why_len);

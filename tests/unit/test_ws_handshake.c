/* Unit tests for ws_handshake.c: the key and the accept value of RFC 6455 §1.3's example; the
 * request carries every header the handshake needs, the offered subprotocol, the extra headers
 * and Authorization, and leaves out extra headers that would break the request; the answer is
 * accepted only when whole, with status 101, Upgrade, Connection and the right accept value,
 * whatever the case of the names and however it is split between reads; anything else is
 * refused with the reason. */
#include <stdlib.h>

#include <sb/ws_handshake.h>

#include "harness.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

TEST(rfc6455_example_key_and_accept)
{
	char key[SB_WS_KEY_LEN + 1], accept[SB_WS_ACCEPT_LEN + 1];
	int r = 0;

	sb_ws_key((const uint8_t *)"the sample nonce", key);
	ASSERT_STREQ(key, KEY);
	ASSERT_EQ(sb_ws_accept(KEY, accept), 0);
	ASSERT_STREQ(accept, ACCEPT);
out:
	return r;
}

TEST(request_has_every_header)
{
	const char *extra[] = {"X-Tenant: acme", "Bad Name: x", "X-Split: a\r\nInjected: 1",
	                       "NoColon", "X-Tab:\tv2"};
	struct sb_ws_request rq = {.host = "bot.example:8080",
	                           .path = "/media?x=1",
	                           .subprotocol = "audio.jambonz.org",
	                           .authorization = "Basic dTpw",
	                           .headers = extra,
	                           .n_headers = 5,
	                           .key = KEY};
	char buf[1024];
	unsigned skipped = 0;
	int r = 0, n = sb_ws_request_build(buf, sizeof(buf), &rq, &skipped);

	ASSERT_TRUE(n > 0);
	ASSERT_EQ((size_t)n, strlen(buf));
	ASSERT_STREQ(buf, "GET /media?x=1 HTTP/1.1\r\n"
	                  "Host: bot.example:8080\r\n"
	                  "Origin: http://bot.example:8080\r\n"
	                  "Upgrade: websocket\r\n"
	                  "Connection: Upgrade\r\n"
	                  "Sec-WebSocket-Key: " KEY "\r\n"
	                  "Sec-WebSocket-Version: 13\r\n"
	                  "Sec-WebSocket-Protocol: audio.jambonz.org\r\n"
	                  "X-Tenant: acme\r\n"
	                  "X-Tab: v2\r\n"
	                  "Authorization: Basic dTpw\r\n"
	                  "\r\n");
	ASSERT_EQ(skipped, 3);
	/* every size short of the whole request is refused, never cut */
	for (size_t cap = 0; cap <= (size_t)n; cap++)
		ASSERT_EQ(sb_ws_request_build(buf, cap, &rq, &skipped), -1);
	/* no subprotocol, no path */
	rq = (struct sb_ws_request){.host = "h", .path = "", .key = KEY};
	n = sb_ws_request_build(buf, sizeof(buf), &rq, &skipped);
	ASSERT_TRUE(n > 0);
	ASSERT_TRUE(!strncmp(buf, "GET / HTTP/1.1\r\n", 16));
	ASSERT_TRUE(!strstr(buf, "Protocol") && !strstr(buf, "Authorization"));
	rq.path = "/a\r\nX: y";
	ASSERT_EQ(sb_ws_request_build(buf, sizeof(buf), &rq, &skipped), -1);
out:
	return r;
}

static const char GOOD[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "upgrade: WebSocket\r\n"
                           "CONNECTION: keep-alive, Upgrade\r\n"
                           "Sec-WebSocket-Accept: " ACCEPT "\r\n"
                           "\r\n";

TEST(answer_accepted_only_when_whole)
{
	char buf[sizeof(GOOD) + 8], why[128];
	size_t head = 0, glen = strlen(GOOD);
	int status, r = 0;

	/* the head followed by the start of a frame, cut at every place */
	memcpy(buf, GOOD, glen);
	memcpy(buf + glen, "\x81\x02hi", 4);
	for (size_t n = 0; n < glen; n++)
		ASSERT_EQ(sb_ws_response_check(buf, n, KEY, NULL, &head, &status, why, sizeof(why)),
		          0);
	for (size_t n = glen; n <= glen + 4; n++) {
		head = 0;
		ASSERT_EQ(sb_ws_response_check(buf, n, KEY, NULL, &head, &status, why, sizeof(why)),
		          1);
		ASSERT_EQ(head, glen);
		ASSERT_EQ(status, 101);
	}
out:
	return r;
}

/* Checks text (a whole head) against KEY, offering sub; returns the result, why in why. */
static int check(const char *text, const char *sub, char *why)
{
	size_t head;
	int status;

	why[0] = '\0';
	return sb_ws_response_check(text, strlen(text), KEY, sub, &head, &status, why, 128);
}

TEST(answer_refused_with_reason)
{
	static const struct {
		const char *text, *sub, *why;
	} bad[] = {
	        {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", NULL, "HTTP 403"},
	        {"HTTP/1.1 200 OK\r\n\r\n", NULL, "HTTP 200"},
	        {"SSH-2.0-OpenSSH\r\n\r\n", NULL, "not HTTP"},
	        {"HTTP/1.1 1010 x\r\n\r\n", NULL, "not HTTP"},
	        {"HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT
	         "\r\n\r\n",
	         NULL, "Upgrade"},
	        {"HTTP/1.1 101 x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
	         NULL, "Upgrade"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: close\r\n"
	         "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
	         NULL, "Connection"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n",
	         NULL, "Accept"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", NULL,
	         "Accept"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: other\r\n\r\n",
	         "audio.jambonz.org", "subprotocol"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
	         NULL, "subprotocol"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Extensions: "
	         "permessage-deflate\r\n\r\n",
	         NULL, "extension"},
	        {"HTTP/1.1 101 x\r\nUpgrade: websocket\nConnection: Upgrade\r\n\r\n", NULL,
	         "malformed"},
	};
	char why[128];
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check(bad[i].text, bad[i].sub, why) != -1 || !strstr(why, bad[i].why))
			FAIL_AT("case %zu: not refused for \"%s\" (why: \"%s\")", i, bad[i].why,
			        why);
	}
	/* the offered subprotocol echoed, or left out, is accepted */
	ASSERT_EQ(check("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                "Sec-WebSocket-Accept: " ACCEPT
	                "\r\nSec-WebSocket-Protocol: audio.jambonz.org\r\n\r\n",
	                "audio.jambonz.org", why),
	          1);
	ASSERT_EQ(check(GOOD, "audio.jambonz.org", why), 1);
out:
	return r;
}

TEST(answer_head_bounded)
{
	size_t n = SB_WS_HANDSHAKE_MAX + 64, head;
	char *buf = malloc(n), why[128];
	int status, r = 0;

	ASSERT_TRUE(buf);
	memset(buf, 'a', n);
	memcpy(buf, "HTTP/1.1 101 x\r\nX-Long: ", 24);
	ASSERT_EQ(sb_ws_response_check(buf, SB_WS_HANDSHAKE_MAX - 1, KEY, NULL, &head, &status, why,
	                               sizeof(why)),
	          0);
	ASSERT_EQ(sb_ws_response_check(buf, SB_WS_HANDSHAKE_MAX, KEY, NULL, &head, &status, why,
	                               sizeof(why)),
	          -1);
	ASSERT_TRUE(strstr(why, "too long") != NULL);
	/* a head that ends past the bound in a larger read is refused too */
	memcpy(buf + n - 4, "\r\n\r\n", 4);
	ASSERT_EQ(sb_ws_response_check(buf, n, KEY, NULL, &head, &status, why, sizeof(why)), -1);
out:
	free(buf);
	return r;
}

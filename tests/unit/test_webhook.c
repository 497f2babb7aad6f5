/* Unit tests for the call-end webhook's pure parts: ISO-8601 times, the record as JSON, the
 * HMAC-SHA256 signature (RFC 4231 vectors), the retry back-off and the receiver URL. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sb/webhook.h>

#include "harness.h"

TEST(iso8601)
{
	char buf[SB_WEBHOOK_TIME_LEN + 1];
	int r = 0;

	ASSERT_EQ(sb_webhook_iso8601(buf, sizeof(buf), 0), 0);
	ASSERT_STREQ(buf, "1970-01-01T00:00:00.000Z");
	ASSERT_EQ(sb_webhook_iso8601(buf, sizeof(buf), 1796196601123LL), 0);
	ASSERT_STREQ(buf, "2026-12-02T07:30:01.123Z");
	ASSERT_EQ(sb_webhook_iso8601(buf, sizeof(buf), 951782400000LL + 999), 0);
	ASSERT_STREQ(buf, "2000-02-29T00:00:00.999Z"); /* a leap day, the last millisecond */
	ASSERT_EQ(sb_webhook_iso8601(buf, sizeof(buf), -1), 0);
	ASSERT_STREQ(buf, "1969-12-31T23:59:59.999Z");
	/* one byte short of the NUL */
	ASSERT_EQ(sb_webhook_iso8601(buf, SB_WEBHOOK_TIME_LEN, 0), -EINVAL);
out:
	return r;
}

/* RFC 4231 test cases 1 and 2 (HMAC-SHA-256). */
TEST(sign_rfc4231)
{
	char sig[SB_WEBHOOK_SIG_LEN + 1], key1[21];
	int r = 0;

	memset(key1, 0x0b, 20);
	key1[20] = '\0';
	ASSERT_EQ(sb_webhook_sign(sig, key1, "Hi There", 8), 0);
	ASSERT_STREQ(sig, "sha256="
	                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	ASSERT_EQ(sb_webhook_sign(sig, "Jefe", "what do ya want for nothing?", 28), 0);
	ASSERT_STREQ(sig, "sha256="
	                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	ASSERT_EQ(strlen(sig), SB_WEBHOOK_SIG_LEN);
	/* one body byte more changes it */
	ASSERT_EQ(sb_webhook_sign(sig, "Jefe", "what do ya want for nothing?!", 29), 0);
	ASSERT_TRUE(strcmp(sig + 7, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec"
	                            "3843") != 0);
out:
	return r;
}

TEST(backoff)
{
	int r = 0;

	ASSERT_EQ(sb_webhook_backoff_ms(1), 500);
	ASSERT_EQ(sb_webhook_backoff_ms(2), 1000);
	ASSERT_EQ(sb_webhook_backoff_ms(3), 2000);
	ASSERT_EQ(sb_webhook_backoff_ms(4), 4000);
	ASSERT_EQ(sb_webhook_backoff_ms(6), 16000);
	ASSERT_EQ(sb_webhook_backoff_ms(7), SB_WEBHOOK_BACKOFF_MAX_MS); /* 32 s, capped */
	ASSERT_EQ(sb_webhook_backoff_ms(1000), SB_WEBHOOK_BACKOFF_MAX_MS);
	ASSERT_EQ(sb_webhook_backoff_ms(0), 500);
out:
	return r;
}

TEST(url)
{
	struct sb_url u;
	const char *why = NULL;
	int r = 0;

	ASSERT_EQ(sb_webhook_url_parse(&u, "http://127.0.0.1:8080/hooks/end?x=1", &why), 0);
	ASSERT_TRUE(!u.tls);
	ASSERT_STREQ(u.host, "127.0.0.1");
	ASSERT_EQ(u.port, 8080);
	ASSERT_STREQ(u.path, "/hooks/end?x=1");
	ASSERT_EQ(sb_webhook_url_parse(&u, "HTTPS://hooks.example.com", &why), 0);
	ASSERT_TRUE(u.tls);
	ASSERT_EQ(u.port, 443);
	ASSERT_STREQ(u.path, "/");
	ASSERT_EQ(sb_webhook_url_parse(&u, "http://[::1]/e", &why), 0);
	ASSERT_STREQ(u.host, "::1");
	ASSERT_EQ(u.port, 80);
	ASSERT_EQ(sb_webhook_url_parse(&u, "ws://127.0.0.1/e", &why), -EINVAL);
	ASSERT_STREQ(why, "must be empty or an http:// or https:// URL");
	ASSERT_EQ(sb_webhook_url_parse(&u, "http:///e", &why), -EINVAL);
	ASSERT_EQ(sb_webhook_url_parse(&u, "http://h:0/e", &why), -EINVAL);
	ASSERT_EQ(sb_webhook_url_parse(&u, "http://h/a b", &why), -EINVAL);
out:
	return r;
}

static const struct sb_kv params[] = {{"X-UUI", "UUI-1;x=\"q\""}, {"X-Campaign", "caf\xe9"}};

static struct sb_webhook_record sample(void)
{
	return (struct sb_webhook_record){
	        .call_id = "abc123",
	        .sip_call_id = "1-2@127.0.0.1",
	        .trunk = "cc_main",
	        .from = "alice",
	        .to = "+15550001",
	        .bot = "sales",
	        .start_ms = 1796196601123LL,
	        .answer_ms = 1796196601623LL,
	        .end_ms = 1796196613868LL,
	        .hangup_by = "caller",
	        .hangup_reason = "bye",
	        .sip_status = 200,
	        .transfer_target = "sip:agent@10.0.0.5",
	        .transfer_mode = "refer",
	        .transfer_outcome = "failed",
	        .rtp_packets_in = 612,
	        .rtp_packets_out = 610,
	        .rtp_lost = -2,
	        .bot_frames_in = 7,
	        .bot_frames_out = 64,
	        .drops_to_bot = 3,
	        .drops_to_caller = 51,
	        .bridge_drops_to_caller = 4,
	        .bridge_drops_to_agent = 5,
	        .bridge_drops_to_bot = 6,
	        .dtmf = "12#",
	        .params = params,
	        .n_params = 2,
	};
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

TEST(encode_full_record)
{
	struct sb_webhook_record rec = sample();
	json_error_t jerr;
	json_t *o = NULL, *t, *cp;
	size_t len = 0;
	char *text = sb_webhook_encode(&rec, &len);
	int r = 0;

	ASSERT_TRUE(text != NULL);
	ASSERT_EQ(len, strlen(text));
	o = json_loads(text, 0, &jerr);
	ASSERT_TRUE(o != NULL);
	ASSERT_STREQ(str(o, "call_id"), "abc123");
	ASSERT_STREQ(str(o, "sip_call_id"), "1-2@127.0.0.1");
	ASSERT_STREQ(str(o, "trunk"), "cc_main");
	ASSERT_STREQ(str(o, "from"), "alice");
	ASSERT_STREQ(str(o, "to"), "+15550001");
	ASSERT_STREQ(str(o, "bot"), "sales");
	ASSERT_STREQ(str(o, "start"), "2026-12-02T07:30:01.123Z");
	ASSERT_STREQ(str(o, "answer"), "2026-12-02T07:30:01.623Z");
	ASSERT_STREQ(str(o, "end"), "2026-12-02T07:30:13.868Z");
	ASSERT_TRUE(json_real_value(json_object_get(o, "duration_s")) == 12.245);
	ASSERT_TRUE(strstr(text, "\"duration_s\":12.245,") != NULL); /* no float noise */
	ASSERT_STREQ(str(o, "hangup_by"), "caller");
	ASSERT_STREQ(str(o, "hangup_reason"), "bye");
	ASSERT_EQ(num(o, "sip_status"), 200);
	t = json_object_get(o, "transfer");
	ASSERT_STREQ(str(t, "target"), "sip:agent@10.0.0.5");
	ASSERT_STREQ(str(t, "mode"), "refer");
	ASSERT_STREQ(str(t, "outcome"), "failed");
	t = json_object_get(o, "rtp");
	ASSERT_EQ(num(t, "packets_in"), 612);
	ASSERT_EQ(num(t, "packets_out"), 610);
	ASSERT_EQ(num(t, "lost"), -2);
	t = json_object_get(o, "bot_stats");
	ASSERT_EQ(num(t, "frames_in"), 7);
	ASSERT_EQ(num(t, "frames_out"), 64);
	t = json_object_get(o, "drops");
	ASSERT_EQ(json_object_size(t), 5);
	ASSERT_EQ(num(t, "to_bot"), 3);
	ASSERT_EQ(num(t, "to_caller"), 51);
	ASSERT_EQ(num(t, "bridge_to_caller"), 4);
	ASSERT_EQ(num(t, "bridge_to_agent"), 5);
	ASSERT_EQ(num(t, "bridge_to_bot"), 6);
	ASSERT_STREQ(str(o, "dtmf"), "12#");
	cp = json_object_get(o, "custom_parameters");
	ASSERT_EQ(json_object_size(cp), 2);
	ASSERT_STREQ(str(cp, "X-UUI"), "UUI-1;x=\"q\"");
	ASSERT_STREQ(str(cp, "X-Campaign"), "caf?"); /* not UTF-8: masked, still valid JSON */
out:
	json_decref(o);
	free(text);
	return r;
}

TEST(encode_unanswered)
{
	struct sb_webhook_record rec = {
	        .call_id = "def456",
	        .start_ms = 1796196601123LL,
	        .end_ms = 1796196601130LL,
	        .hangup_by = "bridge",
	        .hangup_reason = "rejected",
	        .sip_status = 404,
	};
	json_error_t jerr;
	json_t *o = NULL;
	char *text = sb_webhook_encode(&rec, NULL);
	int r = 0;

	ASSERT_TRUE(text != NULL);
	o = json_loads(text, 0, &jerr);
	ASSERT_TRUE(o != NULL);
	ASSERT_TRUE(json_is_null(json_object_get(o, "answer")));
	ASSERT_TRUE(json_is_null(json_object_get(o, "transfer")));
	ASSERT_TRUE(json_is_null(json_object_get(o, "bot")));
	ASSERT_TRUE(json_is_null(json_object_get(o, "trunk")));
	ASSERT_TRUE(json_real_value(json_object_get(o, "duration_s")) == 0.0);
	ASSERT_EQ(num(o, "sip_status"), 404);
	ASSERT_STREQ(str(o, "dtmf"), "");
	ASSERT_EQ(num(json_object_get(o, "rtp"), "packets_in"), 0);
	ASSERT_EQ(num(json_object_get(o, "drops"), "to_caller"), 0);
	ASSERT_TRUE(json_is_integer(json_object_get(json_object_get(o, "drops"), "bridge_to_bot")));
	ASSERT_EQ(json_object_size(json_object_get(o, "custom_parameters")), 0);
	/* no final status yet: null */
	free(text);
	json_decref(o);
	o = NULL;
	rec.sip_status = 0;
	text = sb_webhook_encode(&rec, NULL);
	ASSERT_TRUE(text != NULL);
	o = json_loads(text, 0, &jerr);
	ASSERT_TRUE(o != NULL && json_is_null(json_object_get(o, "sip_status")));
out:
	json_decref(o);
	free(text);
	return r;
}

/* The signature covers the exact bytes that are sent: the encoder's output. */
TEST(sign_encoded_body)
{
	struct sb_webhook_record rec = sample();
	char a[SB_WEBHOOK_SIG_LEN + 1], b[SB_WEBHOOK_SIG_LEN + 1];
	size_t len = 0;
	char *text = sb_webhook_encode(&rec, &len);
	int r = 0;

	ASSERT_TRUE(text != NULL);
	ASSERT_EQ(sb_webhook_sign(a, "secret", text, len), 0);
	ASSERT_EQ(sb_webhook_sign(b, "secret", text, len), 0);
	ASSERT_STREQ(a, b);
	ASSERT_EQ(sb_webhook_sign(b, "Secret", text, len), 0);
	ASSERT_TRUE(strcmp(a, b) != 0);
	ASSERT_TRUE(strncmp(a, "sha256=", 7) == 0);
	for (size_t i = 7; i < SB_WEBHOOK_SIG_LEN; i++)
		ASSERT_TRUE((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
out:
	free(text);
	return r;
}

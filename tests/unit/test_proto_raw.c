/* Unit tests for the raw profile: the jambonz-style metadata frame, binary PCM16 both ways,
 * jambonz's control names and the bridge's, and the mark echoes (playout or cleared).
 * Thread: the test's main thread. */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include <sb/bot_proto.h>

#include "harness.h"

#define RAW (&sb_proto_raw)

static const struct sb_kv params[] = {{"X-UUI", "u1"}};
static const struct sb_bot_call who = {
        .stream_sid = "s1",
        .call_sid = "c1",
        .account_sid = "a1",
        .from = "+15550001",
        .to = "+15550002",
        .params = params,
        .n_params = 1,
        .sample_rate = 16000,
};

TEST(raw_metadata_frame)
{
	char buf[2048];
	json_t *j = NULL;
	int r = 0, n;

	ASSERT_EQ(RAW->connected(buf, sizeof(buf)), 0); /* nothing before the metadata */
	n = RAW->start(buf, sizeof(buf), 1, &who);
	ASSERT_TRUE(n > 0);
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(json_is_object(j));
	ASSERT_STREQ(json_string_value(json_object_get(j, "callSid")), "c1");
	ASSERT_STREQ(json_string_value(json_object_get(j, "from")), "+15550001");
	ASSERT_STREQ(json_string_value(json_object_get(j, "to")), "+15550002");
	ASSERT_STREQ(json_string_value(json_object_get(j, "encoding")), "L16");
	ASSERT_STREQ(json_string_value(json_object_get(j, "mixType")), "mono");
	ASSERT_EQ(json_integer_value(json_object_get(j, "sampleRate")), 16000);
	ASSERT_STREQ(
	        json_string_value(json_object_get(json_object_get(j, "customParameters"), "X-UUI")),
	        "u1");
	ASSERT_EQ(RAW->stop(buf, sizeof(buf), 2, &who, "bye"), 0); /* the close is the stop */
out:
	json_decref(j);
	return r;
}

TEST(raw_media_is_binary_le)
{
	const int16_t pcm[3] = {1, -2, 0x1234};
	char buf[6];
	int r = 0;

	ASSERT_TRUE(RAW->binary_media);
	ASSERT_EQ(RAW->media_max_len(3), 6);
	ASSERT_EQ(RAW->media(buf, sizeof(buf), 1, &who, 1, 0, pcm, 3), 6);
	ASSERT_MEMEQ(buf, "\x01\x00\xfe\xff\x34\x12", 6);
	ASSERT_EQ(RAW->media(buf, 5, 1, &who, 1, 0, pcm, 3), -ENOSPC);
out:
	return r;
}

TEST(raw_marks_and_keys_out)
{
	char buf[512];
	int r = 0;

	ASSERT_TRUE(RAW->mark(buf, sizeof(buf), 1, &who, "m1", false) > 0);
	ASSERT_STREQ(buf, "{\"type\":\"mark\",\"data\":{\"name\":\"m1\",\"event\":\"playout\"}}");
	ASSERT_TRUE(RAW->mark(buf, sizeof(buf), 1, &who, "m2", true) > 0);
	ASSERT_STREQ(buf, "{\"type\":\"mark\",\"data\":{\"name\":\"m2\",\"event\":\"cleared\"}}");
	ASSERT_TRUE(RAW->dtmf(buf, sizeof(buf), 1, &who, '7', 250) > 0);
	ASSERT_STREQ(buf, "{\"event\":\"dtmf\",\"dtmf\":\"7\",\"duration\":250}");
	ASSERT_TRUE(RAW->event(buf, sizeof(buf), 1, &who, "hold") > 0);
	ASSERT_STREQ(buf, "{\"type\":\"hold\"}");
	ASSERT_TRUE(RAW->transfer_failed(buf, sizeof(buf), 1, &who, "sip:a@b", 486, "Busy") > 0);
	ASSERT_STREQ(buf,
	             "{\"type\":\"transfer_failed\",\"data\":{\"to\":\"sip:a@b\",\"status\":486,"
	             "\"reason\":\"Busy\"}}");
out:
	return r;
}

static int dec(const char *text, struct sb_bot_event *ev)
{
	const char *why = NULL;

	return RAW->decode(text, strlen(text), false, ev, &why);
}

TEST(raw_decode_both_dialects)
{
	struct sb_bot_event ev = {0};
	const char *why = NULL;
	int r = 0;

	ASSERT_EQ(RAW->decode("\x10\x00\x20\x00", 4, true, &ev, &why), 0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_MEDIA && ev.pcm_len == 4);
	ASSERT_MEMEQ(ev.pcm, "\x10\x00\x20\x00", 4);
	sb_bot_event_done(&ev);
	ASSERT_EQ(RAW->decode("\x10\x00\x20", 3, true, &ev, &why), -EPROTO);

	ASSERT_EQ(dec("{\"type\":\"mark\",\"data\":{\"name\":\"j1\"}}", &ev), 0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_MARK && strcmp(ev.name, "j1") == 0);
	sb_bot_event_done(&ev);
	ASSERT_EQ(dec("{\"event\":\"mark\",\"mark\":{\"name\":\"b1\"}}", &ev), 0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_MARK && strcmp(ev.name, "b1") == 0);
	sb_bot_event_done(&ev);
	ASSERT_EQ(dec("{\"type\":\"killAudio\"}", &ev), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_CLEAR);
	ASSERT_EQ(dec("{\"event\":\"clear\"}", &ev), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_CLEAR);
	ASSERT_EQ(dec("{\"type\":\"disconnect\"}", &ev), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_HANGUP);
	ASSERT_EQ(dec("{\"type\":\"dtmf\",\"data\":{\"digit\":\"9\",\"duration\":300}}", &ev), 0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_DTMF && ev.digit == '9' && ev.duration_ms == 300);
	ASSERT_EQ(dec("{\"type\":\"transfer\",\"data\":{\"to\":\"sip:x@y\",\"headers\":"
	              "{\"X-UUI\":\"v\"}}}",
	              &ev),
	          0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_TRANSFER && strcmp(ev.to, "sip:x@y") == 0 &&
	            ev.n_headers == 1);
	sb_bot_event_done(&ev);
	/* Malformed control frames are refused and hold nothing. */
	ASSERT_EQ(dec("{\"type\":\"mark\",\"data\":{}}", &ev), -EPROTO);
	ASSERT_EQ(dec("{\"type\":\"playAudio\"}", &ev), -ENOTSUP);
	ASSERT_EQ(dec("[1]", &ev), -EBADMSG);
	/* media as JSON is not how raw carries audio */
	ASSERT_EQ(dec("{\"event\":\"media\",\"media\":{\"payload\":\"AAA=\"}}", &ev), -ENOTSUP);
out:
	sb_bot_event_done(&ev);
	return r;
}

/* Unit tests for the Twilio profile: every message's keys, order and types as Twilio sends
 * them (bot-protocols.md §2), µ-law payloads both ways, 20 ms frames, and the bot's frames
 * decoded, including Twilio's own examples. Thread: the test's main thread. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include <sb/base64.h>
#include <sb/bot_proto.h>
#include <sb/codec.h>

#include "harness.h"

#define TW (&sb_proto_twilio)
#define SID "0123456789abcdef0123456789abcdef"
#define CSID "fedcba9876543210fedcba9876543210"

static const struct sb_kv params[] = {{"X-UUI", "uui-123"}, {"X-Account-Sid", "AC42"}};
static const struct sb_bot_call who = {
        .stream_sid = SID,
        .call_sid = CSID,
        .account_sid = "AC42",
        .from = "+15550001",
        .to = "+15550002",
        .params = params,
        .n_params = 2,
        .sample_rate = 8000,
};

/* Keys of obj in order, joined with ','. */
static void keys(json_t *obj, char *out, size_t size)
{
	const char *k;
	json_t *v;

	out[0] = '\0';
	json_object_foreach(obj, k, v)
	{
		(void)v;
		if (out[0])
			strncat(out, ",", size - strlen(out) - 1);
		strncat(out, k, size - strlen(out) - 1);
	}
}

/* 1 when a key anywhere (custom parameters aside) has an underscore: Twilio is camelCase. */
static int has_snake(json_t *j)
{
	const char *k;
	json_t *v;

	if (!json_is_object(j))
		return 0;
	json_object_foreach(j, k, v)
	{
		if (strchr(k, '_'))
			return 1;
		if (strcmp(k, "customParameters") != 0 && has_snake(v))
			return 1;
	}
	return 0;
}

static const char *sget(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

TEST(twilio_connected_and_start)
{
	char buf[4096], k[256];
	json_t *j = NULL, *st, *mf;
	int r = 0, n;

	n = TW->connected(buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_STREQ(buf, "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}");
	n = TW->start(buf, sizeof(buf), 1, &who);
	ASSERT_TRUE(n > 0 && (size_t)n == strlen(buf));
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(json_is_object(j));
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequenceNumber,start,streamSid");
	ASSERT_STREQ(sget(j, "sequenceNumber", NULL), "1");
	ASSERT_STREQ(sget(j, "streamSid", NULL), "MZ" SID);
	st = json_object_get(j, "start");
	keys(st, k, sizeof(k));
	ASSERT_STREQ(k, "accountSid,streamSid,callSid,tracks,mediaFormat,customParameters");
	ASSERT_STREQ(sget(st, "accountSid", NULL), "AC42");
	ASSERT_STREQ(sget(st, "streamSid", NULL), "MZ" SID);
	ASSERT_STREQ(sget(st, "callSid", NULL), "CA" CSID);
	ASSERT_EQ(json_array_size(json_object_get(st, "tracks")), 1);
	ASSERT_STREQ(json_string_value(json_array_get(json_object_get(st, "tracks"), 0)),
	             "inbound");
	mf = json_object_get(st, "mediaFormat");
	ASSERT_STREQ(sget(mf, "encoding", NULL), "audio/x-mulaw");
	/* Numbers in mediaFormat are JSON integers, as Twilio sends them. */
	ASSERT_TRUE(json_is_integer(json_object_get(mf, "sampleRate")));
	ASSERT_EQ(json_integer_value(json_object_get(mf, "sampleRate")), 8000);
	ASSERT_EQ(json_integer_value(json_object_get(mf, "channels")), 1);
	ASSERT_STREQ(sget(st, "customParameters", "X-UUI"), "uui-123");
	ASSERT_EQ(has_snake(j), 0);
out:
	json_decref(j);
	return r;
}

TEST(twilio_media_is_ulaw_20ms)
{
	int16_t pcm[160], back[160];
	uint8_t ulaw[200];
	char buf[1024], k[128];
	json_t *j = NULL, *m;
	int r = 0, n;
	long len;

	for (int i = 0; i < 160; i++)
		pcm[i] = (int16_t)((i % 16) * 1000 - 8000);
	ASSERT_TRUE(TW->media_max_len(160) < sizeof(buf));
	n = TW->media(buf, TW->media_max_len(160), 7, &who, 3, 40, pcm, 160);
	ASSERT_TRUE(n > 0);
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(json_is_object(j));
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequenceNumber,media,streamSid");
	ASSERT_STREQ(sget(j, "sequenceNumber", NULL), "7");
	ASSERT_STREQ(sget(j, "streamSid", NULL), "MZ" SID);
	m = json_object_get(j, "media");
	keys(m, k, sizeof(k));
	ASSERT_STREQ(k, "track,chunk,timestamp,payload");
	ASSERT_STREQ(sget(m, "track", NULL), "inbound");
	ASSERT_STREQ(sget(m, "chunk", NULL), "3");
	ASSERT_STREQ(sget(m, "timestamp", NULL), "40");
	len = sb_base64_decode(sget(m, "payload", NULL), strlen(sget(m, "payload", NULL)), ulaw,
	                       sizeof(ulaw));
	ASSERT_EQ(len, 160); /* one octet a sample: 20 ms */
	sb_codec_decode(SB_CODEC_PCMU, ulaw, 160, back);
	for (int i = 0; i < 160; i++) /* µ-law keeps about 1/16 of the amplitude */
		ASSERT_TRUE(abs(back[i] - pcm[i]) <= abs(pcm[i]) / 16 + 8);
	/* Too small a buffer is refused at every size. */
	for (size_t size = 0; size < (size_t)n + 1; size += 7)
		ASSERT_EQ(TW->media(buf, size, 7, &who, 3, 40, pcm, 160), -ENOSPC);
out:
	json_decref(j);
	return r;
}

TEST(twilio_mark_dtmf_stop_event)
{
	char buf[2048], k[128];
	json_t *j = NULL;
	int r = 0, n;

	n = TW->mark(buf, sizeof(buf), 4, &who, "my label", true);
	j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(n > 0 && j);
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequenceNumber,mark,streamSid");
	ASSERT_STREQ(sget(j, "mark", "name"), "my label");
	json_decref(j);

	n = TW->dtmf(buf, sizeof(buf), 5, &who, '#', 120);
	j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(n > 0 && j);
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequenceNumber,dtmf,streamSid");
	ASSERT_STREQ(sget(j, "dtmf", "track"), "inbound_track");
	ASSERT_STREQ(sget(j, "dtmf", "digit"), "#");
	ASSERT_EQ(json_object_size(json_object_get(j, "dtmf")), 2);
	ASSERT_EQ(TW->dtmf(buf, sizeof(buf), 5, &who, 'x', 120), -EINVAL);
	json_decref(j);

	n = TW->stop(buf, sizeof(buf), 6, &who, "callended");
	j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(n > 0 && j);
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequenceNumber,stop,streamSid");
	keys(json_object_get(j, "stop"), k, sizeof(k));
	ASSERT_STREQ(k, "accountSid,callSid");
	ASSERT_STREQ(sget(j, "stop", "callSid"), "CA" CSID);
	json_decref(j);

	n = TW->event(buf, sizeof(buf), 8, &who, "hold");
	j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(n > 0 && j);
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequenceNumber,streamSid");
	ASSERT_STREQ(sget(j, "event", NULL), "hold");
out:
	json_decref(j);
	return r;
}

/* Twilio's documented server → Twilio messages, and the extension events. */
TEST(twilio_decode_bot_frames)
{
	static const uint8_t ulaw[4] = {0xff, 0x7f, 0x00, 0x80};
	char text[256], b64[16];
	struct sb_bot_event ev = {0};
	const char *why = NULL;
	int16_t pcm[4];
	int r = 0;

	sb_base64_encode(ulaw, 4, b64, sizeof(b64));
	snprintf(text, sizeof(text),
	         "{\"event\":\"media\",\"streamSid\":\"MZ" SID "\",\"media\":{\"payload\":\"%s\"}}",
	         b64);
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_MEDIA);
	ASSERT_EQ(ev.pcm_len, 8); /* µ-law octets became PCM16 samples */
	sb_codec_decode(SB_CODEC_PCMU, ulaw, 4, pcm);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ((int16_t)(ev.pcm[2 * i] | ev.pcm[2 * i + 1] << 8), pcm[i]);
	sb_bot_event_done(&ev);

	strcpy(text, "{\"event\":\"mark\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"my label\"}}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), 0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_MARK && strcmp(ev.name, "my label") == 0);
	sb_bot_event_done(&ev);
	strcpy(text, "{\"event\":\"clear\",\"streamSid\":\"MZ1\"}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_CLEAR);
	strcpy(text, "{\"event\":\"hangup\"}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_HANGUP);
	strcpy(text, "{\"event\":\"transfer\",\"transfer\":{\"to\":\"sip:a@b\"}}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), 0);
	ASSERT_TRUE(ev.type == SB_BOT_EV_TRANSFER && strcmp(ev.to, "sip:a@b") == 0);
	sb_bot_event_done(&ev);

	/* An empty or non-base64 payload, and binary frames, are refused with a reason. */
	strcpy(text, "{\"event\":\"media\",\"media\":{\"payload\":\"\"}}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), -EPROTO);
	strcpy(text, "{\"event\":\"media\",\"media\":{\"payload\":\"@@@@\"}}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), -EPROTO);
	ASSERT_EQ(TW->decode("\x01\x02", 2, true, &ev, &why), -EBADMSG);
	ASSERT_STREQ(why, "binary frame");
	strcpy(text, "{\"event\":\"killAudio\"}");
	ASSERT_EQ(TW->decode(text, strlen(text), false, &ev, &why), -ENOTSUP);
out:
	sb_bot_event_done(&ev);
	return r;
}

TEST(twilio_profile_traits)
{
	int r = 0;

	ASSERT_STREQ(sb_bot_proto_get(SB_PROTO_TWILIO)->name, "twilio");
	ASSERT_EQ(TW->frame_ms, 20);
	ASSERT_TRUE(!TW->binary_media);
	ASSERT_TRUE(TW->accepts & (1u << SB_BOT_EV_MEDIA));
out:
	return r;
}

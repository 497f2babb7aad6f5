/* Unit tests for bot_proto: every encoder's output parsed back with jansson (keys, order,
 * types), buffer bounds, escaping, and the decoder against real bots' frames from
 * tests/unit/data/bot plus hostile input. Thread: the test's main thread. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include <sb/base64.h>
#include <sb/bot_proto.h>

#include "harness.h"

#define EX (&sb_proto_exotel)
/* A call that only has a stream sid, as most messages name only that. */
#define CALL(sid) (&(struct sb_bot_call){.stream_sid = (sid)})

#define DATA "data/bot/"

static const char *sget(json_t *obj, const char *path)
{
	/* "a.b.c": walks objects; NULL unless the leaf is a string. */
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		obj = json_object_get(obj, key);
		path = dot + 1;
	}
	return json_string_value(json_object_get(obj, path));
}

/* 1 when some key anywhere in j has an upper-case letter (camelCase). */
static int has_camel(json_t *j)
{
	const char *k;
	json_t *v;

	if (!json_is_object(j))
		return 0;
	json_object_foreach(j, k, v)
	{
		for (const char *c = k; *c; c++)
			if (isupper((unsigned char)*c))
				return 1;
		if (has_camel(v))
			return 1;
	}
	return 0;
}

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

TEST(bot_connected)
{
	int r = 0;
	char buf[64];

	ASSERT_EQ(EX->connected(buf, sizeof(buf)), strlen("{\"event\":\"connected\"}"));
	ASSERT_STREQ(buf, "{\"event\":\"connected\"}");
	ASSERT_EQ(EX->connected(buf, 21), -ENOSPC);
	ASSERT_EQ(EX->connected(buf, 22), 21);
out:
	return r;
}

static const struct sb_kv params[] = {
        {"X-UUI", "uui-123"},
        {"X-Account-Sid", "AC42"},
        {"X-Campaign", "spring \"sale\" \\ 2024"},
};

static const struct sb_bot_call start = {
        .stream_sid = "0123456789abcdef0123456789abcdef",
        .call_sid = "fedcba9876543210fedcba9876543210",
        .account_sid = "AC42",
        .from = "+919876543210",
        .to = "+918047491899",
        .params = params,
        .n_params = 3,
        .sample_rate = 16000,
};

TEST(bot_start_shape)
{
	int r = 0;
	char buf[2048], k[256];
	json_t *j = NULL, *cp;
	int n = EX->start(buf, sizeof(buf), 1, &start);

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(strlen(buf), n);
	ASSERT_TRUE(strstr(buf, ": ") == NULL && strchr(buf, '\n') == NULL); /* compact */
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(json_is_object(j));
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequence_number,stream_sid,start");
	ASSERT_STREQ(sget(j, "event"), "start");
	ASSERT_STREQ(sget(j, "sequence_number"), "1");
	ASSERT_STREQ(sget(j, "stream_sid"), start.stream_sid);
	ASSERT_STREQ(sget(j, "start.stream_sid"), start.stream_sid);
	ASSERT_STREQ(sget(j, "start.call_sid"), start.call_sid);
	ASSERT_STREQ(sget(j, "start.account_sid"), "AC42");
	ASSERT_STREQ(sget(j, "start.from"), "+919876543210");
	ASSERT_STREQ(sget(j, "start.to"), "+918047491899");
	ASSERT_STREQ(sget(j, "start.media_format.encoding"), "base64");
	ASSERT_STREQ(sget(j, "start.media_format.sample_rate"), "16000");
	ASSERT_STREQ(sget(j, "start.media_format.bit_rate"), "256kbps"); /* 16 bits at 16 kHz */
	cp = json_object_get(json_object_get(j, "start"), "custom_parameters");
	ASSERT_TRUE(json_is_object(cp));
	keys(cp, k, sizeof(k));
	ASSERT_STREQ(k, "X-UUI,X-Account-Sid,X-Campaign");
	ASSERT_STREQ(sget(cp, "X-Campaign"), "spring \"sale\" \\ 2024");
	/* Header names inside custom_parameters keep their case; nothing else may be camelCase. */
	json_object_del(json_object_get(j, "start"), "custom_parameters");
	ASSERT_EQ(has_camel(j), 0);
out:
	json_decref(j);
	return r;
}

TEST(bot_start_hostile_strings_and_empty_params)
{
	int r = 0;
	char buf[2048];
	json_t *j = NULL;
	struct sb_bot_call s = start;
	int n;

	s.from = "\"Bob\" <sip:bob@x>\r\n\x01";
	s.to = "caf\xc3\xa9 \xff\xfe bad utf-8";
	s.account_sid = NULL;
	s.params = NULL;
	s.n_params = 0;
	s.sample_rate = 8000;
	n = EX->start(buf, sizeof(buf), 18446744073709551615ull, &s);
	ASSERT_TRUE(n > 0);
	j = json_loadb(buf, (size_t)n, 0, NULL);
	ASSERT_TRUE(json_is_object(j));
	ASSERT_STREQ(sget(j, "sequence_number"), "18446744073709551615");
	ASSERT_STREQ(sget(j, "start.from"), "\"Bob\" <sip:bob@x>\r\n\x01");
	/* Invalid UTF-8 is replaced, never passed through as broken JSON. */
	ASSERT_STREQ(sget(j, "start.to"), "caf?? ?? bad utf-8");
	ASSERT_STREQ(sget(j, "start.account_sid"), "");
	ASSERT_STREQ(sget(j, "start.media_format.sample_rate"), "8000");
	ASSERT_EQ(
	        json_object_size(json_object_get(json_object_get(j, "start"), "custom_parameters")),
	        0);
out:
	json_decref(j);
	return r;
}

TEST(bot_encoders_nospc_every_size)
{
	int r = 0;
	char full[2048], small[2048];
	int16_t pcm[160];
	int n;

	memset(pcm, 0x11, sizeof(pcm));
	for (int which = 0; which < 5; which++) {
		switch (which) {
		case 0:
			n = EX->start(full, sizeof(full), 1, &start);
			break;
		case 1:
			n = EX->media(full, sizeof(full), 2, CALL("abc"), 1, 0, pcm, 160);
			break;
		case 2:
			n = EX->mark(full, sizeof(full), 3, CALL("abc"), "m1", false);
			break;
		case 3:
			n = EX->dtmf(full, sizeof(full), 5, CALL("abc"), '#', 250);
			break;
		default:
			n = EX->stop(full, sizeof(full), 4,
			             &(struct sb_bot_call){.stream_sid = "abc",
			                                   .call_sid = "c",
			                                   .account_sid = "a"},
			             "callended");
			break;
		}
		ASSERT_TRUE(n > 0);
		for (int size = 0; size <= n + 1; size++) {
			int got;

			memset(small, 'x', sizeof(small));
			switch (which) {
			case 0:
				got = EX->start(small, (size_t)size, 1, &start);
				break;
			case 1:
				got = EX->media(small, (size_t)size, 2, CALL("abc"), 1, 0, pcm,
				                160);
				break;
			case 2:
				got = EX->mark(small, (size_t)size, 3, CALL("abc"), "m1", false);
				break;
			case 3:
				got = EX->dtmf(small, (size_t)size, 5, CALL("abc"), '#', 250);
				break;
			default:
				got = EX->stop(small, (size_t)size, 4,
				               &(struct sb_bot_call){.stream_sid = "abc",
				                                     .call_sid = "c",
				                                     .account_sid = "a"},
				               "callended");
				break;
			}
			if (size <= n && got != -ENOSPC)
				FAIL_AT("encoder %d size %d: %d", which, size, got);
			if (size == n + 1 && (got != n || strcmp(small, full) != 0))
				FAIL_AT("encoder %d exact size: %d", which, got);
			/* Nothing written past the given size. */
			if (small[size] != 'x')
				FAIL_AT("encoder %d wrote past %d", which, size);
		}
	}
out:
	return r;
}

TEST(bot_media_shape_and_payload)
{
	int r = 0;
	int16_t pcm[800];
	size_t max = EX->media_max_len(800);
	char *buf = malloc(max), k[128];
	uint8_t dec[1600];
	json_t *j = NULL;
	const char *b64;
	int n;

	ASSERT_TRUE(buf != NULL);
	for (int i = 0; i < 800; i++)
		pcm[i] = (int16_t)(i * 83 - 32768);
	n = EX->media(buf, max, 7, CALL("0123456789abcdef0123456789abcdef"), 6, 500, pcm, 800);
	ASSERT_TRUE(n > 0 && (size_t)n < max);
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(json_is_object(j));
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequence_number,stream_sid,media");
	keys(json_object_get(j, "media"), k, sizeof(k));
	ASSERT_STREQ(k, "chunk,timestamp,payload");
	ASSERT_STREQ(sget(j, "event"), "media");
	ASSERT_STREQ(sget(j, "sequence_number"), "7");
	ASSERT_STREQ(sget(j, "stream_sid"), "0123456789abcdef0123456789abcdef");
	ASSERT_STREQ(sget(j, "media.chunk"), "6");
	ASSERT_STREQ(sget(j, "media.timestamp"), "500");
	b64 = sget(j, "media.payload");
	ASSERT_TRUE(b64 != NULL);
	ASSERT_EQ(sb_base64_decode(b64, strlen(b64), dec, sizeof(dec)), 1600);
	for (int i = 0; i < 800; i++) {
		uint16_t v = (uint16_t)pcm[i];

		/* Little-endian on the wire. */
		if (dec[2 * i] != (v & 0xff) || dec[2 * i + 1] != (v >> 8))
			FAIL_AT("sample %d", i);
	}
out:
	json_decref(j);
	free(buf);
	return r;
}

TEST(bot_media_max_len_and_sid_escaping)
{
	int r = 0;
	char buf[4096];
	int16_t pcm[160] = {0};
	json_t *j = NULL;
	int n;
	static const char sid_all_x[] =
	        "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"";

	/* The worst case holds the longest numbers and a fully escaped 32-character sid. */
	n = EX->media(buf, EX->media_max_len(160), UINT64_MAX,
	              CALL("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
	                   "\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x01"),
	              UINT64_MAX, UINT64_MAX, pcm, 160);
	ASSERT_TRUE(n > 0);
	n = EX->media(buf, sizeof(buf), 1, CALL(sid_all_x), 1, 0, pcm, 160);
	ASSERT_TRUE(n > 0);
	j = json_loadb(buf, (size_t)n, 0, NULL);
	ASSERT_TRUE(json_is_object(j));
	ASSERT_STREQ(sget(j, "stream_sid"), sid_all_x);
	json_decref(j);
	j = NULL;
	n = EX->media(buf, sizeof(buf), 1, CALL("a\\b\n"), 1, 0, pcm, 2);
	j = json_loadb(buf, (size_t)n, 0, NULL);
	ASSERT_STREQ(sget(j, "stream_sid"), "a\\b\n");
	ASSERT_EQ(EX->media(buf, sizeof(buf), 1, CALL("caf\xc3\xa9"), 1, 0, pcm, 2), -EINVAL);
	/* No samples: an empty payload, still valid JSON. */
	n = EX->media(buf, sizeof(buf), 1, CALL("s"), 1, 0, pcm, 0);
	ASSERT_STREQ(buf, "{\"event\":\"media\",\"sequence_number\":\"1\",\"stream_sid\":\"s\","
	                  "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"\"}}");
out:
	json_decref(j);
	return r;
}

TEST(bot_mark_and_stop_shape)
{
	int r = 0;
	char buf[1024], k[128];
	json_t *j = NULL;
	int n;

	n = EX->mark(buf, sizeof(buf), 15, CALL("sid1"), "turn \"3\" end", false);
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequence_number,stream_sid,mark");
	ASSERT_STREQ(sget(j, "event"), "mark");
	ASSERT_STREQ(sget(j, "sequence_number"), "15");
	ASSERT_STREQ(sget(j, "mark.name"), "turn \"3\" end");
	json_decref(j);

	n = EX->stop(buf, sizeof(buf), 20,
	             &(struct sb_bot_call){
	                     .stream_sid = "sid1", .call_sid = "CA1", .account_sid = "AC1"},
	             "callended");
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequence_number,stream_sid,stop");
	keys(json_object_get(j, "stop"), k, sizeof(k));
	ASSERT_STREQ(k, "call_sid,account_sid,reason");
	ASSERT_STREQ(sget(j, "stop.call_sid"), "CA1");
	ASSERT_STREQ(sget(j, "stop.account_sid"), "AC1");
	ASSERT_STREQ(sget(j, "stop.reason"), "callended");
	ASSERT_EQ(has_camel(j), 0);
out:
	json_decref(j);
	return r;
}

/* ---- decoding ---- */

static int decode_file(const char *name, struct sb_bot_event *ev, const char **why)
{
	char path[256], buf[65536];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), DATA "%s", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "  cannot read %s\n", path);
		return -9999;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return EX->decode(buf, n, false, ev, why);
}

TEST(bot_decode_real_frames)
{
	int r = 0;
	struct sb_bot_event ev = {0};
	static const uint8_t pcm4[] = {0x01, 0x00, 0xff, 0xff, 0x00, 0x01, 0x00, 0x80};
	static const char *const media4[] = {"pipecat_media.json", "exotel_helper_media.json",
	                                     "media_no_sid.json"};

	for (size_t i = 0; i < 3; i++) {
		if (decode_file(media4[i], &ev, NULL) != 0)
			FAIL_AT("%s", media4[i]);
		ASSERT_EQ(ev.type, SB_BOT_EV_MEDIA);
		ASSERT_EQ(ev.pcm_len, sizeof(pcm4));
		ASSERT_MEMEQ(ev.pcm, pcm4, sizeof(pcm4));
		sb_bot_event_done(&ev);
		ASSERT_TRUE(ev.pcm == NULL && ev.pcm_len == 0);
	}
	ASSERT_EQ(decode_file("bolna_media.json", &ev, NULL), 0);
	ASSERT_EQ(ev.pcm_len, 640);
	for (int i = 0; i < 320; i++) {
		uint16_t v = (uint16_t)((i * 97 % 65536) - 32768);

		ASSERT_TRUE(ev.pcm[2 * i] == (v & 0xff) && ev.pcm[2 * i + 1] == (v >> 8));
	}
	sb_bot_event_done(&ev);
	ASSERT_EQ(decode_file("bolna_mark.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_MARK);
	ASSERT_STREQ(ev.name, "8f14e45f-ceea-467f-a0e6-8c1f2e5f7d21");
	sb_bot_event_done(&ev);
out:
	sb_bot_event_done(&ev);
	return r;
}

TEST(bot_decode_control_events)
{
	int r = 0;
	struct sb_bot_event ev = {0};
	const char *why = NULL;

	ASSERT_EQ(decode_file("clear.json", &ev, &why), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_CLEAR);
	ASSERT_TRUE(why == NULL);
	ASSERT_EQ(decode_file("clear_streamsid.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_CLEAR);
	ASSERT_EQ(decode_file("hangup_type.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_HANGUP);
	ASSERT_EQ(decode_file("hangup_event.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_HANGUP);
	ASSERT_EQ(decode_file("transfer.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_TRANSFER);
	ASSERT_STREQ(ev.to, "sip:agent@10.0.0.5:5060");
	ASSERT_EQ(ev.n_headers, 1);
	ASSERT_STREQ(ev.headers[0].name, "X-UUI");
	ASSERT_STREQ(ev.headers[0].value, "abc");
	sb_bot_event_done(&ev);
	ASSERT_TRUE(ev.headers == NULL && ev.n_headers == 0);
	ASSERT_EQ(decode_file("transfer_no_to.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_TRANSFER);
	ASSERT_TRUE(ev.to == NULL);
	ASSERT_TRUE(ev.headers == NULL && ev.n_headers == 0);
	ASSERT_EQ(decode_file("dtmf.json", &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_DTMF);
	ASSERT_EQ(ev.digit, '#');
	ASSERT_EQ(ev.duration_ms, 100);
	/* "event" wins over "type". */
	ASSERT_EQ(EX->decode("{\"event\":\"clear\",\"type\":\"hangup\"}", 33, false, &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_CLEAR);
out:
	sb_bot_event_done(&ev);
	return r;
}

static const struct {
	const char *file;
	int err;
} bad_files[] = {
        {"bad_not_json.txt", -EBADMSG},         {"bad_array.json", -EBADMSG},
        {"bad_no_event.json", -EBADMSG},        {"bad_event_number.json", -EBADMSG},
        {"bad_unknown_event.json", -ENOTSUP},   {"bad_media_odd.json", -EPROTO},
        {"bad_media_empty.json", -EPROTO},      {"bad_media_not_b64.json", -EPROTO},
        {"bad_media_no_payload.json", -EPROTO}, {"bad_media_payload_number.json", -EPROTO},
        {"bad_mark_no_name.json", -EPROTO},     {"bad_mark_empty_name.json", -EPROTO},
        {"bad_mark_name_number.json", -EPROTO}, {"bad_dtmf_two_digits.json", -EPROTO},
        {"bad_dtmf_letter.json", -EPROTO},      {"bad_transfer_to_number.json", -EPROTO},
};

TEST(bot_decode_bad_frames)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		struct sb_bot_event ev;
		const char *why = NULL;
		int ret;

		memset(&ev, 0x5a, sizeof(ev));
		ret = decode_file(bad_files[i].file, &ev, &why);
		if (ret != bad_files[i].err)
			FAIL_AT("%s: %d, want %d", bad_files[i].file, ret, bad_files[i].err);
		if (!why || !why[0])
			FAIL_AT("%s: no reason", bad_files[i].file);
		/* Nothing held after an error: done() is safe and nothing leaks. */
		if (ev.pcm || ev.name || ev.to || ev.headers || ev.n_headers)
			FAIL_AT("%s: event not cleared", bad_files[i].file);
	}
out:
	return r;
}

TEST(bot_decode_mark_name_limit)
{
	int r = 0;
	char name[SB_BOT_MARK_NAME_MAX + 2], msg[SB_BOT_MARK_NAME_MAX + 64];
	struct sb_bot_event ev = {0};
	int n;

	memset(name, 'n', sizeof(name));
	name[SB_BOT_MARK_NAME_MAX] = '\0';
	n = snprintf(msg, sizeof(msg), "{\"event\":\"mark\",\"mark\":{\"name\":\"%s\"}}", name);
	ASSERT_EQ(EX->decode(msg, (size_t)n, false, &ev, NULL), 0);
	ASSERT_EQ(strlen(ev.name), SB_BOT_MARK_NAME_MAX);
	sb_bot_event_done(&ev);
	name[SB_BOT_MARK_NAME_MAX] = 'n';
	name[SB_BOT_MARK_NAME_MAX + 1] = '\0';
	n = snprintf(msg, sizeof(msg), "{\"event\":\"mark\",\"mark\":{\"name\":\"%s\"}}", name);
	ASSERT_EQ(EX->decode(msg, (size_t)n, false, &ev, NULL), -EPROTO);
	/* The limit is in bytes: 129 two-byte characters are 258 bytes. */
	n = snprintf(msg, sizeof(msg), "{\"event\":\"mark\",\"mark\":{\"name\":\"");
	for (int i = 0; i < 129; i++)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "\xc3\xa9");
	n += snprintf(msg + n, sizeof(msg) - (size_t)n, "\"}}");
	ASSERT_EQ(EX->decode(msg, (size_t)n, false, &ev, NULL), -EPROTO);
out:
	sb_bot_event_done(&ev);
	return r;
}

TEST(bot_decode_hostile_input)
{
	int r = 0;
	struct sb_bot_event ev = {0};
	size_t depth = 100000;
	char *deep = malloc(2 * depth + 64);
	static const char nul[] = "{\"event\":\"clear\"}\0garbage";
	static const char nul_in_string[] = "{\"event\":\"cl\\u0000ear\"}";
	static const char big[] =
	        "{\"event\":\"clear\",\"n\":1e999999,\"m\":123456789012345678901234}";
	static const char dtmf_num[] = "{\"event\":\"dtmf\",\"dtmf\":{\"digit\":5}}";

	ASSERT_TRUE(deep != NULL);
	for (size_t i = 0; i < depth; i++)
		deep[i] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[depth + i] = ']';
	ASSERT_EQ(EX->decode(deep, 2 * depth, false, &ev, NULL), -EBADMSG);
	/* The text is exactly len bytes: an embedded NUL is part of it, not its end. */
	ASSERT_EQ(EX->decode(nul, sizeof(nul) - 1, false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode(nul, strlen(nul), false, &ev, NULL), 0);
	ASSERT_EQ(EX->decode(nul_in_string, strlen(nul_in_string), false, &ev, NULL), -EBADMSG);
	/* Numbers jansson cannot hold (even in fields the bridge ignores) make the text invalid
	 * JSON to it: refused whole, never half-read. */
	ASSERT_EQ(EX->decode(big, strlen(big), false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode(dtmf_num, strlen(dtmf_num), false, &ev, NULL), -EPROTO);
	ASSERT_EQ(EX->decode("", 0, false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode(NULL, 0, false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode("null", 4, false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode("\"media\"", 7, false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode("{\"event\":null}", 14, false, &ev, NULL), -EBADMSG);
	ASSERT_EQ(EX->decode("{\"event\":\"media\",\"media\":[]}", 28, false, &ev, NULL), -EPROTO);
out:
	free(deep);
	sb_bot_event_done(&ev);
	return r;
}

TEST(bot_decode_every_prefix)
{
	int r = 0;
	struct sb_bot_event ev = {0};
	char full[4096];
	int16_t pcm[160];
	int n;

	for (int i = 0; i < 160; i++)
		pcm[i] = (int16_t)(i * 100);
	n = EX->media(full, sizeof(full), 1, CALL("s"), 1, 0, pcm, 160);
	ASSERT_TRUE(n > 0);
	for (int k = 0; k < n; k++) {
		char *copy = malloc((size_t)k + 1);
		int ret;

		ASSERT_TRUE(copy != NULL);
		memcpy(copy, full, (size_t)k);
		ret = EX->decode(copy, (size_t)k, false, &ev, NULL);
		free(copy);
		if (ret != -EBADMSG)
			FAIL_AT("prefix %d: %d", k, ret);
	}
out:
	sb_bot_event_done(&ev);
	return r;
}

TEST(bot_round_trip_media_and_mark)
{
	int r = 0;
	struct sb_bot_event ev = {0};
	char buf[8192];
	int16_t pcm[1600];
	int n;

	for (int i = 0; i < 1600; i++)
		pcm[i] = (int16_t)(i * 41 - 30000);
	n = EX->media(buf, sizeof(buf), 3, CALL("s"), 2, 200, pcm, 1600);
	ASSERT_TRUE(n > 0);
	/* The bridge's own media message is a valid bot media message too. */
	ASSERT_EQ(EX->decode(buf, (size_t)n, false, &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_MEDIA);
	ASSERT_EQ(ev.pcm_len, sizeof(pcm));
	for (int i = 0; i < 1600; i++)
		ASSERT_EQ((int16_t)(uint16_t)(ev.pcm[2 * i] | ev.pcm[2 * i + 1] << 8), pcm[i]);
	sb_bot_event_done(&ev);
	n = EX->mark(buf, sizeof(buf), 4, CALL("s"), "name with \"quotes\" and \xc3\xa9", false);
	ASSERT_EQ(EX->decode(buf, (size_t)n, false, &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_MARK);
	ASSERT_STREQ(ev.name, "name with \"quotes\" and \xc3\xa9");
out:
	sb_bot_event_done(&ev);
	return r;
}

/* ---- dtmf ---- */

TEST(bot_dtmf_shape)
{
	static const char want[] = "{\"event\":\"dtmf\",\"sequence_number\":\"12\",\"stream_sid\":"
	                           "\"sid1\",\"dtmf\":{\"digit\":\"5\",\"duration\":\"100\"}}";
	static const char digits[] = "0123456789*#ABCD";
	struct sb_bot_event ev = {0};
	char buf[256], k[128];
	json_t *j = NULL;
	int n, r = 0;

	n = EX->dtmf(buf, sizeof(buf), 12, CALL("sid1"), '5', 100);
	ASSERT_EQ(n, strlen(want));
	ASSERT_STREQ(buf, want);
	n = EX->dtmf(buf, sizeof(buf), UINT64_MAX, CALL("s\""), '#', 60000);
	j = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	ASSERT_TRUE(json_is_object(j));
	keys(j, k, sizeof(k));
	ASSERT_STREQ(k, "event,sequence_number,stream_sid,dtmf");
	keys(json_object_get(j, "dtmf"), k, sizeof(k));
	ASSERT_STREQ(k, "digit,duration");
	ASSERT_STREQ(sget(j, "sequence_number"), "18446744073709551615");
	ASSERT_STREQ(sget(j, "stream_sid"), "s\"");
	ASSERT_STREQ(sget(j, "dtmf.digit"), "#");
	ASSERT_STREQ(sget(j, "dtmf.duration"), "60000");
	ASSERT_EQ(has_camel(j), 0);
	/* Every digit, and what the bridge sends is what a bot may send back. */
	for (const char *d = digits; *d; d++) {
		n = EX->dtmf(buf, sizeof(buf), 1, CALL("s"), *d, 80);
		ASSERT_TRUE(n > 0);
		ASSERT_EQ(EX->decode(buf, (size_t)n, false, &ev, NULL), 0);
		ASSERT_EQ(ev.type, SB_BOT_EV_DTMF);
		ASSERT_EQ(ev.digit, *d);
		ASSERT_EQ(ev.duration_ms, 80);
		sb_bot_event_done(&ev);
	}
	ASSERT_EQ(EX->dtmf(buf, sizeof(buf), 1, CALL("s"), 'x', 80), -EINVAL);
	ASSERT_EQ(EX->dtmf(buf, sizeof(buf), 1, CALL("s"), 'a', 80), -EINVAL);
	ASSERT_EQ(EX->dtmf(buf, sizeof(buf), 1, CALL("s"), '\0', 80), -EINVAL);
	ASSERT_EQ(EX->dtmf(buf, sizeof(buf), 1, CALL("s"), '"', 80), -EINVAL);
out:
	json_decref(j);
	sb_bot_event_done(&ev);
	return r;
}

static int decode_str(const char *text, struct sb_bot_event *ev, const char **why)
{
	return EX->decode(text, strlen(text), false, ev, why);
}

TEST(bot_decode_dtmf_duration)
{
	static const struct {
		const char *dtmf;
		int err;
		char digit;
		unsigned ms;
	} cases[] = {
	        {"{\"digit\":\"5\"}", 0, '5', 0},
	        {"{\"digit\":\"5\",\"duration\":null}", 0, '5', 0},
	        {"{\"digit\":\"A\",\"duration\":100}", 0, 'A', 100},
	        {"{\"digit\":\"D\",\"duration\":\"100\"}", 0, 'D', 100},
	        {"{\"digit\":\"*\",\"duration\":0}", 0, '*', 0},
	        {"{\"digit\":\"#\",\"duration\":\"0\"}", 0, '#', 0},
	        {"{\"digit\":\"1\",\"duration\":60000}", 0, '1', 60000},
	        {"{\"digit\":\"1\",\"duration\":\"60000\"}", 0, '1', 60000},
	        {"{\"digit\":\"1\",\"duration\":\"00250\"}", 0, '1', 250},
	        {"{\"digit\":\"1\",\"duration\":60001}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"60001\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"99999\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"100000\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":-1}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"-1\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":100.5}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":100.0}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"1.5\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\" 100\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":\"100ms\"}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":true}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":[100]}", -EPROTO, 0, 0},
	        {"{\"digit\":\"1\",\"duration\":{}}", -EPROTO, 0, 0},
	        /* past jansson's integers: not JSON it accepts */
	        {"{\"digit\":\"1\",\"duration\":18446744073709551616}", -EBADMSG, 0, 0},
	        {"{\"digit\":\"a\",\"duration\":100}", -EPROTO, 0, 0},
	        {"{\"digit\":\"\\u0000\"}", -EBADMSG, 0, 0},
	};
	char msg[256];
	int r = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sb_bot_event ev;
		const char *why = NULL;
		int ret;

		memset(&ev, 0x5a, sizeof(ev));
		snprintf(msg, sizeof(msg), "{\"event\":\"dtmf\",\"dtmf\":%s}", cases[i].dtmf);
		ret = decode_str(msg, &ev, &why);
		if (ret != cases[i].err)
			FAIL_AT("%s: %d, want %d", cases[i].dtmf, ret, cases[i].err);
		if (ret == 0 && (ev.digit != cases[i].digit || ev.duration_ms != cases[i].ms))
			FAIL_AT("%s: '%c' %u", cases[i].dtmf, ev.digit, ev.duration_ms);
		if (ret < 0 && (!why || !why[0]))
			FAIL_AT("%s: no reason", cases[i].dtmf);
		sb_bot_event_done(&ev);
	}
out:
	return r;
}

/* ---- transfer headers ---- */

TEST(bot_decode_transfer_headers)
{
	static const char two[] = "{\"event\":\"transfer\",\"transfer\":{\"to\":\"sip:a@b\","
	                          "\"headers\":{\"X-UUI\":\"uui 1\",\"User-to-User\":\"04fa;"
	                          "encoding=hex\",\"X-Empty\":\"\"}}}";
	struct sb_bot_event ev = {0};
	char msg[2048], name[80], value[300];
	int n, r = 0;

	ASSERT_EQ(decode_str(two, &ev, NULL), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_TRANSFER);
	ASSERT_STREQ(ev.to, "sip:a@b");
	ASSERT_EQ(ev.n_headers, 3);
	/* In the bot's order. */
	ASSERT_STREQ(ev.headers[0].name, "X-UUI");
	ASSERT_STREQ(ev.headers[0].value, "uui 1");
	ASSERT_STREQ(ev.headers[1].name, "User-to-User");
	ASSERT_STREQ(ev.headers[1].value, "04fa;encoding=hex");
	ASSERT_STREQ(ev.headers[2].name, "X-Empty");
	ASSERT_STREQ(ev.headers[2].value, "");
	sb_bot_event_done(&ev);
	ASSERT_TRUE(ev.headers == NULL && ev.n_headers == 0 && ev.to == NULL);

	/* Headers without a target, an empty object, null. */
	ASSERT_EQ(decode_str("{\"event\":\"transfer\",\"transfer\":{\"headers\":{\"X-A\":\"1\"}}}",
	                     &ev, NULL),
	          0);
	ASSERT_TRUE(ev.to == NULL && ev.n_headers == 1);
	sb_bot_event_done(&ev);
	ASSERT_EQ(decode_str("{\"event\":\"transfer\",\"transfer\":{\"to\":\"x\",\"headers\":{}}}",
	                     &ev, NULL),
	          0);
	ASSERT_TRUE(ev.headers == NULL && ev.n_headers == 0);
	sb_bot_event_done(&ev);
	ASSERT_EQ(decode_str("{\"event\":\"transfer\",\"transfer\":{\"headers\":null}}", &ev, NULL),
	          0);
	ASSERT_TRUE(ev.headers == NULL && ev.n_headers == 0);
	sb_bot_event_done(&ev);

	/* The limits themselves: 8 entries, a 64-character name, a 256-byte value. */
	n = snprintf(msg, sizeof(msg), "{\"event\":\"transfer\",\"transfer\":{\"headers\":{");
	for (int i = 0; i < 8; i++)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s\"X-H%d\":\"v%d\"", i ? "," : "",
		              i, i);
	snprintf(msg + n, sizeof(msg) - (size_t)n, "}}}");
	ASSERT_EQ(decode_str(msg, &ev, NULL), 0);
	ASSERT_EQ(ev.n_headers, 8);
	ASSERT_STREQ(ev.headers[7].name, "X-H7");
	ASSERT_STREQ(ev.headers[7].value, "v7");
	sb_bot_event_done(&ev);
	memset(name, 'N', 64);
	name[64] = '\0';
	memset(value, 'v', 256);
	value[256] = '\0';
	snprintf(msg, sizeof(msg),
	         "{\"event\":\"transfer\",\"transfer\":{\"headers\":{\"%s\":\"%s\"}}}", name,
	         value);
	ASSERT_EQ(decode_str(msg, &ev, NULL), 0);
	ASSERT_EQ(strlen(ev.headers[0].name), 64);
	ASSERT_EQ(strlen(ev.headers[0].value), 256);
out:
	sb_bot_event_done(&ev);
	return r;
}

TEST(bot_decode_transfer_target_bound)
{
	char msg[600], to[300];
	int r = 0;

	/* 256 bytes is the longest target; one more is a bad message, with nothing held. */
	for (size_t len = 255; len <= 257; len++) {
		struct sb_bot_event ev;
		const char *why = NULL;
		int ret;

		memset(to, 'a', sizeof(to));
		memcpy(to, "sip:", 4);
		memcpy(to + len - 2, "@h", 2);
		to[len] = '\0';
		snprintf(msg, sizeof(msg), "{\"event\":\"transfer\",\"transfer\":{\"to\":\"%s\"}}",
		         to);
		memset(&ev, 0x5a, sizeof(ev));
		ret = decode_str(msg, &ev, &why);
		if (len <= 256) {
			ASSERT_EQ(ret, 0);
			ASSERT_STREQ(ev.to, to);
			sb_bot_event_done(&ev);
		} else {
			ASSERT_EQ(ret, -EPROTO);
			ASSERT_TRUE(why && strstr(why, "longer than 256"));
			ASSERT_TRUE(!ev.to && !ev.headers && !ev.n_headers);
		}
	}
out:
	return r;
}

TEST(bot_decode_transfer_headers_bad)
{
	static const char *const bad[] = {
	        "[]",
	        "\"X-A: 1\"",
	        "1",
	        "{\"X-A\":1}",
	        "{\"X-A\":null}",
	        "{\"X-A\":[\"1\"]}",
	        "{\"X-A\":{\"b\":\"1\"}}",
	        "{\"\":\"1\"}",
	        "{\"X A\":\"1\"}",
	        "{\"X-A:\":\"1\"}",
	        "{\"X_A\":\"1\"}",
	        "{\"X-\\u00e9\":\"1\"}",
	        "{\"X-A\\r\\nVia\":\"1\"}",
	        "{\"X-A\":\"1\\r\\nVia: x\"}",
	        "{\"X-A\":\"1\\nVia: x\"}",
	        "{\"X-A\":\"1\\r\"}",
	        "{\"X-A\":\"1\\u0000\"}",
	        /* the first entries are good and already copied when a later one fails */
	        "{\"X-A\":\"1\",\"X-B\":\"2\",\"bad name\":\"3\"}",
	        "{\"X-A\":\"1\",\"X-B\":\"2\",\"X-C\":3}",
	        "{\"X-1\":\"1\",\"X-2\":\"2\",\"X-3\":\"3\",\"X-4\":\"4\",\"X-5\":\"5\",\"X-6\":"
	        "\"6\","
	        "\"X-7\":\"7\",\"X-8\":\"8\",\"X-9\":\"9\"}",
	};
	char msg[1024], name[80], value[300];
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 3; i++) {
		struct sb_bot_event ev;
		const char *why = NULL;
		int ret;

		if (i < sizeof(bad) / sizeof(bad[0])) {
			snprintf(msg, sizeof(msg),
			         "{\"event\":\"transfer\",\"transfer\":{\"to\":\"sip:x@y\","
			         "\"headers\":%s}}",
			         bad[i]);
		} else {
			/* One over each size limit: name 65, value 257 bytes, 129 two-byte
			 * characters. */
			size_t k = i - sizeof(bad) / sizeof(bad[0]);

			memset(name, 'N', 65);
			name[k == 0 ? 65 : 4] = '\0';
			memset(value, 'v', 257);
			value[k == 1 ? 257 : 4] = '\0';
			if (k == 2) {
				value[0] = '\0';
				for (int c = 0; c < 129; c++)
					strcat(value, "\xc3\xa9");
			}
			snprintf(msg, sizeof(msg),
			         "{\"event\":\"transfer\",\"transfer\":{\"headers\":{\"%s\":\"%s\"}"
			         "}}",
			         name, value);
		}
		memset(&ev, 0x5a, sizeof(ev));
		ret = decode_str(msg, &ev, &why);
		/* jansson itself refuses a NUL inside a string. */
		if (ret != -EPROTO && !(ret == -EBADMSG && strstr(msg, "u0000")))
			FAIL_AT("%s: %d", msg, ret);
		if (!why || !why[0])
			FAIL_AT("%s: no reason", msg);
		/* Nothing held after an error (ASan reports a leak otherwise). */
		if (ev.to || ev.headers || ev.n_headers)
			FAIL_AT("%s: event not cleared", msg);
	}
out:
	return r;
}

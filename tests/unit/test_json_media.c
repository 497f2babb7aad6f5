/* Unit tests for json_media: the scanner recognises real Exotel and Twilio bot media messages
 * (any key order, JSON whitespace, numbers as bots write them) and the bridge's own, finds
 * exactly the payload, and refuses what it cannot be sure of (escapes, duplicated or unknown
 * keys, other shapes, truncation, trailing bytes). For every message here, and for the bot
 * frames of tests/unit/data/bot, the profiles' decode (fast path first) gives what their
 * jansson-only decode_json gives: result, reason, event and bytes.
 * Thread: the test's main thread. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#include <sb/bot_proto.h>
#include <sb/common.h>
#include <sb/json_media.h>

#include "harness.h"

#define EX (&sb_proto_exotel)
#define TW (&sb_proto_twilio)
#define DATA "data/bot/"

/* Eight bytes of PCM16 (1, -1, 256, -32768) and their base64. */
#define PCM4_B64 "AQD//wABAIA="
static const uint8_t pcm4[] = {0x01, 0x00, 0xff, 0xff, 0x00, 0x01, 0x00, 0x80};

/* Media messages the scanner must take, with the payload it must find. */
static const struct {
	const char *text, *payload;
} good[] = {
        /* Exotel's documented bot → Exotel media (bot-protocols.md §1.5). */
        {"{\n  \"event\": \"media\",\n  \"stream_sid\": \"MZxxxxxxxxxxxxxxxxxxxxxxxx\",\n"
         "  \"media\": { \"payload\": \"" PCM4_B64 "\" }\n}\n",
         PCM4_B64},
        /* Pipecat ≤ v1.7.0 and Exotel's sample bots: streamSid. */
        {"{\"event\":\"media\",\"streamSid\":\"MZ0123456789abcdef\",\"media\":{\"payload\":"
         "\"" PCM4_B64 "\"}}",
         PCM4_B64},
        /* Bolna: stream_sid. */
        {"{\"event\": \"media\", \"stream_sid\": \"MZ0123\", \"media\": {\"payload\": \"AAAA\"}}",
         "AAAA"},
        /* Exotel Agent-Stream's Python helper: chunk, timestamp, sequenceNumber under media. */
        {"{\"event\": \"media\", \"streamSid\": \"abc\", \"media\": {\"payload\": \"" PCM4_B64
         "\", \"chunk\": \"3\", \"timestamp\": \"300\", \"sequenceNumber\": \"4\"}, "
         "\"sequence_number\": \"4\"}",
         PCM4_B64},
        /* Exotel's Node framework: sequence_number first, media fields before the payload. */
        {"{\"event\":\"media\",\"sequence_number\":\"12\",\"stream_sid\":\"MZ1\",\"media\":{"
         "\"chunk\":\"11\",\"timestamp\":\"1733139450123\",\"payload\":\"" PCM4_B64 "\"}}",
         PCM4_B64},
        /* The applet page writes numbers as numbers. */
        {"{\"event\":\"media\",\"sequence_number\":3,\"stream_sid\":\"MZ1\",\"media\":{\"chunk\":2,"
         "\"timestamp\":\"10\",\"payload\":\"" PCM4_B64 "\"}}",
         PCM4_B64},
        /* Twilio's documented server → Twilio media. */
        {"{ \"event\": \"media\", \"streamSid\": \"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\", \"media\": "
         "{ "
         "\"payload\": \"a3242sa=\" } }",
         "a3242sa="},
        /* Twilio's own media shape (track, chunk, timestamp; streamSid last), as echo bots
         * send it back. */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"media\":{\"track\":\"outbound\","
         "\"chunk\":"
         "\"1\",\"timestamp\":\"5\",\"payload\":\"no+JhoaJjpz/\"},\"streamSid\":\"MZXX\"}",
         "no+JhoaJjpz/"},
        /* media first, event last; every kind of JSON whitespace; no sid at all. */
        {"\r\n\t {\t\"media\"\n:\r{\"payload\"  :  \"" PCM4_B64
         "\"\n}\t,\n\"event\"\r:\"media\"}\t\r\n ",
         PCM4_B64},
        /* Integers: zero, negative zero, negative, 18 digits. */
        {"{\"event\":\"media\",\"sequenceNumber\":0,\"sequence_number\":-0,\"media\":{\"chunk\":-7,"
         "\"timestamp\":999999999999999999,\"payload\":\"\"}}",
         ""},
        /* Payloads that are not valid base64 are still found as they are: the decoder refuses
         * them exactly as it would refuse them from jansson. */
        {"{\"event\":\"media\",\"media\":{\"payload\":\"A=AA\"}}", "A=AA"},
        {"{\"event\":\"media\",\"media\":{\"payload\":\"AQD\"}}", "AQD"},
        {"{\"event\":\"media\",\"media\":{\"payload\":\"AAA=\"}}", "AAA="},
        /* A sid with every plain printable character. */
        {"{\"event\":\"media\",\"stream_sid\":\" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~\x7f\","
         "\"media\":{\"payload\":\"AAAA\"}}",
         "AAAA"},
};

/* Texts the scanner must leave to jansson, each for a reason it cannot be sure of. */
static const char *const unsure[] = {
        /* escapes: in the payload, in a sid, in a key, in the event name */
        "{\"event\":\"media\",\"media\":{\"payload\":\"AQD\\/\\/wABAIA=\"}}",
        "{\"event\":\"media\",\"streamSid\":\"MZ\\u0041\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"pay\\u006coad\":\"AAAA\"}}",
        "{\"event\":\"medi\\u0061\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AA\\\"AA\"}}",
        /* duplicated keys: jansson keeps the last one */
        "{\"event\":\"media\",\"event\":\"mark\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"payload\":\"BBBB\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},\"media\":{\"payload\":\"BBBB\"}}",
        "{\"event\":\"media\",\"streamSid\":\"a\",\"streamSid\":\"b\",\"media\":{\"payload\":"
        "\"AAAA\"}}",
        /* keys the usual shape does not have */
        "{\"event\":\"media\",\"type\":\"media\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"type\":\"media\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"extra\":\"x\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"name\":\"x\"}}",
        "{\"event\":\"media\",\"Media\":{\"payload\":\"AAAA\"}}",
        /* other events, other shapes */
        "{\"event\":\"mark\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"mark\",\"mark\":{\"name\":\"x\"}}",
        "{\"event\":\"clear\"}",
        "{\"event\":\"Media\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\"}",
        "{\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{}}",
        "{\"event\":\"media\",\"media\":{\"chunk\":\"1\"}}",
        "{\"event\":\"media\",\"media\":null}",
        "{\"event\":\"media\",\"media\":[\"AAAA\"]}",
        "{\"event\":\"media\",\"media\":\"AAAA\"}",
        "{\"event\":\"media\",\"media\":{\"payload\":1234}}",
        "{\"event\":\"media\",\"media\":{\"payload\":null}}",
        "{\"event\":1,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"streamSid\":null,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"streamSid\":true,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"streamSid\":{},\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"track\":[]}}",
        "[{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}]",
        "{}",
        "",
        /* numbers jansson reads differently or refuses */
        "{\"event\":\"media\",\"sequenceNumber\":1.5,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"sequenceNumber\":1e3,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"sequenceNumber\":01,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"sequenceNumber\":-,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"sequenceNumber\":+1,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"sequenceNumber\":9999999999999999999,\"media\":{\"payload\":"
        "\"AAAA\"}}",
        "{\"event\":\"media\",\"sequenceNumber\":1234567890123456789,\"media\":{\"payload\":"
        "\"AAAA\"}}",
        /* bytes that are not plain printable ASCII inside strings */
        "{\"event\":\"media\",\"streamSid\":\"caf\xc3\xa9\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"streamSid\":\"a\tb\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AA AA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\n\"}}",
        /* broken JSON */
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}} x",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},}",
        "{\"event\":\"media\",,\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\" \"media\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\" \"media\":{\"payload\":\"AAAA\"}}",
        "{'event':'media','media':{'payload':'AAAA'}}",
        "{event:\"media\",\"media\":{\"payload\":\"AAAA\"}}",
        "\xef\xbb\xbf{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}",
        "\v{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}",
        "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}\f",
};

/* Both decoders of profile p on text: same result, same reason, same event. */
static int same_decode(const struct sb_bot_proto *p, const char *text, size_t len)
{
	struct sb_bot_event a, b;
	const char *why_a = NULL, *why_b = NULL;
	int ra = p->decode(text, len, false, &a, &why_a);
	int rb = p->decode_json(text, len, false, &b, &why_b);
	int same = ra == rb;

	if (same && ra < 0)
		same = why_a && why_b && strcmp(why_a, why_b) == 0;
	if (same && ra == 0)
		same = a.type == b.type && a.pcm_len == b.pcm_len &&
		       (a.pcm_len == 0 || memcmp(a.pcm, b.pcm, a.pcm_len) == 0) &&
		       !a.name == !b.name && (!a.name || strcmp(a.name, b.name) == 0) &&
		       a.digit == b.digit && a.duration_ms == b.duration_ms && !a.to == !b.to &&
		       (!a.to || strcmp(a.to, b.to) == 0) && a.n_headers == b.n_headers;
	if (!same)
		fprintf(stderr, "  %s: decode %d (%s), decode_json %d (%s) on %.*s\n", p->name, ra,
		        why_a ? why_a : "-", rb, why_b ? why_b : "-", (int)(len > 200 ? 200 : len),
		        text);
	sb_bot_event_done(&a);
	sb_bot_event_done(&b);
	return same;
}

static int same_both(const char *text, size_t len)
{
	return same_decode(EX, text, len) && same_decode(TW, text, len);
}

TEST(json_media_recognises_real_messages)
{
	struct sb_json_media m;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		const char *t = good[i].text;

		if (!sb_json_media_scan(t, strlen(t), &m))
			FAIL_AT("not recognised: %s", t);
		if (m.payload_len != strlen(good[i].payload) ||
		    memcmp(m.payload, good[i].payload, m.payload_len) != 0)
			FAIL_AT("payload %.*s instead of %s", (int)m.payload_len, m.payload,
			        good[i].payload);
		/* The span lies inside the text. */
		ASSERT_TRUE(m.payload >= t && m.payload + m.payload_len <= t + strlen(t));
		ASSERT_TRUE(same_both(t, strlen(t)));
	}
out:
	return r;
}

TEST(json_media_refuses_what_it_is_not_sure_of)
{
	struct sb_json_media m;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(unsure); i++) {
		const char *t = unsure[i];

		if (sb_json_media_scan(t, strlen(t), &m))
			FAIL_AT("recognised: %s", t);
		ASSERT_TRUE(same_both(t, strlen(t)));
	}
	/* No text at all. */
	ASSERT_TRUE(!sb_json_media_scan(NULL, 0, &m));
out:
	return r;
}

/* Every proper prefix of a message is refused, and so is the message with a NUL or any other
 * byte after it; the length bounds the scan (a NUL inside the buffer is not an end). */
TEST(json_media_bounded_by_length)
{
	static const char msg[] =
	        "{\"event\":\"media\",\"sequence_number\":12,\"stream_sid\":\"MZ1\","
	        "\"media\":{\"chunk\":\"1\",\"payload\":\"" PCM4_B64 "\"}}";
	char buf[sizeof(msg) + 1];
	struct sb_json_media m;
	int r = 0;

	for (size_t n = 0; n < sizeof(msg) - 1; n++) {
		char *cut = malloc(n ? n : 1); /* exactly n bytes, so ASan sees an overread */

		ASSERT_TRUE(cut != NULL);
		memcpy(cut, msg, n);
		if (sb_json_media_scan(cut, n, &m)) {
			free(cut);
			FAIL_AT("prefix of %zu bytes recognised", n);
		}
		if (!same_both(cut, n)) {
			free(cut);
			FAIL_AT("prefix of %zu bytes decoded differently", n);
		}
		free(cut);
	}
	ASSERT_TRUE(sb_json_media_scan(msg, sizeof(msg) - 1, &m));
	memcpy(buf, msg, sizeof(msg));
	ASSERT_TRUE(!sb_json_media_scan(buf, sizeof(msg), &m)); /* the NUL counted in */
	ASSERT_TRUE(same_both(buf, sizeof(msg)));
	buf[sizeof(msg) - 1] = '}';
	ASSERT_TRUE(!sb_json_media_scan(buf, sizeof(msg), &m));
	/* A NUL inside the payload. */
	memcpy(buf, msg, sizeof(msg));
	*strstr(buf, PCM4_B64) = '\0';
	ASSERT_TRUE(!sb_json_media_scan(buf, sizeof(msg) - 1, &m));
	ASSERT_TRUE(same_both(buf, sizeof(msg) - 1));
out:
	return r;
}

/* What the fast path decodes, and how it fails, per profile. */
TEST(json_media_decode_results)
{
	static const char odd[] = "{\"event\":\"media\",\"media\":{\"payload\":\"AQID\"}}";
	static const char bad[] = "{\"event\":\"media\",\"media\":{\"payload\":\"A=AA\"}}";
	static const char empty[] = "{\"event\":\"media\",\"media\":{\"payload\":\"\"}}";
	const char *t = good[1].text, *why = NULL;
	struct sb_bot_event ev = {0};
	int r = 0;

	ASSERT_EQ(EX->decode(t, strlen(t), false, &ev, &why), 0);
	ASSERT_EQ(ev.type, SB_BOT_EV_MEDIA);
	ASSERT_EQ(ev.pcm_len, sizeof(pcm4));
	ASSERT_MEMEQ(ev.pcm, pcm4, sizeof(pcm4));
	sb_bot_event_done(&ev);
	/* Twilio: the same 8 octets are µ-law, expanded to 8 little-endian samples. */
	ASSERT_EQ(TW->decode(t, strlen(t), false, &ev, &why), 0);
	ASSERT_EQ(ev.pcm_len, 16);
	ASSERT_EQ((int16_t)(ev.pcm[2] | ev.pcm[3] << 8), -32124); /* octet 0x00 */
	ASSERT_EQ((int16_t)(ev.pcm[4] | ev.pcm[5] << 8), 0);      /* octet 0xFF */
	sb_bot_event_done(&ev);

	ASSERT_EQ(EX->decode(odd, strlen(odd), false, &ev, &why), -EPROTO);
	ASSERT_STREQ(why, "media payload has an odd byte count");
	ASSERT_EQ(TW->decode(odd, strlen(odd), false, &ev, &why), 0); /* µ-law: any count */
	ASSERT_EQ(ev.pcm_len, 6);
	sb_bot_event_done(&ev);
	for (size_t i = 0; i < 2; i++) {
		const struct sb_bot_proto *p = i ? TW : EX;

		ASSERT_EQ(p->decode(bad, strlen(bad), false, &ev, &why), -EPROTO);
		ASSERT_STREQ(why, "media payload is not base64");
		ASSERT_TRUE(ev.pcm == NULL && ev.pcm_len == 0);
		ASSERT_EQ(p->decode(empty, strlen(empty), false, &ev, &why), -EPROTO);
		ASSERT_STREQ(why, "empty media payload");
		ASSERT_TRUE(same_decode(p, odd, strlen(odd)) && same_decode(p, bad, strlen(bad)) &&
		            same_decode(p, empty, strlen(empty)));
		/* A binary frame never reaches the scanner. */
		ASSERT_EQ(p->decode(t, strlen(t), true, &ev, &why), -EBADMSG);
	}
out:
	sb_bot_event_done(&ev);
	return r;
}

/* The bridge's own media messages (what an echo bot sends back) take the fast path, at every
 * frame size up to a second at 16 kHz, and decode as through jansson. */
TEST(json_media_bridge_messages)
{
	static int16_t pcm[16000];
	static char buf[65536];
	const struct sb_bot_call c = {.stream_sid = "0123456789abcdef0123456789abcdef"};
	struct sb_json_media m;
	int r = 0, n;

	for (size_t i = 0; i < ARRAY_SIZE(pcm); i++)
		pcm[i] = (int16_t)(i * 7919);
	for (size_t samples = 1; samples <= ARRAY_SIZE(pcm); samples = samples * 3 + 1) {
		for (size_t i = 0; i < 2; i++) {
			const struct sb_bot_proto *p = i ? TW : EX;

			n = p->media(buf, sizeof(buf), 7, &c, 3, 40, pcm, samples);
			ASSERT_TRUE(n > 0);
			if (!sb_json_media_scan(buf, (size_t)n, &m))
				FAIL_AT("%s media of %zu samples not recognised", p->name, samples);
			ASSERT_EQ(m.payload_len, (i ? samples + 2 : samples * 2 + 2) / 3 * 4);
			ASSERT_TRUE(same_decode(p, buf, (size_t)n));
		}
	}
out:
	return r;
}

/* Every bot frame of the decoder's unit tests: the same answer from both paths. */
TEST(json_media_data_frames)
{
	static char buf[65536];
	DIR *d = opendir(DATA);
	struct dirent *e;
	int r = 0, files = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d))) {
		char path[512];
		FILE *f;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), DATA "%s", e->d_name);
		f = fopen(path, "rb");
		if (!f)
			FAIL_AT("cannot read %s", path);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (!same_both(buf, n))
			FAIL_AT("%s", path);
		files++;
	}
	ASSERT_TRUE(files >= 20);
out:
	if (d)
		closedir(d);
	return r;
}

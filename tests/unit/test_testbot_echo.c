/* Unit tests for the test bot's media fast path (tools/testbot/fastecho.c): for media messages
 * written by the bridge's own Exotel and Twilio encoders, and for messages that only look like
 * them, the fast path either declines (without doing anything) or does exactly what the
 * jansson path does: the same echo frames, byte for byte, and the same arrivals lines. Every
 * message is handed over in a buffer of its exact size, so a read past its end trips ASan.
 * Thread: the test's main thread. */
#include <stdlib.h>

#include <jansson.h>

#include <sb/bot_proto.h>
#include <sb/common.h>

#include "harness.h"
#include "testbot.h"

#define EX (&sb_proto_exotel)
#define TW (&sb_proto_twilio)
#define CALL(sid) (&(struct sb_bot_call){.stream_sid = (sid)})

/* What the fast path must do for a message. */
enum want {
	WANT_FAST,    /* takes it */
	WANT_DECLINE, /* leaves it to jansson */
	WANT_ANY,     /* either, as long as the result is the same */
};

/* One bot connection without a socket: frames stay in its queue, arrivals in memory. */
struct rig {
	struct sb_tb_app app;
	struct sb_tb_conn c;
	char *arr;
	size_t arr_len;
};

struct setup {
	enum sb_tb_proto proto;
	enum sb_tb_mode mode;
	const char *sid; /* the connection's, as start set it */
	bool started;
	bool arrivals;
};

static const struct setup ECHO_EXOTEL = {SB_TB_PROTO_EXOTEL, SB_TB_MODE_ECHO, "abc", true, true};
static const struct setup ECHO_TWILIO = {SB_TB_PROTO_TWILIO, SB_TB_MODE_ECHO,
                                         "MZ0123456789abcdef0123456789abcdef", true, true};

static int rig_open(struct rig *r, const struct setup *s)
{
	memset(r, 0, sizeof(*r));
	r->app.proto = s->proto;
	r->app.mode = s->mode;
	if (s->arrivals) {
		r->app.arrivals = open_memstream(&r->arr, &r->arr_len);
		if (!r->app.arrivals)
			return -1;
	}
	r->c.app = &r->app;
	r->c.id = 7;
	r->c.rec_fd = -1;
	r->c.sample_rate = 8000;
	r->c.started = s->started;
	snprintf(r->c.sid, sizeof(r->c.sid), "%s", s->sid);
	return 0;
}

/* What the connection did: its queued frames, then its arrivals lines without their time. */
static char *rig_close(struct rig *r)
{
	char *out = NULL, *line, *save = NULL;
	size_t out_len = 0;
	FILE *f = open_memstream(&out, &out_len);
	struct sb_tb_msg *m;
	unsigned id;
	long long t, ts;
	size_t samples;

	for (m = r->c.txq_head; m; m = m->next) {
		fprintf(f, "%s %zu:", m->binary ? "B" : "T", m->len);
		fwrite(m->buf + LWS_PRE, 1, m->len, f);
		fputc('\n', f);
	}
	sb_tb_txq_clear(&r->c);
	if (r->app.arrivals) {
		fclose(r->app.arrivals);
		for (line = strtok_r(r->arr, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			/* Without a socket no read is stamped by the kernel. */
			if (sscanf(line, "M %u %lld %zu %lld", &id, &t, &samples, &ts) == 4)
				fprintf(f, "M %u %zu %lld\n", id, samples, ts);
			else
				fprintf(f, "? %s\n", line);
		}
		free(r->arr);
	}
	fclose(f);
	return out;
}

/* The jansson path of server.c's on_text for a connection without --log, --strict or a
 * script: parse, name the event, hand media to sb_tb_on_media(). */
static void slow(struct sb_tb_conn *c, const void *data, size_t len)
{
	json_t *msg = json_loadb(data, len, 0, NULL);
	const char *event;

	if (!msg)
		return;
	event = sb_tb_rx_event(c, msg);
	if (event && !strcmp(event, "media"))
		sb_tb_on_media(c, msg);
	json_decref(msg);
}

static int n_fast, n_declined;

/* Runs text through both paths on fresh connections of setup s and compares what they did. */
static int check(const struct setup *s, const char *text, size_t len, enum want want)
{
	char *copy = malloc(len ? len : 1), *a = NULL, *b = NULL;
	struct rig rig;
	bool fast;
	int r = 0;

	if (!copy)
		FAIL_AT("out of memory");
	memcpy(copy, text, len);
	if (rig_open(&rig, s) < 0)
		FAIL_AT("open_memstream failed");
	slow(&rig.c, copy, len);
	a = rig_close(&rig);
	if (rig_open(&rig, s) < 0)
		FAIL_AT("open_memstream failed");
	fast = sb_tb_fast_media(&rig.c, copy, len);
	b = rig_close(&rig);
	if (!a || !b)
		FAIL_AT("open_memstream failed");
	if (fast)
		n_fast++;
	else
		n_declined++;
	if (want == WANT_FAST && !fast)
		FAIL_AT("declined: %.*s", (int)len, text);
	if (want == WANT_DECLINE && fast)
		FAIL_AT("taken: %.*s", (int)len, text);
	/* Declining leaves the message untouched for the slow path. */
	if (!fast && b[0])
		FAIL_AT("declined but did: %s", b);
	if (fast && strcmp(a, b) != 0)
		FAIL_AT("for %.*s\n    slow: %s    fast: %s", (int)len, text, a, b);
out:
	free(a);
	free(b);
	free(copy);
	return r;
}

static int check_str(const struct setup *s, const char *text, enum want want)
{
	return check(s, text, strlen(text), want);
}

/* Samples whose base64 uses the whole alphabet, '+' and '/' included. */
static void fill_pcm(int16_t *pcm, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		pcm[i] = (int16_t)(seed >> 8);
	}
}

/* The bridge's media message for proto, as its encoder writes it. */
static int encode(const struct sb_bot_proto *p, char *buf, size_t size, const char *sid,
                  uint64_t seq, size_t samples)
{
	int16_t pcm[1600];

	if (samples > 1600)
		return -1;
	fill_pcm(pcm, samples, (unsigned)(seq + samples));
	return p->media(buf, size, seq, CALL(sid), seq ? seq - 1 : 0, seq * 20, pcm, samples);
}

static const size_t sample_counts[] = {0, 1, 2, 3, 4, 160, 161, 162, 800, 1600};
static const uint64_t seqs[] = {1, 2, 57, 1000000, UINT64_MAX};
static const char *const plain_sids[] = {
        "abc", "0123456789abcdef0123456789abcdef", "s-1_x.y/z", "with space", "~!@#$%^&*()'",
};

/* Every message proto's encoder writes for the plain sids, sample counts and sequence
 * numbers takes the fast path on a connection set up as base, whose sid is the message's
 * after sid_prefix. */
static int bridge_messages_take_the_fast_path(const struct sb_bot_proto *proto,
                                              const struct setup *base, const char *sid_prefix)
{
	char buf[8192], sid[64];
	int r = 0, n;

	for (size_t i = 0; i < ARRAY_SIZE(plain_sids); i++)
		for (size_t j = 0; j < ARRAY_SIZE(sample_counts); j++)
			for (size_t k = 0; k < ARRAY_SIZE(seqs); k++) {
				struct setup s = *base;

				n = encode(proto, buf, sizeof(buf), plain_sids[i], seqs[k],
				           sample_counts[j]);
				ASSERT_TRUE(n > 0);
				snprintf(sid, sizeof(sid), "%s%s", sid_prefix, plain_sids[i]);
				s.sid = sid;
				ASSERT_EQ(check(&s, buf, (size_t)n, WANT_FAST), 0);
			}
out:
	return r;
}

TEST(exotel_bridge_messages_take_the_fast_path)
{
	return bridge_messages_take_the_fast_path(EX, &ECHO_EXOTEL, "");
}

TEST(twilio_bridge_messages_take_the_fast_path)
{
	return bridge_messages_take_the_fast_path(TW, &ECHO_TWILIO, "MZ");
}

/* Before start, in tone and silent mode and without --arrivals, the fast path does the rest. */
TEST(other_connection_states_match)
{
	char ex[4096], tw[4096];
	int r = 0, n_ex, n_tw;
	struct setup s;

	n_ex = encode(EX, ex, sizeof(ex), "abc", 3, 160);
	n_tw = encode(TW, tw, sizeof(tw), "0123456789abcdef0123456789abcdef", 3, 160);
	ASSERT_TRUE(n_ex > 0 && n_tw > 0);
	for (int mode = SB_TB_MODE_ECHO; mode <= SB_TB_MODE_SILENT; mode++)
		for (int started = 0; started < 2; started++)
			for (int arrivals = 0; arrivals < 2; arrivals++) {
				s = ECHO_EXOTEL;
				s.mode = (enum sb_tb_mode)mode;
				s.started = started;
				s.arrivals = arrivals;
				ASSERT_EQ(check(&s, ex, (size_t)n_ex, WANT_FAST), 0);
				s.proto = SB_TB_PROTO_TWILIO;
				s.sid = ECHO_TWILIO.sid;
				ASSERT_EQ(check(&s, tw, (size_t)n_tw, WANT_FAST), 0);
			}
	/* No sid yet (no start): the echo, once started, names an empty one. */
	s = ECHO_EXOTEL;
	s.sid = "";
	ASSERT_EQ(check(&s, ex, (size_t)n_ex, WANT_FAST), 0);
out:
	return r;
}

/* The connection's sid goes into the echo: one jansson would escape is left to jansson. */
TEST(sids_needing_escapes_decline)
{
	static const char *const sids[] = {"a\"b", "a\\b",        "tab\there",
	                                   "nl\n", "caf\xc3\xa9", "del\x7f"};
	char buf[4096];
	int r = 0, n = encode(EX, buf, sizeof(buf), "abc", 3, 160);
	struct setup s = ECHO_EXOTEL;

	ASSERT_TRUE(n > 0);
	for (size_t i = 0; i < ARRAY_SIZE(sids); i++) {
		s.sid = sids[i];
		ASSERT_EQ(check(&s, buf, (size_t)n, WANT_DECLINE), 0);
	}
	/* Not echoing, the sid does not matter. */
	s.started = false;
	ASSERT_EQ(check(&s, buf, (size_t)n, WANT_FAST), 0);
	/* The bridge escapes a sid of its own the same way; such messages are left to jansson. */
	s = ECHO_EXOTEL;
	n = encode(EX, buf, sizeof(buf), "q\"uote\\d\x01", 3, 160);
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(check(&s, buf, (size_t)n, WANT_DECLINE), 0);
	n = encode(TW, buf, sizeof(buf), "q\"uote\\d\x01", 3, 160);
	ASSERT_TRUE(n > 0);
	s = ECHO_TWILIO;
	ASSERT_EQ(check(&s, buf, (size_t)n, WANT_DECLINE), 0);
out:
	return r;
}

/* --strict, --log, --record, scripts and the raw protocol need the parsed message. */
TEST(connections_needing_the_tree_decline)
{
	char buf[4096];
	int r = 0, n = encode(EX, buf, sizeof(buf), "abc", 3, 160);
	struct sb_tb_app app;
	struct sb_tb_conn c;

	ASSERT_TRUE(n > 0);
	for (int i = 0; i < 6; i++) {
		memset(&app, 0, sizeof(app));
		memset(&c, 0, sizeof(c));
		app.proto = SB_TB_PROTO_EXOTEL;
		app.mode = SB_TB_MODE_ECHO;
		c.app = &app;
		c.started = true;
		c.rec_fd = -1;
		snprintf(c.sid, sizeof(c.sid), "abc");
		switch (i) {
		case 0:
			app.strict = true;
			break;
		case 1:
			app.evlog = stderr;
			break;
		case 2:
			app.record_dir = "/nonexistent";
			break;
		case 3:
			app.mode = SB_TB_MODE_SCRIPT;
			break;
		case 4:
			app.proto = SB_TB_PROTO_RAW;
			break;
		default:
			/* The baseline: the same connection takes it. */
			break;
		}
		ASSERT_EQ(sb_tb_fast_media(&c, buf, (size_t)n), i == 5);
		ASSERT_EQ(c.txq_count, i == 5);
		sb_tb_txq_clear(&c);
	}
out:
	return r;
}

TEST(lookalikes_decline)
{
	static const char *const ex[] = {
	        /* the real shape, as a control */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC/+8=\"}}",
	};
	static const char *const bad[] = {
	        /* escapes in the payload: jansson unescapes them */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\\/+8=\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"\\u0041AEC\"}}",
	        /* base64url and other characters */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AA-_\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AA EC\"}}",
	        /* extra keys */
	        "{\"event\":\"media\",\"x\":\"y\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\",\"x\":1}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"},\"x\":1}",
	        /* wrong event */
	        "{\"event\":\"mark\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"Media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"medi\\u0061\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        /* payload not a string */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":123}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":null}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":[\"AAEC\"]}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":{\"a\":\"AAEC\"}}}",
	        /* numbers where the bridge writes digit strings */
	        "{\"event\":\"media\",\"sequence_number\":2,\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"123456789012345678901\","
	        "\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        /* duplicates: jansson keeps the last */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\","
	        "\"payload\":\"BBBB\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"},"
	        "\"media\":{\"payload\":\"BBBB\"}}",
	        "{\"event\":\"media\",\"event\":\"mark\",\"sequence_number\":\"2\","
	        "\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        /* whitespace and trailing bytes, valid JSON or not */
	        "{ \"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}\n",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}x",
	        /* sids that are not plain, and a missing one */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"a\\\"b\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"caf\xc3\xa9\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"\xff\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        "{\"event\":\"media\",\"sequence_number\":\"2\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        /* the other protocol's shape */
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"inbound\","
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"},\"streamSid\":"
	        "\"MZabc\"}",
	        /* not a message at all */
	        "",
	        "{}",
	        "media",
	};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ex); i++)
		ASSERT_EQ(check_str(&ECHO_EXOTEL, ex[i], WANT_FAST), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ASSERT_EQ(check_str(&ECHO_EXOTEL, bad[i], WANT_DECLINE), 0);
	/* A NUL in the payload. */
	{
		char nul[] =
		        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
		        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AA#C\"}}";
		*strchr(nul, '#') = '\0';
		ASSERT_EQ(check(&ECHO_EXOTEL, nul, sizeof(nul) - 1, WANT_DECLINE), 0);
	}
out:
	return r;
}

TEST(twilio_lookalikes_decline)
{
	static const char *const bad[] = {
	        /* the Exotel shape on a Twilio connection */
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        /* another track, a missing one, a missing sid */
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"outbound\","
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"},\"streamSid\":"
	        "\"MZabc\"}",
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{"
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"},\"streamSid\":"
	        "\"MZabc\"}",
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"inbound\","
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"}}",
	        /* an escaped payload, a duplicate one */
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"inbound\","
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AA\\/"
	        "C\"},\"streamSid\":\"MZabc\"}",
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"inbound\","
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\",\"payload\":\"BBBB\"},"
	        "\"streamSid\":\"MZabc\"}",
	        /* an extra key after the sid */
	        "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"inbound\","
	        "\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC\"},\"streamSid\":\"MZabc\","
	        "\"x\":\"y\"}",
	};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ASSERT_EQ(check_str(&ECHO_TWILIO, bad[i], WANT_DECLINE), 0);
out:
	return r;
}

/* Every proper prefix of a real message is declined, and read only up to its end. */
TEST(truncated_messages_decline)
{
	char buf[4096];
	int r = 0, n;

	n = encode(EX, buf, sizeof(buf), "abc", 9, 161);
	ASSERT_TRUE(n > 0);
	for (int len = 0; len < n; len++)
		ASSERT_EQ(check(&ECHO_EXOTEL, buf, (size_t)len, WANT_DECLINE), 0);
	n = encode(TW, buf, sizeof(buf), "0123456789abcdef0123456789abcdef", 9, 161);
	ASSERT_TRUE(n > 0);
	for (int len = 0; len < n; len++)
		ASSERT_EQ(check(&ECHO_TWILIO, buf, (size_t)len, WANT_DECLINE), 0);
out:
	return r;
}

/* Any single byte of a real message changed: whichever path takes it, the result is the
 * same. */
TEST(mutated_messages_match)
{
	static const char subst[] = {'"', '\\', '}', '{', ',',  ':',  ' ',        'A',
	                             '/', '=',  '7', '-', '\0', '\n', (char)0x80, (char)0xff};
	char buf[1024], orig[1024];
	int r = 0, n, fast0 = n_fast, declined0 = n_declined;

	for (int proto = 0; proto < 2; proto++) {
		const struct setup *s = proto ? &ECHO_TWILIO : &ECHO_EXOTEL;

		n = encode(proto ? TW : EX, orig, sizeof(orig),
		           proto ? "0123456789abcdef0123456789abcdef" : "abc", 12, 10);
		ASSERT_TRUE(n > 0);
		for (int i = 0; i < n; i++)
			for (size_t j = 0; j < sizeof(subst); j++) {
				memcpy(buf, orig, (size_t)n);
				buf[i] = subst[j];
				ASSERT_EQ(check(s, buf, (size_t)n, WANT_ANY), 0);
			}
	}
	/* Both paths were exercised. */
	ASSERT_TRUE(n_fast > fast0 && n_declined > declined0);
out:
	return r;
}

/* The pure parts on their own: payload found in place, echo length and bytes. */
TEST(scan_and_echo_bytes)
{
	static const char msg[] =
	        "{\"event\":\"media\",\"sequence_number\":\"2\",\"stream_sid\":\"abc\","
	        "\"media\":{\"chunk\":\"1\",\"timestamp\":\"0\",\"payload\":\"AAEC/+8=\"}}";
	struct sb_tb_fast_msg m;
	char out[128];
	size_t n;
	json_t *obj = NULL;
	char *text = NULL;
	int r = 0;

	ASSERT_TRUE(sb_tb_fast_scan(SB_TB_PROTO_EXOTEL, msg, sizeof(msg) - 1, &m));
	ASSERT_TRUE(m.payload == strstr(msg, "AAEC"));
	ASSERT_EQ(m.payload_len, 8);
	ASSERT_EQ(sb_tb_b64_decoded_len_n(m.payload, m.payload_len), 5);
	ASSERT_TRUE(!sb_tb_fast_scan(SB_TB_PROTO_TWILIO, msg, sizeof(msg) - 1, &m));
	ASSERT_TRUE(!sb_tb_fast_scan(SB_TB_PROTO_RAW, msg, sizeof(msg) - 1, &m));
	ASSERT_TRUE(!sb_tb_fast_scan(SB_TB_PROTO_EXOTEL, NULL, 0, &m));
	ASSERT_TRUE(sb_tb_fast_scan(SB_TB_PROTO_EXOTEL, msg, sizeof(msg) - 1, &m));
	/* The echo is what jansson writes for the same object. */
	for (int proto = 0; proto < 2; proto++) {
		enum sb_tb_proto p = proto ? SB_TB_PROTO_TWILIO : SB_TB_PROTO_EXOTEL;

		n = sb_tb_fast_echo_len(p, "s id", m.payload_len);
		ASSERT_TRUE(n > 0 && n < sizeof(out));
		sb_tb_fast_echo_write(p, "s id", m.payload, m.payload_len, out);
		obj = json_pack("{s:s,s:s,s:{s:s%}}", "event", "media",
		                proto ? "streamSid" : "stream_sid", "s id", "media", "payload",
		                m.payload, m.payload_len);
		text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		ASSERT_TRUE(text);
		ASSERT_EQ(strlen(text), n);
		ASSERT_MEMEQ(out, text, n);
		free(text);
		text = NULL;
		json_decref(obj);
		obj = NULL;
	}
	ASSERT_EQ(sb_tb_fast_echo_len(SB_TB_PROTO_EXOTEL, "a\"b", 4), 0);
out:
	free(text);
	json_decref(obj);
	return r;
}

/* Reads the RFC 6455 frame at p (server to client: unmasked); returns its payload and length,
 * or NULL when it is not a whole final unmasked text frame within end. */
static const unsigned char *frame_at(const unsigned char *p, const unsigned char *end, size_t *len,
                                     const unsigned char **next)
{
	size_t hdr = 2, n;

	if (end - p < 2 || p[0] != 0x81 || (p[1] & 0x80))
		return NULL;
	n = p[1] & 0x7f;
	if (n == 126) {
		hdr = 4;
		n = (size_t)p[2] << 8 | p[3];
	} else if (n == 127) {
		hdr = 10;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
	}
	if ((size_t)(end - p) < hdr || (size_t)(end - p) - hdr < n)
		return NULL;
	*len = n;
	*next = p + hdr + n;
	return p + hdr;
}

/* A turn's echoes framed one after another in the connection's batch; a flush that cannot write
 * (here: no socket) queues them as one frame run, the connection leaves the list of batches. */
TEST(batch_frames_a_turns_echoes_in_order)
{
	static const size_t sizes[] = {0, 1, 125, 126, 200, 65535, 65536, 70000};
	const size_t count = sizeof(sizes) / sizeof(sizes[0]);
	struct rig rig, other;
	const unsigned char *p, *end, *pay, *next;
	unsigned char *slot;
	size_t len, total = 0;
	int r = 0;

	ASSERT_EQ(rig_open(&rig, &ECHO_EXOTEL), 0);
	ASSERT_EQ(rig_open(&other, &ECHO_EXOTEL), 0);
	other.c.app = &rig.app;
	for (size_t i = 0; i < count; i++) {
		slot = sb_tb_batch_add(&rig.c, sizes[i]);
		ASSERT_TRUE(slot);
		memset(slot, 'a' + (int)i, sizes[i]);
		total += sizes[i] + (sizes[i] < 126 ? 2 : sizes[i] <= 0xffff ? 4 : 10);
	}
	ASSERT_EQ(rig.c.batch_len, total);
	ASSERT_TRUE(sb_tb_batch_add(&other.c, 3));
	/* Each connection is on the list once, the last to batch first. */
	ASSERT_TRUE(rig.app.batched == &other.c && other.c.batch_next == &rig.c &&
	            !rig.c.batch_next);
	/* No more than the bound in one turn. */
	ASSERT_TRUE(!sb_tb_batch_add(&other.c, 2u << 20));
	ASSERT_EQ(other.c.batch_len, 5);

	sb_tb_batch_flush_all(&rig.app);
	ASSERT_TRUE(!rig.app.batched && !rig.c.batch_pprev && !other.c.batch_pprev);
	ASSERT_EQ(rig.c.batch_len, 0);
	ASSERT_TRUE(rig.c.txq_head && rig.c.txq_head == rig.c.txq_tail && rig.c.txq_head->raw);
	ASSERT_EQ(rig.c.txq_head->len, total);
	p = rig.c.txq_head->buf + LWS_PRE;
	end = p + total;
	for (size_t i = 0; i < count; i++, p = next) {
		pay = frame_at(p, end, &len, &next);
		ASSERT_TRUE(pay);
		ASSERT_EQ(len, sizes[i]);
		for (size_t k = 0; k < len; k++)
			ASSERT_EQ(pay[k], 'a' + (int)i);
	}
	ASSERT_TRUE(p == end);
	/* Clearing drops a batch unwritten and takes the connection off the list. */
	ASSERT_TRUE(sb_tb_batch_add(&rig.c, 4));
	sb_tb_txq_clear(&rig.c);
	ASSERT_TRUE(!rig.app.batched && !rig.c.batch && !rig.c.txq_head);
out:
	sb_tb_txq_clear(&rig.c);
	sb_tb_txq_clear(&other.c);
	free(rig_close(&rig));
	free(rig_close(&other));
	return r;
}

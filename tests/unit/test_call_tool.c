/* Unit tests for the pure parts of sipbridge-call (tools/call): the WAV checks (every way a
 * file can be wrong, and no read past the buffer), the time line the recording follows (loss,
 * reordering, late packets, a new stream, timestamp jumps), the utterance count, the
 * offer/answer and the reading of a refused TLS certificate from sofia's transport log.
 * Thread: the test's main thread. Owns nothing. */
#include <errno.h>
#include <stdlib.h>

#include <sb/common.h>

#include "call.h"
#include "harness.h"

/* ---------------------------------------------------------------------------------------- */
/* WAV */

static size_t put_chunk(uint8_t *p, const char *id, const void *body, uint32_t size)
{
	memcpy(p, id, 4);
	p[4] = (uint8_t)size;
	p[5] = (uint8_t)(size >> 8);
	p[6] = (uint8_t)(size >> 16);
	p[7] = (uint8_t)(size >> 24);
	if (body)
		memcpy(p + 8, body, size);
	return 8 + size + (size & 1);
}

/* A fmt chunk body of 16 bytes. */
static void fmt_body(uint8_t *f, uint16_t format, uint16_t channels, uint32_t rate, uint16_t bits)
{
	memset(f, 0, 16);
	f[0] = (uint8_t)format;
	f[1] = (uint8_t)(format >> 8);
	f[2] = (uint8_t)channels;
	f[4] = (uint8_t)rate;
	f[5] = (uint8_t)(rate >> 8);
	f[6] = (uint8_t)(rate >> 16);
	f[14] = (uint8_t)bits;
}

/* RIFF/WAVE with the given fmt and n_samples of data; returns the length. */
static size_t make_wav(uint8_t *buf, uint16_t format, uint16_t channels, uint32_t rate,
                       uint16_t bits, size_t n_samples)
{
	uint8_t f[16];
	size_t len = 12;

	memcpy(buf, "RIFF\0\0\0\0WAVE", 12);
	fmt_body(f, format, channels, rate, bits);
	len += put_chunk(buf + len, "fmt ", f, 16);
	len += put_chunk(buf + len, "data", NULL, (uint32_t)(n_samples * 2));
	for (size_t i = 0; i < n_samples; i++) {
		buf[len - n_samples * 2 + 2 * i] = (uint8_t)i;
		buf[len - n_samples * 2 + 2 * i + 1] = 0;
	}
	return len;
}

static int parse(const uint8_t *buf, size_t len, size_t *off, size_t *n, char *err)
{
	*off = *n = 0;
	err[0] = '\0';
	return sb_cl_wav_parse(buf, len, off, n, err, SB_CL_ERR_MAX);
}

TEST(wav_good_file)
{
	uint8_t buf[512];
	char err[SB_CL_ERR_MAX];
	size_t off, n, len = make_wav(buf, 1, 1, 8000, 16, 100);
	int r = 0;

	ASSERT_EQ(parse(buf, len, &off, &n, err), 0);
	ASSERT_EQ(off, 44);
	ASSERT_EQ(n, 100);
out:
	return r;
}

TEST(wav_wrong_formats_are_named)
{
	static const struct {
		uint16_t format, channels;
		uint32_t rate;
		uint16_t bits;
		const char *why;
	} cases[] = {
	        {1, 1, 16000, 16, "16000 Hz, need 8000 Hz"},
	        {1, 2, 8000, 16, "2 channels, need mono"},
	        {1, 1, 8000, 8, "8-bit samples, need 16-bit"},
	        {3, 1, 8000, 32, "format 3 is not PCM"},
	        {6, 1, 8000, 8, "format 6 is not PCM"},
	};
	uint8_t buf[512];
	char err[SB_CL_ERR_MAX];
	size_t off, n;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = make_wav(buf, cases[i].format, cases[i].channels, cases[i].rate,
		                      cases[i].bits, 10);

		ASSERT_EQ(parse(buf, len, &off, &n, err), -EINVAL);
		if (!strstr(err, cases[i].why))
			FAIL_AT("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].why);
	}
out:
	return r;
}

/* WAVE_FORMAT_EXTENSIBLE with the PCM sub-format is PCM; other chunks (odd-sized ones are
 * padded) come before the data. */
TEST(wav_extensible_and_other_chunks)
{
	uint8_t buf[512], f[40] = {0}, junk[3] = {1, 2, 3};
	char err[SB_CL_ERR_MAX];
	size_t off, n, len = 12;
	int r = 0;

	memcpy(buf, "RIFF\0\0\0\0WAVE", 12);
	fmt_body(f, 0xFFFE, 1, 8000, 16);
	f[24] = 1; /* the sub-format GUID's first word: PCM */
	len += put_chunk(buf + len, "LIST", junk, 3);
	len += put_chunk(buf + len, "fmt ", f, 40);
	len += put_chunk(buf + len, "fact", junk, 3);
	len += put_chunk(buf + len, "data", NULL, 8);
	ASSERT_EQ(parse(buf, len, &off, &n, err), 0);
	ASSERT_EQ(n, 4);
	ASSERT_EQ(off, len - 8);
	f[24] = 3; /* float */
	len = 12 + put_chunk(buf + 12, "fmt ", f, 40);
	len += put_chunk(buf + len, "data", NULL, 8);
	ASSERT_EQ(parse(buf, len, &off, &n, err), -EINVAL);
out:
	return r;
}

TEST(wav_broken_structure)
{
	uint8_t buf[512];
	char err[SB_CL_ERR_MAX];
	size_t off, n, len;
	int r = 0;

	/* not RIFF/WAVE, or too short to say */
	ASSERT_EQ(parse((const uint8_t *)"RIFX\0\0\0\0WAVE", 12, &off, &n, err), -EINVAL);
	ASSERT_TRUE(strstr(err, "not a WAV file"));
	ASSERT_EQ(parse((const uint8_t *)"RIFF", 4, &off, &n, err), -EINVAL);
	ASSERT_EQ(parse((const uint8_t *)"", 0, &off, &n, err), -EINVAL);
	/* the data announced is not all there */
	len = make_wav(buf, 1, 1, 8000, 16, 100);
	ASSERT_EQ(parse(buf, len - 1, &off, &n, err), -EINVAL);
	ASSERT_TRUE(strstr(err, "cut short"));
	/* no data chunk; data before fmt; no audio at all */
	ASSERT_EQ(parse(buf, 36, &off, &n, err), -EINVAL);
	ASSERT_TRUE(strstr(err, "no data chunk"));
	len = 12 + put_chunk(buf + 12, "data", NULL, 4);
	ASSERT_EQ(parse(buf, len, &off, &n, err), -EINVAL);
	ASSERT_TRUE(strstr(err, "before the fmt"));
	len = make_wav(buf, 1, 1, 8000, 16, 0);
	ASSERT_EQ(parse(buf, len, &off, &n, err), -EINVAL);
	/* a fmt chunk too short, or longer than the file */
	len = 12 + put_chunk(buf + 12, "fmt ", "abcd", 4);
	ASSERT_EQ(parse(buf, len, &off, &n, err), -EINVAL);
	len = make_wav(buf, 1, 1, 8000, 16, 4);
	buf[16] = 0xff; /* fmt size */
	ASSERT_EQ(parse(buf, len, &off, &n, err), -EINVAL);
out:
	return r;
}

/* A stream writer's data size (0 or 0xFFFFFFFF) means the rest of the file, whole samples. */
TEST(wav_streamed_size)
{
	uint8_t buf[512];
	char err[SB_CL_ERR_MAX];
	size_t off, n, len = make_wav(buf, 1, 1, 8000, 16, 50);
	int r = 0;

	memset(buf + 40, 0xff, 4);
	ASSERT_EQ(parse(buf, len + 1, &off, &n, err), 0);
	ASSERT_EQ(n, 50);
	memset(buf + 40, 0, 4);
	ASSERT_EQ(parse(buf, len, &off, &n, err), 0);
	ASSERT_EQ(n, 50);
out:
	return r;
}

/* Chunk sizes of every kind on every prefix of a file: an answer, never a read past it. */
TEST(wav_every_prefix_and_size)
{
	static const uint32_t sizes[] = {0, 1, 2, 15, 16, 17, 0x7fffffff, 0xfffffffe, 0xffffffff};
	uint8_t buf[128];
	char err[SB_CL_ERR_MAX];
	size_t off, n, len = make_wav(buf, 1, 1, 8000, 16, 10);
	int r = 0;

	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, buf, cut);
		if (parse(copy, cut, &off, &n, err) == 0 && off + 2 * n > cut)
			r = -1;
		for (size_t s = 0; s < ARRAY_SIZE(sizes) && cut >= 20; s++) {
			memcpy(copy + 16, &sizes[s], 4); /* fmt size (host order is little here) */
			if (parse(copy, cut, &off, &n, err) == 0 && off + 2 * n > cut)
				r = -1;
		}
		free(copy);
		if (r)
			FAIL_AT("a parse of %zu bytes points past them", cut);
	}
out:
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* time line */

struct sink {
	int16_t pcm[4 * SB_CL_TIMELINE_WINDOW];
	size_t n;
	int calls;
};

static void collect(void *arg, const int16_t *pcm, size_t n)
{
	struct sink *s = arg;

	for (size_t i = 0; i < n && s->n < ARRAY_SIZE(s->pcm); i++)
		s->pcm[s->n++] = pcm[i];
	s->calls++;
}

/* Packet k of a stream: 160 samples of value base + k (never 0). */
static void put(struct sb_cl_timeline *t, uint32_t ssrc, uint32_t ts0, int k, int base,
                int64_t arrival)
{
	int16_t pcm[160];

	for (int i = 0; i < 160; i++)
		pcm[i] = (int16_t)(base + k);
	sb_cl_timeline_put(t, ssrc, ts0 + (uint32_t)k * 160, pcm, 160, arrival);
}

/* Sample value of each 160-sample frame of the sink's output, -1 where it is not uniform. */
static int frame(const struct sink *s, size_t f)
{
	int v = s->pcm[f * 160];

	for (size_t i = 1; i < 160; i++)
		if (s->pcm[f * 160 + i] != v)
			return -1;
	return v;
}

TEST(timeline_in_order_loss_and_reorder)
{
	static struct sb_cl_timeline t;
	static struct sink s;
	int order[] = {0, 1, 3, 2, 4, 6, 7}; /* 3 before 2; 5 lost */
	int r = 0;

	memset(&s, 0, sizeof(s));
	sb_cl_timeline_init(&t, collect, &s);
	/* the first packet arrives 320 samples (40 ms) after the answer */
	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		put(&t, 7, 1000, order[i], 100, 320 + 160 * (int64_t)i);
	ASSERT_EQ(s.n, 0); /* all still within the window */
	sb_cl_timeline_flush(&t);
	ASSERT_EQ(s.n, 320 + 8 * 160);
	ASSERT_EQ(frame(&s, 0), 0);
	ASSERT_EQ(frame(&s, 1), 0);
	for (int k = 0; k < 8; k++)
		ASSERT_EQ(frame(&s, 2 + (size_t)k), k == 5 ? 0 : 100 + k);
	ASSERT_EQ(t.late_samples, 0);
out:
	return r;
}

TEST(timeline_late_packet_dropped_stream_goes_on)
{
	static struct sb_cl_timeline t;
	static struct sink s;
	int r = 0;

	memset(&s, 0, sizeof(s));
	sb_cl_timeline_init(&t, collect, &s);
	for (int k = 0; k < 80; k++)
		if (k != 3)
			put(&t, 7, 0, k, 1, 160 * (int64_t)k);
	ASSERT_TRUE(s.n >= 80 * 160 - SB_CL_TIMELINE_WINDOW);
	/* packet 3 shows up 1.5 s late: its place is gone */
	put(&t, 7, 0, 3, 1, 160 * 78);
	ASSERT_EQ(t.late_samples, 160);
	put(&t, 7, 0, 80, 1, 160 * 80);
	sb_cl_timeline_flush(&t);
	ASSERT_EQ(s.n, 81 * 160);
	ASSERT_EQ(frame(&s, 3), 0);
	ASSERT_EQ(frame(&s, 80), 81);
out:
	return r;
}

/* A new SSRC is laid from its arrival, never over what is there; a timestamp jump of more
 * than 10 s starts afresh too, a smaller one is kept as a pause. */
TEST(timeline_new_stream_and_jumps)
{
	static struct sb_cl_timeline t;
	static struct sink s;
	int r = 0;

	memset(&s, 0, sizeof(s));
	sb_cl_timeline_init(&t, collect, &s);
	for (int k = 0; k < 5; k++)
		put(&t, 1, 0, k, 10, 160 * (int64_t)k);
	/* another SSRC whose packets claim to start at once: laid after the first stream */
	put(&t, 2, 5000, 0, 20, 160 * 4);
	/* the first packet 200 ms later: a gap */
	put(&t, 2, 5000, 10, 20, 160 * 15);
	/* a jump of a minute in the timestamps: laid at its arrival */
	put(&t, 2, 5000 + 60 * 8000, 0, 40, 160 * 16);
	sb_cl_timeline_flush(&t);
	for (int k = 0; k < 5; k++)
		ASSERT_EQ(frame(&s, (size_t)k), 10 + k);
	ASSERT_EQ(frame(&s, 5), 20);
	for (int k = 6; k < 15; k++)
		ASSERT_EQ(frame(&s, (size_t)k), 0);
	ASSERT_EQ(frame(&s, 15), 30);
	ASSERT_EQ(frame(&s, 16), 40);
	ASSERT_EQ(s.n, 17 * 160);
out:
	return r;
}

/* Timestamps that go back 5 s: two packets are dropped as stragglers, the third starts the
 * stream afresh after what is there. */
TEST(timeline_timestamps_go_back)
{
	static struct sb_cl_timeline t;
	static struct sink s;
	int r = 0;

	memset(&s, 0, sizeof(s));
	sb_cl_timeline_init(&t, collect, &s);
	for (int k = 0; k < 100; k++)
		put(&t, 1, 90000, k, 1, 160 * (int64_t)k);
	for (int k = 100; k < 105; k++)
		put(&t, 1, 90000 - 5 * 8000, k, 1, 160 * (int64_t)k);
	sb_cl_timeline_flush(&t);
	ASSERT_EQ(t.late_samples, 320);
	for (int k = 0; k < 100; k++)
		ASSERT_EQ(frame(&s, (size_t)k), 1 + k);
	ASSERT_EQ(frame(&s, 100), 0);
	ASSERT_EQ(frame(&s, 101), 0);
	ASSERT_EQ(frame(&s, 102), 103);
	ASSERT_EQ(frame(&s, 104), 105);
	ASSERT_EQ(s.n, 105 * 160);
out:
	return r;
}

TEST(timeline_odd_input)
{
	static struct sb_cl_timeline t;
	static struct sink s;
	int16_t pcm[SB_CL_TIMELINE_WINDOW + 1] = {0};
	int r = 0;

	memset(&s, 0, sizeof(s));
	sb_cl_timeline_init(&t, collect, &s);
	sb_cl_timeline_put(&t, 1, 0, pcm, 0, 0);
	sb_cl_timeline_put(&t, 1, 0, pcm, ARRAY_SIZE(pcm), 0); /* more than the window */
	ASSERT_EQ(t.end, 0);
	/* a timestamp just behind the anchor at the very start cannot go before sample 0 */
	put(&t, 1, 1000, 0, 1, 0);
	put(&t, 1, 1000 - 320, 0, 1, 0);
	sb_cl_timeline_flush(&t);
	ASSERT_TRUE(s.n >= 160);
	ASSERT_EQ(frame(&s, 0), 1);
out:
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* utterances */

static void feed(struct sb_cl_utter *u, int amp, int ms)
{
	int16_t pcm[8];

	for (int i = 0; i < ms * 8; i += 8) {
		for (int j = 0; j < 8; j++)
			pcm[j] = (int16_t)(j % 2 ? amp : -amp);
		sb_cl_utter_feed(u, pcm, 8);
	}
}

TEST(utterances)
{
	struct sb_cl_utter u = {0};
	int r = 0;

	feed(&u, 8, 2000); /* G.711 idle noise */
	ASSERT_EQ(u.count, 0);
	feed(&u, 3000, 500);
	ASSERT_EQ(u.count, 1);
	feed(&u, 0, 180); /* a short pause belongs to the burst */
	feed(&u, 3000, 500);
	ASSERT_EQ(u.count, 1);
	feed(&u, 100, 240); /* quiet long enough */
	feed(&u, 3000, 20);
	ASSERT_EQ(u.count, 2);
	feed(&u, 0, 1000);
	feed(&u, 299, 1000); /* just under the threshold */
	ASSERT_EQ(u.count, 2);
	feed(&u, 301, 20);
	ASSERT_EQ(u.count, 3);
out:
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* SDP */

TEST(sdp_offer_and_answer)
{
	char buf[1024];
	struct sb_sdp_offer ans;
	const char *why = NULL;
	int n, r = 0;

	n = sb_cl_sdp_offer(buf, sizeof(buf), "127.0.0.1", 40000, SB_CODEC_PCMA, 42, NULL);
	ASSERT_TRUE(n > 0);
	ASSERT_TRUE(strstr(buf, "m=audio 40000 RTP/AVP 8 101\r\n"));
	ASSERT_TRUE(strstr(buf, "a=rtpmap:8 PCMA/8000\r\n"));
	ASSERT_TRUE(strstr(buf, "a=rtpmap:101 telephone-event/8000\r\n"));
	ASSERT_TRUE(!strstr(buf, "PCMU"));
	/* our own offer read back as an answer */
	ASSERT_EQ(sb_cl_sdp_answer(buf, (size_t)n, SB_CODEC_PCMA, false, &ans, &why), 0);
	ASSERT_EQ(ans.port, 40000);
	ASSERT_EQ(ans.te_pt, 101);
	ASSERT_EQ(sb_cl_sdp_answer(buf, (size_t)n, SB_CODEC_PCMU, false, &ans, &why), -EBADMSG);
	ASSERT_TRUE(strstr(why, "codec"));
	n = sb_cl_sdp_offer(buf, sizeof(buf), "::1", 40002, SB_CODEC_PCMU, 1, NULL);
	ASSERT_TRUE(n > 0 && strstr(buf, "c=IN IP6 ::1\r\n"));
	ASSERT_EQ(sb_cl_sdp_offer(buf, sizeof(buf), "localhost", 1, SB_CODEC_PCMU, 1, NULL),
	          -EINVAL);
	ASSERT_EQ(sb_cl_sdp_offer(buf, 20, "127.0.0.1", 1, SB_CODEC_PCMU, 1, NULL), -ENOSPC);
	ASSERT_EQ(sb_cl_sdp_answer("garbage", 7, SB_CODEC_PCMU, false, &ans, &why), -EBADMSG);
	ASSERT_TRUE(strstr(why, "cannot be parsed"));
	/* an answer whose audio would go to a group or to everyone says so */
	n = sb_cl_sdp_offer(buf, sizeof(buf), "239.1.2.3", 40000, SB_CODEC_PCMA, 42, NULL);
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(sb_cl_sdp_answer(buf, (size_t)n, SB_CODEC_PCMA, false, &ans, &why), -EBADMSG);
	ASSERT_TRUE(strstr(why, "multicast or broadcast"));
	/* and a ptime outside what the bridge takes */
	n = snprintf(buf, sizeof(buf),
	             "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	             "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:100\r\n");
	ASSERT_EQ(sb_cl_sdp_answer(buf, (size_t)n, SB_CODEC_PCMA, false, &ans, &why), -EBADMSG);
	ASSERT_TRUE(strstr(why, "ptime"));
out:
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* TLS refusals in sofia's transport log */

/* Feeds the lines as sofia-sip 1.12's tport_tls.c formats them (each a separate log call). */
static void feed_lines(struct sb_cl_tls_refusal *t, const char *const *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_cl_tls_refusal_feed(t, lines[i]);
}

TEST(tls_refusal_chain_error)
{
	static const char *const lines[] = {
	        "tls_read: SSL_read: 0a000126:SSL routines:(null):unexpected eof while reading\n",
	        "-Error with certificate at depth: 0\n",
	        "  issuer   = /CN=other test CA\n",
	        "  subject  = /CN=sbcall.sb.test\n",
	        "  err 20:unable to get local issuer certificate\n",
	        "nta_agent: tport: Input/output error\n",
	};
	struct sb_cl_tls_refusal t = {0};
	char text[SB_CL_TLS_TEXT_MAX];
	int r = 0;

	ASSERT_EQ(sb_cl_tls_refusal_text(&t, "x", text, sizeof(text)), -ENOENT);
	feed_lines(&t, lines, 1);
	ASSERT_TRUE(!t.seen);
	feed_lines(&t, lines + 1, ARRAY_SIZE(lines) - 1);
	ASSERT_TRUE(t.seen);
	ASSERT_EQ(sb_cl_tls_refusal_text(&t, "sbcall.sb.test", text, sizeof(text)), 0);
	ASSERT_STREQ(text, "the certificate of sbcall.sb.test failed verification: unable to get "
	                   "local issuer certificate (subject /CN=sbcall.sb.test, issuer /CN=other "
	                   "test CA)");
	/* deeper in the chain, and the text cut to its buffer */
	sb_cl_tls_refusal_feed(&t, "-Error with certificate at depth: 1\n");
	sb_cl_tls_refusal_feed(&t, "  issuer   = /CN=root\n");
	sb_cl_tls_refusal_feed(&t, "  subject  = /CN=intermediate\n");
	sb_cl_tls_refusal_feed(&t, "  err 10:certificate has expired\n");
	ASSERT_EQ(sb_cl_tls_refusal_text(&t, "h", text, sizeof(text)), 0);
	ASSERT_STREQ(text, "the certificate of h failed verification: certificate has expired (at "
	                   "depth 1 of its chain: subject /CN=intermediate, issuer /CN=root)");
	ASSERT_EQ(sb_cl_tls_refusal_text(&t, "h", text, 20), 0);
	ASSERT_STREQ(text, "the certificate of ");
out:
	return r;
}

TEST(tls_refusal_subject_mismatch)
{
	struct sb_cl_tls_refusal t = {0};
	char text[SB_CL_TLS_TEXT_MAX], longname[400];
	int r = 0;

	/* the other direction is not a refusal of the server */
	sb_cl_tls_refusal_feed(&t,
	                       "tls_post_connection_check(0x6080000a1b20): Peer Subject Mismatch "
	                       "(incoming connection)\n");
	ASSERT_TRUE(!t.seen);
	sb_cl_tls_refusal_feed(&t,
	                       "tls_post_connection_check(0x6080000a1b20): Peer Subject Mismatch "
	                       "(sbcall.sb.test)\n");
	ASSERT_TRUE(t.seen);
	ASSERT_EQ(sb_cl_tls_refusal_text(&t, "ignored", text, sizeof(text)), 0);
	ASSERT_STREQ(text,
	             "the certificate of sbcall.sb.test failed verification: it does not name "
	             "sbcall.sb.test");
	/* a chain error after it is the last one: its host is the caller's again */
	sb_cl_tls_refusal_feed(&t, "-Error with certificate at depth: 0\n");
	sb_cl_tls_refusal_feed(&t, "  err 9:certificate is not yet valid\n");
	ASSERT_EQ(sb_cl_tls_refusal_text(&t, "example.org", text, sizeof(text)), 0);
	ASSERT_STREQ(
	        text,
	        "the certificate of example.org failed verification: certificate is not yet valid");
	/* a name longer than a host name is cut, never overflows */
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "tls_post_connection_check(0x1): Peer Subject Mismatch (", 55);
	memcpy(longname + sizeof(longname) - 3, ")\n", 3);
	sb_cl_tls_refusal_feed(&t, longname);
	ASSERT_TRUE(t.seen && strlen(t.host) == SB_CL_HOST_MAX);
out:
	return r;
}

TEST(tls_refusal_ignores_other_lines)
{
	static const char *const lines[] = {
	        /* the block's lines out of a block, and an err line with no code */
	        "  issuer   = /CN=x\n",
	        "  subject  = /CN=y\n",
	        "  err 20:unable to get local issuer certificate\n",
	        "-Error with certificate at depth: 0\n",
	        "  err :no code\n",
	        "  err 20\n",
	        /* a mismatch line cut short, without its closing parenthesis, or not sofia's */
	        "tls_post_connection_check(0x1): Peer Subject Mismatch (",
	        "tls_post_connection_check(0x1): Peer Subject Mismatch (name\n",
	        "X-Header: tls_post_connection_check(0x1): Peer Subject Mismatch (evil.example)\n",
	        "tls_connect(0x1): TLS setup failed (error:0A000410:SSL routines::sslv3 alert)\n",
	        "",
	};
	struct sb_cl_tls_refusal t = {0};
	int r = 0;

	feed_lines(&t, lines, ARRAY_SIZE(lines));
	ASSERT_TRUE(!t.seen);
out:
	return r;
}

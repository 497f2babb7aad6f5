/* Unit tests for ws_reader.c: a stream of server frames built here from RFC 6455 §5.2 (single
 * and fragmented text and binary messages, empty ones, lengths in all three forms, pings and
 * pongs between the fragments of a message) comes out as the same messages and control frames
 * in the same order however the stream is cut into reads, every piece marked first and last
 * where its message starts and ends; a close stops the reading where it is; every breach of
 * the protocol a server can commit is refused with its reason. */
#include <stdbool.h>
#include <stdlib.h>

#include <sb/ws_reader.h>

#include "harness.h"

#define MAX_STREAM (3 * 70000)
#define MAX_EVENTS 64

/* What the reader handed over, in the order it ended: a message (its bytes, whether binary)
 * at its last piece, or a control frame. */
struct event {
	int op; /* SB_WS_TEXT/BINARY for a message, or the control opcode */
	uint8_t *data;
	size_t len;
};

struct sink {
	struct event ev[MAX_EVENTS];
	int n;
	struct event cur; /* the message being pieced together */
	bool open;
	bool broken; /* a piece came out of order */
	int stop_on; /* a control opcode that stops the reading, or 0 */
};

static void push(struct sink *s, struct event e)
{
	if (s->n == MAX_EVENTS) {
		s->broken = true;
		free(e.data);
		return;
	}
	s->ev[s->n++] = e;
}

static void on_data(void *ctx, const uint8_t *p, size_t len, bool first, bool last, bool binary)
{
	struct sink *s = ctx;

	if (first == s->open) {
		s->broken = true;
		return;
	}
	if (first)
		s->cur = (struct event){binary ? SB_WS_BINARY : SB_WS_TEXT, NULL, 0};
	s->open = true;
	s->cur.data = realloc(s->cur.data, s->cur.len + len + 1);
	memcpy(s->cur.data + s->cur.len, p, len);
	s->cur.len += len;
	if (last) {
		push(s, s->cur);
		s->cur.data = NULL;
		s->open = false;
	}
}

static int on_control(void *ctx, enum sb_ws_opcode op, const uint8_t *p, size_t len)
{
	struct sink *s = ctx;
	struct event e = {(int)op, malloc(len + 1), len};

	memcpy(e.data, p, len);
	push(s, e);
	return (int)op == s->stop_on ? 7 : 0;
}

static const struct sb_ws_reader_ops OPS = {on_data, on_control};

static void sink_free(struct sink *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->ev[i].data);
	free(s->cur.data);
	memset(s, 0, sizeof(*s));
}

/* Appends an unmasked frame as a server sends it. */
static size_t frame(uint8_t *out, bool fin, int op, const uint8_t *p, size_t len)
{
	size_t n = 0;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (len < 126) {
		out[n++] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[n++] = 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 127;
		for (int s = 56; s >= 0; s -= 8)
			out[n++] = (uint8_t)((uint64_t)len >> s);
	}
	if (len)
		memcpy(out + n, p, len);
	return n + len;
}

static uint8_t payload[70000];

/* The stream and the events it must give. */
struct script {
	uint8_t stream[MAX_STREAM];
	size_t len;
	struct event want[MAX_EVENTS];
	int n;
};

static void want(struct script *sc, int op, size_t off, size_t len)
{
	sc->want[sc->n++] = (struct event){op, payload + off, len};
}

/* The payload, then messages of every shape; with big, lengths that need the 16- and 64-bit forms.
 */
static void build(struct script *sc, bool big)
{
	uint8_t *o = sc->stream;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + (i >> 9));

	sc->n = 0;
	n += frame(o + n, true, SB_WS_TEXT, payload, 5);
	want(sc, SB_WS_TEXT, 0, 5);
	n += frame(o + n, true, SB_WS_PING, payload + 10, 4);
	want(sc, SB_WS_PING, 10, 4);
	n += frame(o + n, true, SB_WS_BINARY, payload, 125);
	want(sc, SB_WS_BINARY, 0, 125);
	n += frame(o + n, true, SB_WS_TEXT, payload, 0);
	want(sc, SB_WS_TEXT, 0, 0);
	n += frame(o + n, true, SB_WS_TEXT, payload + 1, 126);
	want(sc, SB_WS_TEXT, 1, 126);
	/* fragmented: an empty first fragment, then two, then an empty last one */
	n += frame(o + n, false, SB_WS_BINARY, payload, 0);
	n += frame(o + n, false, SB_WS_CONTINUATION, payload + 3, 40);
	n += frame(o + n, false, SB_WS_CONTINUATION, payload + 43, 300);
	n += frame(o + n, true, SB_WS_CONTINUATION, payload, 0);
	want(sc, SB_WS_BINARY, 3, 340);
	n += frame(o + n, true, SB_WS_PONG, payload, 0);
	want(sc, SB_WS_PONG, 0, 0);
	/* control frames may come between the fragments of a message (§5.4) */
	n += frame(o + n, false, SB_WS_TEXT, payload + 7, 1);
	n += frame(o + n, true, SB_WS_PING, payload + 20, 125);
	want(sc, SB_WS_PING, 20, 125);
	n += frame(o + n, true, SB_WS_CONTINUATION, payload + 8, 2000);
	want(sc, SB_WS_TEXT, 7, 2001);
	if (big) {
		n += frame(o + n, true, SB_WS_BINARY, payload + 5, 65535);
		want(sc, SB_WS_BINARY, 5, 65535);
		n += frame(o + n, true, SB_WS_TEXT, payload + 2, 65536 + 1000);
		want(sc, SB_WS_TEXT, 2, 65536 + 1000);
	}
	n += frame(o + n, true, SB_WS_CLOSE, (const uint8_t *)"\x03\xe8", 2);
	sc->want[sc->n++] = (struct event){SB_WS_CLOSE, (uint8_t *)"\x03\xe8", 2};
	sc->len = n;
}

/* Feeds sc's stream in reads of the sizes cuts gives (cycled), and compares what came out. */
static int run(struct script *sc, const size_t *cuts, size_t n_cuts, const char **fail)
{
	struct sb_ws_reader rd;
	struct sink s = {0};
	const char *why = NULL;
	size_t at = 0, k = 0;
	int rc = 0;

	sb_ws_reader_init(&rd);
	*fail = NULL;
	while (at < sc->len && !rc) {
		size_t step = cuts[k++ % n_cuts];

		if (step > sc->len - at)
			step = sc->len - at;
		rc = sb_ws_reader_feed(&rd, sc->stream + at, step, &OPS, &s, &why);
		at += step;
	}
	if (rc != 0)
		*fail = why ? why : "the reading stopped";
	else if (s.broken)
		*fail = "a piece came out of order";
	else if (s.n != sc->n)
		*fail = "not as many events";
	for (int i = 0; !*fail && i < sc->n; i++)
		if (s.ev[i].op != sc->want[i].op || s.ev[i].len != sc->want[i].len ||
		    (s.ev[i].len && memcmp(s.ev[i].data, sc->want[i].data, s.ev[i].len)))
			*fail = "an event differs";
	sink_free(&s);
	return *fail ? -1 : 0;
}

TEST(every_cut_gives_the_same_messages)
{
	static struct script sc;
	const char *fail;
	int r = 0;

	build(&sc, false);
	/* one read, then every single place to cut it in two, then byte by byte */
	for (size_t cut = 1; cut <= sc.len; cut++) {
		size_t cuts[2] = {cut, sc.len};

		if (run(&sc, cuts, 2, &fail) < 0)
			FAIL_AT("cut at %zu of %zu: %s", cut, sc.len, fail);
	}
	if (run(&sc, (const size_t[]){1}, 1, &fail) < 0)
		FAIL_AT("byte by byte: %s", fail);
out:
	return r;
}

TEST(long_frames_in_reads_of_any_size)
{
	static struct script sc;
	const char *fail;
	int r = 0;

	build(&sc, true);
	srand(4242);
	for (int t = 0; t < 100; t++) {
		size_t cuts[16];

		for (int i = 0; i < 16; i++)
			cuts[i] = 1 + (size_t)rand() % (t < 20 ? 16 : 5000);
		if (run(&sc, cuts, 16, &fail) < 0)
			FAIL_AT("trial %d: %s", t, fail);
	}
	if (run(&sc, (const size_t[]){4096}, 1, &fail) < 0)
		FAIL_AT("reads of 4096: %s", fail);
out:
	return r;
}

TEST(close_stops_where_it_is)
{
	uint8_t stream[64];
	struct sb_ws_reader rd;
	struct sink s = {.stop_on = SB_WS_CLOSE};
	const char *why = NULL;
	size_t n = 0;
	int r = 0;

	n += frame(stream + n, true, SB_WS_TEXT, (const uint8_t *)"a", 1);
	n += frame(stream + n, true, SB_WS_CLOSE, NULL, 0);
	n += frame(stream + n, true, SB_WS_TEXT, (const uint8_t *)"b", 1);
	sb_ws_reader_init(&rd);
	ASSERT_EQ(sb_ws_reader_feed(&rd, stream, n, &OPS, &s, &why), 7);
	ASSERT_EQ(s.n, 2);
	ASSERT_EQ(s.ev[0].op, SB_WS_TEXT);
	ASSERT_EQ(s.ev[1].op, SB_WS_CLOSE);
out:
	sink_free(&s);
	return r;
}

TEST(protocol_breaches_refused)
{
	static const struct {
		uint8_t bytes[16];
		size_t len;
		const char *why;
	} bad[] = {
	        {{0x81, 0x81, 1, 2, 3, 4, 'x'}, 7, "masked"},
	        {{0xc1, 0x01, 'x'}, 3, "reserved"},
	        {{0x91, 0x01, 'x'}, 3, "reserved"},
	        {{0x83, 0x01, 'x'}, 3, "unknown opcode"},
	        {{0x8b, 0x00}, 2, "unknown opcode"},
	        {{0x09, 0x00}, 2, "fragmented control"},
	        {{0x89, 0x7e, 0x00, 0x7e}, 4, "over 125"},
	        {{0x80, 0x01, 'x'}, 3, "no message open"},
	        {{0x01, 0x01, 'x', 0x81, 0x01, 'y'}, 6, "inside a fragmented"},
	        {{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, "2^63"},
	};
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sb_ws_reader rd;
		struct sink s = {0};
		const char *why = NULL;
		int rc;

		sb_ws_reader_init(&rd);
		rc = sb_ws_reader_feed(&rd, bad[i].bytes, bad[i].len, &OPS, &s, &why);
		sink_free(&s);
		if (rc != -1 || !why || !strstr(why, bad[i].why))
			FAIL_AT("case %zu: %d, \"%s\" (want \"%s\")", i, rc, why ? why : "",
			        bad[i].why);
	}
out:
	return r;
}

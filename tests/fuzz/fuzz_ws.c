/* libFuzzer target for what a ws:// bot sends before and after the upgrade (ws_handshake.c,
 * ws_reader.c). The input, after two bytes that choose how it is cut into reads, is the
 * server's byte stream. Differential: the block reader, fed the stream in reads of sizes the
 * first two bytes make, must give the same completed messages and control frames, and stop or
 * refuse at the same place, as a whole-buffer decoder written here from RFC 6455 §5.2; and the
 * stream read as the upgrade's answer is accepted only with a head that fits in it.
 * Single-threaded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sb/ws_handshake.h>
#include <sb/ws_reader.h>

#include "fuzz_check.h"

#define MAX_EVENTS 256

struct events {
	int op[MAX_EVENTS];
	size_t len[MAX_EVENTS];
	uint32_t sum[MAX_EVENTS]; /* a checksum of the bytes */
	int n;
	bool open;
	uint32_t cur_sum;
	size_t cur_len;
	int cur_op;
};

static uint32_t mix(uint32_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void add(struct events *e, int op, size_t len, uint32_t sum)
{
	if (e->n < MAX_EVENTS) {
		e->op[e->n] = op;
		e->len[e->n] = len;
		e->sum[e->n] = sum;
	}
	e->n++;
}

static void on_data(void *ctx, const uint8_t *p, size_t len, bool first, bool last, bool binary)
{
	struct events *e = ctx;

	CHECK(first != e->open);
	if (first) {
		e->cur_sum = 2166136261u;
		e->cur_len = 0;
		e->cur_op = binary ? SB_WS_BINARY : SB_WS_TEXT;
	}
	e->open = !last;
	e->cur_sum = mix(e->cur_sum, p, len);
	e->cur_len += len;
	if (last)
		add(e, e->cur_op, e->cur_len, e->cur_sum);
}

static int on_control(void *ctx, enum sb_ws_opcode op, const uint8_t *p, size_t len)
{
	struct events *e = ctx;

	CHECK(len <= 125);
	add(e, (int)op, len, mix(2166136261u, p, len));
	return op == SB_WS_CLOSE ? 1 : 0;
}

/* The reference: the whole stream at once. Returns 0 (ran out), 1 (a close) or -1 (broken). */
static int reference(const uint8_t *p, size_t len, struct events *e)
{
	size_t at = 0;
	bool in_message = false;
	int msg_op = 0;
	uint32_t sum = 2166136261u;
	size_t mlen = 0;

	for (;;) {
		size_t h = 2, n;
		uint64_t plen;

		if (len - at < 2)
			return 0;
		plen = p[at + 1] & 0x7f;
		if (plen == 126)
			h += 2;
		else if (plen == 127)
			h += 8;
		if (p[at + 1] & 0x80)
			h += 4;
		if (len - at < h)
			return 0;
		int op = p[at] & 0x0f;
		bool fin = p[at] & 0x80;

		if ((p[at] & 0x70) || (p[at + 1] & 0x80))
			return -1;
		if (plen == 126) {
			plen = (uint64_t)p[at + 2] << 8 | p[at + 3];
		} else if (plen == 127) {
			plen = 0;
			for (int i = 2; i < 10; i++)
				plen = plen << 8 | p[at + i];
			if (plen >> 63)
				return -1;
		}
		if (op >= 8) {
			if (op > 10 || !fin || plen > 125)
				return -1;
		} else if (op == 0) {
			if (!in_message)
				return -1;
		} else if (op <= 2) {
			if (in_message)
				return -1;
			in_message = true;
			msg_op = op;
			sum = 2166136261u;
			mlen = 0;
		} else {
			return -1;
		}
		at += h;
		n = plen < len - at ? (size_t)plen : len - at;
		if (op >= 8) {
			if (n < plen)
				return 0;
			add(e, op, n, mix(2166136261u, p + at, n));
			at += n;
			if (op == SB_WS_CLOSE)
				return 1;
			continue;
		}
		sum = mix(sum, p + at, n);
		mlen += n;
		at += n;
		if (n < plen)
			return 0;
		if (fin) {
			add(e, msg_op, mlen, sum);
			in_message = false;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sb_ws_reader_ops ops = {on_data, on_control};
	struct events got = {0}, want = {0};
	struct sb_ws_reader r;
	const char *why = NULL;
	size_t at = 0, k = 0, head = 0;
	int rc = 0, want_rc, status;
	char whybuf[160];

	if (size < 2)
		return 0;
	unsigned a = data[0] % 64 + 1, b = data[1] * 17u + 1;
	data += 2;
	size -= 2;

	want_rc = reference(data, size, &want);
	sb_ws_reader_init(&r);
	while (at < size && rc == 0) {
		size_t step = k++ % 2 ? b : a;

		if (step > size - at)
			step = size - at;
		rc = sb_ws_reader_feed(&r, data + at, step, &ops, &got, &why);
		at += step;
	}
	CHECK(rc == want_rc);
	CHECK(rc >= 0 || why != NULL);
	CHECK(got.n == want.n);
	for (int i = 0; i < got.n && i < MAX_EVENTS; i++)
		CHECK(got.op[i] == want.op[i] && got.len[i] == want.len[i] &&
		      got.sum[i] == want.sum[i]);

	status = -1;
	rc = sb_ws_response_check((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", "chat",
	                          &head, &status, whybuf, sizeof(whybuf));
	CHECK(rc >= -1 && rc <= 1);
	CHECK(status >= 0 && status <= 999);
	if (rc == 1)
		CHECK(status == 101 && head >= 4 && head <= size && head <= SB_WS_HANDSHAKE_MAX &&
		      !memcmp(data + head - 4, "\r\n\r\n", 4));
	return 0;
}

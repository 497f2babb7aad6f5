/* Unit tests for ws_frame.c: masking a word at a time gives what the byte-wise rule of RFC 6455
 * §5.3 gives at every length and alignment; a built frame, read back by a decoder written from
 * §5.2, has FIN, the opcode, the mask bit, the length in the right one of its three forms, the
 * key, and the payload once unmasked, and nothing before its header is touched; the key pool
 * refills and does not repeat itself. */
#include <stdint.h>
#include <stdlib.h>

#include <sb/ws_frame.h>

#include "harness.h"

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* The payload byte i of any test buffer. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 8) * 7u + 1u);
}

TEST(mask_matches_bytewise_rule)
{
	uint8_t buf[64 + 8], want[sizeof(buf)];
	int r = 0;

	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= 64; len++) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = want[i] = pattern(i);
			for (size_t i = 0; i < len; i++)
				want[off + i] ^= KEY[i % 4];
			sb_ws_mask(buf + off, len, KEY);
			if (memcmp(buf, want, sizeof(buf)) != 0)
				FAIL_AT("offset %zu, length %zu: masked bytes differ", off, len);
			sb_ws_mask(buf + off, len, KEY);
			for (size_t i = 0; i < sizeof(buf); i++)
				ASSERT_EQ(buf[i], pattern(i));
		}
out:
	return r;
}

/* Reads the frame at f (n bytes) per RFC 6455 §5.2: -1 when it is not one masked final frame of
 * exactly n bytes; else its opcode, with the payload unmasked in place at *payload. */
static int decode(uint8_t *f, size_t n, uint8_t **payload, uint64_t *len, uint8_t key[4])
{
	size_t h = 2;

	if (n < 2 || !(f[0] & 0x80) || (f[0] & 0x70) || !(f[1] & 0x80))
		return -1;
	*len = f[1] & 0x7f;
	if (*len == 126) {
		*len = (uint64_t)f[2] << 8 | f[3];
		h = 4;
		if (*len < 126)
			return -1; /* not the shortest form */
	} else if (*len == 127) {
		*len = 0;
		for (int i = 0; i < 8; i++)
			*len = *len << 8 | f[2 + i];
		h = 10;
		if (*len <= 0xffff || *len >> 63)
			return -1;
	}
	memcpy(key, f + h, 4);
	h += 4;
	if (h + *len != n)
		return -1;
	*payload = f + h;
	for (uint64_t i = 0; i < *len; i++)
		(*payload)[i] ^= key[i % 4];
	return f[0] & 0x0f;
}

TEST(frame_lengths_opcodes_and_headroom)
{
	static const size_t lens[] = {0, 1, 7, 125, 126, 127, 1000, 65535, 65536, 70001};
	static const size_t hdr[] = {6, 6, 6, 6, 8, 8, 8, 8, 14, 14};
	const size_t guard = 16;
	uint8_t key[4], *payload;
	uint64_t len;
	int r = 0;

	for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
		for (int op = SB_WS_TEXT; op <= SB_WS_BINARY; op++) {
			uint8_t *buf = malloc(guard + SB_WS_FRAME_MAX_HEADER + lens[t]);
			uint8_t *p = buf + guard + SB_WS_FRAME_MAX_HEADER;
			size_t n;

			ASSERT_TRUE(buf != NULL);
			memset(buf, 0xa5, guard + SB_WS_FRAME_MAX_HEADER);
			for (size_t i = 0; i < lens[t]; i++)
				p[i] = pattern(i);
			n = sb_ws_frame_build(p, lens[t], (enum sb_ws_opcode)op, KEY);
			if (n != hdr[t])
				FAIL_AT("length %zu: header of %zu bytes, not %zu", lens[t], n,
				        hdr[t]);
			for (size_t i = 0; i < guard + SB_WS_FRAME_MAX_HEADER - n; i++)
				ASSERT_EQ(buf[i], 0xa5);
			if (lens[t] > 8 &&
			    memcmp(p, (uint8_t[]){pattern(0), pattern(1), pattern(2)}, 3) == 0)
				FAIL_AT("length %zu: the payload was not masked", lens[t]);
			ASSERT_EQ(decode(p - n, n + lens[t], &payload, &len, key), op);
			ASSERT_EQ(len, lens[t]);
			ASSERT_MEMEQ(key, KEY, 4);
			for (size_t i = 0; i < lens[t]; i++)
				if (payload[i] != pattern(i))
					FAIL_AT("length %zu: payload byte %zu differs", lens[t], i);
			free(buf);
		}
	}
out:
	return r;
}

TEST(keys_refill_and_do_not_repeat)
{
	struct sb_ws_keys k;
	uint8_t first[256][4], key[4];
	int r = 0, same = 0;

	sb_ws_keys_init(&k);
	for (int i = 0; i < 256; i++)
		ASSERT_EQ(sb_ws_keys_next(&k, first[i]), 0);
	ASSERT_EQ(k.pos, sizeof(k.buf)); /* 256 keys use up one pool */
	for (int i = 0; i < 256; i++) {
		ASSERT_EQ(sb_ws_keys_next(&k, key), 0);
		same += memcmp(key, first[i], 4) == 0;
	}
	ASSERT_EQ(k.pos, sizeof(k.buf));
	/* a second pool equal to the first, key for key, would mean no refill */
	ASSERT_TRUE(same < 4);
	for (int i = 1, distinct = 0; i < 256; i++) {
		distinct += memcmp(first[i], first[0], 4) != 0;
		if (i == 255)
			ASSERT_TRUE(distinct > 250);
	}
out:
	return r;
}

/* Unit tests for base64: RFC 4648 section 10 vectors, the whole alphabet, strict padding and
 * alphabet checks (a bad character at every place), buffer bounds, random round trips and a
 * bit-by-bit reference encoder.
 * Thread: the test's main thread. Owns its stack buffers. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <sb/base64.h>

#include "harness.h"

static const struct {
	const char *plain;
	const char *enc;
} rfc4648[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
};

TEST(base64_rfc4648_vectors)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const char *p = rfc4648[i].plain, *e = rfc4648[i].enc;
		char out[16];
		uint8_t dec[16];

		ASSERT_EQ(SB_BASE64_ENCODED_LEN(strlen(p)), strlen(e));
		ASSERT_EQ(sb_base64_encode((const uint8_t *)p, strlen(p), out, sizeof(out)),
		          strlen(e));
		ASSERT_STREQ(out, e);
		ASSERT_EQ(sb_base64_decode(e, strlen(e), dec, sizeof(dec)), strlen(p));
		ASSERT_MEMEQ(dec, p, strlen(p));
	}
out:
	return r;
}

TEST(base64_whole_alphabet)
{
	int r = 0;
	/* Bytes whose encoding is the alphabet in order (computed independently). */
	static const uint8_t bytes[] = {
	        0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30, 0xd3, 0x8f,
	        0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f,
	        0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf,
	        0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf,
	};
	static const char alpha[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[128];
	uint8_t dec[64];

	ASSERT_EQ(sb_base64_encode(bytes, sizeof(bytes), out, sizeof(out)), 64);
	ASSERT_STREQ(out, alpha);
	ASSERT_EQ(sb_base64_decode(alpha, 64, dec, sizeof(dec)), sizeof(bytes));
	ASSERT_MEMEQ(dec, bytes, sizeof(bytes));
out:
	return r;
}

TEST(base64_decode_rejects)
{
	/* Lengths are multiples of 4 unless the case is about the length. */
	static const char *const bad[] = {
	        "Zg=",      "Zg",    "Z",       "Zm9vY",         /* length */
	        "Zm9 ",     "Zg=\n", "\tZm9",                    /* whitespace */
	        "Zg==Zg==", "Z===",  "====",    "=Zg=",  "Zm=v", /* padding misplaced */
	        "Zm9-",     "Zm9_",  "Zm9\x80",                  /* outside the standard alphabet */
	        "Zm\0v",                                         /* NUL, length 4 */
	};
	int r = 0;
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = i == sizeof(bad) / sizeof(bad[0]) - 1 ? 4 : strlen(bad[i]);

		if (sb_base64_decode(bad[i], n, dec, sizeof(dec)) != -EINVAL)
			FAIL_AT("accepted \"%s\"", bad[i]);
	}
	ASSERT_EQ(sb_base64_decode("", 0, dec, 0), 0);
out:
	return r;
}

TEST(base64_bounds)
{
	int r = 0;
	char out[9];
	uint8_t dec[6];
	const uint8_t in[6] = {1, 2, 3, 4, 5, 6};

	/* 6 bytes → 8 characters + NUL: 9 bytes needed exactly. */
	ASSERT_EQ(sb_base64_encode(in, 6, out, 8), -ENOSPC);
	ASSERT_EQ(sb_base64_encode(in, 6, out, 9), 8);
	ASSERT_EQ(sb_base64_encode(in, 0, out, 0), -ENOSPC);
	ASSERT_EQ(sb_base64_encode(in, 0, out, 1), 0);
	ASSERT_EQ(out[0], '\0');
	ASSERT_EQ(sb_base64_decode("AQIDBAUG", 8, dec, 5), -ENOSPC);
	ASSERT_EQ(sb_base64_decode("AQIDBAUG", 8, dec, 6), 6);
	ASSERT_MEMEQ(dec, in, 6);
	/* Padding shrinks what is needed: "AQID BA==" is 4 bytes. */
	ASSERT_EQ(sb_base64_decode("AQIDBA==", 8, dec, 4), 4);
	ASSERT_EQ(sb_base64_decode("AQIDBAU=", 8, dec, 4), -ENOSPC);
out:
	return r;
}

static uint32_t rng_state = 0x12345678;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

TEST(base64_random_round_trips)
{
	int r = 0;
	uint8_t in[700], dec[700];
	char enc[SB_BASE64_ENCODED_LEN(700) + 1];

	for (int iter = 0; iter < 3000; iter++) {
		size_t n = rnd() % sizeof(in);
		int e;

		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rnd();
		e = sb_base64_encode(in, n, enc, sizeof(enc));
		ASSERT_EQ(e, SB_BASE64_ENCODED_LEN(n));
		ASSERT_EQ(strlen(enc), (size_t)e);
		ASSERT_EQ(sb_base64_decode(enc, (size_t)e, dec, sizeof(dec)), n);
		ASSERT_MEMEQ(dec, in, n);
	}
out:
	return r;
}

/* RFC 4648 read literally: the input as a string of bits, six at a time, zero bits added at
 * the end, '=' up to a multiple of four characters. */
static size_t reference_encode(const uint8_t *in, size_t n, char *out)
{
	static const char alpha[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t bits = n * 8, o = 0;

	for (size_t b = 0; b < bits; b += 6) {
		unsigned v = 0;

		for (size_t k = b; k < b + 6; k++)
			v = v << 1 | (k < bits ? (in[k / 8] >> (7 - k % 8)) & 1u : 0u);
		out[o++] = alpha[v];
	}
	while (o % 4)
		out[o++] = '=';
	out[o] = '\0';
	return o;
}

TEST(base64_matches_the_bitwise_reference)
{
	int r = 0;
	uint8_t in[700], dec[700];
	char enc[SB_BASE64_ENCODED_LEN(700) + 1], ref[SB_BASE64_ENCODED_LEN(700) + 1];

	for (int iter = 0; iter < 2000; iter++) {
		size_t n = iter < 64 ? (size_t)iter : rnd() % sizeof(in);
		size_t len;

		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rnd();
		len = reference_encode(in, n, ref);
		ASSERT_EQ(sb_base64_encode(in, n, enc, sizeof(enc)), len);
		ASSERT_STREQ(enc, ref);
		/* Decoding the reference's text (not the encoder's) gives the input back. */
		ASSERT_EQ(sb_base64_decode(ref, len, dec, sizeof(dec)), n);
		ASSERT_MEMEQ(dec, in, n);
	}
out:
	return r;
}

TEST(base64_decode_rejects_a_bad_character_anywhere)
{
	int r = 0;
	static const uint8_t in[20] = {0xde, 0xad, 0xbe, 0xef, 1,  2,  3,  4,  5,  6,
	                               7,    8,    9,    10,   11, 12, 13, 14, 15, 16};
	char good[SB_BASE64_ENCODED_LEN(20) + 1], bad[sizeof(good)];
	uint8_t dec[32];
	int len = sb_base64_encode(in, sizeof(in), good, sizeof(good));

	/* 20 bytes: 28 characters, the last quantum with one '='. */
	ASSERT_EQ(len, 28);
	ASSERT_EQ(good[27], '=');
	for (int pos = 0; pos < len; pos++)
		for (unsigned c = 0; c < 256; c++) {
			bool in_alphabet = c != '=' && sb_base64_chars[c];

			/* Characters of the alphabet, which decode to other bytes, and '=' where
			 * it makes a shorter, valid tail ("xx=="). */
			if (in_alphabet || (pos >= 26 && c == '='))
				continue;
			memcpy(bad, good, sizeof(good));
			bad[pos] = (char)c;
			if (sb_base64_decode(bad, (size_t)len, dec, sizeof(dec)) != -EINVAL)
				FAIL_AT("accepted byte 0x%02x at %d", c, pos);
		}
	/* And the text unchanged still decodes. */
	ASSERT_EQ(sb_base64_decode(good, (size_t)len, dec, sizeof(dec)), sizeof(in));
	ASSERT_MEMEQ(dec, in, sizeof(in));
out:
	return r;
}

/* Longer texts than the test above, so that a bad character falls in every place of the
 * decoder's sixteen-character steps, of the quanta after them and of the last quantum: 58
 * bytes (80 characters, "xx==" at the end) and 62 (84, "xxx="). Every byte outside the
 * alphabet, and '=' before the tail, must be refused. */
TEST(base64_decode_rejects_a_bad_character_in_long_texts)
{
	int r = 0;
	uint8_t in[62], dec[64];
	char good[SB_BASE64_ENCODED_LEN(62) + 1], bad[sizeof(good)];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)rnd();
	for (size_t n = 58; n <= 62; n += 4) {
		int len = sb_base64_encode(in, n, good, sizeof(good));

		ASSERT_EQ(len, n == 58 ? 80 : 84);
		/* "xx==" and "xxx=": '=' in either of the last two places is a valid tail. */
		ASSERT_EQ(good[len - 2] == '=', n % 3 == 1);
		ASSERT_EQ(good[len - 1], '=');
		for (int pos = 0; pos < len; pos++)
			for (unsigned c = 0; c < 256; c++) {
				if ((c != '=' && sb_base64_chars[c]) ||
				    (c == '=' && pos >= len - 2))
					continue;
				memcpy(bad, good, sizeof(good));
				bad[pos] = (char)c;
				if (sb_base64_decode(bad, (size_t)len, dec, sizeof(dec)) != -EINVAL)
					FAIL_AT("accepted byte 0x%02x at %d of %d", c, pos, len);
			}
		ASSERT_EQ(sb_base64_decode(good, (size_t)len, dec, sizeof(dec)), n);
		ASSERT_MEMEQ(dec, in, n);
	}
out:
	return r;
}

/* Decoding into exactly the room the text needs, for every length up to 200 bytes (heap
 * buffers of that size, so that a write past them is a sanitizer's error), and encoding into
 * exactly the room its text needs. */
TEST(base64_exact_room)
{
	int r = 0;
	uint8_t in[200];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)rnd();
	for (size_t n = 1; n <= sizeof(in); n++) {
		char *enc = malloc(SB_BASE64_ENCODED_LEN(n) + 1);
		uint8_t *dec = malloc(n);
		long got;

		ASSERT_TRUE(enc && dec);
		ASSERT_EQ(sb_base64_encode(in, n, enc, SB_BASE64_ENCODED_LEN(n) + 1),
		          SB_BASE64_ENCODED_LEN(n));
		got = sb_base64_decode(enc, SB_BASE64_ENCODED_LEN(n), dec, n);
		if (got != (long)n || memcmp(dec, in, n))
			FAIL_AT("length %zu: %ld", n, got);
		free(enc);
		free(dec);
	}
out:
	return r;
}

/* sb_base64_span against the alphabet written out: every byte at every place of texts from 0 to
 * 50 characters (three blocks of sixteen and a tail), each place cycling through the alphabet
 * so that every character meets every lane; and never a character past n: the text is a heap
 * block of exactly n bytes (a read past it is a sanitizer's error), copied from a longer run of
 * the alphabet that would go on being counted. */
TEST(base64_span_finds_the_first_byte_outside_the_alphabet)
{
	int r = 0;
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
	char run[64], *text = NULL;

	for (size_t len = 0; len <= 50; len++) {
		for (size_t shift = 0; shift < sizeof(alphabet) - 1; shift += 13) {
			for (size_t i = 0; i < sizeof(run); i++)
				run[i] = alphabet[(i + shift) % (sizeof(alphabet) - 1)];
			free(text);
			text = malloc(len ? len : 1);
			ASSERT_TRUE(text != NULL);
			memcpy(text, run, len);
			ASSERT_EQ(sb_base64_span(text, len), len);
			/* the alphabet goes on after n, and is not counted */
			ASSERT_EQ(sb_base64_span(run, len), len);
			for (size_t pos = 0; pos < len; pos++) {
				char keep = text[pos];

				for (unsigned c = 0; c < 256; c++) {
					bool in =
					        c && memchr(alphabet, (int)c, sizeof(alphabet) - 1);

					text[pos] = (char)c;
					if (sb_base64_span(text, len) != (in ? len : pos))
						FAIL_AT("byte 0x%02x at %zu of %zu: %zu", c, pos,
						        len, sb_base64_span(text, len));
				}
				text[pos] = keep;
			}
		}
	}
out:
	free(text);
	return r;
}

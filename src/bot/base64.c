/* Base64 (RFC 4648, standard alphabet, padded) for bot media payloads.
 * Pure. Thread: any (the ws threads encode caller audio and decode bot audio).
 * Owns nothing: constant tables, the larger ones built on first use under pthread_once and
 * read-only after, with whether the processor has SSSE3. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <sb/base64.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* The encoder's and decoder's SSSE3 loops, taken where the processor has SSSE3 (every x86-64
 * processor since 2006; the build itself targets the baseline). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SB_BASE64_SSSE3 1
#include <tmmintrin.h>
#endif

/* 1 for the alphabet and '=', 0 for every other byte. */
const uint8_t sb_base64_chars[256] = {
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
        ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
        ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
        ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
        ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
        ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
        ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
        ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['+'] = 1, ['/'] = 1,
        ['='] = 1};

/* DESIGN: the scanners of bot media (the daemon's json_media.c and the test bot's) find the
 * end of every payload with this: 2136 characters for 100 ms at 8 kHz. A table lookup a byte
 * with a branch took about 1.4 us a message, three times the decode; sixteen bytes compared at
 * once take about 0.2. */
size_t sb_base64_span(const char *p, size_t n)
{
	size_t i = 0;

#ifdef __SSE2__
	/* A byte is in the alphabet if (b | 0x20) - 'a' <= 25 (both cases), b - '0' <= 9, or it
	 * is '+', '/' or '='; unsigned x <= k is min(x, k) == x. */
	const __m128i to_lower = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'),
	              letters = _mm_set1_epi8(25), zero = _mm_set1_epi8('0'),
	              digits = _mm_set1_epi8(9), plus = _mm_set1_epi8('+'),
	              slash = _mm_set1_epi8('/'), pad = _mm_set1_epi8('=');

	for (; i + 16 <= n; i += 16) {
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i l = _mm_sub_epi8(_mm_or_si128(b, to_lower), a);
		__m128i d = _mm_sub_epi8(b, zero);
		__m128i ok = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, letters), l),
		                          _mm_cmpeq_epi8(_mm_min_epu8(d, digits), d));
		unsigned bad;

		ok = _mm_or_si128(ok, _mm_or_si128(_mm_cmpeq_epi8(b, plus),
		                                   _mm_or_si128(_mm_cmpeq_epi8(b, slash),
		                                                _mm_cmpeq_epi8(b, pad))));
		bad = ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
		if (bad)
			return i + (size_t)__builtin_ctz(bad);
	}
#endif
	while (i < n && sb_base64_chars[(unsigned char)p[i]])
		i++;
	return i;
}

static const char enc_tab[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Every 12-bit value as its two characters, in memory order: a quantum of three bytes is two
 * lookups and two stores instead of four of each (8 KiB). */
static uint16_t enc_pair[4096];

/* The value of a character at each of the four places of a quantum, shifted into place; a
 * character outside the alphabet (and '=', handled apart) sets BAD, above the 24 bits a
 * quantum decodes to, so one test per quantum finds it (4 KiB). */
#define BAD 0x01000000u
static uint32_t dec_at[4][256];

static pthread_once_t tab_once = PTHREAD_ONCE_INIT;
#ifdef SB_BASE64_SSSE3
static bool use_ssse3;
#endif

static void build_tables(void)
{
#ifdef SB_BASE64_SSSE3
	__builtin_cpu_init();
	use_ssse3 = __builtin_cpu_supports("ssse3");
#endif
	for (unsigned v = 0; v < 4096; v++) {
		const char pair[2] = {enc_tab[v >> 6], enc_tab[v & 63]};

		memcpy(&enc_pair[v], pair, 2);
	}
	for (unsigned k = 0; k < 4; k++)
		for (unsigned c = 0; c < 256; c++)
			dec_at[k][c] = BAD;
	for (unsigned d = 0; d < 64; d++)
		for (unsigned k = 0; k < 4; k++)
			dec_at[k][(unsigned char)enc_tab[d]] = (uint32_t)d << (18 - 6 * k);
}

#ifdef SB_BASE64_SSSE3
/* DESIGN: a ws thread encodes every message of caller audio (1600 bytes for 100 ms at 8 kHz)
 * and decodes every message of bot audio: with tables, 0.62 and 0.43 us a message, the larger
 * part of a message's own work. Sixteen characters a step (W. Mula and D. Lemire, "Faster Base64
 * Encoding and Decoding Using AVX2 Instructions", 2018, in its 128-bit form) take about a
 * quarter of that. */

/* Encodes twelve bytes into sixteen characters a step while sixteen can be read. Returns the
 * bytes it took, a multiple of 12. */
__attribute__((target("ssse3"))) static size_t encode_ssse3(const uint8_t *in, size_t n, char *out)
{
	/* Each 32-bit lane gets bytes 1, 0, 2, 1 of its three, so that multiplies move each
	 * 6-bit value into a byte of its own. */
	const __m128i spread = _mm_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
	/* Added to a value by its range: 0-25 'A', 26-51 'a', 52-61 '0', 62 '+', 63 '/'. */
	const __m128i offset = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
	                                     '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
	                                     '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
	size_t i = 0, o = 0;

	for (; i + 16 <= n; i += 12, o += 16) {
		__m128i v = _mm_shuffle_epi8(
		        _mm_loadu_si128((const __m128i *)(const void *)(in + i)), spread);
		__m128i hi = _mm_mulhi_epu16(_mm_and_si128(v, _mm_set1_epi32(0x0fc0fc00)),
		                             _mm_set1_epi32(0x04000040));
		__m128i lo = _mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi32(0x003f03f0)),
		                             _mm_set1_epi32(0x01000010));
		__m128i six = _mm_or_si128(hi, lo);
		/* The range: 1-12 for 52-63, 0 for 26-51, and 13 for 0-25. */
		__m128i range = _mm_subs_epu8(six, _mm_set1_epi8(51));

		range = _mm_or_si128(range, _mm_and_si128(_mm_cmpgt_epi8(_mm_set1_epi8(26), six),
		                                          _mm_set1_epi8(13)));
		_mm_storeu_si128((__m128i *)(void *)(out + o),
		                 _mm_add_epi8(_mm_shuffle_epi8(offset, range), six));
	}
	return i;
}

/* Decodes sixteen characters into twelve bytes a step while room has sixteen. Returns the
 * characters it took, a multiple of 16, or SIZE_MAX at a character outside the alphabet
 * (or '='). */
__attribute__((target("ssse3"))) static size_t decode_ssse3(const char *in, size_t n, uint8_t *out,
                                                            size_t room)
{
	/* A character is outside the alphabet when the bits its low nibble selects here and its
	 * high nibble below have one in common. */
	const __m128i bad_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	                                     0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
	const __m128i bad_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10,
	                                     0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	/* Added to a character by its high nibble (index 1 for '/'): its value. */
	const __m128i shift =
	        _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
	/* Each lane's 24 bits, most significant byte first, packed into twelve bytes. */
	const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	const __m128i nibble = _mm_set1_epi8(0x0f), slash = _mm_set1_epi8('/');
	size_t i = 0, o = 0;

	for (; i + 16 <= n && o + 16 <= room; i += 16, o += 12) {
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		__m128i hn = _mm_and_si128(_mm_srli_epi32(c, 4), nibble);
		__m128i bad = _mm_and_si128(_mm_shuffle_epi8(bad_lo, _mm_and_si128(c, nibble)),
		                            _mm_shuffle_epi8(bad_hi, hn));

		if (_mm_movemask_epi8(_mm_cmpeq_epi8(bad, _mm_setzero_si128())) != 0xffff)
			return SIZE_MAX;
		c = _mm_add_epi8(
		        c, _mm_shuffle_epi8(shift, _mm_add_epi8(_mm_cmpeq_epi8(c, slash), hn)));
		/* Pairs of 6-bit values into 12 bits, pairs of those into 24. */
		c = _mm_madd_epi16(_mm_maddubs_epi16(c, _mm_set1_epi32(0x01400140)),
		                   _mm_set1_epi32(0x00011000));
		_mm_storeu_si128((__m128i *)(void *)(out + o), _mm_shuffle_epi8(c, pack));
	}
	return i;
}
#endif

int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	/* The length must be representable both in size_t and in the int we return. */
	if (n > (size_t)INT_MAX / 4 * 3 || size < SB_BASE64_ENCODED_LEN(n) + 1)
		return -ENOSPC;

	pthread_once(&tab_once, build_tables);
	i = 0;
#ifdef SB_BASE64_SSSE3
	if (use_ssse3) {
		i = encode_ssse3(in, n, out);
		o = i / 3 * 4;
	}
#endif
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		memcpy(out + o, &enc_pair[v >> 12], 2);
		memcpy(out + o + 2, &enc_pair[v & 4095], 2);
		o += 4;
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = enc_tab[v >> 18];
		out[o++] = enc_tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? enc_tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

/* The bytes of v, most significant first, as a word to store. */
static inline uint32_t big_endian(uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(v);
#else
	return v;
#endif
}

static uint32_t quantum_value(const char *q)
{
	return dec_at[0][(unsigned char)q[0]] | dec_at[1][(unsigned char)q[1]] |
	       dec_at[2][(unsigned char)q[2]] | dec_at[3][(unsigned char)q[3]];
}

long sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t size)
{
	unsigned pad = 0;
	size_t need, o = 0, last, i;
	uint32_t v, bad = 0;
	char tail[4];

	if (n % 4)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	need = n / 4 * 3 - pad;
	if (need > size)
		return -ENOSPC;

	pthread_once(&tab_once, build_tables);
	/* Every quantum but the last gives three bytes and is followed by at least one more, so
	 * its value is stored as four bytes, the fourth overwritten by the next. '=' anywhere but
	 * the tail of the last quantum is outside the tables' alphabet. */
	last = n - 4;
	i = 0;
#ifdef SB_BASE64_SSSE3
	if (use_ssse3) {
		i = decode_ssse3(in, last, out, need);
		if (i == SIZE_MAX)
			return -EINVAL;
		o = i / 4 * 3;
	}
#endif
	for (; i < last; i += 4) {
		v = quantum_value(in + i);
		bad |= v;
		v = big_endian(v << 8);
		memcpy(out + o, &v, 4);
		o += 3;
	}
	/* The last quantum, its '=' read as 'A' (zero bits). */
	memcpy(tail, in + last, 4);
	for (unsigned k = 4 - pad; k < 4; k++)
		tail[k] = 'A';
	v = quantum_value(tail);
	if ((bad | v) & BAD)
		return -EINVAL;
	out[o++] = (uint8_t)(v >> 16);
	if (pad < 2)
		out[o++] = (uint8_t)(v >> 8);
	if (pad < 1)
		out[o++] = (uint8_t)v;
	return (long)o;
}

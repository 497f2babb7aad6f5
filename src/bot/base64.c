/* Base64 (RFC 4648, standard alphabet, padded) for bot media payloads.
 * Pure. Thread: any (the ws threads encode caller audio and decode bot audio).
 * Owns nothing: constant tables, the larger ones built on first use under pthread_once and
 * read-only after. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <sb/base64.h>

#ifdef __SSE2__
#include <emmintrin.h>
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
 * end of every payload with this, over about 4.3 KB a message at 100 ms a message. A table
 * lookup a byte with a branch took 2.6 us a message, three times the decode; sixteen bytes
 * compared at once take about 0.3. */
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

static void build_tables(void)
{
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

int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	/* The length must be representable both in size_t and in the int we return. */
	if (n > (size_t)INT_MAX / 4 * 3 || size < SB_BASE64_ENCODED_LEN(n) + 1)
		return -ENOSPC;

	pthread_once(&tab_once, build_tables);
	for (i = 0; i + 3 <= n; i += 3) {
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
	size_t need, o = 0, last;
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
	for (size_t i = 0; i < last; i += 4) {
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

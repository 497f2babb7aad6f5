/* Base64 (RFC 4648, standard alphabet, padded) for bot media payloads.
 * Pure. Thread: any (the ws threads encode caller audio and decode bot audio).
 * Owns nothing: two constant tables. */
#include <errno.h>
#include <limits.h>

#include <sb/base64.h>

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

static const char enc_tab[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Holds value + 1, so that the zero of every unlisted byte marks it as outside the alphabet;
 * '=' is handled separately. */
static const uint8_t dec_tab[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
        ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
        ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
        ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
        ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
        ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
        ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
        ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
        ['/'] = 64};

int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	/* The length must be representable both in size_t and in the int we return. */
	if (n > (size_t)INT_MAX / 4 * 3 || size < SB_BASE64_ENCODED_LEN(n) + 1)
		return -ENOSPC;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = enc_tab[v >> 18];
		out[o++] = enc_tab[(v >> 12) & 63];
		out[o++] = enc_tab[(v >> 6) & 63];
		out[o++] = enc_tab[v & 63];
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

/* Decodes one quantum of four characters, of which the last `pad` are '='. */
static int quantum(const char *q, unsigned pad, uint8_t *out)
{
	uint32_t v = 0;

	for (unsigned k = 0; k < 4; k++) {
		uint8_t d = k < 4 - pad ? dec_tab[(unsigned char)q[k]] : 1;

		if (d == 0)
			return -EINVAL;
		v = v << 6 | (uint32_t)(d - 1);
	}
	out[0] = v >> 16;
	if (pad < 2)
		out[1] = v >> 8;
	if (pad < 1)
		out[2] = v;
	return 3 - (int)pad;
}

long sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t size)
{
	unsigned pad = 0;
	size_t need, o = 0;

	if (n % 4)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	need = n / 4 * 3 - pad;
	if (need > size)
		return -ENOSPC;

	for (size_t i = 0; i < n; i += 4) {
		/* '=' anywhere but the tail of the last quantum is rejected by the table. */
		int r = quantum(in + i, i + 4 == n ? pad : 0, out + o);

		if (r < 0)
			return r;
		o += (size_t)r;
	}
	return (long)o;
}

/* A pass over libconfig text before libconfig reads it: libconfig 1.5 reads an integer
 * literal without the L suffix through atoi() (a hex one through a cast to int), so
 * 4294967297 silently becomes 1. Every integer literal outside the 32-bit range gets its L
 * here, so libconfig reads it as 64 bits and the schema's range check reports it like any
 * other bad value; a literal outside 64 bits is an error of its own. Comments, strings and
 * names are skipped the way libconfig's scanner skips them. Pure. Thread: any. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

struct lex {
	const char *p, *end;
	unsigned line;
	char *out; /* the copy being written; one extra byte per widened literal */
	size_t n;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || is_digit(c) || c == '-' || c == '_';
}

/* Copies text up to q, counting lines. */
static void copy_to(struct lex *x, const char *q)
{
	for (; x->p < q; x->p++) {
		if (*x->p == '\n')
			x->line++;
		x->out[x->n++] = *x->p;
	}
}

/* Skips a comment or a string starting at x->p; returns false when there is none. */
static bool skip_opaque(struct lex *x)
{
	const char *p = x->p, *q;

	if (*p == '#' || (*p == '/' && p + 1 < x->end && p[1] == '/')) {
		q = memchr(p, '\n', (size_t)(x->end - p));
		copy_to(x, q ? q : x->end);
		return true;
	}
	if (*p == '/' && p + 1 < x->end && p[1] == '*') {
		for (q = p + 2; q + 1 < x->end && !(q[0] == '*' && q[1] == '/'); q++)
			;
		copy_to(x, q + 1 < x->end ? q + 2 : x->end);
		return true;
	}
	if (*p == '"') {
		for (q = p + 1; q < x->end && *q != '"'; q++)
			if (*q == '\\' && q + 1 < x->end)
				q++;
		copy_to(x, q < x->end ? q + 1 : x->end);
		return true;
	}
	return false;
}

/* Value of the digits [p, q) in base 10 or 16; false when it does not fit in 64 bits. */
static bool value_of(const char *p, const char *q, unsigned base, uint64_t *v)
{
	*v = 0;
	for (; p < q; p++) {
		unsigned d =
		        is_digit(*p) ? (unsigned)(*p - '0') : (unsigned)((*p | 0x20) - 'a' + 10);

		if (*v > (UINT64_MAX - d) / base)
			return false;
		*v = *v * base + d;
	}
	return true;
}

/* End of a float's digits, fraction and exponent starting at p. */
static const char *float_end(const char *p, const char *end)
{
	while (p < end && is_digit(*p))
		p++;
	if (p < end && *p == '.')
		for (p++; p < end && is_digit(*p); p++)
			;
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *e = p + 1;

		if (e < end && (*e == '+' || *e == '-'))
			e++;
		if (e < end && is_digit(*e))
			for (p = e; p < end && is_digit(*p); p++)
				;
	}
	return p;
}

/* A number starting at x->p (a digit, or a sign or '.' before one). Floats are copied as they
 * are; an integer too wide for libconfig's 32-bit reading gets an L. */
static int number(struct lex *x, char *err, size_t errlen, const char *name)
{
	const char *p = x->p, *digits, *q;
	bool sign = *p == '+' || *p == '-', neg = *p == '-', hex = false, wide;
	uint64_t v;

	if (sign)
		p++;
	if (!sign && p + 2 < x->end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && is_hex(p[2]))
		hex = true, p += 2;
	digits = p;
	while (p < x->end && (hex ? is_hex(*p) : is_digit(*p)))
		p++;
	q = p;
	if (!hex && (q == digits || (q < x->end && (*q == '.' || *q == 'e' || *q == 'E')))) {
		copy_to(x, float_end(digits, x->end)); /* a float: libconfig reads it as a double */
		return 0;
	}
	if (!value_of(digits, q, hex ? 16 : 10, &v) || v > (uint64_t)INT64_MAX + neg) {
		snprintf(err, errlen, "%s:%u: integer %.*s does not fit in 64 bits", name, x->line,
		         (int)(q - x->p > 40 ? 40 : q - x->p), x->p);
		return -EINVAL;
	}
	copy_to(x, q);
	/* libconfig reads decimal through atoi and hex through a cast to int. */
	wide = hex ? v > INT32_MAX : v > (uint64_t)INT32_MAX + neg;
	if (wide && !(q < x->end && *q == 'L'))
		x->out[x->n++] = 'L';
	return 0;
}

int sb_config_widen_ints(const char *text, const char *name, char **out, char *err, size_t errlen)
{
	size_t len = strlen(text);
	struct lex x = {.p = text, .end = text + len, .line = 1};
	bool line_start = true;
	int r = 0;

	/* At most one L per two bytes of input ("1 1 1 ..."). */
	x.out = malloc(len + len / 2 + 2);
	if (!x.out)
		return -ENOMEM;
	while (r == 0 && x.p < x.end) {
		char c = *x.p;

		if (line_start && c == '@') {
			snprintf(err, errlen,
			         "%s:%u: @include is not supported: keep every setting in one file",
			         name, x.line);
			r = -EINVAL;
		} else if (skip_opaque(&x)) {
			line_start = false;
		} else if (is_name_start(c)) {
			const char *q = x.p;

			while (q < x.end && is_name_char(*q))
				q++;
			copy_to(&x, q);
			line_start = false;
		} else if (is_digit(c) || ((c == '-' || c == '+' || c == '.') && x.p + 1 < x.end &&
		                           is_digit(x.p[1]))) {
			r = number(&x, err, errlen, name);
			line_start = false;
		} else {
			if (c == '\n')
				line_start = true;
			else if (c != ' ' && c != '\t' && c != '\r')
				line_start = false;
			copy_to(&x, x.p + 1);
		}
	}
	if (r < 0) {
		free(x.out);
		return r;
	}
	x.out[x.n] = '\0';
	*out = x.out;
	return 0;
}

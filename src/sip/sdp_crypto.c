/* SDES a=crypto (RFC 4568 9.1): one line's value parsed strictly (a line that is not exactly
 * right is not used), our line written, and rtp.srtp applied to an offer. Key bytes are
 * never logged or returned in an error. Pure. Thread: any (control in practice). Owns
 * nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/base64.h>
#include <sb/sdp_crypto.h>

#define KEY_B64_LEN SB_BASE64_ENCODED_LEN(SB_SRTP_KEY_BYTES) /* 40: 30 bytes need no '=' */
#define MAX_LIFETIME_POW 48                                  /* 2^48 packets: libsrtp's limit */
#define MAX_LIFETIME_DIGITS 15                               /* a decimal lifetime below 2^48 */
#define MAX_MKI_LEN 128                                      /* bytes of an MKI field (RFC 4568) */

static const struct {
	const char *name;
	enum sb_srtp_suite suite;
} suites[] = {
        {"AES_CM_128_HMAC_SHA1_80", SB_SRTP_AES_CM_128_HMAC_SHA1_80},
        {"AES_CM_128_HMAC_SHA1_32", SB_SRTP_AES_CM_128_HMAC_SHA1_32},
};

static size_t digits(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && *q >= '0' && *q <= '9')
		q++;
	return (size_t)(q - p);
}

static size_t blanks(const char *p)
{
	return strspn(p, " \t");
}

/* An unsigned decimal of n (1-20) digits in [min, max]. */
static bool number(const char *p, size_t n, unsigned long long min, unsigned long long max,
                   unsigned long long *v)
{
	char buf[24];

	if (n == 0 || n > 20)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	*v = strtoull(buf, NULL, 10);
	return *v >= min && *v <= max;
}

/* "2^N" or a decimal count of packets. */
static bool lifetime_ok(const char *p, const char *end)
{
	unsigned long long v;

	if (end - p > 2 && p[0] == '2' && p[1] == '^')
		return digits(p + 2, end) == (size_t)(end - p - 2) &&
		       number(p + 2, (size_t)(end - p - 2), 1, MAX_LIFETIME_POW, &v);
	return digits(p, end) == (size_t)(end - p) && (size_t)(end - p) <= MAX_LIFETIME_DIGITS &&
	       number(p, (size_t)(end - p), 1, ~0ull, &v);
}

/* "value:length" (length 1-128 bytes, the value fitting in it). -ENOTSUP: longer than we
 * take. */
static int mki_parse(const char *p, const char *end, struct sb_srtp_key *k)
{
	size_t nv = digits(p, end), nl;
	unsigned long long value, len;

	if (!nv || p + nv >= end || p[nv] != ':')
		return -EBADMSG;
	nl = digits(p + nv + 1, end);
	if (!nl || p + nv + 1 + nl != end || !number(p + nv + 1, nl, 1, MAX_MKI_LEN, &len))
		return -EBADMSG;
	if (len > SB_SRTP_MKI_MAX)
		return -ENOTSUP;
	if (!number(p, nv, 0, len >= 8 ? ~0ull : (1ull << (8 * len)) - 1, &value))
		return -EBADMSG;
	k->mki_len = (uint8_t)len;
	for (unsigned i = 0; i < len; i++)
		k->mki[i] = (uint8_t)(value >> (8 * (len - 1 - i)));
	return 0;
}

/* "inline:<key>[|lifetime][|mki]" ending at end. */
static int key_params(const char *p, const char *end, struct sb_srtp_key *k)
{
	const char *bar;

	if ((size_t)(end - p) < 7 + KEY_B64_LEN || strncmp(p, "inline:", 7) != 0)
		return -EBADMSG;
	p += 7;
	bar = memchr(p, '|', (size_t)(end - p));
	if ((bar ? bar : end) - p != KEY_B64_LEN ||
	    sb_base64_decode(p, KEY_B64_LEN, k->key, sizeof(k->key)) != SB_SRTP_KEY_BYTES)
		return -EBADMSG;
	if (!bar)
		return 0;
	p = bar + 1;
	bar = memchr(p, '|', (size_t)(end - p));
	if (bar) { /* lifetime|mki */
		if (!lifetime_ok(p, bar))
			return -EBADMSG;
		return mki_parse(bar + 1, end, k);
	}
	/* one field: an MKI has a colon, a lifetime does not */
	if (memchr(p, ':', (size_t)(end - p)))
		return mki_parse(p, end, k);
	return lifetime_ok(p, end) ? 0 : -EBADMSG;
}

static int parse_suite(const char *p, size_t n, enum sb_srtp_suite *s)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		if (strlen(suites[i].name) == n && memcmp(p, suites[i].name, n) == 0) {
			*s = suites[i].suite;
			return 0;
		}
	}
	/* Another suite: fine on the wire, but not ours, when it is a plain token. */
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return -EBADMSG;
	return n ? -ENOTSUP : -EBADMSG;
}

int sb_sdp_crypto_parse(const char *value, struct sb_sdp_crypto *out)
{
	struct sb_sdp_crypto c = {0};
	unsigned long long tag;
	const char *p = value, *end;
	size_t n;
	int r;

	if (!value)
		return -EBADMSG;
	end = value + strlen(value);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = digits(p, end);
	if (n > 9 || !number(p, n, 0, SB_SDP_CRYPTO_TAG_MAX, &tag) || !blanks(p + n))
		return -EBADMSG;
	p += n;
	p += blanks(p);
	n = strcspn(p, " \t");
	if (p + n >= end) /* nothing after the suite */
		return -EBADMSG;
	r = parse_suite(p, n, &c.suite);
	if (r < 0)
		return r;
	p += n;
	p += blanks(p);
	/* One key and no session parameters: anything after it changes what the key means. */
	if (memchr(p, ';', (size_t)(end - p)) || memchr(p, ' ', (size_t)(end - p)) ||
	    memchr(p, '\t', (size_t)(end - p)))
		return -EBADMSG;
	r = key_params(p, end, &c.key);
	if (r < 0) {
		sb_srtp_wipe(&c, sizeof(c));
		return r;
	}
	c.tag = (unsigned)tag;
	*out = c;
	sb_srtp_wipe(&c, sizeof(c));
	return 0;
}

int sb_sdp_crypto_write(char *buf, size_t size, unsigned tag, enum sb_srtp_suite suite,
                        const struct sb_srtp_key *key)
{
	char b64[KEY_B64_LEN + 1];
	int n;

	if (suite == SB_SRTP_NONE || tag > SB_SDP_CRYPTO_TAG_MAX ||
	    sb_base64_encode(key->key, sizeof(key->key), b64, sizeof(b64)) != KEY_B64_LEN)
		return -EINVAL;
	n = snprintf(buf, size, "a=crypto:%u %s inline:%s\r\n", tag, sb_srtp_suite_name(suite),
	             b64);
	sb_srtp_wipe(b64, sizeof(b64));
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

int sb_sdp_crypto_decide(bool savp, struct sb_sdp_crypto *c, enum sb_srtp_mode mode,
                         bool keys_allowed)
{
	if (!keys_allowed || !savp || mode == SB_SRTP_MODE_OFF)
		*c = (struct sb_sdp_crypto){0}; /* suite NONE, the key wiped */
	if (savp)
		return c->suite != SB_SRTP_NONE ? 1 : -EPROTONOSUPPORT;
	return mode == SB_SRTP_MODE_REQUIRED ? -ENOTSUP : 0;
}

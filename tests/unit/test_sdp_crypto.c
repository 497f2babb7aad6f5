/* Unit tests for SDES-SRTP in SDP (sdp_crypto, and sdp_neg's RTP/SAVP offers and answers):
 * good and bad a=crypto lines, each suite, the rtp.srtp decision, and an answer carrying our
 * own key with the offer's tag. Thread: the test's main thread. Owns its buffers. */
#include <errno.h>
#include <stdlib.h>

#include <sb/base64.h>
#include <sb/sdp_crypto.h>
#include <sb/sdp_neg.h>

#include "harness.h"

#define K1 "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
#define K2 "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
#define S80 "AES_CM_128_HMAC_SHA1_80"
#define S32 "AES_CM_128_HMAC_SHA1_32"

static const struct {
	const char *value;
	enum sb_srtp_suite suite;
	unsigned tag;
	const char *key;
	uint8_t mki_len;
	uint8_t mki_last;
} good[] = {
        {"1 " S80 " inline:" K1, SB_SRTP_AES_CM_128_HMAC_SHA1_80, 1, K1, 0, 0},
        {"2 " S32 " inline:" K2 "|2^31", SB_SRTP_AES_CM_128_HMAC_SHA1_32, 2, K2, 0, 0},
        {"123456789 " S80 " inline:" K1 "|2^20|1:4", SB_SRTP_AES_CM_128_HMAC_SHA1_80, 123456789, K1,
         4, 1},
        {"7 " S80 " inline:" K2 "|200:1", SB_SRTP_AES_CM_128_HMAC_SHA1_80, 7, K2, 1, 200},
        {"3 " S80 " inline:" K1 "|1048576", SB_SRTP_AES_CM_128_HMAC_SHA1_80, 3, K1, 0, 0},
        {"1  " S80 "\tinline:" K1 "  ", SB_SRTP_AES_CM_128_HMAC_SHA1_80, 1, K1, 0, 0},
};

TEST(crypto_parse_good)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sb_sdp_crypto c;
		uint8_t key[SB_SRTP_KEY_BYTES];

		memset(&c, 0x5a, sizeof(c));
		if (sb_sdp_crypto_parse(good[i].value, &c) != 0)
			FAIL_AT("\"%s\" refused", good[i].value);
		ASSERT_EQ(c.suite, good[i].suite);
		ASSERT_EQ(c.tag, good[i].tag);
		ASSERT_EQ(sb_base64_decode(good[i].key, 40, key, sizeof(key)), SB_SRTP_KEY_BYTES);
		ASSERT_MEMEQ(c.key.key, key, sizeof(key));
		ASSERT_EQ(c.key.mki_len, good[i].mki_len);
		if (good[i].mki_len)
			ASSERT_EQ(c.key.mki[good[i].mki_len - 1], good[i].mki_last);
	}
out:
	return r;
}

static const struct {
	const char *value;
	int err;
} bad[] = {
        {"", -EBADMSG},
        {"x " S80 " inline:" K1, -EBADMSG},
        {"1234567890 " S80 " inline:" K1, -EBADMSG}, /* a tag of 10 digits */
        {S80 " inline:" K1, -EBADMSG},               /* no tag */
        {"1 " S80, -EBADMSG},
        {"1 " S80 " ", -EBADMSG},
        {"1 " S80 " " K1, -EBADMSG},                                            /* no inline: */
        {"1 " S80 " inline:" K1 "A", -EBADMSG},                                 /* 41 characters */
        {"1 " S80 " inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB", -EBADMSG}, /* 39 */
        {"1 " S80 " inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxa*BR", -EBADMSG},
        {"1 " S80 " inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaV==", -EBADMSG},
        {"1 " S80 " inline:" K1 "|", -EBADMSG},
        {"1 " S80 " inline:" K1 "|2^", -EBADMSG},
        {"1 " S80 " inline:" K1 "|2^49", -EBADMSG},
        {"1 " S80 " inline:" K1 "|0", -EBADMSG},
        {"1 " S80 " inline:" K1 "|2^20|", -EBADMSG},
        {"1 " S80 " inline:" K1 "|2^20|1:", -EBADMSG},
        {"1 " S80 " inline:" K1 "|1:0", -EBADMSG},
        {"1 " S80 " inline:" K1 "|1:129", -EBADMSG},
        {"1 " S80 " inline:" K1 "|256:1", -EBADMSG}, /* 256 does not fit in one byte */
        {"1 " S80 " inline:" K1 "|1:4|2^20", -EBADMSG},
        {"1 " S80 " inline:" K1 "|2^20|1:4|x", -EBADMSG},
        {"1 " S80 " inline:" K1 ";inline:" K2, -EBADMSG},
        {"1 " S80 " inline:" K1 " KDR=1", -EBADMSG},
        {"1 " S80 " inline:" K1 " UNENCRYPTED_SRTP", -EBADMSG},
        {"1 aes_cm_128_hmac_sha1_80 inline:" K1, -EBADMSG},
        {"1 F8_128_HMAC_SHA1_80 inline:" K1, -ENOTSUP},
        {"1 AEAD_AES_128_GCM inline:" K1, -ENOTSUP},
        {"1 " S80 " inline:" K1 "|2^20|1:32", -ENOTSUP}, /* an MKI longer than we take */
};

TEST(crypto_parse_bad)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sb_sdp_crypto c, before;
		int ret;

		memset(&c, 0x5a, sizeof(c));
		before = c;
		ret = sb_sdp_crypto_parse(bad[i].value, &c);
		if (ret != bad[i].err)
			FAIL_AT("\"%s\": %d, want %d", bad[i].value, ret, bad[i].err);
		ASSERT_MEMEQ(&c, &before, sizeof(c));
	}
	ASSERT_EQ(sb_sdp_crypto_parse(NULL, &(struct sb_sdp_crypto){0}), -EBADMSG);
out:
	return r;
}

/* An RTP/SAVP (or RTP/AVP) offer with the given a=crypto lines (each ending in CRLF). */
static int parse_offer(const char *proto, const char *crypto, struct sb_sdp_offer *o)
{
	char sdp[2048];
	int n = snprintf(sdp, sizeof(sdp),
	                 "v=0\r\no=- 1 1 IN IP4 10.4.4.4\r\ns=-\r\nc=IN IP4 10.4.4.4\r\nt=0 0\r\n"
	                 "m=audio 9000 %s 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n%s",
	                 proto, crypto);

	return sb_sdp_parse_offer(sdp, (size_t)n, o);
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Answers o with SRTP and checks the answer: RTP/SAVP, one a=crypto with the offer's tag and
 * suite and our key, never theirs. */
static int check_answer(struct sb_sdp_offer *o, const char *tag_suite, const char *theirs)
{
	char ans[2048], ours[64], line[128];
	struct sb_srtp_key local;
	int r = 0;

	ASSERT_EQ(sb_srtp_random_key(&o->local), 0);
	ASSERT_EQ(sb_base64_encode(o->local.key, SB_SRTP_KEY_BYTES, ours, sizeof(ours)), 40);
	ASSERT_TRUE(sb_sdp_build_answer(ans, sizeof(ans), o, "192.0.2.1", 20000, 1, 1) > 0);
	ASSERT_TRUE(strstr(ans, "m=audio 20000 RTP/SAVP 8 101\r\n") != NULL);
	snprintf(line, sizeof(line), "a=crypto:%s inline:%s\r\n", tag_suite, ours);
	ASSERT_TRUE(strstr(ans, line) != NULL);
	ASSERT_EQ(count(ans, "a=crypto:"), 1);
	ASSERT_TRUE(strstr(ans, theirs) == NULL);
	/* the answer parses back with our key */
	local = o->local;
	ASSERT_EQ(sb_sdp_parse_offer(ans, strlen(ans), o), 0);
	ASSERT_TRUE(o->savp);
	ASSERT_MEMEQ(o->crypto.key.key, local.key, SB_SRTP_KEY_BYTES);
out:
	return r;
}

TEST(savp_offer_each_suite)
{
	struct sb_sdp_offer o;
	int r = 0;

	ASSERT_EQ(parse_offer("RTP/SAVP", "a=crypto:1 " S80 " inline:" K1 "|2^31\r\n", &o), 0);
	ASSERT_TRUE(o.savp);
	ASSERT_EQ(o.codec, SB_CODEC_PCMA);
	ASSERT_EQ(o.crypto.suite, SB_SRTP_AES_CM_128_HMAC_SHA1_80);
	ASSERT_EQ(sb_sdp_crypto_decide(o.savp, &o.crypto, SB_SRTP_MODE_OPTIONAL, true), 1);
	o.srtp = true;
	ASSERT_EQ(check_answer(&o, "1 " S80, K1), 0);

	ASSERT_EQ(parse_offer("RTP/SAVP", "a=crypto:42 " S32 " inline:" K2 "\r\n", &o), 0);
	ASSERT_EQ(o.crypto.suite, SB_SRTP_AES_CM_128_HMAC_SHA1_32);
	ASSERT_EQ(o.crypto.tag, 42);
	ASSERT_EQ(sb_sdp_crypto_decide(o.savp, &o.crypto, SB_SRTP_MODE_REQUIRED, true), 1);
	o.srtp = true;
	ASSERT_EQ(check_answer(&o, "42 " S32, K2), 0);
out:
	return r;
}

TEST(savp_first_usable_crypto_line)
{
	struct sb_sdp_offer o;
	int r = 0;

	ASSERT_EQ(parse_offer("RTP/SAVP",
	                      "a=crypto:1 " S80 " inline:short\r\n"
	                      "a=crypto:2 AEAD_AES_256_GCM inline:" K1 "\r\n"
	                      "a=crypto:3 " S32 " inline:" K2 "\r\n"
	                      "a=crypto:4 " S80 " inline:" K1 "\r\n",
	                      &o),
	          0);
	ASSERT_EQ(o.crypto.tag, 3);
	ASSERT_EQ(o.crypto.suite, SB_SRTP_AES_CM_128_HMAC_SHA1_32);
	o.srtp = true;
	ASSERT_EQ(check_answer(&o, "3 " S32, K2), 0);
out:
	return r;
}

TEST(savp_without_usable_crypto)
{
	static const char *const lines[] = {
	        "",
	        "a=crypto:1 " S80 " inline:" K1 "|2^20|1:32\r\n", /* srtp_only.sdp's MKI */
	        "a=crypto:1 " S80 " inline:" K1 " KDR=3\r\n",
	        "a=crypto:0123456789 " S80 " inline:" K1 "\r\n",
	};
	struct sb_sdp_offer o;
	int r = 0;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		ASSERT_EQ(parse_offer("RTP/SAVP", lines[i], &o), 0);
		ASSERT_TRUE(o.savp);
		ASSERT_EQ(o.crypto.suite, SB_SRTP_NONE);
		for (int m = SB_SRTP_MODE_OFF; m <= SB_SRTP_MODE_REQUIRED; m++)
			ASSERT_EQ(sb_sdp_crypto_decide(true, &o.crypto, m, true), -EPROTONOSUPPORT);
	}
out:
	return r;
}

/* savp, has usable crypto, mode, keys allowed → decision */
static const struct {
	bool savp, crypto;
	enum sb_srtp_mode mode;
	bool allowed;
	int want;
} decisions[] = {
        {true, true, SB_SRTP_MODE_OPTIONAL, true, 1},
        {true, true, SB_SRTP_MODE_REQUIRED, true, 1},
        {true, true, SB_SRTP_MODE_OFF, true, -EPROTONOSUPPORT},
        {true, true, SB_SRTP_MODE_OPTIONAL, false, -EPROTONOSUPPORT}, /* keys in clear text */
        {true, true, SB_SRTP_MODE_REQUIRED, false, -EPROTONOSUPPORT},
        {false, false, SB_SRTP_MODE_OFF, true, 0},
        {false, false, SB_SRTP_MODE_OPTIONAL, true, 0},
        {false, false, SB_SRTP_MODE_REQUIRED, true, -ENOTSUP},
        {false, true, SB_SRTP_MODE_OPTIONAL, true, 0}, /* a=crypto on RTP/AVP: plain */
        {false, true, SB_SRTP_MODE_REQUIRED, true, -ENOTSUP},
};

TEST(srtp_decisions)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
		struct sb_sdp_offer o;

		ASSERT_EQ(parse_offer(decisions[i].savp ? "RTP/SAVP" : "RTP/AVP",
		                      decisions[i].crypto ? "a=crypto:1 " S80 " inline:" K1 "\r\n"
		                                          : "",
		                      &o),
		          0);
		ASSERT_EQ(o.crypto.suite != SB_SRTP_NONE, decisions[i].crypto);
		if (sb_sdp_crypto_decide(o.savp, &o.crypto, decisions[i].mode,
		                         decisions[i].allowed) != decisions[i].want)
			FAIL_AT("case %zu", i);
		/* whatever is not used is wiped */
		if (decisions[i].want != 1)
			ASSERT_EQ(o.crypto.suite, SB_SRTP_NONE);
	}
out:
	return r;
}

TEST(srtp_only_file_and_plain_answer)
{
	static char buf[4096];
	char ans[2048];
	struct sb_sdp_offer o;
	FILE *f = fopen("data/sdp/srtp_only.sdp", "rb");
	size_t n;
	int r = 0;

	ASSERT_TRUE(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	ASSERT_EQ(sb_sdp_parse_offer(buf, n, &o), 0);
	ASSERT_TRUE(o.savp);
	ASSERT_EQ(o.crypto.suite, SB_SRTP_NONE); /* its MKI is 32 bytes long */
	ASSERT_EQ(sb_sdp_crypto_decide(o.savp, &o.crypto, SB_SRTP_MODE_OPTIONAL, true),
	          -EPROTONOSUPPORT);
	/* a plain offer gets a plain answer, no a=crypto */
	ASSERT_EQ(parse_offer("RTP/AVP", "", &o), 0);
	ASSERT_EQ(sb_sdp_crypto_decide(o.savp, &o.crypto, SB_SRTP_MODE_OPTIONAL, true), 0);
	ASSERT_TRUE(sb_sdp_build_answer(ans, sizeof(ans), &o, "192.0.2.1", 20000, 1, 1) > 0);
	ASSERT_TRUE(strstr(ans, "RTP/AVP 8 101") != NULL);
	ASSERT_TRUE(strstr(ans, "a=crypto") == NULL && strstr(ans, "SAVP") == NULL);
out:
	return r;
}

TEST(crypto_write_limits)
{
	struct sb_srtp_key k = {0};
	char buf[128];
	int r = 0;

	ASSERT_EQ(sb_sdp_crypto_write(buf, sizeof(buf), 999999999, SB_SRTP_AES_CM_128_HMAC_SHA1_80,
	                              &k),
	          (int)strlen("a=crypto:999999999 " S80 " inline:") + 40 + 2);
	ASSERT_STREQ(buf, "a=crypto:999999999 " S80
	                  " inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n");
	ASSERT_EQ(sb_sdp_crypto_write(buf, sizeof(buf), 1000000000, SB_SRTP_AES_CM_128_HMAC_SHA1_80,
	                              &k),
	          -EINVAL);
	ASSERT_EQ(sb_sdp_crypto_write(buf, sizeof(buf), 1, SB_SRTP_NONE, &k), -EINVAL);
	ASSERT_EQ(sb_sdp_crypto_write(buf, 40, 1, SB_SRTP_AES_CM_128_HMAC_SHA1_80, &k), -ENOSPC);
out:
	return r;
}

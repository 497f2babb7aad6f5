/* SDES (RFC 4568) a=crypto lines: strict parsing of one line's value, writing ours, and the
 * rtp.srtp policy applied to an offer. Pure. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <sb/config.h>
#include <sb/srtp_ctx.h>

#define SB_SDP_CRYPTO_TAG_MAX 999999999u /* 1-9 digits */

/* One usable a=crypto line: suite SB_SRTP_NONE when there is none. */
struct sb_sdp_crypto {
	enum sb_srtp_suite suite;
	unsigned tag;
	struct sb_srtp_key key;
};

/* Parses the value of one a=crypto attribute ("1 AES_CM_128_HMAC_SHA1_80 inline:<base64 of
 * 30 bytes>[|lifetime][|MKI:length]") into *out, written only on success. Returns 0;
 * -EBADMSG for a malformed line (tag not 1-9 digits, bad base64 or key length, a bad
 * lifetime or MKI, more than one key, session parameters); -ENOTSUP for a well-formed line
 * the bridge cannot use (another suite, an MKI longer than SB_SRTP_MKI_MAX bytes). */
int sb_sdp_crypto_parse(const char *value, struct sb_sdp_crypto *out);

/* Writes "a=crypto:<tag> <suite> inline:<base64 key>\r\n" for key (borrowed) into buf.
 * Returns the length or -ENOSPC / -EINVAL. */
int sb_sdp_crypto_write(char *buf, size_t size, unsigned tag, enum sb_srtp_suite suite,
                        const struct sb_srtp_key *key);

/* The policy for an offer whose audio line is RTP/SAVP (savp) or RTP/AVP and has the usable
 * crypto *c (suite NONE: none). keys_allowed is false when the keys came in clear text and
 * rtp.srtp_over_udp is off: the crypto is then dropped (wiped). Returns 1 to answer with
 * SRTP, 0 with plain RTP (*c wiped); -EPROTONOSUPPORT for an SAVP line without usable crypto
 * or with mode off; -ENOTSUP for a plain offer with mode required. Both errors mean 488. */
int sb_sdp_crypto_decide(bool savp, struct sb_sdp_crypto *c, enum sb_srtp_mode mode,
                         bool keys_allowed);

/* SDES-SRTP (RFC 3711, RFC 4568) for one media leg: an inbound context with the far end's
 * key and an outbound one with ours; packets are protected and checked in place, without
 * allocating but for a new SSRC. The keys, suites and sizes are public; libsrtp stays behind
 * this header. Thread: the leg's owner (a media worker, or sipbridge-call's main thread);
 * init: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sb_srtp_suite {
	SB_SRTP_NONE, /* plain RTP */
	SB_SRTP_AES_CM_128_HMAC_SHA1_80,
	SB_SRTP_AES_CM_128_HMAC_SHA1_32,
};

#define SB_SRTP_KEY_BYTES 30 /* 16-byte master key then 14-byte salt: what inline: carries */
#define SB_SRTP_MKI_MAX 4    /* bytes of an MKI the bridge takes */
/* Room a packet buffer needs behind the packet: the tag and MKI (libsrtp's
 * SRTP_MAX_TRAILER_LEN) and SRTCP's 4-byte index. */
#define SB_SRTP_MAX_TRAILER 148
/* Inbound streams (replay windows) a context keeps, for the most recent SSRCs: a PBX changes
 * SSRC on hold/unhold or re-anchoring and RTCP shares its sender's SSRC, so a few cover a real
 * far end, and one that changes SSRC in every packet cannot grow memory (a new SSRC is
 * refused, -EBUSY, while every kept stream is in use). */
#define SB_SRTP_RX_STREAMS 4

/* One master key and the MKI the sender's packets carry (mki_len 0: none). */
struct sb_srtp_key {
	uint8_t key[SB_SRTP_KEY_BYTES];
	uint8_t mki[SB_SRTP_MKI_MAX]; /* big-endian, mki_len bytes */
	uint8_t mki_len;
};

/* What a leg needs: the suite both directions use, the far end's key (what we receive)
 * and ours (what we send). */
struct sb_srtp_keys {
	enum sb_srtp_suite suite;
	struct sb_srtp_key rx, tx;
};

struct sb_srtp;

/* Thread: any. Initialises libsrtp once per process (later calls return the first result).
 * Returns 0 or -EIO. */
int sb_srtp_init(void);
/* Thread: any. The suite's SDP name ("AES_CM_128_HMAC_SHA1_80"), "" for SB_SRTP_NONE. */
const char *sb_srtp_suite_name(enum sb_srtp_suite s);
/* Thread: any. Wipes n bytes of key material at p (explicit_bzero, out of line so that no
 * compiler drops it or second-guesses the size of a struct member). */
void sb_srtp_wipe(void *p, size_t n);
/* Thread: any. Fills k with a fresh key and salt from the kernel's CSPRNG, no MKI.
 * Returns 0 or a negative errno. */
int sb_srtp_random_key(struct sb_srtp_key *k);

/* Creates both contexts from k (borrowed: the caller wipes its copy once this returns).
 * Returns 0; -EINVAL for a bad suite; -ENOMEM or -EIO when libsrtp fails. */
int sb_srtp_new(struct sb_srtp **ret, const struct sb_srtp_keys *k);
/* Replaces the inbound context with one for rx (the far end changed its key); the suite
 * stays. Returns 0 or a negative errno (the old context is kept then). */
int sb_srtp_set_rx(struct sb_srtp *s, const struct sb_srtp_key *rx);
/* Frees (the contexts' key material is wiped by libsrtp); accepts NULL; returns NULL. */
struct sb_srtp *sb_srtp_free(struct sb_srtp *s);

/* Protects the RTP packet of *len bytes at pkt in place; cap is the buffer's size, which
 * must leave SB_SRTP_MAX_TRAILER bytes. *len becomes the SRTP length. Returns 0, -EMSGSIZE
 * for too little room, or -EIO. */
int sb_srtp_protect(struct sb_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
/* Checks and decrypts the SRTP packet of *len bytes in place; *len becomes the RTP length.
 * Returns 0; -EACCES when it fails authentication (forged or tampered); -EALREADY when it
 * was replayed (or is too old to tell); -EBUSY when it comes from a new SSRC while every
 * kept stream is in use (SB_SRTP_RX_STREAMS); -EBADMSG for anything else (not SRTP at all). */
int sb_srtp_unprotect(struct sb_srtp *s, uint8_t *pkt, size_t *len);
/* The same for RTCP (SRTCP). */
int sb_srtp_protect_rtcp(struct sb_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
int sb_srtp_unprotect_rtcp(struct sb_srtp *s, uint8_t *pkt, size_t *len);
/* Whether the inbound context holds a stream (replay state) for ssrc, as libsrtp says; for
 * tests of the SB_SRTP_RX_STREAMS bound. */
bool sb_srtp_rx_has_stream(const struct sb_srtp *s, uint32_t ssrc);

/* SDP offer → answer for one audio stream: PCMU/PCMA in the caller's order, RFC 4733
 * telephone-event, ptime 10-60, direction, SDES-SRTP (RTP/SAVP with a=crypto). Pure
 * (sofia's sdp_parse with a local home). Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sb/codec.h>
#include <sb/sdp_crypto.h>

enum sb_dir { SB_DIR_SENDRECV, SB_DIR_SENDONLY, SB_DIR_RECVONLY, SB_DIR_INACTIVE };

#define SB_SDP_MAX_MEDIA 8  /* m= lines an offer may have */
#define SB_SDP_MLINE_MAX 64 /* bytes of a rejected m= line's "type 0 proto fmt" */
#define SB_SDP_TE_PT 101    /* telephone-event's payload type in the bridge's own offer */

struct sb_sdp_offer {
	int family;          /* AF_INET or AF_INET6 */
	char addr[64];       /* connection address (media-level c= over session-level) */
	uint16_t port;       /* 0 = stream rejected/held by the caller */
	enum sb_codec codec; /* first of PCMU/PCMA in the caller's m= order */
	uint8_t pt;          /* payload type the caller used for it (static 0 or 8, or dynamic) */
	int te_pt;           /* the offer's telephone-event/8000 payload type, or -1 */
	int ptime_ms;        /* a=ptime if present (10..60), else 20 */
	enum sb_dir dir;     /* the caller's direction */
	/* RFC 3264: the answer has as many m= lines as the offer, in order; the ones not used are
	 * answered with port 0. */
	unsigned n_media;                                  /* m= lines in the offer */
	unsigned audio_index;                              /* the one carrying the call's audio */
	char rejected[SB_SDP_MAX_MEDIA][SB_SDP_MLINE_MAX]; /* "video 0 RTP/AVP 96" for the others */
	/* SDES-SRTP: key material, wiped once it is no longer needed */
	bool savp;                   /* the audio m= line is RTP/SAVP */
	bool srtp;                   /* the answer is RTP/SAVP (set after sb_sdp_crypto_decide) */
	struct sb_sdp_crypto crypto; /* its first usable a=crypto (suite NONE: none) */
	struct sb_srtp_key local;    /* our own key, for the answer's a=crypto when srtp */
};

/* True when the offer names no address to send to: port 0, 0.0.0.0 or :: (the old way to
 * hold a call). */
bool sb_sdp_no_address(const struct sb_sdp_offer *o);
/* The host the offer's media comes from, to find our address that routes to it: the offer's
 * address, or fallback (the signalling source, text) when it is 0.0.0.0 or :: (a call that
 * starts on hold), which would route to our own loopback, and fallback is of the offer's
 * family (an IPv4-mapped IPv6 source counts as IPv4); else the offer's address. */
const char *sb_sdp_media_peer(const struct sb_sdp_offer *o, const char *fallback);
/* True when the offer puts the call on hold: nothing is to be sent to its side (sendonly,
 * inactive, or no address). */
bool sb_sdp_held(const struct sb_sdp_offer *o);

/* Parses an offer (or an answer to the bridge's offer) into *out, which is written only on
 * success. The audio m= line is the first RTP/AVP or RTP/SAVP one; savp and crypto (the
 * first a=crypto line that parses and that the bridge can use) describe its SRTP. te_pt is always
 * set: the first telephone-event with clock 8000 on the audio m= line (never the chosen codec's
 * type), -1 when there is none. Returns 0; -EBADMSG when the SDP cannot be parsed or has no usable
 * audio m= line / connection address, or more than SB_SDP_MAX_MEDIA m= lines; -ENOTSUP when no
 * PCMU/PCMA is offered (no common codec: 488); -ERANGE when the offer's ptime is outside 10-60;
 * -EADDRNOTAVAIL when the audio's connection address is a multicast one or 255.255.255.255
 * (488). */
int sb_sdp_parse_offer(const char *sdp, size_t len, struct sb_sdp_offer *out);
/* Why sb_sdp_parse_offer() refused an SDP body (r, its negative return), in a log line's words
 * ("no PCMU/PCMA", "a ptime outside 10-60 ms"...). */
const char *sb_sdp_parse_problem(int r);

/* Writes the bridge's own offer (for an INVITE that came without one): one m=audio line at
 * local_port offering PCMA, PCMU and telephone-event on SB_SDP_TE_PT (events 0-15),
 * a=ptime:20, sendrecv. Returns the length, -EINVAL for a non-numeric local_addr or -ENOSPC. */
int sb_sdp_build_offer(char *buf, size_t size, const char *local_addr, uint16_t local_port,
                       uint64_t session_id, uint64_t session_version);

/* Writes the answer for offer (borrowed) into buf (NUL-terminated): v/o/s/c/t, then one m= line
 * per offered line: the audio one at local_port with the chosen codec and, when te_pt is a
 * payload type (0-127, not the codec's), telephone-event on te_pt: the a=rtpmap lines, then
 * a=fmtp:<te_pt> 0-15, a=ptime:20 and the reflected direction (sendonly ↔ recvonly), and with
 * offer->srtp the line is RTP/SAVP with one a=crypto: the offer's tag and suite, the key
 * offer->local; the others
 * rejected with port 0. An offer built by hand must set te_pt (-1 for none): 0 is a payload
 * type. local_addr is numeric IPv4 or IPv6. Returns the length, -EINVAL for another local_addr
 * or -ENOSPC. */
int sb_sdp_build_answer(char *buf, size_t size, const struct sb_sdp_offer *offer,
                        const char *local_addr, uint16_t local_port, uint64_t session_id,
                        uint64_t session_version);

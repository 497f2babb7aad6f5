/* libFuzzer target for the SDP offer parser: any bytes as the body of an INVITE. An accepted
 * offer is answered, and the answer must itself parse as an offer with the same codec,
 * payload type, m= line layout and the reflected direction. Single-threaded. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/common.h>
#include <sb/sdp_neg.h>

#include "fuzz_check.h"

#define LOCAL_PORT 40000

static enum sb_dir reflect(enum sb_dir d)
{
	switch (d) {
	case SB_DIR_SENDONLY:
		return SB_DIR_RECVONLY;
	case SB_DIR_RECVONLY:
		return SB_DIR_SENDONLY;
	default:
		return d;
	}
}

static void check_offer(const struct sb_sdp_offer *o)
{
	unsigned char tmp[16];

	CHECK(o->family == AF_INET || o->family == AF_INET6);
	CHECK(memchr(o->addr, '\0', sizeof(o->addr)) && inet_pton(o->family, o->addr, tmp) == 1);
	CHECK(o->codec == SB_CODEC_PCMU || o->codec == SB_CODEC_PCMA);
	CHECK(o->pt < 128);
	CHECK(o->ptime_ms >= 10 && o->ptime_ms <= 60);
	CHECK(o->dir >= SB_DIR_SENDRECV && o->dir <= SB_DIR_INACTIVE);
	CHECK(o->n_media >= 1 && o->n_media <= SB_SDP_MAX_MEDIA);
	CHECK(o->audio_index < o->n_media);
	for (unsigned i = 0; i < o->n_media; i++)
		if (i != o->audio_index)
			CHECK(memchr(o->rejected[i], '\0', SB_SDP_MLINE_MAX) &&
			      !strpbrk(o->rejected[i], "\r\n"));
}

static void check_answer(const struct sb_sdp_offer *o)
{
	const char *local = o->family == AF_INET6 ? "2001:db8::1" : "192.0.2.1";
	struct sb_sdp_offer back;
	char buf[4096];
	int n, r;

	n = sb_sdp_build_answer(buf, sizeof(buf), o, local, LOCAL_PORT, UINT64_MAX, 1);
	CHECK(n > 0 && (size_t)n < sizeof(buf) && strlen(buf) == (size_t)n);
	r = sb_sdp_parse_offer(buf, (size_t)n, &back);
	if (r != 0)
		fprintf(stderr, "answer does not parse (%d):\n%s", r, buf);
	CHECK(r == 0);
	CHECK(back.family == o->family && strcmp(back.addr, local) == 0);
	CHECK(back.port == LOCAL_PORT);
	CHECK(back.codec == o->codec && back.pt == o->pt);
	CHECK(back.ptime_ms == 20);
	CHECK(back.dir == reflect(o->dir));
	CHECK(back.n_media == o->n_media && back.audio_index == o->audio_index);
	/* SDES: an SRTP answer is RTP/SAVP with the offer's tag and suite */
	CHECK(back.savp == o->srtp);
	if (o->srtp)
		CHECK(back.crypto.suite == o->crypto.suite && back.crypto.tag == o->crypto.tag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_sdp_offer offer;
	int r;

	r = sb_sdp_parse_offer((const char *)data, size, &offer);
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -ENOTSUP || r == -ERANGE || r == -EADDRNOTAVAIL ||
		      r == -ENOMEM);
		return 0;
	}
	CHECK(r == 0);
	check_offer(&offer);
	check_answer(&offer);
	if (offer.savp && offer.crypto.suite != SB_SRTP_NONE) {
		offer.srtp = true; /* an all-zero key: the answer text is what is checked */
		check_answer(&offer);
	}
	return 0;
}

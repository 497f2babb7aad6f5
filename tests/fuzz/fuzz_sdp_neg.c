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
#include <strings.h>

#include <sb/common.h>
#include <sb/sdp_neg.h>

/* Not assert(): the checks must hold in every build type. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define LOCAL_PORT 40000

/* sofia-sip 1.12.11 (Debian 12) loops in the format list of an m= line with a non-RTP
 * transport when, after blanks, the next byte is not a token character (or the line ends):
 * sdp_parse() then allocates list nodes until memory runs out. Reproducers are
 * corpora/sdp_neg/crash-sofia-format-loop*. Such offers are skipped so the fuzzer can get
 * past them; SB_FUZZ_SDP_RAW=1 in the environment feeds them to the parser anyway. The scan
 * below follows sofia's parse_media() and token() step by step. */
#define SOFIA_TOKEN                                                                                \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`{|}~"

/* sofia's token(): NULL when no legal byte; else the token and the byte after it are
 * consumed, then the separators. */
static const char *sofia_token(const char **r, const char *sep, const char *legal,
                               const char *strip, size_t *len)
{
	const char *t = *r + (strip ? strspn(*r, strip) : 0);
	size_t n = strspn(t, legal);

	if (n == 0)
		return NULL;
	*len = n;
	*r = t + n + (t[n] ? 1 + strspn(t + n + 1, sep) : 0);
	return t;
}

static bool proto_is(const char *proto, size_t len, const char *name)
{
	return len == strlen(name) && strncasecmp(proto, name, len) == 0;
}

/* line: one NUL-terminated line, leading blanks already skipped. */
static bool sofia_loops(const char *line)
{
	/* The RTP transports this sofia knows; their lists fail cleanly. */
	static const char *const rtp[] = {"RTP", "RTP/AVP", "RTP/SAVP"};
	const char *r = line + 2 + strspn(line + 2, " \t"), *proto;
	char *end;
	size_t len;

	if (!sofia_token(&r, " ", SOFIA_TOKEN, NULL, &len))
		return false;
	r += strspn(r, " \t");
	if (strtoul(r, &end, 10), end == r)
		return false;
	r = end + strspn(end, " \t");
	if (*r == '/') {
		r++;
		r += strspn(r, " \t");
		if (strtoul(r, &end, 10), end == r)
			return false;
		r = end + strspn(end, " \t");
	}
	proto = sofia_token(&r, " ", "/" SOFIA_TOKEN, " ", &len);
	if (!proto)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(rtp); i++)
		if (proto_is(proto, len, rtp[i]))
			return false;
	while (*r)
		if (!sofia_token(&r, " \t", SOFIA_TOKEN, " \t", &len))
			return true;
	return false;
}

static bool hits_sofia_loop(const uint8_t *data, size_t size)
{
	static int raw = -1;
	char *copy, *line, *save = NULL;
	bool loops = false;

	if (raw < 0)
		raw = getenv("SB_FUZZ_SDP_RAW") != NULL;
	if (raw)
		return false;
	/* sdp_parse() stops at the first NUL and splits lines at CR or LF. */
	copy = strndup((const char *)data, size);
	if (!copy)
		return true;
	for (line = strtok_r(copy, "\r\n", &save); line && !loops;
	     line = strtok_r(NULL, "\r\n", &save)) {
		line += strspn(line, " \t");
		loops = line[0] == 'm' && line[1] == '=' && sofia_loops(line);
	}
	free(copy);
	return loops;
}

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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_sdp_offer offer;
	int r;

	if (hits_sofia_loop(data, size))
		return 0;
	r = sb_sdp_parse_offer((const char *)data, size, &offer);
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -ENOTSUP || r == -ERANGE || r == -ENOMEM);
		return 0;
	}
	CHECK(r == 0);
	check_offer(&offer);
	check_answer(&offer);
	return 0;
}

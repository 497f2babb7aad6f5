/* libFuzzer target for the bot protocol decoders: any bytes as one message from a bot, text
 * or binary, to every profile (Exotel, Twilio, raw).
 * Checks the decoder's documented contract, and re-encodes decoded media (and marks) with the
 * bridge's own encoders to check that they decode back unchanged. Single-threaded. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/bot_proto.h>

#include "fuzz_check.h"

#define EX (&sb_proto_exotel)
/* A call that only has a stream sid, as most messages name only that. */
#define CALL(sid) (&(struct sb_bot_call){.stream_sid = (sid)})

#define SID "MZ0123456789abcdef0123456789abcd"

static int is_zeroed(const struct sb_bot_event *ev)
{
	static const struct sb_bot_event zero;

	return memcmp(ev, &zero, sizeof(zero)) == 0;
}

/* The PCM as sent by the media thread: host-order samples built from the LE bytes. */
static void media_round_trip(const struct sb_bot_event *ev)
{
	size_t samples = ev->pcm_len / 2, cap = EX->media_max_len(samples);
	int16_t *pcm = malloc(samples * sizeof(*pcm));
	char *buf = malloc(cap);
	struct sb_bot_event back;
	const char *why = NULL;
	int n;

	CHECK(pcm && buf);
	for (size_t i = 0; i < samples; i++)
		pcm[i] = (int16_t)(ev->pcm[2 * i] | (ev->pcm[2 * i + 1] << 8));
	n = EX->media(buf, cap, UINT64_MAX, CALL(SID), UINT64_MAX, UINT64_MAX, pcm, samples);
	CHECK(n > 0 && (size_t)n < cap && strlen(buf) == (size_t)n);
	CHECK(EX->decode(buf, (size_t)n, false, &back, &why) == 0);
	CHECK(back.type == SB_BOT_EV_MEDIA);
	CHECK(back.pcm_len == ev->pcm_len && memcmp(back.pcm, ev->pcm, ev->pcm_len) == 0);
	sb_bot_event_done(&back);
	free(buf);
	free(pcm);
}

/* A mark the bot sent comes back to it under the same name once played. */
static void mark_round_trip(const struct sb_bot_event *ev)
{
	char buf[SB_BOT_MARK_NAME_MAX * 6 + 256];
	struct sb_bot_event back;
	const char *why = NULL;
	int n;

	n = EX->mark(buf, sizeof(buf), 1, CALL(SID), ev->name, false);
	CHECK(n > 0 && (size_t)n < sizeof(buf));
	CHECK(EX->decode(buf, (size_t)n, false, &back, &why) == 0);
	CHECK(back.type == SB_BOT_EV_MARK && strcmp(back.name, ev->name) == 0);
	sb_bot_event_done(&back);
}

static void check_event(const struct sb_bot_event *ev)
{
	switch (ev->type) {
	case SB_BOT_EV_MEDIA:
		CHECK(ev->pcm && ev->pcm_len > 0 && ev->pcm_len % 2 == 0);
		media_round_trip(ev);
		break;
	case SB_BOT_EV_MARK:
		CHECK(ev->name && ev->name[0] && strlen(ev->name) <= SB_BOT_MARK_NAME_MAX);
		mark_round_trip(ev);
		break;
	case SB_BOT_EV_DTMF:
		CHECK(ev->digit && strchr("0123456789*#ABCD", ev->digit));
		break;
	case SB_BOT_EV_CLEAR:
	case SB_BOT_EV_HANGUP:
	case SB_BOT_EV_TRANSFER:
		break;
	default:
		CHECK(!"unknown event type");
	}
}

/* One decoder on the input: its documented contract, then the event re-encoded. */
static void decode_one(const struct sb_bot_proto *p, const uint8_t *data, size_t size, bool binary)
{
	struct sb_bot_event ev;
	const char *why = NULL;
	int r;

	r = p->decode((const char *)data, size, binary, &ev, &why);
	if (r < 0) {
		/* Failures name a reason and leave nothing to free. */
		CHECK(r == -EBADMSG || r == -EPROTO || r == -ENOTSUP || r == -ENOMEM);
		CHECK(why && is_zeroed(&ev));
		return;
	}
	CHECK(r == 0);
	check_event(&ev);
	sb_bot_event_done(&ev);
	CHECK(is_zeroed(&ev));
}

/* The same bytes as a text message to every profile, and as a binary frame to each. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sb_bot_proto *profiles[] = {&sb_proto_exotel, &sb_proto_twilio, &sb_proto_raw};

	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		decode_one(profiles[i], data, size, false);
		decode_one(profiles[i], data, size, true);
	}
	return 0;
}

/* libFuzzer target for what the caller controls on the media path and in transfers: any
 * sequence of RTP packets (sequence numbers, timestamps, markers, sizes, SSRCs, arrival
 * times, telephone-events among them) through the jitter buffer and the RFC 4733 receiver,
 * and any bytes as an INFO body, a NOTIFY sipfrag or a transfer target.
 * Invariants: packets come out once each, in sequence order; concealment and silence are
 * bounded; every DTMF report is a real digit. Single-threaded. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sb/dtmf.h>
#include <sb/jitter.h>
#include <sb/transfer.h>

#include "fuzz_check.h"

#define RECORD 8 /* bytes of input per packet */
#define DIGITS "0123456789*#ABCD"

struct state {
	struct sb_jitter jb;
	struct sb_dtmf_rx rx;
	bool released_any;
	uint64_t last_resets;
	uint16_t last_seq;
	uint32_t last_ssrc;
	uint32_t ssrc;
	int64_t now_ms;
};

static void on_out(void *arg, enum sb_jitter_out kind, const struct sb_jitter_slot *s,
                   unsigned samples)
{
	struct state *st = arg;
	struct sb_dtmf_report r[2];

	if (kind != SB_JITTER_PACKET) {
		CHECK(samples > 0);
		CHECK(samples <= (kind == SB_JITTER_CONCEAL ? SB_JITTER_MAX_LOSS_MS * 8
		                                            : SB_JITTER_MAX_FILL_MS * 8));
		return;
	}
	CHECK(s && s->len <= SB_JITTER_MAX_PAYLOAD);
	/* In order within one source: each packet after the last one released. */
	if (st->released_any && st->last_ssrc == st->ssrc && st->last_resets == st->jb.stats.resets)
		CHECK((int16_t)(uint16_t)(s->seq - st->last_seq) > 0);
	st->released_any = true;
	st->last_resets = st->jb.stats.resets;
	st->last_seq = s->seq;
	st->last_ssrc = st->ssrc;
	if (!s->audio) {
		int n = sb_dtmf_rx_packet(&st->rx, s->ts, s->payload, s->len, st->now_ms, r);

		CHECK(n == -EBADMSG || (n >= 0 && n <= 2));
		for (int i = 0; i < n; i++)
			CHECK(r[i].digit && strchr(DIGITS, r[i].digit) &&
			      r[i].duration_ms <= 65535 / 8 + 1);
	}
}

/* One packet from 8 bytes: seq step, ts step, flags, length, arrival step. */
static void packet(struct state *st, const uint8_t *p, uint16_t *seq, uint32_t *ts)
{
	uint8_t payload[SB_JITTER_MAX_PAYLOAD];
	struct sb_rtp_header h = {0};
	bool audio = !(p[3] & 1);

	*seq = (uint16_t)(*seq + (int8_t)p[0]);
	*ts += (uint32_t)(int32_t)(int16_t)(p[1] | p[2] << 8) * 8u;
	if (p[3] & 2)
		st->ssrc++;
	h.marker = p[3] & 4;
	h.pt = audio ? 8 : 101;
	h.seq = *seq;
	h.ts = *ts;
	h.ssrc = st->ssrc;
	h.payload_len = audio ? 1 + p[4] % SB_JITTER_MAX_PAYLOAD : (size_t)(p[4] % 6);
	memset(payload, p[5], sizeof(payload));
	payload[0] = p[5] & 0x1f; /* an event code, sometimes out of range */
	h.payload = payload;
	st->now_ms += p[6] % 64;
	sb_jitter_push(&st->jb, &h, audio, st->now_ms * 1000);
	if (p[7] & 1)
		sb_jitter_poll(&st->jb, (st->now_ms + p[7]) * 1000);
	CHECK(st->jb.n_held < SB_JITTER_SLOTS);
}

/* The same bytes as text from the other side of a transfer or an INFO. */
static void texts(const uint8_t *data, size_t size)
{
	struct sb_dtmf_report d;
	char phrase[32], refer[1024], target[SB_TRANSFER_URI_MAX + 2];
	const struct sb_kv h = {"X-UUI", "a b"};
	int status;

	if (sb_dtmf_info_parse("application/dtmf-relay", (const char *)data, size, &d) == 0 ||
	    sb_dtmf_info_parse("application/dtmf", (const char *)data, size, &d) == 0)
		CHECK(d.digit && strchr(DIGITS, d.digit) && d.duration_ms <= SB_DTMF_MAX_MS);
	status = sb_transfer_sipfrag((const char *)data, size, phrase, sizeof(phrase));
	CHECK(status == -EBADMSG || (status >= 100 && status <= 699));
	CHECK(strlen(phrase) < sizeof(phrase));
	if (size < sizeof(target)) {
		memcpy(target, data, size);
		target[size] = '\0';
		if (sb_transfer_check_target(target) == 0) {
			CHECK(strlen(target) <= SB_TRANSFER_URI_MAX);
			CHECK(sb_transfer_refer_to(refer, sizeof(refer), target, &h, 1) > 0);
			CHECK(!strpbrk(refer, " \r\n\""));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sb_config cfg;
	static struct state st;
	uint16_t seq = 1000;
	uint32_t ts = 5000;

	memset(&st, 0, sizeof(st));
	cfg.jitter_mode = size && data[0] & 1 ? SB_JITTER_FIXED : SB_JITTER_ADAPTIVE;
	cfg.jitter_min_ms = 0;
	cfg.jitter_max_ms = 200;
	cfg.jitter_ms = 60;
	sb_jitter_init(&st.jb, &cfg, on_out, &st);
	st.ssrc = 7;
	for (size_t o = 1; o + RECORD <= size; o += RECORD)
		packet(&st, data + o, &seq, &ts);
	sb_jitter_flush(&st.jb);
	CHECK(st.jb.n_held == 0);
	sb_jitter_free(&st.jb);
	texts(data, size);
	return 0;
}

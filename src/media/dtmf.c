/* DTMF: RFC 4733 telephone-event reception (one report per key press despite redundant and
 * lost packets) and sending (start, updates, redundant ends), and SIP INFO DTMF bodies.
 * Pure. Thread: any (the media thread for rx/tx, control for INFO).
 * Owns nothing; the caller owns the rx/tx state. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <sb/common.h>
#include <sb/dtmf.h>

/*
 * DESIGN
 *
 * Receiving. A sender repeats every event: a start packet (marker bit), an update every
 * 50 ms or so carrying the duration so far, and three identical end packets (E bit). All of
 * them carry the event's start as RTP timestamp, so the timestamp is what tells one key press
 * from the next, also when the same digit is pressed twice. Any of these packets can be lost
 * or reordered, so the receiver keeps one unreported event and the timestamp of the last
 * reported one:
 *  - the first packet with a new timestamp starts the event, whatever kind it is;
 *  - packets with the event's timestamp only raise its duration (a late update with a smaller
 *    duration changes nothing);
 *  - the first end packet reports it; its timestamp becomes last_ts so the redundant ends and
 *    any straggling update are ignored;
 *  - when every end was lost, the event is reported either when a packet of the next event
 *    arrives or, if none comes, after SB_DTMF_RX_TIMEOUT_MS of silence (rx_poll).
 * A packet whose timestamp is a little behind last_ts belongs to an event already reported
 * (it was delayed past the next event's end) and is ignored too. "A little" is 60 s: far more
 * than any reordering, yet a stream whose timestamps restart at a random base lands there with
 * a probability of about 1e-4.
 *
 * Sending. The timestamp of every packet is the event's start and the caller tells how much
 * time has passed (in timestamp units), so the state is the event, its length and when the
 * next update is due. Updates fall on fixed multiples of 50 ms from the start; a late call
 * sends one update with the current duration rather than several.
 */

#define DIGITS "0123456789*#ABCD"
#define RATE_PER_MS (SB_RATE_8K / 1000)
#define E_BIT 0x80
#define VOLUME 10
#define STRAGGLER_UNITS (60u * SB_RATE_8K)
#define INFO_MAX_BYTES 1024

char sb_dtmf_digit(unsigned event)
{
	return event < 16 ? DIGITS[event] : 0;
}

int sb_dtmf_event(char digit)
{
	const char *p;

	if (digit >= 'a' && digit <= 'd')
		digit = (char)(digit - 'a' + 'A');
	p = digit ? strchr(DIGITS, digit) : NULL;
	return p ? (int)(p - DIGITS) : -EINVAL;
}

/* ---- receiving --------------------------------------------------------------------------- */

static void report(struct sb_dtmf_rx *rx, struct sb_dtmf_report *out)
{
	out->digit = sb_dtmf_digit(rx->event);
	out->duration_ms = rx->duration / RATE_PER_MS;
	rx->active = false;
	rx->have_last = true;
	rx->last_ts = rx->ts;
}

/* A packet of an event reported already: its own timestamp, or one shortly before it. */
static bool is_stale(const struct sb_dtmf_rx *rx, uint32_t ts)
{
	return rx->have_last && (uint32_t)(rx->last_ts - ts) < STRAGGLER_UNITS;
}

int sb_dtmf_rx_packet(struct sb_dtmf_rx *rx, uint32_t ts, const uint8_t *payload, size_t len,
                      int64_t now_ms, struct sb_dtmf_report out[2])
{
	uint32_t duration;
	int n = 0;

	if (!payload || len < SB_DTMF_PAYLOAD_BYTES || payload[0] > 15)
		return -EBADMSG;
	duration = sb_get_be16(payload + 2);
	if (!(rx->active && rx->ts == ts)) {
		if (is_stale(rx, ts))
			return 0;
		if (rx->active)
			report(rx, &out[n++]);
		*rx = (struct sb_dtmf_rx){.active = true,
		                          .ts = ts,
		                          .event = payload[0],
		                          .have_last = rx->have_last,
		                          .last_ts = rx->last_ts};
	}
	if (duration > rx->duration)
		rx->duration = duration;
	rx->last_ms = now_ms;
	if (payload[1] & E_BIT)
		report(rx, &out[n++]);
	return n;
}

int sb_dtmf_rx_poll(struct sb_dtmf_rx *rx, int64_t now_ms, struct sb_dtmf_report *out)
{
	if (!rx->active || now_ms - rx->last_ms < SB_DTMF_RX_TIMEOUT_MS)
		return 0;
	report(rx, out);
	return 1;
}

/* ---- sending ----------------------------------------------------------------------------- */

int sb_dtmf_tx_start(struct sb_dtmf_tx *tx, char digit, unsigned duration_ms)
{
	int event = sb_dtmf_event(digit);

	if (event < 0)
		return event;
	if (duration_ms < SB_DTMF_MIN_MS)
		duration_ms = SB_DTMF_MIN_MS;
	else if (duration_ms > SB_DTMF_MAX_MS)
		duration_ms = SB_DTMF_MAX_MS;
	*tx = (struct sb_dtmf_tx){
	        .active = true, .event = (uint8_t)event, .total = duration_ms * RATE_PER_MS};
	return 0;
}

static void put_payload(uint8_t *p, uint8_t event, bool end, uint32_t duration)
{
	p[0] = event;
	p[1] = (uint8_t)((end ? E_BIT : 0) | VOLUME);
	/* total is at most SB_DTMF_MAX_MS * 8 = 40000 units, well inside 16 bits. */
	sb_put_be16(p + 2, (uint16_t)duration);
}

int sb_dtmf_tx_next(struct sb_dtmf_tx *tx, uint32_t elapsed, uint8_t *out, bool *marker)
{
	const uint32_t step = SB_DTMF_UPDATE_MS * RATE_PER_MS;
	int n = 0;

	*marker = false;
	if (!tx->active)
		return 0;
	if (elapsed >= tx->total) {
		for (int i = 0; i < SB_DTMF_END_PACKETS; i++)
			put_payload(out + i * SB_DTMF_PAYLOAD_BYTES, tx->event, true, tx->total);
		*marker = !tx->started;
		tx->active = false;
		tx->started = true;
		return SB_DTMF_END_PACKETS;
	}
	if (!tx->started) {
		put_payload(out, tx->event, false, elapsed ? elapsed : 1);
		*marker = true;
		tx->started = true;
		tx->next = (elapsed / step + 1) * step;
		return 1;
	}
	/* Updates on the grid, each carrying its own step, caught up after a late call. */
	while (elapsed >= tx->next && n < SB_DTMF_END_PACKETS) {
		put_payload(out + n * SB_DTMF_PAYLOAD_BYTES, tx->event, false, tx->next);
		tx->next += step;
		n++;
	}
	return n;
}

/* ---- SIP INFO ---------------------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* [*p, *end) without surrounding blanks. */
static void trim(const char **p, const char **end)
{
	while (*p < *end && is_blank(**p))
		(*p)++;
	while (*end > *p && is_blank((*end)[-1]))
		(*end)--;
}

/* One signal: a digit character, or "10"/"11" for * and #. Returns the digit or 0. */
static char parse_signal(const char *p, const char *end)
{
	size_t n = (size_t)(end - p);

	if (n == 1 && sb_dtmf_event(*p) >= 0)
		return sb_dtmf_digit((unsigned)sb_dtmf_event(*p));
	if (n == 2 && p[0] == '1' && (p[1] == '0' || p[1] == '1'))
		return p[1] == '0' ? '*' : '#';
	return 0;
}

/* Milliseconds, clamped to 0..SB_DTMF_MAX_MS; a negative number is 0; not a number: 0. */
static unsigned parse_duration(const char *p, const char *end)
{
	bool negative = p < end && *p == '-';
	unsigned v = 0;

	if (negative)
		p++;
	if (p == end)
		return 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (v <= SB_DTMF_MAX_MS)
			v = v * 10 + (unsigned)(*p - '0');
	}
	if (negative)
		return 0;
	return v > SB_DTMF_MAX_MS ? SB_DTMF_MAX_MS : v;
}

/* True when [p, end) is key, case-insensitively. */
static bool key_is(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);

	return (size_t)(end - p) == n && strncasecmp(p, key, n) == 0;
}

/* application/dtmf-relay: "Key = value" lines; exactly one Signal. */
static int parse_relay(const char *body, size_t len, struct sb_dtmf_report *out)
{
	const char *end = body + len, *eol;
	struct sb_dtmf_report r = {0};
	int signals = 0;

	for (const char *p = body; p < end; p = eol + 1) {
		const char *eq, *k = p, *v, *vend;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		eq = memchr(p, '=', (size_t)(eol - p));
		if (!eq)
			continue;
		v = eq + 1;
		vend = eol;
		trim(&k, &eq);
		trim(&v, &vend);
		if (key_is(k, eq, "Signal")) {
			r.digit = parse_signal(v, vend);
			if (!r.digit || ++signals > 1)
				return -EBADMSG;
		} else if (key_is(k, eq, "Duration")) {
			r.duration_ms = parse_duration(v, vend);
		}
	}
	if (signals != 1)
		return -EBADMSG;
	*out = r;
	return 0;
}

/* type/subtype equals want, case-insensitively; blanks and parameters after it are ignored. */
static bool type_is(const char *type, const char *want)
{
	size_t n = strlen(want);
	const char *rest;

	while (*type == ' ' || *type == '\t')
		type++;
	if (strncasecmp(type, want, n) != 0)
		return false;
	for (rest = type + n; *rest == ' ' || *rest == '\t'; rest++)
		;
	return *rest == '\0' || *rest == ';';
}

int sb_dtmf_info_parse(const char *type, const char *body, size_t len, struct sb_dtmf_report *out)
{
	const char *p, *end;
	char digit;
	bool relay;

	if (!type)
		return -ENOTSUP;
	relay = type_is(type, "application/dtmf-relay");
	if (!relay && !type_is(type, "application/dtmf"))
		return -ENOTSUP;
	if (!body || len > INFO_MAX_BYTES)
		return -EBADMSG;
	if (relay)
		return parse_relay(body, len, out);
	p = body;
	end = body + len;
	trim(&p, &end);
	digit = parse_signal(p, end);
	if (!digit)
		return -EBADMSG;
	*out = (struct sb_dtmf_report){.digit = digit};
	return 0;
}

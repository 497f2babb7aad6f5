/* Audio and events between a bot socket and its call's rings, in the call's protocol
 * profile: caller audio resampled to the bot's rate and out as media messages of the
 * profile's frame size, the caller's keys as dtmf events, bot audio resampled to 8 kHz and
 * digits into the playout queue and on to the down ring, marks echoed once played (or at
 * once on clear), the bot's control events, and the reassembly of fragmented messages.
 * Thread: the owning ws worker. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "bot"
#include <sb/log.h>

#include <sb/bot_proto.h>
#include <sb/common.h>
#include <sb/metrics.h>
#include <sb/msg.h>

#include "bot_conn_priv.h"

void sb_bot_conn_free_marks(struct sb_bot_conn *conn)
{
	while (!STAILQ_EMPTY(&conn->marks)) {
		struct sb_pending_mark *m = STAILQ_FIRST(&conn->marks);

		STAILQ_REMOVE_HEAD(&conn->marks, link);
		free(m);
	}
	conn->n_marks = 0;
}

static void send_mark(struct sb_bot_conn *conn, const char *name, bool cleared)
{
	char buf[SB_BOT_MSG_MAX];

	sb_bot_conn_send_encoded(
	        conn, buf,
	        conn->proto->mark(buf, sizeof(buf), ++conn->seq, &conn->who, name, cleared));
	STAT_ADD(conn, marks, 1);
}

/* Echoes the oldest pending mark (played, or dropped by a clear) and forgets it; returns its
 * id. */
static uint32_t echo_oldest_mark(struct sb_bot_conn *conn, bool cleared)
{
	struct sb_pending_mark *m = STAILQ_FIRST(&conn->marks);
	uint32_t id = m->id;

	STAILQ_REMOVE_HEAD(&conn->marks, link);
	conn->n_marks--;
	send_mark(conn, m->name, cleared);
	free(m);
	return id;
}

/* Echoes pending marks up to and including id, oldest first. A mark already echoed by a
 * clear is no longer pending and is ignored. */
static void marks_played(struct sb_bot_conn *conn, uint32_t id)
{
	struct sb_pending_mark *m;

	STAILQ_FOREACH(m, &conn->marks, link)
	if (m->id == id)
		break;
	if (!m)
		return;
	while (echo_oldest_mark(conn, false) != id)
		;
}

/* One media message of the caller audio gathered at the bot's rate, encoded in the worker's
 * buffer (sized for it when the connection was made). */
static void send_media(struct sb_bot_conn *conn)
{
	struct sb_ws_env *env = conn->env;
	int n = conn->proto->media(env->media_buf, env->media_size, ++conn->seq, &conn->who,
	                           ++conn->chunk, conn->up_samples * 1000 / (uint64_t)conn->rate,
	                           conn->up_buf, conn->up_n);

	if (n > 0)
		sb_bot_conn_send_media(conn, env->media_buf, (size_t)n, conn->proto->binary_media,
		                       sb_bot_audio_ms(conn->up_n, conn->rate), conn->up_at_us);
	conn->up_samples += conn->up_n;
	conn->up_n = 0;
}

/* Gathers caller audio at the bot's rate, sending each full media message. */
static void append_up(struct sb_bot_conn *conn, const int16_t *pcm, size_t n)
{
	while (n) {
		size_t k = conn->up_cap - conn->up_n;

		if (k > n)
			k = n;
		memcpy(conn->up_buf + conn->up_n, pcm, k * sizeof(int16_t));
		conn->up_n += k;
		pcm += k;
		n -= k;
		if (conn->up_n == conn->up_cap)
			send_media(conn);
	}
}

/* One 8 kHz frame of the caller, at the bot's rate. */
static void up_audio(struct sb_bot_conn *conn, const int16_t *pcm, size_t n)
{
	int16_t out[SB_FRAME_SAMPLES * 3 + 8]; /* 24 kHz, plus the resampler's phase */
	size_t k;

	if (!conn->up_rs) {
		append_up(conn, pcm, n);
		return;
	}
	k = sb_resampler_run(conn->up_rs, pcm, n, out, ARRAY_SIZE(out));
	append_up(conn, out, k);
}

void sb_bot_conn_flush_up(struct sb_bot_conn *conn)
{
	/* The caller's last samples, which the resampler held back as its look-ahead. */
	if (conn->up_rs) {
		int16_t out[512];

		append_up(conn, out, sb_resampler_drain(conn->up_rs, out, ARRAY_SIZE(out)));
	}
	if (conn->up_n)
		send_media(conn);
}

/* One frame from the media worker: caller audio, a mark played, hold, a key pressed. */
static void up_frame(struct sb_bot_conn *conn, const struct sb_frame *f)
{
	if (conn->state != SB_CONN_OPEN || conn->closing)
		return;
	if (f->kind == SB_FRAME_MARK) {
		marks_played(conn, f->mark_id);
	} else if (f->kind == SB_FRAME_HOLD || f->kind == SB_FRAME_UNHOLD) {
		if (conn->call->bot->event_opts & SB_BOT_OPT_HOLD)
			sb_bot_conn_send_event(conn, f->kind == SB_FRAME_HOLD ? "hold" : "unhold");
	} else if (f->kind == SB_FRAME_DTMF) {
		/* At once, ahead of the audio still being framed into a media message. */
		sb_bot_conn_send_dtmf(conn, f->digit, f->duration_ms);
	} else if (f->kind == SB_FRAME_AUDIO) {
		conn->up_at_us = f->at_us;
		up_audio(conn, f->pcm, f->samples);
	}
}

static void pump_up(struct sb_bot_conn *conn)
{
	struct sb_ring *up = &conn->call->up;
	const struct sb_frame *f;

	while ((f = sb_ring_read_slot(up))) {
		up_frame(conn, f);
		sb_ring_commit_read(up);
	}
}

/* Moves what the playout queue holds, in whole frames, into the down ring, stamped with the
 * clear epoch. Returns the frames moved. */
static unsigned move_frames(struct sb_bot_conn *conn)
{
	struct sb_call *c = conn->call;
	unsigned epoch = atomic_load_explicit(&c->clear_epoch, memory_order_relaxed), moved = 0;
	struct sb_frame *f;

	while ((f = sb_ring_write_slot(&c->down))) {
		if (sb_playout_pop(conn->playout, f) != 1)
			break;
		f->epoch = epoch;
		sb_ring_commit_write(&c->down);
		moved++;
	}
	return moved;
}

/* Bot audio the playout queue had no room for. */
static void count_dropped(struct sb_bot_conn *conn, long dropped)
{
	uint64_t frames;

	if (dropped <= 0)
		return;
	/* Counted in 20 ms frames of the 8 kHz queue, as the caller-to-bot drops are; a part of
	 * a frame counts as one. */
	frames = sb_frames_of(dropped);
	STAT_ADD(conn, queue_drops, frames);
	conn->call->rx_drop_frames += frames;
	log_warn_ratelimited("Bot audio over %d ms queued, dropped %" PRIu64 " frame(s) of 20 ms",
	                     conn->call->bot->max_queue_ms, frames);
}

/* The end of the bot's audio, which the down resampler holds back as its look-ahead, into the
 * playout queue; the resampler starts afresh. Done before what must follow all the audio sent
 * before it (a mark, a key, the padding of an utterance's end), so that it does. */
static void drain_down(struct sb_bot_conn *conn)
{
	int16_t out[512];
	size_t m;

	if (!conn->down_held)
		return;
	conn->down_held = false;
	m = sb_resampler_drain(conn->down_rs, out, ARRAY_SIZE(out));
	sb_le16_in_place(out, m);
	count_dropped(conn, sb_playout_push_audio(conn->playout, (const uint8_t *)out, m * 2));
}

/* A partial frame left at the end of the queue (an utterance that is not a whole number of
 * frames) is padded once the caller has had nothing to hear for SB_PLAYOUT_TAIL_MS: a late
 * chunk of a streaming bot completes it before then, keeping the audio continuous, and the
 * end of an utterance is not held back for the next one. With a mark or a key behind it, it
 * is padded as soon as the caller has nothing else to hear: the bot marked the end of what
 * it had sent, and chunks it sends while the caller still hears audio complete the frame
 * instead. Returns true when it padded. */
static bool flush_tail(struct sb_bot_conn *conn, bool starved)
{
	int64_t now = sb_now_ms();

	if (!starved || !(sb_playout_queued_samples(conn->playout) || conn->down_held)) {
		conn->tail_since_ms = 0;
		return false;
	}
	if (!sb_playout_queued_marks(conn->playout)) {
		if (!conn->tail_since_ms) {
			conn->tail_since_ms = now;
			return false;
		}
		if (now - conn->tail_since_ms < SB_PLAYOUT_TAIL_MS)
			return false;
	}
	drain_down(conn);
	sb_playout_flush(conn->playout);
	if (sb_playout_queued_samples(conn->playout) % SB_FRAME_SAMPLES)
		return false; /* no memory for the padding: tried again on the next pass */
	conn->tail_since_ms = 0;
	return true;
}

/* Fills the down ring from the playout queue; a connection with anything left in the queue
 * joins the backlog the refill pass visits, one with nothing leaves it. */
static void fill_down(struct sb_bot_conn *conn)
{
	unsigned moved = move_frames(conn);
	bool left;

	/* Nothing went down and the media thread has nothing left: the tail may be due. */
	if (flush_tail(conn, !moved && sb_ring_count(&conn->call->down) == 0))
		move_frames(conn);
	/* What the resampler holds back counts: an utterance whose frames came out whole leaves
	 * the queue empty and its last milliseconds there, for flush_tail() to play. */
	left = sb_playout_queued_samples(conn->playout) || sb_playout_queued_marks(conn->playout) ||
	       conn->down_held;
	if (left && !conn->in_backlog)
		LIST_INSERT_HEAD(&conn->env->backlog, conn, backlog_link);
	else if (!left && conn->in_backlog)
		LIST_REMOVE(conn, backlog_link);
	conn->in_backlog = left;
}

/* Frames of 8 kHz caller audio that surely do not overfill the media message being gathered:
 * the media worker names the call once that many wait (sb_call_up_due()). Rounded down (a
 * resampler's look-ahead may want one more: the call is then named once more for it), and at
 * most UP_NEED_MAX, so that the ring keeps room for what comes while this thread wakes (a
 * longer message is gathered over two namings or more); 1, every frame, while no message is
 * being gathered. */
#define UP_NEED_MAX (SB_UP_RING_FRAMES - 3)
_Static_assert(UP_NEED_MAX >= 1, "a need of one frame at least");
static unsigned up_need(const struct sb_bot_conn *conn)
{
	size_t n;

	if (conn->state != SB_CONN_OPEN || conn->closing || conn->detaching)
		return 1;
	n = (conn->up_cap - conn->up_n) * SB_RATE_8K / (size_t)conn->rate / SB_FRAME_SAMPLES;
	return n < UP_NEED_MAX ? (unsigned)n : UP_NEED_MAX;
}

void sb_bot_conn_take_up(struct sb_bot_conn *conn)
{
	conn->pumping = true;
	do
		pump_up(conn);
	while (sb_call_up_need_set(conn->call, up_need(conn)));
	conn->pumping = false;
}

void sb_bot_conn_take_left(struct sb_bot_conn *conn)
{
	struct sb_up_spill *left = &conn->call->up_left;
	const struct sb_frame *f;

	conn->pumping = true;
	while ((f = sb_up_spill_take(left)))
		up_frame(conn, f);
	conn->pumping = false;
	sb_up_spill_done(left);
}

void sb_bot_conn_pump_up(struct sb_bot_conn *conn)
{
	sb_log_ctx_set(conn->call->id); /* a dropped-audio warning names its call */
	sb_bot_conn_take_up(conn);
	sb_bot_conn_write_now(conn);
	sb_log_ctx_set(NULL);
}

void sb_bot_conn_refill(struct sb_bot_conn *conn)
{
	sb_log_ctx_set(conn->call->id);
	fill_down(conn);
	sb_log_ctx_set(NULL);
}

static void on_mark(struct sb_bot_conn *conn, const char *name)
{
	struct sb_pending_mark *m;
	size_t len = strlen(name);

	if (conn->n_marks >= (unsigned)conn->call->bot->max_marks) {
		STAT_ADD(conn, bad_messages, 1);
		log_warn_ratelimited("More than %d marks pending, dropping mark \"%s\"",
		                     conn->call->bot->max_marks, name);
		return;
	}
	m = malloc(sizeof(*m) + len + 1);
	if (!m)
		return;
	m->id = ++conn->next_mark_id;
	memcpy(m->name, name, len + 1);
	drain_down(conn);
	if (sb_playout_push_mark(conn->playout, m->id) < 0) {
		free(m);
		STAT_ADD(conn, bad_messages, 1);
		log_warn_ratelimited("Too many marks and digits pending, dropping mark \"%s\"",
		                     name);
		return;
	}
	STAILQ_INSERT_TAIL(&conn->marks, m, link);
	conn->n_marks++;
	fill_down(conn);
}

/* Barge-in: everything not yet played goes, at once; pending marks are echoed in order. */
static void on_clear(struct sb_bot_conn *conn)
{
	size_t dropped;

	atomic_fetch_add_explicit(&conn->call->clear_epoch, 1, memory_order_release);
	dropped = sb_playout_clear(conn->playout, NULL, NULL);
	if (conn->down_rs)
		sb_resampler_reset(conn->down_rs);
	conn->down_held = false;
	/* Half a sample of the dropped audio: what comes next starts on a sample of its own. */
	conn->has_odd = false;
	while (!STAILQ_EMPTY(&conn->marks))
		echo_oldest_mark(conn, true);
	STAT_ADD(conn, clears, 1);
	log_debug("clear: dropped %zu queued samples", dropped);
}

/* A key for the caller: sent in place of audio once the audio queued before it has played. */
static void on_dtmf(struct sb_bot_conn *conn, char digit, unsigned duration_ms)
{
	drain_down(conn);
	if (sb_playout_push_dtmf(conn->playout, digit, duration_ms) < 0) {
		STAT_ADD(conn, bad_messages, 1);
		log_warn_ratelimited("Too many marks and digits pending, dropping DTMF %c", digit);
		return;
	}
	log_info_ratelimited("Bot sends DTMF %c (%u ms)", digit, duration_ms);
	SB_METRIC_INC(dtmf_total, SB_M_PARTY_TO_CALLER);
	fill_down(conn);
}

/* Bot audio at its rate (PCM16 little-endian) into the playout queue at 8 kHz. */
static long push_audio(struct sb_bot_conn *conn, const uint8_t *le, size_t len)
{
	int16_t in[960], out[960 / 2 + 8]; /* out: 960 samples at 16 kHz or more, at 8 kHz */
	long dropped = 0;

	if (!conn->down_rs)
		return sb_playout_push_audio(conn->playout, le, len);
	conn->down_held = true;
	for (size_t n = len / 2; n;) {
		size_t k = n < ARRAY_SIZE(in) ? n : ARRAY_SIZE(in), m;
		long d;

		for (size_t i = 0; i < k; i++)
			in[i] = (int16_t)(le[2 * i] | le[2 * i + 1] << 8);
		m = sb_resampler_run(conn->down_rs, in, k, out, ARRAY_SIZE(out));
		sb_le16_in_place(out, m);
		d = sb_playout_push_audio(conn->playout, (const uint8_t *)out, m * 2);
		if (d < 0)
			return d;
		dropped += d;
		le += 2 * k;
		n -= k;
	}
	return dropped;
}

static void on_media(struct sb_bot_conn *conn, const uint8_t *pcm, size_t len)
{
	count_dropped(conn, push_audio(conn, pcm, len));
	fill_down(conn);
}

/* Events that play something to the caller (audio, its marks and clears, keys). */
static bool plays(enum sb_bot_ev type)
{
	return type == SB_BOT_EV_MEDIA || type == SB_BOT_EV_MARK || type == SB_BOT_EV_CLEAR ||
	       type == SB_BOT_EV_DTMF;
}

/* Binary audio may split a sample between frames (jambonz allows it): a trailing odd byte
 * waits for the next frame. Returns the bytes to decode at *data (0: none yet) and a copy to
 * free in *tmp when the kept byte had to be put in front. */
static size_t join_odd(struct sb_bot_conn *conn, const char **data, size_t len, char **tmp)
{
	*tmp = NULL;
	if (conn->has_odd && len) {
		*tmp = malloc(len + 1);
		if (!*tmp)
			return 0;
		(*tmp)[0] = (char)conn->odd_byte;
		memcpy(*tmp + 1, *data, len);
		*data = *tmp;
		len++;
		conn->has_odd = false;
	}
	if (len % 2) {
		conn->odd_byte = (uint8_t)(*data)[len - 1];
		conn->has_odd = true;
		len--;
	}
	return len;
}

void sb_bot_conn_on_message(struct sb_bot_conn *conn, const char *data, size_t len, bool binary)
{
	struct sb_bot_event ev = {0};
	const char *why = NULL;
	char *tmp = NULL;
	int r;

	if (conn->closing || conn->detaching)
		return;
	if (binary) {
		len = join_odd(conn, &data, len, &tmp);
		if (!len)
			return;
	}
	r = conn->proto->decode(data, len, binary, &ev, &why);
	free(tmp);
	if (r == 0 && !(conn->proto->accepts & (1u << ev.type))) {
		sb_bot_event_done(&ev);
		r = -ENOTSUP;
		why = "event not taken by this protocol";
	}
	if (r < 0) {
		STAT_ADD(conn, bad_messages, 1);
		log_warn_ratelimited("Bad message from the bot (%s), skipping it",
		                     why ? why : "invalid");
		return;
	}
	if (conn->call->bot->mode == SB_MODE_LISTEN && plays(ev.type)) {
		/* A listening bot does not speak to the caller. */
		STAT_ADD(conn, listen_ignored, 1);
		log_debug("Listen mode: ignoring the bot's playback event");
		sb_bot_event_done(&ev);
		return;
	}
	switch (ev.type) {
	case SB_BOT_EV_MEDIA:
		on_media(conn, ev.pcm, ev.pcm_len);
		break;
	case SB_BOT_EV_MARK:
		on_mark(conn, ev.name);
		break;
	case SB_BOT_EV_CLEAR:
		on_clear(conn);
		break;
	case SB_BOT_EV_HANGUP:
		if (!conn->hangup_sent) {
			conn->hangup_sent = true;
			log_info("Bot asked to hang up");
			struct sb_msg *m = sb_msg_new(SB_MSG_BOT_HANGUP, conn->call, 0);
			if (m && !conn->env->quitting)
				sb_mq_push(conn->env->control, m);
			else
				sb_msg_free(m);
		}
		break;
	case SB_BOT_EV_DTMF:
		on_dtmf(conn, ev.digit, ev.duration_ms);
		break;
	case SB_BOT_EV_TRANSFER:
		sb_bot_conn_on_transfer(conn, &ev);
		break;
	default:
		break;
	}
	sb_bot_event_done(&ev);
}

/* Appends a fragment, growing the buffer by doubling up to the message bound. */
bool sb_bot_conn_rx_append(struct sb_bot_conn *conn, const char *in, size_t len)
{
	size_t need = conn->rx_len + len, cap = conn->rx_cap ? conn->rx_cap : 4096;
	char *p;

	if (need > SB_BOT_MAX_MESSAGE_BYTES)
		return false;
	if (need > conn->rx_cap) {
		while (cap < need)
			cap *= 2;
		if (cap > SB_BOT_MAX_MESSAGE_BYTES)
			cap = SB_BOT_MAX_MESSAGE_BYTES;
		p = realloc(conn->rx, cap);
		if (!p)
			return false;
		conn->rx = p;
		conn->rx_cap = cap;
	}
	memcpy(conn->rx + conn->rx_len, in, len);
	conn->rx_len = need;
	return true;
}

static void on_complete(struct sb_bot_conn *conn, const char *data, size_t len)
{
	struct sb_ws_stats *st = conn->env->stats;

	atomic_fetch_add_explicit(&st->frames_rx, 1, memory_order_relaxed);
	conn->call->bot_frames_in++;
	if (conn->rx_skip) {
		atomic_fetch_add_explicit(&st->bad_messages, 1, memory_order_relaxed);
		if (conn->rx_binary && !conn->proto->binary_media)
			log_warn_ratelimited("Binary frame from the bot, skipping it");
		else
			log_warn_ratelimited("Bot message over %d bytes, skipped it",
			                     SB_BOT_MAX_MESSAGE_BYTES);
	} else {
		atomic_fetch_add_explicit(&st->bytes_rx, len, memory_order_relaxed);
		sb_bot_conn_on_message(conn, data, len, conn->rx_binary);
	}
}

/* A message that arrives in one piece is decoded where it lies; one in pieces (over wss, any
 * over lws's receive buffer; over ws://, one that straddles two reads) is reassembled first. */
void sb_bot_conn_on_piece(struct sb_bot_conn *conn, const char *in, size_t len, bool first,
                          bool last, bool binary)
{
	if (first) {
		conn->rx_len = 0;
		conn->rx_binary = binary;
		/* Binary frames carry audio in a profile that says so; elsewhere they are skipped.
		 */
		conn->rx_skip = conn->rx_binary && !conn->proto->binary_media;
	}
	if (first && last) {
		on_complete(conn, in, len);
		conn->rx_skip = false;
		return;
	}
	if (!conn->rx_skip && !sb_bot_conn_rx_append(conn, in, len))
		conn->rx_skip = true;
	if (!last)
		return;
	on_complete(conn, conn->rx, conn->rx_len);
	conn->rx_len = 0;
	conn->rx_skip = false;
	/* Not kept between messages: most calls would hold it idle most of the time. */
	free(conn->rx);
	conn->rx = NULL;
	conn->rx_cap = 0;
}

/* The outgoing messages of one bot connection, oldest first: control messages (start, marks,
 * dtmf, stop, ...), which are kept up to a bound on the queue's length and refused beyond it
 * (a peer that never reads would otherwise grow it without end), and media messages of caller
 * audio, whose total audio is bounded: past the bound the oldest media goes, so a bot that
 * reads slowly gets recent audio after a gap instead of an ever older backlog.
 * Pure: no I/O, no locks, no clock. Thread: the queue's owner (a ws worker). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

enum sb_txq_flags {
	SB_TXQ_MEDIA = 1 << 0,  /* caller audio: dropped when the bound is passed */
	SB_TXQ_BINARY = 1 << 1, /* a binary frame (else text) */
};

struct sb_txq_msg {
	TAILQ_ENTRY(sb_txq_msg) link;
	size_t len;          /* bytes of the message, after the queue's headroom */
	unsigned flags;      /* enum sb_txq_flags */
	unsigned audio_ms;   /* caller audio a media message carries (0 for control) */
	uint32_t at_us;      /* a media message: when its last caller audio was ready, monotonic
	                        microseconds modulo 2^32 (set by the caller; 0 on push) */
	unsigned char buf[]; /* headroom bytes, then the message */
};

/* What was dropped: media messages and the caller audio they carried. */
struct sb_txq_drop {
	unsigned msgs;
	unsigned audio_ms;
};

/* Read the counters; change the queue only through the functions below. */
struct sb_txq {
	TAILQ_HEAD(sb_txq_head, sb_txq_msg) msgs;
	size_t headroom;
	unsigned max_media_ms;
	unsigned max_msgs;
	unsigned count;       /* messages of either kind */
	unsigned media_count; /* media messages */
	unsigned media_ms;    /* caller audio in the media messages */
};

/* Thread: owner. An empty queue whose messages get headroom bytes in front (LWS_PRE), whose
 * media part holds at most max_media_ms of audio (beyond one message that alone is longer) and
 * which takes no control message once it holds max_msgs messages of either kind. */
void sb_txq_init(struct sb_txq *q, size_t headroom, unsigned max_media_ms, unsigned max_msgs);
/* Thread: owner. Frees every queued message; the queue is empty and usable again. */
void sb_txq_done(struct sb_txq *q);
/* Thread: owner. Appends a copy of len bytes of data. flags: enum sb_txq_flags; audio_ms: the
 * audio of a media message (ignored for control). When the media part then holds more than the
 * bound, the oldest media messages (never this one, never control) are freed and added to
 * *dropped (may be NULL). Returns 0, -ENOBUFS (a control message while the queue holds max_msgs
 * messages), -ENOMEM or -EOVERFLOW; on error nothing is queued or dropped. */
int sb_txq_push(struct sb_txq *q, const void *data, size_t len, unsigned flags, unsigned audio_ms,
                struct sb_txq_drop *dropped);
/* Thread: owner. The oldest message (still queued, owned by the queue), or NULL. */
struct sb_txq_msg *sb_txq_first(const struct sb_txq *q);
/* Thread: owner. The newest message (still queued, owned by the queue), or NULL. */
struct sb_txq_msg *sb_txq_last(const struct sb_txq *q);
/* Thread: owner. Frees the oldest message; no-op on an empty queue. */
void sb_txq_pop(struct sb_txq *q);
/* Thread: owner. Frees every media message, keeping control messages in their order; returns
 * what went. */
struct sb_txq_drop sb_txq_drop_media(struct sb_txq *q);

/* Thread: owner. Where the message's bytes start (after the headroom). */
static inline unsigned char *sb_txq_data(const struct sb_txq *q, struct sb_txq_msg *m)
{
	return m->buf + q->headroom;
}

/* A bot connection's outgoing queue: control and media messages in order, the media part
 * bounded by the caller audio it holds, the oldest media dropped first, and control refused
 * once the queue is at its length bound.
 * Pure. Thread: the queue's owner (a ws worker). Owns the queued messages. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sb/txq.h>

void sb_txq_init(struct sb_txq *q, size_t headroom, unsigned max_media_ms, unsigned max_msgs)
{
	TAILQ_INIT(&q->msgs);
	q->headroom = headroom;
	q->max_media_ms = max_media_ms;
	q->max_msgs = max_msgs;
	q->count = q->media_count = q->media_ms = 0;
}

static void unlink_msg(struct sb_txq *q, struct sb_txq_msg *m, struct sb_txq_drop *dropped)
{
	TAILQ_REMOVE(&q->msgs, m, link);
	q->count--;
	if (m->flags & SB_TXQ_MEDIA) {
		q->media_count--;
		q->media_ms -= m->audio_ms;
		if (dropped) {
			dropped->msgs++;
			dropped->audio_ms += m->audio_ms;
		}
	}
	free(m);
}

void sb_txq_done(struct sb_txq *q)
{
	while (!TAILQ_EMPTY(&q->msgs))
		unlink_msg(q, TAILQ_FIRST(&q->msgs), NULL);
}

/* The oldest media message other than keep, or NULL. Control messages ahead of it are few
 * (they are written as soon as the socket takes them), so the walk is short. */
static struct sb_txq_msg *oldest_media(const struct sb_txq *q, const struct sb_txq_msg *keep)
{
	struct sb_txq_msg *m;

	TAILQ_FOREACH(m, &q->msgs, link)
	{
		if (m == keep)
			return NULL;
		if (m->flags & SB_TXQ_MEDIA)
			return m;
	}
	return NULL;
}

int sb_txq_push(struct sb_txq *q, const void *data, size_t len, unsigned flags, unsigned audio_ms,
                struct sb_txq_drop *dropped)
{
	struct sb_txq_msg *m, *old;

	/* Media needs no such check: its audio bound already keeps its part of the queue short. */
	if (!(flags & SB_TXQ_MEDIA) && q->count >= q->max_msgs)
		return -ENOBUFS;
	if (len > SIZE_MAX - sizeof(*m) - q->headroom)
		return -EOVERFLOW;
	if ((flags & SB_TXQ_MEDIA) && audio_ms > UINT_MAX - q->media_ms)
		return -EOVERFLOW;
	m = malloc(sizeof(*m) + q->headroom + len);
	if (!m)
		return -ENOMEM;
	m->len = len;
	m->flags = flags;
	m->audio_ms = flags & SB_TXQ_MEDIA ? audio_ms : 0;
	m->at_us = 0;
	if (len)
		memcpy(m->buf + q->headroom, data, len);
	TAILQ_INSERT_TAIL(&q->msgs, m, link);
	q->count++;
	if (!(flags & SB_TXQ_MEDIA))
		return 0;
	q->media_count++;
	q->media_ms += m->audio_ms;
	while (q->media_ms > q->max_media_ms && (old = oldest_media(q, m)))
		unlink_msg(q, old, dropped);
	return 0;
}

struct sb_txq_msg *sb_txq_first(const struct sb_txq *q)
{
	return TAILQ_FIRST(&q->msgs);
}

struct sb_txq_msg *sb_txq_last(const struct sb_txq *q)
{
	return TAILQ_LAST(&q->msgs, sb_txq_head);
}

void sb_txq_pop(struct sb_txq *q)
{
	if (!TAILQ_EMPTY(&q->msgs))
		unlink_msg(q, TAILQ_FIRST(&q->msgs), NULL);
}

struct sb_txq_drop sb_txq_drop_media(struct sb_txq *q)
{
	struct sb_txq_drop d = {0};
	struct sb_txq_msg *m, *next;

	for (m = TAILQ_FIRST(&q->msgs); m; m = next) {
		next = TAILQ_NEXT(m, link);
		if (m->flags & SB_TXQ_MEDIA)
			unlink_msg(q, m, &d);
	}
	return d;
}

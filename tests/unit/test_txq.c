/* Unit tests for txq.c: messages come out in order with their headroom and kind, the media part
 * is bounded by its audio with the oldest media dropped first (never control, never the message
 * just queued), dropping all media keeps control in order, the counters follow, and control is
 * refused once the queue is at its length bound. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <sb/txq.h>

#include "harness.h"

#define HEAD 16
#define MAX_MSGS 4096

/* Pushes a media message whose text is its name. */
static int media(struct sb_txq *q, const char *name, unsigned ms, struct sb_txq_drop *d)
{
	return sb_txq_push(q, name, strlen(name), SB_TXQ_MEDIA, ms, d);
}

static int control(struct sb_txq *q, const char *name)
{
	return sb_txq_push(q, name, strlen(name), 0, 0, NULL);
}

/* The queued messages' texts, oldest first, joined by spaces. */
static const char *contents(struct sb_txq *q)
{
	static char buf[512];
	struct sb_txq_msg *m;
	size_t o = 0;

	buf[0] = '\0';
	TAILQ_FOREACH(m, &q->msgs, link)
	{
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s", o ? " " : "", (int)m->len,
		                      (const char *)sb_txq_data(q, m));
		if (o >= sizeof(buf))
			break;
	}
	return buf;
}

TEST(order_headroom_and_kind)
{
	struct sb_txq q;
	struct sb_txq_msg *m;
	int r = 0;

	sb_txq_init(&q, HEAD, 1000, MAX_MSGS);
	ASSERT_TRUE(sb_txq_first(&q) == NULL);
	ASSERT_TRUE(sb_txq_last(&q) == NULL);
	ASSERT_EQ(control(&q, "start"), 0);
	ASSERT_TRUE(sb_txq_last(&q) == sb_txq_first(&q));
	ASSERT_EQ(media(&q, "m1", 100, NULL), 0);
	/* The newest is the one just pushed, its stamp unset until the caller sets it. */
	m = sb_txq_last(&q);
	ASSERT_TRUE(m && m != sb_txq_first(&q) && m->at_us == 0);
	ASSERT_MEMEQ(sb_txq_data(&q, m), "m1", 2);
	m->at_us = 4242;
	ASSERT_EQ(sb_txq_push(&q, "\x01\x02", 2, SB_TXQ_MEDIA | SB_TXQ_BINARY, 100, NULL), 0);
	ASSERT_EQ(control(&q, "mark"), 0);
	ASSERT_MEMEQ(sb_txq_data(&q, sb_txq_last(&q)), "mark", 4);
	ASSERT_EQ(q.count, 4);
	ASSERT_EQ(q.media_count, 2);
	ASSERT_EQ(q.media_ms, 200);

	m = sb_txq_first(&q);
	ASSERT_TRUE(m && m->len == 5 && m->flags == 0 && m->audio_ms == 0);
	/* The bytes sit after the headroom, which the writer may use in front of them. */
	ASSERT_TRUE(sb_txq_data(&q, m) == m->buf + HEAD);
	ASSERT_MEMEQ(sb_txq_data(&q, m), "start", 5);
	sb_txq_pop(&q);
	m = sb_txq_first(&q);
	ASSERT_TRUE(m && m->flags == SB_TXQ_MEDIA && m->audio_ms == 100 && m->at_us == 4242);
	ASSERT_MEMEQ(sb_txq_data(&q, m), "m1", 2);
	sb_txq_pop(&q);
	ASSERT_EQ(q.media_ms, 100);
	m = sb_txq_first(&q);
	ASSERT_TRUE(m && m->flags == (SB_TXQ_MEDIA | SB_TXQ_BINARY) && m->len == 2);
	ASSERT_MEMEQ(sb_txq_data(&q, m), "\x01\x02", 2);
	sb_txq_pop(&q);
	ASSERT_STREQ(contents(&q), "mark");
	ASSERT_EQ(q.media_count, 0);
	ASSERT_EQ(q.media_ms, 0);
	sb_txq_pop(&q);
	ASSERT_TRUE(sb_txq_first(&q) == NULL);
	ASSERT_EQ(q.count, 0);
	sb_txq_pop(&q); /* empty: nothing happens */
	ASSERT_EQ(q.count, 0);
out:
	sb_txq_done(&q);
	return r;
}

TEST(control_audio_is_ignored)
{
	struct sb_txq q;
	int r = 0;

	sb_txq_init(&q, HEAD, 100, MAX_MSGS);
	/* audio_ms of a control message counts for nothing, and control is never bounded. */
	for (int i = 0; i < 50; i++)
		ASSERT_EQ(sb_txq_push(&q, "dtmf", 4, 0, 1000, NULL), 0);
	ASSERT_EQ(q.count, 50);
	ASSERT_EQ(q.media_ms, 0);
	ASSERT_EQ(sb_txq_first(&q)->audio_ms, 0);
out:
	sb_txq_done(&q);
	return r;
}

TEST(bound_drops_oldest_media_only)
{
	struct sb_txq q;
	struct sb_txq_drop d = {0};
	int r = 0;

	sb_txq_init(&q, HEAD, 300, MAX_MSGS);
	ASSERT_EQ(control(&q, "start"), 0);
	ASSERT_EQ(media(&q, "m1", 100, &d), 0);
	ASSERT_EQ(control(&q, "mark1"), 0);
	ASSERT_EQ(media(&q, "m2", 100, &d), 0);
	ASSERT_EQ(media(&q, "m3", 100, &d), 0);
	/* At the bound, not past it: nothing goes. */
	ASSERT_EQ(d.msgs, 0);
	ASSERT_EQ(q.media_ms, 300);
	ASSERT_EQ(media(&q, "m4", 100, &d), 0);
	ASSERT_EQ(d.msgs, 1);
	ASSERT_EQ(d.audio_ms, 100);
	ASSERT_STREQ(contents(&q), "start mark1 m2 m3 m4");
	ASSERT_EQ(control(&q, "dtmf"), 0);
	/* 200 ms more: the two oldest go, the control messages stay where they were. */
	ASSERT_EQ(media(&q, "m5", 200, &d), 0);
	ASSERT_EQ(d.msgs, 3);
	ASSERT_EQ(d.audio_ms, 300);
	ASSERT_STREQ(contents(&q), "start mark1 m4 dtmf m5");
	ASSERT_EQ(q.count, 5);
	ASSERT_EQ(q.media_count, 2);
	ASSERT_EQ(q.media_ms, 300);
out:
	sb_txq_done(&q);
	return r;
}

TEST(bound_drops_by_audio_not_count)
{
	struct sb_txq q;
	struct sb_txq_drop d = {0};
	char name[8];
	int r = 0;

	/* 20 ms messages: 50 of them fit a second, the 51st pushes the first out. */
	sb_txq_init(&q, HEAD, 1000, MAX_MSGS);
	for (int i = 1; i <= 50; i++) {
		snprintf(name, sizeof(name), "%d", i);
		ASSERT_EQ(media(&q, name, 20, &d), 0);
	}
	ASSERT_EQ(d.msgs, 0);
	ASSERT_EQ(q.media_count, 50);
	ASSERT_EQ(media(&q, "51", 20, &d), 0);
	ASSERT_EQ(d.msgs, 1);
	ASSERT_EQ(q.media_count, 50);
	ASSERT_EQ(sb_txq_first(&q)->len, 1);
	ASSERT_MEMEQ(sb_txq_data(&q, sb_txq_first(&q)), "2", 1);
	/* One 1000 ms message replaces all of them. */
	ASSERT_EQ(media(&q, "big", 1000, &d), 0);
	ASSERT_EQ(d.msgs, 51);
	ASSERT_STREQ(contents(&q), "big");
	ASSERT_EQ(q.media_ms, 1000);
out:
	sb_txq_done(&q);
	return r;
}

TEST(message_longer_than_bound_is_kept)
{
	struct sb_txq q;
	struct sb_txq_drop d = {0};
	int r = 0;

	sb_txq_init(&q, HEAD, 100, MAX_MSGS);
	ASSERT_EQ(media(&q, "a", 250, &d), 0);
	/* Alone over the bound: still queued, the newest audio is never the one dropped. */
	ASSERT_EQ(d.msgs, 0);
	ASSERT_STREQ(contents(&q), "a");
	ASSERT_EQ(control(&q, "mark"), 0);
	ASSERT_EQ(media(&q, "b", 250, &d), 0);
	ASSERT_EQ(d.msgs, 1);
	ASSERT_EQ(d.audio_ms, 250);
	ASSERT_STREQ(contents(&q), "mark b");
	ASSERT_EQ(q.media_ms, 250);
out:
	sb_txq_done(&q);
	return r;
}

TEST(drop_media_keeps_control_in_order)
{
	struct sb_txq q;
	struct sb_txq_drop d;
	int r = 0;

	sb_txq_init(&q, HEAD, 1000, MAX_MSGS);
	ASSERT_EQ(media(&q, "m1", 100, NULL), 0);
	ASSERT_EQ(control(&q, "mark1"), 0);
	ASSERT_EQ(media(&q, "m2", 100, NULL), 0);
	ASSERT_EQ(media(&q, "m3", 60, NULL), 0);
	ASSERT_EQ(control(&q, "dtmf"), 0);
	ASSERT_EQ(media(&q, "m4", 100, NULL), 0);
	d = sb_txq_drop_media(&q);
	ASSERT_EQ(d.msgs, 4);
	ASSERT_EQ(d.audio_ms, 360);
	ASSERT_STREQ(contents(&q), "mark1 dtmf");
	ASSERT_EQ(q.count, 2);
	ASSERT_EQ(q.media_count, 0);
	ASSERT_EQ(q.media_ms, 0);
	/* Nothing left to drop; what follows is queued after the control messages. */
	d = sb_txq_drop_media(&q);
	ASSERT_EQ(d.msgs, 0);
	ASSERT_EQ(d.audio_ms, 0);
	ASSERT_EQ(control(&q, "stop"), 0);
	ASSERT_STREQ(contents(&q), "mark1 dtmf stop");
out:
	sb_txq_done(&q);
	return r;
}

TEST(done_empties_and_queue_is_reusable)
{
	struct sb_txq q;
	int r = 0;

	sb_txq_init(&q, HEAD, 1000, MAX_MSGS);
	ASSERT_EQ(media(&q, "m1", 100, NULL), 0);
	ASSERT_EQ(control(&q, "c"), 0);
	sb_txq_done(&q);
	ASSERT_EQ(q.count, 0);
	ASSERT_EQ(q.media_count, 0);
	ASSERT_EQ(q.media_ms, 0);
	ASSERT_TRUE(sb_txq_first(&q) == NULL);
	ASSERT_EQ(media(&q, "m2", 100, NULL), 0);
	ASSERT_STREQ(contents(&q), "m2");
	/* An empty message is a message. */
	ASSERT_EQ(sb_txq_push(&q, NULL, 0, 0, 0, NULL), 0);
	ASSERT_EQ(q.count, 2);
out:
	sb_txq_done(&q);
	return r;
}

TEST(sizes_that_overflow_are_refused)
{
	struct sb_txq q;
	int r = 0;

	sb_txq_init(&q, HEAD, 1000, MAX_MSGS);
	ASSERT_EQ(media(&q, "m1", 100, NULL), 0);
	ASSERT_EQ(sb_txq_push(&q, "x", SIZE_MAX - 8, 0, 0, NULL), -EOVERFLOW);
	ASSERT_EQ(sb_txq_push(&q, "x", 1, SB_TXQ_MEDIA, UINT32_MAX, NULL), -EOVERFLOW);
	/* Refused pushes change nothing. */
	ASSERT_EQ(q.count, 1);
	ASSERT_EQ(q.media_ms, 100);
	ASSERT_STREQ(contents(&q), "m1");
out:
	sb_txq_done(&q);
	return r;
}

TEST(length_bound_refuses_control)
{
	struct sb_txq q;
	struct sb_txq_drop d = {0};
	int r = 0;

	sb_txq_init(&q, HEAD, 100, 3);
	ASSERT_EQ(control(&q, "c1"), 0);
	ASSERT_EQ(media(&q, "m1", 20, NULL), 0);
	ASSERT_EQ(control(&q, "c2"), 0);
	/* Full: a control message is refused and changes nothing. */
	ASSERT_EQ(control(&q, "c3"), -ENOBUFS);
	ASSERT_EQ(sb_txq_push(&q, "c3", 2, SB_TXQ_BINARY, 0, NULL), -ENOBUFS);
	ASSERT_EQ(q.count, 3);
	ASSERT_STREQ(contents(&q), "c1 m1 c2");
	/* Media still goes in: its audio bound, not the length, limits it. */
	ASSERT_EQ(media(&q, "m2", 20, &d), 0);
	ASSERT_EQ(d.msgs, 0);
	ASSERT_EQ(q.count, 4);
	ASSERT_EQ(control(&q, "c3"), -ENOBUFS);
	/* Room again once the peer has taken some. */
	sb_txq_pop(&q);
	sb_txq_pop(&q);
	ASSERT_EQ(control(&q, "c3"), 0);
	ASSERT_STREQ(contents(&q), "c2 m2 c3");
	ASSERT_EQ(control(&q, "c4"), -ENOBUFS);
out:
	sb_txq_done(&q);
	return r;
}

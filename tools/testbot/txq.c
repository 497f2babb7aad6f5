/* Outgoing side of one bot connection: a FIFO of ready-to-write text and binary frames, each
 * with LWS_PRE headroom, drained in WRITEABLE while the socket is not choked; an echo with
 * nothing before it is written at once. Thread: the lws service thread. Owns the queued frames
 * and their log records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testbot.h"

struct sb_tb_msg *sb_tb_msg_text(size_t len)
{
	struct sb_tb_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		return NULL;
	m->next = NULL;
	m->binary = false;
	m->raw = false;
	m->log_msg = NULL;
	m->log_raw = NULL;
	m->len = len;
	return m;
}

static struct sb_tb_msg *msg_new(const void *text, size_t len)
{
	struct sb_tb_msg *m = sb_tb_msg_text(len);

	if (m)
		memcpy(m->buf + LWS_PRE, text, len);
	return m;
}

static void msg_free(struct sb_tb_msg *m)
{
	json_decref(m->log_msg);
	free(m->log_raw);
	free(m);
}

static void append(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	if (c->txq_tail)
		c->txq_tail->next = m;
	else
		c->txq_head = m;
	c->txq_tail = m;
	c->txq_count++;
}

static void enqueue(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	/* This turn's echoes go first. */
	sb_tb_batch_flush(c);
	append(c, m);
	/* A connection without a socket (a unit test's) only queues. */
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

void sb_tb_txq_push(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	enqueue(c, m);
}

int sb_tb_send_json(struct sb_tb_conn *c, json_t *obj)
{
	struct sb_tb_msg *m;
	char *text;

	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	m = msg_new(text, strlen(text));
	free(text);
	if (!m)
		return -ENOMEM;
	if (c->app->evlog)
		m->log_msg = sb_tb_evlog_strip_payload(obj);
	enqueue(c, m);
	return 0;
}

int sb_tb_send_raw(struct sb_tb_conn *c, const char *text, size_t len)
{
	struct sb_tb_msg *m = msg_new(text, len);
	json_t *obj;

	if (!m)
		return -ENOMEM;
	if (c->app->evlog) {
		/* Raw text that happens to be an object is logged like any message. */
		obj = json_loadb(text, len, 0, NULL);
		if (json_is_object(obj))
			m->log_msg = sb_tb_evlog_strip_payload(obj);
		else
			m->log_raw = strndup(text, len);
		json_decref(obj);
	}
	enqueue(c, m);
	return 0;
}

int sb_tb_send_binary(struct sb_tb_conn *c, const void *data, size_t len)
{
	struct sb_tb_msg *m = msg_new(data, len);

	if (!m)
		return -ENOMEM;
	m->binary = true;
	enqueue(c, m);
	return 0;
}

static void log_tx(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	json_t *f, *event;

	if (!c->app->evlog)
		return;
	if (m->binary) {
		f = json_pack("{s:s,s:I}", "event", "media", "bytes", (json_int_t)m->len);
	} else if (m->log_msg) {
		/* The raw protocol's control frames name themselves by "type". */
		event = json_object_get(m->log_msg, "event");
		if (!json_is_string(event))
			event = json_object_get(m->log_msg, "type");
		f = json_pack("{s:O?,s:O}", "event", event, "msg", m->log_msg);
	} else {
		f = json_pack("{s:n,s:o}", "event", "raw",
		              sb_tb_evlog_raw(m->log_raw ? m->log_raw : "",
		                              m->log_raw ? strlen(m->log_raw) : 0));
	}
	sb_tb_evlog_write(c->app->evlog, c->id, "tx", f);
	json_decref(f);
}

/* Writes the head of the queue. Returns 0, or -1 when the socket failed. */
static int write_head(struct sb_tb_conn *c)
{
	struct sb_tb_msg *m = c->txq_head;
	size_t len = m->len;
	int n;

	c->txq_head = m->next;
	if (!c->txq_head)
		c->txq_tail = NULL;
	c->txq_count--;
	/* Logged when written, so t_ms is when the frame left, not when it was queued. */
	log_tx(c, m);
	n = lws_write(c->wsi, m->buf + LWS_PRE, len,
	              m->raw      ? LWS_WRITE_RAW
	              : m->binary ? LWS_WRITE_BINARY
	                          : LWS_WRITE_TEXT);
	msg_free(m);
	return n < 0 || (size_t)n < len ? -1 : 0;
}

/* An echo written from the receive callback costs no WRITEABLE turn: asking for POLLOUT and
 * withdrawing it after the write are two epoll_ctl() calls, and a turn of the loop, per
 * message (a fifth of the bot's CPU at 2000 calls). lws keeps what the kernel does not take
 * and flushes it on POLLOUT; lws_partial_buffered() says so until then, and anything after it
 * waits in the queue. */
void sb_tb_txq_push_now(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	sb_tb_batch_flush(c);
	if (!c->wsi || c->txq_head || c->close_code || c->write_failed ||
	    lws_partial_buffered(c->wsi)) {
		enqueue(c, m);
		return;
	}
	append(c, m);
	if (write_head(c) < 0) {
		/* The socket failed: WRITEABLE closes the connection. */
		c->write_failed = true;
		lws_callback_on_writable(c->wsi);
	}
}

int sb_tb_txq_writeable(struct sb_tb_conn *c)
{
	if (c->write_failed)
		return -1;
	sb_tb_batch_flush(c);
	if (c->write_failed)
		return -1;
	if (!c->txq_head) {
		if (!c->close_code)
			return 0;
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, NULL, 0);
		return -1;
	}
	/* Drain while the socket takes more: one frame a callback falls behind 20 ms messages
	 * on thousands of connections. */
	do {
		if (write_head(c) < 0)
			return -1;
	} while (c->txq_head && !lws_send_pipe_choked(c->wsi));
	/* The close, if one is pending, goes out on the next callback, after the last frame. */
	if (c->txq_head || c->close_code)
		lws_callback_on_writable(c->wsi);
	return 0;
}

void sb_tb_txq_clear(struct sb_tb_conn *c)
{
	struct sb_tb_msg *m;

	sb_tb_batch_free(c);
	while ((m = c->txq_head)) {
		c->txq_head = m->next;
		msg_free(m);
	}
	c->txq_tail = NULL;
	c->txq_count = 0;
}

void sb_tb_close_after_queue(struct sb_tb_conn *c, int code)
{
	if (!c->close_code)
		c->close_code = code;
	lws_callback_on_writable(c->wsi);
}

void sb_tb_close_now(struct sb_tb_conn *c, int code)
{
	sb_tb_txq_clear(c);
	c->wait = SB_TB_WAIT_DONE;
	c->close_code = code;
	lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
	lws_callback_on_writable(c->wsi);
}

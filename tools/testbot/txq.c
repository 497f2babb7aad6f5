/* Outgoing side of one bot connection: a FIFO of ready-to-write text frames, each with
 * LWS_PRE headroom, drained one lws_write per WRITEABLE callback. Thread: the lws service
 * thread. Owns the queued frames and their log records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testbot.h"

static struct sb_tb_msg *msg_new(const char *text, size_t len)
{
	struct sb_tb_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		return NULL;
	m->next = NULL;
	m->log_msg = NULL;
	m->log_raw = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	return m;
}

static void msg_free(struct sb_tb_msg *m)
{
	json_decref(m->log_msg);
	free(m->log_raw);
	free(m);
}

static void enqueue(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	if (c->txq_tail)
		c->txq_tail->next = m;
	else
		c->txq_head = m;
	c->txq_tail = m;
	c->txq_count++;
	lws_callback_on_writable(c->wsi);
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

static json_t *media_msg(struct sb_tb_conn *c, const char *b64, enum sb_tb_key key)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "event", json_string("media"));
	if (key == SB_TB_KEY_SNAKE)
		json_object_set_new(obj, "stream_sid", json_string(c->sid));
	else if (key == SB_TB_KEY_CAMEL)
		json_object_set_new(obj, "streamSid", json_string(c->sid));
	json_object_set_new(obj, "media", json_pack("{s:s}", "payload", b64));
	return obj;
}

int sb_tb_send_pcm(struct sb_tb_conn *c, const uint8_t *pcm, size_t len, size_t chunk_bytes,
                   enum sb_tb_key key)
{
	size_t off, n;
	char *b64;
	json_t *obj;
	int r = 0;

	if (!chunk_bytes)
		return -EINVAL;
	b64 = malloc(chunk_bytes * 4 / 3 + 8);
	if (!b64)
		return -ENOMEM;
	for (off = 0; off < len && !r; off += n) {
		n = len - off < chunk_bytes ? len - off : chunk_bytes;
		if (lws_b64_encode_string((const char *)pcm + off, (int)n, b64,
		                          (int)(chunk_bytes * 4 / 3 + 8)) < 0) {
			r = -ENOSPC;
			break;
		}
		obj = media_msg(c, b64, key);
		r = obj ? sb_tb_send_json(c, obj) : -ENOMEM;
		json_decref(obj);
	}
	free(b64);
	return r;
}

static void log_tx(struct sb_tb_conn *c, struct sb_tb_msg *m)
{
	json_t *f;

	if (!c->app->evlog)
		return;
	if (m->log_msg) {
		f = json_pack("{s:O?,s:O}", "event", json_object_get(m->log_msg, "event"), "msg",
		              m->log_msg);
	} else {
		f = json_pack("{s:n,s:o}", "event", "raw",
		              sb_tb_evlog_raw(m->log_raw ? m->log_raw : "",
		                              m->log_raw ? strlen(m->log_raw) : 0));
	}
	sb_tb_evlog_write(c->app->evlog, c->id, "tx", f);
	json_decref(f);
}

int sb_tb_txq_writeable(struct sb_tb_conn *c)
{
	struct sb_tb_msg *m = c->txq_head;
	int n;

	if (!m) {
		if (!c->close_code)
			return 0;
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, NULL, 0);
		return -1;
	}
	c->txq_head = m->next;
	if (!c->txq_head)
		c->txq_tail = NULL;
	c->txq_count--;
	/* Logged when written, so t_ms is when the frame left, not when it was queued. */
	log_tx(c, m);
	n = lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
	if (n < (int)m->len) {
		msg_free(m);
		return -1;
	}
	msg_free(m);
	if (c->txq_head || c->close_code)
		lws_callback_on_writable(c->wsi);
	return 0;
}

void sb_tb_txq_clear(struct sb_tb_conn *c)
{
	struct sb_tb_msg *m;

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

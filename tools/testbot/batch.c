/* The echoes of one turn of the loop, per connection: the fast path frames each echo into the
 * connection's batch, and after the turn every batch goes out in one write.
 * Thread: the lws service thread. Owns each connection's batch buffer.
 *
 * DESIGN: lws hands over one message a callback, and several messages of one connection often
 * come in one read (1.7 at 2000 calls); an echo written per message is a send() and a TCP
 * segment each, the bot's largest cost and the bridge's reads. The frames are written as the
 * server writes a text frame (RFC 6455 §5.2: FIN, opcode 1, unmasked) and go out through
 * lws_write(LWS_WRITE_RAW), which keeps what the kernel does not take like any frame. Order
 * holds: a batch is flushed before anything is queued behind it, and a connection with queued
 * frames takes no batch. */
#include <stdlib.h>
#include <string.h>

#include "testbot.h"

#define BATCH_MIN 2048
#define BATCH_MAX (1u << 20) /* about 5 s of echoes at 24 kHz: more is a stuck turn */

size_t sb_tb_ws_text_header(unsigned char *out, size_t len)
{
	out[0] = 0x81; /* FIN, text */
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

static void list_add(struct sb_tb_conn *c)
{
	struct sb_tb_app *app = c->app;

	if (c->batch_pprev)
		return;
	c->batch_next = app->batched;
	if (app->batched)
		app->batched->batch_pprev = &c->batch_next;
	app->batched = c;
	c->batch_pprev = &app->batched;
}

static void list_del(struct sb_tb_conn *c)
{
	if (!c->batch_pprev)
		return;
	*c->batch_pprev = c->batch_next;
	if (c->batch_next)
		c->batch_next->batch_pprev = c->batch_pprev;
	c->batch_next = NULL;
	c->batch_pprev = NULL;
}

unsigned char *sb_tb_batch_add(struct sb_tb_conn *c, size_t len)
{
	size_t need = SB_TB_WS_HEADER_MAX + len, cap;
	unsigned char *b;

	if (len > BATCH_MAX || c->batch_len + need > BATCH_MAX)
		return NULL;
	if (LWS_PRE + c->batch_len + need > c->batch_cap) {
		cap = c->batch_cap ? c->batch_cap : BATCH_MIN;
		while (cap < LWS_PRE + c->batch_len + need)
			cap *= 2;
		b = realloc(c->batch, cap);
		if (!b)
			return NULL;
		c->batch = b;
		c->batch_cap = cap;
	}
	b = c->batch + LWS_PRE + c->batch_len;
	c->batch_len += sb_tb_ws_text_header(b, len) + len;
	list_add(c);
	return c->batch + LWS_PRE + c->batch_len - len;
}

void sb_tb_batch_flush(struct sb_tb_conn *c)
{
	struct sb_tb_msg *m;
	size_t len = c->batch_len;
	int n;

	list_del(c);
	if (!len)
		return;
	c->batch_len = 0;
	if (!c->wsi || c->txq_head || c->write_failed || lws_partial_buffered(c->wsi)) {
		/* Behind what waits: the batch waits too, as one raw frame run. */
		m = sb_tb_msg_text(len);
		if (!m)
			return; /* without memory the echoes are lost, as json_pack's would be */
		m->raw = true;
		memcpy(m->buf + LWS_PRE, c->batch + LWS_PRE, len);
		sb_tb_txq_push(c, m);
		return;
	}
	n = lws_write(c->wsi, c->batch + LWS_PRE, len, LWS_WRITE_RAW);
	if (n < 0 || (size_t)n < len) {
		/* The socket failed: WRITEABLE closes the connection. */
		c->write_failed = true;
		lws_callback_on_writable(c->wsi);
	}
}

void sb_tb_batch_flush_all(struct sb_tb_app *app)
{
	while (app->batched)
		sb_tb_batch_flush(app->batched);
}

void sb_tb_batch_free(struct sb_tb_conn *c)
{
	list_del(c);
	free(c->batch);
	c->batch = NULL;
	c->batch_len = 0;
	c->batch_cap = 0;
}

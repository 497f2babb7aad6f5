/* Events between a bot and the rest of the bridge that carry no audio: the extension events
 * and keys the bridge sends the bot, and the bot's transfer requests, posted to control, which
 * decides (target checks, REFER or a bridged dial) and reports a failure back.
 * Thread: the owning ws worker. */
#include <stdlib.h>
#include <string.h>

#define LOG_SUBSYS "bot"
#include <sb/log.h>

#include <sb/bot_proto.h>
#include <sb/metrics.h>
#include <sb/msg.h>

#include "bot_conn_priv.h"

void sb_bot_conn_send_event(struct sb_bot_conn *conn, const char *event)
{
	char buf[512];

	if (conn->state != SB_CONN_OPEN || conn->closing)
		return;
	sb_bot_conn_send_encoded(
	        conn, buf, conn->proto->event(buf, sizeof(buf), ++conn->seq, &conn->who, event));
}

void sb_bot_conn_send_dtmf(struct sb_bot_conn *conn, char digit, unsigned duration_ms)
{
	char buf[512];

	if (conn->state != SB_CONN_OPEN || conn->closing)
		return;
	sb_bot_conn_send_encoded(
	        conn, buf,
	        conn->proto->dtmf(buf, sizeof(buf), ++conn->seq, &conn->who, digit, duration_ms));
	SB_METRIC_INC(dtmf_total, SB_M_PARTY_TO_BOT);
}

/* The target and headers are bounded by the parser (bot_proto.c); a bot may ask again and
 * again, so the line is bounded, the rest counted. */
void sb_bot_conn_on_transfer(struct sb_bot_conn *conn, const struct sb_bot_event *ev)
{
	size_t len = ev->to ? strlen(ev->to) + 1 : 0, n = ev->n_headers, o;
	struct sb_transfer_req *req;
	struct sb_msg *m;

	if (n > SB_TRANSFER_REQ_HEADERS)
		n = SB_TRANSFER_REQ_HEADERS;
	for (size_t i = 0; i < n; i++)
		len += strlen(ev->headers[i].name) + strlen(ev->headers[i].value) + 2;
	req = calloc(1, sizeof(*req) + len);
	m = req ? sb_msg_new(SB_MSG_BOT_TRANSFER, conn->call, 0) : NULL;
	if (!m || conn->env->quitting) {
		free(req);
		sb_msg_free(m);
		return;
	}
	o = 0;
	if (ev->to) {
		req->to = strcpy(req->text, ev->to);
		o = strlen(ev->to) + 1;
	}
	for (size_t i = 0; i < n; i++) {
		req->headers[i].name = strcpy(req->text + o, ev->headers[i].name);
		o += strlen(ev->headers[i].name) + 1;
		req->headers[i].value = strcpy(req->text + o, ev->headers[i].value);
		o += strlen(ev->headers[i].value) + 1;
	}
	req->n_headers = n;
	m->data = req;
	log_info_ratelimited("Bot asks for a transfer to %s",
	                     ev->to ? ev->to : "the trunk's destination");
	sb_mq_push(conn->env->control, m);
}

void sb_bot_conn_transfer_failed(struct sb_bot_conn *conn, const char *to, int status,
                                 const char *reason)
{
	char buf[SB_BOT_MSG_MAX];

	if (conn->state != SB_CONN_OPEN || conn->closing)
		return;
	sb_bot_conn_send_encoded(conn, buf,
	                         conn->proto->transfer_failed(buf, sizeof(buf), ++conn->seq,
	                                                      &conn->who, to, status, reason));
}

/* The test bot's WebSocket server: accepts any path and any subprotocol, keeps one
 * sb_tb_conn per connection, reassembles fragmented messages, logs them and dispatches them
 * to the protocol's handlers (text and binary). Thread: the lws service thread (all
 * callbacks). Owns the connection list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbot.h"

#define RX_KEEP_BYTES (64 * 1024)

/* Headers worth logging at open; lws 4.1 cannot enumerate unknown headers, so X- headers
 * are looked up by name. */
static const char *const x_headers[] = {
        "x-call-id:",
        "x-uui:",
        "x-customer-header:",
        "x-account-sid:",
        "x-callsid:",
        "x-stream-sid:",
        "x-request-id:",
        "x-api-key:",
        "x-auth-token:",
        "x-token:",
        "x-test:",
        "x-exotel-accountsid:",
        "x-exotel-callsid:",
        "x-sipbridge-call-id:",
        NULL,
};

static struct sb_tb_app *app_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* Picks the client's first offered subprotocol as ours, so the handshake echoes it back. */
static void adopt_subprotocol(struct lws *wsi)
{
	struct sb_tb_app *app = app_of(wsi);
	struct lws_protocols *pcol = (struct lws_protocols *)lws_get_protocol(wsi);
	char list[128];
	size_t n;

	if (lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL) <= 0)
		return;
	n = strcspn(list + strspn(list, " \t"), " \t,");
	if (!n || n >= sizeof(app->pcol_name))
		return;
	memcpy(app->pcol_name, list + strspn(list, " \t"), n);
	app->pcol_name[n] = '\0';
	/* lws matches the offer against protocol names; the vhost has only this one. */
	pcol->name = app->pcol_name;
}

static void add_header(json_t *h, struct lws *wsi, const char *key, enum lws_token_indexes t)
{
	char buf[1024];

	if (lws_hdr_copy(wsi, buf, sizeof(buf), t) > 0)
		json_object_set_new(h, key, json_string(buf));
}

static json_t *open_headers(struct lws *wsi)
{
	json_t *h = json_object();
	char buf[1024], name[64];
	size_t i, nl;

	add_header(h, wsi, "host", WSI_TOKEN_HOST);
	add_header(h, wsi, "authorization", WSI_TOKEN_HTTP_AUTHORIZATION);
	add_header(h, wsi, "user-agent", WSI_TOKEN_HTTP_USER_AGENT);
	add_header(h, wsi, "origin", WSI_TOKEN_ORIGIN);
	add_header(h, wsi, "sec-websocket-protocol", WSI_TOKEN_PROTOCOL);
	for (i = 0; x_headers[i]; i++) {
		nl = strlen(x_headers[i]);
		if (lws_hdr_custom_copy(wsi, buf, sizeof(buf), x_headers[i], (int)nl) < 0)
			continue;
		memcpy(name, x_headers[i], nl - 1);
		name[nl - 1] = '\0';
		json_object_set_new(h, name, json_string(buf));
	}
	return h;
}

/* Path plus the query lws split into urldecoded "k=v" fragments. */
static json_t *open_path(struct lws *wsi)
{
	char path[2048], frag[512];
	size_t len;
	int i;

	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	len = strlen(path);
	for (i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
	     i++) {
		if (len + strlen(frag) + 2 >= sizeof(path))
			break;
		path[len++] = i ? '&' : '?';
		strcpy(path + len, frag);
		len += strlen(frag);
	}
	return json_string(path);
}

static void on_open(struct lws *wsi, struct sb_tb_conn *c)
{
	struct sb_tb_app *app = app_of(wsi);
	json_t *f;

	c->app = app;
	c->wsi = wsi;
	c->id = ++app->next_id;
	c->rec_fd = -1;
	c->sample_rate = 8000;
	c->next = app->conns;
	if (app->conns)
		app->conns->prev = c;
	app->conns = c;
	app->conn_count++;
	sb_tb_arrivals_open(c);
	if (app->evlog) {
		f = json_pack("{s:o,s:o}", "path", open_path(wsi), "headers", open_headers(wsi));
		sb_tb_evlog_write(app->evlog, c->id, "open", f);
		json_decref(f);
	}
	if (app->stopping)
		sb_tb_close_after_queue(c, LWS_CLOSE_STATUS_GOINGAWAY);
}

static void on_closed(struct sb_tb_conn *c)
{
	struct sb_tb_app *app = c->app;
	int code = c->peer_close_code ? c->peer_close_code : c->close_code;
	json_t *f;

	if (!app)
		return;
	f = code ? json_pack("{s:i}", "code", code) : json_pack("{s:n}", "code");
	sb_tb_evlog_write(app->evlog, c->id, "close", f);
	json_decref(f);
	sb_tb_timer_stop(c);
	sb_tb_txq_clear(c);
	/* Its number may name something else next. */
	if (c->wsi)
		sb_tb_rxstamp_set(lws_get_socket_fd(c->wsi), false);
	free(c->rx);
	if (c->rec_fd >= 0)
		close(c->rec_fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		app->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	app->conn_count--;
	c->app = NULL;
}

static void on_peer_close(struct sb_tb_conn *c, const unsigned char *in, size_t len)
{
	if (len >= 2)
		c->peer_close_code = in[0] << 8 | in[1];
}

static void log_rx_error(struct sb_tb_conn *c, const char *error, const void *data, size_t len)
{
	json_t *f;

	if (!c->app->evlog)
		return;
	f = json_pack("{s:n,s:s,s:o}", "event", "error", error, "raw", sb_tb_evlog_raw(data, len));
	sb_tb_evlog_write(c->app->evlog, c->id, "rx", f);
	json_decref(f);
}

static void log_rx(struct sb_tb_conn *c, json_t *msg, const char *event)
{
	json_t *f;

	if (!c->app->evlog)
		return;
	f = json_pack("{s:s?,s:o}", "event", event, "msg", sb_tb_evlog_strip_payload(msg));
	sb_tb_evlog_write(c->app->evlog, c->id, "rx", f);
	json_decref(f);
}

static void log_rx_bytes(struct sb_tb_conn *c, size_t len)
{
	json_t *f;

	if (!c->app->evlog)
		return;
	f = json_pack("{s:s,s:I}", "event", "media", "bytes", (json_int_t)len);
	sb_tb_evlog_write(c->app->evlog, c->id, "rx", f);
	json_decref(f);
}

static bool strict_twilio(const struct sb_tb_conn *c)
{
	return c->app->strict && c->app->proto == SB_TB_PROTO_TWILIO;
}

/* Binary frames carry the raw protocol's PCM; the JSON protocols have none. */
static void on_binary(struct sb_tb_conn *c, const void *data, size_t len)
{
	if (c->app->proto != SB_TB_PROTO_RAW) {
		log_rx_error(c, "binary frame", data, len);
		if (strict_twilio(c))
			sb_tb_strict_fail(c, "binary frame", data, len);
		return;
	}
	log_rx_bytes(c, len);
	sb_tb_script_note_event(c, "media", NULL);
	sb_tb_on_audio(c, data, len);
}

static void on_text(struct sb_tb_conn *c, const void *data, size_t len)
{
	const char *event;
	json_t *msg;

	/* Media in the bridge's own shape, the bulk of the traffic, skips jansson. */
	if (sb_tb_fast_media(c, data, len))
		return;
	msg = json_loadb(data, len, 0, NULL);
	if (!msg) {
		log_rx_error(c, "not json", data, len);
		if (strict_twilio(c))
			sb_tb_strict_fail(c, "not json", data, len);
		return;
	}
	event = sb_tb_rx_event(c, msg);
	log_rx(c, msg, event);
	if (strict_twilio(c) && sb_tb_strict_check(c, msg, data, len) < 0) {
		json_decref(msg);
		return;
	}
	sb_tb_script_note_event(c, event, msg);
	if (event && !strcmp(event, "start"))
		sb_tb_on_start(c, msg);
	else if (event && !strcmp(event, "media"))
		sb_tb_on_media(c, msg);
	json_decref(msg);
}

static void on_message(struct sb_tb_conn *c, const void *data, size_t len)
{
	/* After a violation the connection only waits for its close. */
	if (c->violated)
		return;
	if (c->rx_binary)
		on_binary(c, data, len);
	else
		on_text(c, data, len);
	if (c->app->mode == SB_TB_MODE_SCRIPT && c->wait == SB_TB_WAIT_EVENT)
		sb_tb_script_run(c);
}

static int too_big(struct sb_tb_conn *c)
{
	log_rx_error(c, "message too big", c->rx, c->rx_len);
	c->rx_len = 0;
	sb_tb_txq_clear(c);
	c->wait = SB_TB_WAIT_DONE;
	c->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
	lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
	lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
	return -1;
}

static int on_receive(struct lws *wsi, struct sb_tb_conn *c, const void *in, size_t len)
{
	bool final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	unsigned char *p;
	size_t cap;

	if (!c->rx_active) {
		c->rx_binary = lws_frame_is_binary(wsi);
		/* Whole messages, the usual case, are handled without a copy. */
		if (final) {
			on_message(c, in, len);
			return 0;
		}
		c->rx_active = true;
		c->rx_len = 0;
	}
	if (c->rx_len + len > SB_TB_MAX_MSG_BYTES)
		return too_big(c);
	if (c->rx_len + len > c->rx_cap) {
		cap = c->rx_cap ? c->rx_cap : 16384;
		while (cap < c->rx_len + len)
			cap *= 2;
		p = realloc(c->rx, cap);
		if (!p)
			return too_big(c);
		c->rx = p;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!final)
		return 0;
	c->rx_active = false;
	on_message(c, c->rx, c->rx_len);
	c->rx_len = 0;
	/* Thousands of idle connections must not each hold a megabyte. */
	if (c->rx_cap > RX_KEEP_BYTES) {
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	return 0;
}

static void on_timer(struct sb_tb_conn *c)
{
	if (!c->app)
		return;
	if (c->app->mode == SB_TB_MODE_TONE)
		sb_tb_tone_tick(c);
	else if (c->app->mode == SB_TB_MODE_SCRIPT)
		sb_tb_script_timer(c);
}

static int on_http(struct lws *wsi)
{
	/* Plain HTTP is not part of the protocol: answer 404 and finish. */
	if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
		return -1;
	return lws_http_transaction_completed(wsi);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct sb_tb_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (in && !strcmp(in, "websocket")) {
			adopt_subprotocol(wsi);
			/* Before the 101 goes out (lws reports ESTABLISHED after writing it): no
			 * client can have seen the handshake complete before this time. */
			sb_tb_evlog_write(app_of(wsi)->evlog, 0, "upgrade", NULL);
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		return on_http(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		on_open(wsi, c);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return on_receive(wsi, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c->app ? sb_tb_txq_writeable(c) : 0;
	case LWS_CALLBACK_TIMER:
		on_timer(c);
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		on_peer_close(c, in, len);
		return 0;
	case LWS_CALLBACK_CLOSED:
		on_closed(c);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* Not const: adopt_subprotocol() renames the entry during each upgrade. */
struct lws_protocols sb_tb_protocols[] = {
        {
                .name = "sipbridge-testbot",
                .callback = callback,
                .per_session_data_size = sizeof(struct sb_tb_conn),
                .rx_buffer_size = 16384,
        },
        {0},
};

void sb_tb_close_all(struct sb_tb_app *app)
{
	struct sb_tb_conn *c;

	app->stopping = true;
	for (c = app->conns; c; c = c->next)
		sb_tb_close_now(c, LWS_CLOSE_STATUS_GOINGAWAY);
}

/* One webhook attempt's HTTP exchange on its lws connection: the POST's headers and body, the
 * response's status, and the attempt's end when lws reports an error or the exchange is over.
 * Thread: the webhook thread (lws callbacks). Owns nothing: the job is webhook.c's. */
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>

#define LOG_SUBSYS "webhook"
#include <sb/log.h>

#include <sb/base64.h>

#include "webhook_priv.h"

/* lws is done with wsi and closes it, calling back on it once more as it frees it: that call
 * must not reach j, which attempt_done() may free. */
static void wsi_gone(struct sb_webhook_job *j, struct lws *wsi)
{
	lws_set_opaque_user_data(wsi, NULL);
	j->wsi = NULL;
}

/* Content-Type, Content-Length, the signature and, for a URL with userinfo, Basic auth. */
static int append_headers(struct sb_webhook_job *j, struct lws *wsi, unsigned char **p,
                          unsigned char *end)
{
	const struct sb_url *u = &j->w->url;
	char clen[24], b64[SB_BASE64_ENCODED_LEN(sizeof(u->userinfo)) + 8], auth[sizeof(b64) + 8];
	int n = snprintf(clen, sizeof(clen), "%zu", j->len);

	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
	                                 (const unsigned char *)"application/json", 16, p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
	                                 (const unsigned char *)clen, n, p, end))
		return -1;
	if (j->sig[0] &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)SB_WEBHOOK_SIG_HEADER ":",
	                                (const unsigned char *)j->sig, SB_WEBHOOK_SIG_LEN, p, end))
		return -1;
	if (u->userinfo[0] && sb_base64_encode((const uint8_t *)u->userinfo, strlen(u->userinfo),
	                                       b64, sizeof(b64)) > 0) {
		n = snprintf(auth, sizeof(auth), "Basic %s", b64);
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
		                                 (const unsigned char *)auth, n, p, end))
			return -1;
	}
	/* The body follows in CLIENT_HTTP_WRITEABLE. */
	lws_client_http_body_pending(wsi, 1);
	lws_callback_on_writable(wsi);
	return 0;
}

static int send_body(struct sb_webhook_job *j, struct lws *wsi)
{
	if (j->body_sent)
		return 0;
	j->body_sent = true;
	lws_client_http_body_pending(wsi, 0);
	if (lws_write(wsi, j->buf + LWS_PRE, j->len, LWS_WRITE_HTTP_FINAL) < (int)j->len)
		return -1;
	return 0;
}

static bool is_2xx(int status)
{
	return status >= 200 && status < 300;
}

int sb_webhook_job_event(struct sb_webhook_job *j, struct lws *wsi,
                         enum lws_callback_reasons reason, void *in, size_t len)
{
	char buf[1024 + LWS_PRE], *px = buf + LWS_PRE, why[160], alert[80];
	int n = sizeof(buf) - LWS_PRE;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		/* lws's text for a refused certificate says nothing about it */
		if (j->tls_verify_err)
			snprintf(why, sizeof(why),
			         "TLS: the receiver's certificate failed verification: %s",
			         sb_webhook_tls_verify_error(j->tls_verify_err));
		else if (sb_webhook_tls_alert(wsi, alert, sizeof(alert)))
			snprintf(why, sizeof(why), "TLS handshake failed: %s", alert);
		else
			snprintf(why, sizeof(why), "%s",
			         in ? (const char *)in : "connection error");
		wsi_gone(j, wsi);
		sb_webhook_attempt_done(j, false, why);
		return 0;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return append_headers(j, wsi, (unsigned char **)in, (unsigned char *)in + len);
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		return send_body(j, wsi);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		j->status = (int)lws_http_client_http_response(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		return lws_http_client_read(wsi, &px, &n) < 0 ? -1 : 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		return 0; /* the response body is not used */
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		/* A 2xx status line is the receiver's acceptance, whether or not the connection
		 * stays open for more. */
		snprintf(why, sizeof(why), j->status ? "HTTP %d" : "closed without a response",
		         j->status);
		if (reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP)
			wsi_gone(j, wsi);
		sb_webhook_attempt_done(j, is_2xx(j->status), why);
		return reason == LWS_CALLBACK_COMPLETED_CLIENT_HTTP ? -1 : 0;
	default:
		return 0;
	}
}

/* The TLS side of the webhook's https connections, which lws runs: TLS 1.2 at least, no SNI for
 * a URL that names an address (RFC 6066 allows host names only), the check that webhook.ca_file
 * gave certificates, and why the handshake failed or the receiver's certificate was refused.
 * Thread: the webhook thread (lws callbacks, OpenSSL's), control (the context's creation).
 * Owns nothing. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define LOG_SUBSYS "webhook"
#include <sb/log.h>

#include <sb/url.h>

#include "webhook_priv.h"

#define ALERT_SENT 0x10000 /* beside the alert's level and description in the ex_data value */

/* The SSL ex_data slot that keeps a connection's first fatal TLS alert (+ 1, 0: none): lws's
 * text for a failed handshake does not name it. Set once, before the webhook thread starts. */
static int alert_idx = -1;

/* OpenSSL calls this as a handshake starts, before the ClientHello is built, and for each
 * alert. lws names the server (SNI) with the Host header's host, an address too: an address is
 * dropped here. Its certificate check (IP subjectAltName) is a separate setting and stays. */
static void on_info(const SSL *ssl, int where, int ret)
{
	const char *name;

	if ((where & SSL_CB_ALERT) && (ret >> 8) == SSL3_AL_FATAL && alert_idx >= 0 &&
	    !SSL_get_ex_data(ssl, alert_idx)) {
		intptr_t v = 1 + (ret & 0xffff) + ((where & SSL_CB_WRITE) ? ALERT_SENT : 0);

		SSL_set_ex_data((SSL *)ssl, alert_idx, (void *)v);
		return;
	}
	if (where != SSL_CB_HANDSHAKE_START)
		return;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name && sb_url_host_is_ip(name))
		SSL_set_tlsext_host_name((SSL *)ssl, NULL);
}

/* The certificates the context trusts: lws only logs a CA file it could not read. */
static int n_certs(SSL_CTX *ctx)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_OBJECT) *objs = st ? X509_STORE_get0_objects(st) : NULL;
	int n = 0;

	for (int i = 0; objs && i < sk_X509_OBJECT_num(objs); i++)
		n += X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509;
	return n;
}

int sb_webhook_tls_ctx_init(void *ssl_ctx, const char *ca_file)
{
	if (!ssl_ctx)
		return log_error_errno(EINVAL, "No TLS client context for https:// webhook URLs");
	/* Whatever OpenSSL's own configuration allows (its system_default settings, a security
	 * level of 0): the process-wide floor (sb_tls_min_v12) is set only with a SIP TLS
	 * listener. */
	if (!SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION))
		return log_error_errno(EPROTO, "Cannot make TLS 1.2 the webhook's least version");
	if (alert_idx < 0)
		alert_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX_set_info_callback(ssl_ctx, on_info);
	if (ca_file && ca_file[0] && n_certs(ssl_ctx) == 0)
		return log_error_errno(
		        EINVAL, "webhook.ca_file: no certificate could be loaded from %s", ca_file);
	return 0;
}

void sb_webhook_tls_verify_step(struct sb_webhook_job *j, void *x509_ctx, size_t preverify_ok)
{
	int err;

	if (preverify_ok || !x509_ctx || j->tls_verify_err)
		return;
	err = X509_STORE_CTX_get_error(x509_ctx);
	j->tls_verify_err = err != X509_V_OK ? err : X509_V_ERR_UNSPECIFIED;
}

const char *sb_webhook_tls_verify_error(int err)
{
	return X509_verify_cert_error_string(err);
}

bool sb_webhook_tls_alert(struct lws *wsi, char *buf, size_t len)
{
	SSL *ssl = wsi && alert_idx >= 0 ? lws_get_ssl(wsi) : NULL;
	intptr_t v = ssl ? (intptr_t)SSL_get_ex_data(ssl, alert_idx) : 0;

	if (!v--)
		return false;
	snprintf(buf, len,
	         (v & ALERT_SENT) ? "alert \"%s\" sent to the receiver"
	                          : "the receiver sent alert \"%s\"",
	         SSL_alert_desc_string_long((int)(v & 0xffff)));
	return true;
}

/* The TLS side of the webhook's https connections, which lws runs: no SNI for a URL that names
 * an address (RFC 6066 allows host names only), and why the receiver's certificate was refused.
 * Thread: the webhook thread (lws callbacks, OpenSSL's), control (the context's creation).
 * Owns nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "webhook_priv.h"

/* OpenSSL calls this as a handshake starts, before the ClientHello is built. lws names the
 * server (SNI) with the Host header's host, an address too: an address is dropped here. Its
 * certificate check (IP subjectAltName) is a separate setting and stays. */
static void on_info(const SSL *ssl, int where, int ret)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *name;

	(void)ret;
	if (where != SSL_CB_HANDSHAKE_START)
		return;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name && (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1))
		SSL_set_tlsext_host_name((SSL *)ssl, NULL);
}

void sb_webhook_tls_ctx_init(void *ssl_ctx)
{
	if (ssl_ctx)
		SSL_CTX_set_info_callback(ssl_ctx, on_info);
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

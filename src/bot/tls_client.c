/* TLS client on two memory BIOs (see tls_client.h). OpenSSL never waits on a socket here: a
 * read that needs more ciphertext says SSL_ERROR_WANT_READ, and a write always completes into
 * the write BIO, which grows as needed and is emptied by the owner.
 * Pure (OpenSSL). Thread: the owner. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <sb/tls_client.h>

struct sb_tls_client {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	bool ready, failed;
	bool closed;                  /* the server's close_notify came: nothing more to read */
	bool shut;                    /* ours is queued: nothing more to write */
	int verify_err, verify_depth; /* the first certificate error seen, or X509_V_OK */
	char error[200];
};

SSL_CTX *sb_tls_client_ctx_new(const char *ca_file)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok;

	if (!ctx)
		return NULL;
	ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
	     SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) == 0;
	if (ok)
		ok = ca_file && ca_file[0] ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
		                           : SSL_CTX_set_default_verify_paths(ctx);
	if (!ok) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

/* Keeps the first refusal and its depth (the chain is checked from the root down, so that is
 * the one that names the cause); OpenSSL's own verdict stands. */
static int on_verify(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct sb_tls_client *t = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!ok && t && t->verify_err == X509_V_OK) {
		t->verify_err = X509_STORE_CTX_get_error(x);
		t->verify_depth = X509_STORE_CTX_get_error_depth(x);
	}
	return ok;
}

static bool ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct sb_tls_client *sb_tls_client_new(SSL_CTX *ctx, const char *host, bool verify)
{
	struct sb_tls_client *t = calloc(1, sizeof(*t));
	bool ip = ip_literal(host);
	int ok;

	if (!t)
		return NULL;
	t->verify_err = X509_V_OK;
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		goto fail;
	}
	/* An empty read BIO says "retry", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_app_data(t->ssl, t);
	SSL_set_connect_state(t->ssl);
	ok = ip || SSL_set_tlsext_host_name(t->ssl, host);
	if (ok && verify) {
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER, on_verify);
		ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
		        : SSL_set1_host(t->ssl, host);
	} else if (ok) {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
	}
	if (!ok)
		goto fail;
	/* The first flight (ClientHello) waits for the owner's first take. */
	sb_tls_client_read(t, NULL, 0);
	if (t->failed)
		goto fail;
	return t;
fail:
	ERR_clear_error();
	sb_tls_client_free(t);
	return NULL;
}

void sb_tls_client_free(struct sb_tls_client *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
}

int sb_tls_client_feed(struct sb_tls_client *t, const uint8_t *in, size_t len)
{
	if (t->failed)
		return SB_TLS_FAILED;
	if (len && BIO_write(t->rbio, in, (int)len) != (int)len) {
		snprintf(t->error, sizeof(t->error), "out of memory for the bot's TLS records");
		t->failed = true;
		return SB_TLS_FAILED;
	}
	return 0;
}

/* Records why the session failed, from the certificate check or OpenSSL's error queue. */
static int fail(struct sb_tls_client *t, const char *what)
{
	unsigned long e = ERR_peek_error();
	long vr = SSL_get_verify_result(t->ssl);

	t->failed = true;
	if (!t->ready && (t->verify_err != X509_V_OK || vr != X509_V_OK)) {
		int err = t->verify_err != X509_V_OK ? t->verify_err : (int)vr;

		snprintf(t->error, sizeof(t->error),
		         "certificate verification failed: %s (depth %d)",
		         X509_verify_cert_error_string(err), t->verify_depth);
	} else if (e) {
		const char *r = ERR_reason_error_string(e);

		if (r)
			snprintf(t->error, sizeof(t->error), "%s failed: %s", what, r);
		else
			snprintf(t->error, sizeof(t->error), "%s failed: error %lx", what, e);
	} else {
		snprintf(t->error, sizeof(t->error), "%s failed: the connection broke off", what);
	}
	ERR_clear_error();
	return SB_TLS_FAILED;
}

int sb_tls_client_read(struct sb_tls_client *t, uint8_t *buf, size_t size)
{
	int n;

	if (t->failed)
		return SB_TLS_FAILED;
	if (t->closed)
		return SB_TLS_EOF;
	if (!t->ready) {
		n = SSL_do_handshake(t->ssl);
		if (n != 1) {
			int e = SSL_get_error(t->ssl, n);

			return e == SSL_ERROR_WANT_READ ? SB_TLS_AGAIN : fail(t, "handshake");
		}
		t->ready = true;
	}
	if (!size)
		return SB_TLS_AGAIN;
	n = SSL_read(t->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
	if (n > 0)
		return n;
	switch (SSL_get_error(t->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return SB_TLS_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		t->closed = true;
		return SB_TLS_EOF;
	default:
		return fail(t, "TLS session");
	}
}

bool sb_tls_client_ready(const struct sb_tls_client *t)
{
	return t->ready && !t->failed;
}

int sb_tls_client_write(struct sb_tls_client *t, const uint8_t *p, size_t len)
{
	if (!t->ready || t->failed || t->shut || len > INT32_MAX)
		return SB_TLS_FAILED;
	if (!len)
		return 0;
	if (SSL_write(t->ssl, p, (int)len) != (int)len)
		return fail(t, "TLS write");
	return 0;
}

void sb_tls_client_close(struct sb_tls_client *t)
{
	if (t->ready && !t->failed && !t->shut)
		SSL_shutdown(t->ssl);
	t->shut = true;
	ERR_clear_error();
}

size_t sb_tls_client_take(struct sb_tls_client *t, uint8_t *buf, size_t size)
{
	size_t pending = BIO_ctrl_pending(t->wbio);
	int n;

	if (!pending || !size)
		return 0;
	n = BIO_read(t->wbio, buf, (int)(pending < size ? pending : size));
	return n > 0 ? (size_t)n : 0;
}

const char *sb_tls_client_error(const struct sb_tls_client *t)
{
	return t->error;
}

/* TLS client on a BIO of its own (see tls_client.h). OpenSSL never waits on a socket here: a
 * read that needs more ciphertext than was fed says SSL_ERROR_WANT_READ, and a write goes to
 * the owner's sink, which takes it whole. OpenSSL's memory BIOs would copy every record in and
 * out and keep each buffer at its largest size for the connection's life; this one reads the
 * owner's buffer in place and holds nothing.
 * Pure (OpenSSL). Thread: the owner. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <sb/tls_client.h>
#include <sb/url.h>

struct sb_tls_client {
	SSL *ssl;
	SSL_CTX *ctx;
	struct sb_tls_peer peer;          /* its host a copy */
	struct sb_tls_sessions *sessions; /* where the server's sessions are kept, or NULL */
	const SSL_SESSION *offered;       /* the kept session a copy of which was offered */
	sb_tls_sink sink;
	void *sink_ctx;
	const uint8_t *in; /* what was fed and not yet read, read in place */
	size_t in_len;
	bool ready, failed;
	bool closed;                  /* the server's close_notify came: nothing more to read */
	bool shut;                    /* ours is queued: nothing more to write */
	int verify_err, verify_depth; /* the first certificate error seen, or X509_V_OK */
	char error[200];
};

static int bio_write(BIO *b, const char *p, int len)
{
	struct sb_tls_client *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	return t->sink(t->sink_ctx, (const uint8_t *)p, (size_t)len) < 0 ? -1 : len;
}

static int bio_read(BIO *b, char *out, int size)
{
	struct sb_tls_client *t = BIO_get_data(b);
	size_t n = size > 0 ? (size_t)size : 0;

	BIO_clear_retry_flags(b);
	if (n > t->in_len)
		n = t->in_len;
	if (n) {
		memcpy(out, t->in, n);
		t->in += n;
		t->in_len -= n;
		return (int)n;
	}
	BIO_set_retry_read(b); /* more comes with the next feed */
	return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sipbridge-tls");

	if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
		bio_method = m;
	else
		BIO_meth_free(m);
}

/* A session the server gave (after the handshake in TLS 1.2, with each ticket in TLS 1.3): kept
 * for the next connection to the same peer. Returns 1 when the reference was taken. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct sb_tls_client *t = SSL_get_app_data(ssl);

	if (!t || !t->sessions || !SSL_SESSION_is_resumable(sess))
		return 0;
	sb_tls_sessions_put(t->sessions, t->ctx, &t->peer, sess);
	return 1;
}

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
	/* OpenSSL's record buffers (about 17 KiB each way) are given back between records: the
	 * last media message's record would otherwise stay resident in both for the call's life. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* A TLS 1.2 server's request for a new handshake is refused (a warning alert): writes
	 * during one would wait on its records, which media cannot. The server decides what
	 * follows. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/* The server's sessions go to the connection's cache (on_new_session), not OpenSSL's. */
	SSL_CTX_set_session_cache_mode(ctx,
	                               SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
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

struct sb_tls_client *sb_tls_client_new(SSL_CTX *ctx, const struct sb_tls_peer *peer,
                                        struct sb_tls_sessions *sessions, sb_tls_sink sink,
                                        void *sink_ctx)
{
	const char *host = peer->host;
	struct sb_tls_client *t;
	bool ip = sb_url_host_is_ip(host);
	SSL_SESSION *copy;
	BIO *bio;
	int ok;

	pthread_once(&bio_once, bio_method_make);
	t = bio_method ? calloc(1, sizeof(*t)) : NULL;
	if (!t)
		return NULL;
	t->ctx = ctx;
	t->peer = *peer;
	t->peer.host = strdup(host);
	t->sessions = sessions;
	t->sink = sink;
	t->sink_ctx = sink_ctx;
	t->verify_err = X509_V_OK;
	t->ssl = t->peer.host ? SSL_new(ctx) : NULL;
	bio = t->ssl ? BIO_new(bio_method) : NULL;
	if (!bio)
		goto fail;
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio); /* one reference, the SSL's */
	SSL_set_app_data(t->ssl, t);
	SSL_set_connect_state(t->ssl);
	/* Offered as a copy: OpenSSL marks the session a connection resumes as spent during that
	 * handshake (a TLS 1.3 ticket is meant for one use), and the kept one is to serve every
	 * connection started before the server's next one comes. A full handshake if it cannot
	 * be copied. */
	t->offered = sessions ? sb_tls_sessions_get(sessions, ctx, peer) : NULL;
	copy = t->offered ? SSL_SESSION_dup(t->offered) : NULL;
	if (copy) {
		SSL_set_session(t->ssl, copy);
		SSL_SESSION_free(copy);
	}
	ok = ip || SSL_set_tlsext_host_name(t->ssl, host);
	if (ok && peer->verify) {
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER, on_verify);
		ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
		        : SSL_set1_host(t->ssl, host);
	} else if (ok) {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
	}
	if (!ok)
		goto fail;
	/* The first flight (ClientHello) goes to the sink now. */
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
	free((char *)t->peer.host);
	free(t);
}

int sb_tls_client_feed(struct sb_tls_client *t, const uint8_t *in, size_t len)
{
	if (t->failed)
		return SB_TLS_FAILED;
	if (t->in_len) {
		/* the last feed was not read to its end: its buffer may be gone */
		snprintf(t->error, sizeof(t->error), "fed again before the last feed was read");
		t->failed = true;
		return SB_TLS_FAILED;
	}
	t->in = in;
	t->in_len = len;
	return 0;
}

/* OpenSSL wants more than was fed. Its record layer keeps a record cut by the end of a read in
 * its own buffer, so by now it has taken every byte fed; were any left, the owner's buffer
 * would be gone before the next read, and the session cannot go on without them. */
static int again(struct sb_tls_client *t)
{
	if (t->in_len) {
		snprintf(t->error, sizeof(t->error), "%zu bytes of ciphertext left unread",
		         t->in_len);
		t->failed = true;
		return SB_TLS_FAILED;
	}
	return SB_TLS_AGAIN;
}

/* Records why the session failed, from the certificate check or OpenSSL's error queue. */
static int fail(struct sb_tls_client *t, const char *what)
{
	unsigned long e = ERR_peek_error();
	long vr = SSL_get_verify_result(t->ssl);

	t->failed = true;
	/* A handshake that failed after offering a kept session does not offer it again. */
	if (!t->ready && t->offered)
		sb_tls_sessions_drop(t->sessions, t->ctx, &t->peer, t->offered);
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

			return e == SSL_ERROR_WANT_READ ? again(t) : fail(t, "handshake");
		}
		t->ready = true;
	}
	if (!size)
		return again(t);
	n = SSL_read(t->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
	if (n > 0)
		return n;
	switch (SSL_get_error(t->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return again(t);
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

bool sb_tls_client_resumed(const struct sb_tls_client *t)
{
	return t->ready && SSL_session_reused(t->ssl);
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

const char *sb_tls_client_error(const struct sb_tls_client *t)
{
	return t->error;
}

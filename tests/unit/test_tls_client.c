/* Unit tests for tls_client.c against an OpenSSL server on memory buffers, with certificates
 * made here: the handshake completes with the server's certificate checked against the CA file
 * and the host's name (sent as SNI) or address (no SNI); data of any size crosses both ways
 * intact, however the ciphertext is cut into reads; a certificate for another name or address,
 * or from an untrusted issuer, fails the handshake with OpenSSL's reason and the depth, unless
 * verification is off; the server's close_notify ends the reading, ours reaches the server;
 * bytes that are not TLS fail the handshake with a reason; nothing is written before it; the
 * buffer a read was fed from may be reused once the read wants more, a record it cut included;
 * a sink that fails fails the session; a session the server gave is resumed by the next
 * connection to the same host, port and verification only, by every connection started before
 * the server gives the next one, not once its connection broke off or a handshake offering it
 * failed, and the least recently used peer's goes first. */
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sb/tls_client.h>

#include "harness.h"

struct cert {
	EVP_PKEY *key;
	X509 *x509;
	char path[32]; /* the certificate as a PEM file (a CA file for the client) */
};

/* A self-signed certificate for CN cn with subjectAltName san ("DNS:…" or "IP:…"). */
static bool cert_make(struct cert *c, const char *cn, const char *san)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;
	FILE *f;
	int fd;
	bool ok;

	c->key = EVP_EC_gen("P-256");
	c->x509 = X509_new();
	if (!c->key || !c->x509)
		return false;
	X509_set_version(c->x509, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->x509), 1);
	X509_gmtime_adj(X509_getm_notBefore(c->x509), -60);
	X509_gmtime_adj(X509_getm_notAfter(c->x509), 3600);
	X509_set_pubkey(c->x509, c->key);
	name = X509_get_subject_name(c->x509);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c->x509, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, c->x509, c->x509, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	ok = ext && X509_add_ext(c->x509, ext, -1) && X509_sign(c->x509, c->key, EVP_sha256());
	X509_EXTENSION_free(ext);
	snprintf(c->path, sizeof(c->path), "/tmp/sb-tls-XXXXXX");
	fd = mkstemp(c->path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	ok = ok && f && PEM_write_X509(f, c->x509);
	if (f)
		fclose(f);
	return ok;
}

static void cert_free(struct cert *c)
{
	if (c->path[0])
		unlink(c->path);
	X509_free(c->x509);
	EVP_PKEY_free(c->key);
}

/* The server's end: an SSL on two memory BIOs. */
struct server {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;
};

/* A new connection to the server's context. */
static bool server_accept(struct server *s)
{
	s->ssl = SSL_new(s->ctx);
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->rbio || !s->wbio)
		return false;
	BIO_set_mem_eof_return(s->rbio, -1);
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_accept_state(s->ssl);
	return true;
}

static bool server_new(struct server *s, const struct cert *c)
{
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (!s->ctx || !SSL_CTX_use_certificate(s->ctx, c->x509) ||
	    !SSL_CTX_use_PrivateKey(s->ctx, c->key))
		return false;
	return server_accept(s);
}

static void server_free(struct server *s)
{
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
}

/* Where the client's records go (its sink): kept until to_server() moves them. */
static struct wire {
	uint8_t p[1 << 18];
	size_t len;
	int calls;
	bool fail; /* the socket "failed" */
} wire;

static int sink(void *ctx, const uint8_t *p, size_t len)
{
	struct wire *w = ctx;

	w->calls++;
	if (w->fail || w->len + len > sizeof(w->p))
		return -1;
	memcpy(w->p + w->len, p, len);
	w->len += len;
	return 0;
}

/* The client's ciphertext to the server; returns the bytes moved. */
static size_t to_server(struct sb_tls_client *t, struct server *s)
{
	size_t n = wire.len;

	(void)t;
	BIO_write(s->rbio, wire.p, (int)n);
	wire.len = 0;
	return n;
}

/* The server's ciphertext to the client, fed in pieces of at most cut bytes, each followed by
 * reads whose plaintext is appended at out (room for cap bytes, *got so far). Returns the
 * client's last answer other than data. */
static int to_client(struct server *s, struct sb_tls_client *t, size_t cut, uint8_t *out,
                     size_t cap, size_t *got)
{
	uint8_t buf[4096], plain[1000];
	int n, r = SB_TLS_AGAIN;

	while ((n = BIO_read(s->wbio, buf, (int)(cut < sizeof(buf) ? cut : sizeof(buf)))) > 0) {
		if (sb_tls_client_feed(t, buf, (size_t)n) < 0)
			return SB_TLS_FAILED;
		while ((r = sb_tls_client_read(t, plain, sizeof(plain))) > 0) {
			if (out && *got + (size_t)r <= cap)
				memcpy(out + *got, plain, (size_t)r);
			if (got)
				*got += (size_t)r;
		}
		/* the feed's buffer is reused, as lws reuses its own: what is left of it was kept
		 */
		memset(buf, 0xA5, sizeof(buf));
		if (r < 0)
			return r;
	}
	return r;
}

/* Runs the handshake to its end (or failure); returns the client's last answer. */
static int handshake(struct sb_tls_client *t, struct server *s)
{
	int r = SB_TLS_AGAIN;

	for (int i = 0; i < 20 && !sb_tls_client_ready(t) && r == SB_TLS_AGAIN; i++) {
		to_server(t, s);
		SSL_do_handshake(s->ssl);
		r = to_client(s, t, 4096, NULL, 0, NULL);
	}
	to_server(t, s); /* the client's Finished */
	SSL_do_handshake(s->ssl);
	return r;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 8));
}

/* What a session test sets up: the server's certificate (c) and another one (other), the
 * server, the client's context and its session. */
struct fix {
	struct cert c, other;
	struct server s;
	struct sb_tls_client *t;
	SSL_CTX *ctx;
	struct sb_tls_sessions *kept; /* NULL: none kept */
};

/* A session to host with verify, against a server whose certificate has subjectAltName san, the
 * client trusting that certificate, or the other one with other_ca. Returns the handshake's
 * last answer, or < -99 when the set-up failed. */
static int session(struct fix *f, const char *san, const char *host, bool other_ca, bool verify)
{
	if (!cert_make(&f->c, "bot", san) || !cert_make(&f->other, "other", "DNS:other"))
		return -102;
	f->ctx = sb_tls_client_ctx_new(other_ca ? f->other.path : f->c.path);
	if (!f->ctx || !server_new(&f->s, &f->c))
		return -100;
	wire.len = 0;
	wire.fail = false;
	f->t = sb_tls_client_new(f->ctx, &(struct sb_tls_peer){host, 443, verify}, f->kept, sink,
	                         &wire);
	if (!f->t)
		return -101;
	return handshake(f->t, &f->s);
}

/* The session ends (with close_notify both ways when clean, else dropped as a socket that
 * broke off) and a new one to host:port starts on the same contexts. Returns the handshake's
 * last answer, or < -99 when the set-up failed. */
static int again_to(struct fix *f, const char *host, unsigned port, bool verify, bool clean)
{
	uint8_t got[16];

	if (clean) {
		sb_tls_client_close(f->t);
		to_server(f->t, &f->s);
		SSL_read(f->s.ssl, got, sizeof(got));
		SSL_shutdown(f->s.ssl);
		to_client(&f->s, f->t, 4096, NULL, 0, NULL);
	}
	sb_tls_client_free(f->t);
	SSL_free(f->s.ssl);
	if (!server_accept(&f->s))
		return -100;
	wire.len = 0;
	f->t = sb_tls_client_new(f->ctx, &(struct sb_tls_peer){host, port, verify}, f->kept, sink,
	                         &wire);
	if (!f->t)
		return -101;
	return handshake(f->t, &f->s);
}

/* The session is up; its tickets (sent after the handshake in TLS 1.3) have reached the
 * client, and were kept or not; it was resumed, or not (the server agrees). */
static int up(struct fix *f, bool resumed)
{
	int r = 0;

	ASSERT_EQ(to_client(&f->s, f->t, 4096, NULL, 0, NULL), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_ready(f->t));
	ASSERT_EQ(sb_tls_client_resumed(f->t), resumed);
	ASSERT_EQ(SSL_session_reused(f->s.ssl), resumed);
out:
	return r;
}

/* The first session: to localhost:443, verified, a full handshake, then up(). */
static int first(struct fix *f)
{
	int r = 0;

	ASSERT_EQ(session(f, "DNS:localhost", "localhost", false, true), SB_TLS_AGAIN);
	ASSERT_EQ(up(f, false), 0);
out:
	return r;
}

/* again_to() a peer, the last session ending cleanly, then up(): resumed or not. */
static int next(struct fix *f, const char *host, unsigned port, bool verify, bool resumed)
{
	int r = 0;

	ASSERT_EQ(again_to(f, host, port, verify, true), SB_TLS_AGAIN);
	ASSERT_EQ(up(f, resumed), 0);
out:
	return r;
}

static void fix_free(struct fix *f)
{
	sb_tls_client_free(f->t);
	sb_tls_sessions_free(f->kept);
	SSL_CTX_free(f->ctx);
	server_free(&f->s);
	cert_free(&f->c);
	cert_free(&f->other);
}

TEST(name_verified_sni_and_data_both_ways)
{
	static uint8_t up[70000], down[90000], got[90000];
	struct fix f = {0};
	size_t n = 0, cuts[] = {1, 7, 333, 4096};
	int r = 0;

	ASSERT_EQ(session(&f, "DNS:localhost", "localhost", false, true), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_ready(f.t));
	ASSERT_STREQ(SSL_get_servername(f.s.ssl, TLSEXT_NAMETYPE_host_name), "localhost");
	ASSERT_STREQ(sb_tls_client_error(f.t), "");
	/* up: written in two calls, read whole by the server */
	pattern(up, sizeof(up), 1);
	ASSERT_EQ(sb_tls_client_write(f.t, up, 100), 0);
	ASSERT_EQ(sb_tls_client_write(f.t, up + 100, sizeof(up) - 100), 0);
	ASSERT_TRUE(to_server(f.t, &f.s) > sizeof(up));
	for (size_t off = 0; off < sizeof(up);) {
		int k = SSL_read(f.s.ssl, got, sizeof(got));

		ASSERT_TRUE(k > 0);
		ASSERT_MEMEQ(got, up + off, (size_t)k);
		off += (size_t)k;
	}
	/* down: the ciphertext cut into reads of every size */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		pattern(down, sizeof(down), (unsigned)i + 2);
		ASSERT_EQ(SSL_write(f.s.ssl, down, sizeof(down)), (int)sizeof(down));
		n = 0;
		memset(got, 0, sizeof(got));
		ASSERT_EQ(to_client(&f.s, f.t, cuts[i], got, sizeof(got), &n), SB_TLS_AGAIN);
		ASSERT_EQ(n, sizeof(down));
		ASSERT_MEMEQ(got, down, sizeof(down));
	}
out:
	fix_free(&f);
	return r;
}

TEST(address_verified_without_sni)
{
	struct fix f = {0};
	int r = 0;

	ASSERT_EQ(session(&f, "IP:127.0.0.1", "127.0.0.1", false, true), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_ready(f.t));
	ASSERT_TRUE(SSL_get_servername(f.s.ssl, TLSEXT_NAMETYPE_host_name) == NULL);
out:
	fix_free(&f);
	return r;
}

/* A refused certificate: the handshake fails with why, and nothing can be written. */
static int refused(const char *san, const char *host, bool other_ca, const char *why)
{
	struct fix f = {0};
	char want[200];
	int r = 0;

	ASSERT_EQ(session(&f, san, host, other_ca, true), SB_TLS_FAILED);
	ASSERT_TRUE(!sb_tls_client_ready(f.t));
	snprintf(want, sizeof(want), "certificate verification failed: %s (depth 0)", why);
	ASSERT_STREQ(sb_tls_client_error(f.t), want);
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"x", 1), SB_TLS_FAILED);
	ASSERT_EQ(sb_tls_client_read(f.t, (uint8_t *)want, sizeof(want)), SB_TLS_FAILED);
out:
	fix_free(&f);
	return r;
}

TEST(other_name_refused)
{
	return refused("DNS:otherhost", "localhost", false, "hostname mismatch");
}

TEST(other_address_refused)
{
	return refused("DNS:localhost", "127.0.0.1", false, "IP address mismatch");
}

TEST(untrusted_issuer_refused)
{
	return refused("DNS:localhost", "localhost", true,
	               X509_verify_cert_error_string(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT));
}

TEST(verification_off_accepts_any_certificate)
{
	struct fix f = {0};
	uint8_t got[16];
	size_t n = 0;
	int r = 0;

	ASSERT_EQ(session(&f, "DNS:otherhost", "localhost", true, false), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_ready(f.t));
	ASSERT_EQ(SSL_write(f.s.ssl, "hello", 5), 5);
	ASSERT_EQ(to_client(&f.s, f.t, 4096, got, sizeof(got), &n), SB_TLS_AGAIN);
	ASSERT_EQ(n, 5);
	ASSERT_MEMEQ(got, "hello", 5);
out:
	fix_free(&f);
	return r;
}

TEST(close_notify_both_ways)
{
	struct fix f = {0};
	uint8_t got[16];
	size_t n = 0;
	int r = 0;

	ASSERT_EQ(session(&f, "DNS:localhost", "localhost", false, true), SB_TLS_AGAIN);
	/* ours: the server reads the end of the session; we write no more, but still read */
	sb_tls_client_close(f.t);
	ASSERT_TRUE(to_server(f.t, &f.s) > 0);
	ASSERT_EQ(SSL_read(f.s.ssl, got, sizeof(got)), 0);
	ASSERT_EQ(SSL_get_error(f.s.ssl, 0), SSL_ERROR_ZERO_RETURN);
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"x", 1), SB_TLS_FAILED);
	/* the server's: data before it is read, then the end */
	ASSERT_EQ(SSL_write(f.s.ssl, "last", 4), 4);
	ASSERT_EQ(SSL_shutdown(f.s.ssl), 1);
	ASSERT_EQ(to_client(&f.s, f.t, 4096, got, sizeof(got), &n), SB_TLS_EOF);
	ASSERT_EQ(n, 4);
	ASSERT_MEMEQ(got, "last", 4);
	ASSERT_EQ(sb_tls_client_read(f.t, got, sizeof(got)), SB_TLS_EOF);
out:
	fix_free(&f);
	return r;
}

/* A TLS 1.2 server that asks for a new handshake (a HelloRequest) mid-session is refused with a
 * warning alert, and the session goes on: what is written next is written, not failed for a
 * handshake it waits on. Whether to end the session is then the server's choice (OpenSSL's is
 * to end it). */
TEST(renegotiation_refused_and_writing_goes_on)
{
	struct fix f = {0};
	uint8_t got[16];
	int r = 0;

	ASSERT_TRUE(cert_make(&f.c, "bot", "DNS:localhost"));
	f.ctx = sb_tls_client_ctx_new(f.c.path);
	ASSERT_TRUE(f.ctx && server_new(&f.s, &f.c));
	ASSERT_TRUE(SSL_set_max_proto_version(f.s.ssl, TLS1_2_VERSION));
	wire.len = 0;
	wire.fail = false;
	f.t = sb_tls_client_new(f.ctx, &(struct sb_tls_peer){"localhost", 443, true}, NULL, sink,
	                        &wire);
	ASSERT_TRUE(f.t);
	ASSERT_EQ(handshake(f.t, &f.s), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_ready(f.t));
	ASSERT_EQ(SSL_version(f.s.ssl), TLS1_2_VERSION);
	ASSERT_EQ(SSL_renegotiate(f.s.ssl), 1);
	SSL_do_handshake(f.s.ssl);
	ERR_clear_error();
	ASSERT_EQ(to_client(&f.s, f.t, 4096, NULL, 0, NULL), SB_TLS_AGAIN);
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"media", 5), 0);
	ASSERT_TRUE(sb_tls_client_ready(f.t));
	ASSERT_TRUE(to_server(f.t, &f.s) > 0);
	ASSERT_TRUE(SSL_read(f.s.ssl, got, sizeof(got)) <= 0);
	ASSERT_EQ(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_NO_RENEGOTIATION);
out:
	ERR_clear_error();
	fix_free(&f);
	return r;
}

TEST(not_tls_fails_the_handshake)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	SSL_CTX *ctx = sb_tls_client_ctx_new(NULL);
	struct sb_tls_client *t;
	uint8_t buf[64];
	int r = 0;

	wire.len = 0;
	wire.fail = false;
	t = ctx ? sb_tls_client_new(ctx, &(struct sb_tls_peer){"localhost", 443, true}, NULL, sink,
	                            &wire)
	        : NULL;
	ASSERT_TRUE(t);
	ASSERT_TRUE(!sb_tls_client_ready(t));
	/* the ClientHello went out at once; nothing may be written before the handshake's end */
	ASSERT_TRUE(wire.len > 0 && wire.p[0] == 0x16);
	ASSERT_EQ(sb_tls_client_write(t, (const uint8_t *)"x", 1), SB_TLS_FAILED);
	ASSERT_EQ(sb_tls_client_read(t, buf, sizeof(buf)), SB_TLS_AGAIN);
	ASSERT_EQ(sb_tls_client_feed(t, (const uint8_t *)http, sizeof(http) - 1), 0);
	ASSERT_EQ(sb_tls_client_read(t, buf, sizeof(buf)), SB_TLS_FAILED);
	ASSERT_TRUE(strncmp(sb_tls_client_error(t), "handshake failed: ", 18) == 0);
	ASSERT_TRUE(strlen(sb_tls_client_error(t)) > 18);
	ASSERT_EQ(sb_tls_client_feed(t, buf, 1), SB_TLS_FAILED);
out:
	sb_tls_client_free(t);
	SSL_CTX_free(ctx);
	return r;
}

TEST(unreadable_ca_file)
{
	int r = 0;

	ASSERT_TRUE(sb_tls_client_ctx_new("/nonexistent/ca.pem") == NULL);
	ASSERT_EQ(ERR_peek_error(), 0);
out:
	return r;
}

TEST(failed_sink_fails_the_session)
{
	struct fix f = {0};
	int r = 0;

	ASSERT_EQ(session(&f, "DNS:localhost", "localhost", false, true), SB_TLS_AGAIN);
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"ok", 2), 0);
	wire.fail = true;
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"lost", 4), SB_TLS_FAILED);
	ASSERT_TRUE(strlen(sb_tls_client_error(f.t)) > 0);
	wire.fail = false;
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"more", 4), SB_TLS_FAILED);
	/* and no session when the first flight cannot go */
	sb_tls_client_free(f.t);
	wire.fail = true;
	f.t = sb_tls_client_new(f.ctx, &(struct sb_tls_peer){"localhost", 443, true}, NULL, sink,
	                        &wire);
	ASSERT_TRUE(f.t == NULL);
out:
	fix_free(&f);
	return r;
}

TEST(fed_again_before_read_fails)
{
	SSL_CTX *ctx = sb_tls_client_ctx_new(NULL);
	struct sb_tls_client *t;
	uint8_t junk[8] = {0x16, 3, 3, 0, 40};
	int r = 0;

	wire.len = 0;
	wire.fail = false;
	t = ctx ? sb_tls_client_new(ctx, &(struct sb_tls_peer){"localhost", 443, true}, NULL, sink,
	                            &wire)
	        : NULL;
	ASSERT_TRUE(t);
	ASSERT_EQ(sb_tls_client_feed(t, junk, sizeof(junk)), 0);
	ASSERT_EQ(sb_tls_client_feed(t, junk, sizeof(junk)), SB_TLS_FAILED);
	ASSERT_STREQ(sb_tls_client_error(t), "fed again before the last feed was read");
out:
	sb_tls_client_free(t);
	SSL_CTX_free(ctx);
	return r;
}

TEST(kept_session_resumed_for_the_same_peer_only)
{
	struct fix f = {.kept = sb_tls_sessions_new()};
	uint8_t got[16];
	int r = 0;

	ASSERT_TRUE(f.kept);
	ASSERT_EQ(first(&f), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, true), 0);
	/* the resumed session carries data as the first did */
	ASSERT_EQ(sb_tls_client_write(f.t, (const uint8_t *)"hi", 2), 0);
	to_server(f.t, &f.s);
	ASSERT_EQ(SSL_read(f.s.ssl, got, sizeof(got)), 2);
	ASSERT_MEMEQ(got, "hi", 2);
	/* another port, verification off, another host: a full handshake each */
	ASSERT_EQ(next(&f, "localhost", 444, true, false), 0);
	ASSERT_EQ(next(&f, "localhost", 443, false, false), 0);
	ASSERT_EQ(next(&f, "otherhost", 443, false, false), 0);
	/* the first peer's session is still kept, renewed by each of its connections */
	ASSERT_EQ(next(&f, "localhost", 443, true, true), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, true), 0);
out:
	fix_free(&f);
	return r;
}

TEST(kept_session_serves_connections_started_before_the_next_comes)
{
	struct fix f = {.kept = sb_tls_sessions_new()};
	struct server s2 = {0};
	struct sb_tls_client *t2 = NULL;
	int r = 0;

	ASSERT_EQ(first(&f), 0);
	/* a connection resumes the kept session; its own (new) one is still on the way */
	ASSERT_EQ(again_to(&f, "localhost", 443, true, true), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_resumed(f.t));
	/* another one starts meanwhile, on a second connection to the server */
	s2.ctx = f.s.ctx;
	ASSERT_TRUE(server_accept(&s2));
	wire.len = 0;
	t2 = sb_tls_client_new(f.ctx, &(struct sb_tls_peer){"localhost", 443, true}, f.kept, sink,
	                       &wire);
	ASSERT_TRUE(t2);
	ASSERT_EQ(handshake(t2, &s2), SB_TLS_AGAIN);
	ASSERT_TRUE(sb_tls_client_resumed(t2));
	ASSERT_TRUE(SSL_session_reused(s2.ssl));
out:
	sb_tls_client_free(t2);
	SSL_free(s2.ssl);
	fix_free(&f);
	return r;
}

TEST(session_not_kept_without_a_cache)
{
	struct fix f = {0};
	int r = 0;

	ASSERT_EQ(first(&f), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, false), 0);
out:
	fix_free(&f);
	return r;
}

TEST(session_of_a_broken_connection_not_offered)
{
	struct fix f = {.kept = sb_tls_sessions_new()};
	int r = 0;

	ASSERT_EQ(first(&f), 0);
	/* freed without close_notify: OpenSSL marks its session unfit for resumption */
	ASSERT_EQ(again_to(&f, "localhost", 443, true, false), SB_TLS_AGAIN);
	ASSERT_EQ(up(&f, false), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, true), 0);
out:
	fix_free(&f);
	return r;
}

TEST(session_offered_to_a_failed_handshake_not_offered_again)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	struct fix f = {.kept = sb_tls_sessions_new()};
	struct sb_tls_client *t;
	uint8_t buf[64];
	int r = 0;

	ASSERT_EQ(first(&f), 0);
	/* a connection to the same peer offers the session and meets a server that is not TLS */
	t = sb_tls_client_new(f.ctx, &(struct sb_tls_peer){"localhost", 443, true}, f.kept, sink,
	                      &wire);
	ASSERT_TRUE(t);
	ASSERT_EQ(sb_tls_client_feed(t, (const uint8_t *)http, sizeof(http) - 1), 0);
	ASSERT_EQ(sb_tls_client_read(t, buf, sizeof(buf)), SB_TLS_FAILED);
	sb_tls_client_free(t);
	wire.len = 0; /* its ClientHello, which no server read */
	/* the next one starts afresh */
	ASSERT_EQ(next(&f, "localhost", 443, true, false), 0);
out:
	fix_free(&f);
	return r;
}

TEST(least_recently_used_peer_goes_first)
{
	struct fix f = {.kept = sb_tls_sessions_new()};
	int r = 0;

	/* port 443, then 1 to SB_TLS_SESSIONS_MAX - 1, fill the table */
	ASSERT_EQ(first(&f), 0);
	for (unsigned port = 1; port < SB_TLS_SESSIONS_MAX; port++) {
		ASSERT_EQ(next(&f, "localhost", port, true, false), 0);
	}
	/* port 1 used again, so 443 and then 2 are the least recently used: one more peer
	 * pushes out 443, the next one 2 */
	ASSERT_EQ(next(&f, "localhost", 1, true, true), 0);
	ASSERT_EQ(next(&f, "localhost", SB_TLS_SESSIONS_MAX, true, false), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, false), 0);
	ASSERT_EQ(next(&f, "localhost", 1, true, true), 0);
	ASSERT_EQ(next(&f, "localhost", 2, true, false), 0);
	ASSERT_EQ(next(&f, "localhost", SB_TLS_SESSIONS_MAX, true, true), 0);
out:
	fix_free(&f);
	return r;
}

TEST(sessions_of_a_forgotten_context_not_offered)
{
	struct fix f = {.kept = sb_tls_sessions_new()};
	int r = 0;

	ASSERT_EQ(first(&f), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, true), 0);
	/* the worker gives up the context (a later one may get its address): nothing is kept */
	sb_tls_sessions_forget(f.kept, f.ctx);
	ASSERT_EQ(next(&f, "localhost", 443, true, false), 0);
	ASSERT_EQ(next(&f, "localhost", 443, true, true), 0);
	sb_tls_sessions_forget(NULL, f.ctx);
out:
	fix_free(&f);
	return r;
}

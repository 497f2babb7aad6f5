/* A TLS client on memory buffers, for the bridge's own connection to a wss:// bot: ciphertext
 * the socket read goes in (sb_tls_client_feed), plaintext comes out (sb_tls_client_read);
 * plaintext goes in (sb_tls_client_write) and ciphertext for the socket comes out
 * (sb_tls_client_take). The owner moves the bytes; nothing here touches a socket, so the
 * WebSocket above it reads a block at a time as a ws:// connection does, and lws only connects,
 * polls and writes. The certificate is checked against the context's trust store and the
 * host's name or address (SNI carries a name, never an address), unless verification is off.
 * Pure (OpenSSL). Thread: the owner. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct sb_tls_client;

enum {
	SB_TLS_AGAIN = 0,   /* more ciphertext is needed */
	SB_TLS_EOF = -1,    /* the server ended the session (close_notify) */
	SB_TLS_FAILED = -2, /* the handshake or the session failed: see sb_tls_client_error() */
};

/* A client context trusting ca_file alone, or the system's store for NULL or "", TLS 1.2 at
 * least, offering http/1.1 by ALPN. NULL when the file cannot be loaded. */
SSL_CTX *sb_tls_client_ctx_new(const char *ca_file);

/* A session to host (a name, or an IPv4 or IPv6 literal without brackets) on ctx; verify off
 * accepts any certificate. NULL when out of memory. The handshake starts at the first
 * sb_tls_client_read(); its first flight is waiting in sb_tls_client_take() at once. */
struct sb_tls_client *sb_tls_client_new(SSL_CTX *ctx, const char *host, bool verify);
void sb_tls_client_free(struct sb_tls_client *t);

/* Takes len bytes of ciphertext from the socket. Returns 0 or SB_TLS_FAILED (no memory). */
int sb_tls_client_feed(struct sb_tls_client *t, const uint8_t *in, size_t len);

/* Advances the handshake and decrypts: the count of plaintext bytes put in buf (at most
 * size), SB_TLS_AGAIN when nothing more can be read until more is fed, SB_TLS_EOF or
 * SB_TLS_FAILED. Call until it returns SB_TLS_AGAIN or less, then send what
 * sb_tls_client_take() holds: the handshake and the session write too. */
int sb_tls_client_read(struct sb_tls_client *t, uint8_t *buf, size_t size);

/* The handshake is complete (and the certificate accepted). */
bool sb_tls_client_ready(const struct sb_tls_client *t);

/* Encrypts len bytes (only once ready). Returns 0 or SB_TLS_FAILED. */
int sb_tls_client_write(struct sb_tls_client *t, const uint8_t *p, size_t len);

/* Queues the end of the session (close_notify): nothing can be written after it; what the
 * server still sends can be read. */
void sb_tls_client_close(struct sb_tls_client *t);

/* Moves up to size bytes of the ciphertext waiting for the socket into buf; returns how many
 * (0 when none wait). */
size_t sb_tls_client_take(struct sb_tls_client *t, uint8_t *buf, size_t size);

/* Why the session failed: "certificate verification failed: <OpenSSL's reason> (depth N)"
 * for a refused certificate, else OpenSSL's first error. "" while it has not. */
const char *sb_tls_client_error(const struct sb_tls_client *t);

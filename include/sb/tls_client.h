/* A TLS client on the owner's buffers, for the bridge's own connection to a wss:// bot:
 * ciphertext the socket read goes in (sb_tls_client_feed), read in place, and plaintext comes
 * out (sb_tls_client_read); plaintext goes in (sb_tls_client_write) and each record is handed
 * to the owner's sink as OpenSSL makes it, to be written to the socket. Nothing here touches a
 * socket, so the WebSocket above it reads a block at a time as a ws:// connection does, and lws
 * only connects, polls and writes. No buffer is held beyond OpenSSL's own. The certificate is
 * checked against the context's trust store and the host's name or address (SNI carries a name,
 * never an address), unless verification is off. A session the server lets be resumed is kept
 * in the owner's cache (sb_tls_sessions) and offered by the next session to the same peer, so
 * that one skips the certificate's exchange and check. Pure (OpenSSL). Thread: the owner. */
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

/* Sessions kept for resumption: for each peer (context, host, port and whether the certificate
 * is verified, so a session is never offered where its certificate would not have been
 * accepted) the newest one the server gave, for at most SB_TLS_SESSIONS_MAX peers, the least
 * recently used given up first. Each connection offers a copy, so a session serves every
 * connection started before the server gives the next. One whose handshake failed after
 * offering it is dropped; so are, when next looked up, one past its lifetime and one OpenSSL
 * marked as not resumable (its connection failed, or ended without close_notify, before a
 * newer session came). Free it before the contexts it names. */
#define SB_TLS_SESSIONS_MAX 64
struct sb_tls_sessions;
struct sb_tls_sessions *sb_tls_sessions_new(void);
void sb_tls_sessions_free(struct sb_tls_sessions *s);

/* Whom a session is with. */
struct sb_tls_peer {
	const char *host; /* a name, or an IPv4 or IPv6 literal without brackets */
	unsigned port;
	bool verify; /* off: any certificate is accepted */
};

/* The session kept for peer on ctx (still owned by s), or NULL; one that can no longer be
 * resumed is dropped instead. */
SSL_SESSION *sb_tls_sessions_get(struct sb_tls_sessions *s, SSL_CTX *ctx,
                                 const struct sb_tls_peer *peer);
/* Drops sess if it is still the one kept for peer on ctx. */
void sb_tls_sessions_drop(struct sb_tls_sessions *s, SSL_CTX *ctx, const struct sb_tls_peer *peer,
                          const SSL_SESSION *sess);
/* Drops every session kept on ctx, before ctx is freed (s may be NULL). */
void sb_tls_sessions_forget(struct sb_tls_sessions *s, const SSL_CTX *ctx);
/* Keeps sess (its reference passes to s) for peer on ctx, in place of the one kept before. */
void sb_tls_sessions_put(struct sb_tls_sessions *s, SSL_CTX *ctx, const struct sb_tls_peer *peer,
                         SSL_SESSION *sess);

/* Where ciphertext goes: writes len bytes to the socket (or keeps them for it). Returns 0, or
 * -1 when the socket failed (the session fails with it). */
typedef int (*sb_tls_sink)(void *ctx, const uint8_t *p, size_t len);

/* A session to peer on ctx, resuming one kept in sessions for that peer if there is one
 * (sessions may be NULL: nothing kept or offered); ciphertext goes to sink(sink_ctx, …), the
 * handshake's first flight before this returns. NULL when out of memory or the sink failed. */
struct sb_tls_client *sb_tls_client_new(SSL_CTX *ctx, const struct sb_tls_peer *peer,
                                        struct sb_tls_sessions *sessions, sb_tls_sink sink,
                                        void *sink_ctx);
void sb_tls_client_free(struct sb_tls_client *t);

/* Takes len bytes of ciphertext from the socket, read where they are: in must stay as it is
 * until sb_tls_client_read() has returned SB_TLS_AGAIN, by which time all of it has been
 * taken (or anything else but a count, after which the session is not fed again). Returns 0
 * or SB_TLS_FAILED. */
int sb_tls_client_feed(struct sb_tls_client *t, const uint8_t *in, size_t len);

/* Advances the handshake and decrypts: the count of plaintext bytes put in buf (at most
 * size), SB_TLS_AGAIN when nothing more can be read until more is fed, SB_TLS_EOF or
 * SB_TLS_FAILED. The handshake and the session write to the sink from here too. */
int sb_tls_client_read(struct sb_tls_client *t, uint8_t *buf, size_t size);

/* The handshake is complete (and the certificate accepted). */
bool sb_tls_client_ready(const struct sb_tls_client *t);

/* The handshake resumed a kept session (so no certificate was exchanged). */
bool sb_tls_client_resumed(const struct sb_tls_client *t);

/* Encrypts len bytes into the sink (only once ready). Returns 0 or SB_TLS_FAILED. */
int sb_tls_client_write(struct sb_tls_client *t, const uint8_t *p, size_t len);

/* Ends the session (close_notify, to the sink): nothing can be written after it; what the
 * server still sends can be read. */
void sb_tls_client_close(struct sb_tls_client *t);

/* Why the session failed: "certificate verification failed: <OpenSSL's reason> (depth N)"
 * for a refused certificate, else OpenSSL's first error. "" while it has not. */
const char *sb_tls_client_error(const struct sb_tls_client *t);

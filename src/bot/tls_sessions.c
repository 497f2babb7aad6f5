/* TLS sessions kept for resumption (see tls_client.h): a small table, looked up once per
 * connection attempt, so a scan is all it needs.
 * Pure (OpenSSL). Thread: the owner. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sb/tls_client.h>

struct slot {
	SSL_CTX *ctx; /* NULL: free */
	char *host;
	unsigned port;
	bool verify;
	SSL_SESSION *sess;
	unsigned long long used; /* the table's count when last kept or offered */
};

struct sb_tls_sessions {
	struct slot slot[SB_TLS_SESSIONS_MAX];
	unsigned long long clock;
};

struct sb_tls_sessions *sb_tls_sessions_new(void)
{
	return calloc(1, sizeof(struct sb_tls_sessions));
}

static void clear(struct slot *e)
{
	SSL_SESSION_free(e->sess);
	free(e->host);
	memset(e, 0, sizeof(*e));
}

void sb_tls_sessions_free(struct sb_tls_sessions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < SB_TLS_SESSIONS_MAX; i++)
		clear(&s->slot[i]);
	free(s);
}

static struct slot *find(struct sb_tls_sessions *s, SSL_CTX *ctx, const struct sb_tls_peer *peer)
{
	for (size_t i = 0; i < SB_TLS_SESSIONS_MAX; i++) {
		struct slot *e = &s->slot[i];

		if (e->ctx == ctx && e->port == peer->port && e->verify == peer->verify &&
		    strcmp(e->host, peer->host) == 0)
			return e;
	}
	return NULL;
}

/* Resumable by OpenSSL's word and within the lifetime the server gave it. */
static bool usable(const SSL_SESSION *sess)
{
	long now = (long)time(NULL), born = SSL_SESSION_get_time(sess);

	return SSL_SESSION_is_resumable(sess) && now >= born &&
	       now - born < SSL_SESSION_get_timeout(sess);
}

SSL_SESSION *sb_tls_sessions_get(struct sb_tls_sessions *s, SSL_CTX *ctx,
                                 const struct sb_tls_peer *peer)
{
	struct slot *e = find(s, ctx, peer);

	if (!e)
		return NULL;
	if (!usable(e->sess)) {
		clear(e);
		return NULL;
	}
	e->used = ++s->clock;
	return e->sess;
}

void sb_tls_sessions_put(struct sb_tls_sessions *s, SSL_CTX *ctx, const struct sb_tls_peer *peer,
                         SSL_SESSION *sess)
{
	struct slot *e = find(s, ctx, peer);

	if (!e) {
		e = &s->slot[0];
		for (size_t i = 0; i < SB_TLS_SESSIONS_MAX && e->ctx; i++)
			if (!s->slot[i].ctx || s->slot[i].used < e->used)
				e = &s->slot[i];
		clear(e);
		e->host = strdup(peer->host);
		if (!e->host) {
			SSL_SESSION_free(sess);
			return;
		}
		e->ctx = ctx;
		e->port = peer->port;
		e->verify = peer->verify;
	}
	SSL_SESSION_free(e->sess);
	e->sess = sess;
	e->used = ++s->clock;
}

void sb_tls_sessions_forget(struct sb_tls_sessions *s, const SSL_CTX *ctx)
{
	for (size_t i = 0; s && i < SB_TLS_SESSIONS_MAX; i++)
		if (s->slot[i].ctx == ctx)
			clear(&s->slot[i]);
}

void sb_tls_sessions_drop(struct sb_tls_sessions *s, SSL_CTX *ctx, const struct sb_tls_peer *peer,
                          const SSL_SESSION *sess)
{
	struct slot *e = find(s, ctx, peer);

	if (e && e->sess == sess)
		clear(e);
}

/* The sip.listen rules that tie entries together (one udp/tcp address and port, at most one tls
 * entry on a port of its own) and the TLS files of a tls entry, opened with OpenSSL at load so a
 * bad certificate or key stops the start with its key named. Nothing here logs, and no byte of
 * a key leaves this file. Thread: control (load). Owns nothing beyond one call. */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sb/common.h>

#include "config_priv.h"

#define TLS_DEFAULT_PORT 5061

SB_PRINTF(5, 6)
static int why_is(const char **key, const char *k, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	*key = k;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	ERR_clear_error(); /* nothing of a failed read is kept for a later message */
	return -EINVAL;
}

/* Refuses to prompt for a pass phrase: an encrypted key is an error, never a prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static FILE *open_file(const char *path, const char **key, const char *k, char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");

	if (!f)
		why_is(key, k, why, whylen, "cannot read %s: %s", path, strerror(errno));
	return f;
}

static int load_cert(const char *path, X509 **cert, const char **key, char *why, size_t whylen)
{
	FILE *f = open_file(path, key, "cert", why, whylen);

	if (!f)
		return -EINVAL;
	*cert = PEM_read_X509(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!*cert)
		return why_is(key, "cert", why, whylen, "%s is not a PEM certificate", path);
	return 0;
}

static int load_key(const char *path, EVP_PKEY **pkey, const char **key, char *why, size_t whylen)
{
	FILE *f = open_file(path, key, "key", why, whylen);

	if (!f)
		return -EINVAL;
	*pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!*pkey)
		return why_is(key, "key", why, whylen,
		              "%s is not a PEM private key (or it is encrypted)", path);
	return 0;
}

/* The CA file: at least one PEM certificate. */
static int check_ca(const char *path, const char **key, char *why, size_t whylen)
{
	FILE *f = open_file(path, key, "ca", why, whylen);
	X509 *ca;

	if (!f)
		return -EINVAL;
	ca = PEM_read_X509(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!ca)
		return why_is(key, "ca", why, whylen, "%s holds no PEM certificate", path);
	X509_free(ca);
	return 0;
}

/* The files of a tls entry: present, readable, PEM, and the key is the certificate's. */
static int check_tls_files(const struct sb_listen *l, const char **key, char *why, size_t whylen)
{
	X509 *cert = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	if (!l->cert[0])
		return why_is(key, "cert", why, whylen, "missing (required for transport \"tls\")");
	if (!l->key[0])
		return why_is(key, "key", why, whylen, "missing (required for transport \"tls\")");
	if (l->verify_client && !l->ca[0])
		return why_is(key, "verify_client", why, whylen,
		              "needs ca: the CA certificates that sign client certificates");
	r = load_cert(l->cert, &cert, key, why, whylen);
	if (r == 0)
		r = load_key(l->key, &pkey, key, why, whylen);
	if (r == 0 && X509_check_private_key(cert, pkey) != 1)
		r = why_is(key, "key", why, whylen, "%s does not match the certificate in %s",
		           l->key, l->cert);
	if (r == 0 && l->ca[0])
		r = check_ca(l->ca, key, why, whylen);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return r;
}

/* udp and tcp entries carry no TLS settings. */
static int check_plain(const struct sb_listen *l, const char **key, char *why, size_t whylen)
{
	const char *k = l->cert[0] ? "cert" : l->key[0] ? "key" : l->ca[0] ? "ca" : NULL;

	if (!k && l->verify_client)
		k = "verify_client";
	if (k)
		return why_is(key, k, why, whylen, "is only for transport \"tls\"");
	return 0;
}

static bool port_given(const config_t *lc, size_t i)
{
	char lpath[64];

	snprintf(lpath, sizeof(lpath), "sip.listen.[%zu].port", i);
	return lc && config_lookup(lc, lpath) != NULL;
}

/* One entry against the first udp/tcp one (prim) and the tls one seen so far. */
static int check_entry(struct sb_listen *l, const struct sb_listen *prim,
                       const struct sb_listen *tls, const char **key, char *why, size_t whylen)
{
	if (l->transport == SB_TP_TLS) {
		if (tls)
			return why_is(key, "transport", why, whylen,
			              "only one \"tls\" entry is supported");
		return check_tls_files(l, key, why, whylen);
	}
	if (prim && strcmp(l->address, prim->address) != 0)
		return why_is(key, "address", why, whylen,
		              "udp and tcp entries must share one address (%s)", prim->address);
	if (prim && l->port != prim->port)
		return why_is(key, "port", why, whylen,
		              "udp and tcp entries must share one port (%u)", prim->port);
	return check_plain(l, key, why, whylen);
}

bool sb_config_has_tls(const struct sb_config *c)
{
	for (size_t i = 0; c && i < c->n_listen; i++)
		if (c->listen[i].transport == SB_TP_TLS)
			return true;
	return false;
}

int sb_cfg_check_listen(struct sb_config *c, const config_t *lc, size_t *idx, const char **key,
                        char *why, size_t whylen)
{
	const struct sb_listen *prim = NULL, *tls = NULL;
	size_t tls_idx = 0;
	bool tcp = false;
	int r;

	for (size_t i = 0; i < c->n_listen; i++) {
		struct sb_listen *l = &c->listen[i];

		*idx = i;
		if (l->transport == SB_TP_TLS && !port_given(lc, i))
			l->port = TLS_DEFAULT_PORT;
		r = check_entry(l, prim, tls, key, why, whylen);
		if (r < 0)
			return r;
		if (l->transport == SB_TP_TLS) {
			tls = l;
			tls_idx = i;
		} else if (!prim) {
			prim = l;
		}
		tcp |= l->transport == SB_TP_TCP;
	}
	/* Both listen on TCP: one socket cannot take two protocols. */
	if (tls && tcp && tls->port == prim->port) {
		*idx = tls_idx;
		return why_is(key, "port", why, whylen, "must differ from the tcp port %u",
		              prim->port);
	}
	return 0;
}

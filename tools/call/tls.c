/* sipbridge-call over TLS: the directory sofia's TLS transport reads its trusted CAs from
 * (cafile.pem: --ca, else the system's CA file) and its own identity (agent.pem: a throwaway
 * key and self-signed certificate), made private and removed at exit; and TLS 1.2 as the least
 * version. Thread: main. Owns the directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sb/tls_dir.h>

#include "call.h"

/* A certificate for the sips listener sofia opens beside the call: the far end sends its own
 * requests (a BYE) on a new connection to it. Nobody trusts it; it only makes the handshake. */
static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name = x ? X509_get_subject_name(x) : NULL;

	if (!x || !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)SB_CL_NAME,
	                                -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int write_identity(const char *dir)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = key ? self_signed(key) : NULL;
	char path[4096];
	FILE *f = NULL;
	int fd, r = -EIO;

	snprintf(path, sizeof(path), "%s/agent.pem", dir);
	fd = x ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	if (fd >= 0)
		f = fdopen(fd, "w");
	if (f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) && PEM_write_X509(f, x))
		r = 0;
	if (f && fclose(f) != 0)
		r = -EIO;
	else if (!f && fd >= 0)
		close(fd);
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

/* Whether the CA file holds a PEM certificate to begin with: sofia's TLS transport fails to
 * start on one that does not, which would only say that SIP cannot bind. */
static bool has_certificate(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return x != NULL;
}

int sb_cl_tls_prepare(struct sb_cl_app *a)
{
	const char *ca = a->opts->ca ? a->opts->ca : X509_get_default_cert_file();
	char err[512];
	int r;

	r = sb_tls_dir_new(&a->tls_dir, NULL, NULL, ca, err, sizeof(err));
	if (r == 0 && !has_certificate(ca)) {
		snprintf(err, sizeof(err), "%s holds no PEM certificate", ca);
		r = -EINVAL;
	}
	if (r == 0)
		r = sb_tls_min_v12(err, sizeof(err));
	if (r == 0 && write_identity(a->tls_dir) < 0) {
		snprintf(err, sizeof(err), "cannot make a key for the TLS listener");
		r = -EIO;
	}
	if (r < 0)
		fprintf(stderr, SB_CL_NAME ": --transport tls: %s\n", err);
	return r;
}

void sb_cl_tls_done(struct sb_cl_app *a)
{
	a->tls_dir = sb_tls_dir_free(a->tls_dir);
}

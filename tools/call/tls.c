/* sipbridge-call over TLS: the directory sofia's TLS transport reads its trusted CAs from
 * (cafile.pem: --ca, else the system's CA file), made private and removed at exit, and TLS 1.2
 * as the least version. Thread: main. Owns the directory. */
#include <errno.h>
#include <stdio.h>

#include <openssl/x509.h>

#include <sb/tls_dir.h>

#include "call.h"

int sb_cl_tls_prepare(struct sb_cl_app *a)
{
	const char *ca = a->opts->ca ? a->opts->ca : X509_get_default_cert_file();
	char err[512];
	int r;

	r = sb_tls_dir_new(&a->tls_dir, NULL, NULL, ca, err, sizeof(err));
	if (r == 0)
		r = sb_tls_min_v12(err, sizeof(err));
	if (r < 0)
		fprintf(stderr, SB_CL_NAME ": --transport tls: %s\n", err);
	return r;
}

void sb_cl_tls_done(struct sb_cl_app *a)
{
	a->tls_dir = sb_tls_dir_free(a->tls_dir);
}

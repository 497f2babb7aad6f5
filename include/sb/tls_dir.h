/* The private directory sofia-sip's TLS transport reads its certificate from (TPTAG_CERTIFICATE
 * names a directory holding agent.pem and cafile.pem), built at start-up from the configured
 * files and removed at exit; and the least TLS version of the process. Thread: main or control
 * (start-up and exit only). */
#pragma once

#include <stddef.h>

/* Makes a directory (0700) under $RUNTIME_DIRECTORY, else $TMPDIR, else /tmp, holding
 * agent.pem = the key file then the cert file (none when key is NULL) and cafile.pem = the ca
 * file (the cert file when ca is NULL or "", none without either), each 0600 and at most 1 MiB. The
 * paths are borrowed. On success *ret is the directory's malloc'd path; on failure *ret is
 * untouched, nothing is left behind and err holds the reason (never any file content). Returns 0 or
 * a negative errno. */
int sb_tls_dir_new(char **ret, const char *key, const char *cert, const char *ca, char *err,
                   size_t errlen);
/* Removes the directory and its files and frees dir; accepts NULL; returns NULL. */
char *sb_tls_dir_free(char *dir);
/* Makes TLS 1.2 the least version of every OpenSSL context the process creates from now on
 * (sofia-sip's transport has no setting for it), through OpenSSL's "system_default" SSL
 * configuration. Call it before any other thread uses OpenSSL. Returns 0 or -EINVAL with the
 * reason in err. */
int sb_tls_min_v12(char *err, size_t errlen);

/* The private TLS directory for sofia-sip's transport: agent.pem (key + certificate) and
 * cafile.pem copied from the configured files into a fresh 0700 directory, removed at exit;
 * and OpenSSL's least protocol version for the process. Thread: any (start-up and exit).
 * Owns the directory it makes. No file content is ever put in a message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <sb/tls_dir.h>

#define FILE_MAX_BYTES (1024 * 1024)

static const char *const files[] = {"agent.pem", "cafile.pem"};

/* Reads all of src (at most FILE_MAX_BYTES) into a malloc'd *buf with room for one more byte. */
static int slurp(const char *src, char **buf, size_t *len)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t got = 1;
	int r = 0;

	if (in < 0)
		return -errno;
	*buf = malloc(FILE_MAX_BYTES + 2);
	if (!*buf)
		r = -ENOMEM;
	while (r == 0 && got > 0 && n <= FILE_MAX_BYTES) {
		got = read(in, *buf + n, FILE_MAX_BYTES + 1 - n);
		if (got < 0)
			r = errno == EINTR ? 0 : -errno;
		else
			n += (size_t)got;
	}
	close(in);
	if (r == 0 && n > FILE_MAX_BYTES)
		r = -EFBIG;
	if (r < 0) {
		free(*buf);
		*buf = NULL;
		return r;
	}
	*len = n;
	return 0;
}

/* Appends the file at src to fd; adds a line end when it has none (PEM blocks stay apart). */
static int append(int fd, const char *src, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;
	int r = slurp(src, &buf, &n);

	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", src, strerror(-r));
		return r;
	}
	if (n > 0 && buf[n - 1] != '\n')
		buf[n++] = '\n';
	if (write(fd, buf, n) != (ssize_t)n) {
		r = errno ? -errno : -EIO;
		snprintf(err, errlen, "cannot copy %s: %s", src, strerror(-r));
	}
	explicit_bzero(buf, n); /* key material does not outlive the copy */
	free(buf);
	return r;
}

/* dir/name from the files a and b (b may be NULL), 0600. */
static int make_file(const char *dir, const char *name, const char *a, const char *b, char *err,
                     size_t errlen)
{
	char path[4096];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(-r));
		return r;
	}
	r = append(fd, a, err, errlen);
	if (r == 0 && b)
		r = append(fd, b, err, errlen);
	if (close(fd) < 0 && r == 0) {
		r = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
	}
	return r;
}

char *sb_tls_dir_free(char *dir)
{
	char path[4096];

	if (!dir)
		return NULL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	free(dir);
	return NULL;
}

int sb_tls_dir_new(char **ret, const char *key, const char *cert, const char *ca, char *err,
                   size_t errlen)
{
	const char *base = getenv("RUNTIME_DIRECTORY");
	char *dir;
	int r = 0;

	if (!base || !*base || strchr(base, ':')) /* systemd may list several */
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&dir, "%s/sipbridge-tls.XXXXXX", base) < 0)
		return -ENOMEM;
	if (!mkdtemp(dir)) { /* mkdtemp makes it 0700 */
		r = -errno;
		snprintf(err, errlen, "cannot make a directory in %s: %s", base, strerror(-r));
		free(dir);
		return r;
	}
	if (key && cert)
		r = make_file(dir, "agent.pem", key, cert, err, errlen);
	/* The SIP stack fails without a readable CA file: the certificate itself stands in for a
	 * missing ca (it only matters when client certificates are asked for, which needs ca). */
	if (ca && !*ca)
		ca = NULL;
	if (r == 0 && (ca || cert))
		r = make_file(dir, "cafile.pem", ca ? ca : cert, NULL, err, errlen);
	if (r < 0) {
		sb_tls_dir_free(dir);
		return r;
	}
	*ret = dir;
	return 0;
}

int sb_tls_min_v12(char *err, size_t errlen)
{
	static const char text[] = "sipbridge_openssl = sb_init\n"
	                           "[sb_init]\nssl_conf = sb_ssl\n"
	                           "[sb_ssl]\nsystem_default = sb_tls\n"
	                           "[sb_tls]\nMinProtocol = TLSv1.2\n";
	CONF *conf;
	BIO *bio;
	long line = 0;
	int r = -EINVAL;

	/* The system's file first: loaded later it would replace this setting. */
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	OPENSSL_load_builtin_modules();
	conf = NCONF_new(NULL);
	bio = BIO_new_mem_buf(text, (int)sizeof(text) - 1);
	if (conf && bio && NCONF_load_bio(conf, bio, &line) > 0 &&
	    CONF_modules_load(conf, "sipbridge_openssl", 0) > 0)
		r = 0;
	else
		snprintf(err, errlen, "OpenSSL did not take TLS 1.2 as the least version");
	ERR_clear_error();
	BIO_free(bio);
	NCONF_free(conf);
	return r;
}

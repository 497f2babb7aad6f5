/* Unit tests for the bot TLS keys of config_schema.c: tls_verify and ca_file with their
 * defaults, and a ca_file that is missing or holds no certificate refused as FILE:LINE: KEY. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sb/config.h>

#include "harness.h"

/* A config whose one bot has the given extra keys (libconfig text). */
static int load_bot(struct sb_config **c, const char *keys, char *err, size_t errlen)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "bots = ( { name = \"b\"; url = \"wss://bot.example.com/media\";\n  %s } );\n"
	         "trunks = ( { name = \"t\"; acl = [ \"::1\" ];\n"
	         "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n",
	         keys);
	return sb_config_load_string(c, text, "mem", NULL, err, errlen);
}

/* Writes text to a new temporary file; its path goes to path. */
static int temp_file(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/sb-test-ca-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

TEST(defaults_verify_with_system_store)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(load_bot(&c, "", err, sizeof(err)), 0);
	ASSERT_TRUE(c->bots[0].tls_verify);
	ASSERT_STREQ(c->bots[0].ca_file, "");
	c = sb_config_unref(c);
	ASSERT_EQ(load_bot(&c, "tls_verify = false;", err, sizeof(err)), 0);
	ASSERT_TRUE(!c->bots[0].tls_verify);
	c = sb_config_unref(c);
	ASSERT_EQ(load_bot(&c, "tls_verify = \"no\";", err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strncmp(err, "mem:2: bots[0].tls_verify:", 26) == 0);
out:
	sb_config_unref(c);
	return r;
}

TEST(ca_file_checked_at_load)
{
	char err[SB_CONFIG_ERR_MAX] = "", keys[256], good[64] = "", bad[64] = "";
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(temp_file(good, sizeof(good),
	                    "# a bundle\n-----BEGIN CERTIFICATE-----\nMIIB\n"
	                    "-----END CERTIFICATE-----\n"),
	          0);
	ASSERT_EQ(temp_file(bad, sizeof(bad), "not a certificate\n"), 0);
	snprintf(keys, sizeof(keys), "ca_file = \"%s\";", good);
	ASSERT_EQ(load_bot(&c, keys, err, sizeof(err)), 0);
	ASSERT_STREQ(c->bots[0].ca_file, good);
	c = sb_config_unref(c);
	ASSERT_EQ(load_bot(&c, "ca_file = \"/nonexistent/ca.pem\";", err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "mem:2: bots[0].ca_file: cannot read /nonexistent/ca.pem: No such file "
	                  "or directory");
	snprintf(keys, sizeof(keys), "ca_file = \"%s\";", bad);
	ASSERT_EQ(load_bot(&c, keys, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "bots[0].ca_file: holds no PEM certificate") != NULL);
	ASSERT_TRUE(c == NULL);
out:
	if (good[0])
		unlink(good);
	if (bad[0])
		unlink(bad);
	sb_config_unref(c);
	return r;
}

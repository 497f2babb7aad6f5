/* Unit tests for config_listen.c and the sip.listen TLS keys: a tls entry with good files loads
 * (port 5061 by default), each bad file is named at its key's line with the reason, entries
 * that cannot be bound together are refused, and --sip-port leaves the tls port alone.
 * Runs with the working directory tests/unit (certificates under data/tls/). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/config.h>

#include "harness.h"

static char dir[PATH_MAX]; /* data/tls as an absolute path */

/* A config whose sip.listen holds the text listen, every %s in it replaced by dir. */
static int load_listen(struct sb_config **c, const char *listen,
                       const struct sb_config_overrides *ov, char *err, size_t errlen)
{
	char entries[2048], text[4096];

	snprintf(entries, sizeof(entries), listen, dir, dir, dir, dir);
	snprintf(text, sizeof(text),
	         "bots = ( { name = \"b\"; url = \"ws://h/\"; } );\n"
	         "trunks = ( { name = \"t\"; acl = [ \"::1\" ];\n"
	         "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n"
	         "sip: {\n"
	         "  listen = ( %s );\n"
	         "};\n",
	         entries);
	return sb_config_load_string(c, text, "mem", ov, err, errlen);
}

static int find_dir(void)
{
	return realpath("data/tls", dir) ? 0 : -errno;
}

/* Expects a failure whose message starts with want. */
static int refused(const char *listen, const char *want)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	int e = load_listen(&c, listen, NULL, err, sizeof(err));

	if (e == -EINVAL && !c && strncmp(err, want, strlen(want)) == 0)
		return 0;
	fprintf(stderr, "  %s\n    returned %d, got \"%s\"\n    wanted \"%s...\"\n", listen, e, err,
	        want);
	sb_config_unref(c);
	return -1;
}

TEST(tls_entry_loads)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	const struct sb_listen *t;
	int r = 0;

	ASSERT_EQ(find_dir(), 0);
	ASSERT_EQ(
	        load_listen(&c,
	                    "{ transport = \"udp\"; port = 5070; }, { transport = \"tcp\"; port = "
	                    "5070; },\n"
	                    "{ transport = \"tls\"; cert = \"%s/cert.pem\"; key = \"%s/key.pem\";\n"
	                    "  ca = \"%s/ca.pem\"; verify_client = true; }",
	                    NULL, err, sizeof(err)),
	        0);
	ASSERT_EQ(c->n_listen, 3);
	t = &c->listen[2];
	ASSERT_EQ(t->transport, SB_TP_TLS);
	ASSERT_EQ(t->port, 5061); /* the tls default */
	ASSERT_STREQ(t->address, "0.0.0.0");
	ASSERT_TRUE(strstr(t->cert, "/data/tls/cert.pem") != NULL && t->cert[0] == '/');
	ASSERT_TRUE(strstr(t->key, "/data/tls/key.pem") != NULL);
	ASSERT_TRUE(strstr(t->ca, "/data/tls/ca.pem") != NULL);
	ASSERT_TRUE(t->verify_client);
	/* udp and tcp keep their own defaults: no TLS settings */
	ASSERT_EQ(c->listen[0].port, 5070);
	ASSERT_STREQ(c->listen[0].cert, "");
	ASSERT_TRUE(!c->listen[1].verify_client);
out:
	sb_config_unref(c);
	return r;
}

/* A tls entry alone (no udp or tcp) is fine, on the port it names; --sip-port moves the udp
 * and tcp entries only. */
TEST(tls_port_and_override)
{
	struct sb_config_overrides ov = {.sip_port = 5090};
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(find_dir(), 0);
	ASSERT_EQ(load_listen(&c,
	                      "{ transport = \"tls\"; port = 5071; cert = \"%s/cert.pem\"; key = "
	                      "\"%s/key.pem\"; }",
	                      NULL, err, sizeof(err)),
	          0);
	ASSERT_EQ(c->n_listen, 1);
	ASSERT_EQ(c->listen[0].port, 5071);
	c = sb_config_unref(c);
	ASSERT_EQ(load_listen(&c,
	                      "{ transport = \"udp\"; }, { transport = \"tls\"; cert = "
	                      "\"%s/cert.pem\"; key = \"%s/key.pem\"; }",
	                      &ov, err, sizeof(err)),
	          0);
	ASSERT_EQ(c->listen[0].port, 5090);
	ASSERT_EQ(c->listen[1].port, 5061);
out:
	sb_config_unref(c);
	return r;
}

/* Each bad file: named at its key's line (the listen text starts on line 5) with the reason. */
TEST(bad_files)
{
	static char want[3 * PATH_MAX]; /* two paths and the text around them */
	int r = 0;

	ASSERT_EQ(find_dir(), 0);
	snprintf(want, sizeof(want),
	         "mem:6: sip.listen[0].key: %s/other-key.pem does not match the "
	         "certificate in %s/cert.pem",
	         dir, dir);
	ASSERT_EQ(refused("{ transport = \"tls\"; cert = \"%s/cert.pem\";\n key = "
	                  "\"%s/other-key.pem\"; }",
	                  want),
	          0);
	snprintf(want, sizeof(want),
	         "mem:5: sip.listen[0].cert: %s/not-pem.pem is not a PEM "
	         "certificate",
	         dir);
	ASSERT_EQ(
	        refused("{ transport = \"tls\"; cert = \"%s/not-pem.pem\"; key = \"%s/key.pem\"; }",
	                want),
	        0);
	/* a key where the certificate should be is not a certificate either */
	snprintf(want, sizeof(want),
	         "mem:5: sip.listen[0].cert: %s/key.pem is not a PEM "
	         "certificate",
	         dir);
	ASSERT_EQ(refused("{ transport = \"tls\"; cert = \"%s/key.pem\"; key = \"%s/key.pem\"; }",
	                  want),
	          0);
	snprintf(want, sizeof(want),
	         "mem:6: sip.listen[0].key: cannot read %s/missing.pem: No such "
	         "file or directory",
	         dir);
	ASSERT_EQ(refused("{ transport = \"tls\"; cert = \"%s/cert.pem\";\n key = "
	                  "\"%s/missing.pem\"; }",
	                  want),
	          0);
	/* never a pass phrase prompt: an encrypted key is refused */
	snprintf(want, sizeof(want),
	         "mem:6: sip.listen[0].key: %s/encrypted-key.pem is not a PEM "
	         "private key (or it is encrypted)",
	         dir);
	ASSERT_EQ(refused("{ transport = \"tls\"; cert = \"%s/cert.pem\";\n key = "
	                  "\"%s/encrypted-key.pem\"; }",
	                  want),
	          0);
	snprintf(want, sizeof(want),
	         "mem:6: sip.listen[0].ca: %s/not-pem.pem holds no PEM "
	         "certificate",
	         dir);
	ASSERT_EQ(refused("{ transport = \"tls\"; cert = \"%s/cert.pem\"; key = \"%s/key.pem\";\n "
	                  "ca = \"%s/not-pem.pem\"; }",
	                  want),
	          0);
out:
	return r;
}

/* Entries that cannot be bound together, and TLS keys where they do not belong. */
TEST(bad_entries)
{
	int r = 0;

	ASSERT_EQ(find_dir(), 0);
	ASSERT_EQ(refused("{ transport = \"tcp\"; port = 5070; },\n{ transport = \"tls\"; port = "
	                  "5070; cert = \"%s/cert.pem\"; key = \"%s/key.pem\"; }",
	                  "mem:6: sip.listen[1].port: must differ from the tcp port 5070"),
	          0);
	ASSERT_EQ(
	        refused("{ transport = \"tls\"; cert = \"%s/cert.pem\"; key = \"%s/key.pem\"; },\n"
	                "{ transport = \"tls\"; port = 5062; cert = \"%s/cert.pem\"; key = "
	                "\"%s/key.pem\"; }",
	                "mem:6: sip.listen[1].transport: only one \"tls\" entry is supported"),
	        0);
	ASSERT_EQ(
	        refused("{ transport = \"udp\"; address = \"127.0.0.1\"; },\n"
	                "{ transport = \"tcp\"; address = \"127.0.0.2\"; }",
	                "mem:6: sip.listen[1].address: udp and tcp entries must share one address "
	                "(127.0.0.1)"),
	        0);
	ASSERT_EQ(refused("{ transport = \"tcp\";\n verify_client = true; }",
	                  "mem:6: sip.listen[0].verify_client: is only for transport \"tls\""),
	          0);
	ASSERT_EQ(refused("{ transport = \"tls\"; cert = \"%s/cert.pem\"; }",
	                  "mem:5: sip.listen[0].key: missing (required for transport \"tls\")"),
	          0);
out:
	return r;
}

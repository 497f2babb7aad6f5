/* Unit tests for config.c/config_schema.c: defaults, every key parsed, the embedded default,
 * overrides, the sample config, refcounting, and broken files reported as FILE:LINE: KEY.
 * Runs with the working directory tests/unit (data files under data/). */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libconfig.h>

#include <sb/config.h>
#include "../../src/core/config_priv.h"
#define LOG_SUBSYS "test" /* for the level values only */
#include <sb/log.h>

#include <sb/common.h>

#include "harness.h"

static struct sb_config *load(const char *path, const struct sb_config_overrides *ov)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;

	if (sb_config_load_file(&c, path, ov, err, sizeof(err)) < 0)
		fprintf(stderr, "  unexpected error: %s\n", err);
	return c;
}

static bool v4_in(const struct sb_trunk *t, const char *ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sb_acl_match(t->acl, t->n_acl, (struct sockaddr *)&sin);
}

TEST(defaults_applied)
{
	struct sb_config *c = load("data/minimal.conf", NULL);
	int r = 0;

	ASSERT_TRUE(c != NULL);
	ASSERT_EQ(atomic_load(&c->refs), 1);
	ASSERT_STREQ(c->source, "data/minimal.conf");
	ASSERT_EQ(c->n_listen, 2);
	ASSERT_EQ(c->listen[0].transport, SB_TP_UDP);
	ASSERT_EQ(c->listen[1].transport, SB_TP_TCP);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_STREQ(c->listen[i].address, "0.0.0.0");
		ASSERT_EQ(c->listen[i].port, 5060);
	}
	ASSERT_STREQ(c->sip_public_address, "");
	ASSERT_STREQ(c->user_agent, "sipbridge");
	ASSERT_STREQ(c->rtp_address, "0.0.0.0");
	ASSERT_STREQ(c->rtp_public_address, "");
	ASSERT_EQ(c->rtp_port_min, 10000);
	ASSERT_EQ(c->rtp_port_max, 20000);
	ASSERT_EQ(c->rtp_timeout_s, 30);
	ASSERT_EQ(c->max_calls, 4000);
	ASSERT_EQ(c->max_cps, 200);
	ASSERT_EQ(c->media_threads, 0);
	ASSERT_EQ(c->ws_threads, 0);
	ASSERT_EQ(c->media_io, SB_MEDIA_IO_AUTO);
	ASSERT_EQ(c->ws_loop, SB_WS_LOOP_AUTO);
	ASSERT_TRUE(c->media_realtime);
	ASSERT_TRUE(c->ws_realtime);
	ASSERT_EQ(c->media_rx_buffers, 1024);
	ASSERT_EQ(c->log_level, SB_LOG_INFO);
	ASSERT_STREQ(c->webhook_url, "");
	ASSERT_STREQ(c->webhook_secret, "");
	ASSERT_STREQ(c->webhook_ca_file, "");
	ASSERT_EQ(c->webhook_retries, 3);
	ASSERT_EQ(c->webhook_timeout_ms, 5000);
	ASSERT_EQ(c->webhook_max_queue, 1000);
	ASSERT_EQ(c->dns_cache_s, 60);
	ASSERT_EQ(c->dns_fail_cache_s, 5);

	ASSERT_EQ(c->n_trunks, 1);
	ASSERT_STREQ(c->trunks[0].name, "t1");
	ASSERT_EQ(c->trunks[0].n_numbers, 0);
	ASSERT_STREQ(c->trunks[0].destination, "");
	ASSERT_EQ(c->trunks[0].n_routes, 1);
	ASSERT_TRUE(c->trunks[0].routes[0].bot == &c->bots[0]);

	ASSERT_EQ(c->n_bots, 1);
	const struct sb_bot_cfg *b = &c->bots[0];
	ASSERT_STREQ(b->url_text, "ws://127.0.0.1:5001/media");
	ASSERT_STREQ(b->url.host, "127.0.0.1");
	ASSERT_EQ(b->url.port, 5001);
	ASSERT_EQ(b->protocol, SB_PROTO_EXOTEL);
	ASSERT_EQ(b->mode, SB_MODE_VOICEBOT);
	ASSERT_EQ(b->n_headers, 0);
	ASSERT_EQ(b->connect_timeout_ms, 10000);
	ASSERT_EQ(b->retries, 1);
	ASSERT_EQ(b->on_close, SB_ON_CLOSE_HANGUP);
	ASSERT_EQ(b->on_fail, SB_ON_FAIL_REJECT);
	ASSERT_EQ(b->frame_ms, 100);
	ASSERT_EQ(b->max_queue_ms, 60000);
	ASSERT_EQ(b->max_marks, 1000);
out:
	sb_config_unref(c);
	return r;
}

TEST(every_key_parsed)
{
	struct sb_config *c = load("data/full.conf", NULL);
	int r = 0;

	ASSERT_TRUE(c != NULL);
	ASSERT_EQ(c->n_listen, 2); /* the tls keys: test_config_listen.c */
	ASSERT_EQ(c->listen[0].transport, SB_TP_TCP);
	ASSERT_STREQ(c->listen[0].address, "2001:db8::1");
	ASSERT_EQ(c->listen[0].port, 5090);
	ASSERT_EQ(c->listen[1].transport, SB_TP_UDP);
	ASSERT_STREQ(c->listen[1].address, "2001:db8::1");
	ASSERT_EQ(c->listen[1].port, 5090); /* written as 64-bit 5090L */
	ASSERT_STREQ(c->sip_public_address, "198.51.100.7");
	ASSERT_STREQ(c->user_agent, "acme-bridge/2");
	ASSERT_STREQ(c->rtp_address, "192.0.2.1");
	ASSERT_STREQ(c->rtp_public_address, "2001:db8::7");
	ASSERT_EQ(c->rtp_port_min, 30000);
	ASSERT_EQ(c->rtp_port_max, 30002);
	ASSERT_EQ(c->rtp_timeout_s, 0);
	ASSERT_EQ(c->max_calls, 100000);
	ASSERT_EQ(c->max_cps, 1);
	ASSERT_EQ(c->media_threads, 64);
	ASSERT_EQ(c->ws_threads, 16);
	ASSERT_EQ(c->media_io, SB_MEDIA_IO_EPOLL);
	ASSERT_EQ(c->ws_loop, SB_WS_LOOP_POLL);
	ASSERT_TRUE(!c->media_realtime);
	ASSERT_TRUE(!c->ws_realtime);
	ASSERT_EQ(c->media_rx_buffers, 100);
	ASSERT_EQ(c->log_level, SB_LOG_DEBUG);
	ASSERT_STREQ(c->webhook_url, "https://hooks.example.com:8443/calls/end?src=sb");
	ASSERT_STREQ(c->webhook_secret, "s3cret; with \"quotes\"");
	ASSERT_EQ(c->webhook_retries, 10);
	ASSERT_EQ(c->webhook_timeout_ms, 100);
	ASSERT_EQ(c->webhook_max_queue, 100000);
	ASSERT_EQ(c->dns_cache_s, 86400);
	ASSERT_EQ(c->dns_fail_cache_s, 0);

	ASSERT_EQ(c->n_trunks, 2);
	const struct sb_trunk *t = &c->trunks[0];
	ASSERT_STREQ(t->name, "cc_main");
	ASSERT_EQ(t->n_acl, 3);
	ASSERT_TRUE(v4_in(t, "10.200.1.1"));
	ASSERT_TRUE(v4_in(t, "203.0.113.50"));
	ASSERT_TRUE(!v4_in(t, "203.0.113.51"));
	ASSERT_EQ(t->acl[2].family, AF_INET6);
	ASSERT_EQ(t->n_numbers, 2);
	ASSERT_STREQ(t->numbers[0], "+919876543210");
	ASSERT_STREQ(t->numbers[1], "08040001234");
	ASSERT_STREQ(t->destination, "sips:agents@10.0.0.5:5061");
	ASSERT_EQ(t->n_routes, 2);
	ASSERT_STREQ(t->routes[0].match, "salesbot");
	ASSERT_TRUE(t->routes[0].bot == sb_config_find_bot(c, "sales"));
	ASSERT_STREQ(t->routes[1].match, "*");
	ASSERT_TRUE(t->routes[1].bot == sb_config_find_bot(c, "default"));
	ASSERT_STREQ(c->trunks[1].name, "Backup_2");
	ASSERT_TRUE(c->trunks[1].routes[0].bot == &c->bots[0]);

	ASSERT_EQ(c->n_bots, 2);
	const struct sb_bot_cfg *b = &c->bots[0];
	ASSERT_TRUE(b->url.tls);
	ASSERT_STREQ(b->url.host, "bot.example.com");
	ASSERT_EQ(b->url.port, 8443);
	ASSERT_STREQ(b->url.userinfo, "user:pw");
	ASSERT_STREQ(b->url.path, "/media?sample_rate=8000&x=1");
	ASSERT_EQ(b->url.sample_rate, 8000);
	ASSERT_EQ(b->n_headers, 2);
	ASSERT_STREQ(b->headers[0], "Authorization: Bearer abc");
	ASSERT_STREQ(b->headers[1], "X-Tenant:7");
	ASSERT_EQ(b->connect_timeout_ms, 100);
	ASSERT_EQ(b->retries, 5);
	ASSERT_EQ(b->frame_ms, 1000);
	ASSERT_EQ(b->max_queue_ms, 1000);
	ASSERT_EQ(b->max_marks, 100000);
	b = &c->bots[1];
	ASSERT_STREQ(b->name, "sales");
	ASSERT_STREQ(b->url.host, "::1");
	ASSERT_STREQ(b->url.path, "/");
	ASSERT_EQ(b->retries, 0);
	ASSERT_EQ(b->frame_ms, 20);
	ASSERT_EQ(b->connect_timeout_ms, 10000); /* absent in this element: default */
	ASSERT_TRUE(sb_config_find_bot(c, "nobody") == NULL);
	ASSERT_TRUE(sb_config_find_bot(c, "Sales") == NULL); /* names are case-sensitive */
out:
	sb_config_unref(c);
	return r;
}

TEST(embedded_default)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(sb_config_load_default(&c, NULL, err, sizeof(err)), 0);
	ASSERT_STREQ(c->source, "(embedded default)");
	ASSERT_EQ(c->n_listen, 2);
	ASSERT_EQ(c->listen[0].transport, SB_TP_UDP);
	ASSERT_EQ(c->listen[1].transport, SB_TP_TCP);
	ASSERT_STREQ(c->listen[0].address, "127.0.0.1");
	ASSERT_STREQ(c->listen[1].address, "127.0.0.1");
	ASSERT_EQ(c->listen[0].port, 5060);
	ASSERT_STREQ(c->rtp_address, "127.0.0.1");
	ASSERT_EQ(c->rtp_port_min, 10000);
	ASSERT_EQ(c->rtp_port_max, 20000);
	ASSERT_EQ(c->n_trunks, 1);
	ASSERT_STREQ(c->trunks[0].name, "local");
	ASSERT_EQ(c->trunks[0].n_acl, 2);
	ASSERT_TRUE(v4_in(&c->trunks[0], "127.0.0.2"));
	ASSERT_TRUE(!v4_in(&c->trunks[0], "10.0.0.1"));
	ASSERT_EQ(c->trunks[0].n_numbers, 0);
	ASSERT_EQ(c->trunks[0].n_routes, 1);
	ASSERT_STREQ(c->trunks[0].routes[0].match, "*");
	ASSERT_EQ(c->n_bots, 1);
	ASSERT_STREQ(c->bots[0].name, "default");
	ASSERT_STREQ(c->bots[0].url_text, "ws://127.0.0.1:5001/media");
	ASSERT_TRUE(c->trunks[0].routes[0].bot == &c->bots[0]);
	/* The text handed out for --help is the one that was parsed. */
	ASSERT_TRUE(strstr(sb_config_default_text(), "ws://127.0.0.1:5001/media") != NULL);
out:
	sb_config_unref(c);
	return r;
}

TEST(overrides)
{
	struct sb_config_overrides ov = {.bot_url = "wss://bot.test:9443/x?sample-rate=8000",
	                                 .sip_port = 5999};
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL, *d = NULL;
	int r = 0;

	ASSERT_EQ(sb_config_load_default(&c, &ov, err, sizeof(err)), 0);
	ASSERT_STREQ(c->bots[0].url_text, ov.bot_url);
	ASSERT_TRUE(c->bots[0].url.tls);
	ASSERT_EQ(c->bots[0].url.sample_rate, 8000);
	ASSERT_EQ(c->listen[0].port, 5999);
	ASSERT_EQ(c->listen[1].port, 5999);

	d = load("data/full.conf", &ov);
	ASSERT_TRUE(d != NULL);
	for (size_t i = 0; i < d->n_bots; i++)
		ASSERT_STREQ(d->bots[i].url.host, "bot.test");
	for (size_t i = 0; i < d->n_listen; i++)
		ASSERT_EQ(d->listen[i].port, 5999);
	c = sb_config_unref(c);

	ov.bot_url = "http://bot.test/";
	ASSERT_EQ(sb_config_load_default(&c, &ov, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(c == NULL);
	ASSERT_TRUE(strncmp(err, "--bot: ", 7) == 0);
	/* The URL's rate becomes the bot's; a rate the bridge cannot resample to is refused. */
	ov.bot_url = "ws://bot.test/x?sample-rate=16000";
	ASSERT_EQ(sb_config_load_default(&c, &ov, err, sizeof(err)), 0);
	ASSERT_EQ(c->bots[0].sample_rate, 16000);
	c = sb_config_unref(c);
	ov.bot_url = "ws://bot.test/x?sample-rate=12000";
	ASSERT_EQ(sb_config_load_default(&c, &ov, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "--bot: invalid URL: sample-rate must be 8000, 16000 or 24000");

	ov.bot_url = NULL;
	ov.sip_port = 70000;
	ASSERT_EQ(sb_config_load_default(&c, &ov, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strncmp(err, "--sip-port: ", 12) == 0);
	ov.sip_port = -1;
	ASSERT_EQ(sb_config_load_default(&c, &ov, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(c == NULL);
out:
	sb_config_unref(c);
	sb_config_unref(d);
	return r;
}

TEST(sample_config_loads)
{
	struct sb_config *c = load("../../conf/sipbridge.conf", NULL);
	int r = 0;

	ASSERT_TRUE(c != NULL);
	ASSERT_EQ(c->n_trunks, 1);
	ASSERT_EQ(c->n_bots, 2);
	ASSERT_TRUE(sb_config_find_bot(c, "default") != NULL);
	ASSERT_TRUE(sb_config_find_bot(c, "sales") != NULL);
	/* The sample documents the defaults: its values equal what an absent key gives. */
	ASSERT_EQ(c->n_listen, 2);
	ASSERT_EQ(c->rtp_port_min, 10000);
	ASSERT_EQ(c->rtp_port_max, 20000);
	ASSERT_EQ(c->rtp_timeout_s, 30);
	ASSERT_EQ(c->max_calls, 4000);
	ASSERT_EQ(c->max_cps, 200);
	ASSERT_EQ(c->reject_rate, 50);
	ASSERT_EQ(c->log_level, SB_LOG_INFO);
	ASSERT_EQ(c->bots[0].frame_ms, 100);
out:
	sb_config_unref(c);
	return r;
}

TEST(refcount)
{
	char err[SB_CONFIG_ERR_MAX];
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(sb_config_load_default(&c, NULL, err, sizeof(err)), 0);
	ASSERT_EQ(atomic_load(&c->refs), 1);
	ASSERT_TRUE(sb_config_ref(c) == c);
	ASSERT_TRUE(sb_config_ref(c) == c);
	ASSERT_EQ(atomic_load(&c->refs), 3);
	ASSERT_TRUE(sb_config_unref(c) == NULL);
	ASSERT_TRUE(sb_config_unref(c) == NULL);
	ASSERT_EQ(atomic_load(&c->refs), 1);
	/* Still usable while a reference is held (ASan/valgrind catch a premature free). */
	ASSERT_STREQ(c->bots[0].name, "default");
	ASSERT_TRUE(sb_config_unref(NULL) == NULL);
	ASSERT_TRUE(sb_config_ref(NULL) == NULL);
out:
	sb_config_unref(c);
	return r;
}

/* sb_config_load_file() on path, a file of mode 0: 0 when it fails with EACCES and says so. */
static int load_unreadable(const char *path)
{
	char err[SB_CONFIG_ERR_MAX] = "", want[64];
	struct sb_config *c = NULL;
	int e = sb_config_load_file(&c, path, NULL, err, sizeof(err));

	snprintf(want, sizeof(want), "%s: cannot open: Permission denied", path);
	if (e == -EACCES && !c && strcmp(err, want) == 0)
		return 0;
	fprintf(stderr, "  unreadable file: %d, \"%s\"\n", e, err);
	return -1;
}

/* root reads anything: as root the load runs in a child that has become nobody. */
static int load_unreadable_as_user(const char *path)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		return load_unreadable(path);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		_exit(load_unreadable(path) == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

TEST(cannot_open)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = (struct sb_config *)&err; /* must stay untouched */
	int r = 0;

	ASSERT_EQ(sb_config_load_file(&c, "data/does-not-exist.conf", NULL, err, sizeof(err)),
	          -ENOENT);
	ASSERT_TRUE(c == (struct sb_config *)&err);
	ASSERT_STREQ(err, "data/does-not-exist.conf: cannot open: No such file or directory");
	/* A directory opens but cannot be read as a file. */
	ASSERT_TRUE(sb_config_load_file(&c, "data", NULL, err, sizeof(err)) < 0);
	ASSERT_TRUE(strncmp(err, "data: cannot", 12) == 0);
	/* A file its reader may not open. */
	char path[] = "/tmp/sbcfgXXXXXX";
	int fd = mkstemp(path);

	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_EQ(chmod(path, 0), 0);
	int e = load_unreadable_as_user(path);
	unlink(path);
	ASSERT_EQ(e, 0);
out:
	return r;
}

TEST(load_string_and_errors)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	int r = 0;

	/* Empty text is valid syntax, but trunks and bots are required: the file's first line
	 * stands for a key that is missing. */
	ASSERT_EQ(sb_config_load_string(&c, "", "mem", NULL, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "mem:1: bots: missing (required)");
	ASSERT_EQ(sb_config_load_string(&c,
	                                "log: { level = \"warn\"; };\n"
	                                "bots = ( { name = \"b\"; url = \"ws://h/\"; } );\n"
	                                "trunks = ( { name = \"t\"; acl = [ \"::1\" ];\n"
	                                "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n",
	                                "mem", NULL, err, sizeof(err)),
	          0);
	ASSERT_EQ(c->log_level, SB_LOG_WARN);
	ASSERT_STREQ(c->source, "mem");
	c = sb_config_unref(c);
	/* A NULL or empty error buffer is allowed. */
	ASSERT_EQ(sb_config_load_string(&c, "x = 1;", "mem", NULL, NULL, 0), -EINVAL);
	ASSERT_EQ(sb_config_load_file(&c, "data/broken-url.conf", NULL, NULL, 0), -EINVAL);
	ASSERT_TRUE(c == NULL);
out:
	sb_config_unref(c);
	return r;
}

/* A config with the given admin group text. */
static int load_admin(struct sb_config **c, const char *admin, char *err, size_t errlen)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "bots = ( { name = \"b\"; url = \"ws://h/\"; } );\n"
	         "trunks = ( { name = \"t\"; acl = [ \"::1\" ];\n"
	         "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n"
	         "admin: { %s };\n",
	         admin);
	return sb_config_load_string(c, text, "mem", NULL, err, errlen);
}

/* admin: on at 127.0.0.1:8088 without a token by default; port 0 turns it off; the token is a
 * bearer b64token; the address is numeric. */
TEST(admin_group)
{
	char err[SB_CONFIG_ERR_MAX] = "";
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(load_admin(&c, "", err, sizeof(err)), 0);
	ASSERT_STREQ(c->admin_address, "127.0.0.1");
	ASSERT_EQ(c->admin_port, 8088);
	ASSERT_STREQ(c->admin_token, "");
	c = sb_config_unref(c);
	ASSERT_EQ(load_admin(&c, "address = \"::1\"; port = 0; token = \"aB3-._~+/==\";", err,
	                     sizeof(err)),
	          0);
	ASSERT_STREQ(c->admin_address, "::1");
	ASSERT_EQ(c->admin_port, 0);
	ASSERT_STREQ(c->admin_token, "aB3-._~+/==");
	c = sb_config_unref(c);
	ASSERT_EQ(load_admin(&c, "token = \"has space\";", err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "mem:4: admin.token: must be empty or 1-256 characters of "
	                  "[A-Za-z0-9-._~+/] (then '=' only)");
	ASSERT_EQ(load_admin(&c, "token = \"a=b\";", err, sizeof(err)), -EINVAL);
	ASSERT_EQ(load_admin(&c, "port = 65536;", err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "admin.port") != NULL);
	ASSERT_EQ(load_admin(&c, "address = \"localhost\";", err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "admin.address: must be a numeric") != NULL);
	ASSERT_EQ(load_admin(&c, "secret = \"x\";", err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(c == NULL);
out:
	sb_config_unref(c);
	return r;
}

/* A config whose bot and trunk have `record = ...` as given (NULL: not set). */
static int load_record(struct sb_config **c, const char *bot, const char *trunk, char *err,
                       size_t errlen)
{
	char text[1024], b[512] = "", t[512] = "";

	if (bot)
		snprintf(b, sizeof(b), "\n  record = \"%s\";", bot);
	if (trunk)
		snprintf(t, sizeof(t), "\n  record = \"%s\";", trunk);
	snprintf(text, sizeof(text),
	         "bots = ( { name = \"b\"; url = \"ws://h/\";%s } );\n"
	         "trunks = ( { name = \"t\"; acl = [ \"::1\" ];%s\n"
	         "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n",
	         b, t);
	return sb_config_load_string(c, text, "mem", NULL, err, errlen);
}

/* record: off by default, an absolute folder of at most 200 bytes on a bot or a trunk. A
 * folder that does not exist is fine here (it is seen per call). */
TEST(record_folder)
{
	char err[SB_CONFIG_ERR_MAX] = "", long_path[260];
	struct sb_config *c = NULL;
	int r = 0;

	ASSERT_EQ(load_record(&c, NULL, NULL, err, sizeof(err)), 0);
	ASSERT_STREQ(c->bots[0].record, "");
	ASSERT_STREQ(c->trunks[0].record, "");
	c = sb_config_unref(c);
	ASSERT_EQ(load_record(&c, "/var/lib/sipbridge/rec", "/nonexistent/t", err, sizeof(err)), 0);
	ASSERT_STREQ(c->bots[0].record, "/var/lib/sipbridge/rec");
	ASSERT_STREQ(c->trunks[0].record, "/nonexistent/t");
	c = sb_config_unref(c);
	ASSERT_EQ(load_record(&c, "rec", NULL, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "mem:2: bots[0].record: must be empty or an absolute path");
	ASSERT_EQ(load_record(&c, NULL, "/a\tb", err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "mem:3: trunks[0].record: must not hold control characters");
	memset(long_path, 'a', sizeof(long_path));
	long_path[0] = '/';
	long_path[201] = '\0';
	ASSERT_EQ(load_record(&c, long_path, NULL, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "mem:2: bots[0].record: must be at most 200 bytes");
	long_path[200] = '\0';
	ASSERT_EQ(load_record(&c, NULL, long_path, err, sizeof(err)), 0);
	ASSERT_EQ(strlen(c->trunks[0].record), 200);
out:
	sb_config_unref(c);
	return r;
}

/* A config whose bot has `keys` (libconfig text) beside its name and URL. */
static int load_bot(struct sb_config **c, const char *keys, char *err, size_t errlen)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "bots = ( { name = \"b\"; url = \"ws://h/\"; %s } );\n"
	         "trunks = ( { name = \"t\"; acl = [ \"::1\" ];\n"
	         "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n",
	         keys);
	return sb_config_load_string(c, text, "mem", NULL, err, errlen);
}

/* A bot's headers are "Name: value" with a token name; its subprotocol is a token (RFC 9110
 * tchar: visible ASCII but the delimiters). */
TEST(bot_headers_and_subprotocol_are_tokens)
{
	static const char *good_headers[] = {"X-Tenant: acme", "a!#$%&'*+-.^_`|~9Z:v", "K:"};
	static const char *bad_headers[] = {": v",        "X Tenant: v", "X(1): v",
	                                    "X-\\\"q: v", "NoColon",     "X-\u00e9: v"};
	static const char *good_protocols[] = {"", "audio.jambonz.org", "a!#$%&'*+-.^_`|~9Z"};
	static const char *bad_protocols[] = {"a b", "a/b", "a:b", "a{b}", "a\\\"b", "\u00e9"};
	char err[SB_CONFIG_ERR_MAX] = "", keys[256];
	struct sb_config *c = NULL;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(good_headers); i++) {
		snprintf(keys, sizeof(keys), "headers = ( \"%s\" );", good_headers[i]);
		if (load_bot(&c, keys, err, sizeof(err)) != 0)
			FAIL_AT("header \"%s\" refused: %s", good_headers[i], err);
		ASSERT_STREQ(c->bots[0].headers[0], good_headers[i]);
		c = sb_config_unref(c);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_headers); i++) {
		snprintf(keys, sizeof(keys), "headers = ( \"%s\" );", bad_headers[i]);
		if (load_bot(&c, keys, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, "must be \"Name: value\" with a token name"))
			FAIL_AT("header \"%s\" not refused as such: %s", bad_headers[i], err);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good_protocols); i++) {
		snprintf(keys, sizeof(keys), "subprotocol = \"%s\";", good_protocols[i]);
		if (load_bot(&c, keys, err, sizeof(err)) != 0)
			FAIL_AT("subprotocol \"%s\" refused: %s", good_protocols[i], err);
		ASSERT_STREQ(c->bots[0].subprotocol, good_protocols[i]);
		c = sb_config_unref(c);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_protocols); i++) {
		snprintf(keys, sizeof(keys), "subprotocol = \"%s\";", bad_protocols[i]);
		if (load_bot(&c, keys, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, "must be empty or a token of at most 64 characters"))
			FAIL_AT("subprotocol \"%s\" not refused as such: %s", bad_protocols[i],
			        err);
	}
out:
	sb_config_unref(c);
	return r;
}

/* A config whose limits group is `limits` (libconfig text), with one bot and one trunk. */
static int load_limits(struct sb_config **c, const char *limits, char *err, size_t errlen)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "limits: { %s };\n"
	         "bots = ( { name = \"b\"; url = \"ws://h/\"; } );\n"
	         "trunks = ( { name = \"t\"; acl = [ \"::1\" ];\n"
	         "  bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n",
	         limits);
	return sb_config_load_string(c, text, "mem", NULL, err, errlen);
}

/* libconfig 1.5 reads integer literals through atoi(): 4294967297 would become 1. Every
 * integer is read in 64 bits and range-checked, whatever its spelling. */
TEST(integers_never_wrap)
{
	static const struct {
		const char *limits;
		const char *expect;
	} bad[] = {
	        {"max_calls = 4294967297;",
	         "mem:1: limits.max_calls: must be 1-100000, not 4294967297"},
	        {"max_calls = -4294967295;",
	         "mem:1: limits.max_calls: must be 1-100000, not -4294967295"},
	        {"max_calls = 2147483648;",
	         "mem:1: limits.max_calls: must be 1-100000, not 2147483648"},
	        {"max_calls = 0x100000001;",
	         "mem:1: limits.max_calls: must be 1-100000, not 4294967297"},
	        {"max_calls = 0xFFFFFFFF;",
	         "mem:1: limits.max_calls: must be 1-100000, not 4294967295"},
	        {"max_calls = 4294967297L;",
	         "mem:1: limits.max_calls: must be 1-100000, not 4294967297"},
	        {"max_calls = 99999999999999999999;",
	         "mem:1: integer 99999999999999999999 does not fit in 64 bits"},
	        {"max_calls = 1.5;", "mem:1: limits.max_calls: must be an integer"},
	        {"max_calls = 1e3;", "mem:1: limits.max_calls: must be an integer"},
	};
	char err[SB_CONFIG_ERR_MAX];
	struct sb_config *c = NULL;
	int r = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (load_limits(&c, bad[i].limits, err, sizeof(err)) != -EINVAL || c)
			FAIL_AT("\"%s\" was accepted", bad[i].limits);
		if (strcmp(err, bad[i].expect) != 0)
			FAIL_AT("%s:\n    got    \"%s\"\n    wanted \"%s\"", bad[i].limits, err,
			        bad[i].expect);
	}
	/* Values in range load in every spelling; numbers in comments and strings are text. */
	ASSERT_EQ(load_limits(&c, "max_calls = 100000; max_cps = 0x10;", err, sizeof(err)), 0);
	ASSERT_EQ(c->max_calls, 100000);
	ASSERT_EQ(c->max_cps, 16);
	c = sb_config_unref(c);
	ASSERT_EQ(load_limits(&c,
	                      "max_calls = 3000L; # 4294967297\n"
	                      "/* 99999999999999999999 */ max_cps = +7; // 1e99999\n",
	                      err, sizeof(err)),
	          0);
	ASSERT_EQ(c->max_calls, 3000);
	ASSERT_EQ(c->max_cps, 7);
	c = sb_config_unref(c);
	ASSERT_EQ(sb_config_load_string(
	                  &c,
	                  "sip: { user_agent = \"agent 4294967297 \\\" 99999999999999999999\"; };\n"
	                  "bots = ( { name = \"b2\"; url = \"ws://h:8080/p?x=4294967297\"; } );\n"
	                  "trunks = ( { name = \"t1\"; acl = [ \"::1\" ];\n"
	                  "  bots = ( { match = \"*\"; bot = \"b2\"; } ); } );\n",
	                  "mem", NULL, err, sizeof(err)),
	          0);
	ASSERT_STREQ(c->user_agent, "agent 4294967297 \" 99999999999999999999");
	ASSERT_STREQ(c->bots[0].url_text, "ws://h:8080/p?x=4294967297");
	c = sb_config_unref(c);
	/* A wide value on a later line is reported at its key's line. */
	ASSERT_EQ(sb_config_load_string(&c, "\n\nrtp: {\n  timeout_s =\n 8589934592; };\n", "mem",
	                                NULL, err, sizeof(err)),
	          -EINVAL);
	ASSERT_STREQ(err, "mem:4: rtp.timeout_s: must be 0-3600, not 8589934592");
	/* Included files would escape this check: refused with the line of the directive. */
	ASSERT_EQ(sb_config_load_string(&c, "# x\n  @include \"other.conf\"\n", "mem", NULL, err,
	                                sizeof(err)),
	          -EINVAL);
	ASSERT_STREQ(err, "mem:2: @include is not supported: keep every setting in one file");
out:
	sb_config_unref(c);
	return r;
}

/* Each broken file: the error must start with FILE:LINE: KEY: and hold the reason. */
static const struct {
	const char *file;
	const char *expect;
} broken[] = {
        {"broken-syntax.conf", "data/broken-syntax.conf:4: syntax error"},
        {"broken-unknown-key.conf", "data/broken-unknown-key.conf:5: rtp.port_mni: unknown key"},
        {"broken-unknown-top.conf", "data/broken-unknown-top.conf:4: telemetry: unknown key"},
        {"broken-webhook-url.conf", "data/broken-webhook-url.conf:4: webhook.url: must be empty or "
                                    "an http:// or https:// URL"},
        {"broken-webhook-port.conf",
         "data/broken-webhook-port.conf:5: webhook.url: port must be 1-65535"},
        {"broken-webhook-retries.conf",
         "data/broken-webhook-retries.conf:6: webhook.retries: must be"},
        {"broken-webhook-ca-missing.conf",
         "data/broken-webhook-ca-missing.conf:6: webhook.ca_file: cannot read "
         "/nonexistent/sipbridge/hook-ca.pem: No such file or directory"},
        {"broken-webhook-ca-no-cert.conf",
         "data/broken-webhook-ca-no-cert.conf:6: webhook.ca_file: holds no PEM certificate"},
        {"broken-unknown-elem.conf", "data/broken-unknown-elem.conf:7: bots[1].rate: unknown key"},
        {"broken-cidr.conf", "data/broken-cidr.conf:6: trunks[0].acl[1]: \"10.0.0.1/8\""},
        {"broken-url.conf", "data/broken-url.conf:6: bots[1].url: invalid URL: scheme"},
        {"broken-trunk-name.conf",
         "data/broken-trunk-name.conf:5: trunks[0].name: must be 1-16 characters of [A-Za-z0-9_]"},
        {"broken-type.conf", "data/broken-type.conf:5: limits.max_calls: must be an integer"},
        {"broken-type-list.conf", "data/broken-type-list.conf:3: trunks: must be a list"},
        {"broken-type-group.conf", "data/broken-type-group.conf:4: sip: must be a group"},
        {"broken-type-elem.conf",
         "data/broken-type-elem.conf:4: trunks[0].acl[1]: must be a string"},
        {"broken-bot-ref.conf",
         "data/broken-bot-ref.conf:8: trunks[0].bots[1].bot: no bot named \"nobody\""},
        {"broken-tls.conf", "data/broken-tls.conf:8: sip.listen[2].cert: missing (required for "
                            "transport \"tls\")"},
        {"broken-tls-on-udp.conf", "data/broken-tls-on-udp.conf:7: sip.listen[0].cert: is only "
                                   "for transport \"tls\""},
        {"broken-tls-relative.conf", "data/broken-tls-relative.conf:6: sip.listen[0].key: must "
                                     "be empty or an absolute path"},
        {"broken-tls-missing-file.conf",
         "data/broken-tls-missing-file.conf:6: sip.listen[1].cert: cannot read "
         "/nonexistent/sipbridge/cert.pem: No such file or directory"},
        {"broken-tls-verify.conf", "data/broken-tls-verify.conf:7: sip.listen[0].verify_client: "
                                   "needs ca"},
        {"broken-listen-port.conf", "data/broken-listen-port.conf:6: sip.listen[1].port: udp and "
                                    "tcp entries must share one port (5060)"},
        {"broken-transport.conf",
         "data/broken-transport.conf:4: sip.listen[0].transport: must be one of \"udp\", \"tcp\", "
         "\"tls\""},
        {"broken-port-odd.conf", "data/broken-port-odd.conf:4: rtp.port_min: must be even"},
        {"broken-port-order.conf", "data/broken-port-order.conf:6: rtp.port_max: must be at least"},
        {"broken-range.conf", "data/broken-range.conf:4: sip.listen[0].port: must be 1-65535"},
        {"broken-reject-rate.conf",
         "data/broken-reject-rate.conf:4: sip.reject_rate: must be 0-100000, not -1"},
        {"broken-dup-bot.conf", "data/broken-dup-bot.conf:5: bots[1].name: duplicate name \"b1\""},
        {"broken-missing-acl.conf",
         "data/broken-missing-acl.conf:5: trunks[1].acl: missing (required)"},
        {"broken-empty-acl.conf", "data/broken-empty-acl.conf:3: trunks[0].acl: must not be empty"},
        {"broken-no-trunks.conf", "data/broken-no-trunks.conf:1: trunks: missing (required)"},
        {"broken-header.conf",
         "data/broken-header.conf:4: bots[0].headers[0]: must be \"Name: value"},
        {"broken-address.conf", "data/broken-address.conf:4: rtp.address: must be a numeric"},
        {"broken-frame.conf",
         "data/broken-frame.conf:4: bots[0].frame_ms: must be a multiple of 20"},
        {"broken-number.conf", "data/broken-number.conf:4: trunks[0].numbers[0]: must be 1-32"},
        {"broken-protocol.conf", "data/broken-protocol.conf:4: bots[0].protocol: must be one of "
                                 "\"exotel\", \"twilio\", \"raw\", not \"jambonz\""},
        {"broken-log-level.conf", "data/broken-log-level.conf:2: log.level: must be one of"},
        {"broken-srtp.conf",
         "data/broken-srtp.conf:4: trunks[0].srtp: must be one of \"\", \"off\""},
        {"broken-sample-rate.conf",
         "data/broken-sample-rate.conf:5: bots[0].sample_rate: must be 8000, 16000 or 24000"},
        {"broken-rate-conflict.conf",
         "data/broken-rate-conflict.conf:5: bots[0].sample_rate: 24000 "
         "disagrees with the URL's sample-rate 16000"},
        {"broken-twilio-rate.conf", "data/broken-twilio-rate.conf:4: bots[0].url: must be 8000 for "
                                    "protocol \"twilio\" (8 kHz µ-law), not 16000"},
};

TEST(broken_files)
{
	char err[SB_CONFIG_ERR_MAX], path[128];
	struct sb_config *c = NULL;
	int r = 0;

	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		snprintf(path, sizeof(path), "data/%s", broken[i].file);
		err[0] = '\0';
		int e = sb_config_load_file(&c, path, NULL, err, sizeof(err));
		if (e != -EINVAL || c != NULL)
			FAIL_AT("%s: returned %d", path, e);
		if (strncmp(err, broken[i].expect, strlen(broken[i].expect)) != 0)
			FAIL_AT("%s:\n    got    \"%s\"\n    wanted \"%s...\"", path, err,
			        broken[i].expect);
	}
out:
	return r;
}

/* Where the keys of each schema scope live in a config file. */
static const char *scope_path(enum sb_cfg_scope sc)
{
	switch (sc) {
	case SB_SC_ROOT:
		return NULL;
	case SB_SC_SIP:
		return "sip";
	case SB_SC_RTP:
		return "rtp";
	case SB_SC_LIMITS:
		return "limits";
	case SB_SC_THREADS:
		return "threads";
	case SB_SC_LOG:
		return "log";
	case SB_SC_DNS:
		return "dns";
	case SB_SC_WEBHOOK:
		return "webhook";
	case SB_SC_ADMIN:
		return "admin";
	case SB_SC_LISTEN:
		return "sip.listen.[0]";
	case SB_SC_TRUNK:
		return "trunks.[0]";
	case SB_SC_ROUTE:
		return "trunks.[0].bots.[0]";
	case SB_SC_BOT:
		return "bots.[0]";
	}
	return NULL;
}

TEST(sample_config_documents_every_key)
{
	config_t cfg;
	int r = 0, missing = 0;

	config_init(&cfg);
	ASSERT_TRUE(config_read_file(&cfg, "../../conf/sipbridge.conf") == CONFIG_TRUE);
	ASSERT_TRUE(sb_cfg_schema_len > 20);
	for (size_t i = 0; i < sb_cfg_schema_len; i++) {
		const struct sb_cfg_key *k = &sb_cfg_schema[i];
		const char *scope = scope_path(k->scope);
		char path[128];

		snprintf(path, sizeof(path), "%s%s%s", scope ? scope : "", scope ? "." : "",
		         k->name);
		if (!config_lookup(&cfg, path)) {
			fprintf(stderr, "  %s is not in conf/sipbridge.conf\n", path);
			missing++;
		}
	}
	ASSERT_EQ(missing, 0);
out:
	config_destroy(&cfg);
	return r;
}

TEST(srtp_modes_and_trunk_inheritance)
{
	static const char text[] =
	        "rtp: { srtp = \"required\"; srtp_over_udp = true; };\n"
	        "bots = ( { name = \"b\"; url = \"ws://127.0.0.1:5001/media\"; } );\n"
	        "trunks = ( { name = \"t1\"; acl = ( \"10.0.0.0/8\" ); srtp = \"\";\n"
	        "             bots = ( { match = \"*\"; bot = \"b\"; } ); },\n"
	        "           { name = \"t2\"; acl = ( \"10.0.0.0/8\" ); srtp = \"off\";\n"
	        "             bots = ( { match = \"*\"; bot = \"b\"; } ); },\n"
	        "           { name = \"t3\"; acl = ( \"10.0.0.0/8\" );\n"
	        "             bots = ( { match = \"*\"; bot = \"b\"; } ); } );\n";
	struct sb_config *c = NULL, *d = NULL;
	char err[SB_CONFIG_ERR_MAX];
	int r = 0;

	ASSERT_EQ(sb_config_load_string(&c, text, "srtp.conf", NULL, err, sizeof(err)), 0);
	ASSERT_TRUE(c->srtp == SB_SRTP_MODE_REQUIRED && c->srtp_over_udp);
	ASSERT_EQ(c->trunks[0].srtp, SB_SRTP_MODE_REQUIRED); /* "" = rtp.srtp */
	ASSERT_EQ(c->trunks[1].srtp, SB_SRTP_MODE_OFF);
	ASSERT_EQ(c->trunks[2].srtp, SB_SRTP_MODE_REQUIRED); /* absent = "" */
	ASSERT_EQ(sb_config_load_default(&d, NULL, err, sizeof(err)), 0);
	ASSERT_TRUE(d->srtp == SB_SRTP_MODE_OPTIONAL && !d->srtp_over_udp);
	ASSERT_EQ(d->trunks[0].srtp, SB_SRTP_MODE_OPTIONAL);
out:
	sb_config_unref(c);
	sb_config_unref(d);
	return r;
}

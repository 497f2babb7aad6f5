/* sipbridged: command line, configuration loading and checking, then the log writer thread
 * and the daemon. Thread: main (becomes the control thread). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_config.h"

#define LOG_SUBSYS "main"
#include <sb/log.h>

#include <sb/config.h>
#include <sb/tls_dir.h>
#include <sb/daemon.h>

#define EXIT_CONFIG 2

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: sipbridged [OPTIONS]\n"
	        "SIP-to-WebSocket media bridge.\n\n"
	        "  -c, --config FILE     configuration file (libconfig); without it the embedded\n"
	        "                        default runs: SIP on 127.0.0.1:5060 (UDP+TCP), RTP\n"
	        "                        10000-20000, callers from 127.0.0.0/8 and ::1, one bot\n"
	        "      --bot URL         bot WebSocket URL (default ws://127.0.0.1:5001/media);\n"
	        "                        with -c it replaces the URL of every configured bot\n"
	        "      --sip-port N      SIP port, replacing every udp/tcp sip.listen port\n"
	        "  -t, --check-config    check the configuration and exit (0 good, 2 bad)\n"
	        "  -f, --foreground      stay in the foreground (always the case; for systemd)\n"
	        "  -v, --verbose         log at debug level\n"
	        "      --version         print the version and exit\n"
	        "  -h, --help            this text\n");
}

struct args {
	const char *config;
	struct sb_config_overrides ov;
	bool check, verbose;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	enum { OPT_BOT = 256, OPT_SIP_PORT, OPT_VERSION };
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"bot", required_argument, NULL, OPT_BOT},
	        {"sip-port", required_argument, NULL, OPT_SIP_PORT},
	        {"check-config", no_argument, NULL, 't'},
	        {"foreground", no_argument, NULL, 'f'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"version", no_argument, NULL, OPT_VERSION},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	char *end;
	long port;
	int o;

	while ((o = getopt_long(argc, argv, "c:tfvh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			a->config = optarg;
			break;
		case OPT_BOT:
			a->ov.bot_url = optarg;
			break;
		case OPT_SIP_PORT:
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || port < 1 || port > 65535) {
				fprintf(stderr, "sipbridged: --sip-port: not a port: %s\n", optarg);
				return -EINVAL;
			}
			a->ov.sip_port = (int)port;
			break;
		case 't':
			a->check = true;
			break;
		case 'f':
			break;
		case 'v':
			a->verbose = true;
			break;
		case OPT_VERSION:
			printf("sipbridged %s\n", SB_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipbridged: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct sb_config *cfg = NULL;
	struct sb_daemon_source src = {0};
	char err[SB_CONFIG_ERR_MAX] = "";
	int r;

	if (parse_args(argc, argv, &a) < 0)
		return EXIT_CONFIG;
	/* Before the configuration is read: a SIGHUP or SIGTERM that comes while the daemon
	 * starts waits for its signalfd instead of ending the process (systemd does not restart a
	 * service that a SIGHUP ended). */
	if (!a.check) {
		sigset_t set;

		sb_daemon_signals(&set);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	if (a.config)
		r = sb_config_load_file(&cfg, a.config, &a.ov, err, sizeof(err));
	else
		r = sb_config_load_default(&cfg, &a.ov, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "sipbridged: %s\n", err[0] ? err : "invalid configuration");
		return EXIT_CONFIG;
	}
	if (a.check) {
		printf("%s: configuration OK\n", cfg->source);
		sb_config_unref(cfg);
		return 0;
	}
	sb_log_set_level(a.verbose ? SB_LOG_DEBUG : cfg->log_level);
	sb_log_set_format(cfg->log_format);
	/* From here on no thread waits for stderr; lines so far went out directly, in order. */
	r = sb_log_start(STDERR_FILENO);
	if (r < 0)
		log_warn_errno(r, "Cannot start the log writer, writing directly, ignoring");
	/* SIP over TLS: TLS 1.2 at least, set for the process before any thread uses OpenSSL. */
	if (sb_config_has_tls(cfg) && sb_tls_min_v12(err, sizeof(err)) < 0) {
		log_error("%s", err);
		sb_config_unref(cfg);
		sb_log_stop();
		return EXIT_FAILURE;
	}
	src.path = a.config;
	src.ov = a.ov;
	src.verbose = a.verbose;
	r = sb_daemon_run(cfg, &src);
	sb_config_unref(cfg);
	sb_log_stop();
	return r;
}

/* sipbridgectl: asks a running sipbridged through its admin API for its calls, one call, its
 * health or its statistics, or to hang up a call, drain or reload. Options and commands,
 * the request each makes, and the exit status. Single-threaded. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct opts {
	const char *url, *token;
	int json;
	int timeout_ms;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " SB_CTL_NAME " [OPTIONS] COMMAND [ID]\n"
	        "\n"
	        "Asks a running sipbridged through its admin API (admin group of its config).\n"
	        "\n"
	        "Commands:\n"
	        "  calls       the calls in progress, one per line\n"
	        "  show ID     one call\n"
	        "  hangup ID   hang up a call (as a bot's hangup event does)\n"
	        "  drain       stop taking calls; the daemon exits once the calls in progress end\n"
	        "  reload      read the configuration file again (new calls use it)\n"
	        "  stats       the metrics' samples (what GET /metrics serves)\n"
	        "  health      \"ok\", or \"draining\"\n"
	        "\n"
	        "Options:\n"
	        "  --admin URL     the admin API, default " SB_CTL_DEFAULT_URL "\n"
	        "  --token T       bearer token (default: $" SB_CTL_TOKEN_ENV ")\n"
	        "  --json          print the daemon's JSON as it is (stats: one JSON object)\n"
	        "  --timeout S     give up after S seconds (default 10)\n"
	        "  -h, --help      this text\n"
	        "\n"
	        "Exit status: 0 done; 1 the daemon answered with an error (unknown call, bad or\n"
	        "missing token, reload refused, draining for health); 2 a usage error, the\n"
	        "daemon could not be reached, or its answer was malformed or over 64 MiB.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	        {"admin", required_argument, NULL, 'a'}, {"token", required_argument, NULL, 't'},
	        {"json", no_argument, NULL, 'j'},        {"timeout", required_argument, NULL, 'T'},
	        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	char *end;
	double s;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->url = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'T':
			s = strtod(optarg, &end);
			if (*end || !(s > 0 && s <= 3600))
				return -EINVAL;
			o->timeout_ms = (int)(s * 1000);
			break;
		case 'h':
			usage(stdout);
			exit(SB_CTL_EXIT_OK);
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* The request a command makes; ID goes into the path. */
static int request_of(const char *cmd, const char *id, const char **method, char *path, size_t size)
{
	static const struct {
		const char *cmd, *method, *fmt;
		int needs_id;
	} cmds[] = {
	        {"calls", "GET", "/calls", 0},
	        {"show", "GET", "/calls/%s", 1},
	        {"hangup", "POST", "/calls/%s/hangup", 1},
	        {"drain", "POST", "/drain", 0},
	        {"reload", "POST", "/reload", 0},
	        {"stats", "GET", "/metrics", 0},
	        {"health", "GET", "/healthz", 0},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].cmd) != 0)
			continue;
		if (cmds[i].needs_id != (id != NULL))
			return -EINVAL;
		/* An id is hex digits: anything that would change the path is refused here. */
		if (id && (strlen(id) > 64 || strspn(id, "0123456789abcdefABCDEF_-") != strlen(id)))
			return -EINVAL;
		*method = cmds[i].method;
		snprintf(path, size, cmds[i].fmt, id ? id : "");
		return 0;
	}
	return -EINVAL;
}

static int print_error(const struct sb_ctl_resp *r)
{
	char *e = sb_ctl_error_text(r->body);

	fprintf(stderr, SB_CTL_NAME ": HTTP %d: %s\n", r->status,
	        e ? e : (r->len ? r->body : "(no text)"));
	free(e);
	return SB_CTL_EXIT_ERROR;
}

/* Prints a successful answer to cmd. */
static int print_ok(const char *cmd, const char *id, const struct sb_ctl_resp *r, int json)
{
	int ret = 0;

	if (json && strcmp(cmd, "stats") != 0) {
		printf("%s%s", r->body, r->len && r->body[r->len - 1] == '\n' ? "" : "\n");
		return SB_CTL_EXIT_OK;
	}
	if (strcmp(cmd, "calls") == 0)
		ret = sb_ctl_print_calls(r->body);
	else if (strcmp(cmd, "show") == 0)
		ret = sb_ctl_print_call(r->body);
	else if (strcmp(cmd, "stats") == 0)
		ret = sb_ctl_print_stats(r->body, json);
	else if (strcmp(cmd, "hangup") == 0)
		printf("Hangup of call %s requested\n", id);
	else if (strcmp(cmd, "drain") == 0)
		printf("Draining: new calls are refused; sipbridged stops when the last call "
		       "ends\n");
	else if (strcmp(cmd, "reload") == 0)
		printf("Configuration reloaded\n%s", strstr(r->body, "\"note\"") ? r->body : "");
	else
		printf("%s", r->body);
	if (ret < 0) {
		fprintf(stderr, SB_CTL_NAME ": unexpected answer: %s\n", r->body);
		return SB_CTL_EXIT_ERROR;
	}
	return SB_CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct opts o = {
	        .url = SB_CTL_DEFAULT_URL, .token = getenv(SB_CTL_TOKEN_ENV), .timeout_ms = 10000};
	struct sb_ctl_resp resp = {0};
	struct sb_ctl_url url;
	const char *cmd, *id, *method, *why = "";
	char path[128];
	int r;

	if (parse_opts(argc, argv, &o) < 0 || optind >= argc || argc - optind > 2) {
		usage(stderr);
		return SB_CTL_EXIT_USAGE;
	}
	cmd = argv[optind];
	id = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (request_of(cmd, id, &method, path, sizeof(path)) < 0) {
		fprintf(stderr, SB_CTL_NAME ": unknown command, missing or bad ID: %s\n", cmd);
		usage(stderr);
		return SB_CTL_EXIT_USAGE;
	}
	if (sb_ctl_url_parse(o.url, &url) < 0) {
		fprintf(stderr, SB_CTL_NAME ": --admin %s: expected http://HOST[:PORT]\n", o.url);
		return SB_CTL_EXIT_USAGE;
	}
	if (o.token && !o.token[0])
		o.token = NULL;
	r = sb_ctl_request(&url, method, path, o.token, o.timeout_ms, &resp, &why);
	if (r == -EBADMSG || r == -EFBIG) {
		fprintf(stderr, SB_CTL_NAME ": bad answer from the admin API at %s: %s\n", o.url,
		        why);
		return SB_CTL_EXIT_USAGE;
	}
	if (r < 0) {
		fprintf(stderr, SB_CTL_NAME ": cannot reach the admin API at %s: %s\n", o.url, why);
		return SB_CTL_EXIT_USAGE;
	}
	if (resp.status >= 200 && resp.status < 300)
		r = print_ok(cmd, id, &resp, o.json);
	else if (strcmp(cmd, "health") == 0 && resp.status == 503)
		r = (printf("%s", resp.body), SB_CTL_EXIT_ERROR);
	else
		r = print_error(&resp);
	free(resp.body);
	return r;
}

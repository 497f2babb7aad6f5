/* sipbridge-testbot: command line, lws context and the service loop of the test bot, which
 * speaks the Exotel, Twilio or raw bot protocol. The loop waits in epoll through lws's libev
 * plugin, as the daemon's ws workers do (poll() looks at every socket on each wake, which at
 * thousands of connections made the bot one of the dearest processes of a load run), and in
 * lws's own poll() when the plugin is not installed. Thread: main, which is also the only lws
 * service thread; the SIGTERM/SIGINT handler only sets a flag and wakes the loop. Owns the
 * app state, the context, the script and the log.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_config.h"
#include "testbot.h"

#define STOP_TICK_US (50 * 1000)
#define STOP_GRACE_US (2 * 1000 * 1000)
#define FORCED_SPINS 16 /* turns at most to serve what lws holds (service()) */

struct opts {
	char addr[64];
	int port;
	bool v6;
	const char *script_path;
	const char *log_path;
	const char *arrivals_path;
	const char *tls_cert, *tls_key; /* PEM files: serve wss */
};

static volatile sig_atomic_t stop_signal;
static struct lws_context *signal_ctx;
static lws_sorted_usec_list_t stop_sul;

static void usage(FILE *f)
{
	fputs("usage: sipbridge-testbot [--listen ADDR:PORT] [--protocol exotel|twilio|raw] "
	      "[--strict]\n"
	      "                         [--mode echo|tone|silent|script FILE] [--log FILE]\n"
	      "                         [--record DIR] [--tone-hz HZ] [--version]\n"
	      "                         [--tls-cert FILE --tls-key FILE]\n"
	      "                         [--arrivals FILE [--arrivals-key NAME]]\n"
	      "  --protocol  exotel: JSON, base64 PCM16 at start's sample_rate (default)\n"
	      "              twilio: JSON, base64 mu-law at 8000 Hz\n"
	      "              raw: a metadata text frame, then binary PCM16 LE at its sampleRate\n"
	      "  --strict    twilio: close with 1008 on any message not shaped as Twilio's\n"
	      "  --record    writes DIR/<streamSid>.raw of received audio as PCM16 LE\n"
	      "  --tls-cert, --tls-key  serve wss:// with this PEM certificate (chain) and key\n"
	      "  --arrivals  writes FILE: per connection \"S CONN RATE VALUE\" (VALUE: the custom\n"
	      "              parameter --arrivals-key, default X-Load-Call), then per media "
	      "message\n"
	      "              \"M CONN REALTIME_NS SAMPLES KERNEL_NS\" (read, and arrived in the\n"
	      "              kernel; KERNEL_NS 0 when the read was not stamped, as over TLS)\n",
	      f);
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "sipbridge-testbot: %s: %s\n", what, arg);
	usage(stderr);
	return -EINVAL;
}

/* ADDR:PORT with an IPv4 address or [IPv6]:PORT. */
static int parse_listen(struct opts *o, const char *arg)
{
	const char *colon, *start = arg, *end;
	char *tail;
	long port;

	if (arg[0] == '[') {
		end = strchr(arg, ']');
		if (!end || end[1] != ':')
			return bad("bad --listen", arg);
		start = arg + 1;
		colon = end + 1;
		o->v6 = true;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return bad("bad --listen", arg);
		end = colon;
		o->v6 = false;
	}
	port = strtol(colon + 1, &tail, 10);
	if (end == start || (size_t)(end - start) >= sizeof(o->addr) || !colon[1] || *tail ||
	    port < 0 || port > 65535)
		return bad("bad --listen", arg);
	memcpy(o->addr, start, (size_t)(end - start));
	o->addr[end - start] = '\0';
	o->port = (int)port;
	return 0;
}

static int parse_mode(struct sb_tb_app *app, struct opts *o, const char *m, int argc, char **argv)
{
	if (!strcmp(m, "echo"))
		app->mode = SB_TB_MODE_ECHO;
	else if (!strcmp(m, "tone"))
		app->mode = SB_TB_MODE_TONE;
	else if (!strcmp(m, "silent"))
		app->mode = SB_TB_MODE_SILENT;
	else if (!strcmp(m, "script")) {
		/* "--mode script FILE": the file is the next word, not an option argument. */
		if (optind >= argc)
			return bad("--mode script needs a FILE", m);
		app->mode = SB_TB_MODE_SCRIPT;
		o->script_path = argv[optind++];
	} else
		return bad("unknown --mode", m);
	return 0;
}

static int parse_protocol(struct sb_tb_app *app, const char *arg)
{
	if (!strcmp(arg, "exotel"))
		app->proto = SB_TB_PROTO_EXOTEL;
	else if (!strcmp(arg, "twilio"))
		app->proto = SB_TB_PROTO_TWILIO;
	else if (!strcmp(arg, "raw"))
		app->proto = SB_TB_PROTO_RAW;
	else
		return bad("unknown --protocol", arg);
	return 0;
}

static int parse_tone_hz(struct sb_tb_app *app, const char *arg)
{
	char *tail;
	long hz = strtol(arg, &tail, 10);

	if (*tail || hz < 1 || hz > 20000)
		return bad("bad --tone-hz (1-20000)", arg);
	app->tone_hz = (unsigned)hz;
	return 0;
}

/* Returns 0, 1 after --version, or -EINVAL. */
static int parse_args(struct sb_tb_app *app, struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"listen", required_argument, NULL, 'l'},
	        {"mode", required_argument, NULL, 'm'},
	        {"log", required_argument, NULL, 'L'},
	        {"record", required_argument, NULL, 'r'},
	        {"tone-hz", required_argument, NULL, 't'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {"protocol", required_argument, NULL, 'p'},
	        {"strict", no_argument, NULL, 's'},
	        {"tls-cert", required_argument, NULL, 'c'},
	        {"tls-key", required_argument, NULL, 'k'},
	        {"arrivals", required_argument, NULL, 'a'},
	        {"arrivals-key", required_argument, NULL, 'K'},
	        {0},
	};
	int c, r = 0;

	while (!r && (c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			r = parse_listen(o, optarg);
			break;
		case 'm':
			r = parse_mode(app, o, optarg, argc, argv);
			break;
		case 'L':
			o->log_path = optarg;
			break;
		case 'r':
			app->record_dir = optarg;
			break;
		case 't':
			r = parse_tone_hz(app, optarg);
			break;
		case 'p':
			r = parse_protocol(app, optarg);
			break;
		case 's':
			app->strict = true;
			break;
		case 'c':
			o->tls_cert = optarg;
			break;
		case 'k':
			o->tls_key = optarg;
			break;
		case 'a':
			o->arrivals_path = optarg;
			break;
		case 'K':
			app->arrivals_key = optarg;
			break;
		case 'V':
			printf("sipbridge-testbot %s\n", SB_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!r && optind < argc)
		r = bad("unexpected argument", argv[optind]);
	if (!r && !o->tls_cert != !o->tls_key)
		r = bad("--tls-cert and --tls-key go together",
		        o->tls_cert ? o->tls_cert : o->tls_key);
	return r;
}

static int open_outputs(struct sb_tb_app *app, const struct opts *o)
{
	struct stat st;

	if (app->record_dir &&
	    (stat(app->record_dir, &st) || !S_ISDIR(st.st_mode) || access(app->record_dir, W_OK)))
		return bad("--record needs a writable directory", app->record_dir);
	if (o->log_path) {
		app->evlog = sb_tb_evlog_open(o->log_path);
		if (!app->evlog)
			return bad("cannot open --log file", o->log_path);
	}
	if (o->arrivals_path) {
		app->arrivals = fopen(o->arrivals_path, "we");
		if (!app->arrivals)
			return bad("cannot open --arrivals file", o->arrivals_path);
		/* Written once at exit or when full: a line per message must stay cheap. */
		setvbuf(app->arrivals, NULL, _IOFBF, 1 << 20);
	}
	if (o->script_path)
		return sb_tb_script_load(o->script_path, &app->script);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
	/* Closes the race between the flag check and poll(): the loop wakes either way. */
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void setup_process(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Load tests open thousands of sockets; lws sizes its fd table from this limit. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct lws_context *create_context(struct sb_tb_app *app, const struct opts *o,
                                          struct ev_loop *loop)
{
	struct lws_context_creation_info info;
	void *loops[1] = {loop};

	memset(&info, 0, sizeof(info));
	info.port = o->port;
	info.iface = o->addr;
	info.protocols = sb_tb_protocols;
	info.user = app;
	info.gid = -1;
	info.uid = -1;
	info.max_http_header_pool = 1024;
	info.timeout_secs = 10;
	if (!o->v6)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (o->tls_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = o->tls_cert;
		info.ssl_private_key_filepath = o->tls_key;
	}
	if (loop) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = loops;
	}
	return lws_create_context(&info);
}

/* On a libev loop of its own (epoll) when lws's plugin loads, else on lws's poll(). */
static struct lws_context *create_context_on_loop(struct sb_tb_app *app, const struct opts *o)
{
	struct lws_context *ctx;

	app->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (app->loop) {
		ctx = create_context(app, o, app->loop);
		if (ctx) {
			sb_tb_timer_start(app);
			return ctx;
		}
		ev_loop_destroy(app->loop);
		app->loop = NULL;
	}
	return create_context(app, o, NULL);
}

/* One turn. On the libev loop lws serves what it holds already read (several frames of one
 * read, a TLS record's rest: "forced service") from an idle watcher, which libev runs only on
 * a turn with nothing else pending: with thousands of busy sockets that is almost never, and
 * messages waited hundreds of milliseconds. So while lws says something waits, more turns
 * that do not block follow, a bounded number. */
static int service(struct sb_tb_app *app)
{
	if (app->loop) {
		int spins = 0;

		ev_run(app->loop, EVRUN_ONCE);
		while (!lws_service_adjust_timeout(app->ctx, 1, 0) && spins++ < FORCED_SPINS)
			ev_run(app->loop, EVRUN_NOWAIT);
		return 0;
	}
	return lws_service(app->ctx, 0);
}

static void stop_tick(lws_sorted_usec_list_t *sul)
{
	/* Nothing to do: firing makes lws_service() return so the loop rechecks. */
	lws_sul_schedule(signal_ctx, 0, sul, stop_tick, STOP_TICK_US);
}

static void run(struct sb_tb_app *app)
{
	int64_t deadline = 0;

	while (service(app) >= 0) {
		/* The turn's echoes, a write per connection (batch.c). */
		sb_tb_batch_flush_all(app);
		if (stop_signal && !app->stopping) {
			sb_tb_close_all(app);
			deadline = lws_now_usecs() + STOP_GRACE_US;
			lws_sul_schedule(app->ctx, 0, &stop_sul, stop_tick, STOP_TICK_US);
		}
		if (app->stopping && (!app->conn_count || lws_now_usecs() > deadline))
			break;
	}
	lws_sul_schedule(app->ctx, 0, &stop_sul, stop_tick, LWS_SET_TIMER_USEC_CANCEL);
}

int main(int argc, char **argv)
{
	struct sb_tb_app app = {
	        .mode = SB_TB_MODE_ECHO, .tone_hz = 440, .arrivals_key = "X-Load-Call"};
	struct opts o = {.addr = "127.0.0.1", .port = 5001};
	struct lws_vhost *vh;
	int r;

	r = parse_args(&app, &o, argc, argv);
	if (!r)
		r = open_outputs(&app, &o);
	if (r)
		return r > 0 ? 0 : 2;
	setup_process();
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	app.ctx = create_context_on_loop(&app, &o);
	vh = app.ctx ? lws_get_vhost_by_name(app.ctx, "default") : NULL;
	if (!vh || (o.port && lws_get_vhost_listen_port(vh) != o.port)) {
		fprintf(stderr, "sipbridge-testbot: cannot listen on %s port %d\n", o.addr, o.port);
		r = 1;
		goto out;
	}
	signal_ctx = app.ctx;
	printf(o.v6 ? "listening on [%s]:%d\n" : "listening on %s:%d\n", o.addr,
	       lws_get_vhost_listen_port(vh));
	fflush(stdout);
	run(&app);
out:
	signal_ctx = NULL;
	if (app.ctx)
		lws_context_destroy(app.ctx);
	if (app.loop) { /* after the context, whose sockets' watchers are on it */
		ev_timer_stop(app.loop, &app.tick);
		ev_loop_destroy(app.loop);
	}
	sb_tb_script_free(app.script);
	if (app.evlog)
		fclose(app.evlog);
	if (app.arrivals)
		fclose(app.arrivals);
	sb_tb_rxstamp_free();
	return r;
}

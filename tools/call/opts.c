/* The command line of sipbridge-call: options, their checks and the --help text. A bad
 * option is one line on stderr and exit status 2 before anything is sent.
 * Thread: main. Owns nothing: strings stay in argv.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "build_config.h"
#include "call.h"

static void usage(FILE *f)
{
	fputs("Usage: " SB_CL_NAME " --to sip:USER@HOST:PORT [OPTIONS]\n"
	      "A test phone: places one SIP call with real RTP (G.711), plays a WAV file to the "
	      "far\n"
	      "end, records what it sends back, and prints one line of JSON when the call is "
	      "over.\n"
	      "\n"
	      "  --to URI              the request URI (required), sip:USER@HOST:PORT. A HOST\n"
	      "                        name with a PORT is looked up with the system's resolver\n"
	      "                        (/etc/hosts too) and the call sent to its address, the URI\n"
	      "                        kept as given; without a PORT the SIP stack's DNS finds it\n"
	      "  --header 'N: v'       an extra header on the INVITE (repeatable, at most 16), "
	      "e.g.\n"
	      "                        'X-Customer-Header: salesbot', 'X-UUI: 42'; 'From: "
	      "<sip:..>'\n"
	      "                        and 'To: <sip:..>' replace the defaults\n"
	      "  --play FILE           8 kHz mono 16-bit PCM WAV to send (sox in.wav -r 8000 -c 1\n"
	      "                        -b 16 out.wav converts one); without it silence is sent.\n"
	      "                        Once the file is played, silence follows\n"
	      "  --record FILE         WAV (8 kHz mono PCM16) of what the far end sent, in time\n"
	      "                        order from the answer on, gaps filled with silence\n"
	      "  --dtmf KEYS           keys (0-9 * # A-D) sent as RFC 4733 telephone-events, 100 "
	      "ms\n"
	      "                        each, 100 ms apart, in place of audio (the file pauses)\n"
	      "  --dtmf-at S           when the first key goes, seconds after the answer (1.0)\n"
	      "  --duration S          hang up (BYE) S seconds after the answer; default: the\n"
	      "                        --play length + 1 s (10 s without --play), and long enough\n"
	      "                        for every key. A BYE from the far end ends the call first\n"
	      "  --codec pcmu|pcma     the one codec offered (with telephone-event 101); pcmu\n"
	      "  --transport udp|tcp|tls  SIP transport (udp); tls verifies the server's\n"
	      "                        certificate and that it names the --to host\n"
	      "  --ca FILE             PEM CA certificates to verify a tls server with (default:\n"
	      "                        the system's CA store)\n"
	      "  --local ADDR          numeric address SIP and RTP bind to (127.0.0.1); of the\n"
	      "                        family of the --to host: ::1 to call sip:USER@[::1]:PORT\n"
	      "  --timeout S           give up (CANCEL) without a final answer by then (30)\n"
	      "  --srtp                offer SDES-SRTP (RTP/SAVP, AES_CM_128_HMAC_SHA1_80) with a\n"
	      "                        fresh key; the answer must take it\n"
	      "  --tamper-at S         with --srtp: alter one protected packet S seconds after "
	      "the\n"
	      "                        answer (the far end should drop it)\n"
	      "  -v, --verbose         progress and SIP stack messages on stderr\n"
	      "  -h, --help            this text\n"
	      "      --version         print the version\n"
	      "\n",
	      f);
	/* two strings: one would be over the 4095 bytes C99 promises a literal may have */
	fputs("The JSON line on stdout:\n"
	      "  code, reason    the final response to the INVITE (0 \"timeout\": none within\n"
	      "                  --timeout; 0 \"transport error\": it could not be sent)\n"
	      "  answered        a 2xx came; codec: the one offered, PCMU or PCMA\n"
	      "  srtp            the media ran SRTP; srtp_rx_failed: packets that failed its\n"
	      "                  checks (dropped); tampered: 1 once --tamper-at altered one\n"
	      "  sent_s          seconds of --play audio sent (of silence without --play)\n"
	      "  received_s      seconds of audio received; rtp_sent, rtp_received: RTP packets\n"
	      "  rtp_lost        packets missing from the received sequence numbers\n"
	      "  rtp_invalid     datagrams dropped: not RTP, from elsewhere or another payload "
	      "type\n"
	      "  dtmf_sent       keys sent; dtmf_received: RFC 4733 keys the far end sent\n"
	      "  utterances      bursts of received audio above a low level, apart by >= 200 ms "
	      "of\n"
	      "                  quiet: the caller's view of what the bot said. A bot's marks are\n"
	      "                  not visible to a SIP caller; count utterances instead\n"
	      "  hangup          \"local\" (BYE at --duration or on Ctrl-C), \"remote\" (the far "
	      "end\n"
	      "                  hung up) or \"none\" (never answered)\n"
	      "  bye             what the BYE sent got: its final status (\"200\", \"500\"),\n"
	      "                  \"timeout\" (no answer within 3 s), \"transport error\" (it\n"
	      "                  could not be sent) or \"crossed\" (the far end's BYE came\n"
	      "                  while ours was out); null: no BYE was sent\n"
	      "  duration_s      seconds from the answer to the end of the call\n"
	      "\n"
	      "Exit status: 0 the call was answered and ended normally; 1 it failed (a final\n"
	      "response other than 2xx, timeout, transport error, no RTP received, keys that "
	      "could\n"
	      "not be sent, our BYE refused, unanswered or not sent: a \"bye\" other than a 2xx,\n"
	      "\"crossed\" or null); 2 a usage error (bad option or WAV file, nothing was sent);\n"
	      "3 the server's TLS certificate was refused, the INVITE never left (stderr says\n"
	      "why: \"TLS: the certificate of HOST failed verification: REASON\").\n"
	      "Whatever happens, the run ends within --timeout + --duration + 5 s.\n",
	      f);
}

SB_PRINTF(1, 2) static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs(SB_CL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return -EINVAL;
}

static int seconds(const char *opt, const char *arg, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < min || v > SB_CL_MAX_SECONDS)
		return bad("%s: '%s' is not a number of seconds from %g to %g", opt, arg, min,
		           SB_CL_MAX_SECONDS);
	*out = v;
	return 0;
}

/* Whether sofia's parser takes to as a sip: URI with a host and a port from 1 to 65535 (or
 * none): a URI it cannot parse, it would refuse to send to. */
static bool uri_ok(const char *to)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	url_t *u = url_make(home, to);
	bool ok = u && u->url_type == url_sip && u->url_host && u->url_host[0];

	if (ok && u->url_port) {
		char *end;
		long port = strtol(u->url_port, &end, 10);

		ok = !*end && port >= 1 && port <= 65535;
	}
	su_home_deinit(home);
	return ok;
}

/* Whether sofia's parser takes value as a From (from) or To header's value. */
static bool addr_ok(bool from, const char *value)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	bool ok = from ? sip_from_make(home, value) != NULL : sip_to_make(home, value) != NULL;

	su_home_deinit(home);
	return ok;
}

/* sip:USER@HOST[:PORT] without headers, as sofia parses it. */
static int check_to(const char *to)
{
	const char *at = strchr(to, '@');

	if (strncasecmp(to, "sip:", 4))
		return bad("--to: '%s' is not a sip: URI (sip:USER@HOST:PORT)", to);
	if (!at || at == to + 4 || !at[1] || at[1] == ':' || at[1] == ';')
		return bad("--to: '%s' has no USER@HOST (sip:USER@HOST:PORT)", to);
	if (strcasestr(to, ";transport="))
		return bad("--to: give the transport with --transport, not in the URI");
	if (strlen(to) > 256 || strpbrk(to, "?<> \t\r\n\"'"))
		return bad("--to: '%s' is not a plain sip:USER@HOST:PORT URI", to);
	if (!uri_ok(to))
		return bad("--to: '%s' is not a valid SIP URI (sip:USER@HOST:PORT, port 1-65535)",
		           to);
	return 0;
}

/* Headers nua writes itself, which a second copy would only break. */
static const char *const managed[] = {
        "via",
        "call-id",
        "cseq",
        "contact",
        "content-length",
        "content-type",
        "max-forwards",
        "route",
        "i",
        "l",
        "c",
        "m",
        "v",
        "record-route",
};

static int check_header(const char *h)
{
	const char *colon = strchr(h, ':');
	size_t n;

	if (strlen(h) > SB_CL_HEADER_MAX)
		return bad("--header: longer than %d bytes", SB_CL_HEADER_MAX);
	if (!colon || colon == h)
		return bad("--header: '%s' is not 'Name: value'", h);
	for (const char *p = h; p < colon; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-.!%*_+`'~", *p))
			return bad("--header: '%.*s' is not a header name", (int)(colon - h), h);
	for (const char *p = colon + 1; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return bad("--header: the value of '%.*s' has a control character",
			           (int)(colon - h), h);
	n = (size_t)(colon - h);
	for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
		if (strlen(managed[i]) == n && !strncasecmp(h, managed[i], n))
			return bad("--header: %.*s is written by the SIP stack", (int)n, h);
	/* From and To replace the INVITE's own: one sofia cannot parse would stop the call. */
	if (((n == 4 && !strncasecmp(h, "From", 4)) || (n == 2 && !strncasecmp(h, "To", 2))) &&
	    !addr_ok(n == 4, colon + 1 + strspn(colon + 1, " \t")))
		return bad("--header: '%s' is not a valid %.*s (e.g. '%.*s: <sip:USER@HOST>')", h,
		           (int)n, h, (int)n, h);
	return 0;
}

static int check_dtmf(struct sb_cl_opts *o, const char *keys)
{
	size_t n = strlen(keys);

	if (n == 0 || n > SB_CL_MAX_DIGITS)
		return bad("--dtmf: give 1 to %d keys", SB_CL_MAX_DIGITS);
	for (size_t i = 0; i < n; i++) {
		if (sb_dtmf_event(keys[i]) < 0)
			return bad("--dtmf: '%c' is not a key (0-9 * # A-D)", keys[i]);
		o->dtmf[i] = (char)toupper((unsigned char)keys[i]);
	}
	o->dtmf[n] = '\0';
	return 0;
}

/* AF_INET or AF_INET6 for a numeric address, else 0. */
static int af_of(const char *addr)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, addr, buf) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, addr, buf) == 1)
		return AF_INET6;
	return 0;
}

static int check_local(const char *addr)
{
	if (!af_of(addr))
		return bad("--local: '%s' is not a numeric IPv4 or IPv6 address", addr);
	return 0;
}

/* As af_of, for a URI's host too: an IPv6 address in brackets. */
static int family_of(const char *addr)
{
	char plain[64];
	size_t n = strlen(addr);

	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof(plain)) {
		memcpy(plain, addr + 1, n - 2);
		plain[n - 2] = '\0';
		addr = plain;
	}
	return af_of(addr);
}

static const char *fam_name(int af)
{
	return af == AF_INET6 ? "IPv6" : "IPv4";
}

/* A --to host name with an explicit port is looked up with the system's resolver: one that
 * resolves to the other family than --local's only is said as a numeric host of the other
 * family is; else its first address of --local's family is where the call goes (o->to_addr).
 * Only with an explicit port: without one the SIP stack may find the server through SRV
 * records, whose targets are other names. A name that does not resolve (in time) is left to
 * the SIP stack. */
static int check_name_family(const url_t *u, struct sb_cl_opts *o, int local_af)
{
	char addrs[160];
	unsigned fams, want = local_af == AF_INET6 ? SB_CL_FAM_IPV6 : SB_CL_FAM_IPV4;

	if (!u->url_port)
		return 0;
	fams = sb_cl_resolve_families(u->url_host, SB_CL_LOOKUP_MS, local_af, addrs, sizeof(addrs),
	                              o->to_addr, sizeof(o->to_addr));
	if (!fams || (fams & want))
		return 0;
	return bad("--to: the host %s resolves to %s, %s only, but --local %s is %s", u->url_host,
	           addrs, fam_name(local_af == AF_INET6 ? AF_INET : AF_INET6), o->local,
	           fam_name(local_af));
}

/* A --to host of the other family than --local cannot be reached from the sockets --local
 * binds: said here, before anything is sent, rather than as a "transport error". */
static int check_families(struct sb_cl_opts *o)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	url_t *u = url_make(home, o->to);
	int to_af = u && u->url_host ? family_of(u->url_host) : 0;
	int local_af = family_of(o->local);
	int r = 0;

	if (to_af && local_af && to_af != local_af)
		r = bad("--to: the host %s is %s but --local %s is %s", u->url_host,
		        fam_name(to_af), o->local, fam_name(local_af));
	else if (!to_af && local_af && u && u->url_host)
		r = check_name_family(u, o, local_af);
	su_home_deinit(home);
	return r;
}

enum {
	OPT_TO = 256,
	OPT_HEADER,
	OPT_PLAY,
	OPT_RECORD,
	OPT_DTMF,
	OPT_DTMF_AT,
	OPT_DURATION,
	OPT_CODEC,
	OPT_TRANSPORT,
	OPT_CA,
	OPT_LOCAL,
	OPT_TIMEOUT,
	OPT_SRTP,
	OPT_TAMPER_AT,
	OPT_VERSION,
};

static int one(struct sb_cl_opts *o, int c)
{
	switch (c) {
	case OPT_TO:
		o->to = optarg;
		return check_to(optarg);
	case OPT_HEADER:
		if (o->n_headers == SB_CL_MAX_HEADERS)
			return bad("--header: at most %d", SB_CL_MAX_HEADERS);
		o->headers[o->n_headers++] = optarg;
		return check_header(optarg);
	case OPT_PLAY:
		o->play = optarg;
		return 0;
	case OPT_RECORD:
		o->record = optarg;
		return 0;
	case OPT_DTMF:
		return check_dtmf(o, optarg);
	case OPT_DTMF_AT:
		return seconds("--dtmf-at", optarg, 0, &o->dtmf_at_s);
	case OPT_DURATION:
		return seconds("--duration", optarg, 0.02, &o->duration_s);
	case OPT_TIMEOUT:
		return seconds("--timeout", optarg, 0.1, &o->timeout_s);
	case OPT_CODEC:
		if (!strcasecmp(optarg, "pcmu"))
			o->codec = SB_CODEC_PCMU;
		else if (!strcasecmp(optarg, "pcma"))
			o->codec = SB_CODEC_PCMA;
		else
			return bad("--codec: '%s' is neither pcmu nor pcma", optarg);
		return 0;
	case OPT_TRANSPORT:
		if (strcasecmp(optarg, "udp") && strcasecmp(optarg, "tcp") &&
		    strcasecmp(optarg, "tls"))
			return bad("--transport: '%s' is not udp, tcp or tls", optarg);
		o->tcp = !strcasecmp(optarg, "tcp");
		o->tls = !strcasecmp(optarg, "tls");
		return 0;
	case OPT_CA:
		o->ca = optarg;
		return 0;
	case OPT_LOCAL:
		o->local = optarg;
		return check_local(optarg);
	case OPT_SRTP:
		o->srtp = true;
		return 0;
	case OPT_TAMPER_AT:
		return seconds("--tamper-at", optarg, 0, &o->tamper_at_s);
	case 'v':
		o->verbose = true;
		return 0;
	default:
		return bad("unknown option or missing value");
	}
}

int sb_cl_opts_parse(struct sb_cl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"to", required_argument, NULL, OPT_TO},
	        {"header", required_argument, NULL, OPT_HEADER},
	        {"play", required_argument, NULL, OPT_PLAY},
	        {"record", required_argument, NULL, OPT_RECORD},
	        {"dtmf", required_argument, NULL, OPT_DTMF},
	        {"dtmf-at", required_argument, NULL, OPT_DTMF_AT},
	        {"duration", required_argument, NULL, OPT_DURATION},
	        {"codec", required_argument, NULL, OPT_CODEC},
	        {"transport", required_argument, NULL, OPT_TRANSPORT},
	        {"ca", required_argument, NULL, OPT_CA},
	        {"local", required_argument, NULL, OPT_LOCAL},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"srtp", no_argument, NULL, OPT_SRTP},
	        {"tamper-at", required_argument, NULL, OPT_TAMPER_AT},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, OPT_VERSION},
	        {0},
	};
	int c, r;

	*o = (struct sb_cl_opts){.dtmf_at_s = 1.0,
	                         .duration_s = -1,
	                         .timeout_s = 30,
	                         .codec = SB_CODEC_PCMU,
	                         .local = "127.0.0.1",
	                         .tamper_at_s = -1};
	opterr = 0; /* bad() says it in one line */
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == OPT_VERSION) {
			printf("%s %s\n", SB_CL_NAME, SB_VERSION);
			return 1;
		}
		if (c == '?')
			return bad("unknown option or missing value: '%s'", argv[optind - 1]);
		r = one(o, c);
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!o->to)
		return bad("--to sip:USER@HOST:PORT is required");
	if (o->ca && !o->tls)
		return bad("--ca is only for --transport tls");
	if (o->record && o->play && !strcmp(o->record, o->play))
		return bad("--record and --play name the same file");
	if (o->tamper_at_s >= 0 && !o->srtp)
		return bad("--tamper-at needs --srtp");
	return check_families(o);
}

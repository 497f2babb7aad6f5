/* The configuration schema: one entry per key with its group, type, default, range or
 * validator and the field it is stored in. config.c walks this table to parse, default,
 * check and free; nothing else knows the key names. Thread: any (read-only data). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define LOG_SUBSYS "config" /* only for the level values; nothing here logs */
#include <sb/log.h>
#include <sb/sip_text.h>

#include <sb/webhook.h>

#include "config_priv.h"

#define FIELD(type, f) .off = offsetof(type, f), .size = sizeof(((type *)0)->f)
#define LIST_OF(type, arr, n, elem)                                                                \
	FIELD(type, arr), .off_n = offsetof(type, n), .elem_size = sizeof(elem)
#define STRS_OF(type, arr, n) FIELD(type, arr), .off_n = offsetof(type, n)

static const char *check_addr(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return NULL;
	return "must be a numeric IPv4 or IPv6 address";
}

static const char *check_addr_or_empty(const char *s)
{
	if (!*s)
		return NULL;
	return check_addr(s) ? "must be empty or a numeric IPv4 or IPv6 address" : NULL;
}

/* Printable text that goes into SIP headers as is. */
static const char *check_user_agent(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 128)
		return "must be 1-128 characters";
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return "must not hold control characters";
	}
	return NULL;
}

static const char *check_even(long long v)
{
	return v % 2 ? "must be even (RTP uses the even port, RTCP the odd one above it)" : NULL;
}

static const char *check_frame(long long v)
{
	return v % 20 ? "must be a multiple of 20" : NULL;
}

static const char *check_number(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 32 ||
	    strspn(s, "+0123456789abcdefghijklmnopqrstuvwxyz"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ*#._-") != len)
		return "must be 1-32 characters of [+0-9A-Za-z*#._-]";
	return NULL;
}

static const char *check_destination(const char *s)
{
	if (!*s)
		return NULL;
	if (strncasecmp(s, "sip:", 4) != 0 && strncasecmp(s, "sips:", 5) != 0)
		return "must be empty or a sip: or sips: URI";
	for (; *s; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return "must not hold whitespace or control characters";
	}
	return NULL;
}

/* Trunk and bot names end up in logs, metrics labels and file names: keep them plain. */
static const char *check_name(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > SB_NAME_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
		return "must be 1-16 characters of [A-Za-z0-9_]";
	return NULL;
}

static const char *check_nonempty(const char *s)
{
	return *s ? NULL : "must not be empty";
}

/* The extension events a bot may opt in to. */
static const char *check_event(const char *s)
{
	return strcmp(s, "hold") == 0 ? NULL : "must be \"hold\" (the only optional event)";
}

/* A sample rate the bridge resamples to; 0 leaves it to the URL. */
static const char *check_rate(long long v)
{
	return v == 0 || v == 8000 || v == 16000 || v == 24000 ? NULL
	                                                       : "must be 8000, 16000 or 24000";
}

/* A WebSocket subprotocol: an RFC 9110 token of at most 64 bytes, or "" for none. */
static const char *check_subprotocol(const char *s)
{
	size_t n = strlen(s);

	if (n > 64 || sb_token_len(s) != n)
		return "must be empty or a token of at most 64 characters";
	return NULL;
}

/* A folder for recordings: an absolute path that fits a file name beside it. Whether it
 * exists and is writable is seen per call (a missing folder only stops recording). */
static const char *check_record(const char *s)
{
	if (!*s)
		return NULL;
	if (*s != '/')
		return "must be empty or an absolute path";
	if (strlen(s) > 200)
		return "must be at most 200 bytes";
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return "must not hold control characters";
	}
	return NULL;
}

/* Trusted CAs (a bot's, the webhook's): empty, or a readable file with a PEM certificate in its
 * first 64 KiB (read here, at load and reload, so a bad path is refused with the rest of the
 * file). */
static const char *check_ca_file(const char *s)
{
	static char why[160]; /* config is loaded on the control thread only */
	const size_t max = 64 * 1024;
	char *buf = NULL;
	bool found;
	size_t n;
	FILE *f;
	int err;

	if (!*s)
		return NULL;
	f = fopen(s, "r");
	err = errno;
	buf = f ? malloc(max + 1) : NULL;
	if (!buf) {
		snprintf(why, sizeof(why), "cannot read %s: %s", s, strerror(f ? ENOMEM : err));
		if (f)
			fclose(f);
		return why;
	}
	n = fread(buf, 1, max, f);
	fclose(f);
	buf[n] = '\0';
	found = strstr(buf, "-----BEGIN CERTIFICATE-----") != NULL;
	free(buf);
	return found ? NULL : "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
}

/* "Name: value": an RFC 9110 token, a colon, no CR/LF, at most 1024 bytes in all. */
static const char *check_header(const char *s)
{
	size_t name_len = sb_token_len(s);

	if (strlen(s) > 1024)
		return "must be at most 1024 bytes";
	if (name_len == 0 || s[name_len] != ':')
		return "must be \"Name: value\" with a token name";
	if (strpbrk(s, "\r\n"))
		return "must not hold CR or LF";
	return NULL;
}

/* The admin API's bearer token (RFC 6750 b64token): empty, or 1-256 characters of
 * [A-Za-z0-9-._~+/] with optional trailing '='. */
static const char *check_token(const char *s)
{
	size_t len = strlen(s), n;

	if (!len)
		return NULL;
	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/");
	while (s[n] == '=')
		n++;
	if (len > 256 || n != len || s[0] == '=')
		return "must be empty or 1-256 characters of [A-Za-z0-9-._~+/] (then '=' only)";
	return NULL;
}

/* A TLS file of a listen entry: read at start-up (and at each reload's check) by its path as
 * given, so it must not depend on the working directory. Its content is checked later. */
static const char *check_file(const char *s)
{
	if (!*s)
		return NULL;
	if (*s != '/')
		return "must be empty or an absolute path";
	if (strlen(s) > 1024)
		return "must be at most 1024 bytes";
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return "must not hold control characters";
	}
	return NULL;
}

/* The call-end webhook's receiver: off when empty. */
static const char *check_webhook_url(const char *s)
{
	struct sb_url u;
	const char *why = NULL;

	if (!*s)
		return NULL;
	if (sb_webhook_url_parse(&u, s, &why) < 0)
		return why;
	return NULL;
}

static const struct sb_cfg_enum transports[] = {
        {"udp", SB_TP_UDP}, {"tcp", SB_TP_TCP}, {"tls", SB_TP_TLS}, {NULL, 0}};
static const struct sb_cfg_enum acl_rejects[] = {
        {"403", SB_ACL_REJECT_403}, {"drop", SB_ACL_REJECT_DROP}, {NULL, 0}};
static const struct sb_cfg_enum log_levels[] = {{"error", SB_LOG_ERROR},   {"warn", SB_LOG_WARN},
                                                {"notice", SB_LOG_NOTICE}, {"info", SB_LOG_INFO},
                                                {"debug", SB_LOG_DEBUG},   {NULL, 0}};
static const struct sb_cfg_enum log_formats[] = {
        {"text", SB_LOG_FMT_TEXT}, {"json", SB_LOG_FMT_JSON}, {NULL, 0}};
static const struct sb_cfg_enum protocols[] = {
        {"exotel", SB_PROTO_EXOTEL}, {"twilio", SB_PROTO_TWILIO}, {"raw", SB_PROTO_RAW}, {NULL, 0}};
static const struct sb_cfg_enum modes[] = {
        {"voicebot", SB_MODE_VOICEBOT}, {"listen", SB_MODE_LISTEN}, {NULL, 0}};
static const struct sb_cfg_enum on_closes[] = {
        {"hangup", SB_ON_CLOSE_HANGUP}, {"transfer", SB_ON_CLOSE_TRANSFER}, {NULL, 0}};
static const struct sb_cfg_enum jitter_modes[] = {
        {"adaptive", SB_JITTER_ADAPTIVE}, {"fixed", SB_JITTER_FIXED}, {NULL, 0}};
static const struct sb_cfg_enum on_fails[] = {
        {"reject", SB_ON_FAIL_REJECT}, {"transfer", SB_ON_FAIL_TRANSFER}, {NULL, 0}};
static const struct sb_cfg_enum transfer_modes[] = {
        {"refer", SB_TRANSFER_REFER}, {"bridge", SB_TRANSFER_BRIDGE}, {NULL, 0}};
static const struct sb_cfg_enum media_ios[] = {{"auto", SB_MEDIA_IO_AUTO},
                                               {"io_uring", SB_MEDIA_IO_URING},
                                               {"epoll", SB_MEDIA_IO_EPOLL},
                                               {NULL, 0}};
static const struct sb_cfg_enum ws_loops[] = {{"auto", SB_WS_LOOP_AUTO},
                                              {"epoll", SB_WS_LOOP_EPOLL},
                                              {"poll", SB_WS_LOOP_POLL},
                                              {NULL, 0}};
static const struct sb_cfg_enum srtp_modes[] = {{"off", SB_SRTP_MODE_OFF},
                                                {"optional", SB_SRTP_MODE_OPTIONAL},
                                                {"required", SB_SRTP_MODE_REQUIRED},
                                                {NULL, 0}};
static const struct sb_cfg_enum trunk_srtp_modes[] = {{"", SB_SRTP_MODE_DEFAULT},
                                                      {"off", SB_SRTP_MODE_OFF},
                                                      {"optional", SB_SRTP_MODE_OPTIONAL},
                                                      {"required", SB_SRTP_MODE_REQUIRED},
                                                      {NULL, 0}};
static const struct sb_cfg_enum on_transfer_fails[] = {
        {"keep", SB_ON_TRANSFER_FAIL_KEEP}, {"hangup", SB_ON_TRANSFER_FAIL_HANGUP}, {NULL, 0}};

/* The embedded default: loopback only, every call to one bot. */
static const char default_text[] =
        "# Embedded default: loopback only, every call to one bot.\n"
        "sip: {\n"
        "  listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; port = 5060; },\n"
        "             { transport = \"tcp\"; address = \"127.0.0.1\"; port = 5060; } );\n"
        "};\n"
        "rtp: { address = \"127.0.0.1\"; port_min = 10000; port_max = 20000; };\n"
        "trunks = ( { name = \"local\";\n"
        "             acl = ( \"127.0.0.0/8\", \"::1\" );\n"
        "             bots = ( { match = \"*\"; bot = \"default\"; } ); } );\n"
        "bots = ( { name = \"default\"; url = \"ws://127.0.0.1:5001/media\"; } );\n";

const char *sb_config_default_text(void)
{
	return default_text;
}

#define C struct sb_config
#define L struct sb_listen
#define T struct sb_trunk
#define R struct sb_bot_route
#define B struct sb_bot_cfg

/* Order matters where one key refers to another: bots come before trunks, so a trunk's routes
 * can resolve bot names while they are parsed. */
const struct sb_cfg_key sb_cfg_schema[] = {
        {SB_SC_ROOT, "sip", SB_KT_GROUP, .sub = SB_SC_SIP},
        {SB_SC_ROOT, "rtp", SB_KT_GROUP, .sub = SB_SC_RTP},
        {SB_SC_ROOT, "limits", SB_KT_GROUP, .sub = SB_SC_LIMITS},
        {SB_SC_ROOT, "threads", SB_KT_GROUP, .sub = SB_SC_THREADS},
        {SB_SC_ROOT, "log", SB_KT_GROUP, .sub = SB_SC_LOG},
        {SB_SC_ROOT, "dns", SB_KT_GROUP, .sub = SB_SC_DNS},
        {SB_SC_ROOT, "webhook", SB_KT_GROUP, .sub = SB_SC_WEBHOOK},
        {SB_SC_ROOT, "admin", SB_KT_GROUP, .sub = SB_SC_ADMIN},
        {SB_SC_ROOT, "bots", SB_KT_LIST, SB_CFG_REQUIRED, 1, 0, .sub = SB_SC_BOT,
         LIST_OF(C, bots, n_bots, B)},
        {SB_SC_ROOT, "trunks", SB_KT_LIST, SB_CFG_REQUIRED, 1, 0, .sub = SB_SC_TRUNK,
         LIST_OF(C, trunks, n_trunks, T)},

        {SB_SC_SIP, "listen", SB_KT_LIST, 0, 1, 0, .sub = SB_SC_LISTEN,
         .def_str = "( { transport = \"udp\"; }, { transport = \"tcp\"; } )",
         LIST_OF(C, listen, n_listen, L)},
        {SB_SC_SIP, "public_address", SB_KT_STR, .check_str = check_addr_or_empty,
         FIELD(C, sip_public_address)},
        {SB_SC_SIP, "user_agent", SB_KT_STR, .def_str = "sipbridge", .check_str = check_user_agent,
         FIELD(C, user_agent)},
        {SB_SC_SIP, "acl_reject", SB_KT_ENUM, .def_int = SB_ACL_REJECT_403, .enums = acl_rejects,
         FIELD(C, acl_reject)},
        {SB_SC_SIP, "max_message_bytes", SB_KT_INT, 0, 4096, 65536, 65536,
         FIELD(C, max_message_bytes)},
        {SB_SC_SIP, "max_headers", SB_KT_INT, 0, 32, 4096, 256, FIELD(C, max_headers)},
        {SB_SC_SIP, "tcp_idle_s", SB_KT_INT, 0, 1, 3600, 60, FIELD(C, tcp_idle_s)},
        {SB_SC_SIP, "tcp_max_per_source", SB_KT_INT, 0, 1, 100000, 64,
         FIELD(C, tcp_max_per_source)},
        {SB_SC_SIP, "reject_rate", SB_KT_INT, 0, 0, 100000, 50, FIELD(C, reject_rate)},
        {SB_SC_SIP, "min_se_s", SB_KT_INT, 0, 2, 86400, 90, FIELD(C, min_se_s)},
        {SB_SC_SIP, "session_expires_s", SB_KT_INT, 0, 0, 86400, 1800, FIELD(C, session_expires_s)},
        {SB_SC_SIP, "t1x64_ms", SB_KT_INT, 0, 4000, 64000, 32000, FIELD(C, t1x64_ms)},

        {SB_SC_LISTEN, "transport", SB_KT_ENUM, .def_int = SB_TP_UDP, .enums = transports,
         FIELD(L, transport)},
        {SB_SC_LISTEN, "address", SB_KT_STR, .def_str = "0.0.0.0", .check_str = check_addr,
         FIELD(L, address)},
        /* A tls entry without a port gets 5061 (config_listen.c). */
        {SB_SC_LISTEN, "port", SB_KT_INT, 0, 1, 65535, 5060, FIELD(L, port)},
        {SB_SC_LISTEN, "cert", SB_KT_STR, .check_str = check_file, FIELD(L, cert)},
        {SB_SC_LISTEN, "key", SB_KT_STR, .check_str = check_file, FIELD(L, key)},
        {SB_SC_LISTEN, "ca", SB_KT_STR, .check_str = check_file, FIELD(L, ca)},
        {SB_SC_LISTEN, "verify_client", SB_KT_BOOL, FIELD(L, verify_client)},

        {SB_SC_RTP, "address", SB_KT_STR, .def_str = "0.0.0.0", .check_str = check_addr,
         FIELD(C, rtp_address)},
        {SB_SC_RTP, "public_address", SB_KT_STR, .check_str = check_addr_or_empty,
         FIELD(C, rtp_public_address)},
        {SB_SC_RTP, "port_min", SB_KT_INT, 0, 1024, 65534, 10000, .check_int = check_even,
         FIELD(C, rtp_port_min)},
        {SB_SC_RTP, "port_max", SB_KT_INT, 0, 1024, 65534, 20000, .check_int = check_even,
         FIELD(C, rtp_port_max)},
        {SB_SC_RTP, "timeout_s", SB_KT_INT, 0, 0, 3600, 30, FIELD(C, rtp_timeout_s)},
        {SB_SC_RTP, "jitter", SB_KT_ENUM, .def_int = SB_JITTER_ADAPTIVE, .enums = jitter_modes,
         FIELD(C, jitter_mode)},
        {SB_SC_RTP, "jitter_min_ms", SB_KT_INT, 0, 0, 1000, 0, FIELD(C, jitter_min_ms)},
        {SB_SC_RTP, "jitter_max_ms", SB_KT_INT, 0, 0, 1000, 200, FIELD(C, jitter_max_ms)},
        {SB_SC_RTP, "jitter_ms", SB_KT_INT, 0, 0, 1000, 60, FIELD(C, jitter_ms)},
        {SB_SC_RTP, "srtp", SB_KT_ENUM, .def_int = SB_SRTP_MODE_OPTIONAL, .enums = srtp_modes,
         FIELD(C, srtp)},
        {SB_SC_RTP, "srtp_over_udp", SB_KT_BOOL, FIELD(C, srtp_over_udp)},

        {SB_SC_LIMITS, "max_calls", SB_KT_INT, 0, 1, 100000, 4000, FIELD(C, max_calls)},
        {SB_SC_LIMITS, "max_cps", SB_KT_INT, 0, 1, 10000, 200, FIELD(C, max_cps)},
        {SB_SC_LIMITS, "drain_timeout_s", SB_KT_INT, 0, 0, 86400, 300, FIELD(C, drain_timeout_s)},

        {SB_SC_THREADS, "media", SB_KT_INT, 0, 0, 64, 0, FIELD(C, media_threads)},
        {SB_SC_THREADS, "ws", SB_KT_INT, 0, 0, SB_MAX_WS_THREADS, 0, FIELD(C, ws_threads)},
        {SB_SC_THREADS, "media_io", SB_KT_ENUM, .def_int = SB_MEDIA_IO_AUTO, .enums = media_ios,
         FIELD(C, media_io)},
        {SB_SC_THREADS, "ws_loop", SB_KT_ENUM, .def_int = SB_WS_LOOP_AUTO, .enums = ws_loops,
         FIELD(C, ws_loop)},
        {SB_SC_THREADS, "media_realtime", SB_KT_BOOL, .def_int = 1, FIELD(C, media_realtime)},
        {SB_SC_THREADS, "ws_realtime", SB_KT_BOOL, .def_int = 1, FIELD(C, ws_realtime)},
        {SB_SC_THREADS, "media_rx_buffers", SB_KT_INT, 0, 64, 32768, 1024,
         FIELD(C, media_rx_buffers)},

        {SB_SC_LOG, "level", SB_KT_ENUM, .def_int = SB_LOG_INFO, .enums = log_levels,
         FIELD(C, log_level)},
        {SB_SC_LOG, "format", SB_KT_ENUM, .def_int = SB_LOG_FMT_TEXT, .enums = log_formats,
         FIELD(C, log_format)},

        {SB_SC_DNS, "cache_s", SB_KT_INT, 0, 1, 86400, 60, FIELD(C, dns_cache_s)},
        {SB_SC_DNS, "fail_cache_s", SB_KT_INT, 0, 0, 3600, 5, FIELD(C, dns_fail_cache_s)},

        {SB_SC_WEBHOOK, "url", SB_KT_STR, .check_str = check_webhook_url, FIELD(C, webhook_url)},
        {SB_SC_WEBHOOK, "secret", SB_KT_STR, FIELD(C, webhook_secret)},
        {SB_SC_WEBHOOK, "ca_file", SB_KT_STR, .check_str = check_ca_file,
         FIELD(C, webhook_ca_file)},
        {SB_SC_WEBHOOK, "retries", SB_KT_INT, 0, 0, 10, 3, FIELD(C, webhook_retries)},
        {SB_SC_WEBHOOK, "timeout_ms", SB_KT_INT, 0, 100, 60000, 5000, FIELD(C, webhook_timeout_ms)},
        {SB_SC_WEBHOOK, "max_queue", SB_KT_INT, 0, 1, 100000, 1000, FIELD(C, webhook_max_queue)},

        {SB_SC_ADMIN, "address", SB_KT_STR, .def_str = "127.0.0.1", .check_str = check_addr,
         FIELD(C, admin_address)},
        {SB_SC_ADMIN, "port", SB_KT_INT, 0, 0, 65535, 8088, FIELD(C, admin_port)},
        {SB_SC_ADMIN, "token", SB_KT_STR, .check_str = check_token, FIELD(C, admin_token)},

        {SB_SC_TRUNK, "name", SB_KT_NAME, SB_CFG_REQUIRED, .check_str = check_name, FIELD(T, name)},
        {SB_SC_TRUNK, "acl", SB_KT_CIDRS, SB_CFG_REQUIRED, 1, 0, STRS_OF(T, acl, n_acl)},
        {SB_SC_TRUNK, "numbers", SB_KT_STRS, .check_str = check_number,
         STRS_OF(T, numbers, n_numbers)},
        {SB_SC_TRUNK, "destination", SB_KT_STR, .check_str = check_destination,
         FIELD(T, destination)},
        {SB_SC_TRUNK, "transfer_mode", SB_KT_ENUM, .def_int = SB_TRANSFER_REFER,
         .enums = transfer_modes, FIELD(T, transfer_mode)},
        {SB_SC_TRUNK, "transfer_timeout_ms", SB_KT_INT, 0, 1000, 300000, 30000,
         FIELD(T, transfer_timeout_ms)},
        {SB_SC_TRUNK, "on_transfer_fail", SB_KT_ENUM, .def_int = SB_ON_TRANSFER_FAIL_KEEP,
         .enums = on_transfer_fails, FIELD(T, on_transfer_fail)},
        {SB_SC_TRUNK, "listen_after_transfer", SB_KT_BOOL, FIELD(T, listen_after_transfer)},
        {SB_SC_TRUNK, "record", SB_KT_STR, .check_str = check_record, FIELD(T, record)},
        {SB_SC_TRUNK, "srtp", SB_KT_ENUM, .def_int = SB_SRTP_MODE_DEFAULT,
         .enums = trunk_srtp_modes, FIELD(T, srtp)},
        {SB_SC_TRUNK, "bots", SB_KT_LIST, SB_CFG_REQUIRED, 1, 0, .sub = SB_SC_ROUTE,
         LIST_OF(T, routes, n_routes, R)},

        {SB_SC_ROUTE, "match", SB_KT_STR, SB_CFG_REQUIRED, .check_str = check_nonempty,
         FIELD(R, match)},
        {SB_SC_ROUTE, "bot", SB_KT_BOTREF, SB_CFG_REQUIRED, FIELD(R, bot)},

        {SB_SC_BOT, "name", SB_KT_NAME, SB_CFG_REQUIRED, .check_str = check_name, FIELD(B, name)},
        {SB_SC_BOT, "url", SB_KT_URL, SB_CFG_REQUIRED, FIELD(B, url_text),
         .off_n = offsetof(B, url)},
        {SB_SC_BOT, "protocol", SB_KT_ENUM, .def_int = SB_PROTO_EXOTEL, .enums = protocols,
         FIELD(B, protocol)},
        {SB_SC_BOT, "sample_rate", SB_KT_INT, 0, 0, 24000, 0, .check_int = check_rate,
         FIELD(B, sample_rate)},
        {SB_SC_BOT, "resample_quality", SB_KT_INT, 0, 0, 10, 3, FIELD(B, resample_quality)},
        {SB_SC_BOT, "subprotocol", SB_KT_STR, .check_str = check_subprotocol,
         FIELD(B, subprotocol)},
        {SB_SC_BOT, "mode", SB_KT_ENUM, .def_int = SB_MODE_VOICEBOT, .enums = modes,
         FIELD(B, mode)},
        {SB_SC_BOT, "headers", SB_KT_STRS, .check_str = check_header,
         STRS_OF(B, headers, n_headers)},
        {SB_SC_BOT, "connect_timeout_ms", SB_KT_INT, 0, 100, 60000, 10000,
         FIELD(B, connect_timeout_ms)},
        {SB_SC_BOT, "retries", SB_KT_INT, 0, 0, 5, 1, FIELD(B, retries)},
        {SB_SC_BOT, "on_close", SB_KT_ENUM, .def_int = SB_ON_CLOSE_HANGUP, .enums = on_closes,
         FIELD(B, on_close)},
        {SB_SC_BOT, "on_fail", SB_KT_ENUM, .def_int = SB_ON_FAIL_REJECT, .enums = on_fails,
         FIELD(B, on_fail)},
        {SB_SC_BOT, "frame_ms", SB_KT_INT, 0, 20, 1000, 100, .check_int = check_frame,
         FIELD(B, frame_ms)},
        {SB_SC_BOT, "max_queue_ms", SB_KT_INT, 0, 1000, 600000, 60000, FIELD(B, max_queue_ms)},
        {SB_SC_BOT, "max_marks", SB_KT_INT, 0, 1, 100000, 1000, FIELD(B, max_marks)},
        {SB_SC_BOT, "listen_send_silence", SB_KT_BOOL, .def_int = 1, FIELD(B, listen_send_silence)},
        {SB_SC_BOT, "events", SB_KT_STRS, .check_str = check_event, STRS_OF(B, events, n_events)},
        {SB_SC_BOT, "record", SB_KT_STR, .check_str = check_record, FIELD(B, record)},
        {SB_SC_BOT, "ca_file", SB_KT_STR, .check_str = check_ca_file, FIELD(B, ca_file)},
        {SB_SC_BOT, "tls_verify", SB_KT_BOOL, .def_int = 1, FIELD(B, tls_verify)},
};

const size_t sb_cfg_schema_len = sizeof(sb_cfg_schema) / sizeof(sb_cfg_schema[0]);

int sb_cfg_enum_value(const struct sb_cfg_key *k, const char *s, char *why, size_t whylen)
{
	char allowed[128] = "";
	size_t len = 0;

	for (const struct sb_cfg_enum *e = k->enums; e->name; e++) {
		if (strcmp(e->name, s) != 0)
			continue;
		if (e->value >= 0)
			return e->value;
		snprintf(why, whylen, "%s \"%s\" is not supported by this version", k->name, s);
		return -EINVAL;
	}
	for (const struct sb_cfg_enum *e = k->enums; e->name && len < sizeof(allowed); e++) {
		if (e->value >= 0)
			len += (size_t)snprintf(allowed + len, sizeof(allowed) - len, "%s\"%s\"",
			                        len ? ", " : "", e->name);
	}
	snprintf(why, whylen, "must be one of %s, not \"%s\"", allowed, s);
	return -EINVAL;
}

/* Frees what the schema says obj owns; zeroed and half-filled objects are fine. */
void sb_cfg_free_scope(enum sb_cfg_scope sc, void *obj)
{
	for (size_t i = 0; i < sb_cfg_schema_len; i++) {
		const struct sb_cfg_key *k = &sb_cfg_schema[i];
		void **p = (void **)((char *)obj + k->off);
		size_t n = 0;

		if (k->scope != sc)
			continue;
		if (k->type == SB_KT_LIST || k->type == SB_KT_STRS)
			n = *(size_t *)((char *)obj + k->off_n);
		switch (k->type) {
		case SB_KT_GROUP:
			sb_cfg_free_scope(k->sub, obj);
			break;
		case SB_KT_LIST:
			for (size_t j = 0; *p && j < n; j++)
				sb_cfg_free_scope(k->sub, (char *)*p + j * k->elem_size);
			free(*p);
			break;
		case SB_KT_STRS:
			for (size_t j = 0; *p && j < n; j++)
				free(((char **)*p)[j]);
			free(*p);
			break;
		case SB_KT_STR:
		case SB_KT_CIDRS:
		case SB_KT_URL:
			free(*p);
			break;
		default:
			break;
		}
	}
}

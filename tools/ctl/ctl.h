/* Private interfaces of sipbridgectl, the admin API's command-line client: a small HTTP/1.1
 * client over a plain TCP socket (the admin API listens on loopback or a management network,
 * without TLS) and the human-readable renderings of its answers. Single-threaded. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SB_CTL_NAME "sipbridgectl"
#define SB_CTL_DEFAULT_URL "http://127.0.0.1:8088"
#define SB_CTL_TOKEN_ENV "SIPBRIDGE_ADMIN_TOKEN"
#define SB_CTL_MAX_RESPONSE (64u << 20) /* bytes of body: a larger answer is refused */
#define SB_CTL_MAX_HEAD (64u << 10)     /* bytes of an answer's head (status line, headers) */

/* Exit statuses. */
#define SB_CTL_EXIT_OK 0
#define SB_CTL_EXIT_ERROR 1 /* the daemon answered with an error */
#define SB_CTL_EXIT_USAGE 2 /* a usage error, or the daemon could not be reached */

struct sb_ctl_url {
	char host[256]; /* without the brackets of an IPv6 literal */
	char port[8];
	char prefix[256]; /* path before the API's own ("" or "/admin") */
};

struct sb_ctl_resp {
	int status;
	char *body; /* malloc'd, NUL-terminated */
	size_t len;
};

/* http.c: parses "http://HOST[:PORT][/PREFIX]" (HOST may be [IPv6]). Returns 0 or -EINVAL. */
int sb_ctl_url_parse(const char *text, struct sb_ctl_url *u);
/* http.c: sends METHOD prefix+path (token: bearer token or NULL) and reads the whole answer
 * within timeout_ms. Returns 0 with *out filled (free out->body), or a negative errno when the
 * daemon cannot be reached or the answer is not HTTP; *why then says what went wrong. */
int sb_ctl_request(const struct sb_ctl_url *u, const char *method, const char *path,
                   const char *token, int timeout_ms, struct sb_ctl_resp *out, const char **why);
/* http.c: milliseconds left until deadline_ms (sb_now_ms()), at least 1 while any are left;
 * 0 once it passed. */
int sb_ctl_left_ms(int64_t deadline_ms);
/* http_read.c: reads one answer from fd by deadline_ms: the head, then the body by its
 * Content-Length, chunked, or to the close (1xx answers skipped; a server that keeps the
 * connection open is not waited for). Returns 0 with *out filled (free out->body), or a
 * negative errno with *why saying what went wrong (a static string). */
int sb_ctl_read_response(int fd, int64_t deadline_ms, struct sb_ctl_resp *out, const char **why);

/* render.c: prints the /calls array as a table. Returns 0, or -EINVAL for unexpected JSON. */
int sb_ctl_print_calls(const char *json);
/* render.c: prints one call object as "key: value" lines. Returns 0 or -EINVAL. */
int sb_ctl_print_call(const char *json);
/* render.c: prints the samples of a /metrics text, one "name{labels} value" per line, or as
 * one JSON object of them (as_json). Returns 0 or -EINVAL. */
int sb_ctl_print_stats(const char *text, int as_json);
/* render.c: the "error" member of a JSON error answer, or NULL; malloc'd. */
char *sb_ctl_error_text(const char *json);

/* Bot WebSocket URL parsing and validation (ws:// and wss://). Pure. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define SB_URL_MAX 1024

struct sb_url {
	bool tls;              /* wss */
	char host[256];        /* without brackets for IPv6 literals */
	uint16_t port;         /* 80 / 443 by default */
	char path[SB_URL_MAX]; /* path plus "?query", always starts with '/' */
	char userinfo[256];    /* "user:password" or "" (sent as Basic auth) */
	int sample_rate;       /* from ?sample-rate= or ?sample_rate=; 8000 when absent */
	bool rate_given;       /* the query named a sample rate */
};

/* Parses text into out. Accepts only ws:// and wss://, a non-empty host, port 1-65535,
 * no whitespace or control characters, at most SB_URL_MAX bytes, and sample-rate 8000,
 * 16000 or 24000. On error returns -EINVAL and, if err is not NULL, a short reason
 * ("scheme must be ws:// or wss://"). */
int sb_url_parse(struct sb_url *out, const char *text, const char **err);

/* host (as in struct sb_url: an IPv6 literal without brackets) is an IPv4 or IPv6 address, not
 * a name. */
bool sb_url_host_is_ip(const char *host);

/* INVITE routing: source address → trunk (ACL), DID check, X-Customer-Header → bot, and the
 * X- headers passed to the bot as custom parameters. Pure. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <sb/config.h>

#define SB_UUI_MAX_BYTES 45         /* X-UUI value */
#define SB_ACCOUNT_SID_MAX_BYTES 64 /* X-Account-Sid value */
#define SB_XHDR_MAX_OTHER 3         /* other X- headers passed on */
#define SB_XHDR_OTHER_MAX_BYTES 200 /* their names + values together */

struct sb_route_in {
	const struct sockaddr *src;  /* where the INVITE came from */
	const char *ruri_user;       /* request-URI user, may be NULL */
	const char *to_user;         /* To URI user, may be NULL */
	const char *customer_header; /* X-Customer-Header value, may be NULL */
};

struct sb_route_out {
	const struct sb_trunk *trunk;
	const struct sb_bot_cfg *bot;
};

/* Picks the first trunk whose ACL holds src; among trunks whose ACL holds src, the first
 * whose numbers list is empty or holds the request-URI user or the To user (a leading '+'
 * is ignored on both sides). Then the bot: the route whose match equals customer_header
 * (case-insensitive), else the "*" route. Returns 0 with out filled, 403 when no trunk's ACL
 * holds src, 404 when the DID is not a trunk number or no bot matches (then with out->trunk
 * set and out->bot NULL). */
int sb_route_select(const struct sb_config *cfg, const struct sb_route_in *in,
                    struct sb_route_out *out);

struct sb_kv {
	const char *name;
	const char *value;
};

/* True for a header name the platform reserves: "X-Exotel-", "X-Veeno-", "Exotel-" or
 * "Veeno-" at its start, any case. Such headers are never passed on. */
bool sb_route_reserved_header(const char *name);
/* Filters the INVITE's headers (n pairs, any names) into the custom parameters for the bot,
 * in input order: X-UUI (dropped if longer than SB_UUI_MAX_BYTES), X-Account-Sid (dropped if longer
 * than SB_ACCOUNT_SID_MAX_BYTES), and at most SB_XHDR_MAX_OTHER other X- headers whose names and
 * values total at most SB_XHDR_OTHER_MAX_BYTES (later ones that do not fit are dropped). Names
 * starting with "X-Exotel-", "X-Veeno-", "Exotel-" or "Veeno-" (any case) and non-X- headers are
 * dropped. Only the first of duplicate names is kept. Writes at most max pairs to out (pointers
 * into in) and returns their count; *dropped (if not NULL) counts what was dropped. */
size_t sb_route_custom_params(const struct sb_kv *in, size_t n, struct sb_kv *out, size_t max,
                              size_t *dropped);

/* INVITE routing: source ACL → trunk, DID check, X-Customer-Header → bot, and the filter that
 * turns the INVITE's X- headers into the bot's custom parameters.
 * Pure: no I/O, no locks. Thread: control (per INVITE). Owns nothing: results point into the
 * config snapshot or into the caller's header array. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <sb/route.h>

/* A DID compared with a trunk number, a leading '+' ignored on both sides. */
static bool did_equal(const char *user, const char *number)
{
	if (!user)
		return false;
	if (*user == '+')
		user++;
	if (*number == '+')
		number++;
	return strcmp(user, number) == 0;
}

static bool trunk_takes_did(const struct sb_trunk *t, const struct sb_route_in *in)
{
	if (t->n_numbers == 0)
		return true;
	for (size_t i = 0; i < t->n_numbers; i++) {
		if (did_equal(in->ruri_user, t->numbers[i]) ||
		    did_equal(in->to_user, t->numbers[i]))
			return true;
	}
	return false;
}

/* An exact (case-insensitive) match wins over "*" wherever the two stand in the list. */
static const struct sb_bot_cfg *pick_bot(const struct sb_trunk *t, const char *customer)
{
	const struct sb_bot_cfg *fallback = NULL;

	for (size_t i = 0; i < t->n_routes; i++) {
		const struct sb_bot_route *rt = &t->routes[i];

		if (strcmp(rt->match, "*") == 0) {
			if (!fallback)
				fallback = rt->bot;
			continue;
		}
		if (customer && strcasecmp(rt->match, customer) == 0)
			return rt->bot;
	}
	return fallback;
}

int sb_route_select(const struct sb_config *cfg, const struct sb_route_in *in,
                    struct sb_route_out *out)
{
	const struct sb_trunk *trunk = NULL;
	const struct sb_bot_cfg *bot;
	bool acl_hit = false;

	for (size_t i = 0; i < cfg->n_trunks && !trunk; i++) {
		const struct sb_trunk *t = &cfg->trunks[i];

		if (!sb_acl_match(t->acl, t->n_acl, in->src))
			continue;
		acl_hit = true;
		if (trunk_takes_did(t, in))
			trunk = t;
	}
	if (!acl_hit)
		return 403;
	if (!trunk)
		return 404;
	out->trunk = trunk;
	out->bot = NULL;
	bot = pick_bot(trunk, in->customer_header);
	if (!bot)
		return 404;
	out->bot = bot;
	return 0;
}

/* Case-insensitive prefix test. */
static bool has_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool sb_route_reserved_header(const char *name)
{
	return has_prefix(name, "X-Exotel-") || has_prefix(name, "X-Veeno-") ||
	       has_prefix(name, "Exotel-") || has_prefix(name, "Veeno-");
}

/* True when an earlier candidate header has the same name (header names are
 * case-insensitive in SIP). */
static bool seen_before(const struct sb_kv *in, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (in[j].name && strcasecmp(in[j].name, in[i].name) == 0)
			return true;
	}
	return false;
}

struct budget {
	size_t n_other;
	size_t other_bytes;
};

/* Decides whether one X- header (not reserved, not a duplicate) is passed on. */
static bool accept_xhdr(const struct sb_kv *kv, struct budget *b)
{
	size_t bytes;

	if (strcasecmp(kv->name, "X-UUI") == 0)
		return strlen(kv->value) <= SB_UUI_MAX_BYTES;
	if (strcasecmp(kv->name, "X-Account-Sid") == 0)
		return strlen(kv->value) <= SB_ACCOUNT_SID_MAX_BYTES;
	bytes = strlen(kv->name) + strlen(kv->value);
	if (b->n_other >= SB_XHDR_MAX_OTHER || b->other_bytes + bytes > SB_XHDR_OTHER_MAX_BYTES)
		return false;
	b->n_other++;
	b->other_bytes += bytes;
	return true;
}

/* Headers that are neither X- nor reserved (Via, From, ...) are simply not parameters and are
 * not counted in *dropped; every X- or reserved header that is not passed on is. */
size_t sb_route_custom_params(const struct sb_kv *in, size_t n, struct sb_kv *out, size_t max,
                              size_t *dropped)
{
	struct budget b = {0};
	size_t n_out = 0, n_drop = 0;

	for (size_t i = 0; i < n; i++) {
		const struct sb_kv *kv = &in[i];

		if (!kv->name)
			continue;
		if (sb_route_reserved_header(kv->name)) {
			n_drop++;
			continue;
		}
		if (!has_prefix(kv->name, "X-"))
			continue;
		if (!kv->value || seen_before(in, i) || n_out >= max || !accept_xhdr(kv, &b)) {
			n_drop++;
			continue;
		}
		out[n_out++] = *kv;
	}
	if (dropped)
		*dropped = n_drop;
	return n_out;
}

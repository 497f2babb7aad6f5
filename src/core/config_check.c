/* What follows the parse of a configuration: the command line's overrides, the rules that tie
 * keys together (sip.listen as a whole, ranges against each other, unique names, the bots'
 * audio rates) and the settings kept in a quicker form. Errors as config.c writes them.
 * Thread: control (load). */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/common.h>
#include <sb/config.h>

#include "config_priv.h"

/* A failure found after parsing, reported at the line of libconfig path lpath if present. */
SB_PRINTF(5, 6)
static int fail_at(const struct sb_cfg_errbuf *x, const config_t *lc, const char *lpath,
                   const char *key, const char *fmt, ...)
{
	char why[SB_CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return sb_cfg_report(x->name, x->err, x->errlen, config_lookup(lc, lpath), key, why);
}

static int apply_overrides(const struct sb_cfg_errbuf *x, struct sb_config *c,
                           const struct sb_config_overrides *ov)
{
	const char *why = NULL;
	struct sb_url url;

	if (!ov)
		return 0;
	if (ov->bot_url) {
		if (sb_url_parse(&url, ov->bot_url, &why) < 0) {
			snprintf(x->err, x->errlen, "--bot: invalid URL: %s", why);
			return -EINVAL;
		}
		for (size_t i = 0; i < c->n_bots; i++) {
			free(c->bots[i].url_text);
			c->bots[i].url = url;
			c->bots[i].url_text = strdup(ov->bot_url);
			if (!c->bots[i].url_text)
				return -ENOMEM;
		}
	}
	if (ov->sip_port) {
		if (ov->sip_port < 1 || ov->sip_port > 65535) {
			snprintf(x->err, x->errlen, "--sip-port: must be 1-65535, not %d",
			         ov->sip_port);
			return -EINVAL;
		}
		for (size_t i = 0; i < c->n_listen; i++) /* tls keeps a port of its own */
			if (c->listen[i].transport != SB_TP_TLS)
				c->listen[i].port = (uint16_t)ov->sip_port;
	}
	return 0;
}

/* Names must be unique within trunks and within bots. */
static int check_names(const struct sb_cfg_errbuf *x, const config_t *lc, const char *list,
                       const char *name, size_t n, size_t stride)
{
	char lpath[64], key[64];

	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(name + i * stride, name + j * stride) != 0)
				continue;
			snprintf(lpath, sizeof(lpath), "%s.[%zu].name", list, i);
			snprintf(key, sizeof(key), "%s[%zu].name", list, i);
			return fail_at(x, lc, lpath, key, "duplicate name \"%s\" (also %s[%zu])",
			               name + i * stride, list, j);
		}
	}
	return 0;
}

/* Settings kept in a second, quicker form. */
static void derive(struct sb_config *c)
{
	for (size_t i = 0; i < c->n_trunks; i++)
		if (c->trunks[i].srtp == SB_SRTP_MODE_DEFAULT)
			c->trunks[i].srtp = c->srtp;
	for (size_t i = 0; i < c->n_bots; i++) {
		struct sb_bot_cfg *b = &c->bots[i];

		b->event_opts = 0;
		for (size_t j = 0; j < b->n_events; j++)
			if (strcmp(b->events[j], "hold") == 0)
				b->event_opts |= SB_BOT_OPT_HOLD;
	}
}

/* The rate of a bot's audio: its sample_rate key, else the URL's sample-rate, else 8000; the
 * two must agree when both are given. Twilio's media streams are 8 kHz µ-law only. */
static int resolve_rates(const struct sb_cfg_errbuf *x, const config_t *lc, struct sb_config *c)
{
	char lpath[64], key[64];

	for (size_t i = 0; i < c->n_bots; i++) {
		struct sb_bot_cfg *b = &c->bots[i];
		/* Blame the key that asked for the rate: sample_rate when given, else the URL. */
		const char *k = "sample_rate";

		snprintf(lpath, sizeof(lpath), "bots.[%zu].sample_rate", i);
		if (!config_lookup(lc, lpath))
			k = "url";
		snprintf(lpath, sizeof(lpath), "bots.[%zu].%s", i, k);
		snprintf(key, sizeof(key), "bots[%zu].%s", i, k);
		if (b->sample_rate && b->url.rate_given && b->sample_rate != b->url.sample_rate)
			return fail_at(x, lc, lpath, key,
			               "%d disagrees with the URL's sample-rate %d", b->sample_rate,
			               b->url.sample_rate);
		if (!b->sample_rate)
			b->sample_rate = b->url.sample_rate;
		if (b->protocol == SB_PROTO_TWILIO && b->sample_rate != SB_RATE_8K)
			return fail_at(x, lc, lpath, key,
			               "must be 8000 for protocol \"twilio\" (8 kHz µ-law), not %d",
			               b->sample_rate);
	}
	return 0;
}

/* sip.listen as a whole and its TLS files, reported at the key's line (else its entry's). */
static int check_listen(const struct sb_cfg_errbuf *x, const config_t *lc, struct sb_config *c)
{
	char lpath[64], key[64], why[SB_CONFIG_ERR_MAX];
	const char *k = "transport";
	size_t i = 0;

	if (sb_cfg_check_listen(c, lc, &i, &k, why, sizeof(why)) == 0)
		return 0;
	snprintf(lpath, sizeof(lpath), "sip.listen.[%zu].%s", i, k);
	if (!config_lookup(lc, lpath))
		snprintf(lpath, sizeof(lpath), "sip.listen.[%zu]", i);
	snprintf(key, sizeof(key), "sip.listen[%zu].%s", i, k);
	return fail_at(x, lc, lpath, key, "%s", why);
}

/* Rules that tie keys together, checked once the overrides are in. */
static int cross_check(const struct sb_cfg_errbuf *x, const config_t *lc, const struct sb_config *c)
{
	int r;

	if (c->rtp_port_max < c->rtp_port_min + 2)
		return fail_at(x, lc, "rtp.port_max", "rtp.port_max",
		               "must be at least rtp.port_min + 2 (%u), not %u",
		               c->rtp_port_min + 2u, c->rtp_port_max);
	if (c->session_expires_s && c->session_expires_s < c->min_se_s)
		return fail_at(x, lc, "sip.session_expires_s", "sip.session_expires_s",
		               "must be 0 or at least sip.min_se_s (%d), not %d", c->min_se_s,
		               c->session_expires_s);
	if (c->jitter_max_ms < c->jitter_min_ms)
		return fail_at(x, lc, "rtp.jitter_max_ms", "rtp.jitter_max_ms",
		               "must be at least rtp.jitter_min_ms (%d), not %d", c->jitter_min_ms,
		               c->jitter_max_ms);
	r = check_names(x, lc, "trunks", c->trunks ? c->trunks[0].name : NULL, c->n_trunks,
	                sizeof(c->trunks[0]));
	if (r < 0)
		return r;
	return check_names(x, lc, "bots", c->bots ? c->bots[0].name : NULL, c->n_bots,
	                   sizeof(c->bots[0]));
}

int sb_cfg_finish(struct sb_config *c, const config_t *lc, const struct sb_config_overrides *ov,
                  const struct sb_cfg_errbuf *e)
{
	int r = apply_overrides(e, c, ov);

	if (r >= 0)
		r = check_listen(e, lc, c);
	if (r >= 0)
		r = cross_check(e, lc, c);
	if (r >= 0)
		r = resolve_rates(e, lc, c);
	if (r >= 0)
		derive(c);
	return r;
}

/* The call-end webhook's pure parts: the record as JSON, ISO-8601 times, the HMAC-SHA256
 * signature of the body, the retry back-off and the receiver's URL.
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sb/webhook.h>

#define N_MEMBERS 19 /* top-level members of a record */

int sb_webhook_url_parse(struct sb_url *out, const char *text, const char **err)
{
	/* The WebSocket URL parser knows hosts, IPv6 literals, ports and paths: reuse it with
	 * the scheme mapped (http → ws, https → wss share default ports and syntax). */
	char buf[SB_URL_MAX + 8];
	size_t skip;

	if (strncasecmp(text, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(text, "https://", 8) == 0)
		skip = 8;
	else {
		if (err)
			*err = "must be empty or an http:// or https:// URL";
		return -EINVAL;
	}
	if (strlen(text) > SB_URL_MAX) {
		if (err)
			*err = "URL longer than 1024 bytes";
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s%s", skip == 7 ? "ws://" : "wss://", text + skip);
	return sb_url_parse(out, buf, err);
}

int sb_webhook_iso8601(char *buf, size_t size, int64_t wall_ms)
{
	int64_t s = wall_ms / 1000, ms = wall_ms % 1000;
	time_t t;
	struct tm tm;
	int n;

	if (ms < 0) { /* floor for times before the epoch */
		ms += 1000;
		s--;
	}
	t = (time_t)s;
	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
	return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

/* A JSON string of s, or null. Text from the network that is not UTF-8 is sent with its
 * bytes above 0x7f replaced by '?', so the record always encodes. */
static json_t *str_or_null(const char *s)
{
	json_t *j;
	char *copy;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p > 0x7f)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *time_or_null(int64_t wall_ms)
{
	char buf[SB_WEBHOOK_TIME_LEN + 8];

	if (wall_ms <= 0 || sb_webhook_iso8601(buf, sizeof(buf), wall_ms) < 0)
		return json_null();
	return json_string(buf);
}

static json_t *transfer_obj(const struct sb_webhook_record *r)
{
	json_t *o;

	if (!r->transfer_target)
		return json_null();
	o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "target", str_or_null(r->transfer_target));
	json_object_set_new(o, "mode", str_or_null(r->transfer_mode));
	json_object_set_new(o, "outcome", str_or_null(r->transfer_outcome));
	return o;
}

static json_t *params_obj(const struct sb_webhook_record *r)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < r->n_params; i++) {
		char name[256];

		/* Header names are tokens (ASCII); a value that is not UTF-8 is masked. */
		snprintf(name, sizeof(name), "%s", r->params[i].name);
		for (char *p = name; *p; p++)
			if ((unsigned char)*p > 0x7f)
				*p = '?';
		json_object_set_new(o, name, str_or_null(r->params[i].value));
	}
	return o;
}

static double duration_s(const struct sb_webhook_record *r)
{
	if (r->answer_ms <= 0 || r->end_ms < r->answer_ms)
		return 0.0;
	return (double)(r->end_ms - r->answer_ms) / 1000.0;
}

static void add_times(json_t *o, const struct sb_webhook_record *r)
{
	json_object_set_new(o, "start", time_or_null(r->start_ms));
	json_object_set_new(o, "answer", time_or_null(r->answer_ms));
	json_object_set_new(o, "end", time_or_null(r->end_ms));
	json_object_set_new(o, "duration_s", json_real(duration_s(r)));
}

static void add_counters(json_t *o, const struct sb_webhook_record *r)
{
	json_object_set_new(o, "rtp",
	                    json_pack("{sIsIsI}", "packets_in", (json_int_t)r->rtp_packets_in,
	                              "packets_out", (json_int_t)r->rtp_packets_out, "lost",
	                              (json_int_t)r->rtp_lost));
	json_object_set_new(o, "bot_stats",
	                    json_pack("{sIsI}", "frames_in", (json_int_t)r->bot_frames_in,
	                              "frames_out", (json_int_t)r->bot_frames_out));
	json_object_set_new(o, "drops",
	                    json_pack("{sIsIsIsIsI}", "to_bot", (json_int_t)r->drops_to_bot,
	                              "to_caller", (json_int_t)r->drops_to_caller,
	                              "bridge_to_caller", (json_int_t)r->bridge_drops_to_caller,
	                              "bridge_to_agent", (json_int_t)r->bridge_drops_to_agent,
	                              "bridge_to_bot", (json_int_t)r->bridge_drops_to_bot));
}

char *sb_webhook_encode(const struct sb_webhook_record *r, size_t *len)
{
	json_t *o = json_object();
	char *text = NULL;

	if (!o)
		return NULL;
	json_object_set_new(o, "call_id", str_or_null(r->call_id));
	json_object_set_new(o, "sip_call_id", str_or_null(r->sip_call_id));
	json_object_set_new(o, "trunk", str_or_null(r->trunk));
	json_object_set_new(o, "from", str_or_null(r->from));
	json_object_set_new(o, "to", str_or_null(r->to));
	json_object_set_new(o, "bot", str_or_null(r->bot));
	add_times(o, r);
	json_object_set_new(o, "hangup_by", str_or_null(r->hangup_by));
	json_object_set_new(o, "hangup_reason", str_or_null(r->hangup_reason));
	json_object_set_new(o, "sip_status",
	                    r->sip_status > 0 ? json_integer(r->sip_status) : json_null());
	json_object_set_new(o, "transfer", transfer_obj(r));
	add_counters(o, r);
	json_object_set_new(o, "dtmf", str_or_null(r->dtmf ? r->dtmf : ""));
	json_object_set_new(o, "custom_parameters", params_obj(r));
	/* A member that could not be built (out of memory) is missing: drop the record. */
	if (json_object_size(o) == N_MEMBERS)
		text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (text && len)
		*len = strlen(text);
	return text;
}

int sb_webhook_sign(char *out, const char *secret, const void *body, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, md, &md_len) ||
	    md_len != 32)
		return -EIO;
	memcpy(out, "sha256=", 7);
	for (unsigned i = 0; i < md_len; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 0xf];
	}
	out[SB_WEBHOOK_SIG_LEN] = '\0';
	return 0;
}

int64_t sb_webhook_backoff_ms(unsigned attempt)
{
	int64_t ms = SB_WEBHOOK_BACKOFF_FIRST_MS;

	for (unsigned i = 1; i < attempt && ms < SB_WEBHOOK_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < SB_WEBHOOK_BACKOFF_MAX_MS ? ms : SB_WEBHOOK_BACKOFF_MAX_MS;
}

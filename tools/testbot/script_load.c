/* Loads a test-bot script: JSON lines, one action per line, '#' comments and blank lines
 * skipped. Every error is fatal at start-up so a typo never turns into a silent test pass.
 * Thread: main, before the lws context exists. Owns the script until sb_tb_script_free().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sb/common.h>

#include "script_priv.h"

#define PCM_MAX_BYTES (64 * 1024 * 1024)

struct parser {
	struct sb_tb_script *s;
	char err[256];
};

SB_PRINTF(2, 3) static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Rejects members other than the allowed ones, so misspelt options are caught. */
static int check_keys(struct parser *p, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v)
	{
		for (i = 0; allowed[i] && strcmp(allowed[i], key); i++)
			;
		if (!allowed[i])
			return fail(p, "unknown key \"%s\"", key);
	}
	return 0;
}

static int get_key(struct parser *p, json_t *v, enum sb_tb_key *key)
{
	const char *s = json_string_value(v);

	/* Without "key", media messages carry the protocol's own id key. */
	*key = SB_TB_KEY_AUTO;
	if (!v)
		return 0;
	if (s && !strcmp(s, "stream_sid"))
		*key = SB_TB_KEY_SNAKE;
	else if (s && !strcmp(s, "streamSid"))
		*key = SB_TB_KEY_CAMEL;
	else if (s && !strcmp(s, "none"))
		*key = SB_TB_KEY_NONE;
	else
		return fail(p, "\"key\" must be \"stream_sid\", \"streamSid\" or \"none\"");
	return 0;
}

static int get_chunk(struct parser *p, json_t *v, size_t *out)
{
	json_int_t n = json_integer_value(v);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || n <= 0 || n % 2 || n > SB_TB_MAX_MSG_BYTES)
		return fail(p, "\"chunk_bytes\" must be a positive even integer");
	*out = (size_t)n;
	return 0;
}

static int add_counter(struct parser *p, const char *event)
{
	struct sb_tb_script *s = p->s;
	size_t i;

	for (i = 0; i < s->n_counters; i++)
		if (!strcmp(s->counters[i], event))
			return (int)i;
	if (s->n_counters == SB_TB_MAX_COUNTERS)
		return fail(p, "too many distinct wait_event names");
	s->counters[s->n_counters] = strdup(event);
	return s->counters[s->n_counters] ? (int)s->n_counters++ : -ENOMEM;
}

static int add_named(struct parser *p, const char *event, const char *name)
{
	struct sb_tb_script *s = p->s;
	size_t i;

	for (i = 0; i < s->n_named; i++)
		if (!strcmp(s->named[i].event, event) && !strcmp(s->named[i].name, name))
			return (int)i;
	if (s->n_named == SB_TB_MAX_NAMED)
		return fail(p, "too many distinct wait_event names");
	s->named[i].event = strdup(event);
	s->named[i].name = strdup(name);
	s->n_named++;
	if (!s->named[i].event || !s->named[i].name)
		return -ENOMEM;
	return (int)i;
}

static int parse_wait_event(struct parser *p, json_t *obj, struct sb_tb_action *a)
{
	static const char *const keys[] = {"wait_event", "count", "name", NULL};
	const char *event = json_string_value(json_object_get(obj, "wait_event"));
	json_t *count = json_object_get(obj, "count"), *name = json_object_get(obj, "name");
	int r = check_keys(p, obj, keys);

	if (r < 0)
		return r;
	if (!event || !event[0])
		return fail(p, "\"wait_event\" must be an event name");
	if (count && (!json_is_integer(count) || json_integer_value(count) < 1))
		return fail(p, "\"count\" must be a positive integer");
	if (name && !json_is_string(name))
		return fail(p, "\"name\" must be a string");
	a->type = SB_TB_ACT_WAIT_EVENT;
	a->count = count ? (unsigned)json_integer_value(count) : 1;
	a->counter = a->named = -1;
	if (name)
		r = a->named = add_named(p, event, json_string_value(name));
	else
		r = a->counter = add_counter(p, event);
	return r < 0 ? r : 0;
}

/* What tone and pcm share: an object of known keys, with chunk_bytes and key. */
static int parse_send_opts(struct parser *p, json_t *obj, const char *name, const char *const *keys,
                           struct sb_tb_action *a)
{
	int r;

	if (!json_is_object(obj))
		return fail(p, "\"%s\" must be an object", name);
	r = check_keys(p, obj, keys);
	if (!r)
		r = get_chunk(p, json_object_get(obj, "chunk_bytes"), &a->chunk_bytes);
	if (!r)
		r = get_key(p, json_object_get(obj, "key"), &a->key);
	return r;
}

static int parse_tone(struct parser *p, json_t *obj, struct sb_tb_action *a)
{
	static const char *const keys[] = {"hz", "ms", "chunk_bytes", "key", "amplitude", NULL};
	json_t *hz = json_object_get(obj, "hz"), *ms = json_object_get(obj, "ms");
	json_t *amp = json_object_get(obj, "amplitude");
	int r = parse_send_opts(p, obj, "tone", keys, a);

	if (r < 0)
		return r;
	if ((hz && (!json_is_number(hz) || json_number_value(hz) <= 0)) || !json_is_integer(ms) ||
	    json_integer_value(ms) < 0 ||
	    (amp && (!json_is_number(amp) || json_number_value(amp) < 0 ||
	             json_number_value(amp) > 32767)))
		return fail(p, "tone needs \"ms\" >= 0, \"hz\" > 0, 0 <= \"amplitude\" <= 32767");
	a->type = SB_TB_ACT_TONE;
	a->hz = hz ? json_number_value(hz) : 440.0;
	a->ms = json_integer_value(ms);
	a->amplitude = amp ? json_number_value(amp) : 8000.0;
	return 0;
}

static int read_file(struct parser *p, const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long size;
	int r = 0;

	if (!f)
		return fail(p, "cannot open %s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || size > PCM_MAX_BYTES ||
	    fseek(f, 0, SEEK_SET)) {
		r = fail(p, "cannot read %s (or larger than 64 MiB)", path);
		goto out;
	}
	*buf = malloc((size_t)size + 1);
	if (!*buf) {
		r = -ENOMEM;
		goto out;
	}
	*len = fread(*buf, 1, (size_t)size, f);
	if (*len != (size_t)size)
		r = fail(p, "short read from %s", path);
out:
	fclose(f);
	return r;
}

static int parse_pcm(struct parser *p, json_t *obj, struct sb_tb_action *a)
{
	static const char *const keys[] = {"file", "chunk_bytes", "key", NULL};
	const char *file = json_string_value(json_object_get(obj, "file"));
	int r = parse_send_opts(p, obj, "pcm", keys, a);

	if (r < 0)
		return r;
	if (!file)
		return fail(p, "pcm needs \"file\"");
	a->type = SB_TB_ACT_PCM;
	return read_file(p, file, &a->pcm, &a->pcm_len);
}

static int parse_single(struct parser *p, json_t *obj, const char *key)
{
	const char *const keys[] = {key, NULL};

	if (json_object_size(obj) != 1)
		return check_keys(p, obj, keys);
	return 0;
}

static int parse_simple(struct parser *p, json_t *obj, struct sb_tb_action *a, const char *key)
{
	json_t *v = json_object_get(obj, key);
	int r = parse_single(p, obj, key);

	if (r < 0)
		return r;
	if (!strcmp(key, "wait_ms")) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return fail(p, "\"wait_ms\" must be an integer >= 0");
		a->type = SB_TB_ACT_WAIT_MS;
		a->ms = json_integer_value(v);
	} else if (!strcmp(key, "send")) {
		if (!json_is_object(v))
			return fail(p, "\"send\" must be an object");
		a->type = SB_TB_ACT_SEND;
		a->obj = json_incref(v);
	} else if (!strcmp(key, "send_raw")) {
		if (!json_is_string(v))
			return fail(p, "\"send_raw\" must be a string");
		a->type = SB_TB_ACT_SEND_RAW;
		a->text = strdup(json_string_value(v));
		if (!a->text)
			return -ENOMEM;
	} else {
		if (!json_is_integer(v) || json_integer_value(v) < 1000 ||
		    json_integer_value(v) > 4999)
			return fail(p, "\"close\" must be a status code 1000-4999");
		a->type = SB_TB_ACT_CLOSE;
		a->code = (int)json_integer_value(v);
	}
	return 0;
}

static int parse_action(struct parser *p, json_t *obj, struct sb_tb_action *a)
{
	static const char *const simple[] = {"wait_ms", "send", "send_raw", "close", NULL};
	size_t i;

	if (!json_is_object(obj))
		return fail(p, "an action must be a JSON object");
	if (json_object_get(obj, "wait_event"))
		return parse_wait_event(p, obj, a);
	if (json_object_get(obj, "tone")) {
		if (parse_single(p, obj, "tone") < 0)
			return -EINVAL;
		return parse_tone(p, json_object_get(obj, "tone"), a);
	}
	if (json_object_get(obj, "pcm")) {
		if (parse_single(p, obj, "pcm") < 0)
			return -EINVAL;
		return parse_pcm(p, json_object_get(obj, "pcm"), a);
	}
	for (i = 0; simple[i]; i++)
		if (json_object_get(obj, simple[i]))
			return parse_simple(p, obj, a, simple[i]);
	return fail(p, "unknown action");
}

static bool skip_line(const char *line)
{
	line += strspn(line, " \t\r\n");
	return !*line || *line == '#';
}

static int add_line(struct parser *p, const char *line)
{
	struct sb_tb_script *s = p->s;
	struct sb_tb_action *acts;
	json_error_t jerr;
	json_t *obj;
	int r;

	if (s->n == s->cap) {
		acts = realloc(s->acts, (s->cap ? s->cap * 2 : 16) * sizeof(*acts));
		if (!acts)
			return -ENOMEM;
		s->acts = acts;
		s->cap = s->cap ? s->cap * 2 : 16;
	}
	obj = json_loads(line, 0, &jerr);
	if (!obj)
		return fail(p, "invalid JSON: %s", jerr.text);
	memset(&s->acts[s->n], 0, sizeof(s->acts[0]));
	r = parse_action(p, obj, &s->acts[s->n]);
	/* Count it even on failure so free releases what the parse allocated. */
	s->n++;
	json_decref(obj);
	return r;
}

int sb_tb_script_load(const char *path, struct sb_tb_script **ret)
{
	struct parser p = {.s = calloc(1, sizeof(struct sb_tb_script))};
	unsigned lineno = 0;
	size_t cap = 0;
	char *line = NULL;
	FILE *f;
	int r = 0;

	if (!p.s)
		return -ENOMEM;
	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		fprintf(stderr, "sipbridge-testbot: cannot open script %s: %s\n", path,
		        strerror(errno));
		sb_tb_script_free(p.s);
		return r;
	}
	while (r >= 0 && getline(&line, &cap, f) >= 0) {
		lineno++;
		if (!skip_line(line))
			r = add_line(&p, line);
	}
	free(line);
	fclose(f);
	if (r < 0) {
		fprintf(stderr, "sipbridge-testbot: %s:%u: %s\n", path, lineno,
		        p.err[0] ? p.err : strerror(-r));
		sb_tb_script_free(p.s);
		return r;
	}
	*ret = p.s;
	return 0;
}

struct sb_tb_script *sb_tb_script_free(struct sb_tb_script *s)
{
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < s->n; i++) {
		json_decref(s->acts[i].obj);
		free(s->acts[i].text);
		free(s->acts[i].pcm);
	}
	for (i = 0; i < s->n_counters; i++)
		free(s->counters[i]);
	for (i = 0; i < s->n_named; i++) {
		free(s->named[i].event);
		free(s->named[i].name);
	}
	free(s->acts);
	free(s);
	return NULL;
}

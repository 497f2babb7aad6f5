/* libconfig text → immutable, refcounted struct sb_config, walking the schema table in
 * config_schema.c for parsing, defaults, checks and freeing. Logs nothing: every error goes
 * to the caller's buffer as "FILE:LINE: KEY: reason". Thread: control (load), any (unref). */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/common.h>
#include <sb/config.h>

#include "config_priv.h"

#define PATH_MAX_BYTES 160

/* One load: where errors go and the key path ("trunks[0].acl[1]") being parsed. */
struct ctx {
	const char *name;
	char *err;
	size_t errlen;
	struct sb_config *cfg;
	const config_setting_t *anchor; /* innermost setting present in the file */
	char path[PATH_MAX_BYTES];
	size_t plen;
};

static int parse_scope(struct ctx *x, const config_setting_t *grp, enum sb_cfg_scope sc, void *obj);
static int parse_list(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                      void *obj);

/* Writes "FILE:LINE: KEY: reason" (or "FILE: KEY: reason" without a line) and fails. */
SB_PRINTF(3, 4)
static int fail(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	char why[SB_CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return sb_cfg_report(x->name, x->err, x->errlen, s, x->path, why);
}

int sb_cfg_report(const char *name, char *err, size_t errlen, const config_setting_t *s,
                  const char *key, const char *why)
{
	unsigned line = s ? config_setting_source_line(s) : 0;
	const char *file =
	        s && config_setting_source_file(s) ? config_setting_source_file(s) : name;

	if (!err || errlen == 0)
		return -EINVAL;
	/* A key missing from the file has no line of its own: the file's start stands for it. */
	snprintf(err, errlen, "%s:%u: %s: %s", file, line ? line : 1, key, why);
	return -EINVAL;
}

static int nomem(struct ctx *x)
{
	if (x->err && x->errlen)
		snprintf(x->err, x->errlen, "%s: out of memory", x->name);
	return -ENOMEM;
}

/* Appends ".name" (or "name" at the top) or "[i]" to the key path; returns the old length. */
static size_t push(struct ctx *x, const char *name, size_t idx)
{
	size_t old = x->plen;
	int n;

	if (name)
		n = snprintf(x->path + old, sizeof(x->path) - old, "%s%s", old ? "." : "", name);
	else
		n = snprintf(x->path + old, sizeof(x->path) - old, "[%zu]", idx);
	x->plen = n < 0 ? old : old + (size_t)n;
	if (x->plen >= sizeof(x->path))
		x->plen = sizeof(x->path) - 1;
	return old;
}

static void pop(struct ctx *x, size_t old)
{
	x->plen = old;
	x->path[old] = '\0';
}

static void *field(void *obj, size_t off)
{
	return (char *)obj + off;
}

static void store_int(void *obj, const struct sb_cfg_key *k, long long v)
{
	if (k->size == sizeof(uint16_t))
		*(uint16_t *)field(obj, k->off) = (uint16_t)v;
	else
		*(int *)field(obj, k->off) = (int)v;
}

static const struct sb_cfg_key *find_key(enum sb_cfg_scope sc, const char *name)
{
	for (size_t i = 0; i < sb_cfg_schema_len; i++) {
		if (sb_cfg_schema[i].scope == sc && strcmp(sb_cfg_schema[i].name, name) == 0)
			return &sb_cfg_schema[i];
	}
	return NULL;
}

static int dup_into(struct ctx *x, char **dst, const char *s)
{
	*dst = strdup(s ? s : "");
	return *dst ? 0 : nomem(x);
}

/* The default of a list is libconfig text, read by the same code as the file. */
static int parse_default_list(struct ctx *x, const struct sb_cfg_key *k, void *obj)
{
	char text[512];
	config_t lc;
	int r;

	snprintf(text, sizeof(text), "v = %s;", k->def_str);
	config_init(&lc);
	if (!config_read_string(&lc, text))
		r = fail(x, NULL, "bad built-in default");
	else
		r = parse_list(x, k, config_lookup(&lc, "v"), obj);
	config_destroy(&lc);
	return r;
}

static int parse_absent(struct ctx *x, const struct sb_cfg_key *k, void *obj)
{
	if (k->flags & SB_CFG_REQUIRED)
		return fail(x, x->anchor, "missing (required)");
	switch (k->type) {
	case SB_KT_GROUP:
		return parse_scope(x, NULL, k->sub, obj);
	case SB_KT_LIST:
		if (k->def_str)
			return parse_default_list(x, k, obj);
		return k->min > 0 ? fail(x, x->anchor, "missing (required)") : 0;
	case SB_KT_INT:
	case SB_KT_ENUM:
		store_int(obj, k, k->def_int);
		return 0;
	case SB_KT_BOOL:
		*(bool *)field(obj, k->off) = k->def_int != 0;
		return 0;
	case SB_KT_STR:
		return dup_into(x, field(obj, k->off), k->def_str);
	default:
		return 0; /* empty lists stay zeroed */
	}
}

static int parse_int(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                     void *obj)
{
	const char *why;
	long long v;

	if (config_setting_type(m) != CONFIG_TYPE_INT &&
	    config_setting_type(m) != CONFIG_TYPE_INT64)
		return fail(x, m, "must be an integer");
	v = config_setting_get_int64(m);
	if (v < k->min || v > k->max)
		return fail(x, m, "must be %lld-%lld, not %lld", k->min, k->max, v);
	why = k->check_int ? k->check_int(v) : NULL;
	if (why)
		return fail(x, m, "%s", why);
	store_int(obj, k, v);
	return 0;
}

static int parse_enum(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                      const char *s, void *obj)
{
	char why[256];
	int v = sb_cfg_enum_value(k, s, why, sizeof(why));

	if (v < 0)
		return fail(x, m, "%s", why);
	store_int(obj, k, v);
	return 0;
}

static int parse_botref(struct ctx *x, const config_setting_t *m, const char *s, void *dst)
{
	const struct sb_bot_cfg *b = sb_config_find_bot(x->cfg, s);

	if (!b)
		return fail(x, m, "no bot named \"%s\" in bots", s);
	*(const struct sb_bot_cfg **)dst = b;
	return 0;
}

/* Every string-valued key: the string is checked here and stored per type. */
static int parse_str(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                     void *obj)
{
	const char *s = config_setting_get_string(m), *why = NULL;
	struct sb_url url;

	if (!s)
		return fail(x, m, "must be a string");
	switch (k->type) {
	case SB_KT_ENUM:
		return parse_enum(x, k, m, s, obj);
	case SB_KT_BOTREF:
		return parse_botref(x, m, s, field(obj, k->off));
	case SB_KT_NAME:
		why = k->check_str(s);
		if (why)
			return fail(x, m, "%s", why);
		memcpy(field(obj, k->off), s, strlen(s) + 1);
		return 0;
	case SB_KT_URL:
		if (sb_url_parse(&url, s, &why) < 0)
			return fail(x, m, "invalid URL: %s", why);
		*(struct sb_url *)field(obj, k->off_n) = url;
		return dup_into(x, field(obj, k->off), s);
	default:
		why = k->check_str ? k->check_str(s) : NULL;
		if (why)
			return fail(x, m, "%s", why);
		return dup_into(x, field(obj, k->off), s);
	}
}

/* One element of a string list: a CIDR or a checked, duplicated string. */
static int parse_strs_elem(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *e,
                           void *arr, size_t i)
{
	const char *s = config_setting_get_string(e), *why;

	if (!s)
		return fail(x, e, "must be a string");
	if (k->type == SB_KT_CIDRS) {
		if (sb_cidr_parse((struct sb_cidr *)arr + i, s) < 0)
			return fail(x, e,
			            "\"%s\" is not an IPv4/IPv6 address or CIDR with the host "
			            "bits clear",
			            s);
		return 0;
	}
	why = k->check_str ? k->check_str(s) : NULL;
	if (why)
		return fail(x, e, "%s", why);
	return dup_into(x, (char **)arr + i, s);
}

/* Checks a list's shape and length; allocates n zeroed elements and stores pointer and count
 * first, so a failure half way leaves something the schema-driven free can walk. */
static int alloc_list(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                      size_t elem_size, void *obj, void **arr)
{
	size_t n = (size_t)config_setting_length(m);

	if (n < (size_t)k->min)
		return fail(x, m, n == 0 ? "must not be empty" : "needs at least %lld entries",
		            k->min);
	if (k->max && n > (size_t)k->max)
		return fail(x, m, "must have at most %lld entries", k->max);
	*arr = calloc(n ? n : 1, elem_size);
	if (!*arr)
		return nomem(x);
	*(void **)field(obj, k->off) = *arr;
	*(size_t *)field(obj, k->off_n) = n;
	return 0;
}

static int parse_strs(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                      void *obj)
{
	size_t esize = k->type == SB_KT_CIDRS ? sizeof(struct sb_cidr) : sizeof(char *);
	void *arr;
	int r;

	if (!config_setting_is_list(m) && !config_setting_is_array(m))
		return fail(x, m, "must be a list ( \"...\", ... )");
	r = alloc_list(x, k, m, esize, obj, &arr);
	for (int i = 0; r >= 0 && i < config_setting_length(m); i++) {
		size_t old = push(x, NULL, (size_t)i);

		r = parse_strs_elem(x, k, config_setting_get_elem(m, (unsigned)i), arr, (size_t)i);
		pop(x, old);
	}
	return r;
}

static int parse_list(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                      void *obj)
{
	const config_setting_t *saved = x->anchor;
	char *arr;
	int r;

	if (!config_setting_is_list(m))
		return fail(x, m, "must be a list ( { ... }, ... )");
	r = alloc_list(x, k, m, k->elem_size, obj, (void **)&arr);
	for (int i = 0; r >= 0 && i < config_setting_length(m); i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		size_t old = push(x, NULL, (size_t)i);

		if (!config_setting_is_group(e)) {
			r = fail(x, e, "must be a group { ... }");
		} else {
			x->anchor = e;
			r = parse_scope(x, e, k->sub, arr + (size_t)i * k->elem_size);
		}
		pop(x, old);
	}
	x->anchor = saved;
	return r;
}

static int parse_present(struct ctx *x, const struct sb_cfg_key *k, const config_setting_t *m,
                         void *obj)
{
	const config_setting_t *saved = x->anchor;
	int r;

	switch (k->type) {
	case SB_KT_GROUP:
		if (!config_setting_is_group(m))
			return fail(x, m, "must be a group { ... }");
		x->anchor = m;
		r = parse_scope(x, m, k->sub, obj);
		x->anchor = saved;
		return r;
	case SB_KT_LIST:
		return parse_list(x, k, m, obj);
	case SB_KT_INT:
		return parse_int(x, k, m, obj);
	case SB_KT_BOOL:
		if (config_setting_type(m) != CONFIG_TYPE_BOOL)
			return fail(x, m, "must be true or false");
		*(bool *)field(obj, k->off) = config_setting_get_bool(m) != 0;
		return 0;
	case SB_KT_STRS:
	case SB_KT_CIDRS:
		return parse_strs(x, k, m, obj);
	default:
		return parse_str(x, k, m, obj);
	}
}

/* Rejects unknown members first, then walks the scope's keys in schema order. grp is NULL
 * when the whole group is absent and only defaults apply. */
static int parse_scope(struct ctx *x, const config_setting_t *grp, enum sb_cfg_scope sc, void *obj)
{
	int r = 0;

	for (int i = 0; grp && i < config_setting_length(grp); i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);

		if (!find_key(sc, config_setting_name(m))) {
			size_t old = push(x, config_setting_name(m), 0);

			r = fail(x, m, "unknown key");
			pop(x, old);
			return r;
		}
	}
	for (size_t i = 0; r >= 0 && i < sb_cfg_schema_len; i++) {
		const struct sb_cfg_key *k = &sb_cfg_schema[i];
		const config_setting_t *m;
		size_t old;

		if (k->scope != sc)
			continue;
		m = grp ? config_setting_get_member(grp, k->name) : NULL;
		old = push(x, k->name, 0);
		r = m ? parse_present(x, k, m, obj) : parse_absent(x, k, obj);
		pop(x, old);
	}
	return r;
}

static void free_config(struct sb_config *c)
{
	if (!c)
		return;
	sb_cfg_free_scope(SB_SC_ROOT, c);
	free(c->source);
	free(c);
}

int sb_config_load_string(struct sb_config **ret, const char *text, const char *name,
                          const struct sb_config_overrides *ov, char *err, size_t errlen)
{
	static char dummy[1];
	struct ctx x = {.name = name ? name : "(string)", .err = err, .errlen = errlen};
	struct sb_config *c;
	char *wide = NULL;
	config_t lc;
	int r;

	if (!x.err || x.errlen == 0) {
		x.err = dummy;
		x.errlen = sizeof(dummy);
	}
	if (!ret || !text)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return nomem(&x);
	atomic_init(&c->refs, 1);
	c->source = strdup(x.name);
	if (!c->source) {
		free(c);
		return nomem(&x);
	}
	x.cfg = c;
	config_init(&lc);
	r = sb_config_widen_ints(text, x.name, &wide, x.err, x.errlen);
	if (r < 0)
		goto out;
	if (!config_read_string(&lc, wide)) {
		snprintf(x.err, x.errlen, "%s:%d: %s",
		         config_error_file(&lc) ? config_error_file(&lc) : x.name,
		         config_error_line(&lc), config_error_text(&lc));
		r = -EINVAL;
		goto out;
	}
	x.anchor = config_root_setting(&lc);
	r = parse_scope(&x, x.anchor, SB_SC_ROOT, c);
	if (r >= 0)
		r = sb_cfg_finish(
		        c, &lc, ov,
		        &(struct sb_cfg_errbuf){.name = x.name, .err = x.err, .errlen = x.errlen});
out:
	config_destroy(&lc);
	free(wide);
	if (r < 0) {
		if (r == -ENOMEM)
			nomem(&x);
		free_config(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* Reads the whole file; on failure returns -errno with err filled. */
static int read_file(const char *path, char **text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0;
	int r = 0;

	*text = NULL;
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	/* A delimiter of '\0' makes getdelim read a text file to its end in one call. */
	errno = 0;
	if (getdelim(text, &cap, '\0', f) < 0) {
		r = ferror(f) ? -(errno ? errno : EIO) : 0;
		free(*text);
		*text = r < 0 ? NULL : strdup("");
		if (r == 0 && !*text)
			r = -ENOMEM;
	}
	fclose(f);
	if (r < 0)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-r));
	return r;
}

int sb_config_load_file(struct sb_config **ret, const char *path,
                        const struct sb_config_overrides *ov, char *err, size_t errlen)
{
	static char dummy[1];
	char *text = NULL;
	int r;

	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (!ret || !path)
		return -EINVAL;
	r = read_file(path, &text, err, errlen);
	if (r < 0)
		return r;
	r = sb_config_load_string(ret, text, path, ov, err, errlen);
	free(text);
	return r;
}

int sb_config_load_default(struct sb_config **ret, const struct sb_config_overrides *ov, char *err,
                           size_t errlen)
{
	return sb_config_load_string(ret, sb_config_default_text(), "(embedded default)", ov, err,
	                             errlen);
}

struct sb_config *sb_config_ref(struct sb_config *c)
{
	if (c)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

struct sb_config *sb_config_unref(struct sb_config *c)
{
	/* acq_rel: the last owner must see every other owner's reads finished before freeing. */
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		free_config(c);
	return NULL;
}

const struct sb_bot_cfg *sb_config_find_bot(const struct sb_config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->n_bots; i++) {
		if (strcmp(c->bots[i].name, name) == 0)
			return &c->bots[i];
	}
	return NULL;
}

/* sipbridgectl's human-readable output: the calls as a table, one call as "key: value" lines,
 * the metrics' samples as aligned lines or one JSON object, and the error text of an error
 * answer. Pure (but for stdout). Single-threaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"

/* A member as text: strings as they are, numbers and the rest as JSON ("-" when missing). */
static void member_text(json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);
	char *t;

	if (!v || json_is_null(v)) {
		snprintf(buf, size, "-");
	} else if (json_is_string(v)) {
		snprintf(buf, size, "%s", json_string_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, size, "%.1f", json_real_value(v));
	} else {
		t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(buf, size, "%s", t ? t : "?");
		free(t);
	}
}

int sb_ctl_print_calls(const char *json)
{
	static const char *const cols[] = {"id", "state", "age_s", "trunk",      "from",
	                                   "to", "bot",   "codec", "packets_in", "packets_out"};
	static const char *const heads[] = {"ID", "STATE", "AGE",   "TRUNK", "FROM",
	                                    "TO", "BOT",   "CODEC", "IN",    "OUT"};
	static const int widths[] = {-32, -11, 7, -16, -16, -16, -16, -5, 8, 8};
	json_t *a = json_loads(json, 0, NULL), *c;
	char cell[256];
	size_t i;

	if (!json_is_array(a)) {
		json_decref(a);
		return -EINVAL;
	}
	for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
		printf("%*s%s", widths[k], heads[k],
		       k + 1 < sizeof(cols) / sizeof(cols[0]) ? " " : "\n");
	json_array_foreach(a, i, c)
	{
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
			member_text(c, cols[k], cell, sizeof(cell));
			printf("%*s%s", widths[k], cell,
			       k + 1 < sizeof(cols) / sizeof(cols[0]) ? " " : "\n");
		}
	}
	printf("%zu call(s)\n", json_array_size(a));
	json_decref(a);
	return 0;
}

int sb_ctl_print_call(const char *json)
{
	json_t *o = json_loads(json, 0, NULL), *v;
	const char *key;
	char cell[1024];

	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	json_object_foreach(o, key, v)
	{
		member_text(o, key, cell, sizeof(cell));
		printf("%-12s %s\n", key, cell);
	}
	json_decref(o);
	return 0;
}

/* One sample line "name{labels} value" into its two parts. */
static int split_sample(char *line, char **name, char **value)
{
	char *sp = strrchr(line, ' ');

	if (!sp || sp == line)
		return -EINVAL;
	*sp = '\0';
	*name = line;
	*value = sp + 1;
	return 0;
}

int sb_ctl_print_stats(const char *text, int as_json)
{
	char *copy = strdup(text), *save = NULL, *line, *name, *value;
	json_t *o = as_json ? json_object() : NULL;
	int r = 0;

	if (!copy || (as_json && !o)) {
		free(copy);
		json_decref(o);
		return -ENOMEM;
	}
	for (line = strtok_r(copy, "\n", &save); line && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		r = split_sample(line, &name, &value);
		if (r == 0 && as_json)
			r = json_object_set_new(o, name, json_real(strtod(value, NULL)));
		else if (r == 0)
			printf("%-64s %s\n", name, value);
	}
	if (r == 0 && as_json) {
		char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (t)
			printf("%s\n", t);
		free(t);
	}
	json_decref(o);
	free(copy);
	return r < 0 ? -EINVAL : 0;
}

char *sb_ctl_error_text(const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	const char *e = json_string_value(json_object_get(o, "error"));
	char *t = e ? strdup(e) : NULL;

	json_decref(o);
	return t;
}

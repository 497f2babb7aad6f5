/* The calls snapshot the admin API serves: control builds it (one JSON object per call, kept
 * as one array text) and publishes it; the admin thread reads it until a newer one replaces
 * it. Immutable once published, refcounted. Pure. Thread: any. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/admin.h>

struct sb_admin_calls *sb_admin_calls_new(size_t max)
{
	struct sb_admin_calls *s = calloc(1, sizeof(*s) + max * sizeof(s->calls[0]));

	if (!s)
		return NULL;
	s->json_size = 256;
	s->json = malloc(s->json_size);
	if (!s->json) {
		free(s);
		return NULL;
	}
	memcpy(s->json, "[]", 3);
	s->json_len = 2;
	s->max = max;
	atomic_init(&s->refs, 1);
	return s;
}

int sb_admin_calls_add(struct sb_admin_calls *s, const char *id, const char *obj)
{
	size_t len = strlen(obj), need = s->json_len + len + 2;
	struct sb_admin_call *c;

	if (s->n >= s->max)
		return -ENOSPC;
	if (need > s->json_size) {
		size_t size = need * 2;
		char *p = realloc(s->json, size);

		if (!p)
			return -ENOMEM;
		s->json = p;
		s->json_size = size;
	}
	/* "[a]" becomes "[a,b]": the closing bracket moves behind the new object. */
	s->json_len--;
	if (s->n)
		s->json[s->json_len++] = ',';
	c = &s->calls[s->n++];
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->off = s->json_len;
	c->len = len;
	memcpy(s->json + s->json_len, obj, len);
	s->json_len += len;
	memcpy(s->json + s->json_len, "]", 2);
	s->json_len++;
	return 0;
}

struct sb_admin_calls *sb_admin_calls_ref(struct sb_admin_calls *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

struct sb_admin_calls *sb_admin_calls_unref(struct sb_admin_calls *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return NULL;
	free(s->json);
	free(s);
	return NULL;
}

const struct sb_admin_call *sb_admin_calls_find(const struct sb_admin_calls *s, const char *id)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->calls[i].id, id) == 0)
			return &s->calls[i];
	return NULL;
}

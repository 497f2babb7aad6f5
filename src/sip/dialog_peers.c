/* The bridge's own dialogs with peers outside the ACLs: a hash table by Call-ID (FNV-1a, in
 * buckets of chained entries kept in one array), grown by doubling up to the caller's bound.
 * Pure: no I/O, no locks. Thread: the owner's. Owns its arrays. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sb/dialog_peers.h>

#define FIRST_CAP 16 /* entries of the first allocation: a handful of transfers at once */

static uint64_t hash_of(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* sa's address as a host CIDR; an IPv4-mapped IPv6 address as IPv4, as sb_cidr_match reads
 * it. */
static int host_cidr(const struct sockaddr *sa, struct sb_cidr *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET) {
		out->family = AF_INET;
		out->prefix = 32;
		memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		out->family = AF_INET;
		out->prefix = 32;
		memcpy(out->addr, s6->sin6_addr.s6_addr + 12, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		out->family = AF_INET6;
		out->prefix = 128;
		memcpy(out->addr, s6->sin6_addr.s6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

void sb_dialog_peers_init(struct sb_dialog_peers *p)
{
	memset(p, 0, sizeof(*p));
	p->free = -1;
}

void sb_dialog_peers_done(struct sb_dialog_peers *p)
{
	free(p->v);
	free(p->buckets);
	sb_dialog_peers_init(p);
}

/* The entry of call_id, or -1; *link (when given) points at the index that leads to it. */
static int32_t find(const struct sb_dialog_peers *p, const char *id, size_t len, uint64_t h,
                    int32_t **link)
{
	int32_t *at;

	if (!p->cap)
		return -1;
	for (at = &p->buckets[h & (p->cap - 1)]; *at >= 0; at = &p->v[*at].next) {
		const struct sb_dialog_peer *e = &p->v[*at];

		if (e->hash == h && e->id_len == len && memcmp(e->id, id, len) == 0) {
			if (link)
				*link = at;
			return *at;
		}
	}
	return -1;
}

/* Doubles the table (or makes the first one), rehashing what it holds. */
static int grow(struct sb_dialog_peers *p)
{
	size_t cap = p->cap ? p->cap * 2 : FIRST_CAP;
	struct sb_dialog_peer *v;
	int32_t *buckets;

	if (cap > INT32_MAX)
		return -ENOMEM;
	buckets = malloc(cap * sizeof(*buckets));
	v = buckets ? realloc(p->v, cap * sizeof(*v)) : NULL;
	if (!v) {
		free(buckets);
		return -ENOMEM;
	}
	p->v = v;
	for (size_t i = 0; i < cap; i++)
		buckets[i] = -1;
	for (size_t i = 0; i < p->cap; i++) {
		if (!v[i].used)
			continue;
		v[i].next = buckets[v[i].hash & (cap - 1)];
		buckets[v[i].hash & (cap - 1)] = (int32_t)i;
	}
	for (size_t i = cap; i-- > p->cap;) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].next = p->free;
		p->free = (int32_t)i;
	}
	free(p->buckets);
	p->buckets = buckets;
	p->cap = cap;
	return 0;
}

int sb_dialog_peers_set(struct sb_dialog_peers *p, const char *call_id, size_t len,
                        const struct sockaddr *sa, bool stream, size_t max)
{
	uint64_t h = hash_of(call_id, len);
	struct sb_cidr addr;
	struct sb_dialog_peer *e;
	int32_t i;
	int r;

	if (len > SB_DIALOG_PEERS_CALL_ID_MAX)
		return -E2BIG;
	r = host_cidr(sa, &addr);
	if (r < 0)
		return r;
	i = find(p, call_id, len, h, NULL);
	if (i >= 0) {
		p->v[i].addr = addr;
		p->v[i].stream = stream;
		return 0;
	}
	if (p->n >= max)
		return -ENOSPC;
	if (p->free < 0 && (r = grow(p)) < 0)
		return r;
	i = p->free;
	e = &p->v[i];
	p->free = e->next;
	*e = (struct sb_dialog_peer){.hash = h, .used = true, .stream = stream, .addr = addr};
	e->id_len = (uint8_t)len;
	memcpy(e->id, call_id, len);
	e->next = p->buckets[h & (p->cap - 1)];
	p->buckets[h & (p->cap - 1)] = i;
	p->n++;
	return 0;
}

int sb_dialog_peers_remove(struct sb_dialog_peers *p, const char *call_id, size_t len)
{
	int32_t *link = NULL;
	int32_t i = find(p, call_id, len, hash_of(call_id, len), &link);

	if (i < 0)
		return -ENOENT;
	*link = p->v[i].next;
	memset(&p->v[i], 0, sizeof(p->v[i]));
	p->v[i].next = p->free;
	p->free = i;
	p->n--;
	return 0;
}

bool sb_dialog_peers_match(const struct sb_dialog_peers *p, const char *call_id, size_t len,
                           const struct sockaddr *sa)
{
	int32_t i;

	if (!p->n || len > SB_DIALOG_PEERS_CALL_ID_MAX)
		return false;
	i = find(p, call_id, len, hash_of(call_id, len), NULL);
	return i >= 0 && sb_cidr_match(&p->v[i].addr, sa);
}

bool sb_dialog_peers_has_addr(const struct sb_dialog_peers *p, const struct sockaddr *sa,
                              bool stream_only)
{
	for (size_t i = 0; p->n && i < p->cap; i++)
		if (p->v[i].used && (p->v[i].stream || !stream_only) &&
		    sb_cidr_match(&p->v[i].addr, sa))
			return true;
	return false;
}

size_t sb_dialog_peers_stream_addrs(const struct sb_dialog_peers *p, struct sb_cidr *out,
                                    size_t max, bool (*skip)(const struct sb_cidr *addr, void *arg),
                                    void *arg)
{
	size_t n = 0;

	for (size_t i = 0; p->n && i < p->cap; i++) {
		const struct sb_dialog_peer *e = &p->v[i];
		bool dup = false;

		if (!e->used || !e->stream || (skip && skip(&e->addr, arg)))
			continue;
		for (size_t j = 0; j < n && !dup; j++) /* few distinct addresses: a carrier's */
			dup = sb_cidr_equal(&out[j], &e->addr);
		if (dup)
			continue;
		if (n == max)
			return max + 1;
		out[n++] = e->addr;
	}
	return n;
}

/* CIDR parsing, formatting and matching for the SIP source allow lists.
 * Pure: no I/O, no locks. Thread: any (control parses at config load and matches per INVITE).
 * Owns nothing; callers own every struct sb_cidr. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <sb/acl.h>

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses the decimal prefix length: digits only, no sign, no leading garbage. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (!*s || strlen(s) > 3)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* True when any bit past the first prefix bits of addr is set. */
static bool host_bits_set(const uint8_t *addr, unsigned len, unsigned prefix)
{
	for (unsigned bit = prefix; bit < len * 8; bit++) {
		if (addr[bit / 8] & (0x80u >> (bit % 8)))
			return true;
	}
	return false;
}

int sb_cidr_parse(struct sb_cidr *out, const char *text)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	struct sb_cidr c = {0};
	unsigned len, prefix;
	size_t hlen;

	if (!out || !text)
		return -EINVAL;
	slash = strchr(text, '/');
	hlen = slash ? (size_t)(slash - text) : strlen(text);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';

	if (inet_pton(AF_INET, host, c.addr) == 1) {
		c.family = AF_INET;
		len = 4;
	} else if (inet_pton(AF_INET6, host, c.addr) == 1) {
		c.family = AF_INET6;
		len = 16;
	} else {
		return -EINVAL;
	}
	prefix = len * 8;
	if (slash && parse_prefix(slash + 1, len * 8, &prefix) < 0)
		return -EINVAL;
	if (host_bits_set(c.addr, len, prefix))
		return -EINVAL;
	c.prefix = (uint8_t)prefix;

	/* "::ffff:10.0.0.0/104" is stored as 10.0.0.0/8: sources in the mapped form are matched
	 * as IPv4 too, so both spellings mean the same thing. */
	if (c.family == AF_INET6 && c.prefix >= 96 &&
	    memcmp(c.addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		c.prefix -= 96;
	}
	*out = c;
	return 0;
}

/* Compares the first prefix bits of a and b. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool sb_cidr_equal(const struct sb_cidr *a, const struct sb_cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

bool sb_cidr_match(const struct sb_cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;

	if (!c || !sa)
		return false;
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)sa;
		return c->family == AF_INET &&
		       prefix_equal(c->addr, (const uint8_t *)&s4->sin_addr, c->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return c->family == AF_INET &&
		       prefix_equal(c->addr, s6->sin6_addr.s6_addr + 12, c->prefix);
	return c->family == AF_INET6 && prefix_equal(c->addr, s6->sin6_addr.s6_addr, c->prefix);
}

bool sb_acl_match(const struct sb_cidr *list, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++) {
		if (sb_cidr_match(&list[i], sa))
			return true;
	}
	return false;
}

char *sb_cidr_format(const struct sb_cidr *c, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (!buf || size == 0)
		return buf;
	if (!c || !inet_ntop(c->family, c->addr, host, sizeof(host))) {
		snprintf(buf, size, "?");
		return buf;
	}
	snprintf(buf, size, "%s/%u", host, (unsigned)c->prefix);
	return buf;
}

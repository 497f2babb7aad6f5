/* CIDR allow lists for SIP sources (IPv4, IPv6, IPv4-mapped IPv6). Pure. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sb_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order, host bits zeroed */
	uint8_t prefix;   /* 0..32 or 0..128 */
};

/* Parses "10.0.0.0/8", "203.0.113.5" (/32 implied), "::1", "2001:db8::/32". Host bits set
 * beyond the prefix are an error ("10.0.0.1/8"). Returns 0 or -EINVAL. */
int sb_cidr_parse(struct sb_cidr *out, const char *text);
/* True when sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address is matched as IPv4) lies
 * inside c. */
bool sb_cidr_match(const struct sb_cidr *c, const struct sockaddr *sa);
/* True when a and b are the same block (family, prefix and address). */
bool sb_cidr_equal(const struct sb_cidr *a, const struct sb_cidr *b);
/* True when sa lies inside any of the n entries. */
bool sb_acl_match(const struct sb_cidr *list, size_t n, const struct sockaddr *sa);
/* Writes "10.0.0.0/8" form into buf; returns buf. */
char *sb_cidr_format(const struct sb_cidr *c, char *buf, size_t size);

/* A start-up check that an address and port can be bound, with a socket of our own, so that a
 * listener that fails to bind (sofia's, lws's, neither of which reports the errno) can name the
 * real cause. Thread: any (start-up only). */
#pragma once

#include <stdint.h>

/* Binds (and for SOCK_STREAM, listens on) a socket of type on the numeric address addr (borrowed)
 * and port, with SO_REUSEADDR on streams and IPV6_V6ONLY on IPv6 (not on an IPv4-mapped address,
 * which binds only without it), and closes it. Nothing is sent. Returns 0 or a negative errno:
 * -EINVAL for an addr that is not a numeric IPv4 or IPv6 address (a host name is not resolved). */
int sb_bind_probe(const char *addr, uint16_t port, int type);

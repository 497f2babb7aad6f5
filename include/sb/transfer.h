/* Blind and bridged transfer, the parts that are text: checking a target the bot names,
 * building the Refer-To with the bot's headers as URI headers, reading a NOTIFY's sipfrag, the
 * transport a target asks for, and the host name a bridged transfer looks up with the proxy
 * URL for its address. Pure. Thread: any (control uses it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <sb/route.h>

#define SB_TRANSFER_URI_MAX 256      /* bytes of a transfer target */
#define SB_TRANSFER_HEADERS_MAX 3    /* X- headers a transfer carries, as StreamKit's does */
#define SB_TRANSFER_HEADER_BYTES 200 /* their names and values together */

/* 0 when uri is a usable transfer target: "sip:" or "sips:" (any case), then a host (after an
 * optional user@), at most SB_TRANSFER_URI_MAX bytes of printable ASCII without blanks, '<',
 * '>', '"' or '\\'. -EINVAL otherwise. */
int sb_transfer_check_target(const char *uri);

/* Picks the headers a transfer carries from the bot's (n pairs), in order: X- names only,
 * none starting with X-Exotel-, X-Veeno-, Exotel- or Veeno- (any case), the first of a name,
 * at most SB_TRANSFER_HEADERS_MAX whose names and values total at most
 * SB_TRANSFER_HEADER_BYTES (one that does not fit is left out, later smaller ones may still
 * fit). Writes pointers into in to out (room for SB_TRANSFER_HEADERS_MAX); returns the count
 * and sets *dropped to how many were left out. */
size_t sb_transfer_headers(const struct sb_kv *in, size_t n, struct sb_kv *out, size_t *dropped);

/* Writes the Refer-To value "<target?name=value&...>" (a target that already has URI headers
 * gets "&name=value"), names and values escaped as RFC 3261 19.1.1 asks (hnv-unreserved and
 * unreserved characters stay, the rest is %XX). The target must have passed
 * sb_transfer_check_target. Returns the length (NUL-terminated) or -ENOSPC. */
int sb_transfer_refer_to(char *buf, size_t size, const char *target, const struct sb_kv *headers,
                         size_t n);

/* The status line of a message/sipfrag body ("SIP/2.0 486 Busy Here"): returns the status
 * (100-699) and copies the reason phrase (possibly empty) into phrase; -EBADMSG when the body
 * does not start with a status line. */
int sb_transfer_sipfrag(const char *body, size_t len, char *phrase, size_t phrase_size);

/* The transport a target names: "tcp" or "tls" by its ;transport= parameter, "tls" for sips:,
 * else "udp". */
const char *sb_transfer_transport(const char *uri);

/* The host of target (which passed sb_transfer_check_target) when it is a name followed by an
 * explicit port: copies the name into host (size bytes) and returns the port (1-65535). 0 when
 * the host is a numeric address (IPv4, or an IPv6 reference in brackets), when it has no port
 * (SRV records may apply) or an maddr parameter, when the name does not fit or the port is not
 * 1-65535. */
unsigned sb_transfer_named_host(const char *target, char *host, size_t size);

/* The host of target (which passed sb_transfer_check_target) when it is a numeric address:
 * copies it into buf (size bytes; an IPv6 reference without its brackets) and returns true;
 * false for a host name, or when it does not fit. */
bool sb_transfer_numeric_host(const char *target, char *buf, size_t size);

/* The outbound proxy URL that sends the requests for target to addr (a numeric address the
 * name host, found with port by sb_transfer_named_host, resolved to):
 * "sip:HOST:PORT;transport=T;maddr=ADDR", an IPv6 ADDR in brackets, T as
 * sb_transfer_transport gives it. Returns the length (NUL-terminated) or -ENOSPC. */
int sb_transfer_proxy(char *buf, size_t size, const char *target, const char *host, unsigned port,
                      const char *addr);

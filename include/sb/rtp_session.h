/* RTP sockets and packets: port allocation in the configured range, header parsing and
 * building. Thread: control (open), media (the rest). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sb/config.h>

#define SB_RTP_HEADER_BYTES 12
#define SB_RTP_MAX_PACKET 1500

struct sb_rtp_header {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	const uint8_t *payload;
	size_t payload_len;
};

/* Thread: control. Binds two non-blocking UDP sockets of the given family, RTP on an even port
 * of [rtp_port_min, rtp_port_max] picked at random (then the next free pair) and RTCP on the
 * odd port above it. Returns the RTP fd with *port and *rtcp_fd set; -EADDRNOTAVAIL when
 * every pair is taken, -EAFNOSUPPORT when rtp.address is of the other family, or another
 * negative errno. */
int sb_rtp_socket_open(const struct sb_config *cfg, int family, uint16_t *port, int *rtcp_fd);
/* Thread: any. Parses an RTP packet (version 2, CSRCs, extension and padding skipped).
 * Returns 0 or -EBADMSG. Pure. */
int sb_rtp_parse(const uint8_t *buf, size_t len, struct sb_rtp_header *h);
/* Thread: any. Writes a 12-byte header into buf. Pure. */
void sb_rtp_write_header(uint8_t *buf, const struct sb_rtp_header *h);
/* Thread: any. Fills ss with the numeric address addr (of family) and port. Returns 0 or
 * -EINVAL. Pure. */
int sb_sockaddr_make(int family, const char *addr, uint16_t port, struct sockaddr_storage *ss,
                     socklen_t *len);
/* Thread: any. The numeric address of sa (IPv4 or IPv6) into buf, or "?"; returns buf. Pure. */
const char *sb_sockaddr_text(const struct sockaddr *sa, char *buf, size_t size);
/* Thread: any. The IPv4 address v4 as the IPv4-mapped IPv6 address an IPv6 socket uses, into
 * out; returns its length. Pure. */
socklen_t sb_sockaddr_v4mapped(const struct sockaddr *v4, struct sockaddr_storage *out);
/* Thread: any. The port of sa (IPv4 or IPv6) in host order; 0 for other families. Pure. */
uint16_t sb_sockaddr_port(const struct sockaddr *sa);
/* Thread: any. Whether a and b hold the same host address, an IPv4 one also in its
 * IPv4-mapped IPv6 form; ports are not compared. Pure. */
bool sb_sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b);
/* Thread: any. The same address (as sb_sockaddr_same_ip) and port. Pure. */
bool sb_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b);
/* Thread: control. The local address the kernel would use to reach the numeric address
 * `remote` (a connected UDP socket; nothing is sent). Returns 0 or a negative errno. */
int sb_local_addr_for(int family, const char *remote, char *buf, size_t size);

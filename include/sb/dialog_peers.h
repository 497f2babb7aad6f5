/* The bridge's own dialogs with peers that may stand outside every trunk's ACL (the agent a
 * bridged transfer dials): each dialog's Call-ID with the IP address its peer answers from.
 * The SIP guard lets a request through when its Call-ID names one of these dialogs and it
 * comes from that dialog's address, at any port. A hash table by Call-ID that grows to the
 * bound its caller gives; no allocation per lookup. Pure. Thread: any (one owner at a time:
 * the SIP guard's, on the control thread). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sb/acl.h>

#define SB_DIALOG_PEERS_CALL_ID_MAX 128 /* longest Call-ID kept (the bridge's own are ~40) */

struct sb_dialog_peer {
	uint64_t hash;       /* of the Call-ID */
	int32_t next;        /* the next entry in its bucket, or on the free list; -1: none */
	bool used;           /* in a bucket (else on the free list) */
	bool stream;         /* the peer answered over TCP or TLS */
	struct sb_cidr addr; /* the peer's address as a /32 or /128 (IPv4-mapped: IPv4) */
	uint8_t id_len;
	char id[SB_DIALOG_PEERS_CALL_ID_MAX];
};

struct sb_dialog_peers {
	struct sb_dialog_peer *v; /* cap entries */
	int32_t *buckets;         /* cap heads (cap a power of two), -1: empty */
	size_t n, cap;
	int32_t free; /* the first unused entry, or -1 */
};

/* An empty set; nothing is allocated until the first sb_dialog_peers_set(). */
void sb_dialog_peers_init(struct sb_dialog_peers *p);
/* Frees everything p holds; p is empty again. */
void sb_dialog_peers_done(struct sb_dialog_peers *p);
/* Notes that the dialog call_id[0..len)'s peer is at sa's address (AF_INET or AF_INET6; the
 * port is not kept), over a stream transport or not; a dialog already in the set gets the new
 * address. The set holds at most max dialogs. Returns 0, -ENOSPC at max, -E2BIG for a Call-ID
 * over SB_DIALOG_PEERS_CALL_ID_MAX, -EAFNOSUPPORT or -ENOMEM; p is unchanged on failure. */
int sb_dialog_peers_set(struct sb_dialog_peers *p, const char *call_id, size_t len,
                        const struct sockaddr *sa, bool stream, size_t max);
/* Takes the dialog call_id[0..len) out of the set. Returns 0 or -ENOENT. */
int sb_dialog_peers_remove(struct sb_dialog_peers *p, const char *call_id, size_t len);
/* Whether the dialog call_id[0..len) is in the set with its peer at sa's address (any port). */
bool sb_dialog_peers_match(const struct sb_dialog_peers *p, const char *call_id, size_t len,
                           const struct sockaddr *sa);
/* Whether some dialog's peer is at sa's address (any port); stream_only: one that answered
 * over TCP or TLS. A scan of the set: for rare events. */
bool sb_dialog_peers_has_addr(const struct sb_dialog_peers *p, const struct sockaddr *sa,
                              bool stream_only);
/* Writes the distinct addresses of the peers that answered over TCP or TLS to out (room for
 * max; the first max found), leaving out those for which skip(addr, arg) is true (skip may be
 * NULL). Returns how many were written, or max + 1 when there are more. */
size_t sb_dialog_peers_stream_addrs(const struct sb_dialog_peers *p, struct sb_cidr *out,
                                    size_t max, bool (*skip)(const struct sb_cidr *addr, void *arg),
                                    void *arg);

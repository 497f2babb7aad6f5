/* Host name resolution off the asking thread (a ws worker for bot hosts, the webhook thread for
 * the webhook's): a small pool of threads that call a blocking resolve function (getaddrinfo)
 * and post each outcome as a message on a queue, whose wake-up brings the owner round. A slow DNS
 * server delays only the names it serves, as long as fewer than SB_RESOLVER_MAX_THREADS names are
 * stuck at once. Thread: its own pool; ask and free from the owner. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>

#include <sb/mq.h>

/* Threads a resolver grows to while every one of its threads is resolving and names wait. */
#define SB_RESOLVER_MAX_THREADS 8
/* Names waiting for a thread (not yet being resolved) before an ask is refused (-ENOBUFS). */
#define SB_RESOLVER_MAX_WAITING 1024

struct sb_resolver;

/* Resolves host to one numeric address (addr, addrlen bytes). Returns 0 or an EAI_* code.
 * Called on a resolver thread; may block. */
typedef int sb_resolve_fn(const char *host, char *addr, size_t addrlen);

/* Thread: any. The default sb_resolve_fn: getaddrinfo() for a TCP address, first answer. */
int sb_resolve_getaddrinfo(const char *host, char *addr, size_t addrlen);
/* Thread: any. An sb_resolve_fn for a key "4 HOST" or "6 HOST" (a bridged transfer's agent):
 * getaddrinfo() for HOST, the first address of that family (IPv4 or IPv6; a scoped one is
 * skipped); EAI_FAMILY when HOST has addresses but none of that family. */
int sb_resolve_in_family(const char *key, char *addr, size_t addrlen);

/* Thread: owner. Starts `threads` threads resolving with fn (at most SB_RESOLVER_MAX_THREADS;
 * 0 starts none until the first ask; an ask that finds them all busy starts one more, up to
 * that bound); each outcome is pushed to out as a message with text = the host name, data =
 * the numeric address (char *, NULL on failure) and arg = the EAI_* code. out must outlive the
 * resolver's free. gauge (borrowed, NULL for none) counts the lookups running; a stuck lookup
 * may outlive the resolver, so it must live as long as the process (a metric). Returns 0 or
 * -errno. */
int sb_resolver_new(struct sb_resolver **ret, unsigned threads, sb_resolve_fn *fn,
                    struct sb_mq *out, atomic_uint_fast64_t *gauge);
/* Thread: owner. Queues host (copied) for resolution, unless it waits or is being resolved
 * already: then its one outcome is still to come, however long the lookup takes. Never blocks
 * on a lookup. Returns 0, -ENOBUFS when too many names wait, -ENOMEM. */
int sb_resolver_ask(struct sb_resolver *r, const char *host);
/* Thread: owner. Stops posting at once and lets the threads go: one stuck in a lookup
 * finishes it on its own and frees what is left. Accepts NULL; returns NULL. */
struct sb_resolver *sb_resolver_free(struct sb_resolver *r);

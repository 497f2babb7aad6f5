/* The libwebsockets client context the ws workers and the webhook thread each run: no listening
 * port; for an https webhook, the system CA store or one CA file loaded. Thread: any (the context
 * is then used by the one thread that services it). Also where lws's own log lines go, for every
 * lws context. */
#pragma once

struct lws_context;
struct lws_protocols;

/* Creates a client-only context for protocols (borrowed; they must outlive the context), with
 * user as the context's user pointer. fd_limit_per_thread bounds the descriptors lws sizes its
 * tables for; 0 leaves lws's default (the process's whole descriptor limit). With ev_loop (a
 * libev loop, borrowed: it must outlive the context) lws runs its sockets on that loop through
 * its libev plugin, and the caller runs the loop instead of lws_service(); NULL keeps lws's
 * own poll() loop. tls_ca (borrowed, read during the call) says whether lws's TLS is used at
 * all: NULL makes no TLS client context (nor loads the system CA store: about 1.3 MiB per
 * context); "" trusts the system store; a path names a PEM file of the CAs trusted instead of
 * it. lws only logs a file it cannot load, and then trusts nothing. Returns the context (free it
 * with lws_context_destroy()) or NULL, which with ev_loop may mean that the plugin
 * (libwebsockets-evlib-ev) is not installed. */
struct lws_context *sb_lws_client_new(const struct lws_protocols *protocols, void *user,
                                      unsigned fd_limit_per_thread, void *ev_loop,
                                      const char *tls_ca);
/* Thread: control, before any thread that uses lws starts. Routes lws's error and warning
 * lines into the daemon's log (subsystem "lws"), filtered by the daemon's current level. */
void sb_lws_log_init(void);

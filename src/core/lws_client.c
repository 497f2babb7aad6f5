/* The libwebsockets client context shared by the ws workers and the webhook thread: one place
 * that sets a client-only context up the same way for both. Thread: any (creation only). */
#include <libwebsockets.h>

#include <sb/lws_client.h>

struct lws_context *sb_lws_client_new(const struct lws_protocols *protocols, void *user,
                                      unsigned fd_limit_per_thread, void *ev_loop)
{
	struct lws_context_creation_info info = {0};
	void *loops[1] = {ev_loop};

	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = user;
	/* Loads the system CA store into the default vhost's client context. */
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.fd_limit_per_thread = fd_limit_per_thread;
	if (ev_loop) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = loops;
	}
	return lws_create_context(&info);
}

/* The libwebsockets client context shared by the ws workers and the webhook thread: one place
 * that sets a client-only context up the same way for both; and lws's own log lines, routed
 * into ours. Thread: any (creation only); the log setup before any lws thread starts. */
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>

#define LOG_SUBSYS "lws"
#include <sb/log.h>

#include <sb/lws_client.h>

/* lws's errors are our warnings; its warnings our debug lines. The choice is made here, per
 * line, against our level (an atomic), so a reload's new level applies to lws too. */
static void lws_emit(int level, const char *line)
{
	int ours = level == LLL_ERR ? SB_LOG_WARN : SB_LOG_DEBUG;
	size_t n = strlen(line);

	if (!sb_log_enabled(ours))
		return;
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	sb_log_write(ours, LOG_SUBSYS, "%.*s", (int)n, line);
}

void sb_lws_log_init(void)
{
	/* lws keeps its level and sink in plain process-wide variables that every lws thread
	 * (ws workers, webhook, admin) reads without a lock: they are set once, before any of
	 * those threads exists, never changed afterwards. */
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}

struct lws_context *sb_lws_client_new(const struct lws_protocols *protocols, void *user,
                                      unsigned fd_limit_per_thread, void *ev_loop,
                                      const char *tls_ca)
{
	struct lws_context_creation_info info = {0};
	void *loops[1] = {ev_loop};

	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = user;
	/* Without this option lws makes no client SSL_CTX: the ws workers' wss sessions are the
	 * bridge's own (tls_client.c), and a plain http webhook needs none. */
	if (tls_ca)
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (tls_ca && tls_ca[0]) {
		/* A CA file alone: lws would load the system store beside it. */
		info.client_ssl_ca_filepath = tls_ca;
		info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	}
	info.fd_limit_per_thread = fd_limit_per_thread;
	if (ev_loop) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = loops;
	}
	return lws_create_context(&info);
}

/* sip.listen → the URLs nua binds to: "sip:ADDR:PORT" for udp and tcp (no transport parameter:
 * nta binds both), "sips:ADDR:PORT" for tls; with sip.public_address the host part is the
 * public address and maddr the bound one (1:1 NAT). A tls entry also gets its certificate
 * directory (agent.pem = key + cert, cafile.pem = ca, else cert) for TPTAG_CERTIFICATE. Each
 * entry's port is probed before nua binds it. config_listen.c has checked the entries.
 * Thread: control (start-up, exit). Owns the directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_SUBSYS "sip"
#include <sb/log.h>

#include <sb/bind_probe.h>
#include <sb/rtp_session.h>
#include <sb/tls_dir.h>

#include "sip_listen.h"

static void make_url(char *buf, size_t size, const char *scheme, const struct sb_config *cfg,
                     const struct sb_listen *l, const char *tp)
{
	const char *pub = cfg->sip_public_address;
	bool v6 = strchr(l->address, ':') != NULL, pub_v6 = strchr(pub, ':') != NULL;

	if (!pub[0])
		snprintf(buf, size, "%s:%s%s%s:%u%s", scheme, v6 ? "[" : "", l->address,
		         v6 ? "]" : "", l->port, tp);
	else
		snprintf(buf, size, "%s:%s%s%s:%u;maddr=%s%s%s%s", scheme, pub_v6 ? "[" : "", pub,
		         pub_v6 ? "]" : "", l->port, v6 ? "[" : "", l->address, v6 ? "]" : "", tp);
}

/* The start-up snapshot's strings are not kept: a reload frees that snapshot. */
static int prepare_tls(struct sb_sip_listen *l, const struct sb_listen *t)
{
	char err[512];
	int r;

	l->tls = true;
	l->verify_client = t->verify_client;
	l->tls_port = t->port;
	snprintf(l->tls_address, sizeof(l->tls_address), "%s", t->address);
	r = sb_tls_dir_new(&l->tls_dir, t->key, t->cert, t->ca, err, sizeof(err));
	if (r < 0)
		return log_error_errno(r, "Cannot prepare the TLS certificate: %s", err);
	return 0;
}

int sb_sip_listen_prepare(struct sb_sip_listen *l, const struct sb_config *cfg)
{
	const struct sb_listen *prim = NULL, *tls = NULL;
	bool udp = false, tcp = false;
	const char *tp;

	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct sb_listen *e = &cfg->listen[i];

		if (e->transport == SB_TP_TLS) {
			tls = e;
			continue;
		}
		prim = prim ? prim : e;
		udp |= e->transport == SB_TP_UDP;
		tcp |= e->transport == SB_TP_TCP;
	}
	tp = udp && tcp ? "" : udp ? ";transport=udp" : ";transport=tcp";
	if (prim) {
		make_url(l->url, sizeof(l->url), "sip", cfg, prim, tp);
		l->port = prim->port;
		snprintf(l->address, sizeof(l->address), "%s", prim->address);
		snprintf(l->tp, sizeof(l->tp), "%s", tp);
	}
	if (!tls)
		return 0;
	make_url(prim ? l->sips : l->url, prim ? sizeof(l->sips) : sizeof(l->url), "sips", cfg, tls,
	         "");
	if (!prim)
		l->port = tls->port;
	return prepare_tls(l, tls);
}

void sb_sip_listen_contact(const struct sb_sip_listen *l, const char *public_address,
                           enum sb_transport tp, const char *toward, char *buf, size_t size)
{
	bool tls = tp == SB_TP_TLS;
	const char *bound = tls ? l->tls_address : l->address;
	const char *param = tls ? ";transport=tls" : tp == SB_TP_TCP ? ";transport=tcp" : l->tp;
	const char *host = NULL;
	char local[INET6_ADDRSTRLEN];
	bool bracket;

	buf[0] = '\0';
	if (tls ? !l->tls : !l->address[0])
		return; /* no listener of that transport */
	if (tp == SB_TP_TCP && !strcmp(l->tp, ";transport=udp"))
		return;
	if (tp == SB_TP_UDP && !l->tls)
		return; /* nua's own Contact is right */
	if (public_address[0])
		host = public_address;
	else if (!sb_addr_unspecified(bound))
		host = bound;
	else if (toward && sb_local_addr_for(strchr(toward, ':') ? AF_INET6 : AF_INET, toward,
	                                     local, sizeof(local)) == 0)
		host = local; /* looked up only here, where it is needed */
	if (!host || strlen(host) > size / 2 || strpbrk(host, "<>\"; \t\r\n"))
		return;
	bracket = strchr(host, ':') && host[0] != '[';
	snprintf(buf, size, "<sip:%s%s%s:%u%s>", bracket ? "[" : "", host, bracket ? "]" : "",
	         tls ? l->tls_port : l->port, param);
}

int sb_sip_listen_probe(const struct sb_config *cfg)
{
	static const char *const names[] = {
	        [SB_TP_UDP] = "udp", [SB_TP_TCP] = "tcp", [SB_TP_TLS] = "tls"};

	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct sb_listen *e = &cfg->listen[i];
		bool v6 = strchr(e->address, ':') != NULL;
		int r;

		if (!e->port)
			continue;
		r = sb_bind_probe(e->address, e->port,
		                  e->transport == SB_TP_UDP ? SOCK_DGRAM : SOCK_STREAM);
		if (r < 0)
			return log_error_errno(r, "Cannot listen for SIP on %s %s%s%s:%u%s",
			                       names[e->transport], v6 ? "[" : "", e->address,
			                       v6 ? "]" : "", e->port,
			                       r == -EADDRINUSE ? " (in use?)" : "");
	}
	return 0;
}

void sb_sip_listen_done(struct sb_sip_listen *l)
{
	l->tls_dir = sb_tls_dir_free(l->tls_dir);
}

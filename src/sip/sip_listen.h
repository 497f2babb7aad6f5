/* sip.listen as nua takes it: the primary URL (udp and tcp on one address and port), the sips
 * URL of a tls entry, and the private certificate directory sofia's TLS transport reads. Used
 * by sip_agent.c only. Thread: control. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <sb/config.h>

struct sb_sip_listen {
	char url[300];  /* NUTAG_URL: sip: (udp/tcp), or the sips: one when there is no other */
	char sips[300]; /* NUTAG_SIPS_URL: the tls entry's, "" when none or already in url */
	bool tls, verify_client; /* a tls entry; it asks for client certificates */
	char tls_address[64];    /* its address (numeric) */
	uint16_t port, tls_port; /* the udp/tcp port and the tls port (0: none) */
	char *tls_dir;           /* TPTAG_CERTIFICATE directory, NULL without tls */
};

/* Builds the URLs from cfg; with a tls entry also the certificate directory (main has made
 * TLS 1.2 the least version). Logs the reason and returns a negative errno on failure;
 * sb_sip_listen_done is needed either way. */
int sb_sip_listen_prepare(struct sb_sip_listen *l, const struct sb_config *cfg);
/* Whether every sip.listen entry's address and port can be bound as sofia binds them; logs
 * the first that cannot and returns its negative errno (-EADDRINUSE: the port is taken). */
int sb_sip_listen_probe(const struct sb_config *cfg);
/* Removes the certificate directory. */
void sb_sip_listen_done(struct sb_sip_listen *l);

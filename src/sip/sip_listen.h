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
	char address[64];        /* the udp/tcp entry's address (numeric), "" when none */
	char tls_address[64];    /* the tls entry's address (numeric) */
	uint16_t port, tls_port; /* the udp/tcp port and the tls port (0: none) */
	char tp[16];             /* url's transport parameter ("": udp and tcp) */
	char *tls_dir;           /* TPTAG_CERTIFICATE directory, NULL without tls */
};

/* Builds the URLs from cfg; with a tls entry also the certificate directory (main has made
 * TLS 1.2 the least version). Logs the reason and returns a negative errno on failure;
 * sb_sip_listen_done is needed either way. */
int sb_sip_listen_prepare(struct sb_sip_listen *l, const struct sb_config *cfg);
/* Whether every sip.listen entry's address and port can be bound as sofia binds them; logs
 * the first that cannot and returns its negative errno (-EADDRINUSE: the port is taken). */
int sb_sip_listen_probe(const struct sb_config *cfg);
/* The Contact the bridge gives in a dialog over transport tp, where nua's own would be wrong.
 * nua gives "<sip:HOST:PORT>" for udp and tcp on one port, which a far end resolves to UDP (a
 * caller or agent over TCP may not reach that), and with a TLS listener beside them chooses
 * among its sip: and sips: contacts by rules of its own, which give a caller over UDP a sips:
 * one it cannot reach (and one over TLS the udp/tcp one). Writes "<sip:HOST:PORT;transport=tls>"
 * or "<sip:HOST:PORT;transport=tcp>" of the listener that transport reaches, or, over UDP with
 * a TLS listener, "<sip:HOST:PORT>" (the url's transport parameter) into buf; HOST is
 * public_address, else the listener's address, else (a listener bound to a wildcard) our
 * address that routes to toward, the far end's numeric address (looked up only then). Writes
 * "" where nua's own choice is right (UDP without a TLS listener), when no listener takes tp,
 * or when no usable host is found (toward NULL, say). */
void sb_sip_listen_contact(const struct sb_sip_listen *l, const char *public_address,
                           enum sb_transport tp, const char *toward, char *buf, size_t size);
/* Removes the certificate directory. */
void sb_sip_listen_done(struct sb_sip_listen *l);

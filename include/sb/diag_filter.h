/* The sock_diag bytecode (INET_DIAG_REQ_BYTECODE) that has the kernel list only the sockets
 * whose local port is one of a few: the SIP guard's janitor asks for the SIP connections
 * alone instead of every TCP socket of the machine. Pure. Thread: any. */
#pragma once

#include <linux/inet_diag.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes a program for n ports takes. */
#define SB_DIAG_FILTER_BYTES(n) ((n) ? 12 * (n)-4 : 0)

/* Writes into out (size bytes) the program accepting sockets whose local port (host order)
 * is one of ports[0..n), 1 <= n <= 16. Returns its length in bytes; -EINVAL for no port or
 * too many, -ENOSPC when it does not fit. */
int sb_diag_filter_build(struct inet_diag_bc_op *out, size_t size, const uint16_t *ports, size_t n);

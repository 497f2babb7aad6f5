/* The sock_diag bytecode selecting sockets by local port. The kernel runs it over each
 * socket: a condition jumps by `yes` bytes when true and by `no` bytes when false; a socket
 * is listed when a run ends exactly at the program's end, and not when it jumps past it.
 * Each port is a test (S_EQ and a word holding the port) followed, but for the last, by an
 * unconditional jump (JMP takes its `no`) to the end: "sport = a or sport = b ...", the
 * shape ss(8) gives an "or" (the kernel's audit follows the `yes` path through every op).
 * Pure. Thread: any. */
#include <errno.h>
#include <stdbool.h>

#include <sb/diag_filter.h>

#define MAX_PORTS 16

int sb_diag_filter_build(struct inet_diag_bc_op *out, size_t size, const uint16_t *ports, size_t n)
{
	size_t len = SB_DIAG_FILTER_BYTES(n), k = 0;

	if (!n || n > MAX_PORTS)
		return -EINVAL;
	if (size < len)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		size_t at = 12 * i; /* this test's offset */
		bool last = i == n - 1;

		/* true: on to the jump to the end (or the end itself); false: the next test, or
		 * past the end */
		out[k++] = (struct inet_diag_bc_op){INET_DIAG_BC_S_EQ, 8,
		                                    (unsigned short)(last ? len - at + 4 : 12)};
		out[k++] = (struct inet_diag_bc_op){0, 0, ports[i]};
		if (!last)
			out[k++] = (struct inet_diag_bc_op){INET_DIAG_BC_JMP, 4,
			                                    (unsigned short)(len - at - 8)};
	}
	return (int)len;
}

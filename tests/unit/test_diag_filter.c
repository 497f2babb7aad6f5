/* Unit tests for diag_filter.c: the kernel accepts the program (its audit, as in
 * net/ipv4/inet_diag.c, is redone here) and running it (as inet_diag_bc_run() does) lists
 * exactly the sockets on one of the ports, for one to sixteen ports; no port or too many,
 * and too small a buffer, are refused. The integration tests hand it to the real kernel. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <sb/diag_filter.h>

#include "harness.h"

/* Whether the target remaining-length cc lies on the `yes` path from the start. */
static bool valid_cc(const unsigned char *bc, int len, int cc)
{
	while (len >= 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;

		if (cc > len)
			return false;
		if (cc == len)
			return true;
		if (op->yes < 4 || op->yes & 3)
			return false;
		len -= op->yes;
		bc += op->yes;
	}
	return false;
}

/* The kernel's audit of a program of port comparisons and jumps. */
static bool audit(const unsigned char *prog, int prog_len)
{
	const unsigned char *bc = prog;
	int len = prog_len;

	while (len > 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;
		int min_len = sizeof(*op);

		switch (op->code) {
		case INET_DIAG_BC_S_EQ:
			if (len < 8)
				return false;
			min_len = 8;
			break;
		case INET_DIAG_BC_JMP:
			break;
		default:
			return false;
		}
		if (op->no < min_len || op->no > len + 4 || op->no & 3)
			return false;
		if (op->no < len && !valid_cc(prog, prog_len, len - op->no))
			return false;
		if (op->yes < min_len || op->yes > len + 4 || op->yes & 3)
			return false;
		bc += op->yes;
		len -= op->yes;
	}
	return len == 0;
}

/* Whether the kernel lists a socket on local port sport. */
static bool run(const unsigned char *bc, int len, uint16_t sport)
{
	while (len > 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;
		bool yes = true;

		if (op->code == INET_DIAG_BC_JMP)
			yes = false;
		else if (op->code == INET_DIAG_BC_S_EQ)
			yes = sport == op[1].no;
		len -= yes ? op->yes : op->no;
		bc += yes ? op->yes : op->no;
	}
	return len == 0;
}

TEST(ports)
{
	static const uint16_t ports[16] = {5060, 5061, 1,    65535, 7000, 7001, 7002, 7003,
	                                   7004, 7005, 7006, 7007,  7008, 7009, 7010, 80};
	struct inet_diag_bc_op prog[64];
	int r = 0;

	for (size_t n = 1; n <= 16; n++) {
		int len = sb_diag_filter_build(prog, sizeof(prog), ports, n);

		ASSERT_EQ(len, (int)SB_DIAG_FILTER_BYTES(n));
		ASSERT_TRUE(audit((const unsigned char *)prog, len));
		for (unsigned p = 0; p <= 65535; p++) {
			bool want = false;

			for (size_t i = 0; i < n; i++)
				want = want || ports[i] == p;
			ASSERT_EQ(run((const unsigned char *)prog, len, (uint16_t)p), want);
		}
	}
out:
	return r;
}

TEST(refused)
{
	static const uint16_t ports[17] = {1};
	struct inet_diag_bc_op prog[64];
	int r = 0;

	ASSERT_EQ(sb_diag_filter_build(prog, sizeof(prog), ports, 0), -EINVAL);
	ASSERT_EQ(sb_diag_filter_build(prog, sizeof(prog), ports, 17), -EINVAL);
	ASSERT_EQ(sb_diag_filter_build(prog, SB_DIAG_FILTER_BYTES(2) - 1, ports, 2), -ENOSPC);
	ASSERT_EQ(sb_diag_filter_build(prog, SB_DIAG_FILTER_BYTES(2), ports, 2),
	          (int)SB_DIAG_FILTER_BYTES(2));
out:
	return r;
}

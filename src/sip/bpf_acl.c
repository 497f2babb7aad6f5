/* Classic BPF source-address filter for the SIP sockets, and a small interpreter of the same
 * instructions for the unit tests. Loads are relative to the network header (SKF_NET_OFF),
 * which the kernel supports for UDP and TCP socket filters alike.
 * Pure: no I/O, no locks. Thread: any. Owns nothing. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sb/bpf_acl.h>
#include <sb/common.h>

#define ACCEPT 0xffffffffu
#define NET(off) ((uint32_t)(SKF_NET_OFF + (off)))

struct prog {
	struct sock_filter *p;
	size_t n, max;
	bool full;
};

static size_t emit(struct prog *g, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (g->n >= g->max) {
		g->full = true;
		return g->n;
	}
	g->p[g->n] = (struct sock_filter){code, jt, jf, k};
	return g->n++;
}

static uint32_t mask_of(unsigned bits)
{
	return bits >= 32 ? 0xffffffffu : bits == 0 ? 0 : ~((1u << (32 - bits)) - 1);
}

/* One IPv4 CIDR; the source address is in X. */
static void v4_block(struct prog *g, const struct sb_cidr *c)
{
	uint32_t m = mask_of(c->prefix);

	if (c->prefix == 0) {
		emit(g, BPF_RET | BPF_K, 0, 0, ACCEPT);
		return;
	}
	emit(g, BPF_MISC | BPF_TXA, 0, 0, 0);
	if (m != 0xffffffffu)
		emit(g, BPF_ALU | BPF_AND | BPF_K, 0, 0, m);
	emit(g, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, sb_get_be32(c->addr) & m);
	emit(g, BPF_RET | BPF_K, 0, 0, ACCEPT);
}

/* One IPv6 CIDR: each 32-bit word the prefix reaches is compared; a mismatch skips to the
 * next block. */
static void v6_block(struct prog *g, const struct sb_cidr *c)
{
	unsigned words = (c->prefix + 31) / 32;
	size_t jumps[4], n_jumps = 0;

	for (unsigned w = 0; w < words; w++) {
		unsigned bits = c->prefix - 32 * w > 32 ? 32 : c->prefix - 32 * w;
		uint32_t m = mask_of(bits);

		emit(g, BPF_LD | BPF_W | BPF_ABS, 0, 0, NET(8 + 4 * w));
		if (m != 0xffffffffu)
			emit(g, BPF_ALU | BPF_AND | BPF_K, 0, 0, m);
		jumps[n_jumps++] =
		        emit(g, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, sb_get_be32(c->addr + 4 * w) & m);
	}
	emit(g, BPF_RET | BPF_K, 0, 0, ACCEPT);
	for (size_t i = 0; i < n_jumps && !g->full; i++)
		g->p[jumps[i]].jf = (uint8_t)(g->n - jumps[i] - 1);
}

int sb_bpf_acl_build(struct sock_filter *prog, size_t max, const struct sb_cidr *cidrs, size_t n)
{
	struct prog g = {.p = prog, .max = max};
	size_t to_v6;

	emit(&g, BPF_LD | BPF_B | BPF_ABS, 0, 0, NET(0));
	emit(&g, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4);
	emit(&g, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 6);
	to_v6 = emit(&g, BPF_JMP | BPF_JA, 0, 0, 0);
	emit(&g, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 4);
	emit(&g, BPF_RET | BPF_K, 0, 0, 0); /* neither IPv4 nor IPv6 */
	emit(&g, BPF_LD | BPF_W | BPF_ABS, 0, 0, NET(12));
	emit(&g, BPF_MISC | BPF_TAX, 0, 0, 0);
	for (size_t i = 0; i < n; i++)
		if (cidrs[i].family == AF_INET)
			v4_block(&g, &cidrs[i]);
	emit(&g, BPF_RET | BPF_K, 0, 0, 0);
	if (!g.full)
		g.p[to_v6].k = (uint32_t)(g.n - to_v6 - 1);
	for (size_t i = 0; i < n; i++)
		if (cidrs[i].family == AF_INET6)
			v6_block(&g, &cidrs[i]);
	emit(&g, BPF_RET | BPF_K, 0, 0, 0);
	if (g.full || g.n > BPF_MAXINSNS)
		return -ENOSPC;
	return (int)g.n;
}

/* Loads size bytes big-endian at a network-header offset; false when outside the packet. */
static bool load(const unsigned char *pkt, size_t len, uint32_t k, unsigned size, uint32_t *v)
{
	uint32_t off = k - (uint32_t)SKF_NET_OFF;

	if (k < (uint32_t)SKF_NET_OFF || off > len || len - off < size)
		return false;
	*v = 0;
	for (unsigned i = 0; i < size; i++)
		*v = *v << 8 | pkt[off + i];
	return true;
}

unsigned sb_bpf_acl_run(const struct sock_filter *prog, size_t n, const unsigned char *pkt,
                        size_t len)
{
	uint32_t a = 0, x = 0;

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &prog[pc];

		switch (f->code) {
		case BPF_LD | BPF_B | BPF_ABS:
		case BPF_LD | BPF_W | BPF_ABS:
			if (!load(pkt, len, f->k, BPF_SIZE(f->code) == BPF_B ? 1 : 4, &a))
				return 0; /* the kernel drops on an out-of-packet load */
			break;
		case BPF_ALU | BPF_RSH | BPF_K:
			a >>= f->k;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= f->k;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_MISC | BPF_TXA:
			a = x;
			break;
		case BPF_JMP | BPF_JA:
			pc += f->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			return 0;
		}
	}
	return 0;
}

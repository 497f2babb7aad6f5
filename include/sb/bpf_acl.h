/* A classic BPF socket filter that keeps only packets whose source address lies in a list of
 * CIDRs (IPv4 and IPv6; an IPv4 packet on a dual-stack socket is matched as IPv4). Attached to
 * the SIP sockets, it drops what comes from outside every trunk's ACL in the kernel, before a
 * TCP connection is accepted or a datagram is read. Pure. Thread: any. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <sb/acl.h>

/* Instructions a program for n CIDRs needs at most. */
#define SB_BPF_ACL_MAX_INSNS(n) (10 + 14 * (n))

/* Writes the program keeping sources inside any of the n CIDRs into prog (room for max
 * instructions). Returns the instruction count, or -ENOSPC when it does not fit or exceeds
 * the kernel's BPF_MAXINSNS. */
int sb_bpf_acl_build(struct sock_filter *prog, size_t max, const struct sb_cidr *cidrs, size_t n);
/* Runs prog over an IP packet (header first), as the kernel would with the network header
 * at offset 0. Returns what the program returns (0 = drop). For tests. */
unsigned sb_bpf_acl_run(const struct sock_filter *prog, size_t n, const unsigned char *pkt,
                        size_t len);

/* sipbridge-wirestat: RTP pacing on the wire for load runs. Reads UDP from an AF_PACKET socket
 * (a classic BPF filter keeps RTP to and from the bridge's port range), timestamps it in the
 * kernel (SO_TIMESTAMPNS, CLOCK_REALTIME) and keeps per direction histograms of the interval
 * between each call's packets. Single thread, fixed memory; prints one JSON object when it
 * stops (--duration, SIGTERM, SIGINT). Needs CAP_NET_RAW. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stalls.h"
#include "tool_util.h"

/* Histograms count intervals in 10 us buckets up to 1 s; longer ones go to the last bucket
 * and only their maximum is kept exactly. */
#define BUCKET_NS 10000
#define N_BUCKETS 100001
#define SNAP_BYTES 128
#define MAX_DURATION_S 86400
/* The socket is read every DRAIN_NS, DRAIN_BATCH packets a call: the kernel stamps each packet
 * as it comes, so reading late changes no figure, and nothing is woken per packet. */
#define DRAIN_NS 5000000
#define DRAIN_BATCH 64
/* Stalls (stalls.h): a caller gap is an interval over the ptime + STALL_GAP_NS; a stall is at
 * least STALL_MIN_GAPS of them at once; bridge intervals at least STALL_ERROR_NS from the
 * ptime are kept to be classified (closer ones cannot move the tail). */
#define STALL_GAP_NS 5000000
#define STALL_MIN_GAPS 3
#define STALL_ERROR_NS 1000000
#define STALL_MAX_GAPS (1u << 20)
#define STALL_MAX_INTERVALS (1u << 22)

enum dir { DIR_OUT, DIR_IN, _DIR_MAX };
static const char *const dir_name[_DIR_MAX] = {"out", "in"};

struct hist {
	uint64_t n;
	int64_t max_ns;
	uint32_t b[N_BUCKETS];
};

/* One call's stream in one direction, indexed by the bridge's port; a new SSRC on the same
 * port starts a new call. */
struct flow {
	bool active;
	uint32_t ssrc;
	int64_t last_ns;
	int64_t max_ns;
	uint64_t packets;
};

struct dirstat {
	enum dir dir;
	struct hist interval; /* every interval of every call */
	struct hist error;    /* |interval - nominal| */
	struct hist call_max; /* each call's largest interval */
	uint64_t packets, calls;
	struct flow flows[65536];
};

/* What one captured RTP packet says. */
struct rtp {
	enum dir dir;
	unsigned port; /* the bridge's */
	uint32_t ssrc, ts;
	unsigned seq, payload_len;
};

/* Where every inbound packet is written (--in-log), up to a bound. */
struct in_log {
	FILE *f;
	uint64_t max, written, dropped;
};

struct opts {
	const char *iface;
	unsigned port_min, port_max, peer_port;
	unsigned sample; /* 1 in this many bridge RTP ports (a power of two) */
	unsigned duration_s;
	unsigned nominal_ms;
	const char *out_path;
	const char *in_log_path;
	uint64_t in_log_max;
	const char *machine_path; /* the machine's late wake-ups, read at the end */
};

static struct stalls *stalls;

/* The bucket of a non-negative interval: the last one holds everything from 1 s on. */
static size_t bucket_of(int64_t ns)
{
	int64_t i = ns / BUCKET_NS;

	return i < N_BUCKETS ? (size_t)i : N_BUCKETS - 1;
}

static void hist_add(struct hist *h, int64_t ns)
{
	if (ns < 0)
		return;
	h->b[bucket_of(ns)]++;
	h->n++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* The upper edge of the bucket holding quantile q, in ms; the exact maximum for the top one. */
static double hist_quantile_ms(const struct hist *h, double q)
{
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.5), seen = 0;

	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < N_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			double edge = (double)(i + 1) * BUCKET_NS / 1e6;
			double max = (double)h->max_ns / 1e6;
			return edge < max ? edge : max;
		}
	}
	return (double)h->max_ns / 1e6;
}

static void hist_print(FILE *f, const char *name, const struct hist *h)
{
	if (!h->n) {
		fprintf(f,
		        "\"%s\":{\"n\":0,\"p50_ms\":null,\"p90_ms\":null,\"p99_ms\":null,"
		        "\"p999_ms\":null,\"max_ms\":null}",
		        name);
		return;
	}
	fprintf(f,
	        "\"%s\":{\"n\":%" PRIu64 ",\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
	        "\"p999_ms\":%.2f,\"max_ms\":%.2f}",
	        name, h->n, hist_quantile_ms(h, 0.50), hist_quantile_ms(h, 0.90),
	        hist_quantile_ms(h, 0.99), hist_quantile_ms(h, 0.999), (double)h->max_ns / 1e6);
}

static void flow_end(struct dirstat *d, struct flow *fl)
{
	if (fl->active && fl->packets > 1)
		hist_add(&d->call_max, fl->max_ns);
	memset(fl, 0, sizeof(*fl));
}

static void account(struct dirstat *d, unsigned port, uint32_t ssrc, int64_t t_ns,
                    int64_t nominal_ns)
{
	struct flow *fl = &d->flows[port];
	int64_t iv, err;

	d->packets++;
	if (fl->active && fl->ssrc != ssrc)
		flow_end(d, fl);
	if (!fl->active) {
		fl->active = true;
		fl->ssrc = ssrc;
		fl->last_ns = t_ns;
		fl->packets = 1;
		d->calls++;
		return;
	}
	iv = t_ns - fl->last_ns;
	fl->last_ns = t_ns;
	fl->packets++;
	if (iv < 0)
		return; /* the clock stepped back: no interval */
	if (iv > fl->max_ns)
		fl->max_ns = iv;
	err = iv > nominal_ns ? iv - nominal_ns : nominal_ns - iv;
	hist_add(&d->interval, iv);
	hist_add(&d->error, err);
	if (!stalls)
		return;
	if (d->dir == DIR_IN && iv > nominal_ns + STALL_GAP_NS)
		stalls_caller_gap(stalls, t_ns - iv, t_ns);
	else if (d->dir == DIR_OUT && err > STALL_ERROR_NS)
		stalls_bridge_interval(stalls, t_ns - iv, t_ns, err);
}

static void hist_remove(void *arg, int64_t ns)
{
	struct hist *h = arg;
	size_t i = bucket_of(ns);

	if (ns < 0 || !h->b[i])
		return;
	h->b[i]--;
	h->n--;
}

/* Both histograms lose an interval in a callers' stall; only the second one in the machine's. */
static void remove_from_both(void *arg, int64_t ns)
{
	struct hist *h = arg;

	hist_remove(&h[0], ns);
	hist_remove(&h[1], ns);
}

/* The largest interval left, to its bucket's upper edge. */
static void hist_cut_max(struct hist *h)
{
	for (int64_t i = N_BUCKETS - 1; i >= 0; i--) {
		if (h->b[i]) {
			if ((i + 1) * BUCKET_NS < h->max_ns)
				h->max_ns = (i + 1) * BUCKET_NS;
			return;
		}
	}
	h->max_ns = 0;
}

/* The machine's late wake-ups ("START_NS END_NS CPU" lines from sipbridge-wakeprobe) as stall
 * windows; false when there is no such file to read. */
static bool read_machine(const char *path)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[128];
	long long start, end;
	int cpu;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) /* a line that is not one is skipped */
		if (sscanf(line, "%lld %lld %d", &start, &end, &cpu) == 3)
			stalls_machine_window(stalls, start, end);
	fclose(f);
	return true;
}

/* The bridge's pacing error outside the callers' stalls, and also outside the machine's late
 * wake-ups; the stalls themselves. */
static void stalls_print(FILE *f, const struct dirstat *out, const char *machine_path)
{
	struct hist *h = malloc(2 * sizeof(*h));
	struct stalls_result r;
	bool machine;

	if (!h || !stalls) {
		free(h);
		fputs(",\"stalls\":null", f);
		return;
	}
	h[0] = h[1] = out->error;
	machine = read_machine(machine_path);
	stalls_finish(stalls, STALL_MIN_GAPS, remove_from_both, h, &r);
	stalls_finish_machine(stalls, hist_remove, &h[1], &r);
	hist_cut_max(&h[0]);
	hist_cut_max(&h[1]);
	fprintf(f,
	        ",\"stalls\":{\"windows\":%u,\"longest_ms\":%.2f,\"bridge_intervals\":%" PRIu64
	        ",\"truncated\":%s,",
	        r.windows, (double)r.longest_ns / 1e6, r.bridge_in, r.truncated ? "true" : "false");
	hist_print(f, "error_outside", &h[0]);
	if (machine) {
		fprintf(f, ",\"machine_windows\":%u,\"machine_bridge_intervals\":%" PRIu64 ",",
		        r.machine_windows, r.machine_bridge_in);
		hist_print(f, "error_outside_machine", &h[1]);
	} else {
		fputs(",\"machine_windows\":null", f);
	}
	fputc('}', f);
	free(h);
}

/* Frames on lo and Ethernet start with a 14-byte header. Keeps IPv4 UDP, unfragmented, not
 * our own outgoing copy, from the port range (to the peer port if one is given) or to the
 * range from the peer port, and of those the bridge ports that are a multiple of 2 * sample
 * (1 in sample RTP ports, which are even), so a big run costs the capture little. */
static int attach_filter(int fd, const struct opts *o)
{
	unsigned lo = o->port_min, hi = o->port_max, peer = o->peer_port;
	unsigned mask = o->sample > 1 ? 2 * o->sample - 1 : 0; /* 0: no JSET ever matches */
	struct sock_filter f[] = {
	        /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETHERTYPE_IP, 0, 20),
	        /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
	        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 18),
	        /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),
	        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 16, 0),
	        /* 6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
	        /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 14, 0),
	        /* 8 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
	        /* 9: from the range (the bridge sends), to the peer port if one is given */
	        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14),
	        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 5),
	        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 4, 0),
	        /* 12 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
	        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, peer, 0, 2),
	        /* 14 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14),
	        /* 15: the sample */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, mask, 6, 7),
	        /* 16: to the range (the bridge receives), from the peer port if one is given */
	        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14),
	        /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, peer, 0, 4),
	        /* 18 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
	        /* 19 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 2),
	        /* 20 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 1, 0),
	        /* 21: the sample */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1),
	        /* 22 */ BPF_STMT(BPF_RET | BPF_K, 0),
	        /* 23 */ BPF_STMT(BPF_RET | BPF_K, SNAP_BYTES),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (!peer) { /* any far end: 13 and 17 go on */
		f[13] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
		f[17] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
	}

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

/* A tap of every protocol (ETH_P_ALL), not of IPv4 alone: the kernel hands a received packet to
 * the taps before the protocols, and a tap has let it go (or taken a copy of its own) by the time
 * IPv4 gets it. A socket of ETH_P_IP comes after IPv4's handler instead, which is then handed
 * each packet while the capture still holds it and copies the header of every IPv4 packet on the
 * interface (skb_share_check() in ip_rcv()). The packets the machine sends, of which the kernel
 * makes a copy for its taps, are left out before the copy (PACKET_IGNORE_OUTGOING, Linux 4.20);
 * where that is refused the filter drops them, at the copy's cost. */
static int open_socket(const struct opts *o)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int fd, one = 1, rcvbuf = 32 << 20, r;

	sll.sll_ifindex = (int)if_nametoindex(o->iface);
	if (!sll.sll_ifindex)
		return -errno;
	/* Protocol 0 until the filter is on, so nothing unfiltered is queued meanwhile. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = attach_filter(fd, o);
	if (r == 0)
		(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (r == 0 && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		r = -errno;
	if (r == 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (r == 0 && bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Parses one captured frame; returns false for anything that is not RTP. */
static bool parse(const unsigned char *p, size_t len, const struct opts *o, struct rtp *r)
{
	size_t ihl, off;
	unsigned sport, dport, udp_len, head;

	if (len < 14 + 20)
		return false;
	ihl = (size_t)(p[14] & 0x0f) * 4;
	off = 14 + ihl;
	if (ihl < 20 || len < off + 8 + 12)
		return false;
	sport = (unsigned)p[off] << 8 | p[off + 1];
	dport = (unsigned)p[off + 2] << 8 | p[off + 3];
	/* The capture is cut short; the UDP length is the datagram's own. */
	udp_len = (unsigned)p[off + 4] << 8 | p[off + 5];
	off += 8;
	/* RTP version 2, and not RTCP (payload types 72-76 with the marker bit: 200-204). */
	if ((p[off] & 0xc0) != 0x80 || (p[off + 1] >= 200 && p[off + 1] <= 204))
		return false;
	r->ssrc = (uint32_t)p[off + 8] << 24 | (uint32_t)p[off + 9] << 16 |
	          (uint32_t)p[off + 10] << 8 | p[off + 11];
	r->seq = (unsigned)p[off + 2] << 8 | p[off + 3];
	r->ts = (uint32_t)p[off + 4] << 24 | (uint32_t)p[off + 5] << 16 |
	        (uint32_t)p[off + 6] << 8 | p[off + 7];
	/* Header, CSRCs and (when within the capture) the extension are not payload. */
	head = 12 + 4 * (p[off] & 0x0f);
	if ((p[off] & 0x10) && len >= off + head + 4)
		head += 4 + 4 * ((unsigned)p[off + head + 2] << 8 | p[off + head + 3]);
	r->payload_len = udp_len >= 8 + head ? udp_len - 8 - head : 0;
	/* With a peer port, it alone decides the direction (it may lie inside the range). */
	if (o->peer_port && (dport == o->peer_port || sport == o->peer_port)) {
		r->dir = dport == o->peer_port ? DIR_OUT : DIR_IN;
		r->port = dport == o->peer_port ? sport : dport;
	} else if (o->peer_port) {
		return false;
	} else if (sport >= o->port_min && sport <= o->port_max) {
		r->dir = DIR_OUT;
		r->port = sport;
	} else if (dport >= o->port_min && dport <= o->port_max) {
		r->dir = DIR_IN;
		r->port = dport;
	} else {
		return false;
	}
	return true;
}

/* Reads what the socket holds, in batches, and accounts for each packet; returns the count of
 * non-RTP frames skipped. */
static uint64_t drain(int fd, const struct opts *o, struct dirstat **ds, struct in_log *il)
{
	static unsigned char buf[DRAIN_BATCH][SNAP_BYTES];
	/* CMSG_SPACE is a multiple of the header's alignment: every row is aligned. */
	static _Alignas(struct cmsghdr) char ctl[DRAIN_BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr msgs[DRAIN_BATCH];
	struct iovec iov[DRAIN_BATCH];
	uint64_t skipped = 0;
	int n;

	do {
		for (int i = 0; i < DRAIN_BATCH; i++) {
			iov[i] = (struct iovec){buf[i], sizeof(buf[i])};
			msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i],
			                                  .msg_iovlen = 1,
			                                  .msg_control = ctl[i],
			                                  .msg_controllen = sizeof(ctl[i])};
		}
		n = recvmmsg(fd, msgs, DRAIN_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &msgs[i].msg_hdr;
			size_t len = msgs[i].msg_len;
			struct cmsghdr *c;
			int64_t t_ns = -1;
			struct rtp r;

			for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
				if (c->cmsg_level == SOL_SOCKET &&
				    c->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;
					memcpy(&ts, CMSG_DATA(c), sizeof(ts));
					t_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
				}
			}
			if (t_ns < 0 ||
			    !parse(buf[i], len < SNAP_BYTES ? len : SNAP_BYTES, o, &r)) {
				skipped++;
				continue;
			}
			account(ds[r.dir], r.port, r.ssrc, t_ns, (int64_t)o->nominal_ms * 1000000);
			if (r.dir == DIR_IN && il->f) {
				if (il->written >= il->max) {
					il->dropped++;
					continue;
				}
				fprintf(il->f, "%u %" PRIu32 " %u %" PRIu32 " %u %" PRId64 "\n",
				        r.port, r.ssrc, r.seq, r.ts, r.payload_len, t_ns);
				il->written++;
			}
		}
	} while (n == DRAIN_BATCH);
	return skipped;
}

static void report(FILE *f, const struct opts *o, struct dirstat **ds, int fd, uint64_t skipped,
                   const struct in_log *il, double elapsed_s)
{
	struct tpacket_stats st = {0};
	socklen_t sl = sizeof(st);

	/* Reading the statistics resets them; this is the only read. */
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0)
		memset(&st, 0, sizeof(st));
	fprintf(f,
	        "{\"iface\":\"%s\",\"port_min\":%u,\"port_max\":%u,\"peer_port\":%u,\"sample\":%u,",
	        o->iface, o->port_min, o->port_max, o->peer_port, o->sample);
	fprintf(f, "\"nominal_ms\":%u,\"elapsed_s\":%.1f,", o->nominal_ms, elapsed_s);
	fprintf(f, "\"kernel_packets\":%u,\"kernel_drops\":%u,\"skipped\":%" PRIu64, st.tp_packets,
	        st.tp_drops, skipped);
	if (o->in_log_path)
		fprintf(f, ",\"in_log\":{\"written\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
		        il->written, il->dropped);
	for (int d = 0; d < _DIR_MAX; d++) {
		for (size_t p = 0; p < 65536; p++)
			flow_end(ds[d], &ds[d]->flows[p]);
		fprintf(f, ",\"%s\":{\"packets\":%" PRIu64 ",\"calls\":%" PRIu64 ",", dir_name[d],
		        ds[d]->packets, ds[d]->calls);
		hist_print(f, "interval", &ds[d]->interval);
		fputc(',', f);
		hist_print(f, "error", &ds[d]->error);
		fputc(',', f);
		hist_print(f, "call_max_interval", &ds[d]->call_max);
		fputc('}', f);
	}
	stalls_print(f, ds[DIR_OUT], o->machine_path);
	fputs("}\n", f);
}

static void usage(FILE *f)
{
	fputs("usage: sipbridge-wirestat --ports MIN-MAX [--peer PORT] [--iface IF] "
	      "[--duration S]\n"
	      "                          [--ptime MS] [--out FILE] [--in-log FILE [--in-log-max "
	      "N]]\n"
	      "                          [--machine-windows FILE]\n"
	      "  --ports     the bridge's RTP port range: packets from it are \"out\", to it "
	      "\"in\"\n"
	      "  --peer      only packets to (out) or from (in) this far-end port\n"
	      "  --sample N  only bridge ports that are multiples of 2N: 1 call in N (a power\n"
	      "              of two, default 1), to keep a big run's capture cheap\n"
	      "  --iface     default lo; --duration default 600 s (stops earlier on SIGTERM)\n"
	      "  --ptime     the nominal packet interval the error is measured against (20)\n"
	      "  --in-log    writes one line per \"in\" packet: bridge port, SSRC, sequence,\n"
	      "              timestamp, payload bytes, capture time (CLOCK_REALTIME ns); at most\n"
	      "              --in-log-max lines (4000000), the rest are counted as dropped\n"
	      "  --machine-windows  read when it stops: \"START_NS END_NS CPU\" lines\n"
	      "              (CLOCK_REALTIME) of moments the machine held a thread up\n"
	      "              (sipbridge-wakeprobe --windows); the pacing error is also given\n"
	      "              outside them\n",
	      f);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	        {"ports", required_argument, NULL, 'p'},
	        {"peer", required_argument, NULL, 'P'},
	        {"sample", required_argument, NULL, 's'},
	        {"iface", required_argument, NULL, 'i'},
	        {"duration", required_argument, NULL, 'd'},
	        {"ptime", required_argument, NULL, 't'},
	        {"out", required_argument, NULL, 'o'},
	        {"in-log", required_argument, NULL, 'l'},
	        {"in-log-max", required_argument, NULL, 'm'},
	        {"machine-windows", required_argument, NULL, 'w'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	char lo[8], hi[8];
	int c, li = -1;

	*o = (struct opts){.iface = "lo",
	                   .sample = 1,
	                   .duration_s = 600,
	                   .nominal_ms = 20,
	                   .in_log_max = 4000000};
	while ((c = getopt_long(argc, argv, "", lopts, &li)) != -1) {
		int r = 0;
		switch (c) {
		case 'p':
			if (sscanf(optarg, "%7[0-9]-%7[0-9]", lo, hi) != 2 ||
			    parse_uint(lo, 1, 65535, &o->port_min) < 0 ||
			    parse_uint(hi, o->port_min, 65535, &o->port_max) < 0)
				r = -EINVAL;
			break;
		case 'P':
			r = parse_uint(optarg, 1, 65535, &o->peer_port);
			break;
		case 's':
			r = parse_uint(optarg, 1, 1024, &o->sample);
			if (r == 0 && (o->sample & (o->sample - 1)))
				r = -EINVAL; /* not a power of two */
			break;
		case 'i':
			o->iface = optarg;
			r = strlen(optarg) < IF_NAMESIZE ? 0 : -EINVAL;
			break;
		case 'd':
			r = parse_uint(optarg, 1, MAX_DURATION_S, &o->duration_s);
			break;
		case 't':
			r = parse_uint(optarg, 1, 1000, &o->nominal_ms);
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case 'l':
			o->in_log_path = optarg;
			break;
		case 'w':
			o->machine_path = optarg;
			break;
		case 'm': {
			unsigned v = 0;
			r = parse_uint(optarg, 1, 1000000000, &v);
			o->in_log_max = v;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			r = -EINVAL;
		}
		if (r < 0) {
			/* getopt has named an unknown option; li names a known one. */
			if (c != '?' && li >= 0)
				fprintf(stderr, "sipbridge-wirestat: bad --%s\n", lopts[li].name);
			return r;
		}
	}
	if (optind != argc || !o->port_min)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct dirstat *ds[_DIR_MAX] = {NULL, NULL};
	struct in_log il = {0};
	struct opts o;
	int64_t t0, deadline;
	uint64_t skipped = 0;
	FILE *out = stdout;
	int fd, rc = 1;

	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	stop_on_signals();
	for (int d = 0; d < _DIR_MAX; d++) {
		ds[d] = calloc(1, sizeof(*ds[d]));
		if (!ds[d]) {
			fputs("sipbridge-wirestat: out of memory\n", stderr);
			goto out;
		}
		ds[d]->dir = (enum dir)d;
	}
	/* Without it the figures are the same, only the stalls are not told apart. */
	stalls = stalls_new(STALL_MAX_GAPS, STALL_MAX_INTERVALS);
	fd = open_socket(&o);
	if (fd < 0) {
		fprintf(stderr, "sipbridge-wirestat: AF_PACKET socket on %s: %s\n", o.iface,
		        strerror(-fd));
		goto out;
	}
	if (o.out_path && !(out = fopen(o.out_path, "we"))) {
		fprintf(stderr, "sipbridge-wirestat: %s: %s\n", o.out_path, strerror(errno));
		close(fd);
		goto out;
	}
	if (o.in_log_path) {
		il.f = fopen(o.in_log_path, "we");
		if (!il.f) {
			fprintf(stderr, "sipbridge-wirestat: %s: %s\n", o.in_log_path,
			        strerror(errno));
			close(fd);
			goto out;
		}
		setvbuf(il.f, NULL, _IOFBF, 1 << 20);
		il.max = o.in_log_max;
	}
	/* Tells a waiting runner that capture has begun. */
	fputs("sipbridge-wirestat: capturing\n", stderr);
	t0 = now_ns(CLOCK_MONOTONIC);
	deadline = t0 + (int64_t)o.duration_s * 1000000000;
	while (!stopped() && now_ns(CLOCK_MONOTONIC) < deadline) {
		struct timespec nap = {0, DRAIN_NS};
		skipped += drain(fd, &o, ds, &il);
		nanosleep(&nap, NULL);
	}
	skipped += drain(fd, &o, ds, &il);
	if (il.f && fclose(il.f) != 0)
		il.dropped = il.written + il.dropped; /* a log that did not reach the disk */
	report(out, &o, ds, fd, skipped, &il, (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	rc = fflush(out) == 0 ? 0 : 1;
	if (out != stdout)
		fclose(out);
	close(fd);
out:
	free(ds[0]);
	free(ds[1]);
	stalls_free(stalls);
	return rc;
}

/* sipbridge-rtpsource: the callers' RTP for load runs, from one UDP socket. Every call's SDP
 * names this socket's port; the bridge starts sending RTP (silence at first) to it when it
 * answers, and the first packet from a bridge port with a new SSRC starts a stream back to
 * that port: G.711 from a file, looped, 20 ms a packet, with an SSRC, sequence and timestamp
 * of its own. A stream ends when its bridge port has sent nothing for --idle-ms. Packets of
 * all calls go out in sendmmsg() batches on a 1 ms grid and what the bridge sends is read in
 * recvmmsg() batches on the same grid, without waking this process per packet: the per-call
 * threads and system calls of SIPp's own RTP cost more than the bridge under test. Of what the
 * bridge sends, the socket's filter lets through 1 packet in --keep (by RTP sequence number):
 * enough to see a stream start, go on and end, and the kernel drops the rest before queueing
 * them, which saves most of this process's receive work (the wire capture measures the bridge's
 * packets, not this). --threads N splits the streams between N threads, each with a socket
 * of its own on the same port (SO_REUSEPORT: the kernel gives each bridge port's packets to
 * one of them, by a hash of the addresses, so a stream stays with the thread that started it):
 * on a machine whose CPUs the bridge's real-time threads hold in turns, a thread waiting on
 * one CPU does not hold up the streams of another that got one. Fixed memory; prints one JSON
 * object when it stops (--duration, SIGTERM, SIGINT),
 * with how late its own loop ran, so that a stall of the callers' streams can be told from one
 * of the bridge. A stream its loop left behind catches up in a burst; its packets more
 * than --catch-up-ms late are skipped, counted (packets_skipped). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool_util.h"

#define FRAME_NS 20000000LL
#define GRID_NS 1000000LL
#define LATE_TURN_NS 10000000LL /* a turn that begins this late is counted */
#define PAYLOAD 160             /* 20 ms of G.711 at 8 kHz */
#define RTP_HDR 12
#define BATCH 256
#define MAX_STREAMS 65536 /* one per bridge port at most */
#define MAX_AUDIO (16 << 20)
#define MAX_DURATION_S 86400
#define MAX_THREADS 8

struct opts {
	unsigned port, pt, idle_ms, duration_s, keep, catch_up_ms, threads;
	const char *audio_path, *out_path;
};

/* One call: the bridge's port and SSRC, and what this side sends it. */
struct stream {
	struct sockaddr_in to;
	uint32_t bridge_ssrc, ssrc, ts;
	uint16_t seq;
	bool marker;
	size_t offset; /* into the audio */
	int64_t due_ns, last_rx_ns;
};

struct state {
	struct stream *streams; /* dense; by_port maps a port to its index + 1 */
	uint32_t *by_port;
	unsigned n;
	const uint8_t *audio;
	size_t audio_len;
	uint64_t started, ended, sent, received, send_errors, short_packets;
	int64_t catch_up_ns; /* how late a packet may be and still be sent */
	uint64_t skipped;    /* packets not sent: more than catch_up_ns late when a turn came */
	uint64_t turns, turns_late; /* turns of the grid, and those that began LATE_TURN_NS late */
	int64_t late_max_ns, turn_max_ns; /* the latest start of a turn, the longest turn */
};

/* A thread of the source: its socket, its streams, its buffers. */
struct worker {
	struct state st;
	const struct opts *o;
	int fd;
	int64_t start_ns, deadline_ns; /* its grid's first mark, and when it stops */
	pthread_t thread;
	uint8_t rx[BATCH][2048];
	uint8_t tx[BATCH][RTP_HDR + PAYLOAD];
};

static uint32_t rnd32(void)
{
	uint32_t v;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)random();
	return v;
}

static void stream_start(struct stream *s, uint32_t bridge_ssrc, int64_t now)
{
	s->bridge_ssrc = bridge_ssrc;
	s->ssrc = rnd32();
	s->ts = rnd32();
	s->seq = (uint16_t)rnd32();
	s->marker = true;
	s->offset = 0;
	s->due_ns = now;
}

/* A packet from the bridge: keeps its stream alive, or starts one. */
static void on_packet(struct state *st, const struct sockaddr_in *from, const uint8_t *p,
                      size_t len, int64_t now)
{
	unsigned port = ntohs(from->sin_port);
	uint32_t ssrc;
	struct stream *s;

	if (len < RTP_HDR || (p[0] >> 6) != 2) {
		st->short_packets++;
		return;
	}
	memcpy(&ssrc, p + 8, sizeof(ssrc));
	if (!st->by_port[port]) {
		s = &st->streams[st->n++];
		st->by_port[port] = st->n;
		s->to = *from;
		stream_start(s, ssrc, now);
		st->started++;
	} else {
		s = &st->streams[st->by_port[port] - 1];
		if (s->bridge_ssrc != ssrc) { /* a new call on a port a stale stream still had */
			stream_start(s, ssrc, now);
			st->started++;
		}
	}
	s->last_rx_ns = now;
	st->received++;
}

static void drain(struct worker *w)
{
	struct state *st = &w->st;
	struct mmsghdr msgs[BATCH];
	struct sockaddr_in from[BATCH];
	struct iovec iov[BATCH];
	int n;

	do {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){w->rx[i], sizeof(w->rx[i])};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
			                                  .msg_namelen = sizeof(from[i]),
			                                  .msg_iov = &iov[i],
			                                  .msg_iovlen = 1};
		}
		n = recvmmsg(w->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		int64_t now = now_ns(CLOCK_MONOTONIC);
		for (int i = 0; i < n; i++)
			if (msgs[i].msg_hdr.msg_namelen == sizeof(from[i]) &&
			    from[i].sin_family == AF_INET)
				on_packet(st, &from[i], w->rx[i], msgs[i].msg_len, now);
	} while (n == BATCH);
}

/* Ends the streams whose bridge port has gone quiet. */
static void reap(struct state *st, int64_t now, int64_t idle_ns)
{
	for (unsigned i = 0; i < st->n;) {
		struct stream *s = &st->streams[i];
		if (now - s->last_rx_ns <= idle_ns) {
			i++;
			continue;
		}
		st->by_port[ntohs(s->to.sin_port)] = 0;
		st->ended++;
		if (i != --st->n) {
			*s = st->streams[st->n];
			st->by_port[ntohs(s->to.sin_port)] = i + 1;
		}
	}
}

/* One pass over the streams: sends each stream's next packet if it is due by now, in batches.
 * A packet more than --catch-up-ms late is not sent but skipped, counted, with every older one;
 * the stream goes on with its next sequence number and timestamp, so to the bridge a skip is a
 * delay, not a loss. Returns 1 when a stream it sent to owes another packet, 0 when none does,
 * -1 when the socket took no more. */
static int send_pass(struct worker *w, int64_t now)
{
	struct state *st = &w->st;
	uint8_t(*pkt)[RTP_HDR + PAYLOAD] = w->tx;
	unsigned pt = w->o->pt;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct stream *who[BATCH];
	unsigned i = 0;
	int more = 0;

	for (;;) {
		int k = 0;
		while (k < BATCH && i < st->n) {
			struct stream *s = &st->streams[i++];
			if (s->due_ns > now)
				continue;
			int64_t over = now - st->catch_up_ns - s->due_ns; /* past the catch-up */
			if (over > 0) {
				int64_t stale = (over + FRAME_NS - 1) / FRAME_NS;
				st->skipped += (uint64_t)stale;
				s->due_ns += stale * FRAME_NS; /* within catch-up of now, and due */
			}
			uint8_t *p = pkt[k];
			uint16_t seq = htons(s->seq);
			uint32_t ts = htonl(s->ts);
			p[0] = 0x80;
			p[1] = (uint8_t)(pt | (s->marker ? 0x80 : 0));
			memcpy(p + 2, &seq, 2);
			memcpy(p + 4, &ts, 4);
			memcpy(p + 8, &s->ssrc, 4);
			memcpy(p + RTP_HDR, st->audio + s->offset, PAYLOAD);
			iov[k] = (struct iovec){p, sizeof(pkt[k])};
			msgs[k].msg_hdr = (struct msghdr){.msg_name = &s->to,
			                                  .msg_namelen = sizeof(s->to),
			                                  .msg_iov = &iov[k],
			                                  .msg_iovlen = 1};
			who[k++] = s;
		}
		if (!k)
			return more;
		int n = sendmmsg(w->fd, msgs, (unsigned)k, MSG_DONTWAIT);
		if (n < 0)
			n = 0;
		for (int j = 0; j < k; j++) {
			struct stream *s = who[j];
			if (j >= n) { /* not taken (a full socket buffer): due again next time */
				st->send_errors++;
				continue;
			}
			s->seq++;
			s->ts += PAYLOAD;
			s->marker = false;
			s->offset = (s->offset + PAYLOAD) % st->audio_len;
			s->due_ns += FRAME_NS;
			if (s->due_ns <= now)
				more = 1;
			st->sent++;
		}
		if (n < k)
			return -1;
	}
}

/* Sends every packet due by now. A stream that a slow turn left behind sends all it owes at
 * once, as a caller's packets held up on their way arrive together: one packet a stream a turn
 * would leave it behind for good while turns take longer than a packet's 20 ms. Each pass
 * moves every stream it sends on by 20 ms, so at most catch-up / 20 ms + 1 passes send, and
 * a turn where no stream was behind makes one. */
static void send_due(struct worker *w, int64_t now)
{
	while (send_pass(w, now) > 0)
		;
}

static int load_audio(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *b;
	size_t n;

	if (!f)
		return -errno;
	b = malloc(MAX_AUDIO);
	n = b ? fread(b, 1, MAX_AUDIO, f) : 0;
	fclose(f);
	n -= n % PAYLOAD;
	if (!n) {
		free(b);
		return -EINVAL;
	}
	*out = b;
	*len = n;
	return 0;
}

/* Lets through the bridge's packets whose RTP sequence number is a multiple of keep (a power
 * of two), and anything too short to have one; drops the rest in the kernel. A UDP socket's
 * filter sees the packet from its UDP header on: the sequence number is at 8 + 2. */
static int attach_keep_filter(int fd, unsigned keep)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
	        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 8 + RTP_HDR, 0, 2),
	        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 8 + 2),
	        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, keep - 1, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, 0xffff),
	        BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (keep <= 1)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static int open_socket(unsigned port, unsigned keep, bool shared)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), buf = 16 << 20,
	    pmtu = IP_PMTUDISC_DO, on = 1;

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Room for what the bridge sends between two reads, and for a batch of sends. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	/* DF and no local fragmenting, as the bridge's own media: the kernel writes an IP ID of 0
	 * instead of drawing one from its shared table for each packet. */
	(void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	if ((shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) ||
	    attach_keep_filter(fd, keep) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void usage(FILE *f)
{
	fputs("usage: sipbridge-rtpsource --port PORT --audio FILE [--pt 8] [--idle-ms 200]\n"
	      "                           [--keep 4] [--catch-up-ms 100] [--duration SECONDS]\n"
	      "                           [--threads 1] [--out FILE]\n"
	      "  Sends the G.711 of FILE (looped) to every bridge port that sends RTP to\n"
	      "  127.0.0.1:PORT, 20 ms a packet, until that port has been quiet for --idle-ms.\n"
	      "  A stream it fell behind on sends what it owes at once; packets more than\n"
	      "  --catch-up-ms (20-2000) late are skipped, counted.\n"
	      "  Reads 1 in --keep (1, 2 or 4) of the bridge's packets, by sequence number.\n"
	      "  --threads (1-8) splits the streams between threads, a socket each on PORT.\n",
	      f);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {{"port", required_argument, NULL, 'p'},
	                                      {"audio", required_argument, NULL, 'a'},
	                                      {"pt", required_argument, NULL, 't'},
	                                      {"idle-ms", required_argument, NULL, 'i'},
	                                      {"keep", required_argument, NULL, 'k'},
	                                      {"catch-up-ms", required_argument, NULL, 'c'},
	                                      {"duration", required_argument, NULL, 'd'},
	                                      {"out", required_argument, NULL, 'o'},
	                                      {"threads", required_argument, NULL, 'n'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {NULL, 0, NULL, 0}};
	int c, li;

	/* --catch-up-ms: a source held back longer than 100 ms could not get the CPU it needs, and
	 * its skips say so. Sending all it owes would make its next turns longer, and its burst of
	 * every stream's packets at once a wall of receives for the bridge, which callers on paths
	 * of their own do not send. */
	*o = (struct opts){.pt = 8,
	                   .idle_ms = 200,
	                   .duration_s = 3600,
	                   .keep = 4,
	                   .catch_up_ms = 100,
	                   .threads = 1};
	while ((li = -1, c = getopt_long(argc, argv, "", lopts, &li)) != -1) {
		int r = 0;
		switch (c) {
		case 'p':
			r = parse_uint(optarg, 1, 65535, &o->port);
			break;
		case 'a':
			o->audio_path = optarg;
			break;
		case 't':
			r = parse_uint(optarg, 0, 127, &o->pt);
			break;
		case 'i':
			r = parse_uint(optarg, 20, 60000, &o->idle_ms);
			break;
		case 'k':
			r = parse_uint(optarg, 1, 4, &o->keep);
			if (!r && (o->keep & (o->keep - 1)))
				r = -EINVAL;
			break;
		case 'c':
			r = parse_uint(optarg, 20, 2000, &o->catch_up_ms);
			break;
		case 'd':
			r = parse_uint(optarg, 1, MAX_DURATION_S, &o->duration_s);
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case 'n':
			r = parse_uint(optarg, 1, MAX_THREADS, &o->threads);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			r = -EINVAL;
		}
		if (r < 0) {
			if (c != '?' && li >= 0)
				fprintf(stderr, "sipbridge-rtpsource: bad --%s\n", lopts[li].name);
			return r;
		}
	}
	if (optind != argc || !o->port || !o->audio_path)
		return -EINVAL;
	/* A stream must see a kept packet well within --idle-ms, or it ends between two. */
	if (o->idle_ms < 2 * o->keep * (unsigned)(FRAME_NS / 1000000)) {
		fprintf(stderr,
		        "sipbridge-rtpsource: --idle-ms must be at least %u with --keep %u\n",
		        2 * o->keep * (unsigned)(FRAME_NS / 1000000), o->keep);
		return -EINVAL;
	}
	return 0;
}

/* A thread's loop on its 1 ms grid: read, end the quiet streams, send what is due. */
static void *run(void *arg)
{
	struct worker *w = arg;
	struct state *st = &w->st;
	int64_t next = w->start_ns;

	while (!stopped() && next < w->deadline_ns) {
		struct timespec ts = {next / 1000000000, next % 1000000000};
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			continue;
		int64_t now = now_ns(CLOCK_MONOTONIC), late = now - next, took;
		st->turns++;
		if (late > LATE_TURN_NS)
			st->turns_late++;
		if (late > st->late_max_ns)
			st->late_max_ns = late;
		drain(w);
		reap(st, now, (int64_t)w->o->idle_ms * 1000000);
		send_due(w, now + GRID_NS / 2);
		took = now_ns(CLOCK_MONOTONIC) - now;
		if (took > st->turn_max_ns)
			st->turn_max_ns = took;
		next += GRID_NS;
		if (next < now) /* late: the grid goes on from the thread's next mark after now */
			next = now + GRID_NS - (now - w->start_ns) % GRID_NS;
	}
	return NULL;
}

/* The threads' figures as one source's: counts added, the latest and longest turns the most. */
static struct state total(const struct worker *w, unsigned n)
{
	struct state t = {0};

	for (unsigned i = 0; i < n; i++) {
		const struct state *s = &w[i].st;
		t.n += s->n;
		t.started += s->started;
		t.ended += s->ended;
		t.sent += s->sent;
		t.received += s->received;
		t.send_errors += s->send_errors;
		t.short_packets += s->short_packets;
		t.skipped += s->skipped;
		t.turns += s->turns;
		t.turns_late += s->turns_late;
		if (s->late_max_ns > t.late_max_ns)
			t.late_max_ns = s->late_max_ns;
		if (s->turn_max_ns > t.turn_max_ns)
			t.turn_max_ns = s->turn_max_ns;
	}
	return t;
}

int main(int argc, char **argv)
{
	struct worker *w = NULL;
	struct opts o;
	uint8_t *audio = NULL;
	size_t audio_len = 0;
	unsigned opened = 0, started = 1;
	int64_t t0;
	FILE *out = stdout;
	int r, rc = 1;

	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	stop_on_signals();
	r = load_audio(o.audio_path, &audio, &audio_len);
	if (r < 0) {
		fprintf(stderr, "sipbridge-rtpsource: %s: %s\n", o.audio_path,
		        r == -EINVAL ? "no whole 20 ms frame in it" : strerror(-r));
		return 1;
	}
	w = calloc(o.threads, sizeof(*w));
	if (!w)
		goto nomem;
	for (unsigned i = 0; i < o.threads; i++) {
		struct state *st = &w[i].st;
		st->audio = audio;
		st->audio_len = audio_len;
		st->catch_up_ns = (int64_t)o.catch_up_ms * 1000000;
		st->streams = calloc(MAX_STREAMS, sizeof(*st->streams));
		st->by_port = calloc(MAX_STREAMS, sizeof(*st->by_port));
		if (!st->streams || !st->by_port)
			goto nomem;
		w[i].o = &o;
	}
	for (; opened < o.threads; opened++) {
		w[opened].fd = open_socket(o.port, o.keep, o.threads > 1);
		if (w[opened].fd < 0) {
			fprintf(stderr, "sipbridge-rtpsource: 127.0.0.1:%u: %s\n", o.port,
			        strerror(-w[opened].fd));
			goto out;
		}
	}
	if (o.out_path && !(out = fopen(o.out_path, "we"))) {
		fprintf(stderr, "sipbridge-rtpsource: %s: %s\n", o.out_path, strerror(errno));
		goto out;
	}
	/* Tells a waiting runner that the sockets are bound. */
	fputs("sipbridge-rtpsource: ready\n", stderr);
	t0 = now_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < o.threads; i++) {
		/* The threads' grids interleave, so that they do not all wake at once. */
		w[i].start_ns = t0 + (int64_t)i * GRID_NS / o.threads;
		w[i].deadline_ns = t0 + (int64_t)o.duration_s * 1000000000;
	}
	for (; started < o.threads; started++) {
		r = pthread_create(&w[started].thread, NULL, run, &w[started]);
		if (r) {
			fprintf(stderr, "sipbridge-rtpsource: a thread: %s\n", strerror(r));
			stop_now();
			break;
		}
	}
	run(&w[0]);
	for (unsigned i = 1; i < started; i++)
		pthread_join(w[i].thread, NULL);
	struct state st = total(w, o.threads);
	fprintf(out,
	        "{\"streams_started\":%" PRIu64 ",\"streams_ended\":%" PRIu64
	        ",\"streams_open\":%u,\"packets_sent\":%" PRIu64 ",\"packets_received\":%" PRIu64
	        ",\"keep\":%u,\"threads\":%u"
	        ",\"send_retries\":%" PRIu64 ",\"bad_packets\":%" PRIu64 ",\"turns\":%" PRIu64
	        ",\"turns_late\":%" PRIu64 ",\"turn_late_max_ms\":%.2f,\"turn_max_ms\":%.2f"
	        ",\"packets_skipped\":%" PRIu64 ",\"catch_up_ms\":%u,\"seconds\":%.1f",
	        st.started, st.ended, st.n, st.sent, st.received, o.keep, o.threads, st.send_errors,
	        st.short_packets, st.turns, st.turns_late, (double)st.late_max_ns / 1e6,
	        (double)st.turn_max_ns / 1e6, st.skipped, o.catch_up_ms,
	        (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	for (unsigned i = 0; i < o.threads; i++) /* and the streams each thread started */
		fprintf(out, "%s%" PRIu64, i ? "," : ",\"streams_by_thread\":[", w[i].st.started);
	fputs("]}\n", out);
	rc = fflush(out) == 0 && started == o.threads ? 0 : 1;
	goto out;
nomem:
	fputs("sipbridge-rtpsource: out of memory\n", stderr);
out:
	if (out && out != stdout)
		fclose(out);
	for (unsigned i = 0; i < opened; i++)
		close(w[i].fd);
	for (unsigned i = 0; w && i < o.threads; i++) {
		free(w[i].st.streams);
		free(w[i].st.by_port);
	}
	free(w);
	free(audio);
	return rc;
}

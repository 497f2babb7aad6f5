/* SDES-SRTP contexts on libsrtp2 (the only file that includes <srtp2/srtp.h>): one inbound
 * context keyed with the far end's master key, one outbound keyed with ours; protect and
 * unprotect work in place and allocate nothing per packet of a known SSRC, and the inbound
 * context keeps the streams of the few most recent SSRCs only (rx_seen). Thread: the owner of
 * the contexts (a media worker); sb_srtp_init and sb_srtp_random_key from any. Owns the
 * srtp_t pair. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <srtp2/srtp.h>

#include <sb/common.h>
#include <sb/srtp_ctx.h>

_Static_assert(SB_SRTP_MAX_TRAILER >= SRTP_MAX_TRAILER_LEN + 4, "SRTP trailer room");

/* A kept inbound stream that has had no packet while the far end sent this many (about 5 s of
 * a 20 ms stream) may give its place to a new SSRC (rx_seen). */
#define SB_SRTP_RX_IDLE_PACKETS 250
_Static_assert(SB_SRTP_KEY_BYTES == SRTP_AES_ICM_128_KEY_LEN_WSALT, "SDES key length");

struct sb_srtp {
	enum sb_srtp_suite suite;
	srtp_t rx, tx;
	bool rx_mki, tx_mki; /* packets carry an MKI */
	/* The SSRCs rx holds a stream for, most recently used first, and the rx_count of each
	 * one's last packet (rx_seen). */
	uint32_t rx_ssrc[SB_SRTP_RX_STREAMS];
	uint64_t rx_last[SB_SRTP_RX_STREAMS];
	uint64_t rx_count; /* inbound packets that authenticated */
	unsigned rx_n;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_lib(void)
{
	init_result = srtp_init() == srtp_err_status_ok ? 0 : -EIO;
}

int sb_srtp_init(void)
{
	pthread_once(&init_once, init_lib);
	return init_result;
}

const char *sb_srtp_suite_name(enum sb_srtp_suite s)
{
	switch (s) {
	case SB_SRTP_AES_CM_128_HMAC_SHA1_80:
		return "AES_CM_128_HMAC_SHA1_80";
	case SB_SRTP_AES_CM_128_HMAC_SHA1_32:
		return "AES_CM_128_HMAC_SHA1_32";
	default:
		return "";
	}
}

void sb_srtp_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

int sb_srtp_random_key(struct sb_srtp_key *k)
{
	size_t got = 0;

	memset(k, 0, sizeof(*k));
	while (got < sizeof(k->key)) {
		ssize_t n = getrandom(k->key + got, sizeof(k->key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/* One direction's context. The 32-bit suite shortens only the SRTP tag: SRTCP keeps the
 * 80-bit one (RFC 4568 6.2.2). */
static int create(srtp_t *ctx, enum sb_srtp_suite suite, const struct sb_srtp_key *k, bool inbound)
{
	srtp_master_key_t mk = {0}, *keys[1] = {&mk};
	unsigned char key[SB_SRTP_KEY_BYTES], mki[SB_SRTP_MKI_MAX];
	srtp_policy_t p;
	srtp_err_status_t st;

	memset(&p, 0, sizeof(p));
	if (suite == SB_SRTP_AES_CM_128_HMAC_SHA1_80)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
	else if (suite == SB_SRTP_AES_CM_128_HMAC_SHA1_32)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
	else
		return -EINVAL;
	if (k->mki_len > SB_SRTP_MKI_MAX)
		return -EINVAL;
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
	p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	memcpy(key, k->key, sizeof(key));
	memcpy(mki, k->mki, sizeof(mki));
	if (k->mki_len) { /* with an MKI, libsrtp takes the key from the keys array */
		mk.key = key;
		mk.mki_id = mki;
		mk.mki_size = k->mki_len;
		p.keys = keys;
		p.num_master_keys = 1;
	} else {
		p.key = key;
	}
	st = srtp_create(ctx, &p);
	explicit_bzero(key, sizeof(key));
	if (st == srtp_err_status_ok)
		return 0;
	*ctx = NULL;
	return st == srtp_err_status_alloc_fail ? -ENOMEM : -EIO;
}

int sb_srtp_new(struct sb_srtp **ret, const struct sb_srtp_keys *k)
{
	struct sb_srtp *s;
	int r = sb_srtp_init();

	if (r < 0)
		return r;
	if (k->suite != SB_SRTP_AES_CM_128_HMAC_SHA1_80 &&
	    k->suite != SB_SRTP_AES_CM_128_HMAC_SHA1_32)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->suite = k->suite;
	s->rx_mki = k->rx.mki_len > 0;
	s->tx_mki = k->tx.mki_len > 0;
	r = create(&s->rx, k->suite, &k->rx, true);
	if (r == 0)
		r = create(&s->tx, k->suite, &k->tx, false);
	if (r < 0) {
		sb_srtp_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int sb_srtp_set_rx(struct sb_srtp *s, const struct sb_srtp_key *rx)
{
	srtp_t ctx;
	int r = create(&ctx, s->suite, rx, true);

	if (r < 0)
		return r;
	srtp_dealloc(s->rx);
	s->rx = ctx;
	s->rx_mki = rx->mki_len > 0;
	s->rx_n = 0; /* the new context holds no stream yet */
	return 0;
}

struct sb_srtp *sb_srtp_free(struct sb_srtp *s)
{
	if (!s)
		return NULL;
	if (s->rx)
		srtp_dealloc(s->rx);
	if (s->tx)
		srtp_dealloc(s->tx);
	free(s);
	return NULL;
}

/* libsrtp's inbound template clones a stream (about 270 bytes with its replay window) for every
 * SSRC whose packet authenticates and keeps it until the context goes, so a caller with the
 * key sending a new SSRC in each packet would grow memory without bound. Called after a packet
 * of ssrc authenticated, this keeps the streams of at most SB_SRTP_RX_STREAMS SSRCs, most
 * recently used first. A new SSRC takes a free place, or the least recently used stream's if
 * that one has been idle for SB_SRTP_RX_IDLE_PACKETS; otherwise every kept stream is in use and
 * the new SSRC is refused (-EBUSY), its stream removed. A stream in use is never evicted, so
 * its replay window holds: a replayed packet of a removed SSRC is accepted again only once
 * that SSRC and every other kept one had fallen silent, which a far end that changed its SSRC
 * leaves behind. At most SB_SRTP_RX_STREAMS compares and no allocation for a known SSRC; a
 * packet of a new SSRC costs libsrtp a malloc and a free or two. */
static int rx_seen(struct sb_srtp *s, uint32_t ssrc)
{
	unsigned i = 0;

	s->rx_count++;
	while (i < s->rx_n && s->rx_ssrc[i] != ssrc)
		i++;
	if (i == s->rx_n && s->rx_n < SB_SRTP_RX_STREAMS) {
		s->rx_n++;
	} else if (i == s->rx_n) {
		i = s->rx_n - 1; /* the least recently used */
		if (s->rx_count - s->rx_last[i] <= SB_SRTP_RX_IDLE_PACKETS) {
			(void)srtp_remove_stream(s->rx, htonl(ssrc));
			return -EBUSY;
		}
		/* it fails only for an SSRC libsrtp does not hold */
		(void)srtp_remove_stream(s->rx, htonl(s->rx_ssrc[i]));
	}
	memmove(&s->rx_ssrc[1], &s->rx_ssrc[0], i * sizeof(s->rx_ssrc[0]));
	memmove(&s->rx_last[1], &s->rx_last[0], i * sizeof(s->rx_last[0]));
	s->rx_ssrc[0] = ssrc;
	s->rx_last[0] = s->rx_count;
	return 0;
}

bool sb_srtp_rx_has_stream(const struct sb_srtp *s, uint32_t ssrc)
{
	uint32_t roc;

	/* asks libsrtp (host byte order here), not rx_ssrc, so that tests see what it holds */
	return srtp_get_stream_roc(s->rx, ssrc, &roc) == srtp_err_status_ok;
}

static int rx_status(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_auth_fail:
		return -EACCES;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
		return -EALREADY;
	default:
		return -EBADMSG;
	}
}

/* libsrtp takes an int length; a packet is never near that, but the buffer is checked. */
static int tx_room(const size_t *len, size_t cap, int *n)
{
	if (*len > cap || cap - *len < SB_SRTP_MAX_TRAILER || cap > INT32_MAX)
		return -EMSGSIZE;
	*n = (int)*len;
	return 0;
}

int sb_srtp_protect(struct sb_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
	int n, r = tx_room(len, cap, &n);

	if (r < 0)
		return r;
	if (srtp_protect_mki(s->tx, pkt, &n, s->tx_mki, 0) != srtp_err_status_ok)
		return -EIO;
	*len = (size_t)n;
	return 0;
}

int sb_srtp_protect_rtcp(struct sb_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
	int n, r = tx_room(len, cap, &n);

	if (r < 0)
		return r;
	if (srtp_protect_rtcp_mki(s->tx, pkt, &n, s->tx_mki, 0) != srtp_err_status_ok)
		return -EIO;
	*len = (size_t)n;
	return 0;
}

int sb_srtp_unprotect(struct sb_srtp *s, uint8_t *pkt, size_t *len)
{
	int n = (int)*len, r;

	if (*len > INT32_MAX)
		return -EBADMSG;
	r = rx_status(srtp_unprotect_mki(s->rx, pkt, &n, s->rx_mki));
	if (r == 0)
		r = rx_seen(s, sb_get_be32(pkt + 8)); /* the RTP header's SSRC, never encrypted */
	if (r == 0)
		*len = (size_t)n;
	return r;
}

int sb_srtp_unprotect_rtcp(struct sb_srtp *s, uint8_t *pkt, size_t *len)
{
	int n = (int)*len, r;

	if (*len > INT32_MAX)
		return -EBADMSG;
	r = rx_status(srtp_unprotect_rtcp_mki(s->rx, pkt, &n, s->rx_mki));
	/* the sender's SSRC: SRTCP shares its stream with the sender's SRTP */
	if (r == 0)
		r = rx_seen(s, sb_get_be32(pkt + 4));
	if (r == 0)
		*len = (size_t)n;
	return r;
}

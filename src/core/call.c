/* Call object lifetime: allocation, ids, reference counting, destruction. The destructor
 * only frees memory; workers close their own resources before dropping their references.
 * Thread: any. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sb/call.h>

void sb_random_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[64];
	size_t got = 0;

	if (n > 2 * sizeof(raw))
		n = 2 * sizeof(raw);
	while (got < (n + 1) / 2) {
		ssize_t r = getrandom(raw + got, (n + 1) / 2 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	for (size_t i = got; i < (n + 1) / 2; i++)
		raw[i] = (uint8_t)rand(); /* getrandom cannot fail for small requests */
	for (size_t i = 0; i < n; i++)
		buf[i] = hex[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
	buf[n] = '\0';
}

/* What crosses threads keeps to the cache lines call.h gives it: the clear epoch, the naming
 * handshake, the packet counts and the control fields each on lines of their own. */
#define SB_LINE_OF(f) (offsetof(struct sb_call, f) / 64)
_Static_assert(SB_LINE_OF(_ready) > SB_LINE_OF(clear_epoch) &&
                       SB_LINE_OF(_ready_next) == SB_LINE_OF(_ready) &&
                       SB_LINE_OF(up_need) == SB_LINE_OF(_ready),
               "the naming handshake shares the clear epoch's line");
_Static_assert(SB_LINE_OF(rtp_in_live) > SB_LINE_OF(_ready_next) &&
                       SB_LINE_OF(rtp_out_live) == SB_LINE_OF(rtp_in_live),
               "the packet counts share a line with the naming handshake, or are split");
_Static_assert(SB_LINE_OF(nh) > SB_LINE_OF(rtp_out_live),
               "the control fields share the packet counts' line");

int sb_call_new(struct sb_call **ret)
{
	/* Its alignment, so that what crosses threads keeps to the cache lines call.h gives it
	 * (malloc promises 16 bytes). */
	struct sb_call *c = aligned_alloc(_Alignof(struct sb_call), sizeof(*c));

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	atomic_init(&c->refs, 1);
	atomic_init(&c->up_need, 1);
	c->rtp_fd = c->rtcp_fd = -1;
	c->end_ev = -1;
	sb_random_hex(c->id, SB_CALL_ID_LEN);
	sb_random_hex(c->stream_sid, SB_CALL_ID_LEN);
	if (sb_ring_init(&c->up, SB_UP_RING_FRAMES) < 0 ||
	    sb_ring_init(&c->down, SB_DOWN_RING_FRAMES) < 0) {
		sb_call_unref(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

struct sb_call *sb_call_ref(struct sb_call *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

static void free_params(struct sb_call *c)
{
	for (size_t i = 0; i < c->n_params; i++) {
		free((char *)c->params[i].name);
		free((char *)c->params[i].value);
	}
	free(c->params);
	c->params = NULL;
	c->n_params = 0;
}

struct sb_call *sb_call_unref(struct sb_call *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return NULL;
	if (c->rtp_fd >= 0)
		close(c->rtp_fd);
	if (c->rtcp_fd >= 0)
		close(c->rtcp_fd);
	sb_ring_done(&c->up);
	sb_ring_done(&c->down);
	sb_up_spill_done(&c->up_left);
	free_params(c);
	free(c->sip_call_id);
	free(c->xfer_target);
	free(c->after_ack_req);
	free(c->from_user);
	free(c->to_user);
	free(c->account_sid);
	/* SRTP keys: the offers' copies and the answer's a=crypto line */
	sb_srtp_wipe(&c->offer, sizeof(c->offer));
	sb_srtp_wipe(&c->offer_now, sizeof(c->offer_now));
	if (c->answer_sdp)
		sb_srtp_wipe(c->answer_sdp, strlen(c->answer_sdp));
	free(c->answer_sdp);
	sb_config_unref(c->cfg);
	free(c);
	return NULL;
}

int sb_call_set_params(struct sb_call *c, const struct sb_kv *params, size_t n)
{
	free_params(c);
	if (n == 0)
		return 0;
	c->params = calloc(n, sizeof(*c->params));
	if (!c->params)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c->params[i].name = strdup(params[i].name);
		c->params[i].value = strdup(params[i].value);
		c->n_params = i + 1;
		if (!c->params[i].name || !c->params[i].value)
			return -ENOMEM;
	}
	return 0;
}

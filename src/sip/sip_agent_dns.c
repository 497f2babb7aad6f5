/* Host names of bridged transfer targets, looked up off the control thread: sofia's own
 * resolver reads neither /etc/hosts nor NSS, so a name with a port goes to the resolver pool
 * (getaddrinfo), and its answers come back on a queue of their own whose eventfd su_root
 * watches. An answer names its key ("4 HOST" or "6 HOST"), never a call: the transfers that
 * still wait for that key go on, and a call that ended or gave up meanwhile is not found, so
 * an answer holds nothing to free.
 * Thread: control (the pool's threads only run the lookups). Owns the resolver and its queue. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define LOG_SUBSYS "xfer"
#include <sb/log.h>

#include <sb/metrics.h>
#include <sb/msg.h>
#include <sb/resolver.h>

#include "sip_agent_priv.h"

/* Every call whose transfer waits for key goes on with the answer. */
static void answered(struct sb_sip_agent *a, const struct sb_msg *m)
{
	bool found = false;

	for (struct sb_call *c = LIST_FIRST(&a->calls), *next; c; c = next) {
		next = LIST_NEXT(c, reg);
		if (!c->xfer || strcmp(c->xfer->dns_key, m->text) != 0)
			continue;
		found = true;
		sb_call_ref(c);
		sb_sip_transfer_resolved(a, c, m->data, (int)m->arg);
		sb_call_unref(c);
	}
	/* The call ended, or its transfer timed out, while the lookup ran. */
	if (!found)
		log_info("Lookup of %s answered after its transfer ended, ignoring", m->text + 2);
}

static int on_answers(struct sb_sip_agent *a, su_wait_t *w, struct sb_sip_agent *arg)
{
	(void)w;
	(void)arg;
	for (struct sb_msg *m = sb_mq_pop_all(a->dns_answers), *next; m; m = next) {
		next = m->next;
		answered(a, m);
		sb_msg_free(m);
	}
	return 0;
}

int sb_sip_dns_start(struct sb_sip_agent *a)
{
	int r = sb_mq_new(&a->dns_answers);

	if (r < 0)
		return log_error_errno(r, "Cannot create the transfer resolver's queue");
	su_wait_create(&a->dns_wait, sb_mq_fd(a->dns_answers), SU_WAIT_IN);
	a->dns_idx = su_root_register(a->root, &a->dns_wait, on_answers, a, 0);
	if (a->dns_idx < 0) {
		a->dns_idx = 0;
		return log_error_errno(EIO, "Cannot watch the transfer resolver's queue");
	}
	/* No thread until the first name: most deployments dial numeric targets. */
	r = sb_resolver_new(&a->resolver, 0, sb_resolve_in_family, a->dns_answers,
	                    &sb_metrics.transfer_dns_lookups_active[SB_M_NONE_ALL]);
	if (r < 0)
		return log_error_errno(r, "Cannot start the transfer resolver");
	return 0;
}

void sb_sip_dns_stop(struct sb_sip_agent *a)
{
	/* First the resolver: once it is let go nothing more is pushed to the queue. */
	a->resolver = sb_resolver_free(a->resolver);
	if (a->dns_idx > 0) {
		su_root_deregister(a->root, a->dns_idx);
		a->dns_idx = 0;
	}
	a->dns_answers = sb_mq_free(a->dns_answers);
}

int sb_sip_dns_ask(struct sb_sip_agent *a, const char *key)
{
	return a->resolver ? sb_resolver_ask(a->resolver, key) : -ENOMEM;
}

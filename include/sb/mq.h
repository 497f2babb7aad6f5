/* Multi-producer single-consumer command queue between threads (mutex + list) that wakes its
 * consumer through an eventfd, or through a wake callback for a libwebsockets thread.
 * Thread: push from any thread; pop on the owning thread only. */
#pragma once

#include <stdint.h>

struct sb_call;

/* One command. Allocated by the sender, freed by the receiver (sb_msg_free). A message that
 * names a call carries a reference to it taken by the sender. */
struct sb_msg {
	struct sb_msg *next;
	int type;             /* enum sb_msg_type (msg.h) */
	struct sb_call *call; /* referenced, or NULL */
	int64_t arg;          /* type-specific */
	char *text;           /* type-specific, malloc'd or NULL */
	void *data;           /* type-specific, malloc'd or NULL */
};

struct sb_mq;
typedef void sb_mq_wake_fn(void *arg);

/* Thread: any. Creates a queue with its eventfd. Returns 0 or a negative errno. */
int sb_mq_new(struct sb_mq **ret);
/* Thread: owner. Frees the queue and every message left in it (dropping their call
 * references); accepts NULL; returns NULL. */
struct sb_mq *sb_mq_free(struct sb_mq *q);
/* Thread: owner, before producers start. Wakes the consumer with fn(arg) instead of the
 * eventfd (the callback must be callable from any thread). */
void sb_mq_set_wake(struct sb_mq *q, sb_mq_wake_fn *fn, void *arg);
/* Thread: any. The eventfd to poll for readability. */
int sb_mq_fd(const struct sb_mq *q);
/* Thread: any. Appends m (ownership passes to the queue) and wakes the consumer. */
void sb_mq_push(struct sb_mq *q, struct sb_msg *m);
/* Thread: owner. Takes every queued message, oldest first, as a list linked by next; clears
 * the eventfd. NULL when empty. */
struct sb_msg *sb_mq_pop_all(struct sb_mq *q);

/* Thread: any. Allocates a message; takes a reference on call if not NULL. NULL on OOM. */
struct sb_msg *sb_msg_new(int type, struct sb_call *call, int64_t arg);
/* Thread: any. Frees m, its text, data and call reference; accepts NULL; returns NULL. */
struct sb_msg *sb_msg_free(struct sb_msg *m);

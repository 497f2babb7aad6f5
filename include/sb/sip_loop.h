/* sofia's loop without empty polls. su_base_port_run() waits on its sockets for the time to
 * its first timer in whole milliseconds, cut down: with a timer under a millisecond away it
 * polls with no timeout, over and over, until the timer is due. nta sets its transaction
 * timer to the microsecond, so at a few hundred set-ups a second the control thread made tens
 * of thousands of such polls a second (docs/performance.md, *The control thread's empty
 * polls*). A hook sofia calls before each poll sleeps until such a timer is due instead.
 * Thread: the one that runs the root (control). */
#pragma once

#include <sofia-sip/su_time.h>

/* As su_wait.h has it, without its context types, which the caller may have chosen. */
typedef struct su_root_s su_root_t;

/* The microseconds from now until the first of root's timers, when it is due within the
 * next millisecond and not yet; 0 otherwise (due already, further off, or none). */
long sb_sip_loop_due_us(su_root_t *root, su_time_t now);

/* Has root's loop sleep sb_sip_loop_due_us() before each poll. 0, or -EBUSY when the root
 * has a pre-poll hook already. */
int sb_sip_loop_hook(su_root_t *root);

/* The SIP side (sofia-sip nua): listens, screens INVITEs (ACL, DID, bot, SDP, limits), runs
 * each call's state machine and drives the workers. The only user of nua.
 * Thread: control. */
#pragma once

struct sb_daemon;

/* Thread: control. Binds the SIP transports and serves until SIGTERM/SIGINT, then hangs up
 * every call, shuts nua down and returns 0; a negative errno when start-up fails. ready() is
 * called once the transports are bound. */
int sb_sip_agent_run(struct sb_daemon *d, void (*ready)(struct sb_daemon *d));

/* The test bot's timers on the libev loop. lws 4.1's libev plugin re-arms its timer watcher
 * with ev_timer_set() while it is still active, which libev does not allow: a timer set from a
 * callback (the tone's and the scripts' pacing) then waits for whatever was due before it. So
 * each connection's timer has a libev watcher of its own beside lws's, which wakes lws's loop
 * when it is due, and one more watcher wakes it every TICK_S for lws's own timers (its
 * time-outs). A watcher waking lws every millisecond instead cost an idle bot 2.4 % of a core.
 * Thread: main (the lws service thread). */
#include <ev.h>

#include "testbot.h"

#define TICK_S 0.05

static void wake_lws(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sb_tb_app *app = t->data;

	(void)loop;
	(void)revents;
	lws_cancel_service(app->ctx);
}

void sb_tb_timer_start(struct sb_tb_app *app)
{
	ev_timer_init(&app->tick, wake_lws, TICK_S, TICK_S);
	app->tick.data = app;
	ev_timer_start(app->loop, &app->tick);
}

void sb_tb_set_timer(struct sb_tb_conn *c, lws_usec_t us)
{
	struct sb_tb_app *app = c->app;

	lws_set_timer_usecs(c->wsi, us);
	if (!app->loop)
		return;
	ev_timer_stop(app->loop, &c->timer);
	ev_timer_init(&c->timer, wake_lws, (ev_tstamp)us / 1e6, 0.);
	c->timer.data = app;
	/* From the clock now, not the loop's time of this turn, or it fires before lws's timer
	 * is due. */
	ev_now_update(app->loop);
	ev_timer_start(app->loop, &c->timer);
}

void sb_tb_timer_stop(struct sb_tb_conn *c)
{
	if (c->app->loop)
		ev_timer_stop(c->app->loop, &c->timer);
}

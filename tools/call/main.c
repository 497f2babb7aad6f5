/* sipbridge-call: checks the command line and the WAV files, places the call, runs the loop
 * that paces the media and ends the call (--timeout, --duration, a signal, a hard limit),
 * then prints the JSON line and picks the exit status.
 * Thread: main, the only one; signal handlers only set a flag. Owns the file's audio.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

#define STEP_MS 5 /* the loop's longest wait: media is paced on it */
/* Beyond timeout + duration from the run's start (a --to name's lookup, at most
 * SB_CL_LOOKUP_MS, included) the call is dropped, whatever happens; with nua's shutdown (at
 * most 1 s) the run ends within 5 s of them. */
#define HARD_SLACK_MS 4000

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The file and 1 s after it (10 s without a file), and time for every key. */
static double default_duration(const struct sb_cl_opts *o, size_t play_n)
{
	size_t keys = strlen(o->dtmf);
	double keys_s = (double)keys * (SB_CL_DTMF_MS + SB_CL_DTMF_GAP_MS) / 1000;
	double d = 10.0;

	if (o->play) /* a key pauses the file for its own length */
		d = (double)play_n / SB_RATE_8K + (double)keys * SB_CL_DTMF_MS / 1000 + 1.0;
	if (keys && o->dtmf_at_s + keys_s + 1.0 > d)
		d = o->dtmf_at_s + keys_s + 1.0;
	return d;
}

static void set_reason(struct sb_cl_app *a, int code, const char *reason)
{
	a->res.code = code;
	snprintf(a->res.reason, sizeof(a->res.reason), "%s", reason);
}

/* One pass of the loop after sofia's step: media, then whatever ends the call. */
static void tick(struct sb_cl_app *a, int64_t hard_ms, bool *hard_hit)
{
	int64_t now_us = sb_now_us(), now_ms = now_us / 1000;
	const struct sb_cl_opts *o = a->opts;

	sb_cl_media_rx(&a->media, now_us);
	if (a->state == SB_CL_ST_ACTIVE)
		sb_cl_media_tx_tick(&a->media, now_us);
	if (got_signal == SIGINT || got_signal == SIGTERM) {
		got_signal = -1; /* once */
		if (a->state == SB_CL_ST_CALLING)
			set_reason(a, 0, "cancelled");
		sb_cl_sip_hangup(a, now_ms);
	}
	if (a->state == SB_CL_ST_CALLING &&
	    now_ms - a->start_ms >= (int64_t)(o->timeout_s * 1000)) {
		set_reason(a, 0, "timeout");
		sb_cl_sip_hangup(a, now_ms);
	} else if (a->state == SB_CL_ST_ACTIVE &&
	           now_ms - a->answer_ms >= (int64_t)(a->duration_s * 1000)) {
		sb_cl_sip_hangup(a, now_ms);
	} else if ((a->state == SB_CL_ST_CANCELLING || a->state == SB_CL_ST_ENDING) &&
	           now_ms >= a->phase_deadline_ms) {
		sb_cl_verbose(a, "no answer to the %s, giving up on it",
		              a->state == SB_CL_ST_ENDING ? "BYE" : "CANCEL");
		a->state = SB_CL_ST_DONE;
	}
	if (a->state != SB_CL_ST_DONE && now_ms >= hard_ms) {
		*hard_hit = true;
		a->state = SB_CL_ST_DONE;
	}
}

SB_PRINTF(1, 2) static int failed(const char *fmt, ...)
{
	va_list ap;

	fputs(SB_CL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return SB_CL_EXIT_FAILED;
}

/* Whether our BYE, if one was sent, reached the far end: a 2xx, or the far end's own BYE
 * crossing it. Else false, with a line on stderr saying what became of it. */
static bool bye_verdict(const struct sb_cl_app *a)
{
	const struct sb_cl_result *r = &a->res;

	switch (r->bye) {
	case SB_CL_BYE_ANSWERED:
		if (r->bye_code < 300)
			return true;
		failed("the BYE was refused: %d %s", r->bye_code, r->bye_reason);
		return false;
	case SB_CL_BYE_PENDING:
	case SB_CL_BYE_TIMEOUT:
		failed("the BYE got no answer within %g s", SB_CL_BYE_WAIT_MS / 1000.0);
		return false;
	case SB_CL_BYE_TRANSPORT:
		failed("the BYE could not be sent: transport error");
		return false;
	default:
		return true;
	}
}

/* The exit status, with the line on stderr that says why a call failed (and one more when our
 * BYE failed too). */
static int verdict(const struct sb_cl_app *a, bool hard_hit, int rec_err)
{
	const struct sb_cl_opts *o = a->opts;
	const struct sb_cl_media *m = &a->media;
	bool bye_ok;
	if (hard_hit)
		return failed("stopped at the hard time limit (--timeout + --duration + 4 s)");
	if (!a->res.answered) {
		if (a->tls_refused[0]) {
			failed("TLS: %s", a->tls_refused);
			return SB_CL_EXIT_TLS;
		}
		if (!strcmp(a->res.reason, "timeout"))
			return failed("no final answer from %s within %g s", o->to, o->timeout_s);
		if (a->res.code == 0)
			return failed("the call to %s failed: %s", o->to, a->res.reason);
		return failed("the call to %s was rejected: %d %s", o->to, a->res.code,
		              a->res.reason);
	}
	bye_ok = bye_verdict(a);
	if (a->failure[0])
		return failed("the call was hung up: %s", a->failure);
	if (m->rx_packets == 0)
		return failed("no RTP received from the far end");
	if (o->dtmf[0] && strcmp(m->dtmf_sent, o->dtmf)) {
		if (m->te_pt < 0)
			return failed("the answer has no telephone-event: keys %s not sent",
			              o->dtmf);
		return failed("the call ended before every key was sent (sent '%s' of '%s')",
		              m->dtmf_sent, o->dtmf);
	}
	if (rec_err < 0)
		return failed("%s: %s", o->record, strerror(-rec_err));
	return bye_ok ? SB_CL_EXIT_OK : SB_CL_EXIT_FAILED;
}

/* Reads --play and creates --record before anything is sent. 0, or -EINVAL (said) with
 * nothing kept. */
static int files(const struct sb_cl_opts *o, int16_t **pcm, size_t *n, struct sb_cl_wav_writer *rec)
{
	char err[SB_CL_ERR_MAX];
	int r;

	if (o->play && sb_cl_wav_load(o->play, pcm, n, err, sizeof(err)) < 0) {
		fprintf(stderr, SB_CL_NAME ": --play %s: %s\n", o->play, err);
		return -EINVAL;
	}
	if (o->record) {
		r = sb_cl_wav_create(rec, o->record);
		if (r < 0) {
			fprintf(stderr, SB_CL_NAME ": --record %s: cannot write it: %s\n",
			        o->record, strerror(-r));
			free(*pcm);
			*pcm = NULL;
			return -EINVAL;
		}
	}
	return 0;
}

static int run(struct sb_cl_app *a, struct sb_cl_wav_writer *rec)
{
	const struct sb_cl_opts *o = a->opts;
	bool hard_hit = false;
	int64_t hard_ms;
	int rec_err;

	if (sb_cl_sip_invite(a) < 0) {
		fputs(SB_CL_NAME ": cannot build the INVITE\n", stderr);
		return SB_CL_EXIT_FAILED;
	}
	hard_ms = a->run_ms + (int64_t)((o->timeout_s + a->duration_s) * 1000) + HARD_SLACK_MS;
	while (a->state != SB_CL_ST_DONE) {
		sb_cl_sip_step(a, STEP_MS);
		tick(a, hard_ms, &hard_hit);
	}
	if (a->res.answered && !a->end_ms)
		a->end_ms = sb_now_ms();
	sb_cl_media_finish(&a->media);
	rec_err = sb_cl_wav_close(rec);
	if (a->res.answered)
		a->res.duration_s = (double)(a->end_ms - a->answer_ms) / 1000;
	sb_cl_report(stdout, &a->res, &a->media);
	return verdict(a, hard_hit, rec_err);
}

int main(int argc, char **argv)
{
	struct sb_cl_wav_writer rec = {0};
	struct sb_cl_app a = {0};
	struct sb_cl_opts o;
	int16_t *pcm = NULL;
	size_t n = 0;
	int r;

	a.run_ms = sb_now_ms();
	r = sb_cl_opts_parse(&o, argc, argv);
	if (r != 0)
		return r > 0 ? SB_CL_EXIT_OK : SB_CL_EXIT_USAGE;
	if (files(&o, &pcm, &n, &rec) < 0)
		return SB_CL_EXIT_USAGE;
	a.opts = &o;
	a.duration_s = o.duration_s >= 0 ? o.duration_s : default_duration(&o, n);
	r = sb_cl_media_open(&a.media, o.local);
	if (r < 0) {
		fprintf(stderr, SB_CL_NAME ": --local %s: cannot bind RTP: %s\n", o.local,
		        strerror(-r));
		sb_cl_wav_close(&rec);
		free(pcm);
		return SB_CL_EXIT_USAGE;
	}
	a.media.codec = o.codec; /* reported even when no answer came */
	a.media.play = pcm;
	a.media.play_n = n;
	a.media.digits = o.dtmf[0] ? o.dtmf : NULL;
	a.media.rec = o.record ? &rec : NULL;
	catch_signals();
	r = sb_cl_sip_init(&a);
	if (r == 0)
		r = run(&a, &rec);
	else
		r = SB_CL_EXIT_USAGE;
	sb_cl_sip_done(&a);
	sb_cl_media_close(&a.media);
	sb_cl_wav_close(&rec);
	free(pcm);
	return r;
}

"""Runs sipbridge-call, the project's test phone, from the integration tests.

sipbridge_call() places one call and returns the finished subprocess (returncode, stdout and stderr as text) with
.json set to the parsed JSON line (None when stdout held none, as after a usage error); start() starts it and returns
a Running whose finish() gives the same, for a test that acts while the call runs (a signal to hang up). It never
hangs: the run is bounded by the tool's own --timeout and call length plus a margin. The tool runs with the sanitizer
options of the other binaries, and a sanitizer report in its stderr fails the caller's test.
"""

import json
import os
import signal
import subprocess
import wave

import sbtest

EXE = "tools/call/sipbridge-call"
MARGIN_S = 30  # beyond the tool's own hard limit (--timeout + --duration + 5 s)


def wav_seconds(path):
    """Length of an 8 kHz WAV file in seconds (0 when it cannot be read: the tool will say why)."""
    try:
        with wave.open(path) as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except Exception:  # noqa: BLE001 - any unreadable file: the tool itself says why
        return 0.0


def _call_seconds(play, dtmf, dtmf_at, duration):
    """An upper bound of how long the answered call lasts, as the tool computes its default."""
    if duration is not None:
        return float(duration)
    keys = len(dtmf or "")
    d = wav_seconds(play) + keys * 0.1 + 1.0 if play else 10.0
    if keys:
        d = max(d, (1.0 if dtmf_at is None else float(dtmf_at)) + keys * 0.2 + 1.0)
    return d


def sipbridge_call(build_dir, to, **kw):
    """Run build_dir/tools/call/sipbridge-call --to TO with the given options (see start()) and wait for it. Returns
    the subprocess.CompletedProcess with text stdout/stderr and a .json attribute."""
    return start(build_dir, to, **kw).finish()


class Running:
    """sipbridge-call started by start(): .proc is its Popen; finish() waits for it within the run's bound."""

    def __init__(self, cmd, env, bound):
        self.cmd, self.bound = cmd, bound
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)

    def hang_up(self):
        """Ctrl-C: the tool hangs up (BYE once answered, CANCEL before)."""
        self.proc.send_signal(signal.SIGINT)

    def finish(self):
        try:
            out, err = self.proc.communicate(timeout=self.bound)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        res = subprocess.CompletedProcess(self.cmd, self.proc.returncode, out.decode(errors="replace"),
                                          err.decode(errors="replace"))
        bad = sbtest.sanitizer_lines_of(res.stderr)
        assert not bad, "sanitizer report from sipbridge-call:\n%s" % res.stderr[-6000:]
        lines = [l for l in res.stdout.splitlines() if l.strip()]
        res.json = json.loads(lines[-1]) if lines else None
        return res


def start(build_dir, to, *, play=None, record=None, headers=(), dtmf=None, dtmf_at=None, duration=None, codec=None,
          transport=None, timeout=60, local=None, ca=None, args=(), environ=None):
    """Start build_dir/tools/call/sipbridge-call --to TO with the given options (None: the tool's default; timeout is
    its --timeout, seconds to wait for a final answer). args are appended verbatim; environ (a dict) is added to its
    environment. Returns a Running."""
    build_dir = build_dir or sbtest.build_dir()
    exe = os.path.join(build_dir, EXE)
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise AssertionError("%s not found or not executable; build it first with `ninja -C %s`" % (exe, build_dir))
    cmd = [exe, "--to", to]
    for h in headers:
        cmd += ["--header", h]
    for opt, v in (("--play", play), ("--record", record), ("--dtmf", dtmf), ("--dtmf-at", dtmf_at),
                   ("--duration", duration), ("--codec", codec), ("--transport", transport),
                   ("--timeout", timeout), ("--local", local), ("--ca", ca)):
        if v is not None:
            cmd += [opt, str(v)]
    cmd += [str(a) for a in args]
    bound = (timeout or 30) + _call_seconds(play, dtmf, dtmf_at, duration) + MARGIN_S
    env = sbtest.sanitizer_env({"UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})
    env.update(environ or {})
    return Running(cmd, env, bound)


def describe(res):
    """Everything about one run, for an assertion message."""
    return "sipbridge-call exit %s\ncmd: %s\nstdout: %s\nstderr:\n%s" % (
        res.returncode, " ".join(res.args), res.stdout.strip(), res.stderr[-3000:])

"""Log formats: with log.format = "json" every line the daemon writes to stderr is one JSON object (ts, level,
subsys, msg, and the call id on the lines about a call) at the configured level, up to the last line at shutdown;
the text format (the default) stays "[time] LEVEL subsys [call-id] text". A bad format is a config error. A stderr
nobody reads does not hold up the exit (SIGTERM: exit 0 within a few seconds), while a reader that is behind when the
daemon stops still gets every line, up to "Stopped"."""

import datetime
import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest

import rtp
import sbtest
import sipraw

AUDIO_MS = 600
LEVELS = ("error", "warn", "notice", "info", "debug")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TEXT_RE = re.compile(r"^(\d{2}:\d{2}:\d{2}\.\d{3}) (error|warn|notice|info|debug) *(\S+) (?:\[([0-9a-f]+)\] )?(.*)$")


def place_call(env, bridge, sipp, log):
    """One answered call with caller audio through a silent bot; returns (daemon, call id) once the call is over
    and the daemon has stopped (so every line it wrote is in its stderr file)."""
    d, bot = bridge("silent", log=log)
    audio = rtp.noise_octets(rtp.PT_PCMA, 8 * AUDIO_MS, seed=5)
    res = sipp("uac_basic.xml", d, rtp_payload=rtp.PT_PCMA, caller_audio=audio,
               duration_ms=AUDIO_MS + 600).run()
    assert res.rc == 0, res.describe()
    call_id = bot.start_msg()["start"]["call_sid"]
    bot.wait_closed(1)
    sbtest.wait_until(lambda: "Call released" in d.stderr_text(), 20, "the daemon to log the call's end")
    d.stop()
    return d, call_id


def json_lines(d):
    """Every stderr line parsed; fails on any line that is not exactly one JSON object."""
    out = []
    for n, line in enumerate(d.stderr_text().splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError("stderr line %d is not JSON (%s): %r" % (n, e, line))
        assert isinstance(obj, dict), "stderr line %d is not an object: %r" % (n, line)
        out.append(obj)
    assert out, "the daemon wrote nothing to stderr"
    return out


def check_fields(lines, t0, t1):
    for o in lines:
        assert set(o) <= {"ts", "level", "subsys", "call", "msg"}, o
        assert isinstance(o.get("msg"), str) and isinstance(o.get("subsys"), str) and o["subsys"], o
        assert o.get("level") in LEVELS, o
        assert TS_RE.match(o.get("ts", "")), o
        ts = datetime.datetime.strptime(o["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        assert t0 <= ts <= t1, "time stamp %s outside the run (%s .. %s)" % (o["ts"], t0, t1)
        assert "call" not in o or isinstance(o["call"], str), o


def now_utc(slack_s=0):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=slack_s)


@pytest.mark.parametrize("level", ["info", "debug"])
def test_json_lines(env, bridge, sipp, level):
    t0 = now_utc(-2)
    d, call_id = place_call(env, bridge, sipp, {"level": level, "format": "json"})
    lines = json_lines(d)
    check_fields(lines, t0, now_utc(2))

    # The level filter: nothing below info at info; at debug the call state machine's steps are there.
    debug = [o for o in lines if o["level"] == "debug"]
    if level == "info":
        assert not debug, "debug lines at level info: %s" % debug[:3]
    else:
        assert any(o["subsys"] == "call" and o.get("call") == call_id for o in debug), "no debug lines of the call"

    # Lines about the call carry its id, from the SIP, bot and media threads alike; no other id appears.
    about = [o for o in lines if "call" in o]
    assert {o["call"] for o in about} == {call_id}, {o["call"] for o in about}
    by_subsys = {o["subsys"] for o in about if o["level"] != "debug"}
    assert {"sip", "bot", "call", "media"} <= by_subsys, by_subsys
    invite = [o for o in lines if o["subsys"] == "sip" and o["msg"].startswith("INVITE ")]
    assert invite and all(o.get("call") == call_id for o in invite), invite
    # Lines outside a call have no call key, and the writer drained everything at exit: "Stopped" is last.
    ready = [o for o in lines if " ready: " in o["msg"]]
    assert len(ready) == 1 and "call" not in ready[0], ready
    assert lines[-1]["subsys"] == "daemon" and lines[-1]["msg"] == "Stopped", lines[-1]
    msgs = [o["msg"] for o in lines]
    assert msgs.index(ready[0]["msg"]) < msgs.index(invite[0]["msg"]), "lines out of order"


@pytest.mark.parametrize("fmt", [None, "text"], ids=["default", "explicit"])
def test_text_lines(env, bridge, sipp, fmt):
    log = {"level": "info"}
    if fmt:
        log["format"] = fmt
    d, call_id = place_call(env, bridge, sipp, log)
    text = d.stderr_text()
    seen_call = set()
    for n, line in enumerate(text.splitlines(), 1):
        m = TEXT_RE.match(line)
        assert m, "stderr line %d is not a text log line: %r" % (n, line)
        assert m.group(2) != "debug", line
        if m.group(4):
            assert m.group(4) == call_id, line
            seen_call.add(m.group(3))
    assert {"sip", "bot", "call", "media"} <= seen_call, seen_call
    assert re.search(r" info +sip \[%s\] INVITE " % call_id, text), text
    assert text.splitlines()[-1].endswith(" daemon Stopped"), text.splitlines()[-1]


def blocked_signals(pid, tid):
    """The standard signals (1-31) thread tid of process pid blocks, from its SigBlk mask."""
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("SigBlk:"):
                mask = int(line.split()[1], 16)
                return {s for s in range(1, 32) if mask >> (s - 1) & 1}
    raise AssertionError("no SigBlk for thread %d" % tid)


def test_log_writer_blocks_every_signal(env, bridge):
    """The log writer starts before the daemon blocks its signals, and blocks every one itself (the kernel never
    blocks SIGKILL and SIGSTOP): a signal sent to the process is never taken on the thread that writes the log,
    while the control (main) thread blocks only the ones its signalfd takes."""
    d, _ = bridge("echo")
    pid = d.proc.pid
    every = set(range(1, 32)) - {signal.SIGKILL, signal.SIGSTOP}
    tids = [t for t in sbtest.thread_ids(pid, "sb-log")
            if open("/proc/%d/task/%d/comm" % (pid, t)).read().strip() == "sb-log"]
    assert len(tids) == 1, tids
    missing = every - blocked_signals(pid, tids[0])
    assert not missing, "sb-log does not block %s" % sorted(signal.Signals(s).name for s in missing)
    assert {signal.SIGTERM, signal.SIGHUP} <= blocked_signals(pid, pid) < every


def test_bad_format_rejected(env):
    cfg = env.config({"default": "ws://127.0.0.1:9/media"}, log={"level": "info", "format": "xml"})
    text = sbtest.to_libconfig(cfg)
    path = os.path.join(env.tmp, "bad.conf")
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2, (rc, out, err)
    where = "%s:%d" % (path, sbtest.line_of(text, '"xml"'))
    assert re.search(r"%s: \S*format\S*: .*json" % re.escape(where), err), err


# ---------------------------------------------------------------------------------------------------------------
# stderr as a pipe: at exit, lines stderr does not take within the bound (SB_LOG_STOP_MS, 2 s) are dropped

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
EXIT_BOUND_S = 10  # the bound, the daemon's own shutdown and a loaded machine's slack


def stderr_pipe():
    """A pipe of four pages, so that a few hundred log lines fill it."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 16384)
    return r, w


def pipe_bytes(r):
    """How many bytes the pipe holds (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(r, termios.FIONREAD, b"\0\0\0\0"))[0]


def bad_invite(port, n):
    """One INVITE with a body that is not SDP, which the daemon logs and rejects (415); returns its status line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    try:
        tag = "stall-%d-%d" % (n, time.monotonic_ns())
        msg = sipraw.request(call_id=tag, branch="z9hG4bK-" + tag, extra=b"Content-Type: text/plain\r\n",
                             body=b"not SDP")
        sock.sendto(sipraw.with_via(msg, b"UDP", b"127.0.0.1:%d" % sock.getsockname()[1]), ("127.0.0.1", port))
        while True:
            line = sock.recv(65535).split(b"\r\n")[0]
            if not line.startswith(b"SIP/2.0 1"):
                return line.decode(errors="replace")
    finally:
        sock.close()


def fill_pipe(d, r):
    """Bad INVITEs, each of which the daemon logs, until its stderr pipe takes no more: five answered in a row
    added nothing to it (the log writer waits for the pipe)."""
    seen = {"bytes": -1, "same": 0, "n": 0}

    def stuck():
        seen["n"] += 1
        assert bad_invite(d.sip_port, seen["n"]).startswith("SIP/2.0 415 ")
        n = pipe_bytes(r)
        seen["same"] = seen["same"] + 1 if n == seen["bytes"] else 0
        seen["bytes"] = n
        return seen["same"] >= 5
    sbtest.wait_until(stuck, 60, "the daemon's stderr pipe to fill", interval=0)
    return seen["n"]


def start_piped(env, testbot, w):
    """The daemon at debug level with stdout and stderr on the pipe's write end w (closed here: the test keeps only
    the read end, which sees EOF once the daemon has exited)."""
    bot = testbot("silent")
    try:
        return env.daemon(env.config({"default": bot.url}, limits={"max_calls": 50, "max_cps": 10000}), args=["-v"],
                          stderr=w)
    finally:
        os.close(w)


def down_to_log_writer(pid):
    """Whether the daemon's workers have all ended (what is left: the main thread, the log writer and detached name
    lookups), so that its last lines are being written."""
    try:
        names = [open("/proc/%d/task/%s/comm" % (pid, t)).read().strip() for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return True
    return all(n in ("sipbridged", "sb-log") or n.startswith("sb-dns") for n in names)


def read_available(r):
    """All the pipe holds now."""
    os.set_blocking(r, False)
    out = b""
    try:
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    except BlockingIOError:
        pass
    return out.decode(errors="replace")


def test_exit_with_stderr_unread(env, testbot):
    """stderr is a full pipe nobody reads (a stalled journald): SIGTERM still ends the daemon with exit 0 within a few
    seconds; the lines the pipe does not take are dropped."""
    r, w = stderr_pipe()
    try:
        d = start_piped(env, testbot, w)
        fill_pipe(d, r)
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            rc = None
            d.kill()
        out = read_available(r)
        when = "within %d s of" % EXIT_BOUND_S if rc is not None else "(killed): no exit within %d s of" % EXIT_BOUND_S
        assert rc == 0, "exit status %s %s SIGTERM with stderr full\n--- stderr ---\n%s" % (rc, when, out[-3000:])
        assert not sbtest.sanitizer_lines_of(out), out[-6000:]
    finally:
        os.close(r)


def test_exit_with_a_reader_behind_loses_nothing(env, testbot):
    """stderr is a pipe its reader has stopped reading, full when SIGTERM comes; the reader reads again once the
    daemon is down to writing its last lines, well within the bound. Every line arrives: each rejected INVITE, then
    "Stopped" last, and no line is reported dropped."""
    r, w = stderr_pipe()
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(r, 65536), b"")), daemon=True)
    try:
        d = start_piped(env, testbot, w)
        invites = fill_pipe(d, r)
        d.proc.send_signal(signal.SIGTERM)
        sbtest.wait_until(lambda: down_to_log_writer(d.proc.pid), 30, "the daemon's workers to end")
        reader.start()
        rc = d.proc.wait(EXIT_BOUND_S)
        reader.join(10)
        out = b"".join(chunks).decode(errors="replace")
        lines = out.splitlines()
        assert rc == 0, "exit status %s\n--- stderr ---\n%s" % (rc, out[-3000:])
        assert not sbtest.sanitizer_lines_of(out), out[-6000:]
        dropped = [l for l in lines if "dropped" in l]
        assert not dropped, "lines reported dropped: %s\n--- stderr ---\n%s" % (dropped, out[-3000:])
        logged = sum("rejecting with 415" in l for l in lines)
        assert logged == invites, "%d of %d rejected INVITEs logged\n--- stderr ---\n%s" % (
            logged, invites, out[-3000:])
        assert lines and lines[-1].endswith(" daemon Stopped"), out[-3000:]
    finally:
        os.close(r)

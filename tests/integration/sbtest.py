"""Process harness for the integration tests: ports, libconfig files, sipbridged, sipbridge-testbot and SIPp.

Everything started here is bounded in time and is stopped by the fixtures in conftest.py. Waits poll for an event
(a log line, a datagram, a process exit) with a deadline; nothing sleeps for a fixed time.
"""

import contextlib
import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import sipraw

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCENARIOS = os.path.join(HERE, "scenarios")
LSAN_SUPP = os.path.join(HERE, "lsan.supp")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def build_dir():
    return os.environ.get("SB_BUILD_DIR") or os.path.join(REPO, "build-it")


def binary(rel):
    """Path of a built binary; fails (never skips) when it is missing."""
    path = os.path.join(build_dir(), rel)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("%s not found or not executable (SB_BUILD_DIR=%s); build it first with "
                             "`ninja -C %s`" % (path, build_dir(), build_dir()))
    return path


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError("required tool %r is not installed (Debian: apt-get install sip-tester)" % name)
    return path


def sanitizer_env(extra=None):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:strict_string_checks=1"
    env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % LSAN_SUPP
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=0"
    env.pop("NOTIFY_SOCKET", None)
    env.pop("JOURNAL_STREAM", None)
    if extra:
        env.update(extra)
    return env


def gai_shim(tmp, hang, addr=None):
    """The environment that preloads gai_shim into the daemon (or a tool), holding its lookups of the name hang (as a
    DNS server or name service that never answers would) until the release file exists; then hang resolves to addr
    (a numeric address; None: 127.0.0.1; "": no such name, EAI_NONAME) alone. (environ, path of the shim's log of
    lookups, path of the release file)."""
    log = os.path.join(tmp, "gai.log")
    release = os.path.join(tmp, "gai.release")
    environ = {"LD_PRELOAD": binary("tests/integration/libgai_shim.so"), "SB_GAI_LOG": log, "SB_GAI_HANG": hang,
               "SB_GAI_RELEASE": release,
               # the shim comes before the sanitizer's runtime in the list of loaded libraries
               "ASAN_OPTIONS": sanitizer_env()["ASAN_OPTIONS"] + ":verify_asan_link_order=0"}
    if addr is not None:
        environ["SB_GAI_ADDR"] = addr
    return environ, log, release


def gai_lookups(log, name):
    """How many lookups of name gai_shim has seen start (log: its log)."""
    try:
        with open(log) as f:
            return sum(1 for line in f if line.split() == ["getaddrinfo", name])
    except FileNotFoundError:
        return 0


def tail(path, n=60):
    try:
        with open(path, "r", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        return "<%s unreadable: %s>" % (path, e)
    return "".join(lines[-n:])


def sanitizer_lines_of(text):
    """The lines of text that a sanitizer's report starts with."""
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKERS)]


def sanitizer_lines(path):
    try:
        with open(path, "r", errors="replace") as f:
            return sanitizer_lines_of(f.read())
    except OSError:
        return []


def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns a true value (returned) or raise AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def admin_get(port, path):
    """The body of the admin API's answer to GET path on port (no token); an error status raises."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    return opener.open("http://127.0.0.1:%d%s" % (port, path), timeout=10).read().decode()


def metric(port, sample):
    """The value of one sample of the admin API's /metrics on port, named as exposed (with its labels)."""
    body = admin_get(port, "/metrics")
    for line in body.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("%s not in /metrics:\n%s" % (sample, body))


def admin_calls(port):
    """The calls the admin API's GET /calls on port lists (no token)."""
    return json.loads(admin_get(port, "/calls"))


def sleeps(pid, tid):
    """How many times thread tid of process pid has gone to sleep (its voluntary context switches)."""
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches for thread %d" % tid)


def thread_ids(pid, prefix):
    """The ids of the threads of process pid whose name starts with prefix (at least one)."""
    tids = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip().startswith(prefix):
                tids.append(int(tid))
    assert tids, "no thread named %s* in %d" % (prefix, pid)
    return tids


@contextlib.contextmanager
def frozen_threads(tids):
    """Stops the given threads (not their process) until the block ends, as a DNS lookup that never returns would
    hold them. ptrace is per thread and per tracer thread, so each is held by its own helper. Needs root (CI runs
    as root). Yields a list that holds, once the block has ended, how long the threads were held in all (from
    the first one asked to stop to the last one let go), in seconds: a slow machine holds them longer than the
    block's own wait."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH, WALL = 0x4206, 0x4207, 17, 0x40000000
    release = threading.Event()
    stopped = []
    errors = []
    asked, let_go = [], []
    held = []

    def hold(tid):
        if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
            errors.append("PTRACE_SEIZE %d: %s" % (tid, os.strerror(ctypes.get_errno())))
            return
        try:
            asked.append(time.monotonic())
            if libc.ptrace(PTRACE_INTERRUPT, tid, None, None) != 0:
                errors.append("PTRACE_INTERRUPT %d: %s" % (tid, os.strerror(ctypes.get_errno())))
                return
            os.waitpid(tid, WALL)
            stopped.append(tid)
            release.wait(120)
        finally:
            libc.ptrace(PTRACE_DETACH, tid, None, None)
            let_go.append(time.monotonic())

    helpers = [threading.Thread(target=hold, args=(t,), daemon=True) for t in tids]
    for h in helpers:
        h.start()
    try:
        wait_until(lambda: len(stopped) == len(tids) or errors, 10, "the threads to stop")
        assert not errors, errors
        yield held
    finally:
        release.set()
        for h in helpers:
            h.join(10)
        if asked and let_go:
            held.append(max(let_go) - min(asked))


# ---------------------------------------------------------------------------------------------------------------
# Ports


class Ports:
    """Free loopback ports. Every port a test names is below the kernel's ephemeral range (32768-60999), so a
    socket some other process binds to port 0 (a client connection, SIPp's own sockets) never takes it between the
    test's check and the daemon's bind. SIP, bot and admin ports come from 12000-19999 and are free for UDP and
    TCP; RTP ranges are private blocks of 40 ports taken from 20000-31999. Each pytest-xdist worker has a share
    of both ranges of its own (a daemon binds its RTP ports only as calls come, too late for another worker's
    check to see them), and each process starts at its own offset within it, so that two runs of the suite at
    once rarely even look at the same ports. rtp_range() returns (port_min, port_max), both even."""

    PORT_BASE, PORT_TOP = 12000, 20000
    RTP_BASE, RTP_TOP, RTP_BLOCK = 20000, 32000, 40

    def __init__(self):
        self.used = set()
        k, n = self._worker()
        nblocks = (self.RTP_TOP - self.RTP_BASE) // self.RTP_BLOCK // n
        nports = (self.PORT_TOP - self.PORT_BASE) // n
        assert nblocks >= 10, "%d pytest-xdist workers leave each too few RTP ports (at most 30 workers)" % n
        self._blocks = (k * nblocks, nblocks)  # (first, count) of this worker's share
        self._ports = (k * nports, nports)
        self._next_block = (os.getpid() * 7) % nblocks
        self._next_port = (os.getpid() * 131) % nports

    @staticmethod
    def _worker():
        """(index, count) of this pytest-xdist worker among the run's; (0, 1) outside xdist."""
        try:
            n = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
            k = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
        except ValueError:
            return 0, 1
        return (k % n, n) if k >= 0 and n >= 1 else (0, 1)  # a worker xdist started anew counts on

    @staticmethod
    def _free(port, kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM)):
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            try:
                if kind == socket.SOCK_STREAM:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
            finally:
                s.close()
        return True

    def port(self, kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM)):
        """A port that is free for every socket kind in kinds (default UDP and TCP)."""
        first, n = self._ports
        for _ in range(n):
            p = self.PORT_BASE + first + self._next_port
            self._next_port = (self._next_port + 1) % n
            if p not in self.used and self._free(p, kinds):
                self.used.add(p)
                return p
        raise AssertionError("no free loopback port found")

    def tcp(self):
        return self.port((socket.SOCK_STREAM,))

    def rtp_range(self, count=RTP_BLOCK):
        first, nblocks = self._blocks
        for _ in range(nblocks):
            b = first + self._next_block
            self._next_block = (self._next_block + 1) % nblocks
            lo = self.RTP_BASE + b * self.RTP_BLOCK
            if lo + count > self.RTP_BASE + (first + nblocks) * self.RTP_BLOCK:
                continue  # a range of several blocks stays in this worker's share
            ports = range(lo, lo + count)
            # ports handed out before are not bound yet (a daemon binds its range as calls come)
            if not self.used.intersection(ports) and all(self._free(p, (socket.SOCK_DGRAM,)) for p in ports):
                self.used.update(ports)
                self._next_block = (b - first + -(-count // self.RTP_BLOCK)) % nblocks
                return lo, lo + count - 2  # both even: a call takes an even port and the odd one above
        raise AssertionError("no free range of %d RTP ports found in this worker's share" % count)


# ---------------------------------------------------------------------------------------------------------------
# libconfig


class Raw(str):
    """A value written verbatim into the libconfig file."""


def _lc_value(v, indent):
    pad = "  " * indent
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        inner = "".join("%s  %s = %s;\n" % (pad, k, _lc_value(x, indent + 1)) for k, x in v.items())
        return "{\n%s%s}" % (inner, pad)
    if isinstance(v, (list, tuple)):
        if not v:
            return "( )"
        if all(isinstance(x, dict) for x in v):
            return "(\n" + ",\n".join(pad + "  " + _lc_value(x, indent + 1) for x in v) + "\n" + pad + ")"
        return "( " + ", ".join(_lc_value(x, indent + 1) for x in v) + " )"
    raise TypeError("cannot write %r to libconfig" % (v,))


def to_libconfig(cfg):
    """Render a dict (groups = dicts, lists = lists/tuples) as libconfig text."""
    return "".join("%s = %s;\n" % (k, _lc_value(v, 0)) for k, v in cfg.items())


def line_of(text, needle, start=0):
    """1-based number of the first line of text containing needle (after line `start`)."""
    for i, l in enumerate(text.splitlines(), 1):
        if i > start and needle in l:
            return i
    raise AssertionError("%r not in config text" % needle)


def base_config(sip_port, rtp_range, bots, trunk=None, transports=("udp", "tcp"), **groups):
    """A complete config: SIP on 127.0.0.1:sip_port, one trunk "test" open to 127.0.0.0/8 that routes every call
    to the first bot, bots given as {name: url} or a list of bot dicts. Keyword groups override whole groups."""
    if isinstance(bots, dict):
        bots = [{"name": n, "url": u} for n, u in bots.items()]
    bot_list = []
    for b in bots:
        d = {"name": b["name"], "url": b["url"], "protocol": "exotel", "mode": "voicebot",
             "connect_timeout_ms": 5000, "retries": 1, "on_close": "hangup", "on_fail": "reject",
             "frame_ms": 100}
        d.update(b)
        bot_list.append(d)
    t = {"name": "test", "acl": ["127.0.0.0/8"], "numbers": [], "destination": "sip:agents@127.0.0.1:5999",
         "bots": [{"match": "*", "bot": bot_list[0]["name"]}]}
    t.update(trunk or {})
    cfg = {
        "sip": {"listen": [{"transport": tr, "address": "127.0.0.1", "port": sip_port} for tr in transports],
                "user_agent": "sipbridge-it"},
        "rtp": {"address": "127.0.0.1", "port_min": rtp_range[0], "port_max": rtp_range[1], "timeout_s": 30},
        "limits": {"max_calls": 50, "max_cps": 50},
        "threads": {"media": 1, "ws": 1},
        "log": {"level": "info"},
        "admin": {"port": 0},  # off unless a test asks for it (admin={...})
        "trunks": [t],
        "bots": bot_list,
    }
    cfg.update(groups)
    return cfg


# ---------------------------------------------------------------------------------------------------------------
# sipbridged


def stop_checked(proc, err_file, stderr_path, what, timeout, tail_lines):
    """SIGTERM proc, wait for it, then assert exit status 0 and no sanitizer report in its stderr. A daemon still
    draining calls a test left behind after a few seconds gets the second SIGTERM, which hangs up at once."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            try:
                proc.wait(min(timeout, 5))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            err_file.close()
            raise AssertionError("%s did not exit within %d s of SIGTERM\n--- stderr ---\n%s"
                                 % (what, timeout, tail(stderr_path)))
    err_file.close()
    bad = sanitizer_lines(stderr_path)
    assert proc.returncode == 0 and not bad, ("%s exit status %s, sanitizer reports: %s\n--- stderr tail ---\n%s"
                                              % (what, proc.returncode, bad or "none", tail(stderr_path, tail_lines)))


class Daemon:
    """sipbridged under ASan/UBSan with a NOTIFY_SOCKET listener; start() returns once READY=1 arrived."""

    def __init__(self, workdir, config, args=(), sip_port=None, name="sipbridged", preexec=None, environ=None,
                 stderr=None):
        self.workdir = workdir
        self.preexec = preexec  # run in the child before exec (resource limits)
        self.stderr = stderr  # a descriptor for stdout and stderr (a pipe the test handles); default: a file
        self.environ = dict(environ or {})  # added to the daemon's environment
        self.sip_port = sip_port
        self.args = list(args)
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.conf_path = None
        if config is not None:
            self.conf_path = os.path.join(workdir, name + ".conf")
            with open(self.conf_path, "w") as f:
                f.write(config if isinstance(config, str) else to_libconfig(config))
        self.proc = None
        self.checked = False
        self.notify = []

    def start(self, timeout=30):
        exe = binary("src/sipbridged")
        self._ndir = tempfile.mkdtemp(prefix="sbn", dir="/tmp")  # AF_UNIX paths are limited to 107 bytes
        npath = os.path.join(self._ndir, "notify")
        self._nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._nsock.bind(npath)
        self._nsock.settimeout(0.1)
        # Read for the daemon's whole life: sd_notify() blocks once a listener's queue is full.
        self._nstop = threading.Event()
        self._nthread = threading.Thread(target=self._read_notify, daemon=True)
        self._nthread.start()
        cmd = [exe] + (["-c", self.conf_path] if self.conf_path else []) + ["-f"] + self.args
        self.cmd = cmd
        self._err = open(self.stderr_path, "wb")
        try:
            out = self._err if self.stderr is None else self.stderr
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         env=sanitizer_env(dict(self.environ, NOTIFY_SOCKET=npath)), cwd=self.workdir,
                                         preexec_fn=self.preexec)
            deadline = time.monotonic() + timeout
            while not any("READY=1" in m.split("\n") for m in list(self.notify)):
                if self.proc.poll() is not None:
                    raise AssertionError("sipbridged exited with %s before READY=1\ncmd: %s\n--- stderr ---\n%s"
                                         % (self.proc.returncode, " ".join(cmd), tail(self.stderr_path)))
                if time.monotonic() > deadline:
                    raise AssertionError("sipbridged sent no READY=1 within %d s (notify: %r)\n--- stderr ---\n%s"
                                         % (timeout, self.notify, tail(self.stderr_path)))
                time.sleep(0.02)
            return self
        except BaseException:
            self._close_notify()
            raise

    def _read_notify(self):
        """Appends every sd_notify datagram, in arrival order, to self.notify until the socket is closed."""
        while not self._nstop.is_set():
            try:
                self.notify.append(self._nsock.recv(4096).decode(errors="replace"))
            except socket.timeout:
                pass
            except OSError:
                return

    def _close_notify(self):
        if getattr(self, "_nsock", None) is None:
            return
        self._nstop.set()
        self._nthread.join(5)
        self._nsock.close()
        self._nsock = None
        shutil.rmtree(self._ndir, ignore_errors=True)

    def wait_notify(self, pred, timeout, what):
        """Waits until pred(list of the sd_notify messages so far) is true; returns the list."""
        return wait_until(lambda: pred(list(self.notify)) and list(self.notify), timeout, what)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        with open(self.stderr_path, "r", errors="replace") as f:
            return f.read()

    def stop(self, timeout=30):
        """SIGTERM, wait, then assert exit status 0 and a clean sanitizer report."""
        if self.proc is None or self.checked:
            self._close_notify()
            return
        self.checked = True
        try:
            stop_checked(self.proc, self._err, self.stderr_path, "sipbridged", timeout, 120)
        finally:
            self._close_notify()

    def kill(self):
        """SIGKILL, as the OOM killer or a power cut would end it: no exit status to check at teardown, only that
        the sanitizers reported nothing before it."""
        if self.proc is None or self.checked:
            return
        self.checked = True
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._err.close()
        self._close_notify()
        bad = sanitizer_lines(self.stderr_path)
        assert not bad, ("sanitizer reports before SIGKILL: %s\n--- stderr tail ---\n%s"
                         % (bad, tail(self.stderr_path, 120)))


def run_daemon_once(args, timeout=30):
    """Run sipbridged to completion (e.g. -t, --version); returns (rc, stdout, stderr)."""
    exe = binary("src/sipbridged")
    # A one-shot run stops at the first UBSan report, so it fails loudly as well as in its output.
    p = subprocess.run([exe] + list(args), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                       env=sanitizer_env({"UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}))
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---------------------------------------------------------------------------------------------------------------
# sipbridge-testbot


class Testbot:
    def __init__(self, workdir, port, mode="echo", script=None, tone_hz=None, name="bot", record=True,
                 protocol=None, strict=False, tls=None, log=True):
        self.workdir = workdir
        self.port = port
        self.name = name
        self.log_path = os.path.join(workdir, name + ".jsonl")
        self.record_dir = os.path.join(workdir, name + "-rec") if record else None
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.url = "ws://127.0.0.1:%d/media" % port
        args = ["--listen", "127.0.0.1:%d" % port]
        if log:  # without it (and without --record and --strict) media takes the bot's fast echo path
            args += ["--log", self.log_path]
        if script is not None:
            spath = os.path.join(workdir, name + ".script")
            with open(spath, "w") as f:
                for step in script:
                    f.write(json.dumps(step) + "\n")
            args += ["--mode", "script", spath]
        else:
            args += ["--mode", mode]
        if tone_hz is not None:
            args += ["--tone-hz", str(tone_hz)]
        if protocol is not None:
            args += ["--protocol", protocol]
        if strict:
            args += ["--strict"]
        if tls is not None:  # (cert, key): serve wss://
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
            self.url = "wss://localhost:%d/media" % port
        if self.record_dir:
            os.makedirs(self.record_dir, exist_ok=True)
            args += ["--record", self.record_dir]
        self.args = args
        self.proc = None
        self._lines = []
        self._ready = threading.Event()
        self._pos = 0
        self._partial = b""
        self._events = []
        self.checked = False

    def start(self, timeout=15):
        exe = binary("tools/testbot/sipbridge-testbot")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([exe] + self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._err, env=sanitizer_env(), cwd=self.workdir)
        t = threading.Thread(target=self._read_stdout, daemon=True)
        t.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                raise AssertionError("testbot exited with %s before 'listening on'\nstdout: %r\n--- stderr ---\n%s"
                                     % (self.proc.returncode, self._lines, tail(self.stderr_path)))
            if time.monotonic() > deadline:
                raise AssertionError("testbot printed no 'listening on' line within %d s (stdout so far: %r)"
                                     % (timeout, self._lines))
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self._lines.append(line)
            if line.startswith("listening on"):
                self._ready.set()

    # event log ----------------------------------------------------------------------------------------------
    def events(self):
        """All complete JSON lines of the log so far (parsed incrementally)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return list(self._events)
        self._pos += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        for l in lines:
            if l.strip():
                self._events.append(json.loads(l))
        return list(self._events)

    def select(self, dir=None, event=None, conn=None):
        return [e for e in self.events() if (dir is None or e.get("dir") == dir)
                and (event is None or e.get("event") == event) and (conn is None or e.get("conn") == conn)]

    def rx(self, event=None, conn=None):
        return self.select("rx", event, conn)

    def tx(self, event=None, conn=None):
        return self.select("tx", event, conn)

    def conns(self):
        return sorted({e["conn"] for e in self.events() if e.get("dir") == "open"})

    def wait_for(self, pred, timeout=20, what="bot event"):
        """Poll the log until pred(events) is true; returns its value."""
        try:
            return wait_until(lambda: pred(self.events()), timeout, what)
        except AssertionError as e:
            raise AssertionError("%s on testbot %s; log tail:\n%s" % (e, self.name, tail(self.log_path, 20)))

    def wait_event(self, dir, event, count=1, conn=None, timeout=20):
        def got(_):
            evs = self.select(dir, event, conn)
            return evs if len(evs) >= count else None
        return self.wait_for(got, timeout, "%d x %s %s" % (count, dir, event))

    def wait_closed(self, conn=1, timeout=20):
        return self.wait_event("close", None, conn=conn, timeout=timeout)[0]

    def start_msg(self, conn=1):
        return self.wait_event("rx", "start", conn=conn)[0]["msg"]

    def recording(self, stream_sid):
        with open(os.path.join(self.record_dir, stream_sid + ".raw"), "rb") as f:
            return f.read()

    def stop(self, timeout=15):
        if self.proc is None or self.checked:
            return
        self.checked = True
        stop_checked(self.proc, self._err, self.stderr_path, "testbot " + self.name, timeout, 60)


def script_until_played(steps, close=True):
    """Bot script: steps, then a mark that is echoed once everything before it was played, then close."""
    s = list(steps) + [{"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "end"}}},
                       {"wait_event": "mark", "name": "end"}]
    if close:
        s.append({"close": 1000})
    return s


# ---------------------------------------------------------------------------------------------------------------
# SIPp


_MSG_SPLIT = re.compile(r"^-{20,} (\S+ \S+)\n", re.M)
_MSG_HEAD = re.compile(r"^(UDP|TCP) message (sent|received)")


class SipMessage:
    def __init__(self, direction, when, text):
        self.dir = direction  # "sent" | "received"
        self.when = when
        self.text = text
        self.first = text.split("\n", 1)[0].strip()
        m = re.match(r"SIP/2\.0 (\d{3})", self.first)
        self.status = int(m.group(1)) if m else None
        self.method = None if m else self.first.split(" ", 1)[0]
        cs = re.search(r"^CSeq:\s*\d+\s+(\S+)", text, re.M | re.I)
        self.cseq_method = cs.group(1) if cs else None

    def header(self, name):
        m = re.search(r"^%s:\s*(.*)$" % re.escape(name), self.text, re.M | re.I)
        return m.group(1).strip() if m else None

    def body(self):
        parts = re.split(r"\r?\n\r?\n", self.text, 1)
        return parts[1] if len(parts) > 1 else ""

    def wall(self):
        """SIPp's message-log timestamp (local wall clock) as seconds since the epoch."""
        return datetime.datetime.strptime(self.when, "%Y-%m-%d %H:%M:%S.%f").timestamp()

    def __repr__(self):
        return "<%s %s>" % (self.dir, self.first)


def parse_message_log(text):
    out = []
    chunks = _MSG_SPLIT.split(text)
    # chunks = [prefix, when1, body1, when2, body2, ...]
    for i in range(1, len(chunks) - 1, 2):
        when, body = chunks[i], chunks[i + 1]
        head, _, rest = body.partition("\n")
        m = _MSG_HEAD.match(head)
        if not m:
            continue
        out.append(SipMessage(m.group(2), when, rest.lstrip("\r\n")))
    return out


class SippResult:
    def __init__(self, rc, workdir, stdout_path, msg_path, err_path, cmd):
        self.rc = rc
        self.cmd = cmd
        self.stdout = tail(stdout_path, 40)
        self.msg_text = open(msg_path, errors="replace").read() if os.path.exists(msg_path) else ""
        self.errors = open(err_path, errors="replace").read() if os.path.exists(err_path) else ""
        self.messages = parse_message_log(self.msg_text)

    def received(self):
        return [m for m in self.messages if m.dir == "received"]

    def statuses(self, method="INVITE"):
        """Status codes received for requests of this method (retransmissions included, in order)."""
        return [m.status for m in self.received() if m.status and m.cseq_method == method]

    def final_status(self, method="INVITE"):
        finals = [s for s in self.statuses(method) if s >= 200]
        return finals[0] if finals else None

    def requests(self, method):
        return [m for m in self.received() if m.method == method]

    def response(self, status, method="INVITE"):
        for m in self.received():
            if m.status == status and m.cseq_method == method:
                return m
        return None

    def describe(self):
        return ("sipp rc=%s\ncmd: %s\nreceived: %s\n--- errors ---\n%s\n--- screen ---\n%s"
                % (self.rc, " ".join(self.cmd), [m.first for m in self.received()], self.errors[-3000:],
                   self.stdout[-2000:]))


DEFAULT_KEYS = {
    "did": "+15550001",
    "caller": "alice",
    "customer": "salesbot",
    "uui": "uui-0042;cust=acme",
    "account_sid": "AC0042",
    "account_hdr": "X-Account-Sid",  # uac_call.xml only: another name drops the header
    "campaign": "spring",
    "fmts": "8 0",
}


class Sipp:
    """One SIPp run. Scenario by path (relative names are looked up in scenarios/). start() + wait(), or run()."""

    counter = 0

    def __init__(self, workdir, ports, scenario, target_port, transport="u1", keys=None, calls=1,
                 duration_ms=0, timeout_s=40, rtp_port=None, media_port=None, rtp_payload=None,
                 caller_audio=None, extra=(), until_told=False):
        Sipp.counter += 1
        self.name = "sipp%d-%s" % (Sipp.counter, os.path.splitext(os.path.basename(scenario))[0])
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir)
        path = scenario if os.path.isabs(scenario) else os.path.join(SCENARIOS, scenario)
        assert os.path.isfile(path), path
        if until_told:
            path = self._until_told(path)
        media_port = media_port or ports.rtp_range(4)[0]
        k = dict(DEFAULT_KEYS)
        k["rtp_port"] = str(rtp_port or media_port)
        k.update({n: str(v) for n, v in (keys or {}).items()})
        if caller_audio is not None:
            with open(os.path.join(self.dir, "caller.raw"), "wb") as f:
                f.write(caller_audio)
        self.msg_path = os.path.join(self.dir, "messages.log")
        self.err_path = os.path.join(self.dir, "errors.log")
        self.stdout_path = os.path.join(self.dir, "screen.txt")
        self.timeout_s = timeout_s
        self.transport = transport
        self.sip_port = ports.port()
        # Call-IDs of this run's own, so that the test can name a call to SIPp (hang_up()).
        self.cid_tag = "sbt%d-%d" % (os.getpid(), Sipp.counter)
        cmd = [tool("sipp"), "127.0.0.1:%d" % target_port, "-sf", path, "-t", transport,
               "-i", "127.0.0.1", "-p", str(self.sip_port), "-cid_str", "%u-" + self.cid_tag + "@%s",
               "-mi", "127.0.0.1", "-mp", str(media_port),
               "-m", str(calls), "-l", str(calls), "-r", str(max(calls, 1)), "-d", str(duration_ms),
               "-nostdin", "-recv_timeout", "30000", "-max_retrans", "4",
               "-timeout", "%ds" % timeout_s, "-timeout_error",
               "-trace_msg", "-message_file", self.msg_path, "-trace_err", "-error_file", self.err_path]
        if rtp_payload is not None:
            cmd += ["-rtp_payload", str(rtp_payload)]
        for n, v in k.items():
            cmd += ["-key", n, v]
        cmd += list(extra)
        self.cmd = cmd
        self.proc = None

    def _until_told(self, path):
        """A copy of the scenario whose one <pause/> (the call held for duration_ms) waits instead for hang_up(): an
        INFO to SIPp's port, left unanswered. Not told within timeout_s (SIPp's -timeout), the run fails."""
        with open(path) as f:
            text = f.read()
        assert text.count("<pause/>") == 1, "%s: until_told needs exactly one <pause/>" % path
        copy = os.path.join(self.dir, os.path.basename(path))
        with open(copy, "w") as f:
            f.write(text.replace("<pause/>", '<recv request="INFO" timeout="120000"/>'))
        return copy

    def start(self):
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                                     cwd=self.dir)
        return self

    def done(self):
        return self.proc is not None and self.proc.poll() is not None

    def hang_up(self, call_number=1):
        """Tells a call held until told (until_told=True) to go on past its hold, to its BYE: an INFO with the call's
        Call-ID straight to SIPp's port (UDP)."""
        return self._info("z9hG4bK-hang-up-%d" % call_number, 1, call_number)

    def tell(self, step, call_number=1):
        """Tells a call waiting in one of its scenario's <recv request="INFO"/> to go on, as hang_up() does; step
        (1, 2, ...) numbers the INFOs, so that each is a new request to SIPp and not a retransmission of the last."""
        return self._info("z9hG4bK-tell-%d-%d" % (call_number, step), step, call_number)

    def _info(self, branch, cseq, call_number):
        assert self.transport == "u1" and self.proc is not None, (self.name, self.transport)
        if self.proc.poll() is not None:
            raise AssertionError("%s ended before the test told it to go on\n%s" % (self.name, self.wait().describe()))
        msg = sipraw.request("INFO", ruri="sip:caller@127.0.0.1:%d" % self.sip_port, via="127.0.0.1:9",
                             call_id="%d-%s@127.0.0.1" % (call_number, self.cid_tag), branch=branch, cseq=cseq,
                             from_tag="hang-up")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(msg, ("127.0.0.1", self.sip_port))
        return self

    def wait(self):
        try:
            rc = self.proc.wait(self.timeout_s + 20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("sipp %s still running %d s after its own -timeout" % (self.name, 20))
        self._out.close()
        return SippResult(rc, self.dir, self.stdout_path, self.msg_path, self.err_path, self.cmd)

    def run(self):
        return self.start().wait()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# ---------------------------------------------------------------------------------------------------------------
# A TCP listener that accepts and never answers (a bot whose WebSocket handshake never completes)


class SilentListener:
    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = "ws://127.0.0.1:%d/media" % port
        self.accepted = 0
        self.closed_by_peer = 0
        self.request_bytes = 0
        self._conns = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                c.setblocking(False)
                self._conns.append(c)
                self.accepted += 1
            except socket.timeout:
                pass
            except OSError:
                return
            for c in list(self._conns):
                try:
                    d = c.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    self.request_bytes += len(d)
                else:
                    self.closed_by_peer += 1
                    self._conns.remove(c)
                    c.close()

    def close(self):
        self._stop.set()
        self._t.join(2)
        for c in self._conns:
            c.close()
        self.sock.close()


# ---------------------------------------------------------------------------------------------------------------
# SDP and bot-log checks shared by the tests


def parse_sdp(text):
    """Minimal SDP reader: {'c': addr, 'port': int, 'fmts': [int], 'attrs': [str]} for the first m=audio."""
    out = {"c": None, "port": None, "fmts": [], "attrs": []}
    for line in text.replace("\r", "").split("\n"):
        if line.startswith("c=IN IP4 ") or line.startswith("c=IN IP6 "):
            out["c"] = line.split()[2]
        elif line.startswith("m=audio "):
            f = line.split()
            out["port"] = int(f[1])
            out["fmts"] = [int(x) for x in f[3:]]
        elif line.startswith("a="):
            out["attrs"].append(line[2:])
    return out


def media_sequence_ok(msgs, frame_ms=100):
    """Assert the Exotel media numbering of a list of rx media messages; returns (first seq, last seq)."""
    assert msgs, "no media messages"
    seqs = [int(m["sequence_number"]) for m in msgs]
    chunks = [int(m["media"]["chunk"]) for m in msgs]
    stamps = [int(m["media"]["timestamp"]) for m in msgs]
    for m in msgs:
        assert isinstance(m["sequence_number"], str) and isinstance(m["media"]["chunk"], str) \
            and isinstance(m["media"]["timestamp"], str), "numbers must be digit strings: %r" % m
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "sequence_number not +1: %s" % seqs[:40]
    assert chunks == list(range(1, len(chunks) + 1)), "chunk not 1,2,3..: %s" % chunks[:40]
    d = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(x == frame_ms for x in d), "timestamp steps are not %d ms: %s" % (frame_ms, d[:40])
    # media time starts at 0 with the first chunk: chunk k carries the audio from (k - 1) * frame_ms
    assert all(t == (c - 1) * frame_ms for c, t in zip(chunks, stamps)), list(zip(chunks, stamps))[:10]
    return seqs[0], seqs[-1]


def answer_sdp(res):
    """parse_sdp() of the 200 OK to the INVITE in a SippResult, plus its raw 'text'."""
    ok = res.response(200)
    assert ok is not None, "no 200 OK to the INVITE\n" + res.describe()
    sdp = parse_sdp(ok.body())
    sdp["text"] = ok.body()
    return sdp


def media_time_ok(msgs, frame_ms):
    """Assert that rx media messages follow media time: chunk 1, 2, 3.., timestamp == the milliseconds of caller
    audio carried by the messages before it, and frame_ms of audio in every message but the last. Returns the
    number of samples they carry in all."""
    assert msgs, "no media messages"
    samples = 0
    bad = []
    for i, m in enumerate(msgs):
        media = m["media"]
        n = int(media["payload_bytes"]) // 2
        if int(media["chunk"]) != i + 1 or int(media["timestamp"]) * 8 != samples:
            bad.append("message %d: chunk %s timestamp %s after %d samples (%d ms)"
                       % (i + 1, media["chunk"], media["timestamp"], samples, samples // 8))
        if i < len(msgs) - 1 and n != frame_ms * 8:
            bad.append("message %d: %d samples, frame_ms = %d" % (i + 1, n, frame_ms))
        samples += n
    assert not bad, "%d of %d media messages off media time: %s" % (len(bad), len(msgs), bad[:10])
    return samples


def dtmf_received(bot, conn=None):
    """(digit, duration, message) of every dtmf event the bot received, in order."""
    out = []
    for e in bot.rx("dtmf", conn=conn):
        d = e["msg"].get("dtmf") or {}
        out.append((d.get("digit"), d.get("duration"), e["msg"]))
    return out


# ---------------------------------------------------------------------------------------------------------------
# SIPp as a server (a transfer target)


class SippServer(Sipp):
    """One SIPp run as a UAS on local_ip:port (default 127.0.0.1; another loopback address stands for a host
    outside a trunk's ACL), for a single call (-m 1). Scenario by path (relative names are looked up in
    scenarios/). start() + wait() (a SippResult), done(), kill() as for Sipp, and received() / sent() to look at
    the messages logged so far while it runs."""

    counter = 0

    def __init__(self, workdir, ports, scenario, port=None, transport="u1", keys=None, timeout_s=60, extra=(),
                 local_ip="127.0.0.1"):
        SippServer.counter += 1
        self.name = "sipps%d-%s" % (SippServer.counter, os.path.splitext(os.path.basename(scenario))[0])
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir)
        path = scenario if os.path.isabs(scenario) else os.path.join(SCENARIOS, scenario)
        assert os.path.isfile(path), path
        self.port = port or ports.port()
        media_port = ports.rtp_range(4)[0]  # SIPp binds a media socket even when the test does the media
        self.msg_path = os.path.join(self.dir, "messages.log")
        self.err_path = os.path.join(self.dir, "errors.log")
        self.stdout_path = os.path.join(self.dir, "screen.txt")
        self.timeout_s = timeout_s
        cmd = [tool("sipp"), "-sf", path, "-t", transport, "-i", local_ip, "-p", str(self.port),
               "-mi", "127.0.0.1", "-mp", str(media_port), "-m", "1", "-nostdin", "-max_retrans", "4",
               "-timeout", "%ds" % timeout_s, "-timeout_error",
               "-trace_msg", "-message_file", self.msg_path, "-trace_err", "-error_file", self.err_path]
        for n, v in (keys or {}).items():
            cmd += ["-key", n, str(v)]
        cmd += list(extra)
        self.cmd = cmd
        self.proc = None
        self.uri_host = "%s:%d" % (local_ip, self.port)

    def _logged(self, direction):
        try:
            with open(self.msg_path, errors="replace") as f:
                text = f.read()
        except OSError:
            return []
        return [m for m in parse_message_log(text) if m.dir == direction]

    def received(self):
        """The messages SIPp logged as received so far."""
        return self._logged("received")

    def sent(self):
        """The messages SIPp logged as sent so far."""
        return self._logged("sent")

    def wait_received(self, pred, timeout, what):
        """Poll the message log until one received message satisfies pred; returns it."""
        def got():
            for m in self.received():
                if pred(m):
                    return m
            return None
        try:
            return wait_until(got, timeout, what)
        except AssertionError as e:
            raise AssertionError("%s at SIPp server %s (received so far: %s)"
                                 % (e, self.name, [m.first for m in self.received()]))


def sipp_uas(env, scenario, keys=None, port=None, **kw):
    """Start a SippServer on a free port of env (killed at the test's teardown); .port is its SIP port."""
    s = SippServer(env.tmp, env.ports, scenario, port=port, keys=keys, **kw)
    env.sipps.append(s)
    return s.start()

#!/usr/bin/python3
"""Samples sipbridged once a second during a load run: calls_active from its admin /metrics, VmRSS
and the number of open descriptors from /proc, one JSON line per sample. With it, how busy the
machine was and how much of its CPUs' time the host took (/proc/stat's steal: time a virtual CPU
had work and the host ran something else) and, per thread group of the daemon and per load
generator named with --proc (with its children: a generator may run under `timeout`), the CPU time
its threads ran and the time they waited runnable for a CPU (the kernel's schedstat), cumulative in
ms. Stops on SIGTERM/SIGINT, when the daemon is gone, or after --max-seconds. Everything read is
treated as untrusted (bounded size, strict parsing).

usage: poll_metrics.py --url URL --pid PID --out FILE [--proc NAME=PIDFILE ...] [--interval S]
                       [--max-seconds S]
"""

import argparse
import json
import os
import re
import signal
import sys
import time
import urllib.request

MAX_BODY = 4 << 20
SAMPLE_RE = re.compile(r"^sipbridge_calls_active (-?[0-9]+(?:\.[0-9]+)?)$", re.M)

stop = False


def on_signal(_sig, _frame):
    global stop
    stop = True


def calls_active(url):
    """The gauge, or None when the scrape fails or does not carry it."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read(MAX_BODY + 1)
    except (OSError, ValueError):
        return None
    if len(body) > MAX_BODY:
        return None
    m = SAMPLE_RE.search(body.decode("utf-8", "replace"))
    return int(float(m.group(1))) if m else None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


# The daemon's threads by name (include/sb/worker_thread.h names them "sb-<role><n>"); the
# main thread runs the SIP stack.
DAEMON_GROUPS = (("sb-media", "media"), ("sb-ws", "ws"))
CHILD_SEARCH_SAMPLES = 10


def machine_ticks(path="/proc/stat"):
    """[busy, total, steal] jiffies of all CPUs since boot, or [busy, total] where the kernel
    gives no steal, or None. Busy is everything but idle and iowait, steal among it: time a
    virtual CPU had work and the host ran something else."""
    try:
        with open(path) as f:
            head = f.readline(4096).split()
        v = [int(x) for x in head[1:]]
    except (OSError, ValueError):
        return None
    if not head or head[0] != "cpu" or len(v) < 5:
        return None
    # user nice system idle iowait irq softirq steal; guest and guest_nice after them are
    # counted in user and nice already.
    v = v[:8]
    busy, total = sum(v) - v[3] - v[4], sum(v)
    return [busy, total, v[7]] if len(v) == 8 else [busy, total]


def thread_sched(pid, group_of):
    """{group: [run ms, wait ms]} summed over pid's live threads (/proc/PID/task/TID/schedstat)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "schedstat") as f:
                run_ns, wait_ns = (int(x) for x in f.read(256).split()[:2])
            with open(base + "comm") as f:
                comm = f.read(64).strip()
        except (OSError, ValueError):
            continue
        acc = out.setdefault(group_of(tid, comm), [0.0, 0.0])
        acc[0] += run_ns / 1e6
        acc[1] += wait_ns / 1e6
    return {g: [round(r, 1), round(w, 1)] for g, (r, w) in out.items()}


def daemon_group(pid):
    def group_of(tid, comm):
        if tid == str(pid):
            return "sip"
        for prefix, name in DAEMON_GROUPS:
            if comm.startswith(prefix):
                return name
        return "daemon_other"
    return group_of


def children(pid):
    """The processes whose parent is pid (a generator may run under `timeout`)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                st = f.read(1024)
            ppid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(name))
    return out


def read_pid(path):
    try:
        with open(path) as f:
            pid = int(f.read(32).strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--proc", action="append", default=[], metavar="NAME=PIDFILE",
                    help="a load generator whose threads' CPU and waits are sampled too")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=3600)
    a = ap.parse_args()
    procs = {}
    for spec in a.proc:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            ap.error("--proc takes NAME=PIDFILE")
        procs[name] = [path, None]
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    end = time.monotonic() + a.max_seconds
    n_samples = 0
    nxt = time.monotonic()
    with open(a.out, "w") as out:
        while not stop and time.monotonic() < end:
            rss = rss_kb(a.pid)
            if rss is None:
                break  # the daemon is gone
            sample = {"t": round(time.time(), 3), "calls_active": calls_active(a.url), "rss_kb": rss,
                      "fds": fd_count(a.pid), "machine": machine_ticks()}
            sched = thread_sched(a.pid, daemon_group(a.pid))
            for name, entry in procs.items():
                # A generator starts after the poller (its pid file comes later), and a child
                # of `timeout` a moment after it: looked for over the first samples.
                if entry[1] is None or (len(entry[1]) == 1 and n_samples < CHILD_SEARCH_SAMPLES):
                    pid = read_pid(entry[0])
                    entry[1] = [pid] + children(pid) if pid else None
                total = [0.0, 0.0]
                for pid in entry[1] or ():
                    for run, wait in thread_sched(pid, lambda _tid, _comm: name).values():
                        total = [total[0] + run, total[1] + wait]
                if entry[1]:
                    sched[name] = [round(total[0], 1), round(total[1], 1)]
            sample["sched"] = sched
            n_samples += 1
            out.write(json.dumps(sample) + "\n")
            out.flush()
            nxt += a.interval
            while not stop and time.monotonic() < nxt:
                time.sleep(min(0.1, max(0.0, nxt - time.monotonic())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long the run's threads waited for a CPU, from a `perf script` of sched_switch and sched_wakeup events
(run_load.sh -S). Two kinds of wait, per thread name:

  woken      from the wake-up (a packet, a message, a timer for it) to the moment it ran;
  preempted  from being switched out while still runnable to the moment it ran again.

A frame of caller audio crosses the media thread, a ws thread and the test bot on its way: each wait here is
latency the scheduler added on that way, not work of the thread's own. `python3 sched_waits.py FILE` prints
the table."""

import collections
import re
import sys

LINE = re.compile(r"\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s+(.*)")
SWITCH = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> "
                    r"next_comm=(.*?) next_pid=(\d+) ")
WAKEUP = re.compile(r"comm=(.*?) pid=(\d+) prio=\d+ target_cpu=\d+")

# The threads a reader of a load run cares about: the daemon's (sipbridged is its SIP thread), the generators',
# and the kernel's softirq threads (loopback packets wait for them when the softirq work is deferred).
WATCHED = ("sb-", "sipbridged", "sipbridge-testb", "sipbridge-rtpso", "sipp", "ksoftirqd")
LONG_MS = 5  # a wait counted as long


def parse(lines):
    """({thread name: {"woken": [ms...], "preempted": [ms...]}}, {name: share of a CPU it ran}, seconds covered)."""
    woke, out, names = {}, {}, {}
    waits = collections.defaultdict(lambda: {"woken": [], "preempted": []})
    ran, on_cpu = collections.Counter(), {}
    t_first = t_last = None
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        cpu, t, event, rest = int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)
        if event.endswith("sched_wakeup"):
            w = WAKEUP.search(rest)
            if w:
                woke.setdefault(int(w.group(2)), t)
            continue
        if not event.endswith("sched_switch"):
            continue
        s = SWITCH.search(rest)
        if not s:
            continue
        t_first = t if t_first is None else t_first
        t_last = t
        prev, prev_state, nxt = int(s.group(2)), s.group(3), int(s.group(5))
        names[prev], names[nxt] = s.group(1), s.group(4)
        if cpu in on_cpu:
            ran[on_cpu[cpu][0]] += t - on_cpu[cpu][1]
        on_cpu[cpu] = (s.group(4), t)
        out[prev] = (t, prev_state)
        woke.pop(prev, None)
        if nxt in out:
            t_out, state = out.pop(nxt)
            if state.startswith("R"):
                waits[names[nxt]]["preempted"].append((t - t_out) * 1e3)
            elif nxt in woke:
                waits[names[nxt]]["woken"].append((t - woke[nxt]) * 1e3)
        woke.pop(nxt, None)
    span = (t_last - t_first) if t_first is not None and t_last > t_first else 0.0
    share = {n: v / span for n, v in ran.items()} if span else {}
    return dict(waits), share, span


def summary(path):
    """The watched threads' waits (p50/p99/max in ms, and how many over 5 ms) and CPU shares, for the report;
    None when there is no usable record."""
    try:
        with open(path, errors="replace") as f:
            waits, share, span = parse(f)
    except OSError:
        return None
    if not span:
        return None
    threads = {}
    for name in sorted(waits):
        if not name.startswith(WATCHED):
            continue
        row = {"cpu_share": round(share.get(name, 0.0), 3)}
        for kind, v in waits[name].items():
            v = sorted(v)
            if v:
                row[kind] = {"n": len(v), "p50": round(v[len(v) // 2], 3), "p99": round(v[int(len(v) * 0.99)], 2),
                             "max": round(v[-1], 2), "over_5ms": sum(1 for x in v if x > LONG_MS)}
        threads[name] = row
    idle = sum(v for n, v in share.items() if n.startswith("swapper"))
    return {"seconds": round(span, 3), "idle_cpus": round(idle, 2), "threads": threads}


def lines(s):
    """The report's rows: one per watched thread."""
    out = []
    for name, row in s["threads"].items():
        cells = []
        for kind in ("woken", "preempted"):
            k = row.get(kind)
            cells.append("%s p99 %s / max %s ms (%d over %d)" % (kind, k["p99"], k["max"], k["over_5ms"], LONG_MS)
                         if k else "%s -" % kind)
        out.append(("  %s (%.0f %% of a CPU)" % (name, 100 * row["cpu_share"]), "; ".join(cells)))
    return out


if __name__ == "__main__":
    s = summary(sys.argv[1])
    if not s:
        sys.exit("no scheduler events in %s" % sys.argv[1])
    print("%.1f s recorded, idle %.2f CPUs" % (s["seconds"], s["idle_cpus"]))
    for a, b in lines(s):
        print("%-40s %s" % (a, b))

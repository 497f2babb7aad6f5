#!/usr/bin/python3
"""Samples sipbridged once a second during a load run: calls_active from its admin /metrics, VmRSS
and the number of open descriptors from /proc, one JSON line per sample. Stops on SIGTERM/SIGINT, when the daemon is gone, or
after --max-seconds. Everything read is treated as untrusted (bounded size, strict parsing).

usage: poll_metrics.py --url URL --pid PID --out FILE [--interval S] [--max-seconds S]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=3600)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    end = time.monotonic() + a.max_seconds
    nxt = time.monotonic()
    with open(a.out, "w") as out:
        while not stop and time.monotonic() < end:
            rss = rss_kb(a.pid)
            if rss is None:
                break  # the daemon is gone
            sample = {"t": round(time.time(), 3), "calls_active": calls_active(a.url), "rss_kb": rss,
                      "fds": fd_count(a.pid)}
            out.write(json.dumps(sample) + "\n")
            out.flush()
            nxt += a.interval
            while not stop and time.monotonic() < nxt:
                time.sleep(min(0.1, max(0.0, nxt - time.monotonic())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

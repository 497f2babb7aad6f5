#!/usr/bin/python3
"""The end of a load run (run_load.sh): reads what the run left in its directory (SIPp's stat,
rtt and error files, the daemon's final /metrics and log, poll_metrics.py's samples,
sipbridge-wirestat's JSON, the `times` of the generators) and prints a table and one JSON line.
A figure that was not measured is null in the JSON and "n/a" in the table, never a guess.
Every file is read as untrusted: bounded sizes, strict parsing, anything odd is skipped.
"""

import argparse
import array
import bisect
import json
import math
import os
import re
import sys

import sched_waits
import targets

MAX_FILE = 64 << 20
# Caller -> bot latency is refused when this share of its samples is clearly negative: the
# caller's packets and the bot's audio were not aligned, so no figure would be true.
MAX_NEGATIVE_SHARE = 0.01
# The bot may get a little more than the caller sent (resampler rounding, 20 ms of 8 kHz).
ALIGN_SLACK_SAMPLES = 160


def read_text(path, limit=MAX_FILE):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def pct(values, q):
    """Nearest-rank percentile of a sorted list, or None when empty."""
    if not values:
        return None
    return values[max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))]


def to_int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


def sipp_stats(d):
    """The last row of -trace_stat's CSV (cumulative), and the peak of CurrentCall."""
    text = read_text(os.path.join(d, "stat.csv"))
    if not text:
        return None, None
    rows = [line.rstrip(";").split(";") for line in text.splitlines() if line.strip()]
    if len(rows) < 2:
        return None, None
    head = rows[0]
    last = dict(zip(head, rows[-1]))
    peak = None
    if "CurrentCall" in head:
        i = head.index("CurrentCall")
        vals = [to_int(r[i]) for r in rows[1:] if len(r) > i]
        vals = [v for v in vals if v is not None]
        peak = max(vals) if vals else None
    return last, peak


def sipp_failures(last):
    """SIPp's failure counters that are not zero, by cause (FailedX(C) -> X)."""
    out = {}
    for k, v in (last or {}).items():
        m = re.fullmatch(r"Failed([A-Za-z]+)\(C\)", k)
        n = to_int(v)
        if m and m.group(1) != "Call" and n:
            out[m.group(1)] = n
    return out


def sipp_error_codes(d):
    """SIP status codes of the unexpected responses in SIPp's error log."""
    text = read_text(os.path.join(d, "errors.log"))
    codes = {}
    for m in re.finditer(r"received '\s*SIP/2\.0 ([1-6][0-9][0-9]) ", text or ""):
        codes[m.group(1)] = codes.get(m.group(1), 0) + 1
    return codes


def setup_times(d):
    """INVITE -> 200 OK of every answered call, in ms (SIPp's rtd, -trace_rtt), and when each was
    answered (SIPp's Date_ms), both sorted; None when there is no file."""
    vals, at = [], []
    try:
        names = [n for n in os.listdir(d) if re.fullmatch(r"uac_[a-z]+_[0-9]+_rtt\.csv", n)]
    except OSError:
        names = []
    if not names:
        return None
    for n in names:
        for line in (read_text(os.path.join(d, n)) or "").splitlines()[1:]:
            f = line.split(";")
            if len(f) >= 3 and f[2].strip() == "1":
                try:
                    v = float(f[1])
                except ValueError:
                    continue
                if math.isfinite(v) and v >= 0:
                    vals.append(v)
                    try:
                        t = float(f[0])
                    except ValueError:
                        continue
                    if math.isfinite(t):
                        at.append(t)
    return sorted(vals), sorted(at)


def prom(d):
    """The final /metrics scrape: {(name, label value or ''): value}."""
    out = {}
    line_re = re.compile(r'^sipbridge_([a-z_]+)(?:\{[a-z_]+="([A-Za-z0-9_.+]*)"\})? (-?[0-9.eE+]+)$')
    for line in (read_text(os.path.join(d, "metrics.end"), 4 << 20) or "").splitlines():
        m = line_re.match(line)
        if m:
            try:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def histogram(metrics, name):
    """A histogram of the final scrape, in ms: how many observations, their mean, and the
    bucket bounds under which half and 99 % of them fell (None past the last bound), or None
    when it has none."""
    count = metrics.get((name + "_count", ""))
    if not count:
        return None
    cum = sorted((float(lab), v) for (n, lab), v in metrics.items()
                 if n == name + "_bucket" and lab != "+Inf")

    def bound(q):
        return next((rnd(b * 1000) for b, c in cum if c >= q * count), None)
    return {"messages": int(count), "mean": rnd(metrics.get((name + "_sum", ""), 0) / count * 1000),
            "p50_le": bound(0.5), "p99_le": bound(0.99)}


def family(metrics, name):
    return {lab: int(v) for (n, lab), v in metrics.items() if n == name and lab}


def read_samples(d):
    """poll_metrics.py's samples in order: the JSON objects whose "t" is a number, t as a float."""
    out = []
    for line in (read_text(os.path.join(d, "samples.jsonl")) or "").splitlines():
        try:
            s = json.loads(line)
            s["t"] = float(s["t"])
        except (ValueError, KeyError, TypeError):
            continue
        out.append(s)
    return out


def is_count(v):
    return isinstance(v, int) and v >= 0


# The calls are "up" in a sample with at least this share of the run's peak calls_active.
UP_SHARE = 0.9


def calls_up(c, peak):
    return is_count(c) and peak and c >= UP_SHARE * peak


def samples(d):
    """Peak calls_active, call-seconds (the gauge integrated over the samples), RSS samples."""
    rows = [(s["t"], s.get("calls_active") if is_count(s.get("calls_active")) else None)
            for s in read_samples(d)]
    got = [c for _, c in rows if c is not None]
    if not got:
        return None, None, len(rows)
    call_s = 0.0
    for (ta, ca), (tb, _) in zip(rows, rows[1:]):
        if ca is not None and 0 < tb - ta < 10:
            call_s += ca * (tb - ta)
    return max(got), call_s, sum(1 for _, c in rows if c is None)


WARMUP_S = 60  # the steady state's first minute is warm-up: caches, pools and buffers fill


def steady_state(d):
    """What a soak needs: the descriptors before the first call and after the last one (the run
    waits, bounded, for them to return to the idle count), and RSS over
    the steady state (the samples with at least 90 % of the peak calls) after WARMUP_S, whose
    spread is the drift."""
    rows = [(s["t"], s.get("calls_active"), s.get("rss_kb")) for s in read_samples(d)]
    fds = [(read_text(os.path.join(d, n), 64) or "").strip() for n in ("fds.idle", "fds.end")]
    res = {"fds_idle": int(fds[0]) if fds[0].isdigit() else None,
           "fds_end": int(fds[1]) if fds[1].isdigit() else None,
           "rss_steady_min_kib": None, "rss_steady_max_kib": None, "rss_drift_pct": None,
           "steady_s": 0}
    peak = max((r[1] for r in rows if is_count(r[1])), default=0)
    steady = [r for r in rows if calls_up(r[1], peak) and is_count(r[2])]
    if steady:
        warm = [r for r in steady if r[0] >= steady[0][0] + WARMUP_S]
        res["steady_s"] = round(steady[-1][0] - steady[0][0])
        if warm:
            lo, hi = min(r[2] for r in warm), max(r[2] for r in warm)
            res.update(rss_steady_min_kib=lo, rss_steady_max_kib=hi,
                       rss_drift_pct=round(100.0 * (hi - lo) / lo, 1))
    return res


def child_cpu(d, name):
    """User + system seconds of a process run under a shell that ran `times` after it."""
    lines = (read_text(os.path.join(d, name + ".times"), 4096) or "").splitlines()
    if len(lines) < 2:
        return None
    m = re.fullmatch(r"\s*([0-9]+)m([0-9.]+)s ([0-9]+)m([0-9.]+)s\s*", lines[1])
    if not m:
        return None
    return int(m.group(1)) * 60 + float(m.group(2)) + int(m.group(3)) * 60 + float(m.group(4))


def loadavg(d, name):
    """The 1-minute load average in /proc/loadavg as saved by the run."""
    f = (read_text(os.path.join(d, name), 4096) or "").split()
    try:
        v = float(f[0])
    except (IndexError, ValueError):
        return None
    return v if math.isfinite(v) and v >= 0 else None


def read_json(path):
    """A tool's JSON summary, or None when it is missing or not JSON."""
    try:
        return json.loads(read_text(path, 1 << 20) or "")
    except ValueError:
        return None


def wirestat(d):
    return read_json(os.path.join(d, "wirestat.json"))


def log_causes(d, top=5):
    """The daemon's warning and error lines, numbers and ids folded, most frequent first."""
    counts = {}
    for line in (read_text(os.path.join(d, "sipbridged.log")) or "").splitlines():
        m = re.search(r"\b(warn|warning|error|crit)\b (.*)", line)
        if not m:
            continue
        text = re.sub(r"\[[^\]]*\]", "[..]", m.group(2).strip())
        text = re.sub(r"[0-9]+", "N", text)[:160]
        key = m.group(1) + " " + text
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:top])


def read_lines(path):
    try:
        with open(path, "rb") as f:
            for raw in f:
                yield raw.decode("ascii", "replace")
    except OSError:
        return


def wire_segments(d):
    """The caller's packets as the capture saw them, by the bridge's port: a list of segments
    (a new one on a new SSRC or after 5 s of nothing), each as (cumulative samples sent after
    each packet, capture time in ns)."""
    ports = {}
    for line in read_lines(os.path.join(d, "wire_in.log")):
        f = line.split()
        if len(f) != 6 or not all(x.isdigit() for x in f):
            continue
        port, ssrc, _seq, ts, plen, t_ns = (int(x) for x in f)
        segs = ports.setdefault(port, [])
        seg = segs[-1] if segs else None
        if not seg or seg["ssrc"] != ssrc or t_ns - seg["t"][-1] > 5e9:
            seg = {"ssrc": ssrc, "ts0": ts, "last": ts, "wrap": 0, "cum": array.array("q"),
                   "t": array.array("q")}
            segs.append(seg)
        if ts < seg["last"] and seg["last"] - ts > 1 << 31:
            seg["wrap"] += 1 << 32  # the 32-bit RTP timestamp wrapped
        seg["last"] = ts
        cum = ts + seg["wrap"] - seg["ts0"] + plen
        # A reordered packet does not move the sent count back.
        seg["cum"].append(max(cum, seg["cum"][-1]) if seg["cum"] else cum)
        seg["t"].append(t_ns)
    return ports


def bot_arrivals(d):
    """{connection: (sample rate, call value, [(read ns, samples, kernel arrival ns or 0)])} from
    the bot's file (an older bot's lines have no kernel time: 0)."""
    # The bot reuses a connection's number once it is closed: a start line begins a new
    # connection under that number, and the earlier one is kept under a key of its own.
    conns, live = {}, {}
    for line in read_lines(os.path.join(d, "bot.arrivals")):
        f = line.split()
        if len(f) == 4 and f[0] == "S" and f[1].isdigit() and f[2].isdigit():
            key = len(conns)
            conns[key] = [int(f[2]), f[3], []]
            live[f[1]] = key
        elif len(f) in (4, 5) and f[0] == "M" and all(x.isdigit() for x in f[1:]) and f[1] in live:
            conns[live[f[1]]][2].append((int(f[2]), int(f[3]), int(f[4]) if len(f) == 5 else 0))
    return conns


def figures(lat, calls, excluded):
    """p50/p99/max of a list of latencies in ms (sorted here), or None when it is empty or more
    than MAX_NEGATIVE_SHARE of it is clearly negative, with why."""
    if not lat:
        return None, "no call matched between SIPp, the capture and the bot (%d left out)" % excluded
    lat.sort()
    negative = sum(1 for v in lat if v < -1.0)
    if negative > MAX_NEGATIVE_SHARE * len(lat):
        return None, "caller packets and bot audio did not align (%d of %d negative)" % (negative, len(lat))
    return {"calls": calls, "calls_excluded": excluded, "messages": len(lat),
            "p50": rnd(pct(lat, 0.5)), "p99": rnd(pct(lat, 0.99)), "max": rnd(lat[-1])}, None


def with_last_partial(fig_why, rest, lat):
    """The figures, with how many of their messages were a call's last, partial one (lat less
    rest) and the p99 of the others, rest (the steady stream's): with calls of a few seconds
    those last messages are a share of all that makes the p99 alone."""
    fig, why = fig_why
    if fig is not None:
        rest.sort()
        fig["last_partial_messages"] = len(lat) - len(rest)
        fig["p99_without_last_partial"] = rnd(pct(rest, 0.99))
    return fig, why


def caller_to_bot_latency(d, drops_to_bot):
    """For every media message the bot got: the time it reached the bot minus the capture time
    of the caller's packet that carried the message's last sample, in ms, taken two ways. At the
    bot's socket: the kernel's arrival time of the read that completed the message (the stamp of
    its newest data, so never earlier than the message's own), which leaves out how long the
    test bot, a generator sharing the machine, waited for a CPU before reading; this is the
    latency the bridge adds. When the bot read it: the bot's own clock after the read. Calls are
    matched by SIPp's call number (X-Load-Call) and the bridge port SIPp logged from the 200 OK.
    Returns {"socket": figures or None, "read": figures}, or None, why there are none (or why
    there is no socket figure), and every headline value with its time of arrival in s."""
    # A frame the bridge dropped on a full queue shifts every later sample of its call, and
    # the metric does not say which call: no alignment by counting samples holds then.
    if drops_to_bot is None:
        return None, "the daemon's queue_drops_total was not scraped", []
    if drops_to_bot:
        return None, "the daemon dropped %d frames to bots (queue_drops_total): audio " \
            "cannot be aligned" % drops_to_bot, []
    call_port = {}
    for line in read_lines(os.path.join(d, "calls.log")):
        m = re.search(r"call ([0-9]+) port ([0-9]+) ", line)
        if m:
            call_port[m.group(1)] = int(m.group(2))
    if not call_port:
        return None, "no call-to-port log from SIPp", []
    ports = wire_segments(d)
    conns = bot_arrivals(d)
    if not ports or not conns:
        return None, "no capture of the caller's packets or no bot arrivals", []
    read, sock, calls, excluded, unstamped = [], [], 0, 0, 0
    stamped, stamped_read = [], []
    # The latencies without each call's last message when it is shorter than the call's others:
    # the part of a message the bridge sends when the call ends, which waited for the end (at
    # most a framing interval, spec §4) rather than for the bridge's work.
    read_rest, sock_rest = [], []
    for rate, value, media in conns.values():
        port = call_port.get(value)
        if not port or not rate or not media or port not in ports:
            continue
        first = media[0][0]
        # The segment of this call: the last one that began before the bot's first audio.
        segs = [sg for sg in ports[port] if sg["t"][0] <= first]
        if not segs:
            continue
        seg = segs[-1]
        # An earlier call's segment on the same port: this call's packets are not in the log
        # (--in-log-max was reached), so it cannot be aligned.
        if seg["t"][-1] < first:
            continue
        # The bot may get less than was sent (what was still on the way at the BYE), never
        # more: a call where it did had audio added, which no count of samples can align.
        bot_total = sum(n for _, n, _ in media) * 8000 / rate
        if bot_total > seg["cum"][-1] + ALIGN_SLACK_SAMPLES:
            excluded += 1
            continue
        calls += 1
        got = 0.0
        partial_at = len(media) - 1 if len(media) > 1 and media[-1][1] < max(n for _, n, _ in media) else -1
        for i, (t_ns, n, k_ns) in enumerate(media):
            got += n * 8000 / rate
            k = bisect.bisect_left(seg["cum"], got - 0.5)
            if k < len(seg["cum"]):
                read.append((t_ns - seg["t"][k]) / 1e6)
                stamped_read.append((t_ns / 1e9, read[-1]))
                if i != partial_at:
                    read_rest.append(read[-1])
                # A stamp after the bot's own read of it is not the arrival of this data.
                if 0 < k_ns <= t_ns:
                    sock.append((k_ns - seg["t"][k]) / 1e6)
                    stamped.append((k_ns / 1e9, sock[-1]))
                    if i != partial_at:
                        sock_rest.append(sock[-1])
                else:
                    unstamped += 1
    fig_read, why = with_last_partial(figures(read, calls, excluded), read_rest, read)
    if fig_read is None:
        return None, why, []
    fig_sock, why = None, None
    if unstamped:
        why = "%d of %d reads without a usable kernel stamp (an older bot, a connection the " \
            "kernel would not stamp, data queued before the stamps began, or a stamp after the " \
            "read): the figure is the bot's read" % (unstamped, len(read))
    else:
        fig_sock, why = with_last_partial(figures(sock, calls, excluded), sock_rest, sock)
        if why:
            why = "the figure at the bot's socket is withheld (%s): the figure is the bot's read" % why
    return {"socket": fig_sock, "read": fig_read}, why, stamped if fig_sock else stamped_read


def latency_figures(both, why):
    """The report's two latency entries from caller_to_bot_latency(): the headline, at the bot's
    socket when every read was stamped and at the bot's read otherwise (measured_at says which,
    and note why), and the figure at the bot's read."""
    none = {"calls": 0, "calls_excluded": None, "messages": 0, "p50": None, "p99": None, "max": None,
            "last_partial_messages": None, "p99_without_last_partial": None}
    if both is None:
        return dict(none, measured_at=None, note=why), dict(none, note=why)
    if both["socket"]:
        return dict(both["socket"], measured_at="socket"), both["read"]
    return dict(both["read"], measured_at="read", note=why), both["read"]


# A second in which the machine's CPUs were at least this busy counts as saturated: runnable
# threads then queue for a CPU, whoever they are.
BUSY_PCT = 90
THREAD_GROUPS = ("media", "ws", "sip", "daemon_other", "bot", "rtpsource", "sipp", "capture")


def probe_windows_usable(probe):
    """Whether the probe's late wake-ups are the machine's own: it ran above every thread of the
    run (without real-time priority it also waited behind the bridge's threads) and listed all
    of them."""
    return bool(probe) and probe.get("realtime") is True and probe.get("windows_truncated") is False


def machine_windows(d):
    """The moments the machine held a thread up (sipbridge-wakeprobe --windows: "START_NS END_NS
    CPU" lines), in s, sorted and those that overlap merged; None without the file, or when the
    probe's wake-ups are not the machine's own (probe_windows_usable)."""
    text = read_text(os.path.join(d, "wakeprobe.windows"))
    if text is None or not probe_windows_usable(read_json(os.path.join(d, "wakeprobe.json"))):
        return None
    spans = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3 and all(x.lstrip("-").isdigit() for x in f) and int(f[1]) > int(f[0]):
            spans.append((int(f[0]) / 1e9, int(f[1]) / 1e9))
    merged = []
    for a, b in sorted(spans):
        if merged and a < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def outside_machine_stalls(stamped, windows):
    """The latencies of stamped [(arrival s, ms)] whose way (from the caller's packet to the
    arrival) overlaps none of the windows, sorted, and how many did overlap one."""
    ends = [w[1] for w in windows]
    out, n_in = [], 0
    for t, v in stamped:
        k = bisect.bisect_right(ends, t - v / 1000.0)  # the first window that ends after it began
        if k < len(windows) and windows[k][0] < t:
            n_in += 1
        else:
            out.append(v)
    out.sort()
    return out, n_in


def machine_load(d, stamped, measured_at=None):
    """How busy the machine was while the calls were up (UP_SHARE of the peak; poll_metrics.py's
    /proc/stat and schedstat samples): the CPUs' busy share, per thread group the share of a core
    it ran and how long its threads waited runnable for a CPU, and caller -> bot latency split by
    whether the second it arrived in was saturated. None without the samples."""
    rows = []
    for sm in read_samples(d):
        m = sm.get("machine")
        # [busy, total] or, since the samples carry it, [busy, total, steal] jiffies
        if isinstance(m, list) and len(m) in (2, 3) and all(isinstance(x, int) for x in m):
            sched = sm.get("sched") if isinstance(sm.get("sched"), dict) else {}
            rows.append((sm["t"], sm.get("calls_active"), m, sched))
    peak = max((r[1] for r in rows if is_count(r[1])), default=0)
    iv = []  # (t0, t1, busy %, {group: (run ms, wait ms)}, calls up, steal % or None)
    for a, b in zip(rows, rows[1:]):
        dt, dtot = b[0] - a[0], b[2][1] - a[2][1]
        if dt <= 0 or dtot <= 0:
            continue
        steal = None
        if len(a[2]) == 3 and len(b[2]) == 3:
            steal = min(100.0, max(0.0, 100.0 * (b[2][2] - a[2][2]) / dtot))
        g = {}
        for name in THREAD_GROUPS:
            x, y = a[3].get(name), b[3].get(name)
            try:
                g[name] = (max(0.0, float(y[0]) - float(x[0])), max(0.0, float(y[1]) - float(x[1])))
            except (TypeError, ValueError, IndexError):
                pass
        iv.append((a[0], b[0], 100.0 * (b[2][0] - a[2][0]) / dtot, g, calls_up(b[1], peak), steal))
    full = [x for x in iv if x[4]]
    if not full:
        return None
    secs = sum(x[1] - x[0] for x in full)
    # The host's share of the machine's CPU time (steal, within the busy share): time a virtual
    # CPU had work and the host ran something else. Runs sampled before the samples carried it,
    # or on a kernel without it, have none.
    steal_mean = steal_max = None
    if all(x[5] is not None for x in full):
        steal_mean = rnd(sum((x[1] - x[0]) * x[5] for x in full) / secs, 1)
        steal_max = rnd(max(x[5] for x in full), 1)
    threads = {}
    for name in THREAD_GROUPS:
        got = [x[3][name] for x in full if name in x[3]]
        if got:
            span = sum(x[1] - x[0] for x in full if name in x[3])
            threads[name] = {"cpu_pct": rnd(sum(r for r, _ in got) / span / 10, 1),
                             "wait_ms_per_s": rnd(sum(w for _, w in got) / span, 1)}
    res = {"seconds": round(secs), "busy_pct_mean": rnd(sum((x[1] - x[0]) * x[2] for x in full) / secs, 1),
           "busy_pct_max": rnd(max(x[2] for x in full), 1), "saturated_s": sum(1 for x in full if x[2] >= BUSY_PCT),
           "busy_threshold_pct": BUSY_PCT,
           "steal_pct_mean": steal_mean, "steal_pct_max": steal_max,
           "threads": threads,
           "latency_measured_at": measured_at,
           "latency_p99_saturated_ms": None, "latency_messages_saturated": 0,
           "latency_p99_other_ms": None, "latency_messages_other": 0,
           "latency_p99_outside_machine_stalls_ms": None, "latency_messages_in_machine_stalls": None}
    windows = machine_windows(d)
    if stamped and windows is not None:
        out, n_in = outside_machine_stalls(stamped, windows)
        res.update(latency_p99_outside_machine_stalls_ms=rnd(pct(out, 0.99)),
                   latency_messages_in_machine_stalls=n_in)
    if stamped:
        starts = [x[0] for x in iv]
        hot, cold = [], []
        for t, v in stamped:
            k = bisect.bisect_right(starts, t) - 1
            if 0 <= k < len(iv) and t < iv[k][1]:
                (hot if iv[k][2] >= BUSY_PCT else cold).append(v)
        hot.sort()
        cold.sort()
        res.update(latency_p99_saturated_ms=rnd(pct(hot, 0.99)), latency_messages_saturated=len(hot),
                   latency_p99_other_ms=rnd(pct(cold, 0.99)), latency_messages_other=len(cold))
    return res


def rnd(v, n=2):
    return None if v is None else round(v, n)


def read_placement(d):
    """run_load.sh -a pair: the CPUs each placed thread may run on, as the kernel said after
    placing it (placement.txt, "NAME CPUS" a line); None where nothing was placed."""
    text = read_text(os.path.join(d, "placement.txt"))
    placed = dict(l.split(None, 1) for l in (text or "").splitlines() if len(l.split()) == 2)
    return {k: v.strip() for k, v in placed.items()} or None


def build(a):
    d = a.dir
    last, sipp_peak = sipp_stats(d)
    setup = setup_times(d)
    have_rtt = setup is not None
    setup, answered_at = setup or ([], [])
    m = prom(d)
    daemon_peak, call_s, scrape_failures = samples(d)
    ws = wirestat(d)
    window_s = a.t2 - a.t0
    daemon_cpu = (a.daemon_cpu_ticks[1] - a.daemon_cpu_ticks[0]) / a.hz
    sipp_cpu, bot_cpu, ws_cpu = child_cpu(d, "sipp"), child_cpu(d, "bot"), child_cpu(d, "wirestat")
    src_cpu = child_cpu(d, "rtpsource") if a.rtp_gen == "own" else None
    src = read_json(os.path.join(d, "rtpsource.json")) if a.rtp_gen == "own" else None
    probe = read_json(os.path.join(d, "wakeprobe.json")) or {}
    rejected = family(m, "invites_rejected_total")
    codes = family(m, "sip_responses_total")
    have_metrics = bool(m)

    def metric(name, lab=""):
        v = m.get((name, lab))
        return int(v) if v is not None else None

    def core_pct(cpu, secs):
        return rnd(100 * cpu / secs) if cpu is not None and secs and secs > 0 else None

    calls = {
        "attempted": to_int((last or {}).get("TotalCallCreated")),
        "answered": len(setup) if have_rtt else None,
        "successful": to_int((last or {}).get("SuccessfulCall(C)")),
        "failed": to_int((last or {}).get("FailedCall(C)")),
        # SIPp writes its error log only when something went wrong: no file, no error.
        "failed_by_sip_code": sipp_error_codes(d) if last else None,
        "failed_by_cause": sipp_failures(last) if last else None,
        "daemon_outcomes": family(m, "calls_total") if have_metrics else None,
        "daemon_rejected_by_reason": rejected if have_metrics else None,
        "daemon_error_responses": {c: n for c, n in codes.items() if c >= "300"} if have_metrics else None,
        "daemon_log": log_causes(d),
        "sipp_exit": a.sipp_rc,
        "daemon_exit": a.daemon_rc,
    }
    out_iv = (ws or {}).get("out", {}) or {}
    in_iv = (ws or {}).get("in", {}) or {}

    def q(h, k):
        return (h or {}).get(k) if isinstance(h, dict) else None

    pacing = None
    if ws and out_iv.get("packets"):
        pacing = {
            "packets": out_iv.get("packets"),
            "calls": q(out_iv.get("call_max_interval"), "n"),
            "interval_p50_ms": q(out_iv.get("interval"), "p50_ms"),
            "interval_p99_ms": q(out_iv.get("interval"), "p99_ms"),
            "interval_max_ms": q(out_iv.get("interval"), "max_ms"),
            "error_p50_ms": q(out_iv.get("error"), "p50_ms"),
            "error_p90_ms": q(out_iv.get("error"), "p90_ms"),
            "error_p99_ms": q(out_iv.get("error"), "p99_ms"),
            "error_p999_ms": q(out_iv.get("error"), "p999_ms"),
            "error_max_ms": q(out_iv.get("error"), "max_ms"),
            "call_max_interval_p50_ms": q(out_iv.get("call_max_interval"), "p50_ms"),
            "call_max_interval_p99_ms": q(out_iv.get("call_max_interval"), "p99_ms"),
            "caller_interval_p99_ms": q(in_iv.get("interval"), "p99_ms"),
            "caller_interval_max_ms": q(in_iv.get("interval"), "max_ms"),
            "capture_drops": ws.get("kernel_drops"),
            "wire_sample": ws.get("sample", 1),
        }
        # Moments when several callers' streams paused at once (the generator's or the
        # machine's stall), and the bridge's pacing error outside them.
        st = ws.get("stalls") if isinstance(ws.get("stalls"), dict) else {}
        pacing.update({
            "stalls": st.get("windows"),
            "stall_longest_ms": st.get("longest_ms"),
            "stall_bridge_intervals": st.get("bridge_intervals"),
            "error_p99_outside_stalls_ms": q(st.get("error_outside"), "p99_ms"),
            "error_max_outside_stalls_ms": q(st.get("error_outside"), "max_ms"),
            # And outside the moments the machine's probe, above every thread of the run, woke
            # more than a tick late on any CPU (the host or the kernel held that CPU).
            "machine_stalls": st.get("machine_windows"),
            "machine_stall_bridge_intervals": st.get("machine_bridge_intervals"),
            "error_p99_outside_machine_stalls_ms": q(st.get("error_outside_machine"), "p99_ms"),
            "error_max_outside_machine_stalls_ms": q(st.get("error_outside_machine"), "max_ms"),
        })
        if not probe_windows_usable(probe):
            pacing.update(machine_stalls=None, machine_stall_bridge_intervals=None,
                          error_p99_outside_machine_stalls_ms=None, error_max_outside_machine_stalls_ms=None)
    both, why, stamped = caller_to_bot_latency(d, metric("queue_drops_total", "to_bot"))
    latency, latency_read = latency_figures(both, why)
    peak_for_rss = daemon_peak if daemon_peak else None
    rss_per_call = None
    if peak_for_rss and a.peak_rss_kb is not None and a.idle_rss_kb is not None:
        rss_per_call = (a.peak_rss_kb - a.idle_rss_kb) / peak_for_rss
    r = {
        "params": {
            "concurrent": a.concurrent, "total": a.total, "rate": a.rate, "call_ms": a.call_ms,
            "protocol": a.protocol, "sample_rate": a.sample_rate, "cores": a.cores,
            "media_io": a.media_io, "media_threads": a.media_threads, "ws_threads": a.ws_threads, "wss": bool(a.tls),
            "callers_rtp": a.rtp_gen, "sip_t1x64_ms": a.t1x64_ms,
            "bot_sched": a.bot_sched if a.bot_sched != "-" else None,
            "media_sched": a.media_sched if a.media_sched != "-" else None,
            "ws_sched": a.ws_sched if a.ws_sched != "-" else None,
            "placement": a.placement,
            "placed_cpus": read_placement(d),
        },
        "wall_s": rnd(window_s, 1),
        "calls": calls,
        "peak_concurrent": {"daemon": daemon_peak, "sipp": sipp_peak,
                            "daemon_scrape_failures": scrape_failures},
        "setup_ms": {"n": len(setup), "p50": pct(setup, 0.5), "p99": pct(setup, 0.99),
                     "max": setup[-1] if setup else None},
        "cpu": {
            "sipbridged_s": rnd(daemon_cpu, 2),
            "call_minutes": rnd(call_s / 60, 2) if call_s else None,
            "sipbridged_s_per_call_minute": rnd(daemon_cpu / (call_s / 60), 3) if call_s else None,
            "sipbridged_pct_core_per_call": rnd(100 * daemon_cpu / call_s, 3) if call_s else None,
            "sipbridged_pct_core": core_pct(daemon_cpu, window_s),
            "sipp_s": rnd(sipp_cpu), "sipp_pct_core": core_pct(sipp_cpu, a.t1 - a.t0),
            "testbot_s": rnd(bot_cpu), "testbot_pct_core": core_pct(bot_cpu, window_s),
            "wirestat_s": rnd(ws_cpu), "wirestat_pct_core": core_pct(ws_cpu, window_s),
            "rtpsource_s": rnd(src_cpu), "rtpsource_pct_core": core_pct(src_cpu, window_s),
            "rtpsource_streams": (src or {}).get("streams_started"),
            "loadavg_1m_start": loadavg(d, "loadavg.start"),
            "loadavg_1m_end": loadavg(d, "loadavg.end"),
        },
        "memory": {
            "idle_rss_kib": a.idle_rss_kb, "peak_rss_kib": a.peak_rss_kb,
            "rss_per_call_kib": rnd(rss_per_call, 1),
        },
        "steady": steady_state(d),
        "rtp": {
            "in": metric("rtp_packets_total", "in"), "out": metric("rtp_packets_total", "out"),
            "lost": metric("rtp_lost_packets_total"), "late": metric("rtp_late_packets_total"),
            "concealed_frames": metric("rtp_concealed_frames_total"),
            "queue_drops_to_bot": metric("queue_drops_total", "to_bot"),
            "queue_drops_to_caller": metric("queue_drops_total", "to_caller"),
            "media_late_ticks": metric("media_late_ticks_total"),
            "rx_buffer_waits": metric("media_rx_buffer_waits_total"),
            "send_errors": metric("rtp_send_errors_total"),
            "wire_in": in_iv.get("packets") if ws else None,
            # What the callers' source let through its filter of the bridge's packets (1 in keep).
            "source_received": (src or {}).get("packets_received"), "source_keep": (src or {}).get("keep"),
            "wire_out": out_iv.get("packets") if ws else None,
        },
        "pacing_out": pacing,
        # The callers' RTP source's own loop (a 1 ms grid): the turns that began more than 10 ms
        # late (its sleep came back late, or it did not get a CPU), the latest, the longest turn;
        # the packets it sent, and those it skipped, more than catch_up_ms late when a turn came;
        # with several threads (-G), their turns added, the latest and longest of any.
        "rtpsource_loop": {k: (src or {}).get(k) for k in ("turns", "turns_late", "turn_late_max_ms", "turn_max_ms",
                                                          "packets_sent", "packets_skipped", "catch_up_ms",
                                                          "threads")},
        "latency_caller_to_bot_ms": latency,
        "latency_caller_to_bot_read_ms": latency_read,
        # The part of it inside the bridge, by the daemon's own histogram: from a message's last
        # frame leaving the jitter buffer to the message's write to the bot's socket. The rest
        # is the socket and the bot (its wait for a CPU included).
        "bridge_delay_ms": histogram(m, "caller_to_bot_delay_seconds"),
        # The machine itself: how often a thread at real-time priority woke more than a media
        # tick late (sipbridge-wakeprobe, one per CPU), beside the daemon's missed ticks.
        "machine": {
            "late_wakeups": probe.get("late"), "late_wakeup_max_ms": probe.get("late_max_ms"),
            "probe_wakeups": probe.get("wakeups"), "probe_realtime": probe.get("realtime"),
        },
        # How busy the machine was with the calls up, who ran and who waited for a CPU.
        "machine_load": machine_load(d, stamped, latency["measured_at"]),
        # With -S: how long the daemon's threads and the generators waited for a CPU (perf's
        # scheduler events over a stretch of the run), or null.
        "sched_waits": sched_waits.summary(os.path.join(d, "sched.txt")),
    }
    # The run against the targets, and whether the generators carried all of its load.
    r["verdict"] = targets.judge(r, targets.setup_rate(answered_at),
                                 targets.jitter_depth_ms(read_text(os.path.join(d, "load.conf"), 1 << 20)))
    return r


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        v = "%.3g" % v if abs(v) < 10 else "%.1f" % v
    return "%s%s" % (v, unit)


def kv(dct):
    shown = ["%s %s" % (k, v) for k, v in dct.items() if v]
    return ", ".join(shown) if shown else "none"


def table(r):
    c, p, cpu, mem, rtp = r["calls"], r["peak_concurrent"], r["cpu"], r["memory"], r["rtp"]
    pc = r["pacing_out"] or {}
    st = r["steady"]
    mach = r["machine"]
    lat = r["latency_caller_to_bot_ms"]
    lr = r["latency_caller_to_bot_read_ms"]
    su = r["setup_ms"]
    rows = [
        ("calls attempted / answered / failed",
         "%s / %s / %s (successful %s)" % (fmt(c["attempted"]), fmt(c["answered"]),
                                           fmt(c["failed"]), fmt(c["successful"]))),
        ("failed by SIP code (SIPp)",
         kv(c["failed_by_sip_code"]) if c["failed_by_sip_code"] is not None else "n/a"),
        ("failed by cause (SIPp)",
         kv(c["failed_by_cause"]) if c["failed_by_cause"] is not None else "n/a"),
        ("daemon: outcomes", kv(c["daemon_outcomes"]) if c["daemon_outcomes"] is not None else "n/a"),
        ("daemon: rejected by reason",
         kv(c["daemon_rejected_by_reason"]) if c["daemon_rejected_by_reason"] is not None else "n/a"),
        ("daemon: error responses",
         kv(c["daemon_error_responses"]) if c["daemon_error_responses"] is not None else "n/a"),
        ("daemon: warnings/errors logged", "%d kinds" % len(c["daemon_log"])),
        ("peak concurrent (daemon 1/s / SIPp 1/s)", "%s / %s" % (fmt(p["daemon"]), fmt(p["sipp"]))),
        ("call set-up INVITE->200 p50 / p99 / max",
         "%s / %s / %s ms" % (fmt(su["p50"]), fmt(su["p99"]), fmt(su["max"]))),
        ("sipbridged CPU", "%s s over %s s (%s %% of a core)" % (
            fmt(cpu["sipbridged_s"]), fmt(r["wall_s"]), fmt(cpu["sipbridged_pct_core"]))),
        ("sipbridged CPU per call-minute", "%s s (%s call-minutes)" % (
            fmt(cpu["sipbridged_s_per_call_minute"]), fmt(cpu["call_minutes"]))),
        ("sipbridged % of a core per call", fmt(cpu["sipbridged_pct_core_per_call"], " %")),
        ("generators CPU: SIPp / RTP source / testbot / wirestat",
         "%s s (%s %%) / %s / %s s (%s %%) / %s s (%s %%)" % (
             fmt(cpu["sipp_s"]), fmt(cpu["sipp_pct_core"]),
             "%s s (%s %%, %s streams)" % (fmt(cpu["rtpsource_s"]), fmt(cpu["rtpsource_pct_core"]),
                                          fmt(cpu["rtpsource_streams"]))
             if r["params"]["callers_rtp"] == "own" else "SIPp's",
             fmt(cpu["testbot_s"]), fmt(cpu["testbot_pct_core"]), fmt(cpu["wirestat_s"]),
             fmt(cpu["wirestat_pct_core"]))),
        ("machine load average (1 min) start / end", "%s / %s on %s cores" % (
            fmt(cpu["loadavg_1m_start"]), fmt(cpu["loadavg_1m_end"]), r["params"]["cores"])),
        ("RSS idle / peak / per call", "%s / %s / %s KiB" % (
            fmt(mem["idle_rss_kib"]), fmt(mem["peak_rss_kib"]), fmt(mem["rss_per_call_kib"]))),
        ("RSS in the steady state after %d s: min / max (drift)" % WARMUP_S, "%s / %s KiB (%s %%, %s s)" % (
            fmt(st["rss_steady_min_kib"]), fmt(st["rss_steady_max_kib"]), fmt(st["rss_drift_pct"]),
            st["steady_s"])),
        ("open descriptors before / after the calls", "%s / %s" % (fmt(st["fds_idle"]), fmt(st["fds_end"]))),
        ("RTP in / out / lost / not sent (daemon)", "%s / %s / %s / %s" % (
            fmt(rtp["in"]), fmt(rtp["out"]), fmt(rtp["lost"]), fmt(rtp["send_errors"]))),
        ("RTP in / out seen on the wire", "%s / %s (1 call in %s captured)" % (
            fmt(rtp["wire_in"]), fmt(rtp["wire_out"]), fmt(pc.get("wire_sample")))),
        ("outbound RTP interval p50 / p99 / max", "%s / %s / %s ms" % (
            fmt(pc.get("interval_p50_ms")), fmt(pc.get("interval_p99_ms")), fmt(pc.get("interval_max_ms")))),
        ("outbound pacing error p50 / p90 / p99 / p99.9 / max", "%s / %s / %s / %s / %s ms" % (
            fmt(pc.get("error_p50_ms")), fmt(pc.get("error_p90_ms")), fmt(pc.get("error_p99_ms")),
            fmt(pc.get("error_p999_ms")), fmt(pc.get("error_max_ms")))),
        ("worst gap per call p50 / p99", "%s / %s ms (capture drops %s)" % (
            fmt(pc.get("call_max_interval_p50_ms")), fmt(pc.get("call_max_interval_p99_ms")),
            fmt(pc.get("capture_drops")))),
        ("callers' stream stalls: count / longest", "%s / %s ms (%s of the bridge's intervals in them)" % (
            fmt(pc.get("stalls")), fmt(pc.get("stall_longest_ms")), fmt(pc.get("stall_bridge_intervals")))),
        ("RTP source: turns over 10 ms late / latest / longest turn", "%s of %s / %s / %s ms" % (
            fmt(r["rtpsource_loop"]["turns_late"]), fmt(r["rtpsource_loop"]["turns"]),
            fmt(r["rtpsource_loop"]["turn_late_max_ms"]), fmt(r["rtpsource_loop"]["turn_max_ms"]))),
        ("RTP source: packets sent / skipped (too late to send)", "%s / %s (over %s ms late)" % (
            fmt(r["rtpsource_loop"]["packets_sent"]), fmt(r["rtpsource_loop"]["packets_skipped"]),
            fmt(r["rtpsource_loop"]["catch_up_ms"]))),
        ("pacing error outside them p99 / max", "%s / %s ms" % (
            fmt(pc.get("error_p99_outside_stalls_ms")), fmt(pc.get("error_max_outside_stalls_ms")))),
        ("... and outside the machine's late wake-ups p99 / max", "%s / %s ms (%s moments, %s of the bridge's "
         "intervals in them)" % (
            fmt(pc.get("error_p99_outside_machine_stalls_ms")), fmt(pc.get("error_max_outside_machine_stalls_ms")),
            fmt(pc.get("machine_stalls")), fmt(pc.get("machine_stall_bridge_intervals")))),
        ("media ticks missed (the daemon's count)", fmt(rtp["media_late_ticks"])),
        ("receives that waited for a buffer", fmt(rtp["rx_buffer_waits"])),
        ("machine: late wake-ups (> 5 ms) / longest", "%s / %s ms (probe on every CPU%s)" % (
            fmt(mach["late_wakeups"]), fmt(mach["late_wakeup_max_ms"]),
            "" if mach["probe_realtime"] is not False else ", without real-time priority")),
        ("caller -> bot latency p50 / p99 / max", "%s / %s / %s ms (%s calls, %s left out, %s messages, %s)%s" % (
            fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["max"]), lat["calls"], fmt(lat["calls_excluded"]),
            lat["messages"], {"socket": "at the bot's socket", "read": "when the bot read it"}.get(
                lat["measured_at"], "n/a"),
            " " + lat["note"] if lat.get("note") else "")),
        ("... p99 without each call's last, partial message", "%s ms (%s such messages)" % (
            fmt(lat.get("p99_without_last_partial")), fmt(lat.get("last_partial_messages")))),
        ("the same when the bot read it (its CPU wait in) p50 / p99 / max", "%s / %s / %s ms" % (
            fmt(lr["p50"]), fmt(lr["p99"]), fmt(lr["max"]))),
    ]
    bd = r.get("bridge_delay_ms")
    rows.append(("of which inside the bridge (daemon): mean / p50 / p99", "%s / <= %s / <= %s ms (%s messages)" % (
        fmt(bd["mean"]), fmt(bd["p50_le"]), fmt(bd["p99_le"]), bd["messages"]) if bd else "n/a"))
    ml = r.get("machine_load")
    if ml:
        rows.append(("machine busy with the calls up: mean / max 1 s / saturated", "%s / %s %% / %s of %s s at %s %% or more" % (
            fmt(ml["busy_pct_mean"]), fmt(ml["busy_pct_max"]), ml["saturated_s"], ml["seconds"],
            ml["busy_threshold_pct"])))
        rows.append(("the host's share, within it (steal): mean / max 1 s", "%s / %s %%" % (
            fmt(ml["steal_pct_mean"]), fmt(ml["steal_pct_max"]))))
        rows.append(("threads: % of a core / waited for a CPU ms a second", ", ".join(
            "%s %s / %s" % (n, fmt(v["cpu_pct"]), fmt(v["wait_ms_per_s"])) for n, v in ml["threads"].items())))
        rows.append(("latency p99, seconds saturated / the others", "%s ms (%s messages) / %s ms (%s messages)" % (
            fmt(ml["latency_p99_saturated_ms"]), ml["latency_messages_saturated"],
            fmt(ml["latency_p99_other_ms"]), ml["latency_messages_other"])))
        rows.append(("latency p99 outside the machine's late wake-ups", "%s ms (%s messages on their way "
                     "during one left out)" % (fmt(ml.get("latency_p99_outside_machine_stalls_ms")),
                                               fmt(ml.get("latency_messages_in_machine_stalls")))))
    sw = r.get("sched_waits")
    if sw:
        rows.append(("waits for a CPU over %s s (idle %s CPUs)" % (fmt(sw["seconds"]), fmt(sw["idle_cpus"])),
                     "after a wake-up / after preemption"))
        rows.extend(sched_waits.lines(sw))
    rows.extend(targets.lines(r["verdict"]))
    w = max(len(k) for k, _ in rows)
    lines = ["%-*s  %s" % (w, k, v) for k, v in rows]
    for k, n in c["daemon_log"].items():
        lines.append("  %6d  %s" % (n, k))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--json-only", type=int, default=0)
    for k in ("concurrent", "total", "rate", "call-ms", "sample-rate", "sipp-rc", "daemon-rc", "hz", "cores"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--protocol", required=True)
    ap.add_argument("--media-io", default="auto")
    ap.add_argument("--tls", type=int, default=0)
    ap.add_argument("--ws-threads", type=int, default=1)
    ap.add_argument("--media-threads", type=int, default=0)
    ap.add_argument("--rtp-gen", choices=("own", "sipp"), default="sipp")
    ap.add_argument("--t1x64-ms", type=int, default=32000)
    ap.add_argument("--bot-sched", default="-")
    ap.add_argument("--media-sched", default="-")
    ap.add_argument("--ws-sched", default="-")
    ap.add_argument("--placement", choices=("pair", "none"), default="none")
    for k in ("t0", "t1", "t2"):
        ap.add_argument("--" + k, type=float, required=True)
    ap.add_argument("--daemon-cpu-ticks", type=int, nargs=2, required=True)
    ap.add_argument("--idle-rss-kb", type=int)
    ap.add_argument("--peak-rss-kb", type=int)
    a = ap.parse_args()
    r = build(a)
    if not a.json_only:
        print(table(r))
    print(json.dumps(r, separators=(",", ":"), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A load run's report (report.py) judged against the targets of the spec (§7) and of the soak, and
whether the generators carried the load the run asked for: a run whose callers' source fell
behind met its targets on less than the load it names, and the reader should not have to line
the figures up to see it.

A target the run did not measure, or that is not this run's (2000 calls in a run that asks fewer,
the set-up rate in a run that asks less than 200 a second for 30 s, the drift of a run too short
for a steady state), is judged None: neither met nor missed. A known miss is a miss even when
another part of the same figure is unknown.
"""

import math
import re

PTIME_MS = 20  # the callers' packets (uac_load.xml's SDP: a=ptime:20)
CONCURRENT_TARGET = 2000
SETUP_RATE_TARGET = 200
# A rate is a rate over a stretch: the target is judged where the run asks for at least this
# much of set-ups at it (6000 calls at 200 a second in the benchmarks).
SETUP_SPAN_S = 30
# SIPp paces set-ups by its own clock: 6000 calls at 200 a second are answered 199.97 a second
# apart from first to last. A run counts as at the rate when it is within this share of it.
RATE_SLACK = 0.01
JITTER_FIXED_DEFAULT_MS = 60  # media.jitter_ms's default (conf/sipbridge.conf)


def _get(r, *path):
    for k in path:
        if not isinstance(r, dict):
            return None
        r = r.get(k)
    return r


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _all(parts):
    """True when every part holds, False when any known part fails, else None (some unknown)."""
    if any(p is False for p in parts):
        return False
    return None if any(p is None for p in parts) else True


def _all_zero(values):
    """_all of each value being 0 (None where the value is unknown)."""
    return _all([v == 0 if v is not None else None for v in values])


def fmt(v):
    return "n/a" if v is None else ("%g" % v if isinstance(v, float) else str(v))


_BY_VALUE = object()


def _row(label, value, limit, kind, unit, applies=True, met=_BY_VALUE):
    """A target: its figure, what it must be, and whether it was met (None: not judged). met, when
    given, is the verdict of a figure made of parts (see _all)."""
    shown = {"lt": "< %s", "le": "<= %s", "eq": "%s", "ge": ">= %s"}[kind] % fmt(limit)
    if met is _BY_VALUE:
        met = None
        if _num(value) is not None and limit is not None:
            met = {"lt": value < limit, "le": value <= limit, "eq": value == limit, "ge": value >= limit}[kind]
    return {"label": label, "value": value, "unit": unit, "target": shown + unit, "met": met if applies else None}


def jitter_depth_ms(conf):
    """The depth of the daemon's jitter buffer on a clean path, from the run's configuration text:
    a fixed buffer's jitter_ms; an adaptive one (the default) holds about one packet time there
    (spec §4), or its jitter_min_ms if more."""
    def key(name):
        m = re.search(r"^\s*%s\s*=\s*([0-9]+)\s*;" % name, conf or "", re.M)
        return int(m.group(1)) if m else None
    if re.search(r'^\s*jitter\s*=\s*"fixed"\s*;', conf or "", re.M):
        v = key("jitter_ms")
        return JITTER_FIXED_DEFAULT_MS if v is None else v
    return max(PTIME_MS, key("jitter_min_ms") or 0)


def setup_rate(answered_ms):
    """Calls answered a second from the first answer to the last (sorted stamps in ms), or None
    with fewer than two or no time between them."""
    if len(answered_ms) < 2 or answered_ms[-1] <= answered_ms[0]:
        return None
    return round((len(answered_ms) - 1) / ((answered_ms[-1] - answered_ms[0]) / 1000.0), 2)


def _lost(rtp):
    parts = [_num(rtp.get(k)) for k in ("lost", "queue_drops_to_bot", "queue_drops_to_caller", "send_errors")]
    known = [v for v in parts if v is not None]
    value = sum(known) if len(known) == len(parts) else (sum(known) or None)
    return value, _all_zero(parts)


def _failed(calls):
    """SIPp's failed calls, or its calls that did not succeed if more (a call given up at the end)."""
    failed, made, ok = _num(calls.get("failed")), _num(calls.get("attempted")), _num(calls.get("successful"))
    not_ok = made - ok if made is not None and ok is not None else None
    known = [v for v in (failed, not_ok) if v is not None]
    value = max(known) if known else None
    return value, _all_zero((failed, not_ok))


def judge(r, setup_per_s=None, depth_ms=PTIME_MS):
    """{"targets": {name: row}, "targets_met", "targets_judged", "load": what the generators carried}."""
    p = r.get("params") or {}
    rate, concurrent, call_ms, total = (_num(p.get(k)) for k in ("rate", "concurrent", "call_ms", "total"))
    # The rate target is a run's that asks for it long enough, with room for its calls under the
    # cap on concurrent calls (which would otherwise hold the set-ups back by design).
    rate_run = None not in (rate, concurrent, call_ms, total) and rate >= SETUP_RATE_TARGET and \
        total >= rate * SETUP_SPAN_S and concurrent >= rate * call_ms / 1000.0
    lost, lost_met = _lost(r.get("rtp") or {})
    failed, failed_met = _failed(r.get("calls") or {})
    st = r.get("steady") or {}
    fds_end, fds_idle = _num(st.get("fds_end")), _num(st.get("fds_idle"))
    targets = {
        "concurrent_calls": _row("concurrent calls (the daemon's peak)", _get(r, "peak_concurrent", "daemon"),
                                 CONCURRENT_TARGET, "ge", "",
                                 applies=concurrent is not None and concurrent >= CONCURRENT_TARGET),
        "failed_calls": _row("failed calls", failed, 0, "eq", "", met=failed_met),
        "rtp_lost_inside": _row("RTP lost inside the bridge", lost, 0, "eq", "", met=lost_met),
        "pacing_error_p99_ms": _row("outbound pacing error p99", _get(r, "pacing_out", "error_p99_ms"), 2,
                                    "lt", " ms"),
        "cpu_pct_core_per_call": _row("% of a core per call", _get(r, "cpu", "sipbridged_pct_core_per_call"),
                                      0.1, "lt", " %"),
        "rss_per_call_kib": _row("RSS per call", _get(r, "memory", "rss_per_call_kib"), 64, "lt", " KiB"),
        "latency_p99_ms": _row("caller -> bot latency p99 (jitter buffer %d ms + 5)" % depth_ms,
                               _get(r, "latency_caller_to_bot_ms", "p99"), depth_ms + 5, "lt", " ms"),
        "setup_rate_per_s": _row("set-ups a second, first answer to last", setup_per_s,
                                 SETUP_RATE_TARGET * (1 - RATE_SLACK), "ge", "", applies=rate_run),
        "rss_drift_pct": _row("RSS drift in the steady state", st.get("rss_drift_pct"), 5, "le", " %"),
        # The daemon ran to the end and left as asked (SIGTERM: exit status 0); a crash is a status
        # of 128 and more (the signal that ended it), an error exit 1 or 2.
        "daemon_exit": _row("the daemon's exit status (no crash)", _get(r, "calls", "daemon_exit"), 0, "eq", ""),
        # Fewer than at idle is no leak (the idle count may hold the scrape's own connection); none
        # at all is a daemon that was gone.
        "fds_back_to_idle": _row("open descriptors after the calls", fds_end, fds_idle, "le", "",
                                 applies=fds_end is not None and fds_end > 0),
    }
    judged = [t["met"] for t in targets.values() if t["met"] is not None]
    return {"targets": targets, "targets_met": sum(judged), "targets_judged": len(judged), "load": load_carried(r)}


def load_carried(r):
    """What the generators delivered of what the run asked: SIPp's calls, the callers' packets."""
    p, calls = r.get("params") or {}, r.get("calls") or {}
    src = r.get("rtpsource_loop") or {}
    sent, skipped = _num(src.get("packets_sent")), _num(src.get("packets_skipped"))
    # Rounded down, so that a source that skipped anything never reads as 100 %.
    sent_pct = math.floor(1000.0 * sent / (sent + skipped)) / 10 if sent is not None and skipped is not None \
        and sent + skipped > 0 else None
    made, total = _num(calls.get("attempted")), _num(p.get("total"))
    threads = _get(r, "machine_load", "threads") or {}
    return {
        "calls_made": made, "calls_asked": total,
        "source_sent_pct": sent_pct, "source_skipped": skipped,
        "source_wait_ms_per_s": _get(threads, "rtpsource", "wait_ms_per_s"),
        "machine_busy_pct": _get(r, "machine_load", "busy_pct_mean"),
        "complete": _all([made == total if made is not None and total is not None else None,
                          skipped == 0 if skipped is not None else None]),
    }


def lines(j):
    """The table's rows: (label, text)."""
    out = [("targets met / judged", "%d / %d" % (j["targets_met"], j["targets_judged"]))]
    for t in j["targets"].values():
        verdict = {True: "met", False: "MISSED", None: "not judged"}[t["met"]]
        value = fmt(t["value"]) + (t["unit"] if t["value"] is not None else "")
        out.append(("  " + t["label"], "%s (target %s): %s" % (value, t["target"], verdict)))
    ld = j["load"]
    text = "SIPp made %s of %s calls; the callers' source sent %s %% of what fell due" % (
        fmt(ld["calls_made"]), fmt(ld["calls_asked"]), fmt(ld["source_sent_pct"]))
    if ld["source_skipped"]:
        text += " (skipped %s; it waited %s ms a second for a CPU; the machine %s %% busy)" % (
            fmt(ld["source_skipped"]), fmt(ld["source_wait_ms_per_s"]), fmt(ld["machine_busy_pct"]))
    verdict = {True: "the whole load", False: "SHORT of the load asked", None: "not known"}[ld["complete"]]
    out.append(("load carried by the generators", "%s: %s" % (verdict, text)))
    return out

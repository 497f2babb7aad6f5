"""A load run's report (report.py) judged against the targets of the spec (§7) and of the soak, and
whether the generators carried the load the run asked for: a run whose callers' source fell
behind met its targets on less than the load it names, and the reader should not have to line
the figures up to see it.

A target the run did not measure, or that is not this run's (the set-up rate below 200 a second,
the drift of a run too short for a steady state), is judged None: neither met nor missed.
"""

PTIME_MS = 20  # the callers' packets (uac_load.xml's SDP: a=ptime:20)
# The jitter buffer's depth on a clean path: one packet time (spec §4, "adaptive: about one
# packet time on a clean path"); the latency target is that + 5 ms.
LATENCY_TARGET_MS = PTIME_MS + 5
SETUP_RATE_TARGET = 200
# SIPp paces set-ups by its own clock: 6000 calls at 200 a second are answered 199.97 a second
# apart from first to last. A run counts as at the rate when it is within this share of it.
RATE_SLACK = 0.01


def _get(r, *path):
    for k in path:
        if not isinstance(r, dict):
            return None
        r = r.get(k)
    return r


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _sum(values):
    """The sum, or None when any part was not measured."""
    values = [_num(v) for v in values]
    return None if any(v is None for v in values) else sum(values)


def _judge(value, limit, kind):
    value = _num(value)
    if value is None or limit is None:
        return None
    return {"lt": value < limit, "le": value <= limit, "eq": value == limit, "ge": value >= limit}[kind]


def _row(label, value, limit, kind, unit, applies=True):
    shown = {"lt": "< %s", "le": "<= %s", "eq": "%s", "ge": ">= %s"}[kind] % fmt(limit)
    return {"label": label, "value": value, "unit": unit, "target": shown + unit,
            "met": _judge(value, limit, kind) if applies else None}


def setup_rate(starts_ms):
    """Calls answered a second from the first answer to the last (SIPp's rtd stamps, ms), or None."""
    if len(starts_ms) < 2 or starts_ms[-1] <= starts_ms[0]:
        return None
    return round((len(starts_ms) - 1) / ((starts_ms[-1] - starts_ms[0]) / 1000.0), 2)


def judge(r, setup_per_s=None):
    """{"targets": {name: row}, "met", "judged", "load": what the generators carried}."""
    p = r.get("params") or {}
    calls, rtp, st = r.get("calls") or {}, r.get("rtp") or {}, r.get("steady") or {}
    rate = _num(p.get("rate"))
    # The rate target is a run's whose calls are not held back by its cap on concurrent calls.
    uncapped = rate is not None and _num(p.get("concurrent")) is not None and _num(p.get("call_ms")) is not None \
        and p["concurrent"] >= rate * p["call_ms"] / 1000.0
    lost = _sum([rtp.get("lost"), rtp.get("queue_drops_to_bot"), rtp.get("queue_drops_to_caller"),
                 rtp.get("send_errors")])
    # SIPp's failed calls, or its calls that did not succeed if more (a call it gave up at the end).
    failed = _num(calls.get("failed"))
    if failed is not None and _num(calls.get("attempted")) is not None and _num(calls.get("successful")) is not None:
        failed = max(failed, calls["attempted"] - calls["successful"])
    lat = r.get("latency_caller_to_bot_ms") or {}
    targets = {
        "failed_calls": _row("failed calls", failed, 0, "eq", ""),
        "rtp_lost_inside": _row("RTP lost inside the bridge (lost, dropped either way, sends refused)",
                                lost, 0, "eq", ""),
        "pacing_error_p99_ms": _row("outbound pacing error p99", _get(r, "pacing_out", "error_p99_ms"), 2,
                                    "lt", " ms"),
        "cpu_pct_core_per_call": _row("% of a core per call", _get(r, "cpu", "sipbridged_pct_core_per_call"),
                                      0.1, "lt", " %"),
        "rss_per_call_kib": _row("RSS per call", _get(r, "memory", "rss_per_call_kib"), 64, "lt", " KiB"),
        "latency_p99_ms": _row("caller -> bot latency p99 (jitter buffer %d ms + 5)" % PTIME_MS,
                               lat.get("p99"), LATENCY_TARGET_MS, "lt", " ms"),
        "setup_rate_per_s": _row("set-ups a second (%d within %g %%), first answer to last" % (
                                     SETUP_RATE_TARGET, 100 * RATE_SLACK), setup_per_s,
                                 SETUP_RATE_TARGET * (1 - RATE_SLACK), "ge", "",
                                 applies=rate is not None and rate >= SETUP_RATE_TARGET and uncapped),
        "rss_drift_pct": _row("RSS drift in the steady state", st.get("rss_drift_pct"), 5, "le", " %"),
        "fds_back_to_idle": _row("open descriptors after the calls", st.get("fds_end"), st.get("fds_idle"),
                                 "eq", ""),
    }
    judged = [t["met"] for t in targets.values() if t["met"] is not None]
    return {"targets": targets, "met": sum(judged), "judged": len(judged), "load": load_carried(r)}


def load_carried(r):
    """What the generators delivered of what the run asked: SIPp's calls, the callers' packets."""
    p, calls = r.get("params") or {}, r.get("calls") or {}
    src = r.get("rtpsource_loop") or {}
    sent, skipped = _num(src.get("packets_sent")), _num(src.get("packets_skipped"))
    sent_pct = round(100.0 * sent / (sent + skipped), 1) if sent is not None and skipped is not None \
        and sent + skipped > 0 else None
    made, total = _num(calls.get("attempted")), _num(p.get("total"))
    threads = _get(r, "machine_load", "threads") or {}
    load = {
        "calls_made": made, "calls_asked": total,
        "source_sent_pct": sent_pct, "source_skipped": skipped,
        "source_wait_ms_per_s": _get(threads, "rtpsource", "wait_ms_per_s"),
        "machine_busy_pct": _get(r, "machine_load", "busy_pct_mean"),
    }
    whole = [made == total if made is not None and total is not None else None,
             skipped == 0 if skipped is not None else None]
    load["complete"] = None if None in whole else all(whole)
    return load


def fmt(v):
    return "n/a" if v is None else ("%g" % v if isinstance(v, float) else str(v))


def lines(j):
    """The table's rows: (label, text)."""
    out = [("targets met / judged", "%d / %d" % (j["met"], j["judged"]))]
    for t in j["targets"].values():
        verdict = {True: "met", False: "MISSED", None: "not judged"}[t["met"]]
        value = fmt(t["value"]) + (t["unit"] if t["value"] is not None else "")
        out.append(("  " + t["label"], "%s (target %s): %s" % (value, t["target"], verdict)))
    ld = j["load"]
    text = "SIPp made %s of %s calls; the callers' source sent %s %% of what fell due" % (
        fmt(ld["calls_made"]), fmt(ld["calls_asked"]), fmt(ld["source_sent_pct"]))
    if ld["source_skipped"]:
        text += " (it waited %s ms a second for a CPU; the machine %s %% busy)" % (
            fmt(ld["source_wait_ms_per_s"]), fmt(ld["machine_busy_pct"]))
    verdict = {True: "the whole load", False: "SHORT of the load asked", None: "not known"}[ld["complete"]]
    out.append(("load carried by the generators", "%s: %s" % (verdict, text)))
    return out

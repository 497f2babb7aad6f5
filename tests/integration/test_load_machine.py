"""The load tool's reading of how busy the machine was (tools/load/report.py machine_load, from
poll_metrics.py's samples): a made-up run whose figures are known."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "load"))

import poll_metrics  # noqa: E402
import report  # noqa: E402

HZ = 100  # /proc/stat's jiffies: 2 CPUs give 200 a second


def sample(t, calls, busy, media_run, ws_wait, steal=None):
    """A sample at t s: busy jiffies so far (of 200 a second) and of them stolen by the host (a
    run sampled before the samples carried it has none), cumulative ms of run and wait."""
    return {"t": 1000.0 + t, "calls_active": calls, "rss_kb": 1000, "fds": 10,
            "machine": [busy, 2 * HZ * t] + ([] if steal is None else [steal]),
            "sched": {"media": [media_run, 0.0], "ws": [100.0 * t, ws_wait], "bot": [50.0 * t, 5.0 * t]}}


def write_run(d, rows, stamped=None, measured_at=None):
    with open(os.path.join(d, "samples.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write("not json\n")
        f.write(json.dumps({"t": 1010.0, "calls_active": 0, "machine": "bad"}) + "\n")
    return report.machine_load(d, stamped, measured_at)


def test_busy_share_threads_and_latency_by_saturation(tmp_path):
    # Seconds 0-1 ramp (50 calls), 1-4 full (100 calls) at 50, 95, 60 % busy, 4-5 ending.
    busy = [0, 40, 140, 330, 450, 480]
    calls = [0, 50, 100, 100, 100, 20]
    ws_wait = [0, 10, 20, 320, 340, 350]
    rows = [sample(t, calls[t], busy[t], 600.0 * t, ws_wait[t]) for t in range(6)]
    # Latency stamped in second 2-3 (saturated) and 1-2 and 3-4 (not), and outside any interval.
    stamped = [(1002.5, 80.0), (1002.6, 90.0), (1001.5, 5.0), (1003.5, 7.0), (1003.9, 6.0), (2000.0, 999.0)]
    m = write_run(str(tmp_path), rows, stamped, "socket")
    assert m["seconds"] == 3, m  # the intervals ending with at least 90 % of the peak calls
    assert m["busy_pct_mean"] == round((50 + 95 + 60) / 3, 1) and m["busy_pct_max"] == 95.0, m
    assert m["saturated_s"] == 1 and m["busy_threshold_pct"] == 90, m
    assert m["steal_pct_mean"] is None and m["steal_pct_max"] is None, m  # not sampled
    th = m["threads"]
    assert th["media"] == {"cpu_pct": 60.0, "wait_ms_per_s": 0.0}, th
    assert th["ws"]["cpu_pct"] == 10.0 and th["ws"]["wait_ms_per_s"] == round((10 + 300 + 20) / 3, 1), th
    assert th["bot"] == {"cpu_pct": 5.0, "wait_ms_per_s": 5.0}, th
    assert "sipp" not in th, th  # not sampled: not reported
    assert m["latency_messages_saturated"] == 2 and m["latency_p99_saturated_ms"] == 90.0, m
    assert m["latency_messages_other"] == 3 and m["latency_p99_other_ms"] == 7.0, m
    # The split says which measure of the latency it took (at the bot's socket here).
    assert m["latency_measured_at"] == "socket", m


def test_latency_outside_the_machines_late_wake_ups(tmp_path):
    """A message whose way from the caller's packet to the bot overlaps a moment the machine's probe woke late is
    left out of the figure outside them; the probe's overlapping windows count as one moment."""
    rows = [sample(t, 100, 100 * t, 600.0 * t, 0) for t in range(6)]
    ns = lambda s: int(s * 1e9)  # noqa: E731
    probe = os.path.join(str(tmp_path), "wakeprobe.json")
    with open(probe, "w") as f:
        json.dump({"realtime": True, "windows_truncated": False}, f)
    with open(os.path.join(str(tmp_path), "wakeprobe.windows"), "w") as f:
        f.write("%d %d 0\n%d %d 1\n" % (ns(1002.000), ns(1002.010), ns(1002.005), ns(1002.020)))  # 2.000-2.020
        f.write("%d %d 1\n" % (ns(1004.100), ns(1004.105)))
        f.write("garbage\n%d %d 0\n" % (ns(1004.5), ns(1004.5)))  # empty: no moment
    stamped = [(1002.030, 5.0),   # from 2.025: after the window
               (1002.030, 15.0),  # from 2.015: its way overlaps the window's end
               (1001.999, 1.0),   # ends before the window begins
               (1004.101, 90.0),  # lies across the second window
               (1004.200, 50.0),  # from 4.150: after it
               (1003.000, 7.0)]
    m = write_run(str(tmp_path), rows, stamped, "socket")
    assert m["latency_messages_in_machine_stalls"] == 2, m
    assert m["latency_p99_outside_machine_stalls_ms"] == 50.0, m
    # A probe that did not run above every thread, or could not keep every late wake-up, does not speak for the
    # machine alone: no figure.
    for said in ({"realtime": False, "windows_truncated": False}, {"realtime": True, "windows_truncated": True}):
        with open(probe, "w") as f:
            json.dump(said, f)
        m = write_run(str(tmp_path), rows, stamped, "socket")
        assert m["latency_p99_outside_machine_stalls_ms"] is None, (said, m)
    with open(probe, "w") as f:
        json.dump({"realtime": True, "windows_truncated": False}, f)
    # Without the probe's file there is no such figure, not a figure of nothing left out.
    os.remove(os.path.join(str(tmp_path), "wakeprobe.windows"))
    m = write_run(str(tmp_path), rows, stamped, "socket")
    assert m["latency_p99_outside_machine_stalls_ms"] is None and m["latency_messages_in_machine_stalls"] is None, m


def test_steal_share_with_the_calls_up(tmp_path):
    # Samples at 0, 1, 2, 4, 5 and 6 s: the ramp (0-1), the full seconds 1-2, 2-4 (two seconds)
    # and 4-5, the end (5-6). The host takes 30 of the 200 jiffies of the ramp (15 %), then 10
    # of 200 (5 %), 160 of 400 (40 %) and 0 of 200, and 20 at the end: never more than was busy.
    ts = [0, 1, 2, 4, 5, 6]
    busy = [0, 40, 140, 440, 560, 590]
    calls = [0, 50, 100, 100, 100, 20]
    steal = [0, 30, 40, 200, 200, 220]
    rows = [sample(t, calls[i], busy[i], 600.0 * t, 10.0 * t, steal[i]) for i, t in enumerate(ts)]
    m = write_run(str(tmp_path), rows)
    # Weighted by time over the calls-up seconds only: (5 + 2 * 40 + 0) / 4.
    assert m["seconds"] == 4, m
    assert m["steal_pct_mean"] == round((5 + 2 * 40 + 0) / 4, 1) and m["steal_pct_max"] == 40.0, m
    assert m["busy_pct_mean"] == round((50 + 2 * 75 + 60) / 4, 1), m  # steal is among the busy time
    # A sample without it outside those seconds costs nothing; one inside them leaves no figure
    # rather than a share of some of the seconds.
    rows[0]["machine"] = rows[0]["machine"][:2]
    assert write_run(str(tmp_path), rows)["steal_pct_mean"] == round((5 + 2 * 40 + 0) / 4, 1)
    rows[3]["machine"] = rows[3]["machine"][:2]
    m = write_run(str(tmp_path), rows)
    assert m["steal_pct_mean"] is None and m["steal_pct_max"] is None, m
    # A counter that went backwards gives a share of 0, not a negative one.
    rows = [sample(t, calls[i], busy[i], 600.0 * t, 10.0 * t, [0, 30, 40, 20, 100, 120][i])
            for i, t in enumerate(ts)]
    m = write_run(str(tmp_path), rows)
    assert m["steal_pct_max"] == 40.0 and m["steal_pct_mean"] == round((5 + 2 * 0 + 40) / 4, 1), m


def test_proc_stat_read(tmp_path):
    # /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice.
    # Busy is all but idle and iowait; guest and guest_nice are in user and nice already.
    f = tmp_path / "stat"
    f.write_text("cpu  100 2 50 800 40 3 7 11 20 1\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    assert poll_metrics.machine_ticks(str(f)) == [173, 1013, 11]
    f.write_text("cpu  100 2 50 800 40 3 7 11\n")
    assert poll_metrics.machine_ticks(str(f)) == [173, 1013, 11]
    f.write_text("cpu  100 2 50 800 40 3 7\n")  # a kernel without steal: none, not 0
    assert poll_metrics.machine_ticks(str(f)) == [162, 1002]
    for bad in ("cpu  100 2 50 800\n", "cpu0 100 2 50 800 40 3 7 11\n", "cpu  100 x 50 800 40\n", ""):
        f.write_text(bad)
        assert poll_metrics.machine_ticks(str(f)) is None, bad
    assert poll_metrics.machine_ticks(str(tmp_path / "missing")) is None


def test_no_machine_samples_no_figure(tmp_path):
    rows = [{"t": 1000.0 + t, "calls_active": 10, "rss_kb": 1, "fds": 1} for t in range(5)]
    assert write_run(str(tmp_path), rows) is None
    assert report.machine_load(str(tmp_path / "missing"), None) is None

"""The load tool's reading of perf's scheduler events (tools/load/sched_waits.py, run_load.sh -S): a made-up
stretch of two CPUs whose waits are known."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "load"))

import sched_waits  # noqa: E402


def switch(cpu, t, prev, prev_pid, state, nxt, nxt_pid):
    return ("%16s %5d [%03d] %.6f: sched:sched_switch: prev_comm=%s prev_pid=%d prev_prio=120 prev_state=%s ==> "
            "next_comm=%s next_pid=%d next_prio=120" % (prev, prev_pid, cpu, t, prev, prev_pid, state, nxt, nxt_pid))


def wakeup(cpu, t, waker, waker_pid, comm, pid):
    return ("%16s %5d [%03d] %.6f: sched:sched_wakeup: comm=%s pid=%d prio=120 target_cpu=%03d"
            % (waker, waker_pid, cpu, t, comm, pid, cpu))


STRETCH = [
    # CPU 0: sb-ws0 sleeps at 1.000; woken at 1.010 it runs at 1.013 (3 ms), after the bot's slice
    switch(0, 1.000, "sb-ws0", 11, "S", "sipbridge-testb", 22),
    wakeup(0, 1.010, "sipbridge-testb", 22, "sb-ws0", 11),
    switch(0, 1.013, "sipbridge-testb", 22, "R", "sb-ws0", 11),
    # the bot, preempted at 1.013, runs again at 1.020 (7 ms)
    switch(0, 1.020, "sb-ws0", 11, "S", "sipbridge-testb", 22),
    # CPU 1: idle, then the media thread woken at 1.004 runs at once
    switch(1, 1.000, "sb-media0", 33, "S", "swapper/1", 0),
    wakeup(1, 1.004, "swapper/1", 0, "sb-media0", 33),
    switch(1, 1.004, "swapper/1", 0, "R", "sb-media0", 33),
    switch(1, 1.006, "sb-media0", 33, "S", "swapper/1", 0),
    "a line perf may print that is none of these",
    switch(1, 1.020, "swapper/1", 0, "R", "kworker/1:0", 44),
]


def test_waits_and_shares_from_scheduler_events(tmp_path):
    p = tmp_path / "sched.txt"
    p.write_text("\n".join(STRETCH) + "\n")
    s = sched_waits.summary(str(p))
    assert s["seconds"] == 0.02, s
    th = s["threads"]
    assert set(th) == {"sb-ws0", "sipbridge-testb", "sb-media0"}, th  # the kworker is not watched
    assert th["sb-ws0"]["woken"]["n"] == 1 and abs(th["sb-ws0"]["woken"]["max"] - 3.0) < 0.01, th
    assert "preempted" not in th["sb-ws0"], th  # it only ever slept
    bot = th["sipbridge-testb"]["preempted"]
    assert bot["n"] == 1 and abs(bot["max"] - 7.0) < 0.01 and bot["over_5ms"] == 1, th
    assert th["sb-media0"]["woken"]["max"] == 0.0, th
    # CPU 0 ran the bot 13 + 0 ms and sb-ws0 7 ms of the 20; CPU 1 was idle 4 + 14 ms
    assert abs(th["sipbridge-testb"]["cpu_share"] - 0.65) < 0.01, th
    assert abs(th["sb-ws0"]["cpu_share"] - 0.35) < 0.01, th
    assert abs(s["idle_cpus"] - 0.9) < 0.01, s
    rows = dict(sched_waits.lines(s))
    assert "woken p99 3.0 / max 3.0 ms (0 over 5)" in rows["  sb-ws0 (35 % of a CPU)"], rows


def test_no_record_is_no_summary(tmp_path):
    assert sched_waits.summary(str(tmp_path / "missing.txt")) is None
    (tmp_path / "empty.txt").write_text("")
    assert sched_waits.summary(str(tmp_path / "empty.txt")) is None

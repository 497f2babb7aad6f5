"""The load tool's caller -> bot latency (tools/load/report.py caller_to_bot_latency): a made-up
run whose figures are known, read at the bot's socket (the kernel's arrival stamps) and when the
bot read it."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "load"))

import report  # noqa: E402

MS = 1000000
T0 = 1700000000 * 1000 * MS  # the first caller packet on the wire, CLOCK_REALTIME ns


def write_run(d, calls):
    """calls: {SIPp call number: (bridge port, [(read ms, kernel ms or None), ...])}. Each call's
    caller sends 10 packets of 160 samples, 20 ms apart from T0; each bot message carries 800
    samples (100 ms), so message k is complete with packet 5k + 4, unless a message gives its
    own count of samples as a third value."""
    with open(os.path.join(d, "calls.log"), "w") as f:
        for n, (port, _) in calls.items():
            f.write("call %s port %d from the 200 OK\n" % (n, port))
    with open(os.path.join(d, "wire_in.log"), "w") as f:
        for port, _ in calls.values():
            for i in range(10):
                f.write("%d 77 %d %d 160 %d\n" % (port, i, i * 160, T0 + i * 20 * MS))
    with open(os.path.join(d, "bot.arrivals"), "w") as f:
        for conn, (n, (_, msgs)) in enumerate(calls.items(), 1):
            f.write("S %d 8000 %s\n" % (conn, n))
            for read_ms, kernel_ms, *samples in msgs:
                kernel = "" if kernel_ms is False else " %d" % (T0 + kernel_ms * MS if kernel_ms else 0)
                f.write("M %d %d %d%s\n" % (conn, T0 + read_ms * MS, (samples or [800])[0], kernel))


def test_latency_at_the_socket_and_at_the_read(tmp_path):
    # Message 1 is complete with the packet sent at 80 ms, message 2 with the one at 180 ms.
    d = str(tmp_path)
    write_run(d, {"1": (4000, [(85, 82), (230, 183)]), "2": (4002, [(90, 81), (186, 184)])})
    both, why, stamped = report.caller_to_bot_latency(d, 0)
    assert why is None, why
    assert both["socket"]["messages"] == 4 and both["socket"]["calls"] == 2, both
    assert both["socket"]["p50"] == 2.0 and both["socket"]["max"] == 4.0, both
    assert both["read"]["p50"] == 6.0 and both["read"]["max"] == 50.0, both
    # The machine's split takes the socket's figures, at the socket's times.
    assert sorted(v for _, v in stamped) == [1.0, 2.0, 3.0, 4.0], stamped
    assert sorted(t for t, _ in stamped)[0] == (T0 + 81 * MS) / 1e9, stamped


def test_reads_without_a_stamp_give_the_read(tmp_path):
    # A read without a stamp (0), an older bot (no field), and a stamp after the read, which cannot
    # be this data's arrival: the socket figure is withheld, the read one stands, and the
    # headline says why.
    for msgs in ([(85, 82), (230, None)], [(85, 82), (230, False)], [(85, 82), (230, 231)]):
        d = tmp_path / str(len(os.listdir(tmp_path)))
        d.mkdir()
        write_run(str(d), {"1": (4000, msgs)})
        both, why, stamped = report.caller_to_bot_latency(str(d), 0)
        assert both["socket"] is None and both["read"]["messages"] == 2, (msgs, both)
        assert both["read"]["max"] == 50.0, both
        assert why.startswith("1 of 2 reads without a usable kernel stamp"), why
        assert sorted(v for _, v in stamped) == [5.0, 50.0], stamped


def test_the_report_names_where_it_measured(tmp_path):
    d = str(tmp_path)
    write_run(d, {"1": (4000, [(85, 82), (230, 183)])})
    head, read = report.latency_figures(*report.caller_to_bot_latency(d, 0)[:2])
    assert head["measured_at"] == "socket" and head["p99"] == 3.0 and "note" not in head, head
    assert read["p99"] == 50.0, read
    write_run(d, {"1": (4000, [(85, 82), (230, 0)])})
    head, read = report.latency_figures(*report.caller_to_bot_latency(d, 0)[:2])
    assert head["measured_at"] == "read" and head["p99"] == 50.0 and "without a usable kernel stamp" in head["note"], head
    assert read == {k: v for k, v in head.items() if k not in ("measured_at", "note")}, (head, read)
    # Stamps before the caller's packets (misaligned): the socket figure is withheld and says so.
    write_run(d, {"1": (4000, [(85, 70), (230, 170)])})
    head, read = report.latency_figures(*report.caller_to_bot_latency(d, 0)[:2])
    assert head["measured_at"] == "read" and head["p99"] == 50.0, head
    assert head["note"].startswith("the figure at the bot's socket is withheld (caller packets"), head
    # Frames dropped to the bot: no alignment, both figures null with the reason.
    head, read = report.latency_figures(*report.caller_to_bot_latency(d, 3)[:2])
    assert head["p99"] is None and read["p99"] is None and "dropped 3 frames" in head["note"], head


def test_a_calls_last_partial_message_counted_apart(tmp_path):
    """The part of a message the bridge sends when the call ends waits for the end, not for the
    bridge: the figures count such messages and give the p99 of the others beside the p99 of all."""
    d = str(tmp_path)
    write_run(d, {"1": (4000, [(85, 82), (250, 240, 640)]),  # a whole message, then 640 samples
                  "2": (4002, [(90, 81), (186, 184)]),       # whole messages: 1 and 4 ms
                  "3": (4004, [(86, 83)])})                  # one message: nothing to set apart
    both, why, _ = report.caller_to_bot_latency(d, 0)
    assert why is None, why
    sock = both["socket"]
    # Call 1's last message: 640 samples in all 1440, complete with the packet at 160 ms (sample
    # 1440 is the 9th packet's end), read at 240: 80 ms.
    assert sock["messages"] == 5 and sock["max"] == 80.0, sock
    assert sock["last_partial_messages"] == 1 and sock["p99_without_last_partial"] == 4.0, sock
    assert both["read"]["last_partial_messages"] == 1, both
    head, _ = report.latency_figures(both, why)
    assert head["p99"] == 80.0 and head["p99_without_last_partial"] == 4.0, head

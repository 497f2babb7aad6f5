"""The load tool's RTP source (tools/load/rtpsource.c) held up the way a loaded machine holds it: a
stream it leaves behind catches up rather than losing the caller's packets; only packets more than
--catch-up-ms late when it runs again are skipped, and counted."""

import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import sbtest

FRAME_S = 0.020
SLACK = 3  # packets a reader may be behind the source's clock


def owed(got, base):
    """Packets the source owed and had not sent by the time each of the last 10 was read, at
    least: what fell due since base, the first packet's time, less what came. A read that
    waited only makes it larger, so the smallest of the 10 is taken."""
    return min((t - base) / FRAME_S - i for i, (t, _) in list(enumerate(got))[-10:])


def rtp(seq, ssrc):
    return struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc) + b"\xd5" * 160


def start_source(tmp_path, *args):
    """Starts the source on a free port with a made-up audio file, reading every packet, streams
    kept 2 s after their bridge port went quiet; args are more options. Returns the process, the
    port, and the paths of its JSON and of its stderr."""
    port = sbtest.Ports().port((socket.SOCK_DGRAM,))
    audio = os.path.join(str(tmp_path), "audio.alaw")
    with open(audio, "wb") as f:
        f.write(bytes(range(256)) * 10)
    out = os.path.join(str(tmp_path), "rtpsource.json")
    err = os.path.join(str(tmp_path), "rtpsource.err")
    with open(err, "w") as ef:
        proc = subprocess.Popen([sbtest.binary("tools/load/sipbridge-rtpsource"), "--port", str(port), "--audio",
                                 audio, "--keep", "1", "--idle-ms", "2000", "--duration", "120", "--out", out]
                                + list(args), stderr=ef, stdout=subprocess.DEVNULL, env=sbtest.sanitizer_env())
    return proc, port, out, err


def held_source(tmp_path, holds, held_s, catch_up_ms, tolerated=0):
    """Runs the source for one stream, reads 10 packets, stops it (SIGSTOP) holds times for held_s
    with 3 ms between, and reads on: 20 more, then until no more than tolerated are owed (or 5 s
    have passed). Returns what was read, as (when, packet), when the first packet fell due by the
    reader's clock, how many were read before the holds ended, and the source's own figures."""
    proc, port, out, err = start_source(tmp_path, "--catch-up-ms", str(catch_up_ms))
    bridge = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bridge.bind(("127.0.0.1", 0))
    bridge.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    bridge.settimeout(10)
    stop = threading.Event()
    held = threading.Event()

    def keep_alive():  # the bridge's side of the call: what starts the stream and keeps it open
        seq = 0
        while not stop.is_set():
            bridge.sendto(rtp(seq, 0x1234), ("127.0.0.1", port))
            seq += 1
            stop.wait(0.1)

    def hold():
        for _ in range(holds):
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(held_s)
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.003)
        held.set()

    got = []
    try:
        sbtest.wait_until(lambda: "ready" in sbtest.tail(err), 10, "the source to bind its socket")
        threading.Thread(target=keep_alive, daemon=True).start()
        while len(got) < 10:  # the stream has started, on time
            got.append((time.monotonic(), bridge.recv(2048)))
        # The reads that waited least fix when the first packet fell due.
        base = min(t - i * FRAME_S for i, (t, _) in enumerate(got))
        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        while not held.is_set():
            got.append((time.monotonic(), bridge.recv(2048)))
        holder.join(10)
        during = len(got)
        # What it owes for the held time comes in a burst once it runs again; a stream that
        # skipped stays behind for good.
        deadline, more = time.monotonic() + 5, 20
        while (more > 0 or owed(got, base) > SLACK + tolerated) and time.monotonic() < deadline:
            more -= 1
            got.append((time.monotonic(), bridge.recv(2048)))
    finally:
        stop.set()
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        rc = proc.wait(10)
        bridge.close()
    assert rc == 0 and not sbtest.sanitizer_lines(err), sbtest.tail(err)
    with open(out) as f:
        stats = json.load(f)
    # One stream, in order: sequence numbers and timestamps run on by one packet, skips or not.
    seqs = [struct.unpack("!H", p[2:4])[0] for _, p in got]
    tss = [struct.unpack("!I", p[4:8])[0] for _, p in got]
    assert len({p[8:12] for _, p in got}) == 1 and stats["streams_started"] == 1, stats
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs
    assert all((b - a) & 0xFFFFFFFF == 160 for a, b in zip(tss, tss[1:])), tss
    assert all(len(p) == 172 and p[1] & 0x7F == 8 for _, p in got)
    assert stats["catch_up_ms"] == catch_up_ms and stats["packets_sent"] >= len(got), stats
    return got, base, during, stats


def test_a_held_up_source_sends_every_packet_it_owes(tmp_path):
    # 20 holds of 150 ms: 7-8 packets fall due in each, within the 300 ms a stream may catch up
    # on here, and more than the turns of the 3 ms between two holds, one a millisecond.
    got, base, during, stats = held_source(tmp_path, 20, 0.150, 300)
    # The holds happened: the source saw its turns begin late.
    assert stats["turns_late"] >= 5 and stats["turn_late_max_ms"] >= 100, stats
    # It caught up after each hold, not only after the last: as read while the holds went on, it
    # owed no more than one hold's packets (a source sending one packet a turn falls further
    # behind with each hold).
    held_owed = sorted((t - base) / FRAME_S - i for i, (t, _) in enumerate(got[10:during], 10))
    assert held_owed and held_owed[len(held_owed) // 2] <= 0.150 / FRAME_S + SLACK, held_owed
    # Nothing skipped unless the machine held a turn back nearly the whole catch-up time, and
    # as many packets as 20 ms slots since the first, less what it says it skipped.
    skipped = stats["packets_skipped"]
    if stats["turn_late_max_ms"] < 290:
        assert skipped == 0, stats
    n = owed(got, base)
    assert n <= SLACK + skipped, "%d packets in %.2f s: %.1f owed, %d skipped" % (
        len(got), got[-1][0] - base, n, skipped)


def test_a_source_held_past_catching_up_skips_and_counts_it(tmp_path):
    got, base, _, stats = held_source(tmp_path, 1, 0.400, 100, tolerated=30)
    late_ms, skipped = stats["turn_late_max_ms"], stats["packets_skipped"]
    assert late_ms >= 390, stats
    # It skipped what was more than 100 ms late when it ran again, and said so; what was less
    # late went out.
    assert (late_ms - 100) / 20 - 1 <= skipped <= (late_ms - 100) / 20 + 2, stats
    n = owed(got, base)
    assert abs(n - skipped) <= SLACK, "%d packets in %.2f s: %.1f owed, %d skipped" % (
        len(got), got[-1][0] - base, n, skipped)


def test_threads_split_the_streams_each_whole_from_the_one_port(tmp_path):
    """--threads 2: a socket a thread on the same port (SO_REUSEPORT), the kernel giving each
    bridge port's packets to one of them; every call still gets one stream, whole and in order,
    from the port its SDP named."""
    calls = 16
    proc, port, out, err = start_source(tmp_path, "--threads", "2")
    bridges = []
    stop = threading.Event()
    try:
        sbtest.wait_until(lambda: "ready" in sbtest.tail(err), 10, "the source to bind its sockets")
        for _ in range(calls):
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b.bind(("127.0.0.1", 0))
            b.settimeout(10)
            bridges.append(b)

        def keep_alive():
            seq = 0
            while not stop.is_set():
                for i, b in enumerate(bridges):
                    b.sendto(rtp(seq, 0x1000 + i), ("127.0.0.1", port))
                seq += 1
                stop.wait(0.1)
        threading.Thread(target=keep_alive, daemon=True).start()
        got = [[b.recvfrom(2048) for _ in range(25)] for b in bridges]
    finally:
        stop.set()
        proc.terminate()
        rc = proc.wait(10)
        for b in bridges:
            b.close()
    assert rc == 0 and not sbtest.sanitizer_lines(err), sbtest.tail(err)
    for pkts in got:
        assert {a for _, a in pkts} == {("127.0.0.1", port)}, pkts[0][1]
        assert len({p[8:12] for p, _ in pkts}) == 1
        seqs = [struct.unpack("!H", p[2:4])[0] for p, _ in pkts]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs
    # Sixteen calls, sixteen streams: none was started twice by two threads.
    assert len({pkts[0][0][8:12] for pkts in got}) == calls
    with open(out) as f:
        stats = json.load(f)
    assert stats["threads"] == 2 and stats["streams_started"] == calls and stats["bad_packets"] == 0, stats
    # Both threads carried calls (all sixteen on one would be a 1 in 32768 draw of the hash).
    by = stats["streams_by_thread"]
    assert len(by) == 2 and sum(by) == calls and min(by) > 0, stats

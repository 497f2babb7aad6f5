"""The load tool's RTP source (tools/load/rtpsource.c) held up the way a loaded machine holds it: a
stream it leaves behind catches up rather than losing the caller's packets, as long as it is within
the time it may catch up on (--catch-up-ms, 100 here); past that it skips what it owes and
counts it."""

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


def owed(got):
    """Packets the source should have sent by the last arrival and has not."""
    return (got[-1][0] - got[0][0]) / FRAME_S + 1 - len(got)


def rtp(seq, ssrc):
    return struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc) + b"\xd5" * 160


def held_source(tmp_path, holds, held_s, tolerated=0):
    """Runs the source for one stream, stops it (SIGSTOP) holds times for held_s with 1 ms between,
    and reads its packets: 10 more, then on until no more than tolerated are owed (or 5 s have
    passed). Returns what was read, as (when, packet), and the source's own figures."""
    port = sbtest.Ports().port((socket.SOCK_DGRAM,))
    audio = os.path.join(str(tmp_path), "audio.alaw")
    with open(audio, "wb") as f:
        f.write(bytes(range(256)) * 10)
    out = os.path.join(str(tmp_path), "rtpsource.json")
    err = os.path.join(str(tmp_path), "rtpsource.err")
    with open(err, "w") as ef:
        proc = subprocess.Popen([sbtest.binary("tools/load/sipbridge-rtpsource"), "--port", str(port), "--audio",
                                 audio, "--keep", "1", "--idle-ms", "2000", "--catch-up-ms", "100", "--duration", "120",
                                 "--out", out],
                                stderr=ef, stdout=subprocess.DEVNULL)
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
            time.sleep(0.001)
        held.set()

    got = []
    try:
        sbtest.wait_until(lambda: "ready" in sbtest.tail(err), 10, "the source to bind its socket")
        threading.Thread(target=keep_alive, daemon=True).start()
        got.append((time.monotonic(), bridge.recv(2048)))  # the stream has started
        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        while not held.is_set():
            got.append((time.monotonic(), bridge.recv(2048)))
        holder.join(10)
        # What it owes for the held time comes in a burst once it runs again; a stream that
        # skipped stays behind for good.
        deadline, more = time.monotonic() + 5, 10
        while (more > 0 or owed(got) > SLACK + tolerated) and time.monotonic() < deadline:
            more -= 1
            got.append((time.monotonic(), bridge.recv(2048)))
    finally:
        stop.set()
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)
        bridge.close()
    with open(out) as f:
        stats = json.load(f)
    # One stream, in order: sequence numbers and timestamps run on by one packet.
    seqs = [struct.unpack("!H", p[2:4])[0] for _, p in got]
    tss = [struct.unpack("!I", p[4:8])[0] for _, p in got]
    assert len({p[8:12] for _, p in got}) == 1 and stats["streams_started"] == 1, stats
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs
    assert all((b - a) & 0xFFFFFFFF == 160 for a, b in zip(tss, tss[1:])), tss
    assert all(len(p) == 172 and p[1] & 0x7F == 8 for _, p in got)
    return got, stats


def test_a_held_up_source_sends_every_packet_it_owes(tmp_path):
    # 40 holds of 60 ms: 3 packets fall due in each, well within the 100 ms a stream may catch
    # up on, and more than a turn a hold sends if it sends one packet a stream a turn.
    got, stats = held_source(tmp_path, 40, 0.060)
    # The holds happened: the source saw its turns begin late.
    assert stats["turns_late"] >= 20 and stats["turn_late_max_ms"] >= 40, stats
    # As many packets as 20 ms slots since the first: none owed was skipped, unless the machine
    # held a turn back more than the 100 ms a stream may catch up on, and then only what it says.
    skipped = stats.get("packets_skipped", 0)  # a source that does not count its skips has none
    if stats["turn_late_max_ms"] < 100:
        assert skipped == 0, stats
    assert owed(got) <= SLACK + skipped, "%d packets in %.2f s: %.1f owed, %d skipped" % (
        len(got), got[-1][0] - got[0][0], owed(got), skipped)


def test_a_source_held_past_catching_up_skips_and_counts_it(tmp_path):
    got, stats = held_source(tmp_path, 1, 0.400, tolerated=25)
    late_ms, skipped = stats["turn_late_max_ms"], stats["packets_skipped"]
    assert late_ms >= 390, stats
    # It skipped what fell due while it was held, and said so; then kept its 20 ms.
    assert abs(skipped - late_ms / 20) <= 2, stats
    assert abs(owed(got) - skipped) <= SLACK, "%d packets in %.2f s: %.1f owed, %d skipped" % (
        len(got), got[-1][0] - got[0][0], owed(got), skipped)
    assert stats["packets_sent"] >= len(got), stats

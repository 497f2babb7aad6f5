"""The call's SIP dialog beyond set-up: the bot is connected before the 200 OK, re-INVITEs (hold,
unhold, session refresh) are answered and change the media, and the daemon's systemd protocol
(READY, WATCHDOG, STOPPING) and unit file work."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import rtp
import sbtest


def sdp_origin(text):
    m = re.search(r"^o=\S+ (\d+) (\d+) ", text, re.M)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def test_bot_connected_before_200(env, bridge, sipp):
    d, bot = bridge("echo")
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    ok = res.response(200)
    upgrades = bot.select("upgrade")
    assert ok is not None and upgrades and bot.select("open"), res.describe()
    # The bot logs "upgrade" (whole milliseconds, rounded down) before its 101 response goes out, and the
    # caller's 200 OK must follow that response, so on one wall clock the upgrade comes first. ("open" is
    # logged after the 101 has been written and may trail the 200 OK.) That no 200 goes out before the
    # handshake completes is shown by the bots that never answer it: test_bot_unreachable_503[no-handshake]
    # and test_cancel_before_answer_487.
    t_upgrade = upgrades[0]["t_ms"] / 1000.0
    t_ok = ok.wall()
    assert t_upgrade <= t_ok, "the bot's WebSocket upgrade came %.3f s after the 200 OK" % (t_upgrade - t_ok)
    assert bot.start_msg()["event"] == "start"


def test_reinvite_hold_unhold_refresh(env, bridge, sipp):
    d, bot = bridge("tone")  # the bot talks all the time, so the bridge always has audio to send
    ep = env.endpoint()
    ep.send_silence_forever()
    hold_s = 1.5
    res = sipp("uac_reinvite.xml", d, rtp_port=ep.port, duration_ms=int(hold_s * 1000)).run()
    assert res.rc == 0, res.describe()

    oks = [m for m in res.received() if m.status == 200 and m.cseq_method == "INVITE"]
    # one 200 per INVITE (retransmissions aside)
    by_cseq = {}
    for m in oks:
        by_cseq.setdefault(m.header("CSeq"), m)
    answers = [by_cseq[k] for k in sorted(by_cseq, key=lambda c: int(c.split()[0]))]
    assert len(answers) == 4, [m.first for m in res.received()]
    first, hold, unhold, refresh = answers
    assert "a=sendrecv" in first.body() and "a=recvonly" in hold.body(), hold.body()
    assert "a=sendrecv" in unhold.body() and "a=sendrecv" in refresh.body(), unhold.body()
    # RFC 3264: one session id; the version goes up when the answer changes, not on a refresh.
    ids = [sdp_origin(m.body()) for m in answers]
    assert len({i for i, _ in ids}) == 1, ids
    v = [ver for _, ver in ids]
    assert v[1] == v[0] + 1 and v[2] == v[1] + 1 and v[3] == v[2], v

    t_hold, t_unhold = hold.wall(), unhold.wall()
    pkts = ep.snapshot()
    before = [p for p in pkts if p.t < t_hold]
    during = [p for p in pkts if t_hold + 0.3 < p.t < t_unhold - 0.1]
    after = [p for p in pkts if p.t > t_unhold + 0.3]
    assert len(before) >= 25, "only %d packets before the hold" % len(before)
    assert during == [], "%d RTP packets sent to a caller on hold (sendonly)" % len(during)
    assert len(after) >= 25, "only %d packets after the unhold" % len(after)
    # one bot session across all of it
    assert bot.conns() == [1]
    bot.wait_event("rx", "stop")


@contextlib.contextmanager
def notified_daemon(env, extra_env):
    """Runs sipbridged with a NOTIFY_SOCKET this test reads itself; yields (proc, sock). On the way out the
    daemon is killed if still running and its stderr is checked for sanitizer reports."""
    cfg = env.config([{"name": "default", "url": "ws://127.0.0.1:%d/media" % env.ports.tcp()}])
    conf = os.path.join(env.tmp, "notify.conf")
    with open(conf, "w") as f:
        f.write(sbtest.to_libconfig(cfg))
    ndir = tempfile.mkdtemp(prefix="sbw", dir="/tmp")
    path = os.path.join(ndir, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.5)
    e = sbtest.sanitizer_env(dict(extra_env, NOTIFY_SOCKET=path))
    err = open(os.path.join(env.tmp, "notify.stderr"), "wb")
    proc = subprocess.Popen([sbtest.binary("src/sipbridged"), "-c", conf, "-f"], stdin=subprocess.DEVNULL,
                            stdout=err, stderr=err, env=e)
    try:
        yield proc, sock
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        err.close()
        sock.close()
        shutil.rmtree(ndir, ignore_errors=True)
    bad = sbtest.sanitizer_lines(os.path.join(env.tmp, "notify.stderr"))
    assert not bad, bad


def read_states(sock, until, timeout):
    """Collects sd_notify datagrams until one holds `until` (or the timeout)."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.extend(sock.recv(4096).decode().split("\n"))
        except socket.timeout:
            continue
        if until(got):
            break
    return got


def test_systemd_ready_watchdog_stopping(env):
    with notified_daemon(env, {"WATCHDOG_USEC": "200000"}) as (proc, sock):
        got = read_states(sock, lambda g: "READY=1" in g and g.count("WATCHDOG=1") >= 3, 30)
        assert "READY=1" in got, got
        assert got.count("WATCHDOG=1") >= 3, "watchdog pings at WATCHDOG_USEC/2 expected: %s" % got
        proc.send_signal(signal.SIGTERM)
        got = read_states(sock, lambda g: "STOPPING=1" in g, 20)
        assert "STOPPING=1" in got, got
        assert proc.wait(30) == 0


def test_systemd_unit_verifies(env):
    unit = os.path.join(sbtest.build_dir(), "systemd", "sipbridge.service")
    text = open(unit).read()
    assert re.search(r"^Type=notify$", text, re.M), text
    assert re.search(r"^WatchdogSec=", text, re.M), text
    conf = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "sipbridge.conf")
    # verify checks that ExecStart's binary exists: point it at this build
    text = re.sub(r"^ExecStart=\S+", "ExecStart=" + sbtest.binary("src/sipbridged"), text, flags=re.M)
    text = re.sub(r" -c \S+", " -c " + os.path.abspath(conf), text)
    path = os.path.join(env.tmp, "sipbridge.service")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([sbtest.tool("systemd-analyze"), "verify", path], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_delayed_offer(env, bridge, sipp):
    """INVITE without SDP: the 200 offers PCMA and PCMU, the ACK answers PCMU, audio flows."""
    d, bot = bridge("echo")
    ep = env.endpoint(rtp.PT_PCMU)
    call = sipp("uac_late_offer.xml", d, keys={"fmts": "0"}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    noise = rtp.noise_octets(rtp.PT_PCMU, 4000, seed=9)
    ep.send_audio(noise)
    ep.wait_echo(noise, 15)
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    offer = sbtest.parse_sdp(res.response(200).body())
    assert offer["fmts"][:2] == [8, 0], offer
    assert all(p.pt == rtp.PT_PCMU and len(p.payload) == 160 for p in ep.snapshot())
    bot.wait_event("rx", "stop")


def test_delayed_offer_without_answer_hangs_up(env, bridge, sipp):
    d, bot = bridge("echo")
    res = sipp("uac_late_offer_no_answer.xml", d).run()
    assert res.rc == 0, res.describe()
    assert res.requests("BYE"), "the bridge did not hang up a call it has no media for"
    assert "No usable SDP answer in the ACK (no SDP), hanging up" in d.stderr_text()
    bot.wait_event("rx", "stop")
    assert d.alive()


def rtp_timeout_bridge(env, testbot, daemon, timeout_s):
    bot = testbot("echo")
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["rtp"]["timeout_s"] = timeout_s
    return daemon(cfg), bot


def test_rtp_timeout_hangs_up(env, testbot, daemon, sipp):
    d, bot = rtp_timeout_bridge(env, testbot, daemon, 2)
    ep = env.endpoint()  # receives, never sends: the caller's RTP stops
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert res.requests("BYE"), "no BYE after rtp.timeout_s without caller RTP"
    # From the 200 to the BYE by SIPp's own log, so that starting SIPp and setting the call up on a slow
    # machine do not count (0.1 s of slack for the 200's way to SIPp)
    elapsed = res.requests("BYE")[0].wall() - res.response(200).wall()
    assert elapsed >= 2 - 0.1, "BYE %.2f s after the 200, before rtp.timeout_s had passed" % elapsed
    # SIPp would wait 30 s: a timeout counted in the wrong unit, or not from the call's
    # start, shows here (the margin is for a slow machine, not for the bridge)
    assert elapsed < 2 + 4, "BYE %.1f s after the call began, rtp.timeout_s is 2" % elapsed
    assert "No RTP for 2 s" in d.stderr_text()
    stop = bot.wait_event("rx", "stop")[0]
    assert stop["msg"]["stop"]["reason"] == "stopped", stop


def test_hold_suspends_rtp_timeout(env, testbot, daemon, sipp):
    # a=inactive for 4 s with rtp.timeout_s = 2: the caller sends nothing and is not hung up
    d, bot = rtp_timeout_bridge(env, testbot, daemon, 2)
    ep = env.endpoint()
    res = sipp("uac_hold_inactive.xml", d, rtp_port=ep.port, duration_ms=4000).run()
    assert res.rc == 0, res.describe()
    assert not res.requests("BYE"), "the bridge hung up a call on hold"
    bot.wait_event("rx", "stop")


def test_overlong_user_part_rejected(env, bridge, sipp):
    d, bot = bridge("echo")
    ep = env.endpoint()
    for n in (129, 5000):
        res = sipp("uac_reject.xml", d, keys={"caller": "a" * n}, rtp_port=ep.port).run()
        assert res.rc == 0, res.describe()
        assert res.final_status() == 400, res.describe()
    assert bot.conns() == [], "a bot was connected for a rejected call"
    # 128 bytes is the bound itself: accepted
    res = sipp("uac_call.xml", d, keys={"caller": "a" * 128}, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    assert bot.start_msg()["start"]["from"] == "a" * 128


@pytest.mark.parametrize("thread", ["sb-media0", "sb-ws0"])
def test_watchdog_sees_a_hung_worker(env, thread):
    """The systemd watchdog ping stops while a media or ws thread is stuck, and resumes when it runs again."""
    with notified_daemon(env, {"WATCHDOG_USEC": "200000"}) as (proc, sock):
        got = read_states(sock, lambda g: g.count("WATCHDOG=1") >= 3, 30)
        assert got.count("WATCHDOG=1") >= 3, got
        tids = sbtest.thread_ids(proc.pid, thread)
        assert len(tids) == 1, tids
        pings = []
        done = threading.Event()

        def collect():
            while not done.is_set():
                try:
                    if "WATCHDOG=1" in sock.recv(4096).decode().split("\n"):
                        pings.append(time.monotonic())
                except socket.timeout:
                    pass

        t = threading.Thread(target=collect, daemon=True)
        t.start()
        t0 = time.monotonic()
        with sbtest.frozen_threads(tids):
            time.sleep(3.0)  # the point of the test: a thread that does not run for this long
        t1 = time.monotonic()
        sbtest.wait_until(lambda: any(p > t1 for p in pings), 15, "the watchdog pings to resume")
        done.set()
        t.join(2)
        during = [p for p in pings if t0 + 0.5 < p < t1]
        assert not during, "%d watchdog pings while %s was stopped" % (len(during), thread)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    log = open(os.path.join(env.tmp, "notify.stderr"), errors="replace").read()
    kind = "media" if "media" in thread else "ws"
    assert re.search(r"%s worker 0 has not answered for \d+ ms: withholding" % kind, log), log[-2000:]

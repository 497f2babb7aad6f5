"""Strict RTP: a media leg takes caller RTP only from the SDP's address, the call's signalling address or the
trunk's ACL. A host outside the ACL that sprays the RTP port range gets nothing back and cannot replace the
caller's audio; a caller behind NAT (RTP from the signalling address, not the SDP one) still works."""

import re
import socket
import threading

import rtp
import sbtest
import sipraw


class Sprayer:
    """Sends valid-looking PCMA RTP (a 440 Hz tone) from `host` to every port of a range, as fast as a real
    stream would be to each, and counts whatever comes back."""

    def __init__(self, host, ports):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.005)
        self.ports = list(ports)
        self.payload = rtp.encode(rtp.PT_PCMA, rtp.tone(440, 20, amplitude=12000))
        self.sent = 0
        self.received = 0
        self.rounds = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._t.start()
        return self

    def _loop(self):
        seq = 0
        while not self._stop.is_set():
            for p in self.ports:
                pkt = rtp.build_rtp(seq, seq * 160, rtp.PT_PCMA, 0x5ca1ab1e, self.payload)
                try:
                    self.sock.sendto(pkt, ("127.0.0.1", p))
                    self.sent += 1
                except OSError:
                    pass
            seq += 1
            self.rounds += 1
            try:
                while True:
                    self.sock.recvfrom(2048)
                    self.received += 1
            except (socket.timeout, BlockingIOError, OSError):
                pass
            self._stop.wait(0.01)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        self.sock.close()


def tone_echoed(after):
    """A wait_for() predicate: the caller's 1.5 s 1 kHz tone has come back whole (70 of its 75 packets loud,
    1 kHz dominant), counting packets received after the time after."""
    def echoed(e):
        loud = [p for p in e.packets if p.t > after and not rtp.is_silent(p)]
        return len(loud) >= 70 and rtp.dominant([s for p in loud for s in rtp.decode(p.pt, p.payload)], 1000)
    return echoed


def tone_windows(pcm, hz, win=800):
    """100 ms windows that are loud (not the caller's silence) and dominated by hz."""
    others = (300, 440, 500, 700, 1000, 1300, 1700, 2000, 2500, 3000)
    return sum(rtp.rms(w) > 1000 and rtp.dominant(w, hz, others=others)
               for w in (pcm[i:i + win] for i in range(0, len(pcm) - win + 1, win)))


def test_spray_from_outside_acl_cannot_hijack(env, testbot, daemon, sipp):
    bot = testbot("echo")
    d = daemon(env.config([{"name": "default", "url": bot.url}], trunk={"acl": ["127.0.0.1/32"]}))
    lo, hi = env.rtp_range
    spray = Sprayer("127.0.0.2", range(lo, hi + 1, 2)).start()
    try:
        sbtest.wait_until(lambda: spray.rounds >= 5, 10, "the sprayer to cover the RTP range")
        ep = env.endpoint()
        ep.send_silence_forever()
        call = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
        ep.wait_packets(3)
        sid = bot.start_msg()["stream_sid"]
        t_tone = ep.snapshot()[-1].t
        ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1500)))

        ep.wait_for(tone_echoed(t_tone), 20, "the caller's tone to round-trip through the echo bot")
        call.hang_up()
        res = call.wait()
        assert res.rc == 0, res.describe()
        sent = spray.sent
    finally:
        spray.stop()
    assert sent > 500, "the sprayer sent only %d packets" % sent
    assert spray.received == 0, "the bridge sent %d packets to a host outside the ACL" % spray.received
    # The caller only ever heard the bridge from one address, and the bot never heard the stranger's 440 Hz.
    assert len({p.src for p in ep.snapshot()}) == 1
    pcm = rtp.from_pcm16le(bot.recording(sid))
    assert tone_windows(pcm, 1000) >= 10, "the caller's tone did not reach the bot"
    assert tone_windows(pcm, 440) == 0, "the stranger's audio reached the bot"


def answered_port(daemon):
    m = re.findall(r"Answered: PCM[AU]/(\d+) ", daemon.stderr_text())
    return int(m[-1]) if m else None


def test_caller_behind_nat(env, testbot, daemon, sipp):
    """The SDP names 127.0.0.9 (the caller's private address); its RTP comes from 127.0.0.1, where its
    signalling comes from. The bridge takes it and answers there (symmetric RTP)."""
    bot = testbot("echo")
    d = daemon(env.config([{"name": "default", "url": bot.url}], trunk={"acl": ["127.0.0.1/32"]}))
    ep = env.endpoint()
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the SDP's address: nothing reads it
    dead.bind(("127.0.0.9", 0))
    try:
        call = sipp("uac_call.xml", d, rtp_port=dead.getsockname()[1], until_told=True,
                    extra=("-mi", "127.0.0.9")).start()
        port = sbtest.wait_until(lambda: answered_port(d), 20, "the call to be answered")
        with ep._cond:
            ep.peer = ("127.0.0.1", port)
        sid = bot.start_msg()["stream_sid"]
        ep.send_silence_forever()
        ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1500)))

        ep.wait_for(tone_echoed(0), 20, "the tone to come back to the caller's real address")
        call.hang_up()
        res = call.wait()
        assert res.rc == 0, res.describe()
    finally:
        dead.close()
    assert sbtest.parse_sdp(res.response(200).body())["port"] == port
    pcm = rtp.from_pcm16le(bot.recording(sid))
    assert tone_windows(pcm, 1000) >= 10


def test_rtp_burst_from_outside_acl(env, testbot, daemon, sipp):
    """10,000 RTP packets from a host outside the ACL, back to back at the call's own RTP port: none reaches the
    bot or is answered, they cost the daemon no descriptor, and the caller's audio still goes both ways."""
    bot = testbot("echo")
    d = daemon(env.config([{"name": "default", "url": bot.url}], trunk={"acl": ["127.0.0.1/32"]}))
    pid = d.proc.pid
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
    port = sbtest.wait_until(lambda: answered_port(d), 20, "the call to be answered")
    ep.wait_packets(3)
    sid = bot.start_msg()["stream_sid"]
    fds0 = sipraw.fds(pid)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.2", 0))
    try:
        payload = rtp.encode(rtp.PT_PCMA, rtp.tone(440, 20, amplitude=12000))
        burst = [rtp.build_rtp(i, i * 160, rtp.PT_PCMA, 0x5ca1ab1e, payload) for i in range(10000)]
        cpu0 = sipraw.cpu_seconds(pid)
        for pkt in burst:
            stranger.sendto(pkt, ("127.0.0.1", port))
        fds_after = sipraw.fds(pid)
        t_tone = ep.snapshot()[-1].t
        ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1500)))

        ep.wait_for(tone_echoed(t_tone), 20, "the caller's tone to round-trip through the echo bot after the burst")
        print("burst of %d RTP packets: %.2f s of daemon CPU until the caller's tone came back"
              % (len(burst), sipraw.cpu_seconds(pid) - cpu0))
        call.hang_up()
        res = call.wait()
        assert res.rc == 0, res.describe()
        stranger.setblocking(False)
        back = 0
        try:
            while stranger.recv(2048):
                back += 1
        except BlockingIOError:
            pass
    finally:
        stranger.close()
    assert back == 0, "the bridge sent %d packets to a host outside the ACL" % back
    assert fds_after == fds0, "descriptors went from %d to %d during the burst" % (fds0, fds_after)
    assert len({p.src for p in ep.snapshot()}) == 1
    pcm = rtp.from_pcm16le(bot.recording(sid))
    assert tone_windows(pcm, 1000) >= 10, "the caller's tone did not reach the bot"
    assert tone_windows(pcm, 440) == 0, "the stranger's audio reached the bot"
    assert bot.conns() == [1]

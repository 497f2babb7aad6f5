"""SDES-SRTP end to end with sipbridge-call --srtp against the real sipbridged and the echo bot: a 1 kHz tone comes back
over SRTP; one tampered packet is dropped and counted (log line and /metrics) and leaves a hole in the received
sequence, so it was never decoded; rtp.srtp = "required" (globally or on the trunk) refuses a plain RTP/AVP offer with
488; with rtp.srtp_over_udp = false an RTP/SAVP offer over UDP is refused (its keys came in clear text); and the
daemon's log, at debug level, never holds either side's key; forged packets from another allowed address never take
over the call's RTP."""

import base64
import os
import re
import socket
import threading
import wave

import pytest

import callctl
import rtp
import sbtest
import sipraw

RATE = 8000
TONE_S = 3.0
KEY_RE = re.compile(r"inline:([A-Za-z0-9+/]{40})")


def tone_wav(path, hz=1000, seconds=TONE_S):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(rtp.pcm16le(rtp.tone(hz, int(seconds * 1000))))
    return str(path)


def read_wav(path):
    with wave.open(str(path)) as w:
        return rtp.from_pcm16le(w.readframes(w.getnframes()))


def rtp_group(env, **kw):
    g = {"address": "127.0.0.1", "port_min": env.rtp_range[0], "port_max": env.rtp_range[1], "timeout_s": 30}
    g.update(kw)
    return g


def uri(d):
    return "sip:+15550001@127.0.0.1:%d" % d.sip_port


def call(d, **kw):
    return callctl.sipbridge_call(sbtest.build_dir(), uri(d), **kw)


def metric(port, name, **labels):
    return sbtest.metric(port, name + ("{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
                                       if labels else ""))


def assert_no_keys(d, res):
    """Both keys (ours in the offer, the daemon's in the answer, as the tool prints them at -v) stay out of the
    daemon's log."""
    keys = set(KEY_RE.findall(res.stderr))
    log = d.stderr_text()
    assert keys, "the tool printed no a=crypto key at -v:\n" + res.stderr[-2000:]
    for k in keys:
        assert k not in log, "an SRTP key is in the daemon's log"
    return keys


def test_srtp_tone_through_echo_bot_and_tampered_packet(env, bridge):
    admin = env.ports.port()
    d, bot = bridge("echo", rtp=rtp_group(env, srtp="optional", srtp_over_udp=True), log={"level": "debug"},
                    admin={"port": admin})
    play = tone_wav(os.path.join(env.tmp, "in.wav"))
    rec = os.path.join(env.tmp, "out.wav")
    res = call(d, play=play, record=rec, args=["--srtp", "--tamper-at", "1.5", "-v"])
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["srtp"] is True and j["tampered"] == 1, j
    # the daemon's SRTP all authenticated at our end, and it carried the echo
    assert j["srtp_rx_failed"] == 0 and j["rtp_invalid"] == 0 and j["rtp_received"] > 0, j
    assert j["received_s"] >= TONE_S, j

    # the echo is the tone: 1 kHz in its middle, the dropped packet concealed
    pcm = read_wav(rec)
    loud = [rtp.rms(pcm[i:i + 800]) > 1000 for i in range(0, len(pcm) - 799, 800)]
    assert abs(sum(loud) / 10.0 - TONE_S) <= 0.3, "echoed tone lasts %.1f s" % (sum(loud) / 10.0)
    first = loud.index(True)
    assert rtp.dominant(pcm[first * 800 + RATE:first * 800 + 2 * RATE], 1000), "1 kHz is not dominant"
    bot.wait_event("rx", "stop")

    # the tampered packet: dropped for failed authentication, so its sequence number is missing
    line = sbtest.wait_until(lambda: re.search(r"SRTP: (\d+) packet\(s\) dropped for failed authentication, "
                                               r"(\d+) replayed", d.stderr_text()), 20, "the SRTP end-of-call line")
    assert (int(line.group(1)), int(line.group(2))) == (1, 0), line.group(0)
    rtpline = re.search(r"RTP: (\d+) packet\(s\) in, (-?\d+) lost", d.stderr_text())
    assert rtpline and int(rtpline.group(2)) >= 1, rtpline and rtpline.group(0)
    assert int(rtpline.group(1)) < j["rtp_sent"], (rtpline.group(0), j)
    assert metric(admin, "sipbridge_srtp_dropped_packets_total", reason="auth") == 1
    assert metric(admin, "sipbridge_srtp_dropped_packets_total", reason="replay") == 0
    assert len(assert_no_keys(d, res)) == 2  # ours and the daemon's own, different
    assert "SDES keys sent in clear text protect nothing" in d.stderr_text()


@pytest.mark.parametrize("where", ["rtp", "trunk"])
def test_srtp_required_refuses_plain_offer(env, bridge, where):
    if where == "rtp":
        d, _ = bridge("echo", rtp=rtp_group(env, srtp="required"))
    else:
        d, _ = bridge("echo", rtp=rtp_group(env, srtp="off"), trunk={"srtp": "required"})
    res = call(d, duration=1, timeout=10)
    assert res.returncode == 1 and res.json["code"] == 488 and res.json["answered"] is False, callctl.describe(res)
    sbtest.wait_until(lambda: "SRTP required" in d.stderr_text(), 10, "the 488's reason in the log")


def test_savp_over_udp_refused_without_srtp_over_udp(env, bridge):
    d, _ = bridge("echo", rtp=rtp_group(env, srtp="optional"), log={"level": "debug"})  # srtp_over_udp: false
    res = call(d, duration=1, timeout=10, args=["--srtp", "-v"])
    assert res.returncode == 1 and res.json["code"] == 488, callctl.describe(res)
    sbtest.wait_until(lambda: "treated as no crypto" in d.stderr_text(), 10, "the reason in the log")
    assert_no_keys(d, res)
    # a plain call on the same daemon is fine
    res = call(d, duration=1, timeout=10)
    assert res.returncode == 0 and res.json["code"] == 200 and res.json["srtp"] is False, callctl.describe(res)


def test_forged_srtp_never_moves_the_latch(env, bridge):
    """Packets from another address inside the trunk's ACL, one SSRC and consecutive sequence numbers (enough to
    take over a plain RTP call's latch), but not authenticated: all dropped and counted, and the bridge keeps
    sending to the real caller."""
    d, _ = bridge("echo", rtp=rtp_group(env, srtp_over_udp=True))
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("res", call(d, duration=4, args=["--srtp"])))
    t.start()
    try:
        m = sbtest.wait_until(lambda: re.search(r"Answered: \w+/(\d+) ", d.stderr_text()), 20, "the answer")
        port = int(m.group(1))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))
        try:
            for seq in range(20):
                s.sendto(rtp.build_rtp(1000 + seq, 160 * seq, 0, 0x1234, bytes(160) + bytes(10)),
                         ("127.0.0.1", port))
        finally:
            s.close()
    finally:
        t.join(60)
    res = box["res"]
    assert res.returncode == 0 and res.json["srtp"] is True, callctl.describe(res)
    # the caller kept getting the echo stream to the end: the latch never moved to 127.0.0.2
    assert res.json["received_s"] >= res.json["duration_s"] - 0.5, res.json
    line = sbtest.wait_until(lambda: re.search(r"SRTP: (\d+) packet\(s\) dropped for failed authentication",
                                               d.stderr_text()), 20, "the SRTP end-of-call line")
    assert int(line.group(1)) == 20, line.group(0)


def crypto_lines(body):
    return re.findall(r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/]{40})\s*$", body, re.M)


def test_srtp_reinvite_keeps_srtp_and_our_key(env, bridge, sipp):
    """re-INVITEs of an SRTP call: the same key, a new key with another tag (both answered RTP/SAVP with the bridge's
    own key, unchanged), a fall-back to RTP/AVP (488, the call goes on and ends with BYE)."""
    d, _ = bridge("echo", rtp=rtp_group(env, srtp_over_udp=True), log={"level": "debug"})
    key1 = base64.b64encode(os.urandom(30)).decode()
    key2 = base64.b64encode(os.urandom(30)).decode()
    res = sipp("uac_srtp_reinvite.xml", d, rtp_port=env.ports.port(), keys={"key1": key1, "key2": key2}).run()
    assert res.rc == 0, res.describe()
    oks = {}
    for m in res.received():
        if m.status == 200 and m.cseq_method == "INVITE":
            oks.setdefault(int(m.header("CSeq").split()[0]), m)
    assert sorted(oks) == [1, 2, 3], sorted(oks)
    lines = {n: crypto_lines(oks[n].body()) for n in oks}
    for n in oks:
        assert "m=audio" in oks[n].body() and " RTP/SAVP 8" in oks[n].body(), oks[n].body()
        assert len(lines[n]) == 1, oks[n].body()
    assert [l[0][0] for l in (lines[1], lines[2], lines[3])] == ["1", "1", "5"], lines  # the offer's tag
    ours = {l[0][2] for l in lines.values()}
    assert len(ours) == 1 and not ours & {key1, key2}, lines  # our own key, the same throughout
    assert res.final_status() == 200 and 488 in res.statuses(), res.statuses()
    sbtest.wait_until(lambda: "Call released" in d.stderr_text(), 20, "the call's end")
    log = d.stderr_text()
    assert "re-INVITE offer not acceptable, 488" in log
    for k in ours | {key1, key2}:
        assert k not in log, "an SRTP key is in the daemon's log"


def test_srtp_required_refuses_delayed_offer(env, bridge):
    """The bridge's own offer (for an INVITE without SDP) is RTP/AVP: with SRTP required such an INVITE gets 488."""
    d, _ = bridge("echo", trunk={"srtp": "required"})
    msg = sipraw.request(ruri="sip:+15550001@127.0.0.1:%d" % d.sip_port,
                         extra=b"Contact: <sip:caller@127.0.0.1>\r\n")
    lines = sipraw.udp_exchange(d.sip_port, msg)
    assert any(l.startswith("SIP/2.0 488") for l in lines), lines
    assert not any(l.startswith("SIP/2.0 200") for l in lines), lines



@pytest.mark.parametrize("tr", ["udp", "tcp"])
def test_savp_claiming_tls_over_plain_transport_is_not_taken(env, bridge, tr):
    """The bridge trusts "came over TLS" from the top Via because the SIP stack drops a request whose Via names
    another transport than the one it came on: an SDES offer whose Via claims TLS over UDP or TCP is never
    answered, never starts a call, and its key never reaches the log; a real call still works afterwards."""
    d, _ = bridge("echo", rtp=rtp_group(env, srtp="optional"))  # srtp_over_udp: false
    key = base64.b64encode(os.urandom(30)).decode()
    body = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n" % (env.rtp_range[1] + 2, key)).encode()
    msg = sipraw.request(ruri=uri(d), extra=b"Contact: <sip:caller@127.0.0.1>\r\nContent-Type: application/sdp\r\n",
                         body=body)
    if tr == "udp":
        got = sipraw.udp_exchange(d.sip_port, msg, via_transport=b"TLS")
    else:
        t = sipraw.Tcp(d.sip_port)
        t.send(sipraw.with_via(msg, b"TLS", b"%s:%d" % (t.local[0].encode(), t.local[1])), fix_via=False)
        t.read_until(lambda x: b"SIP/2.0 " in x.data, 1.0)
        got = sipraw.status_lines(t.data)
        t.close()
    assert got == [], got
    res = call(d, duration=1, timeout=10)  # the daemon carries on; by now it has handled the forged request
    assert res.returncode == 0 and res.json["code"] == 200 and res.json["srtp"] is False, callctl.describe(res)
    log = d.stderr_text()
    assert log.count("INVITE caller") == 0 and log.count("INVITE ") == 1, log
    assert key not in log, "an SRTP key is in the daemon's log"

"""sipbridge-call, the bot developer's test phone, against the real sipbridged and test bot: a WAV played to an echo
bot comes back recorded in time order, custom headers reach the bot's start, keys arrive as dtmf events, a bad WAV
is refused before anything is sent, a rejected call and a bot that hangs up are reported as such; and against a
SIPp far end whose RTP the test controls: loss, junk datagrams and keys from the far end are counted, a far end
that sends no RTP, answers with another codec or never answers fails the call, and so does one that refuses the
tool's BYE, leaves it unanswered or is gone when it is sent, while a BYE crossed by the far end's own does not."""

import os
import re
import signal
import socket
import subprocess
import threading
import time
import wave

import pytest

import callctl
import pki
import rtp
import sbtest
import sipraw

RATE = 8000
TONE_S = 3.0


def write_wav(path, samples, rate=RATE, channels=1, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes(rtp.pcm16le(samples))
        else:
            w.writeframes(bytes((s >> 8) + 128 for s in samples))
    return str(path)


def tone_wav(path, hz=1000, seconds=TONE_S, **kw):
    return write_wav(path, rtp.tone(hz, int(seconds * 1000)), **kw)


def read_wav(path):
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE), w.getparams()
        return rtp.from_pcm16le(w.readframes(w.getnframes()))


def loud_blocks(samples, block=800, level=1000):
    """Which 100 ms blocks are above level (RMS)."""
    return [rtp.rms(samples[i:i + block]) > level for i in range(0, len(samples) - block + 1, block)]


def uri(d, user="+15550001", host="127.0.0.1"):
    return "sip:%s@%s:%d" % (user, host, d.sip_port)


def call(to, **kw):
    return callctl.sipbridge_call(sbtest.build_dir(), to, **kw)


def check_echo_call(res, rec, bot, codec):
    """A call that played TONE_S of 1 kHz to an echo bot with the headers X-Customer-Header: salesbot and X-UUI:
    call-tool-42 went as it should: answered in codec, the tone back in the recording, the headers in the bot's
    start, the bot's stop after our BYE."""
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["reason"] == "OK" and j["answered"] is True, j
    assert j["codec"] == codec.upper() and j["hangup"] == "local" and j["bye"] == "200", j
    assert abs(j["sent_s"] - TONE_S) <= 0.3, j
    assert abs(j["duration_s"] - (TONE_S + 1)) <= 0.5, j  # the default: the file + 1 s
    assert j["rtp_received"] > 0 and j["rtp_lost"] == 0 and j["rtp_invalid"] == 0, j
    assert j["received_s"] >= TONE_S, j
    assert 1 <= j["utterances"] <= 2, j  # one, unless a stall under load split the echo

    # the recording: as long as the call, the echoed tone in it for about 3 s, 1 kHz in its middle
    pcm = read_wav(rec)
    assert abs(len(pcm) / RATE - j["duration_s"]) <= 0.5, (len(pcm), j)
    loud = loud_blocks(pcm)
    assert abs(sum(loud) / 10.0 - TONE_S) <= 0.3, "echoed tone lasts %.1f s in the recording" % (sum(loud) / 10.0)
    first = loud.index(True)
    assert first <= 10, "the echo starts %.1f s into the recording" % (first / 10.0)
    # a stall that split the echo in two (the tool counts a new utterance after 200 ms of quiet) left at most
    # 300 ms of it out
    gap = loud[first:first + int(TONE_S * 10) - 1].count(False)
    assert gap <= (3 if j["utterances"] == 2 else 0), "the echoed tone has a gap: %s" % loud
    mid = pcm[first * 800 + RATE:first * 800 + 2 * RATE]
    assert rtp.dominant(mid, 1000), "1 kHz is not dominant in the middle of the recording"

    # the bot: the custom headers in start, the call's audio as media, then stop
    start = bot.start_msg()["start"]
    cp = start["custom_parameters"]
    assert cp.get("X-Customer-Header") == "salesbot" and cp.get("X-UUI") == "call-tool-42", start
    assert start["from"] == "sipbridge-call" and start["to"] == "+15550001", start
    bot.wait_event("rx", "stop")


ECHO_HEADERS = ["X-Customer-Header: salesbot", "X-UUI: call-tool-42"]


@pytest.mark.parametrize("codec,transport", [("pcmu", "udp"), ("pcma", "udp"), ("pcmu", "tcp")],
                         ids=["udp-pcmu", "udp-pcma", "tcp-pcmu"])
def test_tone_through_echo_bot(env, bridge, codec, transport):
    d, bot = bridge("echo")
    play = tone_wav(os.path.join(env.tmp, "in.wav"))
    rec = os.path.join(env.tmp, "out.wav")
    res = call(uri(d), play=play, record=rec, codec=codec, transport=transport, headers=ECHO_HEADERS)
    check_echo_call(res, rec, bot, codec)


NAME = "sbcall.sb.test"  # a made-up host name: only gai_shim answers it, sofia's own DNS client cannot


def named(env, name, addr="127.0.0.1"):
    """The tool's environment with gai_shim answering name with addr at once, and the shim's log of lookups."""
    environ, log, release = sbtest.gai_shim(env.tmp, name, addr)
    open(release, "w").close()
    return environ, log


def traced_daemon(env, bot, listen=()):
    """A daemon routing every call to bot whose debug log shows every SIP message (TPORT_LOG), with extra sip.listen
    entries."""
    cfg = env.config([{"name": "default", "url": bot.url}], log={"level": "debug"})
    cfg["sip"]["listen"].extend(listen)
    return env.daemon(cfg, environ={"TPORT_LOG": "1"})


def received(text, method):
    """The SIP requests of method the daemon's transport log shows received: a list of lists of lines."""
    blocks, cur = [], None
    head = re.compile(r"recv \d+ bytes from \w+/|send \d+ bytes to \w+/")
    for line in text.splitlines():
        if head.search(line):
            cur = [] if line.find("recv ") >= 0 else None
            if cur is not None:
                blocks.append(cur)
            continue
        if cur is not None:
            t = (line.split("   ", 1)[-1] if "   " in line else line).strip()
            if t and t.strip("-"):
                cur.append(t)
    return [b for b in blocks if b and b[0].startswith(method + " ")]


@pytest.mark.parametrize("transport,host", [("udp", NAME), ("tcp", NAME), ("udp", "localhost")],
                         ids=["udp-name", "tcp-name", "udp-localhost"])
def test_tone_to_host_name(env, transport, host):
    """--to sip:USER@NAME:PORT with a name only the system's resolver knows (gai_shim answers a made-up name with
    127.0.0.1; localhost from /etc/hosts): the call goes to that address and runs as one to the numeric address does
    (the tone echoed back, the headers at the bot, our BYE answered). The INVITE that arrives keeps the name in its
    request URI and To and has no Route header; its ACK and the BYE arrive too. The SIP stack's own DNS client knows
    neither name: without the lookup the call ended in "503 DNS Error" (a transport error)."""
    environ, log = named(env, NAME) if host == NAME else ({}, None)
    if host == "localhost":
        try:
            socket.getaddrinfo("localhost", None, socket.AF_INET)
        except socket.gaierror:
            pytest.skip("getaddrinfo(\"localhost\") gives no IPv4 address on this machine")
    bot = env.testbot("echo")
    d = traced_daemon(env, bot)
    play = tone_wav(os.path.join(env.tmp, "in.wav"))
    rec = os.path.join(env.tmp, "out.wav")
    to = uri(d, host=host)
    res = call(to, play=play, record=rec, transport=transport, headers=ECHO_HEADERS, environ=environ)
    check_echo_call(res, rec, bot, "pcmu")
    if log:
        assert sbtest.gai_lookups(log, NAME) == 1, open(log).read()
    text = d.stderr_text()
    invites = received(text, "INVITE")
    assert invites, "no INVITE in the daemon's log:\n%s" % text[-4000:]
    for b in invites:
        assert b[0] == "INVITE %s%s SIP/2.0" % (to, ";transport=tcp" if transport == "tcp" else ""), b
        assert any(re.match(r"(To|t):\s*<%s>" % re.escape(to), l) for l in b), b
        assert not [l for l in b if re.match(r"(Route|r):", l, re.I)], b
    assert received(text, "ACK") and received(text, "BYE"), "no ACK or BYE from the tool in the daemon's log"


TLS_REFUSED = 3  # sipbridge-call's exit status when the server's certificate is refused


def tls_daemon_with(env, cert, key, **sip):
    """A traced daemon (TPORT_LOG) with a TLS listener presenting cert and key, sip.* keys set from sip, routing every
    call to an echo bot: returns (daemon, bot, TLS port)."""
    bot = env.testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}], log={"level": "debug"})
    cfg["sip"]["listen"].append({"transport": "tls", "address": "127.0.0.1", "port": tls_port, "cert": cert,
                                 "key": key, "ca": "", "verify_client": False})
    cfg["sip"].update(sip)
    return env.daemon(cfg, environ={"TPORT_LOG": "1"}), bot, tls_port


def check_tls_refused(res, host, reason, verbose):
    """The run ended as one whose server certificate was refused: exit status 3, nothing answered, a transport error
    in the JSON, and the line `sipbridge-call: TLS: the certificate of HOST failed verification: REASON` on stderr:
    the only line without -v, the last one with it."""
    assert res.returncode == TLS_REFUSED and res.json and not res.json["answered"], callctl.describe(res)
    assert res.json["code"] == 0 and res.json["reason"] == "transport error", callctl.describe(res)
    lines = res.stderr.strip().splitlines()
    want = "sipbridge-call: TLS: the certificate of %s failed verification: %s" % (host, reason)
    assert lines and lines[-1] == want, "want %r last:\n%s" % (want, callctl.describe(res))
    assert verbose or len(lines) == 1, callctl.describe(res)


@pytest.mark.parametrize("cert_name", [NAME, "other.sb.test", "127.0.0.1"], ids=["name", "other-name", "address"])
def test_tls_to_host_name_verifies_the_name(env, cert_name):
    """Over TLS a call to sip:USER@NAME:PORT (NAME known only to the system's resolver, which gives 127.0.0.1) goes
    to that address, and the daemon's certificate is still checked against NAME: one whose only name is NAME is
    taken and the call set up; one for another name, or for the address the call went to (127.0.0.1 as its DNS
    name, which the SIP stack would take for a call to the address), is refused at once, no call at the bot, and
    the tool says so in one line without -v: the certificate of NAME failed verification, it does not name NAME
    (exit status 3; before, only "transport error", and the SIP stack's own "Peer Subject Mismatch" with -v).
    With -v that line of the SIP stack is still printed."""
    tmp = os.path.join(env.tmp, "pki")
    os.makedirs(tmp)
    ca = pki.make_ca(tmp, "ca")
    d, bot, tls_port = tls_daemon_with(env, *pki.make_server_cert(tmp, "server", ca, dns=cert_name))
    environ, log = named(env, NAME)
    to = "sip:+15550001@%s:%d" % (NAME, tls_port)
    res = call(to, transport="tls", ca=ca[0], duration=2, timeout=10, environ=environ)
    assert sbtest.gai_lookups(log, NAME) == 1, open(log).read()
    if cert_name == NAME:
        assert res.returncode == 0, callctl.describe(res)
        assert res.json["code"] == 200 and res.json["rtp_received"] > 0, res.json
        bot.wait_event("rx", "stop")
        return
    check_tls_refused(res, NAME, "it does not name %s" % NAME, verbose=False)
    res = call(to, transport="tls", ca=ca[0], duration=2, timeout=10, environ=environ, args=["-v"])
    check_tls_refused(res, NAME, "it does not name %s" % NAME, verbose=True)
    assert "Peer Subject Mismatch (%s)" % NAME in res.stderr, callctl.describe(res)
    assert not bot.conns(), "a call reached the bot over a connection whose certificate does not name %s" % NAME
    assert not received(d.stderr_text(), "INVITE"), "an INVITE went over a refused connection"


PAST = ("20200101000000Z", "20200102000000Z")
FUTURE = ("20990101000000Z", "20990102000000Z")


@pytest.mark.parametrize("case,reason", [
    ("other-ca", "unable to get local issuer certificate (subject /CN=%s, issuer /CN=other test CA)" % NAME),
    ("expired", "certificate has expired (subject /CN=%s, issuer /CN=ca test CA)" % NAME),
    ("not-yet-valid", "certificate is not yet valid (subject /CN=%s, issuer /CN=ca test CA)" % NAME),
], ids=["other-ca", "expired", "not-yet-valid"])
def test_tls_refused_certificate_names_the_reason(env, case, reason):
    """A TLS server whose certificate names the --to host but cannot be verified (signed by a CA other than --ca's,
    past its notAfter, before its notBefore) is refused at once, and without -v the one line on stderr names the host
    and OpenSSL's reason with the certificate's subject and issuer (exit status 3); before, the run said only
    "transport error", and the reason was in the SIP stack's own lines with -v, which are still printed."""
    tmp = os.path.join(env.tmp, "pki")
    os.makedirs(tmp)
    ca = pki.make_ca(tmp, "ca")
    signer = pki.make_ca(tmp, "other") if case == "other-ca" else ca
    dates = {"expired": PAST, "not-yet-valid": FUTURE}.get(case)
    d, bot, tls_port = tls_daemon_with(env, *pki.make_server_cert(tmp, "server", signer, dns=NAME, dates=dates))
    environ, _ = named(env, NAME)
    to = "sip:+15550001@%s:%d" % (NAME, tls_port)
    res = call(to, transport="tls", ca=ca[0], duration=2, timeout=10, environ=environ)
    check_tls_refused(res, NAME, reason, verbose=False)
    res = call(to, transport="tls", ca=ca[0], duration=2, timeout=10, environ=environ, args=["-v"])
    check_tls_refused(res, NAME, reason, verbose=True)
    assert re.search(r"^  err \d+:%s$" % re.escape(reason.split(" (")[0]), res.stderr, re.M), callctl.describe(res)
    assert not bot.conns() and not received(d.stderr_text(), "INVITE"), "a call went over a refused connection"


def transport_log(text):
    """The SIP messages in the daemon's transport log: (direction "recv" or "send", peer as transport/[address]:port,
    the message's lines) in order."""
    head = re.compile(r"(recv|send) \d+ bytes (?:from|to) (\w+/\S+) at ")
    out = []
    for line in text.splitlines():
        m = head.search(line)
        if m:
            out.append((m.group(1), m.group(2), []))
            continue
        if out:
            t = (line.split("   ", 1)[-1] if "   " in line else line).strip()
            if t and t.strip("-"):
                out[-1][2].append(t)
    return out


def arrivals(text, method):
    """The peer of each SIP request of method the daemon's transport log shows received, in order."""
    return [peer for d, peer, lines in transport_log(text)
            if d == "recv" and lines and lines[0].startswith(method + " ")]


def answered_ok(text, peer, method):
    """Whether the daemon's transport log shows a 200 OK to a method request sent to peer."""
    return any(d == "send" and p == peer and lines and lines[0].startswith("SIP/2.0 200 ")
               and any(re.match(r"CSeq:\s*\d+ %s$" % method, l) for l in lines)
               for d, p, lines in transport_log(text))


def test_tls_bye_through_host_name_on_a_new_connection(env):
    """A call over TLS to sip:USER@NAME:PORT (NAME known only to the system's resolver) whose connection the daemon
    has closed (sip.tcp_idle_s) before the tool hangs up: the tool's BYE opens a new TLS connection to the same place
    as the INVITE, NAME's address with the certificate checked against NAME (the certificate names NAME only: a
    connection opened for the Contact's 127.0.0.1 would be refused), the daemon answers it and ends the call, and
    the tool reports a clean local hang-up."""
    tmp = os.path.join(env.tmp, "pki")
    os.makedirs(tmp)
    ca = pki.make_ca(tmp, "ca")
    d, bot, tls_port = tls_daemon_with(env, *pki.make_server_cert(tmp, "server", ca, dns=NAME), tcp_idle_s=1)
    environ, _ = named(env, NAME)
    run = callctl.start(None, "sip:+15550001@%s:%d" % (NAME, tls_port), transport="tls", ca=ca[0], duration=60,
                        timeout=10, environ=environ)
    try:
        bot.wait_event("rx", "start")
        sbtest.wait_until(lambda: arrivals(d.stderr_text(), "ACK"), 20, "the ACK at the daemon")
        sbtest.wait_until(lambda: not sipraw.server_connections(tls_port), 20,
                          "the daemon to close the call's idle TLS connection")
        run.proc.send_signal(signal.SIGINT)  # the tool hangs up: BYE
    except BaseException:
        run.proc.kill()
        run.proc.communicate()
        raise
    res = run.finish()
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["answered"] and j["hangup"] == "local" and j["rtp_received"] > 0, j
    sbtest.wait_until(lambda: arrivals(d.stderr_text(), "BYE"), 20, "the tool's BYE at the daemon")
    bot.wait_event("rx", "stop")
    text = d.stderr_text()
    invites, byes = arrivals(text, "INVITE"), arrivals(text, "BYE")
    assert len(invites) == 1 and len(byes) == 1, (invites, byes)
    assert byes[0] != invites[0], "the BYE came over the INVITE's connection %s" % invites[0]
    assert byes[0].startswith("tls/"), byes
    assert answered_ok(text, byes[0], "BYE"), "no 200 OK to the BYE on its connection:\n%s" % text[-4000:]


def test_dtmf_reaches_bot(env, bridge):
    d, bot = bridge("silent")
    res = call(uri(d), dtmf="12#", dtmf_at=0.5, duration=3)
    assert res.returncode == 0, callctl.describe(res)
    assert res.json["dtmf_sent"] == "12#" and res.json["hangup"] == "local", res.json
    got = bot.wait_event("rx", "dtmf", count=3)
    assert [e["msg"]["dtmf"]["digit"] for e in got] == ["1", "2", "#"], got
    for e in got:
        assert abs(int(e["msg"]["dtmf"]["duration"]) - 100) <= 40, e
    # half a second after the answer, 100 ms apart
    # (the bot's clock: the first key's way through the bridge may be slower than the second's)
    assert 120 <= got[1]["t_ms"] - got[0]["t_ms"] <= 400, got


BAD_WAVS = [
    pytest.param(lambda p: tone_wav(p, rate=16000), "16000 Hz", id="16khz"),
    pytest.param(lambda p: write_wav(p, rtp.tone(1000, 500) * 2, channels=2), "2 channels", id="stereo"),
    pytest.param(lambda p: write_wav(p, rtp.tone(1000, 500), width=1), "8-bit", id="8bit"),
    pytest.param(lambda p: open(p, "wb").write(b"RIFF\x24\x00\x00\x00WAVEjunk" * 3) and p, "no fmt chunk",
                 id="no-fmt"),
    pytest.param(lambda p: open(p, "wb").write(b"ID3\x03 not a wav at all") and p, "not a WAV file", id="mp3"),
    pytest.param(lambda p: p, "cannot read it", id="missing"),
]


@pytest.mark.parametrize("make,why", BAD_WAVS)
def test_bad_wav_places_no_call(env, make, why):
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.3)
    try:
        path = make(os.path.join(env.tmp, "bad.wav"))
        res = call("sip:+15550001@127.0.0.1:%d" % sink.getsockname()[1], play=path, timeout=2)
        assert res.returncode == 2, callctl.describe(res)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0] and why in lines[0], res.stderr
        assert res.json is None, res.stdout
        with pytest.raises(socket.timeout):
            sink.recvfrom(4096)  # no INVITE was sent
    finally:
        sink.close()


def test_target_and_local_of_other_families_is_a_usage_error(env):
    """A numeric --to host of the other address family than --local is a usage error that names both families: exit
    2, one line, nothing sent (not exit 1 with only "transport error"). The same target with --local of its family
    is called: its INVITE arrives."""
    sinks = {fam: socket.socket(fam, socket.SOCK_DGRAM) for fam in (socket.AF_INET, socket.AF_INET6)}
    try:
        for fam, s in sinks.items():
            s.bind(("127.0.0.1" if fam == socket.AF_INET else "::1", 0))
            s.settimeout(0.3)
        v4 = "sip:1@127.0.0.1:%d" % sinks[socket.AF_INET].getsockname()[1]
        v6 = "sip:1@[::1]:%d" % sinks[socket.AF_INET6].getsockname()[1]
        for to, local, want in ((v6, None, "the host [::1] is IPv6 but --local 127.0.0.1 is IPv4"),
                                (v6, "127.0.0.1", "the host [::1] is IPv6 but --local 127.0.0.1 is IPv4"),
                                (v4, "::1", "the host 127.0.0.1 is IPv4 but --local ::1 is IPv6")):
            res = call(to, local=local, timeout=2)
            assert res.returncode == 2 and res.json is None, callctl.describe(res)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and want in lines[0], res.stderr
        for s in sinks.values():
            with pytest.raises(socket.timeout):
                s.recvfrom(4096)  # no INVITE was sent
        # Control: the IPv6 target with an IPv6 --local is called (no answer comes: exit 1 at --timeout).
        res = call(v6, local="::1", timeout=1)
        assert res.returncode == 1 and res.json is not None, callctl.describe(res)
        data, _ = sinks[socket.AF_INET6].recvfrom(4096)
        assert data.startswith(b"INVITE sip:1@[::1]:"), data[:80]
    finally:
        for s in sinks.values():
            s.close()


def test_target_name_of_other_family_than_local_is_a_usage_error(env):
    """A --to host NAME that resolves to the other address family than --local only (gai_shim answers a made-up name
    with one address) is a usage error as a numeric one is: exit 2, one line naming the host, what it resolved to
    and --local, nothing sent (not exit 1 with only "transport error"). A name of --local's family is called at the
    address it resolved to (the SIP stack's own DNS client does not know it); a name whose lookup does not answer
    within the tool's wait is passed on to the SIP stack (exit 1 here: it cannot resolve it)."""
    sinks = {fam: socket.socket(fam, socket.SOCK_DGRAM) for fam in (socket.AF_INET, socket.AF_INET6)}
    try:
        for fam, s in sinks.items():
            s.bind(("127.0.0.1" if fam == socket.AF_INET else "::1", 0))
            s.settimeout(0.3)
        for name, addr, local, sink, want in (
                ("v4only.sb.test", "127.0.0.1", "::1", socket.AF_INET,
                 "the host v4only.sb.test resolves to 127.0.0.1, IPv4 only, but --local ::1 is IPv6"),
                ("v6only.sb.test", "::1", None, socket.AF_INET6,
                 "the host v6only.sb.test resolves to ::1, IPv6 only, but --local 127.0.0.1 is IPv4")):
            environ, log, release = sbtest.gai_shim(env.tmp, name, addr)
            open(release, "w").close()  # answered at once
            to = "sip:1@%s:%d" % (name, sinks[sink].getsockname()[1])
            res = call(to, local=local, timeout=2, environ=environ)
            assert res.returncode == 2 and res.json is None, callctl.describe(res)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and want in lines[0], res.stderr
            assert sbtest.gai_lookups(log, name) == 1, open(log).read()
            with pytest.raises(socket.timeout):
                sinks[sink].recvfrom(4096)  # no INVITE was sent to the refused target
            # Control: the same name with a --local of its family is called at the address it resolved to, the
            # request URI keeping the name (no answer comes: exit 1 at --timeout).
            res = call(to, local=addr, timeout=1, environ=environ)
            assert res.returncode == 1 and res.json is not None, callctl.describe(res)
            data, _ = sinks[sink].recvfrom(4096)
            assert data.startswith(("INVITE %s SIP/2.0\r\n" % to).encode()), data[:120]
            try:
                while True:  # its retransmissions
                    sinks[sink].recvfrom(4096)
            except socket.timeout:
                pass
        for s in sinks.values():
            with pytest.raises(socket.timeout):
                s.recvfrom(4096)  # nothing else was sent
        # A lookup that never answers is waited for a bounded time, then left to the SIP stack.
        stuck_dir = os.path.join(env.tmp, "stuck")  # a shim of its own: no release file
        os.mkdir(stuck_dir)
        environ, log, _ = sbtest.gai_shim(stuck_dir, "stuck.sb.test")
        res = call("sip:1@stuck.sb.test:%d" % sinks[socket.AF_INET].getsockname()[1], local="::1", timeout=1,
                   environ=environ)
        assert res.returncode == 1 and res.json is not None, callctl.describe(res)
        assert sbtest.gai_lookups(log, "stuck.sb.test") == 1
    finally:
        for s in sinks.values():
            s.close()


def test_unwritable_record_places_no_call(env):
    """A --record file that cannot be created, with a good --play file: exit 2 naming it, nothing sent, and the
    file's audio released (no leak report)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.3)
    try:
        rec = os.path.join(env.tmp, "no-such-dir", "out.wav")
        res = call("sip:+15550001@127.0.0.1:%d" % sink.getsockname()[1], play=tone_wav(os.path.join(env.tmp, "in.wav")),
                   record=rec, timeout=2)
        assert res.returncode == 2 and res.json is None, callctl.describe(res)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "--record" in lines[0] and rec in lines[0], res.stderr
        with pytest.raises(socket.timeout):
            sink.recvfrom(4096)  # no INVITE was sent
    finally:
        sink.close()


def test_tls_ca_without_certificate_is_a_usage_error(env):
    """--ca naming a file that holds no PEM certificate: exit 2 with a line naming the file, not "cannot bind SIP"."""
    for name, data in (("in.wav", None), ("broken.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")):
        path = os.path.join(env.tmp, name)
        if data is None:
            tone_wav(path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        res = call("sip:+15550001@127.0.0.1:9", transport="tls", ca=path, timeout=2)
        assert res.returncode == 2 and res.json is None, callctl.describe(res)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0] and "no PEM certificate" in lines[0], res.stderr


@pytest.mark.parametrize("case", ["404-no-route", "403-acl"])
def test_rejected_call(env, bridge, case):
    if case == "404-no-route":
        d, bot = bridge(trunk={"bots": [{"match": "salesbot", "bot": "default"}]})
        want = 404
    else:
        d, bot = bridge(trunk={"acl": ["127.0.0.2/32"]})
        want = 403
    res = call(uri(d), headers=["X-Customer-Header: supportbot"], duration=2, timeout=10)
    assert res.returncode == 1, callctl.describe(res)
    j = res.json
    assert j["code"] == want and j["answered"] is False and j["hangup"] == "none" and j["bye"] is None, j
    assert j["rtp_sent"] == 0 and j["duration_s"] == 0, j
    assert str(want) in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert bot.conns() == [], "a rejected call reached the bot"


def test_bot_hangs_up(env, bridge):
    """Two bursts of bot audio 600 ms apart, then the bot hangs up: two utterances, hangup remote, exit 0."""
    def burst(name):
        return [{"tone": {"hz": 700, "ms": 500, "key": "stream_sid"}},
                {"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": name}}},
                {"wait_event": "mark", "name": name}]
    script = burst("a") + [{"wait_ms": 600}] + burst("b") + [{"wait_ms": 300}, {"send": {"event": "hangup"}}]
    d, bot = bridge(script=script)
    rec = os.path.join(env.tmp, "out.wav")
    t0 = time.monotonic()
    res = call(uri(d), record=rec, duration=30)
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["hangup"] == "remote" and j["code"] == 200 and j["bye"] is None, j  # no BYE of ours: none sent
    assert j["utterances"] == 2, j
    assert j["duration_s"] < 10 and time.monotonic() - t0 < 15, j
    assert sum(loud_blocks(read_wav(rec))) in range(8, 13), "about 1 s of tone expected in the recording"
    bot.wait_closed(1)


def test_usage_errors(env):
    for args in (["--codec", "g729"], ["--transport", "sctp"], ["--dtmf", "12x"], ["--duration", "-1"],
                 ["--header", "NoColon"], ["--header", "Via: SIP/2.0/UDP x"], ["--local", "localhost"],
                 ["--bogus"]):
        res = call("sip:1@127.0.0.1:9", args=args, timeout=2)
        assert res.returncode == 2 and res.json is None, callctl.describe(res)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    exe = os.path.join(sbtest.build_dir(), callctl.EXE)
    h = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
    assert h.returncode == 0 and "marks" in h.stdout and "utterances" in h.stdout and '"crossed"' in h.stdout, h


def test_bad_uri_is_a_usage_error(env):
    """A --to URI, or a From/To header value, that the SIP stack cannot parse is a usage error naming it: exit 2, one
    line, nothing sent (not exit 1 with "cannot build the INVITE")."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.3)
    port = sink.getsockname()[1]
    try:
        for to in ("sip:1@127.0.0.1:abc", "sip:1@127.0.0.1:%d:7" % port, "sip:a%%zz@127.0.0.1:%d" % port,
                   "sip:1@[::1", "sip:1@127.0.0.1:99999", "sip:1@127.0.0.1:0"):
            res = call(to, timeout=2)
            assert res.returncode == 2 and res.json is None, callctl.describe(res)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and "--to" in lines[0] and to in lines[0], res.stderr
        for h in ("From: <sip:caller@127.0.0.1", "To: <sip:1@127.0.0.1:abc>"):
            res = call("sip:1@127.0.0.1:%d" % port, headers=[h], timeout=2)
            assert res.returncode == 2 and res.json is None, callctl.describe(res)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and "--header" in lines[0] and h in lines[0], res.stderr
        with pytest.raises(socket.timeout):
            sink.recvfrom(4096)  # no INVITE was sent
    finally:
        sink.close()


# ---------------------------------------------------------------------------------------------------------------
# A far end the test controls: SIPp answers, an RtpEndpoint is its media


class FarEnd:
    def __init__(self, env, fmts="0 101", pt=rtp.PT_PCMU, scenario="uas_agent.xml", keys=None):
        self.ep = env.endpoint(pt)
        k = {"agent_rtp_port": self.ep.port, "agent_fmts": fmts}
        k.update(keys or {})
        self.uas = sbtest.sipp_uas(env, scenario, keys=k)
        self.uri = "sip:agent@127.0.0.1:%d" % self.uas.port

    def call_async(self, **kw):
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("res", call(self.uri, **kw)), daemon=True)
        t.start()
        return t, out


def test_far_end_loss_junk_and_keys(env):
    far = FarEnd(env)
    rec = os.path.join(env.tmp, "out.wav")
    t, out = far.call_async(record=rec, duration=5, headers=["X-UUI: far-end"])
    far.ep.wait_packets(1, timeout=20)  # the tool's RTP: the endpoint learns where to send
    for junk in (b"\x00", b"not rtp at all", rtp.build_rtp(1, 0, 99, 7, b"\x00" * 160)):
        far.ep.send_raw(junk)
    tone = rtp.encode(rtp.PT_PCMU, rtp.tone(1000, 2000))
    far.ep.send_audio(tone, impair=rtp.Impair(drop_at=(20, 21, 22)))
    far.ep.send_dtmf("5", 120)
    far.ep.wait_tx_done(timeout=20)
    t.join(60)
    res = out["res"]
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["rtp_lost"] == 3 and j["rtp_invalid"] == 3, j
    assert j["dtmf_received"] == "5" and j["utterances"] == 1, j
    assert j["hangup"] == "local" and j["bye"] == "200", j
    assert abs(j["received_s"] - 1.94) <= 0.05, j  # 100 packets, 3 of them lost
    # the lost packets are 60 ms of silence in their place: the tone still spans 2 s
    pcm = read_wav(rec)
    big = [i for i, x in enumerate(pcm) if abs(x) > 2000]
    span = big[-1] - big[0]
    assert abs(span - 2 * RATE) <= 10, "the tone spans %d samples in the recording, sent 16000" % span
    quiet = longest = 0
    for x in pcm[big[0]:big[-1]]:
        quiet = quiet + 1 if abs(x) < 100 else 0
        longest = max(longest, quiet)
    assert abs(longest - 3 * 160) <= 10, "the gap of 3 lost packets is %d samples long" % longest
    assert far.uas.wait().rc == 0


def test_far_end_sends_no_rtp(env):
    far = FarEnd(env)
    res = call(far.uri, duration=1.5, headers=["X-UUI: silent"])
    assert res.returncode == 1, callctl.describe(res)
    assert res.json["code"] == 200 and res.json["rtp_received"] == 0, res.json
    assert "no RTP" in res.stderr, res.stderr
    assert far.uas.wait().rc == 0


def test_far_end_answers_another_codec(env):
    far = FarEnd(env, fmts="8 101")
    res = call(far.uri, codec="pcmu", duration=5, headers=["X-UUI: pcma"])
    assert res.returncode == 1, callctl.describe(res)
    assert res.json["answered"] is True and res.json["hangup"] == "local", res.json
    assert res.json["duration_s"] < 1, res.json
    assert "codec" in res.stderr, res.stderr
    assert far.uas.wait().rc == 0


def test_no_answer_times_out(env):
    """The far end rings and never answers: CANCEL at --timeout, code 0 "timeout", exit 1."""
    uas = sbtest.sipp_uas(env, "uas_agent_silent.xml")
    t0 = time.monotonic()
    res = call("sip:agent@127.0.0.1:%d" % uas.port, timeout=2)
    assert res.returncode == 1, callctl.describe(res)
    assert res.json["code"] == 0 and res.json["reason"] == "timeout", res.json
    assert time.monotonic() - t0 < 8
    assert uas.wait().rc == 0, "SIPp saw no CANCEL"



# ---------------------------------------------------------------------------------------------------------------
# What the tool's BYE got: a BYE the far end refuses, leaves unanswered or cannot take fails the run


def hang_up_after_audio(far, before_bye=None):
    """Calls far, sends the tool 200 ms of tone once its RTP arrives, runs before_bye(), then Ctrl-C: the tool's BYE.
    Returns the result and the seconds from the BYE to the tool's exit."""
    run = callctl.start(None, far.uri, duration=60, timeout=10)
    try:
        far.ep.wait_packets(1, timeout=20)
        far.ep.send_audio(rtp.encode(rtp.PT_PCMU, rtp.tone(1000, 200)))
        far.ep.wait_tx_done(timeout=20)
        if before_bye:
            before_bye()
        t0 = time.monotonic()
        run.hang_up()
    except BaseException:
        run.proc.kill()
        run.proc.communicate()
        raise
    res = run.finish()
    return res, time.monotonic() - t0


def check_failed_bye(res, bye, line):
    """An answered call with audio both ways whose BYE failed: exit 1, "bye" in the JSON, one line on stderr."""
    assert res.returncode == 1, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["answered"] and j["rtp_received"] > 0 and j["hangup"] == "local", j
    assert j["bye"] == bye, j
    assert res.stderr.strip().splitlines() == ["sipbridge-call: " + line], res.stderr


@pytest.mark.parametrize("status", ["500 Server Error", "403 Forbidden"])
def test_bye_refused_fails_the_call(env, status):
    scenario = os.path.join(sbtest.SCENARIOS, "uas_agent_bye_refused.xml")
    with open(scenario) as f:
        text = f.read()
    assert text.count("SIP/2.0 500 Server Error") == 1
    scenario = os.path.join(env.tmp, "uas_agent_bye_refused.xml")
    with open(scenario, "w") as f:
        f.write(text.replace("SIP/2.0 500 Server Error", "SIP/2.0 " + status))
    far = FarEnd(env, scenario=scenario)
    res, _ = hang_up_after_audio(far)
    check_failed_bye(res, status.split()[0], "the BYE was refused: " + status)
    r = far.uas.wait()
    assert r.rc == 0 and len(r.requests("BYE")) == 1, r.describe()


def test_bye_unanswered_fails_within_the_wait(env):
    """A BYE the far end takes in silence (UDP: retransmitted) is given up on after 3 s, not at timer F (32 s)."""
    far = FarEnd(env, scenario="uas_agent_bye_unanswered.xml", keys={"hold_ms": 5000})
    res, took = hang_up_after_audio(far)
    check_failed_bye(res, "timeout", "the BYE got no answer within 3 s")
    # 3 s and nua's shutdown (<= 1 s), with room for a slow machine; not timer F's 32 s
    assert 3.0 <= took < 12.0, "the tool ended %.1f s after its BYE" % took
    r = far.uas.wait()
    assert r.rc == 0 and len(r.requests("BYE")) >= 2, r.describe()  # sent and retransmitted


def test_bye_to_a_far_end_gone_is_a_transport_error(env):
    """The far end answers, then its process ends (SIP port closed): the BYE cannot be delivered (ICMP port
    unreachable), which the SIP stack reports at once as its own 503."""
    far = FarEnd(env, scenario="uas_agent_gone.xml")
    res, _ = hang_up_after_audio(far, before_bye=lambda: far.uas.wait())
    check_failed_bye(res, "transport error", "the BYE could not be sent: transport error")


def test_bye_crossed_by_the_far_ends_bye_is_not_a_failure(env):
    """Glare: the far end's own BYE arrives while the tool's is out (and once answered, the far end answers the
    tool's with 481). The far end ended the call too: "bye" is "crossed", exit 0, nothing on stderr."""
    far = FarEnd(env, scenario="uas_agent_bye_glare.xml")
    res, _ = hang_up_after_audio(far)
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["answered"] and j["rtp_received"] > 0 and j["hangup"] == "local" and j["bye"] == "crossed", j
    assert res.stderr.strip() == "", res.stderr
    r = far.uas.wait()
    assert r.rc == 0 and r.final_status("BYE") == 200, r.describe()  # the tool answered the far end's BYE

"""SIP over TLS: a daemon with UDP and TCP on one port and TLS on another takes a call over TLS from sipbridge-call
(which verifies the daemon's certificate against the test CA) and echoes its tone back, names TLS in what it sends
over that connection, and still takes a UDP call on the other port; its TLS socket refuses TLS 1.1 and accepts 1.2;
and `sipbridged -t` refuses a missing key file, a key that is not the certificate's, a certificate that is not PEM
and a tls entry without a certificate, naming FILE:LINE: KEY. Certificates are made per test with openssl."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import wave

import pytest

import callctl
import rtp
import sbtest
import sipraw

RATE = 8000
TONE_S = 3.0
OPENSSL_ENV = dict(os.environ, OPENSSL_CONF="/dev/null")  # no system policy: the test decides


def openssl(*args, **kw):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60, env=OPENSSL_ENV, **kw)
    assert p.returncode == 0, "openssl %s failed:\n%s" % (" ".join(args), p.stderr.decode(errors="replace"))
    return p


class Pki:
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it, in dir."""

    def __init__(self, d):
        os.makedirs(d)
        self.ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca-key.pem")
        self.cert, self.key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        self.other_key = os.path.join(d, "other-key.pem")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "2",
                "-subj", "/CN=sipbridge test CA")
        csr, ext = os.path.join(d, "req.csr"), os.path.join(d, "ext.cnf")
        openssl("req", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1")
        with open(ext, "w") as f:
            # sofia-sip compares the server's name with the DNS names only (not IP entries, nor the CN when
            # there are names): an address is listed as a DNS name too
            f.write("subjectAltName=DNS:127.0.0.1,DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", self.cert, "-days", "2", "-extfile", ext)
        openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.other_key)
        # a client certificate from the same CA
        self.client, self.client_key = os.path.join(d, "client.pem"), os.path.join(d, "client-key.pem")
        openssl("req", *ec, "-keyout", self.client_key, "-out", csr, "-subj", "/CN=sipbridge test client")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", self.client, "-days", "2")


@pytest.fixture
def pki(env):
    return Pki(os.path.join(env.tmp, "pki"))


def tls_entry(pki, port, **kw):
    e = {"transport": "tls", "address": "127.0.0.1", "port": port, "cert": pki.cert, "key": pki.key, "ca": "",
         "verify_client": False}
    e.update(kw)
    return e


def tls_daemon(env, pki, bot, log_level="info"):
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}], log={"level": log_level})
    cfg["sip"]["listen"].append(tls_entry(pki, tls_port))
    d = env.daemon(cfg)
    return d, tls_port


def tone_wav(path):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(rtp.pcm16le(rtp.tone(1000, int(TONE_S * 1000))))
    return path


def loud_seconds(path, block=800, level=1000):
    with wave.open(path) as w:
        pcm = rtp.from_pcm16le(w.readframes(w.getnframes()))
    loud = [rtp.rms(pcm[i:i + block]) > level for i in range(0, len(pcm) - block + 1, block)]
    return pcm, loud


def sip_blocks(text, direction, proto):
    """The SIP messages the daemon's transport log shows sent to / received from proto ("tls", "udp"): a list of
    message texts (one line each, the log prefix cut off)."""
    blocks, cur = [], None
    head = re.compile(r"(send|recv) \d+ bytes (to|from) (\w+)/")
    for line in text.splitlines():
        m = head.search(line)
        if m:
            cur = [] if (m.group(1) == direction and m.group(3) == proto) else None
            if cur is not None:
                blocks.append(cur)
            continue
        if cur is not None:
            text = line.split("   ", 1)[-1].strip() if "   " in line else line.strip()
            if text and text.strip("-"):  # not a separator line
                cur.append(text)
    return ["\n".join(b) for b in blocks]


def call_and_check_contact(d, transport, contact, host="127.0.0.1"):
    """A 2 s call to d's udp/tcp port at host over transport: the 200 OK to its INVITE, sent over transport, has
    exactly the given Contact, and the caller's ACK and BYE came back over transport (none over another)."""
    res = callctl.sipbridge_call(None, "sip:+15550001@%s:%d" % (host, d.sip_port), transport=transport, duration=2)
    assert res.returncode == 0 and res.json["code"] == 200 and res.json["bye"] == "200", callctl.describe(res)
    # the log writer may still hold the last lines when the call tool exits
    sbtest.wait_until(lambda: any(b.startswith("BYE ") for b in sip_blocks(d.stderr_text(), "recv", transport)),
                      10, "the caller's BYE over %s in the daemon's log" % transport)
    text = d.stderr_text()
    sent = [b for b in sip_blocks(text, "send", transport)
            if b.startswith("SIP/2.0 200") and re.search(r"^(CSeq: \d+ INVITE)$", b, re.M)]
    assert sent, "no 200 OK to the INVITE over %s in:\n%s" % (transport, text[-4000:])
    for ok in sent:  # over UDP it may have been sent again before the ACK came
        got = [l for l in ok.splitlines() if l.lower().startswith(("contact:", "m:"))]
        assert got == ["Contact: " + contact], ok
    got = sip_blocks(text, "recv", transport)
    assert any(b.startswith("ACK ") for b in got) and any(b.startswith("BYE ") for b in got), got
    other = [b for tp in ("udp", "tcp") if tp != transport for b in sip_blocks(text, "recv", tp)
             if b.startswith(("ACK ", "BYE "))]
    assert not other, "the caller over %s sent its ACK or BYE over another transport: %s" % (transport, other)


def test_call_over_tls_and_udp(env, pki, monkeypatch):
    monkeypatch.setenv("TPORT_LOG", "1")  # the daemon's debug log shows every SIP message and its transport
    bot = env.testbot("echo")
    d, tls_port = tls_daemon(env, pki, bot, log_level="debug")
    play = tone_wav(os.path.join(env.tmp, "in.wav"))
    rec = os.path.join(env.tmp, "out.wav")
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, play=play, record=rec,
                                 transport="tls", ca=pki.ca)
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["answered"] is True and j["hangup"] == "local", j
    assert j["rtp_received"] > 0 and j["received_s"] >= TONE_S, j
    # the tone came back through the echo bot: about 3 s of it, 1 kHz in its middle
    pcm, loud = loud_seconds(rec)
    assert abs(sum(loud) / 10.0 - TONE_S) <= 0.5, "echoed tone lasts %.1f s" % (sum(loud) / 10.0)
    first = loud.index(True)
    assert rtp.dominant(pcm[first * 800 + RATE:first * 800 + 2 * RATE], 1000), "1 kHz is not in the echo"
    bot.wait_event("rx", "stop")

    # What the daemon sent over TLS names TLS: the 200 OK's Contact points at the TLS listener (sips: or
    # transport=tls), and the caller's ACK and BYE came back to it over TLS.
    text = d.stderr_text()
    sent = [b for b in sip_blocks(text, "send", "tls") if b.startswith("SIP/2.0 200") and "INVITE" in b]
    assert sent, "no 200 OK to the INVITE sent over TLS in the daemon's log:\n%s" % text[-4000:]
    contact = [l for l in sent[0].splitlines() if l.lower().startswith(("contact:", "m:"))]
    assert contact and ("sips:" in contact[0] or "transport=tls" in contact[0].lower()), sent[0]
    assert ":%d" % tls_port in contact[0], (tls_port, contact)
    assert re.search(r"^(Via|v): SIP/2.0/TLS ", sent[0], re.M), sent[0]
    got = sip_blocks(text, "recv", "tls")
    assert any(b.startswith("ACK ") for b in got) and any(b.startswith("BYE ") for b in got), got
    assert not [b for b in sip_blocks(text, "send", "udp") if "INVITE" in b], "TLS call answered over UDP"

    # UDP on the other port still works: its 200 OK's Contact names the udp/tcp listener, not the sips: one a caller
    # over UDP cannot reach, and the ACK and BYE come back over UDP
    call_and_check_contact(d, "udp", "<sip:127.0.0.1:%d>" % d.sip_port)



@pytest.mark.parametrize("listen", ["udp_tcp", "udp_tcp_tls", "wildcard"])
def test_call_over_tcp_names_tcp_in_contact(env, pki, monkeypatch, listen):
    """A call over TCP, with UDP listened on the same port: the 200 OK's Contact says transport=tcp (a URI without it
    resolves to UDP, which a TCP-only caller cannot use), and the caller's ACK and BYE come back over TCP. Bound to
    0.0.0.0, the Contact names the address that routes to the caller, not the Request-URI's host (a proxy's, or a
    name: here localhost)."""
    monkeypatch.setenv("TPORT_LOG", "1")
    bot = env.testbot("echo")
    if listen == "udp_tcp_tls":
        d, _ = tls_daemon(env, pki, bot, log_level="debug")
    else:
        cfg = env.config([{"name": "default", "url": bot.url}], log={"level": "debug"})
        if listen == "wildcard":
            for e in cfg["sip"]["listen"]:
                e["address"] = "0.0.0.0"
        d = env.daemon(cfg)
    call_and_check_contact(d, "tcp", "<sip:127.0.0.1:%d;transport=tcp>" % d.sip_port,
                           host="localhost" if listen == "wildcard" else "127.0.0.1")


def test_tone_over_tls_and_srtp(env, pki):
    """SDES-SRTP over TLS is taken with rtp.srtp_over_udp off (the keys travelled encrypted): a 1 kHz tone goes to the
    echo bot and back as SRTP, one tampered packet is dropped and counted, and neither key reaches the log."""
    bot = env.testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}], log={"level": "debug"})
    cfg["rtp"]["srtp"] = "required"
    cfg["sip"]["listen"].append(tls_entry(pki, tls_port))
    d = env.daemon(cfg)
    play = tone_wav(os.path.join(env.tmp, "in.wav"))
    rec = os.path.join(env.tmp, "out.wav")
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, play=play, record=rec,
                                 transport="tls", ca=pki.ca, args=["--srtp", "--tamper-at", "1.5", "-v"])
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["srtp"] is True and j["tampered"] == 1, j
    assert j["srtp_rx_failed"] == 0 and j["rtp_received"] > 0 and j["received_s"] >= TONE_S, j
    pcm, loud = loud_seconds(rec)
    assert abs(sum(loud) / 10.0 - TONE_S) <= 0.5, "echoed tone lasts %.1f s" % (sum(loud) / 10.0)
    first = loud.index(True)
    assert rtp.dominant(pcm[first * 800 + RATE:first * 800 + 2 * RATE], 1000), "1 kHz is not in the echo"
    line = sbtest.wait_until(lambda: re.search(r"SRTP: (\d+) packet\(s\) dropped for failed authentication, "
                                               r"(\d+) replayed", d.stderr_text()), 20, "the SRTP end-of-call line")
    assert (int(line.group(1)), int(line.group(2))) == (1, 0), line.group(0)
    log = d.stderr_text()
    assert "clear text" not in log, "SRTP over TLS was treated as plain SIP"
    keys = set(re.findall(r"inline:([A-Za-z0-9+/]{40})", res.stderr))
    assert len(keys) == 2, res.stderr[-3000:]  # ours and the daemon's
    for k in keys:
        assert k not in log, "an SRTP key is in the daemon's log"


def test_tls_call_refused_without_the_ca(env, pki):
    """Verification is on by default: the daemon's certificate is not signed by any CA the system trusts. The
    refused connection fails the INVITE at once (a transport error), not at --timeout, and the one line on stderr
    says why (exit status 3)."""
    bot = env.testbot("echo")
    _, tls_port = tls_daemon(env, pki, bot)
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, transport="tls", duration=1,
                                 timeout=10)
    assert res.returncode == 3 and res.json and not res.json["answered"], callctl.describe(res)
    assert res.json["reason"] == "transport error", callctl.describe(res)
    want = ("sipbridge-call: TLS: the certificate of 127.0.0.1 failed verification: unable to get local issuer "
            "certificate (subject /CN=127.0.0.1, issuer /CN=sipbridge test CA)\n")
    assert res.stderr == want, callctl.describe(res)
    assert not bot.conns(), "a call reached the bot over an unverified connection"


def handshake(port, version, ca, cert=()):
    """openssl s_client at the given protocol version, with a cipher policy that allows old versions (so only the
    server can refuse), optionally with a client certificate (cert, key). Returns (ok, output)."""
    extra = ["-cert", cert[0], "-key", cert[1]] if cert else []
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, version, "-CAfile", ca,
                        "-cipher", "DEFAULT@SECLEVEL=0", "-verify_return_error"] + extra,
                       input=b"", capture_output=True, timeout=60, env=OPENSSL_ENV)
    out = (p.stdout + p.stderr).decode(errors="replace")
    ok = p.returncode == 0 and re.search(r"Protocol\s*: TLSv1\.[0-9]", out) is not None and "Cipher is (NONE)" not in out
    return ok, out


def test_tls_versions(env, pki):
    bot = env.testbot("echo")
    _, tls_port = tls_daemon(env, pki, bot)
    ok, out = handshake(tls_port, "-tls1_2", pki.ca)
    assert ok and "TLSv1.2" in out, out
    ok, out = handshake(tls_port, "-tls1_1", pki.ca)
    assert not ok, "TLS 1.1 handshake accepted:\n%s" % out


def test_verify_client(env, pki):
    """verify_client: a TLS client without a certificate from ca is refused in the handshake, one with it gets
    through."""
    bot = env.testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["sip"]["listen"].append(tls_entry(pki, tls_port, ca=pki.ca, verify_client=True))
    env.daemon(cfg)
    ok, out = handshake(tls_port, "-tls1_2", pki.ca)
    assert not ok, "handshake without a client certificate accepted:\n%s" % out
    ok, out = handshake(tls_port, "-tls1_2", pki.ca, cert=(pki.client, pki.client_key))
    assert ok, out


def test_tls11_client_works_elsewhere(env, pki):
    """The TLS 1.1 client of test_tls_versions can handshake with a server that allows 1.1: its failure against
    the daemon is the daemon's refusal."""
    port = env.ports.tcp()
    srv = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", pki.cert, "-key",
                            pki.key, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-quiet"],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=OPENSSL_ENV)
    try:
        def listening(_=None):
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        sbtest.wait_until(listening, 30, "openssl s_server listening")
        ok, out = handshake(port, "-tls1_1", pki.ca)
        assert ok and "TLSv1.1" in out, out
    finally:
        srv.kill()
        srv.wait(10)


def check_refused(env, pki, entry, needle, key, why, line_delta=0):
    cfg = env.config([{"name": "default", "url": "ws://127.0.0.1:9/media"}])
    cfg["sip"]["listen"].append(entry)
    text = sbtest.to_libconfig(cfg)
    path = os.path.join(env.tmp, "bad-%d.conf" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(text)
    line = sbtest.line_of(text, needle, start=sbtest.line_of(text, '"tls"') - 1) + line_delta
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2, "expected exit 2, got %s\n%s%s" % (rc, out, err)
    want = "%s:%d: sip.listen[2].%s: %s" % (path, line, key, why)
    assert want in err, "wanted %r in:\n%s" % (want, err)
    assert "PRIVATE KEY" not in out + err and "CERTIFICATE-----" not in out + err, err


def test_check_config_refuses_bad_tls_files(env, pki):
    port = env.ports.tcp()
    missing = os.path.join(env.tmp, "nonexistent-key.pem")
    check_refused(env, pki, tls_entry(pki, port, key=missing), "key =", "key",
                  "cannot read %s: No such file or directory" % missing)
    check_refused(env, pki, tls_entry(pki, port, key=pki.other_key), "key =", "key",
                  "%s does not match the certificate in %s" % (pki.other_key, pki.cert))
    notpem = os.path.join(env.tmp, "cert.der")
    openssl("x509", "-in", pki.cert, "-outform", "DER", "-out", notpem)
    check_refused(env, pki, tls_entry(pki, port, cert=notpem), "cert =", "cert",
                  "%s is not a PEM certificate" % notpem)
    entry = tls_entry(pki, port)
    del entry["cert"]
    # a key missing from the entry: the entry's own line, where its "{" is (the line above its transport)
    check_refused(env, pki, entry, '"tls"', "cert", 'missing (required for transport "tls")', line_delta=-1)


def read_response(conn, want, timeout=30):
    """Reads SIP messages off a TLS connection until a response whose status line starts with want."""
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        while b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            n = int((re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head) or [0, b"0"])[1])
            if len(rest) < n:
                break
            buf = rest[n:]
            text = head.decode(errors="replace")
            if text.startswith("SIP/2.0 " + want):
                return text
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = conn.recv(65535)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
    raise AssertionError("no %s response within %d s" % (want, timeout))


def test_contact_for_a_sip_uri_caller_over_tls(env, pki):
    """A caller that reaches the TLS port with a sip: URI and transport=tls (as most trunks do) gets a Contact on
    the TLS listener, not on the UDP/TCP port."""
    bot = env.testbot("echo")
    d, tls_port = tls_daemon(env, pki, bot)
    # after a reload, whose new snapshot replaces the one the listener was set up from
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Configuration reloaded" in d.stderr_text(), 10, "the reload to be logged")
    media = env.endpoint(pt=rtp.PT_PCMU)
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        lport = conn.getsockname()[1]
        ruri = "sip:+15550001@127.0.0.1:%d;transport=tls" % tls_port
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\n" % media.port).encode()
        contact = b"Contact: <sip:caller@127.0.0.1:%d;transport=tls>\r\nContent-Type: application/sdp\r\n" % lport
        conn.sendall(sipraw_request(ruri, lport, contact, sdp))
        ok = read_response(conn, "200")
        m = [l for l in ok.splitlines() if l.lower().startswith(("contact:", "m:"))]
        assert m and ("sips:" in m[0] or "transport=tls" in m[0].lower()) and ":%d" % tls_port in m[0], ok
        to = re.search(r"(?im)^(?:to|t)\s*:\s*(.*)$", ok).group(1).strip()
        conn.sendall(sipraw_request(ruri, lport, b"", b"", method="ACK", to=to))
        conn.sendall(sipraw_request(ruri, lport, b"", b"", method="BYE", to=to, cseq=2))
        read_response(conn, "200")
    finally:
        conn.close()


def sipraw_request(ruri, lport, extra, body, method="INVITE", to=None, cseq=1):
    """A request over the test's TLS connection (Via names it: SIP/2.0/TLS 127.0.0.1:lport)."""
    head = ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:%d;branch=z9hG4bK-tls-%s-%d\r\n"
            "From: <sip:caller@127.0.0.1>;tag=f-tls\r\n"
            "To: %s\r\n"
            "Call-ID: tls-contact-1\r\n"
            "CSeq: %d %s\r\n"
            "Max-Forwards: 70\r\n" % (method, ruri, lport, method.lower(), cseq, to or "<%s>" % ruri,
                                      1 if method == "ACK" else cseq, method))
    return head.encode() + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_guard_covers_tls(env, pki):
    """The SIP guard treats the TLS port as its TCP port: a host outside every ACL cannot connect, connections
    beyond sip.tcp_max_per_source are closed at once, and idle ones after sip.tcp_idle_s (here connections
    that never even start the handshake)."""
    bot = env.testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}], trunk={"acl": ["127.0.0.1/32"]})
    cfg["sip"].update(tcp_idle_s=6, tcp_max_per_source=2)
    cfg["sip"]["listen"].append(tls_entry(pki, tls_port, address="0.0.0.0"))
    d = env.daemon(cfg)
    for _ in range(5):
        assert sipraw.connect_refused_or_silent(tls_port, "127.0.0.2", timeout=0.3)
    assert sipraw.server_connections(tls_port) == []
    conns = [sipraw.Tcp(tls_port) for _ in range(4)]
    try:
        sbtest.wait_until(lambda: len(sipraw.server_connections(tls_port)) == 2, 5,
                          "the connections over tcp_max_per_source to close")
        sbtest.wait_until(lambda: sipraw.server_connections(tls_port) == [], 20, "the idle connections to close")
        assert all(c.wait_eof(5) for c in conns), "a TLS connection the daemon closed is still open"
    finally:
        for c in conns:
            c.close()
    # TLS from inside the ACL still works
    ok, out = handshake(tls_port, "-tls1_2", pki.ca)
    assert ok, out
    assert d.alive()


def test_private_certificate_directory(env, pki, monkeypatch):
    """The key and certificate are copied into a private directory for the SIP stack (0700, files 0600,
    agent.pem = key + certificate), which is gone once the daemon has stopped."""
    tmp = os.path.join(env.tmp, "rt")
    os.makedirs(tmp)
    monkeypatch.setenv("TMPDIR", tmp)
    bot = env.testbot("echo")
    d, _ = tls_daemon(env, pki, bot)
    dirs = os.listdir(tmp)
    assert len(dirs) == 1 and dirs[0].startswith("sipbridge-tls."), dirs
    path = os.path.join(tmp, dirs[0])
    assert os.stat(path).st_mode & 0o777 == 0o700
    assert sorted(os.listdir(path)) == ["agent.pem", "cafile.pem"], os.listdir(path)
    for f in ("agent.pem", "cafile.pem"):
        assert os.stat(os.path.join(path, f)).st_mode & 0o777 == 0o600, f
    with open(pki.key, "rb") as k, open(pki.cert, "rb") as c, open(os.path.join(path, "agent.pem"), "rb") as a:
        assert a.read() == k.read() + c.read()
    d.stop()
    assert os.listdir(tmp) == [], "left behind: %s" % os.listdir(tmp)


def test_tls_only(env, pki):
    """A daemon with a tls entry alone listens for SIP over TLS only, and takes a call there."""
    bot = env.testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["sip"]["listen"] = [tls_entry(pki, tls_port)]
    d = env.daemon(cfg)
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, transport="tls", ca=pki.ca,
                                 duration=1)
    assert res.returncode == 0 and res.json["code"] == 200, callctl.describe(res)
    bot.wait_event("rx", "stop")
    assert d.alive()


def test_bad_first_line_over_tls_closes_cleanly(env, pki):
    """A first line the SIP stack cannot parse (RFC 4475 intmeth), sent over TLS: the connection is closed and
    nothing in plain text is written into the TLS stream (the client sees an end, never a broken record)."""
    bot = env.testbot("echo")
    d, tls_port = tls_daemon(env, pki, bot)
    with open(os.path.join(sbtest.HERE, "data", "rfc4475", "intmeth.dat"), "rb") as f:
        msg = f.read()
    ctx = ssl.create_default_context(cafile=pki.ca)
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=10),
                           server_hostname="127.0.0.1")
    lport = conn.getsockname()[1]
    conn.sendall(sipraw.with_via(msg, b"TLS", b"127.0.0.1:%d" % lport))
    got, end = b"", None
    deadline = time.monotonic() + 20
    while end is None and time.monotonic() < deadline:
        try:
            x = conn.recv(65535)
            if not x:
                end = "eof"
            got += x
        except socket.timeout:
            continue
        except ssl.SSLEOFError:
            end = "eof"  # closed without close_notify: still an end, not garbage
        except ssl.SSLError as e:
            end = "ssl error: %s" % e
    conn.close()
    assert end == "eof", "TLS connection ended with %s after %r" % (end, got)
    assert d.alive()


def test_reload_checks_tls_files(env, pki):
    """A reload checks the TLS files again: a key replaced by one that does not match is refused with its key
    named, the running configuration stays and TLS calls go on."""
    bot = env.testbot("echo")
    d, tls_port = tls_daemon(env, pki, bot)
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Configuration reloaded" in d.stderr_text(), 10, "the reload to be logged")
    shutil.copyfile(pki.other_key, pki.key)
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Reload refused" in d.stderr_text(), 10, "the reload to be refused")
    assert re.search(r"Reload refused.*sip\.listen\[2\]\.key: .* does not match the certificate", d.stderr_text())
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, transport="tls", ca=pki.ca,
                                 duration=1)
    assert res.returncode == 0 and res.json["code"] == 200, callctl.describe(res)
    assert "PRIVATE KEY" not in d.stderr_text()


def test_bot_hangup_reaches_a_tls_caller(env, pki):
    """The bridge's own BYE (the bot hung up) reaches a caller that has only a TLS transport: it goes to the
    caller's sips: Contact over TLS."""
    bot = env.testbot(script=[{"wait_ms": 1000}, {"send": {"event": "hangup"}}])
    _, tls_port = tls_daemon(env, pki, bot)
    t0 = time.monotonic()
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, transport="tls", ca=pki.ca,
                                 duration=30)
    assert res.returncode == 0 and res.json["hangup"] == "remote", callctl.describe(res)
    assert res.json["duration_s"] < 20 and time.monotonic() - t0 < 25, res.json


def test_reload_keeps_the_tls_listener(env, pki):
    """sip.listen is read at start-up: a reload that moves the tls entry's certificate keeps the running listener
    (with its copies of the files) and says a restart is needed."""
    bot = env.testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["sip"]["listen"].append(tls_entry(pki, tls_port))
    d = env.daemon(cfg)
    moved = os.path.join(env.tmp, "moved-cert.pem")
    shutil.copyfile(pki.cert, moved)
    cfg["sip"]["listen"][-1]["cert"] = moved
    with open(d.conf_path, "w") as f:
        f.write(sbtest.to_libconfig(cfg))
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "take effect only after a restart" in d.stderr_text(), 10, "the restart keys logged")
    line = [l for l in d.stderr_text().splitlines() if "take effect only after a restart" in l][-1]
    assert "sip.listen" in line, line
    res = callctl.sipbridge_call(None, "sip:+15550001@127.0.0.1:%d" % tls_port, transport="tls", ca=pki.ca,
                                 duration=1)
    assert res.returncode == 0 and res.json["code"] == 200, callctl.describe(res)
    d.stop()  # the kept entries are freed once: a clean exit

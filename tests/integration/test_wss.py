"""wss:// bots: the certificate is verified against the bot's ca_file (or the system store) and the URL's host name,
the host name is resolved off the ws thread and still sent as Host and SNI, Basic auth and configured headers reach
the bot over TLS, a refused certificate fails the call as an unreachable bot does (503), and tls_verify = false is
warned about at start-up; a bot ending its TLS session ends the call, and a server that does not speak TLS fails the
attempt at once with the reason; the next call to the same bot resumes the TLS session the last one was given.
Certificates are made in the test's tmp dir with the openssl command line (pki.py)."""

import base64
import os
import shutil
import signal
import socket
import threading

import pytest

import rtp
import sbtest
import wsbot
from pki import make_ca, make_server_cert, server_context


@pytest.fixture
def pki(env):
    ca = make_ca(env.tmp, "ca")
    return {
        "ca": ca,
        "other_ca": make_ca(env.tmp, "other"),
        "localhost": make_server_cert(env.tmp, "localhost", ca, "localhost"),
        "otherhost": make_server_cert(env.tmp, "otherhost", ca, "otherhost"),
    }


def start(env, pki, cert="localhost", url=None, admin=None, **bot):
    """A TLS echo testbot with the given server certificate and a daemon whose one bot has the given keys (and whose
    admin API listens on port admin, if given)."""
    b = env.testbot("echo", tls=pki[cert])
    cfg = dict({"name": "tlsbot", "url": url.format(port=b.port) if url else b.url}, **bot)
    extra = {"admin": {"address": "127.0.0.1", "port": admin}} if admin else {}
    d = env.daemon(env.config([cfg], **extra))
    return d, b


def echo_call(env, sipp, d, customer="salesbot", when_echoed=None):
    """A call whose caller audio comes back through the echo bot (then when_echoed() runs, while the call is still
    up); returns the SIPp result."""
    pt = rtp.PT_PCMA
    ep = env.endpoint(pt)
    call = sipp("uac_call.xml", d, keys={"fmts": "8 0", "customer": customer}, rtp_port=ep.port,
                until_told=True).start()
    ep.wait_packets(1, timeout=20)
    noise = rtp.noise_octets(pt, 8000, seed=9)
    ep.send_audio(rtp.encode(pt, rtp.tone(1000, 400)) + noise)

    ep.wait_echo(noise, 15)
    if when_echoed:
        when_echoed()
    return call.hang_up().wait()


def rejected_call(env, sipp, d, bot, reason):
    """A call that must get 503 before answer, no bot session, and `reason` in the daemon's log."""
    res = sipp("uac_reject.xml", d, rtp_port=env.endpoint().port).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 503, res.describe()
    assert bot.conns() == [], "the bot got a WebSocket session over a refused certificate"
    sbtest.wait_until(lambda: reason in d.stderr_text(), 10, "%r in the daemon's log" % reason)
    return res


def test_verified_with_ca_file_auth_and_headers(env, pki, sipp):
    d, b = start(env, pki, url="wss://bot-user:s3cret-token@localhost:{port}/media", ca_file=pki["ca"][0],
                 headers=["X-Test: over-tls"])
    res = echo_call(env, sipp, d)
    assert res.rc == 0, res.describe()
    opened = b.select("open")[0]
    h = opened["headers"]
    assert h.get("authorization") == "Basic " + base64.b64encode(b"bot-user:s3cret-token").decode(), opened
    assert h.get("x-test") == "over-tls", opened
    # Connected to the resolved address, but Host (and SNI, which the certificate check proves) keep the name.
    assert h.get("host") == "localhost:%d" % b.port, opened
    log = d.stderr_text()
    assert "verification is OFF" not in log
    assert "s3cret-token" not in log, "the bot's token was logged"


@pytest.mark.parametrize("ca_file", [pytest.param("other", id="untrusted-ca-file"),
                                     pytest.param(None, id="system-store")])
def test_untrusted_certificate_rejected(env, pki, sipp, ca_file):
    bot = {"ca_file": pki["other_ca"][0]} if ca_file else {}
    d, b = start(env, pki, **bot)
    rejected_call(env, sipp, d, b, "TLS certificate verification failed: unable to get local issuer certificate")


@pytest.mark.parametrize("cert,url,reason", [
    pytest.param("otherhost", None, "hostname mismatch", id="other-name"),
    pytest.param("localhost", "wss://127.0.0.1:{port}/media", "IP address mismatch", id="ip-not-in-cert"),
])
def test_wrong_host_rejected(env, pki, sipp, cert, url, reason):
    d, b = start(env, pki, cert=cert, url=url, ca_file=pki["ca"][0])
    rejected_call(env, sipp, d, b, "TLS certificate verification failed: " + reason)


def test_verification_off_warns_and_connects(env, pki, sipp):
    d, b = start(env, pki, cert="otherhost", ca_file=pki["other_ca"][0], tls_verify=False)
    warning = "bot tlsbot: TLS certificate verification is OFF"
    sbtest.wait_until(lambda: warning in d.stderr_text(), 10, "the start-up warning about tls_verify = false")
    res = echo_call(env, sipp, d)
    assert res.rc == 0, res.describe()
    assert b.select("open"), "no WebSocket session at the bot"
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: d.stderr_text().count(warning) == 2, 10, "the warning again after a reload")


def test_next_call_resumes_the_tls_session(env, pki, sipp):
    admin = env.ports.tcp()
    d, b = start(env, pki, admin=admin, ca_file=pki["ca"][0])
    full, resumed = ('sipbridge_bot_tls_handshakes_total{session="%s"}' % k for k in ("full", "resumed"))
    for n in (1, 2, 3):
        res = echo_call(env, sipp, d)
        assert res.rc == 0, res.describe()
        assert len(b.select("open")) == n
    # Only the first call exchanged and checked the certificate; each call's audio came back through its own.
    assert (sbtest.metric(admin, full), sbtest.metric(admin, resumed)) == (1, 2)


def test_ca_file_added_by_reload(env, pki, sipp):
    """A ca_file that first appears in a reloaded configuration is loaded by the ws worker when a call needs it."""
    b = env.testbot("echo", tls=pki["localhost"])
    d = env.daemon(env.config([{"name": "tlsbot", "url": b.url}]))
    rejected_call(env, sipp, d, b, "TLS certificate verification failed: unable to get local issuer certificate")
    with open(d.conf_path, "w") as f:
        f.write(sbtest.to_libconfig(env.config([{"name": "tlsbot", "url": b.url, "ca_file": pki["ca"][0]}])))
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Configuration reloaded" in d.stderr_text(), 10, "the reload")
    res = echo_call(env, sipp, d)
    assert res.rc == 0, res.describe()
    assert b.select("open"), "no WebSocket session at the bot after the reload"


def test_ca_files_renamed_by_reloads_keep_loading(env, pki, sipp):
    """Reloads that keep naming new ca_file paths (a CA bundle rotated under versioned names) never exhaust the ws
    worker's table of CA contexts: one no connection holds makes room for the new file."""
    b = env.testbot("echo", tls=pki["localhost"])

    def copy_of_ca(n):
        path = os.path.join(env.tmp, "ca-v%d.pem" % n)
        shutil.copyfile(pki["ca"][0], path)
        return path

    # Every file of the first configuration is loaded at start-up (32: the table's size).
    old = [{"name": "old%d" % n, "url": b.url, "ca_file": copy_of_ca(n)} for n in range(32)]
    d = env.daemon(env.config(old))
    with open(d.conf_path, "w") as f:
        f.write(sbtest.to_libconfig(env.config([{"name": "tlsbot", "url": b.url, "ca_file": copy_of_ca(32)}])))
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Configuration reloaded" in d.stderr_text(), 10, "the reload")
    res = echo_call(env, sipp, d)
    assert res.rc == 0, res.describe()
    assert "not loading" not in d.stderr_text()


def test_stuck_resolver_does_not_stall_other_calls(env, pki, sipp):
    """While the resolver threads are stuck (as in a lookup a DNS server never answers), a call to a bot named by
    host name waits off the ws thread and fails like an unreachable bot at its deadline, and another call's audio
    flows meanwhile. Once the resolver runs again, the name resolves and calls to it work."""
    ipbot = env.testbot("echo", name="ipbot")
    namebot = env.testbot("echo", name="namebot", tls=pki["localhost"])
    bots = [{"name": "ipbot", "url": ipbot.url},
            {"name": "namebot", "url": namebot.url, "ca_file": pki["ca"][0], "connect_timeout_ms": 15000,
             "retries": 0}]
    d = env.daemon(env.config(bots, trunk={"bots": [{"match": "byname", "bot": "namebot"},
                                                   {"match": "*", "bot": "ipbot"}]}))
    timed_out = "host name resolution timed out"
    with sbtest.frozen_threads(sbtest.thread_ids(d.proc.pid, "sb-dns")):
        stuck = sipp("uac_reject.xml", d, keys={"customer": "byname"}, rtp_port=env.endpoint().port).start()
        sbtest.wait_until(lambda: "bot namebot" in d.stderr_text(), 20, "the call to namebot to be routed")

        def still_waiting():
            # The audio went round while the other call still waited for its name.
            assert timed_out not in d.stderr_text() and not stuck.done(), \
                "the name call ended before the other call's audio had flowed"

        res = echo_call(env, sipp, d, when_echoed=still_waiting)
        assert res.rc == 0, res.describe()
        assert ipbot.select("open"), "the IP-literal bot got no session"
        res = stuck.wait()
        assert res.rc == 0, res.describe()
        assert res.final_status() == 503, res.describe()
        sbtest.wait_until(lambda: timed_out in d.stderr_text(), 10, "%r in the daemon's log" % timed_out)
        assert namebot.conns() == []
    res = echo_call(env, sipp, d, customer="byname")
    assert res.rc == 0, res.describe()
    assert namebot.select("open"), "no session at the bot named by host name"


def test_bot_ending_tls_session_ends_call(env, sipp):
    """A bot that ends its TLS session (close_notify) without a WebSocket close ends the call as a bot that closes
    its socket does: the bridge sends BYE and says so."""
    tls, ca_file = server_context(env.tmp)

    def script(c):
        c.recv_event("start")
        try:
            c.sock.unwrap()  # close_notify; the bridge answers by closing the socket
        except (OSError, ValueError):
            pass

    bot = wsbot.RawWsBot(env.ports.tcp(), script=script, tls=tls)
    try:
        d = env.daemon(env.config([{"name": "default", "url": bot.url, "ca_file": ca_file}]))
        ep = env.endpoint()
        ep.send_silence_forever()
        res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
        assert res.rc == 0, res.describe()
        assert res.requests("BYE"), "the end of the bot's TLS session did not end the call: " + res.describe()
        assert bot.wait_done()[0].error is None
        sbtest.wait_until(lambda: "Bot closed the connection" in d.stderr_text(), 10, "the bot's close in the log")
    finally:
        bot.close()


def test_server_not_speaking_tls_fails_with_reason(env, sipp):
    """A wss:// URL whose server answers the TLS handshake in plain HTTP fails every attempt at once (not at the
    deadline) and then the call with 503, and the log says the TLS handshake failed and why."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = env.ports.tcp()
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    attempts = []

    def serve():
        while True:
            try:
                s, _ = srv.accept()
            except OSError:
                return
            attempts.append(s.recv(4096))
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            s.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        d = env.daemon(env.config([{"name": "default", "url": "wss://127.0.0.1:%d/media" % port, "retries": 1,
                                    "connect_timeout_ms": 30000}]))
        res = sipp("uac_reject.xml", d, rtp_port=env.endpoint().port).run()
        assert res.rc == 0, res.describe()
        assert res.final_status() == 503, res.describe()
        sbtest.wait_until(lambda: "TLS handshake failed: " in d.stderr_text(), 10, "the TLS failure in the log")
        assert len(attempts) == 2 and all(a[:1] == b"\x16" for a in attempts), attempts  # two ClientHellos
        log = d.stderr_text()
        assert "handshake timed out" not in log, log
    finally:
        srv.close()

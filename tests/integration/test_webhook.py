"""Call-end webhook: after each call a JSON record is POSTed to webhook.url, signed with HMAC-SHA256 of the exact
body when a secret is set; a failed attempt (here a 500) is retried with the same body; calls the bot ends, and
INVITEs refused after the ACL, get records too. An https:// receiver gets SNI and a certificate check for the URL's
host name (none for an address), and a certificate for another name fails the attempts with a line that says so.
webhook.ca_file makes a private CA the only one trusted (a bad file stops the start); a receiver that speaks
nothing newer than TLS 1.1 is refused."""

import datetime
import os
import hashlib
import hmac
import http.client
import http.server
import json
import re
import signal
import socket
import ssl
import threading
import time

import pytest

import pki
import rtp
import sbtest

PT = rtp.PT_PCMA
TE = rtp.PT_TELEPHONE_EVENT
SECRET = "s3cret-for-tests"
SIG_HEADER = "x-sipbridge-signature"  # header names are compared lowercased
KEYS = {"did": "+15550001", "caller": "alice", "customer": "salesbot", "uui": "UUI-9;x=1",
        "account_sid": "AC9", "campaign": "autumn"}


class Receiver:
    """An HTTP server on a loopback port, in a thread: keeps every POST and answers with the next status of
    `statuses` (the last one repeats)."""

    def __init__(self, port, statuses=(200,), tls=None, host="127.0.0.1"):
        self.posts = []
        self.statuses = list(statuses)
        self.cond = threading.Condition()
        self.sni = []  # with tls: the server name of each ClientHello (None: the client sent none)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.cond:
                    status = outer.statuses[min(len(outer.posts), len(outer.statuses) - 1)]
                    outer.posts.append({"path": self.path, "body": body,
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                    outer.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls:
            tls.sni_callback = self._on_sni
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = "%s://%s:%d/hooks/call-end?src=it" % ("https" if tls else "http", host, port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _on_sni(self, sslobj, name, ctx):
        with self.cond:
            self.sni.append(name)
            self.cond.notify_all()

    def wait_handshakes(self, count, timeout=30):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.sni) >= count, timeout)
        assert ok, "%d TLS handshake(s) began, expected %d within %d s" % (len(self.sni), count, timeout)
        return self.sni

    def wait(self, count, timeout=30):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.posts) >= count, timeout)
        assert ok, "%d POST(s) arrived, expected %d within %d s" % (len(self.posts), count, timeout)
        return self.posts

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def receiver(env, statuses=(200,), tls=None, host="127.0.0.1"):
    r = Receiver(env.ports.tcp(), statuses, tls=tls, host=host)
    env.listeners.append(r)
    return r


def webhook_cfg(rcv, **kw):
    cfg = {"url": rcv.url, "secret": SECRET, "retries": 3, "timeout_ms": 5000, "max_queue": 100}
    cfg.update(kw)
    return cfg


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wall(text):
    assert text.endswith("Z") and len(text) == 24, "not ISO-8601 UTC with milliseconds: %r" % text
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def queue_drops(admin):
    """sipbridge_queue_drops_total by direction (to_bot, to_caller)."""
    return {to: sbtest.metric(admin, 'sipbridge_queue_drops_total{direction="%s"}' % to)
            for to in ("to_bot", "to_caller")}


NO_DROPS = {"to_bot": 0, "to_caller": 0, "bridge_to_caller": 0, "bridge_to_agent": 0, "bridge_to_bot": 0}


def only_record(rcv):
    """The one POST of a call: JSON with a correct signature; no second one follows it."""
    post = rcv.wait(1)[0]
    assert post["path"] == "/hooks/call-end?src=it", post["path"]
    assert post["headers"].get("content-type") == "application/json", post["headers"]
    assert post["headers"].get(SIG_HEADER) == sign(SECRET, post["body"]), "signature does not verify"
    assert post["headers"].get(SIG_HEADER) != sign(SECRET + "x", post["body"])
    return json.loads(post["body"]), post


def test_call_ended_by_caller(env, bridge, sipp):
    rcv = receiver(env)
    d, bot = bridge("silent", webhook=webhook_cfg(rcv))
    ep = env.endpoint(PT)
    call = sipp("uac_call_te.xml", d, keys=dict(KEYS, fmts="8 0 %d" % TE, te_pt=TE), rtp_port=ep.port,
                until_told=True).start()
    ep.wait_packets(1, timeout=20)
    up = time.monotonic()
    ep.send_silence_forever()
    ep.send_audio(bytes([rtp.silence_octet(PT)]) * 8 * 300)
    for digit in "4#7":
        ep.send_dtmf(digit, 120)
        ep.send_audio(bytes([rtp.silence_octet(PT)]) * 8 * 100)
    ep.wait_tx_done(timeout=30)
    assert not call.done(), "the call ended before the keys were sent"
    time.sleep(max(0.0, 4.0 - (time.monotonic() - up)))  # the call held 4 s at least, as the record should say
    call.hang_up()
    res = call.wait()
    assert res.rc == 0, res.describe()
    bot.wait_closed(1)

    rec, post = only_record(rcv)
    start = bot.start_msg()["start"]
    assert rec["call_id"] == start["call_sid"], (rec["call_id"], start)
    assert rec["sip_call_id"] == res.response(200).header("Call-ID"), rec
    assert rec["trunk"] == "test" and rec["bot"] == "default", rec
    assert rec["from"] == "alice" and rec["to"] == "+15550001", rec
    t0, t1, t2 = wall(rec["start"]), wall(rec["answer"]), wall(rec["end"])
    assert t0 <= t1 <= t2, rec
    now = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(0) <= now - t2 < datetime.timedelta(minutes=2), (rec, now)
    assert abs(rec["duration_s"] - (t2 - t1).total_seconds()) < 0.002, rec
    assert rec["duration_s"] >= 3.9, "the caller held the call for 4 s at least: %s" % rec
    assert rec["hangup_by"] == "caller" and rec["hangup_reason"] == "bye", rec
    assert rec["sip_status"] == 200 and rec["transfer"] is None, rec
    # about 4 s of 20 ms packets each way
    assert rec["rtp"]["packets_in"] > 100 and rec["rtp"]["packets_out"] > 100, rec
    assert rec["dtmf"] == "4#7", rec
    assert rec["bot_stats"]["frames_out"] >= 3 and rec["bot_stats"]["frames_in"] == 0, rec  # a silent bot
    assert rec["drops"] == NO_DROPS, rec  # real time both ways: nothing dropped
    cp = rec["custom_parameters"]
    assert cp == start["custom_parameters"], (cp, start["custom_parameters"])
    assert cp.get("X-UUI") == "UUI-9;x=1" and cp.get("X-Campaign") == "autumn", cp
    # nothing more for this call, even after the daemon stopped
    d.stop()
    assert len(rcv.posts) == 1, [p["body"] for p in rcv.posts]


def test_retry_after_500(env, bridge, sipp):
    rcv = receiver(env, statuses=(500, 200))
    d, bot = bridge("silent", webhook=webhook_cfg(rcv, retries=2))
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys=KEYS, rtp_port=ep.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    posts = rcv.wait(2)
    assert posts[0]["body"] == posts[1]["body"], "the retry changed the body"
    assert posts[1]["headers"].get(SIG_HEADER) == sign(SECRET, posts[1]["body"])
    assert json.loads(posts[1]["body"])["hangup_by"] == "caller"
    # delivered on the second attempt: no third; the daemon stops without waiting for more
    d.stop()
    assert len(rcv.posts) == 2, len(rcv.posts)


def test_call_ended_by_bot(env, bridge, sipp):
    rcv = receiver(env)
    d, bot = bridge(script=[{"wait_event": "media", "count": 3}, {"send": {"event": "hangup"}}],
                    webhook=webhook_cfg(rcv))
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, keys=KEYS, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    rec, _ = only_record(rcv)
    assert rec["hangup_by"] == "bot" and rec["hangup_reason"] == "bot hangup", rec
    assert rec["call_id"] == bot.start_msg()["start"]["call_sid"], rec
    assert rec["answer"] is not None and rec["sip_status"] == 200, rec
    assert rec["bot_stats"]["frames_in"] >= 1 and rec["bot_stats"]["frames_out"] >= 5, rec  # hangup; media
    assert rec["rtp"]["packets_in"] > 0, rec


def test_drops_in_record(env, bridge, sipp):
    """A bot that sends 6 s of audio at once, over its 1 s queue bound: the call's record counts the bot's audio
    dropped on its way to the caller, in 20 ms frames, as /metrics counts it (this is the only call)."""
    rcv = receiver(env)
    script = sbtest.script_until_played(
        [{"tone": {"hz": 1000, "ms": 6000, "chunk_bytes": 3200, "key": "stream_sid"}}], close=False)
    script += [{"wait_ms": 500}, {"close": 1000}]
    admin = env.ports.port()
    d, bot = bridge(script=script, bot={"max_queue_ms": 1000}, admin={"port": admin}, webhook=webhook_cfg(rcv))
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    rec, _ = only_record(rcv)
    q = queue_drops(admin)
    assert q["to_caller"] >= 150, q  # of 300 frames, about 65 played
    assert rec["drops"] == dict(NO_DROPS, to_bot=q["to_bot"], to_caller=q["to_caller"]), (rec["drops"], q)


def test_refer_transfer_in_record(env, bridge, sipp):
    rcv = receiver(env)
    target = "sip:agent@127.0.0.1:%d" % env.ports.port()
    d, bot = bridge(script=[{"wait_event": "media", "count": 3},
                            {"send": {"event": "transfer", "transfer": {"to": target}}}],
                    webhook=webhook_cfg(rcv))
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_refer.xml", d, rtp_port=ep.port, keys={"frag": "200 OK"}).run()
    assert res.rc == 0, res.describe()
    rec, _ = only_record(rcv)
    assert rec["transfer"] == {"target": target, "mode": "refer", "outcome": "succeeded"}, rec
    assert rec["hangup_by"] == "bridge" and rec["hangup_reason"] == "transferred", rec


def test_rejected_invite_has_record(env, testbot, daemon, sipp):
    rcv = receiver(env)
    bot = testbot("silent")
    d = daemon(env.config([{"name": "sales", "url": bot.url}],
                          trunk={"bots": [{"match": "salesbot", "bot": "sales"}]}, webhook=webhook_cfg(rcv)))
    ep = env.endpoint()
    res = sipp("uac_reject.xml", d, keys=dict(KEYS, customer="supportbot"), rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 404, res.describe()
    rec, _ = only_record(rcv)
    assert rec["sip_status"] == 404 and rec["answer"] is None and rec["duration_s"] == 0, rec
    assert rec["sip_call_id"] == res.response(404).header("Call-ID"), rec
    assert rec["trunk"] == "test" and rec["bot"] is None, rec
    assert rec["from"] == "alice" and rec["to"] == "+15550001", rec
    assert wall(rec["start"]) <= wall(rec["end"]), rec
    assert rec["hangup_by"] == "bridge" and rec["hangup_reason"] == "rejected", rec
    assert rec["custom_parameters"].get("X-UUI") == "UUI-9;x=1", rec
    assert rec["rtp"] == {"packets_in": 0, "packets_out": 0, "lost": 0} and rec["dtmf"] == "", rec
    assert bot.conns() == []


def test_silent_receiver_times_out_and_exit_is_bounded(env, bridge, sipp):
    """A receiver that accepts the connection and never answers: each attempt ends at timeout_ms and is retried
    on a new connection; the call itself is not held up, and SIGTERM drops the pending record after the short
    exit grace instead of waiting through the retries."""
    rcv = env.silent_listener()
    d, bot = bridge("silent", webhook={"url": "http://127.0.0.1:%d/end" % rcv.port, "secret": SECRET,
                                       "retries": 10, "timeout_ms": 1000})
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys=KEYS, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    sbtest.wait_until(lambda: rcv.accepted >= 2 and rcv.request_bytes > 0, 20,
                      "a second attempt after the first timed out")
    t0 = time.monotonic()
    d.stop()
    took = time.monotonic() - t0
    assert took < 10, "stopping took %.1f s with an unanswered record pending" % took
    err = d.stderr_text()
    assert "timed out" in err and "not delivered" in err, sbtest.tail(d.stderr_path, 20)
    assert SECRET not in err, "the webhook secret reached the log"


STUCK = "hook.stuck.test"


def sends(admin, outcome):
    return sbtest.metric(admin, 'sipbridge_webhook_sends_total{outcome="%s"}' % outcome)


def test_exit_is_bounded_with_a_lookup_stuck(env, testbot, daemon, sipp):
    """A webhook URL whose host name lookup never returns (gai_shim holds it): the lookup runs on a resolver thread,
    never on the webhook thread, so the record's one attempt ends at timeout_ms (within the exit grace) with a line
    naming the host, and SIGTERM ends the daemon with status 0 and a clean sanitizer report, with the lookup still
    stuck."""
    environ, log, _ = sbtest.gai_shim(env.tmp, STUCK)
    bot = testbot("silent")
    d = daemon(env.config([{"name": "default", "url": bot.url}],
                          webhook={"url": "http://%s:%d/end" % (STUCK, env.ports.tcp()), "secret": SECRET,
                                   "retries": 0, "timeout_ms": 1000}), environ=environ)
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys=KEYS, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    sbtest.wait_until(lambda: sbtest.gai_lookups(log, STUCK) == 1, 20, "the lookup of the webhook's host")
    t0 = time.monotonic()
    d.stop(timeout=30)
    took = time.monotonic() - t0
    assert took < 10, "stopping took %.1f s with the webhook's lookup stuck" % took
    err = d.stderr_text()
    line = "Call-end record dropped after 1 attempt(s): host name lookup of %s timed out" % STUCK
    assert line in err, sbtest.tail(d.stderr_path, 20)
    assert "did not stop" not in err, sbtest.tail(d.stderr_path, 20)


def test_stuck_lookup_times_out_and_delivery_goes_on(env, testbot, daemon, sipp):
    """The webhook URL names a host whose lookup hangs (gai_shim holds it until released). Each attempt waiting for
    it ends at timeout_ms like a connect failure, logged with the host's name, and is retried with back-off and
    counted; a second call's record is taken and tried meanwhile; the name is looked up once in all. When the lookup
    returns, both records are delivered to the address it gave, with the name (and port) in Host."""
    environ, log, release = sbtest.gai_shim(env.tmp, STUCK)
    rcv = receiver(env)
    port = rcv.server.server_address[1]
    admin = env.ports.tcp()
    bot = testbot("silent")
    d = daemon(env.config([{"name": "default", "url": bot.url}],
                          webhook={"url": "http://%s:%d/hooks/call-end?src=it" % (STUCK, port), "secret": SECRET,
                                   "retries": 10, "timeout_ms": 1000},
                          admin={"address": "127.0.0.1", "port": admin}), environ=environ)
    ep = env.endpoint(PT)
    ep.send_silence_forever()

    def call():
        res = sipp("uac_call.xml", d, keys=KEYS, rtp_port=ep.port, duration_ms=300).run()
        assert res.rc == 0, res.describe()

    call()
    sbtest.wait_until(lambda: sbtest.gai_lookups(log, STUCK) == 1, 20, "the lookup of the webhook's host")
    first = "attempt 1 failed (host name lookup of %s timed out), retrying in 500 ms" % STUCK
    sbtest.wait_until(lambda: first in d.stderr_text(), 10, "%r in the log" % first)
    # From the shim's line for the lookup (its log's time) to the daemon's for the failure (the line's own time
    # of day), so that how late this test saw either does not count.
    line = next(l for l in d.stderr_text().splitlines() if first in l)
    at = datetime.datetime.strptime(line.split()[0], "%H:%M:%S.%f")
    started = datetime.datetime.fromtimestamp(os.stat(log).st_mtime)
    took = ((at - started.replace(year=at.year, month=at.month, day=at.day)).total_seconds()) % 86400
    assert 0.5 < took < 5, "the first attempt ended %.2f s after its lookup started (timeout_ms 1000)" % took
    # The thread still runs its timers and takes records: the first record's retry times out too, and the second
    # call's record is queued and tried.
    call()
    sbtest.wait_until(lambda: "attempt 2 failed (host name lookup of %s timed out)" % STUCK in d.stderr_text(), 10,
                      "the first retry timing out")
    sbtest.wait_until(lambda: d.stderr_text().count("attempt 1 failed (host name lookup of %s" % STUCK) == 2, 10,
                      "the second record's first attempt timing out")
    assert sends(admin, "retried") >= 3 and sends(admin, "delivered") == 0
    assert rcv.posts == [] and sbtest.gai_lookups(log, STUCK) == 1

    with open(release, "w"):
        pass
    posts = rcv.wait(2)
    sbtest.wait_until(lambda: sends(admin, "delivered") == 2, 10, "both records counted delivered")
    recs = [json.loads(p["body"]) for p in posts]
    assert len({r["sip_call_id"] for r in recs}) == 2, recs
    for p in posts:
        assert p["path"] == "/hooks/call-end?src=it", p["path"]
        assert p["headers"].get("host") == "%s:%d" % (STUCK, port), p["headers"]
        assert p["headers"].get(SIG_HEADER) == sign(SECRET, p["body"]), "signature does not verify"
    assert len(rcv.posts) == 2 and sends(admin, "failed") == 0
    assert sbtest.gai_lookups(log, STUCK) == 1, "the name was looked up again"


def test_call_hung_up_by_admin(env, bridge, sipp):
    """POST /calls/ID/hangup ends the call as a bot's hangup does; the record says the admin API did it."""
    rcv = receiver(env)
    admin_port = env.ports.tcp()
    d, bot = bridge("echo", webhook=webhook_cfg(rcv), admin={"address": "127.0.0.1", "port": admin_port})
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    call = sipp("uac_wait_bye.xml", d, keys=KEYS, rtp_port=ep.port).start()
    call_id = bot.start_msg()["start"]["call_sid"]
    bot.wait_event("rx", "media", count=3)
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    conn.request("POST", "/calls/%s/hangup" % call_id)
    assert conn.getresponse().status == 202
    conn.close()
    res = call.wait()
    assert res.rc == 0, res.describe()
    rec, _ = only_record(rcv)
    assert rec["call_id"] == call_id, rec
    assert rec["hangup_by"] == "admin" and rec["hangup_reason"] == "admin hangup", rec


class CloseAfterStatus:
    """A receiver that reads each request, answers a status line and headers announcing a body, and closes the
    connection without sending it."""

    def __init__(self, port, status=200):
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.1)
        self.url = "http://127.0.0.1:%d/end" % port
        self.status = status
        self.requests = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 100\r\n\r\n" % self.status)
                except OSError:
                    pass
                self.requests += 1

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()


@pytest.mark.parametrize("kind", ["refusing", "cut_short"])
def test_receiver_refusing_or_cut_short(env, bridge, sipp, kind):
    """A receiver that refuses connections, or one that answers 500 and closes before the body it announced: the
    attempt fails, is retried once after 0.5 s, then the record is dropped. lws closes the failed connection
    after the job is finished with; the daemon goes on and exits cleanly."""
    if kind == "refusing":
        url, why = "http://127.0.0.1:%d/end" % env.ports.tcp(), "Unable to connect"  # nothing listens there
    else:
        rcv = CloseAfterStatus(env.ports.tcp(), status=500)
        env.listeners.append(rcv)
        url, why = rcv.url, "HTTP 500"
    d, bot = bridge("silent", webhook={"url": url, "secret": SECRET, "retries": 1, "timeout_ms": 5000})
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys=KEYS, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    line = "dropped after 2 attempt(s): %s" % why
    sbtest.wait_until(lambda: line in d.stderr_text(), 20, "the log line %r" % line)
    assert "attempt 1 failed (%s), retrying in 500 ms" % why in d.stderr_text(), sbtest.tail(d.stderr_path, 20)
    # Still up after lws closed that connection, and exits cleanly (no sanitizer report).
    assert d.alive()
    d.stop()


HOOK = "hook.tls.test"


def tls_receiver(env, name, dns=None, ip=None, trust_env=True, tls11=False):
    """An https receiver on loopback whose certificate, for DNS name dns or address ip, a new CA signs (its file:
    receiver.ca); the URL names host name. With tls11 it speaks TLS 1.0 and 1.1 only. (receiver, environment that
    resolves HOOK to 127.0.0.1 and, with trust_env, makes that CA the daemon's system store, admin port)."""
    ca = pki.make_ca(env.tmp, "hookca")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pki.make_server_cert(env.tmp, "hook", ca, dns=dns, ip=ip))
    if tls11:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 allows TLS below 1.2 at level 0 only
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    rcv = receiver(env, tls=ctx, host=name)
    rcv.ca = ca[0]
    # the lookup of HOOK answers 127.0.0.1 at once: the release file is there before it starts
    environ, _, release = sbtest.gai_shim(env.tmp, HOOK, addr="127.0.0.1")
    with open(release, "w"):
        pass
    # without webhook.ca_file the webhook trusts the system's CAs: OpenSSL's default paths, which SSL_CERT_FILE
    # replaces
    if trust_env:
        environ["SSL_CERT_FILE"] = ca[0]
    return rcv, environ, env.ports.tcp()


def https_daemon(env, testbot, daemon, rcv, environ, admin, **kw):
    bot = testbot("silent")
    return daemon(env.config([{"name": "default", "url": bot.url}],
                             webhook=webhook_cfg(rcv, timeout_ms=5000, **kw),
                             admin={"address": "127.0.0.1", "port": admin}), environ=environ)


def one_call(env, d, sipp):
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys=KEYS, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()


def test_https_to_host_name(env, testbot, daemon, sipp):
    """An https:// URL with a host name: the POST goes to the address the name resolves to, and the TLS handshake
    names the host (SNI) and checks the receiver's certificate against it, as Host names it with the port."""
    rcv, environ, admin = tls_receiver(env, HOOK, dns=HOOK)
    port = rcv.server.server_address[1]
    d = https_daemon(env, testbot, daemon, rcv, environ, admin)
    one_call(env, d, sipp)
    rec, post = only_record(rcv)
    assert rec["hangup_by"] == "caller", rec
    assert post["headers"].get("host") == "%s:%d" % (HOOK, port), post["headers"]
    assert rcv.sni == [HOOK], rcv.sni
    sbtest.wait_until(lambda: sends(admin, "delivered") == 1, 10, "the record counted delivered")
    assert sends(admin, "retried") == 0 and sends(admin, "failed") == 0


def test_https_certificate_for_another_name(env, testbot, daemon, sipp):
    """The receiver's certificate names another host than the URL: the handshake fails verification, each attempt
    fails with a line that says so, is retried per webhook.retries, and the record is dropped and counted failed;
    nothing reaches the receiver."""
    rcv, environ, admin = tls_receiver(env, HOOK, dns="other.tls.test")
    d = https_daemon(env, testbot, daemon, rcv, environ, admin, retries=1)
    one_call(env, d, sipp)
    why = r"[^\n]*certificate[^\n]*hostname mismatch"  # the last: OpenSSL's words for the failure
    line = re.compile(r"Call-end record dropped after 2 attempt\(s\): %s" % why)
    sbtest.wait_until(lambda: line.search(d.stderr_text()), 20, "the record dropped for its certificate")
    err = d.stderr_text()
    assert re.search(r"attempt 1 failed \(%s\), retrying in 500 ms" % why, err), sbtest.tail(d.stderr_path, 20)
    assert sends(admin, "failed") == 1 and sends(admin, "retried") == 1 and sends(admin, "delivered") == 0
    assert rcv.posts == [] and rcv.sni == [HOOK, HOOK], (rcv.posts, rcv.sni)


def test_https_to_address(env, testbot, daemon, sipp):
    """An https:// URL with an address: the certificate is checked against that address (its subjectAltName
    IP:127.0.0.1), and no SNI is sent (RFC 6066 allows host names only)."""
    rcv, environ, admin = tls_receiver(env, "127.0.0.1", ip="127.0.0.1")
    d = https_daemon(env, testbot, daemon, rcv, environ, admin)
    one_call(env, d, sipp)
    rec, post = only_record(rcv)
    assert post["headers"].get("host") == "127.0.0.1:%d" % rcv.server.server_address[1], post["headers"]
    assert rcv.sni == [None], rcv.sni
    sbtest.wait_until(lambda: sends(admin, "delivered") == 1, 10, "the record counted delivered")


def test_https_private_ca_file(env, testbot, daemon, sipp):
    """webhook.ca_file names the private CA that signed the receiver's certificate, which the daemon's system store
    (SSL_CERT_FILE left as it is) does not hold: the record is delivered, and the start-up line names the file. A
    reload that changes the key keeps the running value and says a restart is needed."""
    rcv, environ, admin = tls_receiver(env, HOOK, dns=HOOK, trust_env=False)
    assert environ.get("SSL_CERT_FILE") is None
    bot = testbot("silent")

    def config(ca_file):
        return env.config([{"name": "default", "url": bot.url}], webhook=webhook_cfg(rcv, ca_file=ca_file),
                          admin={"address": "127.0.0.1", "port": admin})

    d = daemon(config(rcv.ca), environ=environ)
    assert "trusting the CAs of %s" % rcv.ca in d.stderr_text(), sbtest.tail(d.stderr_path, 20)
    one_call(env, d, sipp)
    rec, post = only_record(rcv)
    assert rec["hangup_by"] == "caller", rec
    assert rcv.sni == [HOOK], rcv.sni
    sbtest.wait_until(lambda: sends(admin, "delivered") == 1, 10, "the record counted delivered")
    assert sends(admin, "retried") == 0 and sends(admin, "failed") == 0
    with open(d.conf_path, "w") as f:
        f.write(sbtest.to_libconfig(config(pki.make_ca(env.tmp, "otherca")[0])))
    d.proc.send_signal(signal.SIGHUP)
    line = re.compile(r"Reload: [^\n]*webhook\.ca_file[^\n]* take effect only after a restart")
    sbtest.wait_until(lambda: line.search(d.stderr_text()), 10, "the reload naming webhook.ca_file")


def test_ca_file_with_http_url_is_not_used(env, bridge, sipp):
    """webhook.ca_file beside an http:// URL: the start says the file is not used, and the record is delivered over
    plain HTTP."""
    ca = pki.make_ca(env.tmp, "unusedca")[0]
    rcv = receiver(env)
    d, bot = bridge("silent", webhook=webhook_cfg(rcv, ca_file=ca))
    line = "webhook.ca_file (%s) is not used: webhook.url is http://" % ca
    assert line in d.stderr_text(), sbtest.tail(d.stderr_path, 20)
    one_call(env, d, sipp)
    rec, _ = only_record(rcv)
    assert rec["hangup_by"] == "caller", rec


def refused_for_its_issuer(env, d, sipp, rcv, admin):
    """After one call, asserts that its record was dropped on its first attempt because the receiver's certificate
    has an issuer the daemon does not trust, and counted failed, with nothing posted."""
    one_call(env, d, sipp)
    line = re.compile(r"Call-end record dropped after 1 attempt\(s\): TLS: the receiver's certificate failed "
                      r"verification: unable to get local issuer certificate")
    sbtest.wait_until(lambda: line.search(d.stderr_text()), 20, "the record dropped for its certificate")
    sbtest.wait_until(lambda: sends(admin, "failed") == 1, 10, "the record counted failed")
    assert sends(admin, "delivered") == 0 and rcv.posts == [] and rcv.sni == [HOOK], (rcv.posts, rcv.sni)


def test_https_ca_file_replaces_system_store(env, testbot, daemon, sipp):
    """With webhook.ca_file set, the system store is not trusted any more: the receiver's CA is the system's
    (SSL_CERT_FILE) but not in ca_file (another CA), so its certificate is refused and the record counted failed."""
    rcv, environ, admin = tls_receiver(env, HOOK, dns=HOOK)
    assert environ["SSL_CERT_FILE"] == rcv.ca
    other = pki.make_ca(env.tmp, "otherca")[0]
    d = https_daemon(env, testbot, daemon, rcv, environ, admin, ca_file=other, retries=0)
    refused_for_its_issuer(env, d, sipp, rcv, admin)


def test_https_private_ca_without_ca_file_refused(env, testbot, daemon, sipp):
    """No webhook.ca_file and a system store (SSL_CERT_FILE left as it is) without the receiver's private CA: the
    certificate is refused with a line that names verification, and the record is counted failed."""
    rcv, environ, admin = tls_receiver(env, HOOK, dns=HOOK, trust_env=False)
    d = https_daemon(env, testbot, daemon, rcv, environ, admin, retries=0)
    refused_for_its_issuer(env, d, sipp, rcv, admin)


def ca_file_config(env, ca, name):
    """A configuration file env.tmp/name whose https webhook trusts webhook.ca_file = ca: its text and path."""
    text = sbtest.to_libconfig(env.config([{"name": "default", "url": "ws://127.0.0.1:5001/media"}],
                                          webhook={"url": "https://127.0.0.1:9/end", "ca_file": ca}))
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return text, path


@pytest.mark.parametrize("kind", ["missing", "no-certificate"])
def test_bad_ca_file_refused_at_start(env, kind):
    """A webhook.ca_file that does not exist, or holds no PEM certificate: sipbridged -t and a start both exit 2
    with FILE:LINE: webhook.ca_file: and the reason."""
    if kind == "missing":
        ca, why = os.path.join(env.tmp, "no-such-ca.pem"), "cannot read %s: No such file or directory"
    else:
        ca, why = os.path.join(env.tmp, "not-a-ca.pem"), "holds no PEM certificate"
        with open(ca, "w") as f:
            f.write("just text, no certificate\n")
    text, path = ca_file_config(env, ca, "bad-ca.conf")
    expect = "%s:%d: webhook.ca_file: %s" % (path, sbtest.line_of(text, ca), why.replace("%s", ca))
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2 and expect in err, "rc=%s, expected %r in:\n%s" % (rc, expect, err)
    rc, out, err = sbtest.run_daemon_once(["-f", "-c", path])
    assert rc == 2 and expect in err, "rc=%s, expected %r in:\n%s" % (rc, expect, err)
    assert not sbtest.sanitizer_lines_of(err), err


def test_unreadable_certificate_in_ca_file_stops_start(env):
    """A webhook.ca_file with a PEM header around no certificate passes the check at load (-t), as a bot's does, but
    gives the webhook nothing to trust: the daemon says so and does not start."""
    ca = os.path.join(env.tmp, "broken-ca.pem")
    with open(ca, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    text, path = ca_file_config(env, ca, "broken-ca.conf")
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 0, "rc=%s\n%s" % (rc, err)
    rc, out, err = sbtest.run_daemon_once(["-f", "-c", path])
    expect = "webhook.ca_file: no certificate could be loaded from %s" % ca
    assert rc == 1 and expect in err, "rc=%s, expected %r in:\n%s" % (rc, expect, err)
    assert not sbtest.sanitizer_lines_of(err), err


def openssl_conf_allowing_tls10(tmp):
    """An OpenSSL configuration file whose defaults allow TLS 1.0 and 1.1 (security level 0), as a system's
    configuration may: what the daemon must not follow for the webhook."""
    path = os.path.join(tmp, "openssl-tls10.cnf")
    with open(path, "w") as f:
        f.write("openssl_conf = sb_test_init\n[sb_test_init]\nssl_conf = sb_test_ssl\n"
                "[sb_test_ssl]\nsystem_default = sb_test_tls\n"
                "[sb_test_tls]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n")
    return path


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_https_tls11_receiver_refused(env, testbot, daemon, sipp):
    """A receiver that speaks nothing newer than TLS 1.1 fails the handshake, with no SIP TLS listener and with an
    OpenSSL configuration that allows TLS 1.0: the record is dropped and counted failed, nothing is delivered."""
    rcv, environ, admin = tls_receiver(env, "127.0.0.1", ip="127.0.0.1", tls11=True)
    # The receiver does speak TLS 1.1 on this machine: a client that allows it completes a handshake.
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.set_ciphers("DEFAULT:@SECLEVEL=0")
        probe.minimum_version = ssl.TLSVersion.TLSv1
        probe.maximum_version = ssl.TLSVersion.TLSv1_1
        probe.load_verify_locations(rcv.ca)
        with socket.create_connection(("127.0.0.1", rcv.server.server_address[1]), timeout=10) as raw:
            with probe.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                version = tls.version()
    except (ssl.SSLError, ValueError) as e:
        pytest.skip("this machine's OpenSSL does not make a TLS 1.1 handshake: %s" % e)
    assert version == "TLSv1.1", version
    rcv.sni.clear()
    environ["OPENSSL_CONF"] = openssl_conf_allowing_tls10(env.tmp)
    d = https_daemon(env, testbot, daemon, rcv, environ, admin, retries=0)
    one_call(env, d, sipp)
    line = re.compile(r"Call-end record dropped after 1 attempt\(s\): TLS handshake failed: [^\n]*alert "
                      r"\"protocol version\"")
    sbtest.wait_until(lambda: line.search(d.stderr_text()), 20, "the record dropped for the TLS version")
    sbtest.wait_until(lambda: sends(admin, "failed") == 1, 10, "the record counted failed")
    assert sends(admin, "delivered") == 0 and rcv.posts == [], rcv.posts

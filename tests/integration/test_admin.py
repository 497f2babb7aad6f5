"""The admin API and sipbridgectl against a running daemon: /calls and /calls/ID during a live call, hanging it up
(the caller gets BYE), /metrics counters that moved with the call and a strict parse of the whole exposition, the
bearer token (/healthz stays open), 404/405/400/413, an oversized request that costs nothing, `Connection: close` on
exactly the answers after which the connection closes, drain (/healthz 503) and reload (a broken file answered
with FILE:LINE: KEY), and sipbridgectl's output and exit statuses."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import sbtest

MARK = {"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "m1"}}}
# The bot plays half a second, marks it, waits for the echo, then keeps the call until it is hung up.
MARKING_BOT = [{"wait_event": "media", "count": 2},
               {"tone": {"hz": 1000, "ms": 500, "chunk_bytes": 3200, "key": "stream_sid"}}, MARK,
               {"wait_event": "mark", "name": "m1"}, {"wait_ms": 120000}]


def admin_group(env, token=""):
    env.admin_port = env.ports.tcp()
    return {"address": "127.0.0.1", "port": env.admin_port, "token": token}


def request(env, method, path, token=None, headers=None, timeout=10):
    """One request on its own connection: (status, headers as a dict with lowercase names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", env.admin_port, timeout=timeout)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    try:
        c.request(method, path, body=b"" if method == "POST" else None, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def raw_exchange(env, data, timeout=10):
    """Sends data as is; returns everything the server wrote before closing (b"" if it just closed)."""
    s = socket.create_connection(("127.0.0.1", env.admin_port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return out


def assert_no_sanitizer_report(stderr):
    """Fails on any sanitizer's report in sipbridgectl's stderr (AddressSanitizer, LeakSanitizer, UBSan's runtime
    errors), not only on the first kind."""
    bad = sbtest.sanitizer_lines_of(stderr)
    assert not bad, "sanitizer report from sipbridgectl:\n%s" % stderr[-6000:]


def test_sanitizer_check_sees_every_kind_of_report():
    """The check ctl() and ctl_run() make catches a leak or an undefined-behaviour report as well as an
    AddressSanitizer error, and passes ordinary stderr."""
    assert_no_sanitizer_report("sipbridgectl: 503 Service Unavailable\n")
    for line in ("==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1",
                 "==1==ERROR: LeakSanitizer: detected memory leaks",
                 "tools/ctl/main.c:10:5: runtime error: signed integer overflow"):
        with pytest.raises(AssertionError, match="sanitizer report"):
            assert_no_sanitizer_report("a line before\n%s\na line after\n" % line)


def ctl(env, *args, token=None, url=None, environ=None):
    exe = sbtest.binary("tools/ctl/sipbridgectl")
    cmd = [exe, "--admin", url or "http://127.0.0.1:%d" % env.admin_port]
    if token is not None:
        cmd += ["--token", token]
    e = sbtest.sanitizer_env(environ)
    if environ is None:
        e.pop("SIPBRIDGE_ADMIN_TOKEN", None)
    p = subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                       env=e)
    assert_no_sanitizer_report(p.stderr)
    return p.returncode, p.stdout, p.stderr


def calls(env, token=None):
    st, _, body = request(env, "GET", "/calls", token)
    assert st == 200, (st, body)
    return json.loads(body)


# ---------------------------------------------------------------------------------------------------------------
# A strict parser of the Prometheus text exposition format 0.0.4

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*,?)?\})? (\S+)(?: (-?\d+))?$" % (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", text), "bad sample value %r" % text
    return float(text)


def parse_exposition(text):
    """{family: {"type", "help", "samples": [(name, {labels}, value)]}}; asserts every rule of the format."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    fams, cur = {}, None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        assert line == line.strip() and line, where
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and help_, where
            assert name not in fams, "HELP for %s after its samples or twice (%s)" % (name, where)
            fams[name] = {"help": help_, "type": None, "samples": []}
            cur = name
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == cur and typ in TYPES, where
            assert fams[name]["type"] is None and not fams[name]["samples"], "TYPE twice or after samples: " + where
            fams[name]["type"] = typ
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE.match(line)
            assert m, "malformed sample " + where
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            assert cur and fams[cur]["type"], "sample before its HELP and TYPE: " + where
            typ = fams[cur]["type"]
            allowed = {cur}
            if typ == "histogram":
                allowed = {cur + "_bucket", cur + "_sum", cur + "_count"}
            elif typ == "summary":
                allowed = {cur, cur + "_sum", cur + "_count"}
            assert name in allowed, "sample %s outside its family %s (%s)" % (name, cur, where)
            lab = dict(LABEL_RE.findall(labels))
            fams[cur]["samples"].append((name, lab, parse_value(value)))
    for name, f in fams.items():
        assert name.startswith("sipbridge_"), name
        assert f["type"], "no TYPE for " + name
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter %s does not end in _total" % name
            assert all(v >= 0 for _, _, v in f["samples"]), name
        if f["type"] == "histogram":
            buckets = [(l["le"], v) for s, l, v in f["samples"] if s.endswith("_bucket")]
            les = [parse_value(le) for le, _ in buckets]
            assert les == sorted(les) and les[-1] == float("inf"), "%s buckets %s" % (name, les)
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), "%s buckets not cumulative: %s" % (name, counts)
            count = [v for s, _, v in f["samples"] if s == name + "_count"]
            assert len(count) == 1 and count[0] == counts[-1], "%s: +Inf %s != _count %s" % (name, counts[-1], count)
            assert len([1 for s, _, _ in f["samples"] if s == name + "_sum"]) == 1, name
        if f["type"] in ("counter", "gauge"):
            keys = [tuple(sorted(l.items())) for _, l, _ in f["samples"]]
            assert len(keys) == len(set(keys)), "duplicate series in " + name
    return fams


def value(fams, name, **labels):
    fam = name
    for suffix in ("_count", "_sum", "_bucket"):
        if name.endswith(suffix) and name not in fams:
            fam = name[:-len(suffix)]
    for s, l, v in fams[fam]["samples"]:
        if s == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    raise AssertionError("no sample %s%s" % (name, labels))


def metrics(env, token=None):
    st, h, body = request(env, "GET", "/metrics", token)
    assert st == 200, (st, body)
    assert h["content-type"].startswith("text/plain; version=0.0.4"), h
    return parse_exposition(body)


# ---------------------------------------------------------------------------------------------------------------


def test_live_call_calls_hangup_and_metrics(env, bridge, sipp):
    d, bot = bridge(script=MARKING_BOT, admin=admin_group(env))
    before = metrics(env)
    assert value(before, "sipbridge_calls_active") == 0
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_wait_bye.xml", d, rtp_port=ep.port, keys={"caller": "alice", "did": "+15550007"}).start()

    def live():
        cs = calls(env)
        return cs if len(cs) == 1 and cs[0]["state"] == "active" and cs[0]["packets_out"] > 0 and \
            cs[0]["packets_in"] > 0 else None
    c = sbtest.wait_until(live, 20, "/calls to show the active call with packets both ways")[0]
    assert re.fullmatch(r"[0-9a-f]{32}", c["id"]), c
    assert (c["trunk"], c["from"], c["to"], c["bot"], c["codec"]) == ("test", "alice", "+15550007", "default",
                                                                        "PCMA"), c
    assert 0 <= c["age_s"] < 60 and c["sip_call_id"], c
    assert bot.start_msg()["start"]["call_sid"] == c["id"], "the call id is the bot's call_sid"

    st, _, body = request(env, "GET", "/calls/" + c["id"])
    assert st == 200 and json.loads(body)["id"] == c["id"], (st, body)
    st, _, body = request(env, "GET", "/calls/" + "0" * 32)
    assert st == 404 and json.loads(body)["ok"] is False, (st, body)

    # sipbridgectl: the table, one call, raw JSON; an unknown call is exit status 1
    rc, out, err = ctl(env, "calls")
    assert rc == 0 and c["id"] in out and "alice" in out and "1 call(s)" in out, (rc, out, err)
    rc, out, err = ctl(env, "show", c["id"])
    assert rc == 0 and re.search(r"^bot\s+default$", out, re.M) and re.search(r"^state\s+active$", out, re.M), out
    rc, out, err = ctl(env, "--json", "calls")
    assert rc == 0 and json.loads(out)[0]["id"] == c["id"], (rc, out, err)
    rc, out, err = ctl(env, "show", "0" * 32)
    assert rc == 1 and "404" in err and "no such call" in err, (rc, out, err)

    bot.wait_event("rx", "mark")  # the bot's mark was played and echoed
    rc, out, err = ctl(env, "hangup", c["id"])
    assert rc == 0, (rc, out, err)
    res = call.wait()
    assert res.rc == 0 and len(res.requests("BYE")) == 1, res.describe()
    bot.wait_closed(1)
    sbtest.wait_until(lambda: calls(env) == [], 10, "/calls to be empty after the hangup")
    st, _, body = request(env, "POST", "/calls/%s/hangup" % c["id"])
    assert st == 404, (st, body)

    m = sbtest.wait_until(lambda: (lambda f: f if value(f, "sipbridge_calls_total", outcome="completed") == 1
                                   else None)(metrics(env)), 10, "the call to be counted")
    assert value(m, "sipbridge_calls_active") == 0
    rtp_in = value(m, "sipbridge_rtp_packets_total", direction="in")
    rtp_out = value(m, "sipbridge_rtp_packets_total", direction="out")
    assert rtp_in >= c["packets_in"] and rtp_out >= c["packets_out"], (rtp_in, rtp_out, c)
    assert value(m, "sipbridge_rtp_bytes_total", direction="out") >= rtp_out * 172, "160-byte G.711 + header"
    media = [e for e in bot.rx() if e["event"] == "media"]
    assert value(m, "sipbridge_ws_frames_total", direction="out") >= len(media) + 2  # connected, start, media...
    assert value(m, "sipbridge_ws_frames_total", direction="in") >= len(bot.tx("media")) + 1  # media, mark
    assert value(m, "sipbridge_ws_bytes_total", direction="in") > 0
    assert value(m, "sipbridge_bot_marks_total") == 1
    assert value(m, "sipbridge_bot_connect_seconds_count") == 1
    # one observation per media message written, each a real delay: a missing stamp would
    # read as minutes, a stamp from the wrong clock as anything
    delays = value(m, "sipbridge_caller_to_bot_delay_seconds_count")
    assert delays == len(media), (delays, len(media))
    assert value(m, "sipbridge_caller_to_bot_delay_seconds_bucket", le="+Inf") == delays
    assert 0 <= value(m, "sipbridge_caller_to_bot_delay_seconds_sum") < delays * 1.0, "a second on average"
    assert value(m, "sipbridge_rtp_jitter_seconds_count") == 1
    assert value(m, "sipbridge_sip_responses_total", code="200") >= 1
    assert value(m, "sipbridge_sip_responses_total", code="180") == 1
    for k in ("calls_total", "rtp_packets_total"):
        assert value(before, "sipbridge_" + k, **({"outcome": "completed"} if k == "calls_total" else
                                                  {"direction": "in"})) == 0

    rc, out, err = ctl(env, "stats")
    assert rc == 0 and re.search(r'^sipbridge_calls_total\{outcome="completed"\}\s+1$', out, re.M), out
    rc, out, err = ctl(env, "--json", "stats")
    assert rc == 0 and json.loads(out)['sipbridge_calls_total{outcome="completed"}'] == 1, out


def test_calls_with_any_bytes_in_their_users(env, bridge, sipp):
    """A SIP user part is bytes: one that is not UTF-8, or holds quotes and control characters, is listed as valid
    JSON (each stray byte as U+FFFD), and does not keep the other calls out of /calls."""
    d, _ = bridge(script=[{"wait_ms": 120000}], admin=admin_group(env))
    users = {"plain": "bob", "bytes": "al\udcffi\udc80ce", "escapes": 'q"u\\o%09te'}
    runs = []
    for n, (k, user) in enumerate(users.items()):
        ep = env.endpoint()
        ep.send_silence_forever()
        runs.append(sipp("uac_wait_bye.xml", d, rtp_port=ep.port,
                         keys={"caller": user, "did": "+1555000%d" % n}).start())

    def listed():
        st, _, body = request(env, "GET", "/calls")
        assert st == 200, (st, body)
        cs = json.loads(body)  # strict: invalid UTF-8 or a bad escape does not parse
        return cs if len(cs) == len(users) and all(c["state"] == "active" for c in cs) else None
    cs = sbtest.wait_until(listed, 20, "/calls to list every call")
    by_to = {c["to"]: c for c in cs}
    assert by_to["+15550000"]["from"] == "bob", cs
    assert by_to["+15550001"]["from"] == "al\ufffdi\ufffdce", cs
    assert by_to["+15550002"]["from"] == 'q"u\\o%09te', cs
    for c in cs:
        st, _, body = request(env, "GET", "/calls/" + c["id"])
        assert st == 200 and json.loads(body) == c, (st, body)
    for c in cs:
        assert request(env, "POST", "/calls/%s/hangup" % c["id"])[0] == 202
    for r in runs:
        res = r.wait()
        assert res.rc == 0 and len(res.requests("BYE")) == 1, res.describe()


def test_late_media_ticks_are_counted(env, bridge):
    """A daemon held up for 200 ms (SIGSTOP) misses some 40 of its 5 ms media ticks: media_late_ticks_total says so."""
    d, _ = bridge(admin=admin_group(env))
    # READY comes once the media thread is made; on a busy machine its loop may start later, and a stall before
    # that misses no tick. The thread says how it is scheduled just before its loop starts.
    sbtest.wait_until(lambda: "Media threads run with" in d.stderr_text(), 10, "the media thread to start")
    before = value(metrics(env), "sipbridge_media_late_ticks_total")
    d.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.2)  # the stall under test, not a wait for an event
    finally:
        d.proc.send_signal(signal.SIGCONT)
    sbtest.wait_until(lambda: value(metrics(env), "sipbridge_media_late_ticks_total") >= before + 20, 10,
                      "the missed ticks to be counted")
    assert d.alive()


def test_token_required_but_healthz_open(env, bridge):
    bridge(admin=admin_group(env, token="s3cret-Token_1"))
    st, _, body = request(env, "GET", "/healthz")
    assert (st, body) == (200, "ok\n")
    for tok in (None, "wrong", "s3cret-Token_", "s3cret-Token_12"):
        for method, path in (("GET", "/metrics"), ("GET", "/calls"), ("POST", "/drain"), ("POST", "/reload"),
                             ("GET", "/nowhere")):
            st, h, body = request(env, method, path, tok)
            assert st == 401 and h.get("www-authenticate") == "Bearer", (tok, method, path, st, h)
    st, h, _ = request(env, "GET", "/metrics", headers={"Authorization": "Basic czNjcmV0"})
    assert st == 401
    assert metrics(env, "s3cret-Token_1")["sipbridge_calls_active"]
    assert calls(env, "s3cret-Token_1") == []

    rc, out, err = ctl(env, "calls")
    assert rc == 1 and "401" in err, (rc, out, err)
    rc, out, err = ctl(env, "calls", token="wrong")
    assert rc == 1 and "401" in err, (rc, out, err)
    rc, out, err = ctl(env, "calls", environ={"SIPBRIDGE_ADMIN_TOKEN": "s3cret-Token_1"})
    assert rc == 0 and "0 call(s)" in out, (rc, out, err)
    rc, out, err = ctl(env, "health")
    assert rc == 0 and out == "ok\n", (rc, out, err)


def test_bad_requests(env, bridge):
    d, _ = bridge(admin=admin_group(env))
    st, h, body = request(env, "GET", "/nowhere")
    assert st == 404 and json.loads(body) == {"ok": False, "error": "not found"}, (st, body)
    for method, path, allow in (("POST", "/metrics", "GET"), ("POST", "/healthz", "GET"), ("GET", "/drain", "POST"),
                                ("GET", "/reload", "POST"), ("DELETE", "/calls", "GET"),
                                ("GET", "/calls/%s/hangup" % ("a" * 32), "POST")):
        st, h, body = request(env, method, path)
        assert st == 405 and h.get("allow") == allow, (method, path, st, h)
    st, _, body = request(env, "GET", "/calls/bad%20id")
    assert st == 400 and "malformed call id" in body, (st, body)
    st, _, body = request(env, "GET", "/calls/" + "a" * 65)
    assert st == 400, (st, body)

    # oversized: a 64 KiB header is refused without an answer worth having, a 1 MB body is refused unread
    out = raw_exchange(env, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    assert not out.startswith(b"HTTP/1.1 2"), out[:100]
    out = raw_exchange(env, b"POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413"), out[:100]
    assert calls(env) == [] and d.alive()
    st, _, body = request(env, "GET", "/healthz")
    assert (st, body) == (200, "ok\n"), "the drain in the refused body must not have run"

    # sipbridgectl: usage errors and an unreachable daemon are exit status 2
    for args in ((), ("frobnicate",), ("show",), ("hangup", "../drain"), ("calls", "extra")):
        rc, out, err = ctl(env, *args)
        assert rc == 2, (args, rc, out, err)
    rc, out, err = ctl(env, "health", url="http://127.0.0.1:%d" % env.ports.tcp())
    assert rc == 2 and "cannot reach" in err, (rc, out, err)
    rc, out, err = ctl(env, "health", url="ftp://127.0.0.1:1")
    assert rc == 2, (rc, out, err)
    rc, out, err = ctl(env, "--help")
    assert rc == 0 and "Exit status" in out


def read_answer(s, buf=b""):
    """Reads one answer off socket s: (status line, headers as a list of (lowercase name, value), body, bytes read
    past it). The body is framed by Content-Length, as the admin API frames all of its answers."""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        assert b, "closed before the answer's head was complete: %r" % buf
        buf += b
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip().lower(), v.strip()) for k, v in (ln.split(":", 1) for ln in lines[1:])]
    length = int(dict(headers)["content-length"])
    while len(buf) < length:
        b = s.recv(65536)
        assert b, "closed before the answer's body was complete"
        buf += b
    return lines[0], headers, buf[:length], buf[length:]


def closes_after(headers):
    return any(k == "connection" and "close" in v.lower().split(",") for k, v in headers)


def test_answer_says_connection_close_when_it_closes(env, bridge):
    """RFC 9112 §9.6: an answer after which the server closes the connection says `Connection: close`, and one
    after which it stays open does not, on the same socket serving a second request; one that stays open for an
    HTTP/1.0 request says `Connection: keep-alive` (RFC 9112 appendix C.2.2), and only then."""
    bridge(admin=admin_group(env))
    closing = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
               b"GET /healthz HTTP/1.0\r\n\r\n",
               b"GET /nowhere HTTP/1.0\r\nHost: x\r\n\r\n",
               b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: TE, close\r\n\r\n")
    for req in closing:
        with socket.create_connection(("127.0.0.1", env.admin_port), timeout=10) as s:
            s.sendall(req)
            status, headers, body, rest = read_answer(s)
            assert status.split()[1] in ("200", "404"), (req, status)
            assert closes_after(headers), (req, status, headers)
            assert rest == b"" and s.recv(65536) == b"", "the connection must be closed after %r" % req
    staying = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
               b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
               b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    for req in staying:
        with socket.create_connection(("127.0.0.1", env.admin_port), timeout=10) as s:
            s.sendall(req)
            status, headers, body, rest = read_answer(s)
            assert (status.split()[1], body) == ("200", b"ok\n"), (req, status, body)
            assert not closes_after(headers), (req, status, headers)
            # RFC 9112 C.2.2: an HTTP/1.0 client learns that the connection stays open only from the answer;
            # an HTTP/1.1 answer does not repeat what the version already says
            keep_alive = [v for k, v in headers if k == "connection" and "keep-alive" in v.lower().split(",")]
            assert bool(keep_alive) == (b" HTTP/1.0\r\n" in req), (req, status, headers)
            # the same connection answers a second request, which asks to close it
            s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, headers, body, rest = read_answer(s, rest)
            assert status.split()[1] == "404" and json.loads(body)["error"] == "not found", (req, status, body)
            assert closes_after(headers), (req, status, headers)
            assert rest == b"" and s.recv(65536) == b""


def test_ctl_timeout_bounds_the_whole_exchange():
    """--timeout bounds the whole request: a server that trickles its answer a byte at a time, and one whose
    accept queue is full (its SYNs go unanswered), are given up on by then with exit status 2 and "timed out"."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))  # the kernel's choice: never one a test before left in TIME_WAIT
    srv.listen(8)
    stop = threading.Event()

    def trickle():
        c, _ = srv.accept()
        try:
            c.recv(4096)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
            while not stop.wait(0.2):  # a byte every 200 ms: each read gets one well within the timeout
                c.sendall(b" ")
        except OSError:
            pass  # the client gave up and closed
        finally:
            c.close()

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        rc, _, err, took = ctl_run("http://127.0.0.1:%d" % srv.getsockname()[1], "--timeout", "2", "calls")
    finally:
        stop.set()
        t.join(10)
        srv.close()
    assert rc == 2 and "timed out" in err and took < 8, (rc, err, took)

    # a full accept queue: the connection is never set up
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(full.getsockname())
            fillers.append(c)
        rc, _, err, took = ctl_run("http://127.0.0.1:%d" % full.getsockname()[1], "--timeout", "1.5", "health")
    finally:
        for c in fillers:
            c.close()
        full.close()
    assert rc == 2 and "timed out" in err and took < 6, (rc, err, took)


class FakeAdmin:
    """A loopback HTTP server that answers the i-th connection with answers[i] (bytes) once it has read the request
    head, then keeps the connection open until close() (hold=True, as a keep-alive server does) or closes it."""

    def __init__(self, answers, hold=True):
        self.answers, self.hold = list(answers), hold
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.url = "http://127.0.0.1:%d" % self.srv.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        held = []
        try:
            for answer in self.answers:
                c, _ = self.srv.accept()
                c.settimeout(10)
                req = b""
                while b"\r\n\r\n" not in req:
                    got = c.recv(4096)
                    if not got:
                        break
                    req += got
                try:
                    c.sendall(answer)
                except OSError:
                    pass  # the client gave up on it (an answer over its bound)
                if self.hold:
                    held.append(c)
                else:
                    c.close()
            self.stop.wait(60)
        except OSError:
            pass
        finally:
            for c in held:
                c.close()

    def close(self):
        self.stop.set()
        self.srv.close()
        self.thread.join(10)


def ctl_run(url, *args, bound=20):
    """sipbridgectl against url: (exit status, stdout, stderr, seconds it ran); a run past bound fails the test."""
    cmd = [sbtest.binary("tools/ctl/sipbridgectl"), "--admin", url] + list(args)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=bound,
                           env=sbtest.sanitizer_env())
    except subprocess.TimeoutExpired:
        raise AssertionError("sipbridgectl %s still running after %d s" % (" ".join(args), bound))
    assert_no_sanitizer_report(p.stderr)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def chunked(body, sizes):
    """body in chunks of the given sizes (cycled), with a chunk extension, an upper-case size and a trailer."""
    out, i, n = [], 0, 0
    while i < len(body):
        size = sizes[n % len(sizes)]
        part = body[i:i + size]
        out.append(b"%X%s\r\n%s\r\n" % (len(part), b";ext=1" if n % 3 == 0 else b"", part))
        i, n = i + size, n + 1
    return b"".join(out) + b"0\r\nX-Trailer: t\r\n\r\n"


def test_ctl_reads_the_body_as_the_answer_frames_it():
    """sipbridgectl takes the body by its Content-Length from a server that keeps the connection open (the daemon
    does unless asked to close), without waiting for its --timeout; a chunked body comes out whole, decoded; an
    answer without either is read to the close; 204 has no body."""
    calls_json = json.dumps([{"id": "c%04d" % i, "state": "active", "age_s": i, "trunk": "t", "from": "f%d" % i,
                              "to": "t", "bot": "b", "codec": "PCMU", "rtp_in": i, "rtp_out": i}
                             for i in range(1500)]).encode()
    assert len(calls_json) > 100000
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    answers = [
        head + b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(calls_json) + calls_json,
        head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(calls_json, [1, 4096, 17, 30000, 255]),
        # Transfer-Encoding wins over a Content-Length (RFC 9112 6.3)
        head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"[]", [1]),
        b"HTTP/1.1 100 Continue\r\n\r\n" + head + b"Content-Length: 2\r\n\r\n[]",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ]
    srv = FakeAdmin(answers)
    try:
        for i, want in enumerate([calls_json, calls_json, b"[]", b"[]"]):
            rc, out, err, took = ctl_run(srv.url, "--timeout", "10", "--json", "calls")
            assert (rc, out, took < 5) == (0, want.decode() + "\n", True), (i, rc, err, took, out[:200])
        rc, out, err, took = ctl_run(srv.url, "--timeout", "10", "drain")
        assert rc == 0 and "Draining" in out and took < 5, (rc, out, err, took)
    finally:
        srv.close()

    # no framing at all: the body is what comes before the server closes
    srv = FakeAdmin([head + b"\r\n" + calls_json], hold=False)
    try:
        rc, out, err, took = ctl_run(srv.url, "--timeout", "10", "--json", "calls")
        assert (rc, out) == (0, calls_json.decode() + "\n"), (rc, err, out[:200])
    finally:
        srv.close()


BAD_ANSWERS = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n[]", "over the 64 MiB bound"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n[]", "over the 64 MiB bound"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n[]",
     "over the 64 MiB bound"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000001\r\n[]", "over the 64 MiB bound"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n[]\r\n0\r\n\r\n", "malformed chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n[]\r\n0\r\n\r\n", "malformed chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[]\r\n0\r\n\r\n",
     "does not end where its size says"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000, "chunk size line over 1 KiB"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n[]", "transfer coding other than chunked"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[]", "two different Content-Lengths"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n[]", "Content-Length is not a number"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n[]", "Content-Length is not a number"),
    (b"HTTP/1.1 200 OK\r\n folded: x\r\nContent-Length: 2\r\n\r\n[]", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n[]", "malformed header line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "not HTTP"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not HTTP"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "not a final HTTP answer"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 10, "not a final HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000, "head is over 64 KiB"),
]


def test_ctl_refuses_a_malformed_or_oversized_answer():
    """An answer that is not HTTP, frames its body badly or says it is over the 64 MiB bound is refused at once with
    exit status 2 and a line that says what is wrong (the server keeps the connection open: no waiting for the
    timeout); one cut short before its end says so; a body read to the close stops at the bound."""
    srv = FakeAdmin([a for a, _ in BAD_ANSWERS])
    try:
        for answer, why in BAD_ANSWERS:
            rc, out, err, took = ctl_run(srv.url, "--timeout", "10", "calls")
            assert rc == 2 and "bad answer from the admin API" in err and why in err and took < 5, (
                answer[:80], why, rc, err, took)
    finally:
        srv.close()

    cut = [(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]", "ended before its Content-Length"),
           (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n", "ended inside its chunked body"),
           (b"HTTP/1.1 200 OK\r\nContent-Le", "ended inside its head"),
           (b"", "closed without answering"),
           (b"HTTP/1.1 200 OK\r\n\r\n" + b" " * (64 << 20) + b"[]", "over the 64 MiB bound")]
    srv = FakeAdmin([a for a, _ in cut], hold=False)
    try:
        for answer, why in cut:
            rc, out, err, took = ctl_run(srv.url, "--timeout", "20", "calls", bound=40)
            assert rc == 2 and why in err, (answer[:80], why, rc, err, took)
    finally:
        srv.close()


def test_drain_makes_healthz_503(env, bridge, sipp):
    d, bot = bridge(admin=admin_group(env))
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).start()
    bot.wait_event("rx", "media", count=2)
    cid = sbtest.wait_until(lambda: calls(env), 10, "the call in /calls")[0]["id"]
    rc, out, err = ctl(env, "drain")
    assert rc == 0 and "Draining" in out, (rc, out, err)
    sbtest.wait_until(lambda: request(env, "GET", "/healthz")[0] == 503, 10, "/healthz to answer 503")
    assert request(env, "GET", "/healthz")[2] == "draining\n"
    rc, out, err = ctl(env, "health")
    assert rc == 1 and out == "draining\n", (rc, out, err)
    assert d.alive() and [c["id"] for c in calls(env)] == [cid], "the call in progress goes on while draining"
    st, _, _ = request(env, "POST", "/calls/%s/hangup" % cid)
    assert st == 202
    res = call.wait()
    assert res.rc == 0 and res.requests("BYE"), res.describe()
    d.proc.wait(30)  # the drain is complete: the daemon exits by itself (teardown checks status 0)
    assert d.proc.returncode == 0


def test_reload_refused_for_a_value_that_is_not_utf8(env, bridge):
    """A refused file's message quotes the value at fault, whatever its bytes: the answer is still a 400 with valid
    JSON (the stray byte as U+FFFD), not a request left to time out."""
    d, _ = bridge(admin=admin_group(env))
    good = open(d.conf_path, "rb").read()
    name = re.search(rb'bot = "([^"]+)"', good).group(1)
    broken = good.replace(b'bot = "%s"' % name, b'bot = "n\xffo"', 1)
    assert broken != good
    with open(d.conf_path, "wb") as f:
        f.write(broken)
    st, _, body = request(env, "POST", "/reload")
    err = json.loads(body)
    assert st == 400 and err["ok"] is False, (st, body)
    assert 'no bot named "n\ufffdo"' in err["error"], err
    rc, out, e = ctl(env, "reload")
    assert rc == 1 and "no bot named" in e, (rc, out, e)
    m = metrics(env)
    assert value(m, "sipbridge_config_reloads_total", outcome="failed") == 2


def test_reload_reports_file_line_key(env, bridge):
    d, bot = bridge(admin=admin_group(env))
    good = open(d.conf_path).read()
    broken = good.replace("max_calls = 50;", "max_calls = 0;")
    assert broken != good
    with open(d.conf_path, "w") as f:
        f.write(broken)
    st, _, body = request(env, "POST", "/reload")
    line = sbtest.line_of(broken, "max_calls = 0;")
    err = json.loads(body)
    assert st == 400 and err["ok"] is False, (st, body)
    assert err["error"].startswith("%s:%d: limits.max_calls: " % (d.conf_path, line)), err
    rc, out, e = ctl(env, "reload")
    assert rc == 1 and "limits.max_calls" in e, (rc, out, e)

    with open(d.conf_path, "w") as f:
        f.write(good.replace("max_calls = 50;", "max_calls = 40;"))
    st, _, body = request(env, "POST", "/reload")
    assert (st, json.loads(body)) == (200, {"ok": True}), (st, body)
    rc, out, e = ctl(env, "reload")
    assert rc == 0 and "reloaded" in out, (rc, out, e)
    m = metrics(env)
    assert value(m, "sipbridge_config_reloads_total", outcome="ok") == 2
    assert value(m, "sipbridge_config_reloads_total", outcome="failed") == 2
    os.remove(d.conf_path)
    st, _, body = request(env, "POST", "/reload")
    assert st == 500 and json.loads(body)["ok"] is False, (st, body)

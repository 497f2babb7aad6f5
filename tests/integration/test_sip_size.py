"""A request over sip.max_message_bytes on TCP or TLS is refused by the SIP guard where the SIP stack would close
its connection without a word: a stateless 413 echoing the Via, From, To, Call-ID and CSeq that have come (none
over TLS, or without them), a log line naming the source and the limit, the refusal counted, and the connection
closed; at once when its Content-Length announces a body that would take it over, as soon as its header section
alone is over, however much of it is sent at once. Requests sent back to back are served however many wait at
once, and a response over the limit, which the stack closes without a word, is logged and counted. Over UDP the
stack's 413 stays."""

import re
import socket
import ssl

import pytest

import sbtest
import sipraw
from test_sip_guard import guarded, options_served_over_tcp, refused, send_until_refused, tcp_closed
from test_tls import pki, tls_entry  # noqa: F401 (pki is a fixture)

LIMIT = 16384
PAD = b"X-Long: " + b"a" * 1000 + b"\r\n"


def size_guarded(env, testbot, daemon, limit=LIMIT, **sip):
    return guarded(env, testbot, daemon, acl=("127.0.0.0/8",), max_message_bytes=limit, **sip)


def responses(env, code):
    return sbtest.metric(env.admin_port, 'sipbridge_sip_responses_total{code="%d"}' % code)


def connect(port):
    t = sipraw.Tcp(port)
    t.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return t


def options(t, call_id, extra=b"", body=b"", cl=None):
    """An OPTIONS whose Via names connection t; its Content-Length is cl if given (the body need not come)."""
    msg = sipraw.request(method="OPTIONS", ruri="sip:x@127.0.0.1", call_id=call_id, extra=extra, body=body)
    msg = sipraw.with_via(msg, b"TCP", b"%s:%d" % (t.local[0].encode(), t.local[1]))
    if cl is not None:
        msg = msg.replace(b"Content-Length: %d\r\n" % len(body), b"Content-Length: %d\r\n" % cl)
    return msg


def assert_refused(env, d, t, call_id, what, answered=True, count=1, limit=LIMIT):
    """The refusal of a request over limit on connection t: one 413 echoing its headers (or nothing), the
    connection closed, the refusal counted and logged."""
    try:
        assert t.wait_eof(20), "the connection stayed open: %r" % t.data[:300]
        if answered:
            assert sipraw.status_lines(t.data) == ["SIP/2.0 413 Request Entity Too Large"], t.data[:300]
            lines = t.data.split(b"\r\n")
            assert lines[1] == b"Via: SIP/2.0/TCP %s:%d;branch=z9hG4bK-1" % (t.local[0].encode(), t.local[1]), lines
            for h in (b"From: <sip:caller@127.0.0.1>;tag=f-" + call_id.encode(), b"Call-ID: " + call_id.encode(),
                      b"CSeq: 1 OPTIONS"):
                assert h in lines, (h, lines)
            assert [l for l in lines if re.match(rb"To: <sip:x@127\.0\.0\.1>;tag=\w+$", l)], lines
        else:
            assert t.data == b"", t.data[:300]
    finally:
        t.close()
    assert (refused(env, "too_large"), tcp_closed(env, "bad"), refused(env, "too_many_headers")) == (count, count, 0)
    if answered:
        assert responses(env, 413) == count
    line = "Request from 127.0.0.1 over sip.max_message_bytes = %d (%s), %s" % (
        limit, what, "413" if answered else "closed without an answer")
    sbtest.wait_until(lambda: line in d.stderr_text(), 10, "the refusal's log line %r" % line)


def call_over_tcp(d, bot, env, sipp):
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, transport="t1", rtp_port=ep.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")


@pytest.mark.parametrize("over", ["far", "by_one"])
def test_tcp_content_length_over_size_refused_before_the_body(env, testbot, daemon, sipp, over):
    """A request whose Content-Length announces a body that would take it over sip.max_message_bytes gets the 413
    once its header section has come, the body never sent; one of exactly the limit is served, over UDP the
    stack's 413 stays, and calls go on."""
    d, bot = size_guarded(env, testbot, daemon)
    t = connect(d.sip_port)
    five = len(options(t, "cl-" + over, cl=10000))  # the header section with a 5-digit Content-Length
    cl = 70000 if over == "far" else LIMIT + 1 - five
    head = options(t, "cl-" + over, cl=cl)
    assert len(head) + cl == (len(head) + 70000 if over == "far" else LIMIT + 1)
    t.send(head, fix_via=False)
    assert_refused(env, d, t, "cl-" + over, "its header section and the body its Content-Length announces")
    # exactly the limit, body and all: the stack answers
    t = connect(d.sip_port)
    typ = b"Content-Type: text/plain\r\n"
    body = b"b" * (LIMIT - len(options(t, "cl-at", extra=typ, cl=10000)))
    msg = options(t, "cl-at", extra=typ, body=body)
    assert len(msg) == LIMIT
    try:
        t.send(msg, fix_via=False)
        assert t.read_until(lambda t: b"\r\n\r\n" in t.data, 20), t.data
        assert sipraw.status_lines(t.data)[:1] == ["SIP/2.0 200 OK"], t.data[:300]
    finally:
        t.close()
    over_udp = sipraw.request(method="OPTIONS", ruri="sip:x@127.0.0.1", call_id="udp", extra=PAD * 17)
    assert sipraw.udp_exchange(d.sip_port, over_udp)[:1] == ["SIP/2.0 413 Request Entity Too Large"]
    assert (refused(env, "too_large"), tcp_closed(env, "bad")) == (1, 1)
    call_over_tcp(d, bot, env, sipp)
    assert d.alive()


@pytest.mark.parametrize("pieces", [1, 3, 8])
def test_tcp_header_section_over_size_refused(env, testbot, daemon, sipp, pieces):
    """A request whose header section alone is over sip.max_message_bytes gets the 413 whether it comes whole
    or in pieces (each within the limit, the section not ended when it goes over), echoing its headers; one
    within the limit sent the same way is served, and calls go on."""
    d, bot = size_guarded(env, testbot, daemon)
    msg = sipraw.request(method="OPTIONS", ruri="sip:x@127.0.0.1", call_id="hs-%d" % pieces, extra=PAD * 30)
    assert LIMIT < len(msg) < 2 * LIMIT - 2048
    first = msg.index(b"Max-Forwards:")  # the headers the reply echoes come in the first piece
    cuts = [first + k * (len(msg) - first) // pieces for k in range(pieces)] if pieces > 1 else []
    t = send_until_refused(d.sip_port, msg, cuts)
    assert_refused(env, d, t, "hs-%d" % pieces, "its header section")
    within = sipraw.request(method="OPTIONS", ruri="sip:x@127.0.0.1", call_id="within-%d" % pieces,
                            extra=PAD * 15)
    assert len(within) < LIMIT
    t = send_until_refused(d.sip_port, within, cuts[:2])
    try:
        assert t.read_until(lambda t: b"\r\n\r\n" in t.data, 20), t.data
        assert sipraw.status_lines(t.data) == ["SIP/2.0 200 OK"], t.data[:300]
    finally:
        t.close()
    call_over_tcp(d, bot, env, sipp)
    assert d.alive()


def test_tcp_over_size_before_any_via(env, testbot, daemon):
    """A request that goes over sip.max_message_bytes before its Via has come cannot be answered: its connection
    is closed without a reply, and the refusal is counted and logged all the same."""
    d, bot = size_guarded(env, testbot, daemon)
    msg = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n" + PAD * 30
    t = send_until_refused(d.sip_port, msg, range(40, len(msg), 4000))
    assert_refused(env, d, t, "novia", "its header section", answered=False)
    options_served_over_tcp(d, "after-novia")
    assert d.alive()


def test_tcp_far_over_size_at_once_gets_the_413(env, testbot, daemon):
    """A request of which far more than sip.max_message_bytes is sent at once still gets the guard's 413: the
    kernel holds about the limit unread on a SIP connection, so no read of the stack brings more than its bound
    allows (it would close the connection without a word); the next request is served."""
    limit = 4096
    d, bot = size_guarded(env, testbot, daemon, limit=limit)
    t = connect(d.sip_port)
    msg = options(t, "oneread", extra=PAD * 200)
    first = msg.index(b"Max-Forwards:")
    t.send(msg[:first], fix_via=False)
    sbtest.wait_until(lambda: sipraw.unread_by_server(d.sip_port, t.local) == 0, 10, "the first piece to be read")
    t.send(msg[first:], fix_via=False, may_be_refused=True)  # 200 kB
    assert_refused(env, d, t, "oneread", "its header section", limit=limit)
    options_served_over_tcp(d, "after-oneread")
    assert d.alive()


def test_tls_content_length_over_size_closed(env, testbot, daemon, pki):  # noqa: F811
    """Over TLS a request whose Content-Length takes it over sip.max_message_bytes is refused as over TCP, but
    without a plain-text answer inside the TLS stream: its connection is closed, the refusal counted and
    logged."""
    bot = testbot("echo")
    tls_port = env.ports.tcp()
    cfg = env.config([{"name": "default", "url": bot.url}], trunk={"acl": ["127.0.0.0/8"]})
    cfg["sip"].update(max_message_bytes=LIMIT)
    cfg["sip"]["listen"].append(tls_entry(pki, tls_port))
    env.admin_port = env.ports.tcp()
    cfg["admin"] = {"address": "127.0.0.1", "port": env.admin_port, "token": ""}
    d = daemon(cfg)
    ctx = ssl.create_default_context(cafile=pki.ca)
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=10),
                           server_hostname="127.0.0.1")
    got = b""
    try:
        msg = sipraw.request(method="OPTIONS", ruri="sip:x@127.0.0.1", call_id="tls-cl", transport="TLS",
                             via="127.0.0.1:%d" % conn.getsockname()[1])
        conn.sendall(msg.replace(b"Content-Length: 0\r\n", b"Content-Length: 70000\r\n"))
        conn.settimeout(20)
        while True:
            try:
                x = conn.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not x:
                break
            got += x
    finally:
        conn.close()
    assert got == b"", got[:300]
    assert (refused(env, "too_large"), tcp_closed(env, "bad")) == (1, 1)
    line = ("Request from 127.0.0.1 over sip.max_message_bytes = %d (its header section and the body its "
            "Content-Length announces), closed without an answer" % LIMIT)
    sbtest.wait_until(lambda: line in d.stderr_text(), 10, "the refusal's log line")
    assert d.alive()


def test_tcp_response_over_size_closed_counted(env, testbot, daemon):
    """A response over sip.max_message_bytes on a TCP connection is bounded by the SIP stack itself, which closes
    the connection without a word: the guard watches every response from its status line on, so that close is
    logged and counted as a request's is, and the next request is served."""
    d, bot = size_guarded(env, testbot, daemon)
    t = connect(d.sip_port)
    resp = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-r\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
            b"To: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: resp-over\r\nCSeq: 1 OPTIONS\r\n" + PAD * 30 +
            b"Content-Length: 0\r\n\r\n")
    assert LIMIT < len(resp) < 2 * LIMIT
    first = resp.index(b"From:")  # the status line is parsed in the first read
    t.send(resp[:first], fix_via=False)
    sbtest.wait_until(lambda: sipraw.unread_by_server(d.sip_port, t.local) == 0, 10, "the first piece to be read")
    t.send(resp[first:], fix_via=False, may_be_refused=True)
    try:
        assert t.wait_eof(20), "the connection stayed open"
        assert t.data == b"", t.data[:300]
    finally:
        t.close()
    line = "Response from 127.0.0.1 over sip.max_message_bytes = %d, closed by the SIP stack" % LIMIT
    sbtest.wait_until(lambda: line in d.stderr_text(), 10, "the close's log line")
    assert (refused(env, "too_large"), tcp_closed(env, "bad")) == (1, 1)
    options_served_over_tcp(d, "after-response")
    assert d.alive()


def test_tcp_pipelined_burst_over_twice_the_limit_served(env, testbot, daemon):
    """Requests sent back to back, far more of them at once than twice sip.max_message_bytes, each well within
    it, are all answered on their connection: a request that starts in the read of the one before it is bounded
    as that one is, not by a buffer that must hold all that is waiting."""
    limit = 4096
    d, bot = size_guarded(env, testbot, daemon, limit=limit)
    t = connect(d.sip_port)
    reqs = []
    for i in range(100):
        r = options(t, "burst-%03d" % i)
        reqs.append(options(t, "burst-%03d" % i, extra=b"X-Pad: " + b"p" * (1000 - len(r) - 9) + b"\r\n"))
    assert all(len(r) == 1000 for r in reqs)  # a read of 4 KiB ends inside a request's Via
    try:
        t.send(b"".join(reqs), fix_via=False)  # 100 kB: far over twice the limit and a TLS record
        assert t.read_until(lambda t: len(sipraw.status_lines(t.data)) == 100 or t.eof, 30), t.data[-300:]
        assert sipraw.status_lines(t.data) == ["SIP/2.0 200 OK"] * 100, (t.eof, sipraw.status_lines(t.data))
    finally:
        t.close()
    assert (refused(env, "too_large"), tcp_closed(env, "bad")) == (0, 0)
    assert d.alive()

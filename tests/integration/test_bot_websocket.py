"""The WebSocket a bot is spoken to over, ws:// and wss:// (the same bytes inside a TLS session), against a bot written here from RFC 6455 that sends exactly what
each test says: the upgrade request carries the URL's path, Host, the configured headers and Basic auth; pings are
answered with their payload, one sent in the same write as the answer to the upgrade too; a message in fragments
with a ping between them is read whole; the bot's close is answered with its code (1000 when it gave none) and ends
the call; the bridge's own close follows stop and says 1000; every frame the bridge sends is masked; a refused or
wrong answer to the upgrade fails every attempt and then the call with 503, and says why; a frame no server may
send, or a close frame no endpoint may send, is answered with close 1002 and ends the call."""

import base64
import json
import struct

import pytest

import pki
import sbtest
import wsbot


@pytest.fixture(params=["ws", "wss"])
def rawbot(env, request):
    """Makes bots on ws://, or on wss:// with a certificate for 127.0.0.1 from a CA the daemon is given (bot.keys)."""
    bots = []
    tls, keys = None, {}
    if request.param == "wss":
        tls, ca_file = pki.server_context(env.tmp)
        keys = {"ca_file": ca_file}

    def make(script=None, answer=None, path="/media"):
        b = wsbot.RawWsBot(env.ports.tcp(), script=script, answer=answer, path=path, tls=tls)
        b.keys = dict(keys, url=b.url)
        bots.append(b)
        return b

    yield make
    for b in bots:
        b.close()


def is_op(op):
    return lambda f: f[1] == op


def close_code(f):
    return struct.unpack("!H", f[2][:2])[0] if len(f[2]) >= 2 else None


def call_bot(env, daemon, sipp, bot, botcfg=None, scenario="uac_wait_bye.xml", **kw):
    """One call (silence from the caller) to a daemon whose one bot is bot, with botcfg's keys on top; the call
    must succeed and the bot's script finish cleanly. Returns the daemon, SIPp's result and the bot's connection."""
    d = daemon(env.config([dict(bot.keys, name="default", **(botcfg or {}))]))
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp(scenario, d, rtp_port=ep.port, **kw).run()
    assert res.rc == 0, "%s\nthe bot's connections: %s" % (res.describe(), [
        (getattr(c, "done", False), c.error, [(f[1], f[2][:60]) for f in c.frames[-5:]]) for c in bot.conns])
    c = bot.wait_done()[0]
    assert c.error is None, c.error
    return d, res, c


def test_upgrade_pings_fragments_and_bot_close(env, rawbot, daemon, sipp):
    def script(c):
        got = c.recv_each(pong=is_op(0xA), start=wsbot.is_event("start"))
        c.pong0, start = got["pong"], json.loads(got["start"][2])
        c.send(wsbot.frame(0x9, b"p1"))
        c.pong1 = c.recv_until(is_op(0xA), "pong")
        mark = json.dumps({"event": "mark", "sequence_number": "1", "stream_sid": start["stream_sid"],
                           "mark": {"name": "m1"}}).encode()
        # three fragments, a ping between the first two
        c.send(wsbot.frame(0x1, mark[:5], fin=False) + wsbot.frame(0x9, b"p2") +
               wsbot.frame(0x0, mark[5:20], fin=False) + wsbot.frame(0x0, mark[20:]))
        got = c.recv_each(pong=is_op(0xA), mark=wsbot.is_event("mark"))
        c.pong2, c.mark = got["pong"], json.loads(got["mark"][2])
        c.send(wsbot.frame(0x8, struct.pack("!H", 4000) + b"done"))
        c.close_reply = c.recv_until(is_op(0x8), "close answer")
        c.eof = c.wait_eof()

    # a ping in the same write as the answer to the upgrade: read with the answer
    bot = rawbot(script, answer=lambda c: c.answer(then=wsbot.frame(0x9, b"early")), path="/media/in?tenant=acme")
    url = bot.url.replace("://", "://user:s3cret@")
    d, res, c = call_bot(env, daemon, sipp, bot, {"url": url, "headers": ["X-Tenant: acme", "X-Trace: 7"]})
    assert c.request_line == "GET /media/in?tenant=acme HTTP/1.1"
    h = c.headers
    assert h["host"] == "127.0.0.1:%d" % bot.port
    assert h["upgrade"].lower() == "websocket" and "upgrade" in h["connection"].lower()
    assert h["sec-websocket-version"] == "13" and len(base64.b64decode(h["sec-websocket-key"])) == 16
    assert "sec-websocket-protocol" not in h and "sec-websocket-extensions" not in h
    assert h["x-tenant"] == "acme" and h["x-trace"] == "7"
    assert h["authorization"] == "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert c.pong0[2] == b"early" and c.pong1[2] == b"p1" and c.pong2[2] == b"p2"
    assert c.mark["mark"]["name"] == "m1", c.mark
    assert close_code(c.close_reply) == 4000, c.close_reply
    assert c.eof, "the bridge kept the socket open after answering the close"
    assert all(f[3] for f in c.frames), "a frame from the bridge was not masked"
    sbtest.wait_until(lambda: "Bot sent a close frame (code 4000)" in d.stderr_text(), 10, "the close in the log")
    assert res.requests("BYE"), "the bot's close did not end the call: " + res.describe()


def frame_after_start(env, rawbot, daemon, sipp, frame):
    """A call whose bot sends frame after start, then reads until the bridge's close and the end of the socket;
    the call must end by the bridge's BYE. Returns the daemon and the bot's connection."""
    def script(c):
        c.recv_event("start")
        c.send(frame)
        c.close = c.recv_until(is_op(0x8), "close")
        c.eof = c.wait_eof()

    d, _, c = call_bot(env, daemon, sipp, rawbot(script))
    assert c.eof, "the bridge kept the socket open after its close"
    return d, c


def test_bot_close_without_code(env, rawbot, daemon, sipp):
    """A close frame with no payload is answered with 1000, and the call ends."""
    d, c = frame_after_start(env, rawbot, daemon, sipp, wsbot.frame(0x8))
    assert close_code(c.close) == 1000, c.close


def test_bridge_close_follows_stop(env, rawbot, daemon, sipp):
    def script(c):
        c.recv_event("start")
        c.stop = c.recv_event("stop")
        c.close = c.recv_until(is_op(0x8), "close")
        c.send(wsbot.frame(0x8, c.close[2][:2]))
        c.eof = c.wait_eof()

    d, _, c = call_bot(env, daemon, sipp, rawbot(script), {"subprotocol": "audio.example"}, "uac_call.xml",
                       duration_ms=1500)
    assert c.headers["sec-websocket-protocol"] == "audio.example"
    media = [f for f in c.frames if f[1] == 0x1 and b'"media"' in f[2]]
    assert media, "no caller audio reached the bot"
    assert close_code(c.close) == 1000 and c.close[2][2:] == b"bye", c.close
    assert c.frames.index(c.close) > max(i for i, f in enumerate(c.frames) if b'"stop"' in f[2])
    assert c.eof
    assert all(f[3] for f in c.frames), "a frame from the bridge was not masked"


def refuse_403(c):
    c.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


def wrong_accept(c):
    c.answer(accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


def unoffered_protocol(c):
    c.answer(protocol="chat")


@pytest.mark.parametrize("answer,why", [
    (refuse_403, "the bot answered the WebSocket upgrade with HTTP 403"),
    (wrong_accept, "the answer's Sec-WebSocket-Accept does not match the key"),
    (unoffered_protocol, "the bot chose a subprotocol that was not offered"),
], ids=["403", "wrong-accept", "unoffered-subprotocol"])
def test_refused_upgrade_503_with_reason(env, rawbot, daemon, sipp, answer, why):
    """Each attempt is refused (a retry starts from inside the callback that failed the first)."""
    bot = rawbot(answer=answer)
    d = daemon(env.config([dict(bot.keys, name="default", retries=1, connect_timeout_ms=5000)]))
    ep = env.endpoint()
    res = sipp("uac_reject.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 503, res.describe()
    sbtest.wait_until(lambda: "WebSocket handshake refused: " + why in d.stderr_text(), 10,
                      "the daemon to say why the upgrade failed")
    assert len(bot.conns) == 2, "expected 1 + retries = 2 attempts, saw %d" % len(bot.conns)
    assert "retrying" in d.stderr_text()


@pytest.mark.parametrize("bad,why", [
    (wsbot.frame(0x1, b'{"event":"clear"}', mask=b"\x01\x02\x03\x04"), "the server masked a frame"),
    (wsbot.frame(0x3, b"x"), "an unknown opcode"),
    (wsbot.frame(0x9, b"x" * 126), "a control frame over 125 bytes"),
    (wsbot.frame(0x0, b"x"), "a continuation frame with no message open"),
    (wsbot.frame(0x8, b"\x03"), "a close frame of one byte"),
    (wsbot.frame(0x8, b"\x03\xed"), "a close code no endpoint may send"),
], ids=["masked", "opcode", "long-ping", "continuation", "close-1-byte", "close-1005"])
def test_protocol_breach_closes_1002(env, rawbot, daemon, sipp, bad, why):
    d, c = frame_after_start(env, rawbot, daemon, sipp, bad)
    assert close_code(c.close) == 1002, c.close
    sbtest.wait_until(lambda: "Bot broke the WebSocket protocol (%s)" % why in d.stderr_text(), 10, "the breach in the log")

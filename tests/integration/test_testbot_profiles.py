"""sipbridge-testbot on its own, driven over WebSocket the way the bridge drives it, for each bot protocol it
speaks: exotel (base64 PCM16 at 8, 16 or 24 kHz), twilio (base64 µ-law at 8 kHz, with --strict checking every
message) and raw (a jambonz-like metadata frame, then binary PCM16 LE). Covers echo, tone, --record, the raw
metadata frame and control frames, script marks, strict violations and the fast echo path behind a slow reader. No
daemon is started; every wait is on a frame or a log line with a deadline.
"""

import asyncio
import base64
import json
import math
import random
import socket
import struct
import uuid

import pytest
import websockets

import sbtest

TIMEOUT = 20
TONE_HZ = 1000
JAMBONZ_SUBPROTOCOL = "audio.jambonz.org"


@pytest.fixture
def bot(env):
    """Factory: bot(protocol, mode="echo", script=None, strict=False, fast=False) -> a started sbtest.Testbot
    speaking it; fast: without --log and --record, as the load tool runs it."""

    def make(protocol, mode="echo", script=None, strict=False, tone_hz=None, fast=False):
        name = "%s%d" % (protocol, len(env.bots) + 1)
        b = sbtest.Testbot(env.tmp, env.ports.tcp(), mode=mode, script=script, tone_hz=tone_hz, name=name,
                           record=not fast, log=not fast)
        b.args += ["--protocol", protocol] + (["--strict"] if strict else [])
        env.bots.append(b)
        return b.start()

    return make


# ---------------------------------------------------------------------------------------------------------------
# Audio


def tone(rate, ms, hz=700, amp=8000):
    return [int(round(amp * math.sin(2 * math.pi * hz * i / rate))) for i in range(rate * ms // 1000)]


def pcm_bytes(samples):
    return struct.pack("<%dh" % len(samples), *samples)


def pcm_samples(data):
    return list(struct.unpack("<%dh" % (len(data) // 2), data[:len(data) // 2 * 2]))


def ulaw_encode(x):
    """G.711 µ-law of one 16-bit sample."""
    if x < 0:
        x, mask = 0x84 - x - 1, 0x7F
    else:
        x, mask = 0x84 + x, 0xFF
    seg = (x | 0xFF).bit_length() - 8
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((x >> (seg + 3)) & 0x0F)) ^ mask


def ulaw_decode(u):
    u = ~u & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def snr_db(ref, got):
    assert len(ref) == len(got), (len(ref), len(got))
    sig = sum(x * x for x in ref)
    noise = sum((x - y) ** 2 for x, y in zip(ref, got)) or 1
    return 10 * math.log10(sig / noise)


def zero_crossings(samples):
    return sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))


def b64(data):
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------------------------
# The bridge's side of each protocol


class Exotel:
    protocol = "exotel"
    subprotocols = None
    frame_ms = 100

    def __init__(self, rate=8000):
        self.rate = rate
        self.sid = "MZ" + uuid.uuid4().hex
        self.seq = 0
        self.chunk = 0

    def _next(self):
        self.seq += 1
        return str(self.seq)

    def greeting(self):
        start = {"event": "start", "sequence_number": self._next(), "stream_sid": self.sid,
                 "start": {"stream_sid": self.sid, "call_sid": "CA" + uuid.uuid4().hex, "account_sid": "AC42",
                           "from": "+15550100", "to": "+15550199", "custom_parameters": {"campaign": "spring"},
                           "media_format": {"encoding": "base64", "sample_rate": str(self.rate),
                                            "bit_rate": "128kbps"}}}
        return [json.dumps({"event": "connected"}), json.dumps(start)]

    def wire(self, pcm):
        """What goes on the wire for PCM16 LE audio, and what the bot's echo or recording carries."""
        return pcm

    def media(self, data):
        self.chunk += 1
        return json.dumps({"event": "media", "sequence_number": self._next(), "stream_sid": self.sid,
                           "media": {"chunk": str(self.chunk), "timestamp": str((self.chunk - 1) * self.frame_ms),
                                     "payload": b64(data)}})

    def mark(self, name):
        return json.dumps({"event": "mark", "sequence_number": self._next(), "stream_sid": self.sid,
                           "mark": {"name": name}})

    def ending(self):
        return [json.dumps({"event": "stop", "sequence_number": self._next(), "stream_sid": self.sid,
                            "stop": {"call_sid": "CA1", "account_sid": "AC42", "reason": "callended"}})]

    def bot_audio(self, frame):
        """The payload bytes of a media message from the bot (asserting its id key), else None."""
        assert isinstance(frame, str), "binary frame from an %s bot" % self.protocol
        m = json.loads(frame)
        if m.get("event") != "media":
            return None
        assert m.get("stream_sid") == self.sid and "streamSid" not in m, m
        return base64.b64decode(m["media"]["payload"])

    def bot_mark(self, frame):
        m = json.loads(frame)
        if m.get("event") != "mark":
            return None
        assert m.get("stream_sid") == self.sid, m
        return m["mark"]["name"]


class Twilio(Exotel):
    protocol = "twilio"
    frame_ms = 20

    def __init__(self, rate=8000):
        assert rate == 8000
        super().__init__(rate)
        self.call_sid = "CA" + uuid.uuid4().hex

    def head(self, event, key=None, body=None):
        m = {"event": event, "sequenceNumber": self._next()}
        if key:
            m[key] = body
        m["streamSid"] = self.sid
        return m

    def start_msg(self):
        return self.head("start", "start", {
            "accountSid": "AC" + uuid.uuid4().hex, "streamSid": self.sid, "callSid": self.call_sid,
            "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"FirstName": "Jane"}})

    def greeting(self):
        return [json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
                json.dumps(self.start_msg())]

    def wire(self, pcm):
        return bytes(ulaw_encode(x) for x in pcm_samples(pcm))

    def media_msg(self, data):
        self.chunk += 1
        return self.head("media", "media", {"track": "inbound", "chunk": str(self.chunk),
                                            "timestamp": str((self.chunk - 1) * 20), "payload": b64(data)})

    def media(self, data):
        return json.dumps(self.media_msg(data))

    def mark(self, name):
        return json.dumps(self.head("mark", "mark", {"name": name}))

    def controls(self):
        """The bridge's other events, in Twilio's shape."""
        return [json.dumps(self.head("dtmf", "dtmf", {"track": "inbound_track", "digit": "1"})),
                json.dumps(self.head("hold")), json.dumps(self.head("unhold")),
                json.dumps(self.head("transfer_failed", "transfer",
                                     {"to": "sip:agent@example.com", "status": "486", "reason": "Busy Here"}))]

    def ending(self):
        return [json.dumps(self.head("stop", "stop", {"accountSid": "AC42", "callSid": self.call_sid}))]

    def bot_audio(self, frame):
        assert isinstance(frame, str), "binary frame from a twilio bot"
        m = json.loads(frame)
        if m.get("event") != "media":
            return None
        assert m.get("streamSid") == self.sid and "stream_sid" not in m, m
        return base64.b64decode(m["media"]["payload"])

    def bot_mark(self, frame):
        m = json.loads(frame)
        if m.get("event") != "mark":
            return None
        assert m.get("streamSid") == self.sid, m
        return m["mark"]["name"]


class Raw:
    protocol = "raw"
    subprotocols = [JAMBONZ_SUBPROTOCOL]
    frame_ms = 20

    def __init__(self, rate=8000):
        self.rate = rate
        self.sid = "MZ" + uuid.uuid4().hex
        self.metadata = {"callSid": "CA" + uuid.uuid4().hex, "streamSid": self.sid, "accountSid": "AC42",
                         "direction": "inbound", "from": "+15550100", "to": "+15550199", "sampleRate": rate,
                         "mixType": "mono", "encoding": "L16", "customParameters": {"campaign": "spring"}}

    def greeting(self):
        return [json.dumps(self.metadata)]

    def wire(self, pcm):
        return pcm

    def media(self, data):
        return data

    def mark(self, name):
        return json.dumps({"type": "mark", "data": {"name": name, "event": "playout"}})

    def ending(self):
        return []  # the stream ends with the socket

    def bot_audio(self, frame):
        return frame if isinstance(frame, bytes) else None

    def bot_mark(self, frame):
        if isinstance(frame, bytes):
            return None
        m = json.loads(frame)
        return m["data"]["name"] if m.get("type") == "mark" else None


PROFILES = {"exotel": Exotel, "twilio": Twilio, "raw": Raw}
RATES = [("exotel", 8000), ("exotel", 16000), ("exotel", 24000), ("raw", 8000), ("raw", 16000), ("raw", 24000),
         ("twilio", 8000)]


def connect(bot, stream):
    return websockets.connect(bot.url, subprotocols=stream.subprotocols, max_queue=None, open_timeout=TIMEOUT)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def close_code(ws):
    """Read until the bot closes; returns the code of its close frame."""
    try:
        while True:
            await recv(ws)
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None


def frames_of(stream, wire):
    """wire bytes cut into the bridge's message size for the stream."""
    per = len(stream.wire(pcm_bytes([0] * (stream.rate * stream.frame_ms // 1000))))
    return [wire[i:i + per] for i in range(0, len(wire), per)]


def run(coro):
    return asyncio.run(coro)


async def echo_session(ws, stream, messages, want_bytes):
    """Greets the bot, sends messages (an iterable taken after the greeting, so a generator of stream.media()
    numbers them after it), reads its audio until want_bytes have come back, then ends the stream. Returns the
    audio frames in the order they came."""
    for f in stream.greeting():
        await ws.send(f)
    for m in messages:
        await ws.send(m)
    got = []
    while sum(map(len, got)) < want_bytes:
        a = stream.bot_audio(await recv(ws))
        if a is not None:
            got.append(a)
    for f in stream.ending():
        await ws.send(f)
    return got


# ---------------------------------------------------------------------------------------------------------------
# Echo and tone at every rate


@pytest.mark.parametrize("protocol,rate", RATES)
def test_echo_round_trip(bot, protocol, rate):
    """A second of tone comes back bit for bit in the protocol's format, and --record holds it as PCM16 LE."""
    stream = PROFILES[protocol](rate)
    b = bot(protocol, "echo", strict=protocol == "twilio")
    pcm = pcm_bytes(tone(rate, 1000))
    wire = stream.wire(pcm)
    sent = frames_of(stream, wire)

    async def talk():
        async with connect(b, stream) as ws:
            return await echo_session(ws, stream, (stream.media(f) for f in sent), len(wire))

    got = run(talk())
    assert got == sent, "echoed %d frames of sizes %s, sent %d" % (len(got), sorted({len(x) for x in got}), len(sent))
    assert b.wait_closed(conn=1)["code"] == 1000

    start = b.rx("start", conn=1)
    assert len(start) == 1
    assert not b.select("violation")
    assert not [e for e in b.rx(conn=1) if e.get("error")], "rx errors: %s" % b.rx(conn=1)[:3]
    txm = b.tx("media", conn=1)
    assert len(txm) == len(sent)
    if protocol == "raw":
        assert start[0]["msg"] == stream.metadata
        assert all(e["bytes"] == len(sent[0]) and "msg" not in e for e in txm), txm[:2]
    else:
        assert all(e["msg"]["media"]["payload_bytes"] == len(sent[0]) for e in txm), txm[:2]

    rec = b.recording(stream.sid)
    if protocol == "twilio":
        assert rec == pcm_bytes([ulaw_decode(u) for u in wire]), "recording is not the G.711 decode of the µ-law"
        assert snr_db(pcm_samples(pcm), pcm_samples(rec)) > 30
    else:
        assert rec == pcm, "recording differs from the PCM sent (%d vs %d bytes)" % (len(rec), len(pcm))


@pytest.mark.parametrize("protocol,rate", RATES)
def test_tone_at_rate(bot, protocol, rate):
    """Tone mode sends a 1 kHz sine at the stream's rate in the protocol's format and message size."""
    stream = PROFILES[protocol](rate)
    b = bot(protocol, "tone", tone_hz=TONE_HZ)
    want_ms = 600

    async def talk():
        async with connect(b, stream) as ws:
            for f in stream.greeting():
                await ws.send(f)
            got = []
            while sum(map(len, got)) < len(stream.wire(pcm_bytes([0] * (rate * want_ms // 1000)))):
                a = stream.bot_audio(await recv(ws))
                if a is not None:
                    got.append(a)
        return got

    got = run(talk())
    if protocol == "twilio":
        assert {len(a) for a in got} == {160}, "twilio tone messages must be 20 ms of µ-law"
        samples = [ulaw_decode(u) for u in b"".join(got)]
    else:
        assert {len(a) for a in got} == {rate // 10 * 2}, "tone chunks must be 100 ms of PCM16 at %d" % rate
        samples = pcm_samples(b"".join(got))
    seconds = len(samples) / rate
    hz = zero_crossings(samples) / 2 / seconds
    assert abs(hz - TONE_HZ) < TONE_HZ * 0.02, "tone at %.0f Hz, sent as if the rate were not %d" % (hz, rate)
    assert 7000 < max(samples) < 8200, max(samples)
    b.wait_closed(conn=1)


# ---------------------------------------------------------------------------------------------------------------
# Twilio --strict


def test_twilio_strict_accepts_bridge_stream(bot):
    """Everything the bridge sends a Twilio bot passes --strict: no violation, echo and the close are normal."""
    stream = Twilio()
    b = bot("twilio", "echo", strict=True)
    sent = frames_of(stream, stream.wire(pcm_bytes(tone(8000, 1000))))

    async def talk():
        async with connect(b, stream) as ws:
            for f in stream.greeting():
                await ws.send(f)
            for i, f in enumerate(sent):
                await ws.send(stream.media(f))
                if i == 10:
                    await ws.send(stream.mark("m1"))
                    for c in stream.controls():
                        await ws.send(c)
            got = 0
            while got < len(sent):
                if stream.bot_audio(await recv(ws)) is not None:
                    got += 1
            for f in stream.ending():
                await ws.send(f)
            # The bot must still be there after stop: the socket is the bridge's to close.
            pong = await ws.ping()
            await asyncio.wait_for(pong, TIMEOUT)

    run(talk())
    assert b.wait_closed(conn=1)["code"] == 1000
    assert not b.select("violation"), b.select("violation")
    events = [e["event"] for e in b.rx(conn=1) if e["event"] != "media"]
    assert events == ["connected", "start", "mark", "dtmf", "hold", "unhold", "transfer_failed", "stop"], events
    assert len(b.rx("media", conn=1)) == len(sent) == len(b.tx("media", conn=1))


def _bad_rate(stream):
    m = stream.start_msg()
    m["start"]["mediaFormat"]["sampleRate"] = "8000"
    return json.dumps(m)


def _snake_start(stream):
    m = stream.start_msg()
    m["start"]["custom_parameters"] = m["start"].pop("customParameters")
    return json.dumps(m)


def _snake_media(stream):
    m = stream.media_msg(b"\xff" * 160)
    m["stream_sid"] = stream.sid
    return json.dumps(m)


def _long_payload(stream):
    return stream.media(b"\xff" * 800)


def _seq_gap(stream):
    stream.seq += 1
    return stream.media(b"\xff" * 160)


def _chunk_gap(stream):
    stream.chunk += 1
    return stream.media(b"\xff" * 160)


def _other_sid(stream):
    m = stream.media_msg(b"\xff" * 160)
    m["streamSid"] = "MZ" + uuid.uuid4().hex
    return json.dumps(m)


# (name, builder of the bad message, where it goes: "start" replaces start, "media" follows 3 good media,
#  a word the violation's error must contain)
VIOLATIONS = [
    ("snake_case_in_media", _snake_media, "media", "stream_sid"),
    ("snake_case_in_start", _snake_start, "start", "custom_parameters"),
    ("payload_100ms", _long_payload, "media", "800"),
    ("rate_as_string", _bad_rate, "start", "sampleRate"),
    ("sequence_gap", _seq_gap, "media", "sequenceNumber"),
    ("chunk_gap", _chunk_gap, "media", "chunk"),
    ("other_stream_sid", _other_sid, "media", "streamSid"),
]


@pytest.mark.parametrize("name,build,where,word", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_twilio_strict_flags_violation(bot, name, build, where, word):
    """One bad message: the bot logs a violation naming it, ignores what follows and closes with 1008."""
    stream = Twilio()
    b = bot("twilio", "echo", strict=True)
    good = b"\xff" * 160

    async def talk():
        async with connect(b, stream) as ws:
            greeting = stream.greeting()
            await ws.send(greeting[0])
            if where == "start":
                stream.seq = 0
                bad = build(stream)
            else:
                await ws.send(greeting[1])
                for _ in range(3):
                    await ws.send(stream.media(good))
                bad = build(stream)
            await ws.send(bad)
            await ws.send(stream.media(good))
            return bad, await close_code(ws)

    bad, code = run(talk())
    assert code == 1008, "bot closed with %s, not 1008 (policy violation)" % code
    assert b.wait_closed(conn=1)["code"] == 1008
    v = b.select("violation", conn=1)
    assert len(v) == 1, v
    assert word in v[0]["error"], v[0]
    assert v[0]["raw"] == bad[:200]
    # Nothing after the bad message was taken in.
    rx = b.rx(conn=1)
    assert len(rx) == (2 if where == "start" else 6), [e["event"] for e in rx]
    assert len(b.tx("media", conn=1)) <= 3


def test_twilio_without_strict_takes_100ms(bot):
    """The same 100 ms payload is echoed when --strict is off: strict is what refuses it."""
    stream = Twilio()
    b = bot("twilio", "echo")

    async def talk():
        async with connect(b, stream) as ws:
            for f in stream.greeting():
                await ws.send(f)
            await ws.send(stream.media(b"\x7f" * 800))
            while True:
                a = stream.bot_audio(await recv(ws))
                if a is not None:
                    return a

    assert run(talk()) == b"\x7f" * 800
    b.wait_closed(conn=1)
    assert not b.select("violation")


# ---------------------------------------------------------------------------------------------------------------
# Raw


def test_raw_metadata_and_control_frames(bot):
    """The metadata frame is logged as start, binary frames as media with their size, text frames by their type
    or event; the jambonz subprotocol is echoed."""
    stream = Raw(16000)
    b = bot("raw", "echo")
    frame = pcm_bytes(tone(16000, 20))
    controls = [{"type": "hold"}, {"event": "dtmf", "dtmf": "5", "duration": 200},
                {"type": "mark", "data": {"name": "m1", "event": "playout"}}, {"type": "unhold"},
                {"type": "transfer_failed", "data": {"to": "sip:agent@example.com", "status": 486,
                                                     "reason": "Busy Here"}}]

    async def talk():
        async with connect(b, stream) as ws:
            assert ws.subprotocol == JAMBONZ_SUBPROTOCOL
            await ws.send(stream.greeting()[0])
            for _ in range(3):
                await ws.send(frame)
            for c in controls:
                await ws.send(json.dumps(c))
            got = [await recv(ws) for _ in range(3)]
        return got

    assert run(talk()) == [frame] * 3
    b.wait_closed(conn=1)
    assert b.select("open")[0]["headers"]["sec-websocket-protocol"] == JAMBONZ_SUBPROTOCOL
    rx = b.rx(conn=1)
    assert [e["event"] for e in rx] == ["start", "media", "media", "media", "hold", "dtmf", "mark", "unhold",
                                        "transfer_failed"]
    assert rx[0]["msg"] == stream.metadata
    assert all(e["bytes"] == len(frame) and "msg" not in e for e in rx[1:4]), rx[1:4]
    assert [e["msg"] for e in rx[4:]] == controls
    assert b.recording(stream.sid) == frame * 3


# ---------------------------------------------------------------------------------------------------------------
# Marks in scripts


def mark_script(protocol):
    """Tone, a mark; once the bridge echoes that mark, a hang-up message and a close."""
    if protocol == "raw":
        mark = {"type": "mark", "data": {"name": "end"}}
        bye = {"type": "disconnect"}
    elif protocol == "twilio":
        mark = {"event": "mark", "streamSid": "$STREAM_SID", "mark": {"name": "end"}}
        bye = {"event": "hangup", "streamSid": "$STREAM_SID"}
    else:
        mark = {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "end"}}
        bye = {"event": "hangup", "stream_sid": "$STREAM_SID"}
    return [{"tone": {"ms": 200, "hz": TONE_HZ}}, {"send": mark}, {"wait_event": "mark", "name": "end"},
            {"send": bye}, {"close": 1000}]


@pytest.mark.parametrize("protocol,rate", [("exotel", 8000), ("exotel", 24000), ("twilio", 8000), ("raw", 16000)])
def test_script_mark_echo(bot, protocol, rate):
    """A script's audio goes out in the protocol's format, its mark with the stream's sid, and it goes on only when
    the bridge echoes that mark in the protocol's own mark shape."""
    stream = PROFILES[protocol](rate)
    b = bot(protocol, script=mark_script(protocol), strict=protocol == "twilio")

    async def talk():
        async with connect(b, stream) as ws:
            for f in stream.greeting():
                await ws.send(f)
            audio = []
            while True:
                f = await recv(ws)
                a = stream.bot_audio(f)
                if a is not None:
                    audio.append(a)
                    continue
                assert stream.bot_mark(f) == "end", f
                break
            await ws.send(stream.mark("other"))
            await ws.send(stream.mark("end"))
            bye = json.loads(await recv(ws))
            return audio, bye, await close_code(ws)

    audio, bye, code = run(talk())
    if protocol == "twilio":
        assert [len(a) for a in audio] == [160] * 10
        samples = [ulaw_decode(u) for u in b"".join(audio)]
        assert bye == {"event": "hangup", "streamSid": stream.sid}
    else:
        assert [len(a) for a in audio] == [rate // 10 * 2] * 2
        samples = pcm_samples(b"".join(audio))
        assert bye == ({"type": "disconnect"} if protocol == "raw" else
                       {"event": "hangup", "stream_sid": stream.sid})
    hz = zero_crossings(samples) / 2 / (len(samples) / rate)
    assert abs(hz - TONE_HZ) < TONE_HZ * 0.03, hz
    assert code == 1000
    assert not b.select("violation")
    log = b.events()
    end_rx = [i for i, e in enumerate(log) if e.get("dir") == "rx" and e.get("event") == "mark"]
    bye_tx = [i for i, e in enumerate(log) if e.get("dir") == "tx" and e.get("event") in ("hangup", "disconnect")]
    assert len(end_rx) == 2 and len(bye_tx) == 1 and end_rx[1] < bye_tx[0], (end_rx, bye_tx)


@pytest.mark.parametrize("protocol,rate,frames", [("exotel", 24000, 6000), ("twilio", 8000, 20000)])
def test_fast_echo_whole_and_in_order_behind_a_slow_reader(bot, protocol, rate, frames):
    """The load tool's bot (no --log, --record or --strict) echoes media in the bridge's own shape without jansson,
    writing each echo from its receive callback and queueing it only behind what the socket has not taken. A
    client that reads nothing until it has sent every frame (its receive buffer small, so the bot's writes back up)
    gets every frame back, intact and in order."""
    stream = PROFILES[protocol](rate)
    b = bot(protocol, "echo", fast=True)
    # Pseudo-random payloads: PCM16 for Exotel, µ-law for Twilio; the echo carries them unchanged.
    rnd = random.Random(rate + frames)
    per = rate * stream.frame_ms // 1000 * (2 if protocol == "exotel" else 1)
    sent = [rnd.randbytes(per) for _ in range(frames)]
    # The media message exactly as the bridge writes it: its keys in its order, no spaces.
    compact = (json.dumps(json.loads(stream.media(f)), separators=(",", ":")) for f in sent)

    async def talk():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.connect(("127.0.0.1", b.port))
        async with websockets.connect(b.url, sock=sock, max_queue=1, open_timeout=TIMEOUT) as ws:
            return await echo_session(ws, stream, compact, per * len(sent))

    got = asyncio.run(asyncio.wait_for(talk(), 120))
    assert len(got) == len(sent), "%d frames back of %d" % (len(got), len(sent))
    bad = [k for k in range(len(sent)) if got[k] != sent[k]]
    assert not bad, "%d frames differ from what was sent at that place, the first at %d" % (len(bad), bad[0])

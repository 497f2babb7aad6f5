"""Garbage on every input: SIP port, RTP port during a call, bot messages. The daemon keeps working."""

import base64
import random
import re
import socket
import struct

import rtp
import sbtest



def test_junk_on_sip_port(env, bridge, sipp):
    d, bot = bridge("echo")
    rnd = random.Random(9)
    junk = [bytes(rnd.randrange(256) for _ in range(n)) for n in (1, 7, 100, 1400)]
    junk += [b"\r\n\r\n", b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKj1\r\nFro",
             b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n",
             b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\nabc",
             b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKj2\r\n"
             b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: junk1\r\nCSeq: 1 INVITE\r\n"
             b"Content-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\n\x00\x01\x02\x03"]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for j in junk:
        u.sendto(j, ("127.0.0.1", d.sip_port))
    u.close()
    t = socket.create_connection(("127.0.0.1", d.sip_port), timeout=5)
    t.sendall(junk[3] + b"\r\n\r\n" + junk[5])
    t.close()
    assert d.alive()
    res = sipp("uac_options.xml", d).run()
    assert res.rc == 0 and res.final_status("OPTIONS") == 200, res.describe()
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")


def rtp_junk():
    rnd = random.Random(3)
    out = [b"", b"\x80", bytes(11), b"\x00" * 172,                         # short, version 0
           b"\xc0\x08" + bytes(170),                                         # version 3
           b"\x8f\x08\x00\x01" + bytes(8),                                   # 15 CSRCs announced, none present
           b"\x90\x08\x00\x02" + bytes(8) + b"\x00\x00\xff\xff",             # extension longer than the packet
           b"\xa0\x08\x00\x03" + bytes(8) + b"\x10" * 10 + b"\xff",          # padding longer than the payload
           struct.pack("!BBHII", 0x80, 99, 4, 4, 1) + bytes(160),            # unknown payload type
           struct.pack("!BBHII", 0x80, 8, 5, 5, 1) + bytes(3000)]            # oversized
    out += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400))) for _ in range(20)]
    return out


def tone_windows(pcm, hz=1000, win=800):
    return sum(rtp.dominant(pcm[i:i + win], hz) for i in range(0, len(pcm) - win + 1, win))


def test_junk_on_rtp_port(env, bridge, sipp):
    d, bot = bridge("silent")
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(5, timeout=20)
    sid = bot.start_msg()["stream_sid"]
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk.bind(("127.0.0.1", 0))
    for j in rtp_junk():
        junk.sendto(j, ep.peer)       # from a stranger
        ep.send_raw(j)                # and from the caller's own address
    junk.close()
    n_before = len(ep.snapshot())
    ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1500)))

    def tone_recorded():
        try:
            return tone_windows(rtp.from_pcm16le(bot.recording(sid))) >= 10
        except FileNotFoundError:
            return False

    sbtest.wait_until(tone_recorded, 20, "the caller's tone, sent after the junk, to reach the bot")
    # the bridge still streams to the caller, from the same address, to the same place
    ep.wait_packets(n_before + 25, timeout=10)
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    assert len({p.src for p in ep.snapshot()}) == 1


def test_bad_bot_messages(env, bridge, sipp):
    bad = [{"send_raw": "this is not json"},
           {"send_raw": "{\"event\":"},
           {"send_raw": "[1,2,3]"},
           {"send": {"event": "no-such-event", "stream_sid": "$STREAM_SID"}},
           {"send": {"stream_sid": "$STREAM_SID"}},
           {"send": {"event": "media", "stream_sid": "$STREAM_SID"}},
           {"send": {"event": "media", "stream_sid": "$STREAM_SID", "media": {"payload": "AAEC"}}},  # 3 bytes
           {"send": {"event": "media", "stream_sid": "$STREAM_SID", "media": {"payload": "!!not base64!!"}}},
           {"send": {"event": "media", "stream_sid": "$STREAM_SID", "media": {"payload": 42}}},
           {"send": {"event": "mark", "stream_sid": "$STREAM_SID"}},
           {"send": {"event": "clear", "stream_sid": "$STREAM_SID", "extra": {"x": [1, 2]}}}]
    script = sbtest.script_until_played(
        [{"wait_event": "media", "count": 2}] + bad +
        [{"wait_event": "media", "count": 12},
         {"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 3200, "key": "stream_sid"}}])
    admin = env.ports.port()
    d, bot = bridge(script=script, admin={"port": admin})
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    tx = bot.tx()
    assert len(tx) > len(bad), "the bot log lacks the bad messages: %s" % tx
    bot.wait_closed(1)
    # every one is counted but the last, a clear with a key the bridge does not know, which is taken as a clear
    assert sbtest.metric(admin, "sipbridge_bot_bad_messages_total") == len(bad) - 1
    assert sbtest.metric(admin, "sipbridge_bot_clears_total") == 1
    last_bad = tx[len(bad) - 1]["t_ms"]  # the script sends nothing before them
    after = [e for e in bot.rx("media") if e["t_ms"] > last_bad]
    assert len(after) >= 5, "only %d media messages reached the bot after the bad input" % len(after)
    loud = [p for p in ep.snapshot() if not rtp.is_silent(p)]
    assert len(loud) >= 40, "only %d tone packets reached the caller after the bad input" % len(loud)
    pcm = []
    for p in loud:
        pcm.extend(rtp.decode(p.pt, p.payload))
    assert rtp.dominant(pcm, 1000)
    assert d.alive()


def test_oversized_bot_message_skipped(env, bridge, sipp):
    # a 700 KB media message (a 440 Hz tone) is over the bridge's message bound: skipped whole
    big = rtp.pcm16le(rtp.tone(440, 40000))
    oversized = '{"event":"media","stream_sid":"x","media":{"payload":"%s"}}' % base64.b64encode(big).decode()
    assert len(oversized) > 700000
    script = sbtest.script_until_played(
        [{"wait_event": "media", "count": 2}, {"send_raw": oversized},
         {"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 3200, "key": "stream_sid"}}])
    d, bot = bridge(script=script)
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    loud = [p for p in ep.snapshot() if not rtp.is_silent(p)]
    assert 40 <= len(loud) <= 60, "%d tone packets; expected the 1 s tone only" % len(loud)
    pcm = [s for p in loud for s in rtp.decode(p.pt, p.payload)]
    assert rtp.dominant(pcm, 1000, others=(440, 300, 700, 2000)), "the oversized 440 Hz audio was played"
    assert d.alive()


def test_bot_audio_queue_is_bounded(env, bridge, sipp):
    # max_queue_ms = 1000: of 6 s sent at once, about 1 s is queued (plus the 320 ms ring), the rest dropped
    script = sbtest.script_until_played(
        [{"tone": {"hz": 1000, "ms": 6000, "chunk_bytes": 3200, "key": "stream_sid"}}], close=False)
    script += [{"wait_ms": 500}, {"close": 1000}]
    admin = env.ports.port()
    d, bot = bridge(script=script, bot={"max_queue_ms": 1000}, admin={"port": admin})
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    loud = [p for p in ep.snapshot() if not rtp.is_silent(p)]
    assert 40 <= len(loud) <= 100, "%d tone packets played; the queue bound is 1 s" % len(loud)
    assert bot.rx("mark"), "the mark behind the dropped audio was never echoed"
    assert "dropped" in d.stderr_text()
    # Drops are counted in 20 ms frames: with what was played they make up the 6 s (300 frames); a chunk's
    # partial frame counts as a whole one
    drops = sbtest.metric(admin, 'sipbridge_queue_drops_total{direction="to_caller"}')
    assert 280 <= drops + len(loud) <= 340, "%d frames dropped, %d played" % (drops, len(loud))
    # The warning counts as the metric does (it is rate-limited, so it may name only some of them)
    logged = [int(n) for n in re.findall(r"Bot audio over 1000 ms queued, dropped (\d+) frame\(s\) of 20 ms",
                                         d.stderr_text())]
    assert logged and 0 < sum(logged) <= drops, (logged, drops)

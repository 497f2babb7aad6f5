"""A SIPp caller with custom X- headers and G.711 audio (rtp_stream) through the bridge to a recording bot:
the bot sees connected, start, media, stop and close in the Exotel format, and the recording is the caller's PCM."""

import pytest

import rtp
import sbtest

AUDIO_MS = 1500


def check_recording(caller_pcm, rec_bytes):
    """caller_pcm must appear contiguously and in order in the recording; up to 3 frames may be cut at each end."""
    rec = rtp.from_pcm16le(rec_bytes)
    f = rtp.FRAME_SAMPLES
    for cut_head in range(4):
        for cut_tail in range(4):
            part = caller_pcm[cut_head * f: len(caller_pcm) - cut_tail * f]
            if rtp.find_sub(rec, part) >= 0:
                return cut_head, cut_tail
    # say how much did match, to tell loss from reordering or distortion
    first = caller_pcm[4 * f: 5 * f]
    raise AssertionError("caller PCM (%d samples) not found contiguously in the recording (%d samples); "
                         "frame 4 found at %d" % (len(caller_pcm), len(rec), rtp.find_sub(rec, first)))


@pytest.mark.parametrize("transport,pt", [("u1", rtp.PT_PCMA), ("t1", rtp.PT_PCMA), ("u1", rtp.PT_PCMU)],
                         ids=["udp-pcma", "tcp-pcma", "udp-pcmu"])
def test_basic_call(env, bridge, sipp, transport, pt):
    d, bot = bridge("silent")
    audio = rtp.noise_octets(pt, 8 * AUDIO_MS, seed=77)
    keys = {"fmts": "8 0" if pt == rtp.PT_PCMA else "0 8", "customer": "salesbot", "uui": "UUI-77;x=1",
            "account_sid": "AC77", "campaign": "summer", "caller": "alice", "did": "+15550001"}
    res = sipp("uac_basic.xml", d, transport=transport, keys=keys, rtp_payload=pt, caller_audio=audio,
               duration_ms=AUDIO_MS + 1200).run()
    assert res.rc == 0, res.describe()

    # SIP: 180 before 200, answer with the caller's first codec, ptime 20, a port from the RTP range
    st = res.statuses()
    assert 180 in st and st.index(180) < st.index(200), "expected 180 before 200: %s" % st
    ok = res.response(200)
    sdp = sbtest.parse_sdp(ok.body())
    assert sdp["fmts"] and sdp["fmts"][0] == pt, "answer codecs %s, caller listed %d first" % (sdp["fmts"], pt)
    assert "ptime:20" in sdp["attrs"], sdp
    assert sdp["c"] == "127.0.0.1", sdp
    assert env.rtp_range[0] <= sdp["port"] <= env.rtp_range[1] + 1, (sdp, env.rtp_range)

    # bot: connected, start, media..., stop, close, in this order, on one connection
    assert bot.conns() == [1], bot.conns()
    bot.wait_closed(1)
    rx = bot.rx(conn=1)
    names = [e["event"] for e in rx]
    assert names[:2] == ["connected", "start"], names[:5]
    assert names[-1] == "stop", names[-5:]
    assert set(names[2:-1]) == {"media"}, "unexpected events between start and stop: %s" % set(names[2:-1])
    evs = bot.events()
    i_stop = next(i for i, e in enumerate(evs) if e.get("dir") == "rx" and e.get("event") == "stop")
    closes = [e for e in evs[i_stop:] if e.get("dir") == "close"]
    assert closes and closes[0].get("code") == 1000, "after stop, expected a normal close: %s" % closes

    start = rx[1]["msg"]
    assert start["event"] == "start" and start["sequence_number"] == "1", start
    s = start["start"]
    sid = start["stream_sid"]
    assert sid and s["stream_sid"] == sid, start
    assert s["call_sid"] and s["account_sid"] == "AC77", s
    assert s["from"] == "alice" and s["to"] == "+15550001", s
    cp = s["custom_parameters"]
    assert cp.get("X-UUI") == "UUI-77;x=1", cp
    assert cp.get("X-Account-Sid") == "AC77", cp
    assert cp.get("X-Customer-Header") == "salesbot", cp
    assert cp.get("X-Campaign") == "summer", cp
    assert s["media_format"] == {"encoding": "base64", "sample_rate": "8000", "bit_rate": "128kbps"}, s
    assert "streamSid" not in s and "callSid" not in s, "camelCase ids inside start confuse Pipecat: %s" % s

    media = [e["msg"] for e in rx if e["event"] == "media"]
    assert len(media) >= AUDIO_MS // 100, "only %d media messages for %d ms of audio" % (len(media), AUDIO_MS)
    for m in media:
        assert m["stream_sid"] == sid and m["media"]["payload_bytes"] == 1600, m
    first, last = sbtest.media_sequence_ok(media)
    assert first == 2, "first media sequence_number %d, expected 2 (start is 1)" % first

    stop = rx[-1]["msg"]
    assert int(stop["sequence_number"]) == last + 1, (stop, last)
    assert stop["stream_sid"] == sid, stop
    assert stop["stop"]["call_sid"] == s["call_sid"] and stop["stop"]["account_sid"] == "AC77", stop
    assert stop["stop"]["reason"] == "callended", stop

    # the recording is exactly the caller's audio, decoded
    check_recording(rtp.decode(pt, audio), bot.recording(sid))


def test_account_sid_defaults_to_trunk_name(env, bridge, sipp):
    d, bot = bridge("silent")
    ep = env.endpoint()
    # no X-Account-Sid header: the value travels in a non-X header that must not reach the bot
    res = sipp("uac_call.xml", d, keys={"account_hdr": "P-Account"}, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    start = bot.start_msg()
    s = start["start"]
    assert s["account_sid"] == "test", "account_sid should be the trunk name: %s" % s
    assert "X-Account-Sid" not in s["custom_parameters"] and "P-Account" not in s["custom_parameters"], s
    stop = bot.wait_event("rx", "stop")[0]["msg"]
    assert stop["stop"]["account_sid"] == "test", stop

"""The bot protocol profiles end to end: a tone through an echo bot for every profile and rate (Exotel and raw at
8, 16 and 24 kHz, Twilio at 8 kHz µ-law), checked at the bot (its start message names the rate, it received the
right number of samples at that rate with 1 kHz dominant) and at the caller (1 kHz comes back); a strict Twilio bot
that round-trips a tone, a mark and a key; a raw bot offered its subprotocol, with jambonz's mark and killAudio;
and sipbridge-call, the bot developer's test phone, against an echo bot of each profile."""

import glob
import os
import wave

import pytest

import callctl
import rtp
import sbtest

PT = rtp.PT_PCMU
LEAD_MS, TONE_MS, TAIL_MS = 200, 2000, 600

PROFILES = [
    pytest.param("exotel", 8000, False, id="exotel-8000"),
    pytest.param("exotel", 16000, False, id="exotel-16000"),
    pytest.param("exotel", 24000, True, id="exotel-24000-url"),
    pytest.param("raw", 8000, False, id="raw-8000"),
    pytest.param("raw", 16000, True, id="raw-16000-url"),
    pytest.param("raw", 24000, False, id="raw-24000"),
    pytest.param("twilio", 8000, False, id="twilio-8000"),
]


def silence(ms):
    return bytes([rtp.silence_octet(PT)]) * (8 * ms)


def recording(bot):
    """The PCM16 the test bot received on its only connection, as samples."""
    files = glob.glob(os.path.join(bot.record_dir, "*.raw"))
    assert len(files) == 1, "expected one recording, found %s" % files
    with open(files[0], "rb") as f:
        return rtp.from_pcm16le(f.read())


def start_rate(proto, start):
    """The sample rate the bridge announced in its first message, as the profile writes it."""
    if proto == "exotel":
        rate = start["start"]["media_format"]["sample_rate"]
        assert isinstance(rate, str), start
        return int(rate)
    if proto == "twilio":
        mf = start["start"]["mediaFormat"]
        assert mf == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}, mf
        return mf["sampleRate"]
    assert start["encoding"] == "L16" and start["mixType"] == "mono", start
    return start["sampleRate"]


def bot_config(rate, by_url, url):
    return {"url": url + "?sample-rate=%d" % rate} if by_url else {"sample_rate": rate}


@pytest.mark.parametrize("proto,rate,by_url", PROFILES)
def test_tone_through_echo_bot(env, sipp, proto, rate, by_url):
    bot = env.testbot("echo", protocol=proto, strict=proto == "twilio")
    cfg = {"name": "default", "url": bot.url, "protocol": proto}
    cfg.update(bot_config(rate, by_url, bot.url))
    d = env.daemon(env.config([cfg]))
    ep = env.endpoint(PT)
    call = sipp("uac_call.xml", d, keys={"fmts": "0 8"}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    sent = silence(LEAD_MS) + rtp.encode(PT, rtp.tone(1000, TONE_MS)) + silence(TAIL_MS)
    ep.send_audio(sent)
    ep.wait_tx_done(timeout=30)

    def echoed(e):
        loud = [p for p in e.packets if not rtp.is_silent(p)]
        return len(loud) >= TONE_MS // 20 - 5

    ep.wait_for(echoed, 20, "the tone to come back through the %s echo bot at %d Hz" % (proto, rate))
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    bot.wait_closed(timeout=20)

    assert start_rate(proto, bot.start_msg()) == rate
    # Every caller sample reached the bot, at its rate: what the caller sent, resampled, the last media message
    # (still being gathered when the call ended) and the resampler's look-ahead (its last 3 ms) included.
    got = recording(bot)
    want = len(sent) * rate // 8000
    assert len(got) == want, (
        "the bot received %d samples at %d Hz, the caller sent %d (%d at 8 kHz)" % (len(got), rate, want, len(sent)))
    tone_part = got[(LEAD_MS + 300) * rate // 1000:(LEAD_MS + TONE_MS - 300) * rate // 1000]
    assert rtp.dominant(tone_part, 1000, rate=rate), "1 kHz is not dominant in what the bot received"
    silent_part = got[:(LEAD_MS - 50) * rate // 1000]
    assert rtp.rms(silent_part) < 100, "the lead-in silence is not silent at the bot (rms %.0f)" % rtp.rms(silent_part)
    # The caller hears the echo at 8 kHz: 1 kHz, in whole 20 ms packets of the negotiated codec.
    back = []
    for p in ep.snapshot():
        assert p.pt == PT and len(p.payload) == 160, (p.pt, len(p.payload))
        if not rtp.is_silent(p):
            back.extend(rtp.decode(PT, p.payload))
    assert len(back) >= (TONE_MS - 200) * 8, "only %d samples of tone came back" % len(back)
    assert rtp.dominant(back[800:-800], 1000), "1 kHz is not dominant in the echo the caller heard"
    if proto == "twilio":
        assert not bot.select("violation"), bot.select("violation")
        media = bot.rx("media")
        assert media and all(m["msg"]["media"]["payload_bytes"] == 160 for m in media), (
            "Twilio media messages must carry 20 ms (160 µ-law bytes) each")


def test_twilio_strict_tone_mark_and_dtmf(env, sipp):
    """A bot written for Twilio, checking every field it gets: the bridge's tone reaches it as 20 ms µ-law messages,
    its own tone and mark come back (the mark once played), and a key the caller presses arrives as Twilio's dtmf."""
    steps = [{"wait_event": "media", "count": 5},
             {"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 800}},
             {"send": {"event": "mark", "streamSid": "$STREAM_SID", "mark": {"name": "greeting"}}},
             {"wait_event": "mark", "name": "greeting"},
             {"wait_event": "dtmf", "count": 1},
             {"close": 1000}]
    bot = env.testbot(script=steps, protocol="twilio", strict=True)
    d = env.daemon(env.config([{"name": "default", "url": bot.url, "protocol": "twilio"}]))
    ep = env.endpoint(PT)
    call = sipp("uac_wait_bye_te.xml", d, keys={"fmts": "0 101", "te_pt": 101}, rtp_port=ep.port).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()
    bot.wait_event("tx", "mark", timeout=20)
    bot.wait_event("rx", "mark", timeout=20)
    ep.send_dtmf("7", 160)
    bot.wait_closed(timeout=20)
    res = call.wait()
    assert res.rc == 0, "the bot's close should end the call with a BYE: " + res.describe()
    assert not bot.select("violation"), bot.select("violation")
    start = bot.start_msg()
    assert start["start"]["streamSid"].startswith("MZ") and start["start"]["callSid"].startswith("CA"), start
    mark = bot.rx("mark")[0]["msg"]
    assert mark["mark"] == {"name": "greeting"} and mark["streamSid"] == start["streamSid"], mark
    dtmf = bot.rx("dtmf")[0]["msg"]
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "7"}, dtmf
    # The mark came back only after its second of tone had been played to the caller.
    loud = [p for p in ep.snapshot() if not rtp.is_silent(p)]
    assert len(loud) >= 45, "only %d packets of the bot's tone reached the caller" % len(loud)
    pcm = []
    for p in loud:
        pcm.extend(rtp.decode(PT, p.payload))
    assert rtp.dominant(pcm, 1000)
    sent_mark = bot.tx("mark")[0]["t_ms"]
    assert bot.rx("mark")[0]["t_ms"] - sent_mark >= 800, "the mark came back before its audio was played"


def test_raw_subprotocol_marks_and_kill_audio(env, sipp):
    """A jambonz-style bot: offered audio.jambonz.org, gets the metadata frame first, binary audio after; its mark
    comes back as {"type":"mark","data":{"event":"playout"}} once played, and killAudio clears queued audio and
    returns the pending mark as cleared."""
    steps = [{"wait_event": "media", "count": 5},
             {"tone": {"hz": 500, "ms": 600, "chunk_bytes": 9600}},
             {"send": {"type": "mark", "data": {"name": "first"}}},
             {"wait_event": "mark", "name": "first"},
             {"tone": {"hz": 1000, "ms": 5000, "chunk_bytes": 16000}},
             {"send": {"type": "mark", "data": {"name": "second"}}},
             {"wait_ms": 300},
             {"send": {"type": "killAudio"}},
             {"wait_event": "mark", "name": "second"},
             {"wait_ms": 500},
             {"send": {"type": "disconnect"}},
             {"wait_ms": 5000}]
    bot = env.testbot(script=steps, protocol="raw")
    d = env.daemon(env.config([{"name": "default", "url": bot.url, "protocol": "raw", "sample_rate": 16000,
                                "subprotocol": "audio.jambonz.org"}]))
    ep = env.endpoint(PT)
    call = sipp("uac_wait_bye.xml", d, keys={"fmts": "0 8"}, rtp_port=ep.port).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()
    res = call.wait()
    assert res.rc == 0, "the bot's disconnect should hang up the call: " + res.describe()
    opened = bot.select("open")[0]
    assert opened["headers"].get("sec-websocket-protocol") == "audio.jambonz.org", opened
    first = bot.events()
    rx = [e for e in first if e.get("dir") == "rx"]
    assert rx[0]["event"] == "start" and rx[0]["msg"]["sampleRate"] == 16000, rx[0]
    assert all(e["event"] == "media" for e in rx[1:6]), "binary audio should follow the metadata: %s" % rx[1:6]
    marks = [e["msg"] for e in bot.rx("mark")]
    assert marks == [{"type": "mark", "data": {"name": "first", "event": "playout"}},
                     {"type": "mark", "data": {"name": "second", "event": "cleared"}}], marks
    # The caller heard the 500 Hz, then at most the 300 ms of 1 kHz before killAudio (plus what was in flight).
    loud = [p for p in ep.snapshot() if not rtp.is_silent(p)]
    pcm = []
    for p in loud:
        pcm.extend(rtp.decode(PT, p.payload))
    assert rtp.dominant(pcm[:4000], 500), "the 500 Hz greeting did not reach the caller first"
    assert len(loud) < 30 + 40, "%d packets of audio reached the caller: killAudio did not clear" % len(loud)


def test_raw_odd_byte_goes_with_kill_audio(env, sipp, tmp_path):
    """A binary frame may end in the middle of a sample (jambonz allows it) and its last byte waits for the next
    frame. killAudio drops that byte with the rest of the queued audio: the tone sent after it reaches the caller as
    it was sent, not shifted by one byte."""
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"\x11\x22\x33")
    steps = [{"wait_event": "media", "count": 5},
             {"pcm": {"file": str(odd)}},
             {"send": {"type": "killAudio"}},
             {"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 3200}},
             {"send": {"type": "mark", "data": {"name": "played"}}},
             {"wait_event": "mark", "name": "played"},
             {"send": {"type": "disconnect"}},
             {"wait_ms": 5000}]
    bot = env.testbot(script=steps, protocol="raw")
    d = env.daemon(env.config([{"name": "default", "url": bot.url, "protocol": "raw"}]))
    ep = env.endpoint(PT)
    call = sipp("uac_wait_bye.xml", d, keys={"fmts": "0 8"}, rtp_port=ep.port).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()
    res = call.wait()
    assert res.rc == 0, "the bot's disconnect should hang up the call: " + res.describe()
    assert bot.tx("media"), "the bot sent no audio"
    loud = [p for p in ep.snapshot() if not rtp.is_silent(p)]
    assert len(loud) >= 45, "only %d packets of the bot's tone reached the caller" % len(loud)
    pcm = []
    for p in loud:
        pcm.extend(rtp.decode(PT, p.payload))
    # Shifted by a byte, every sample is made of two samples' halves: a waveform of another shape and size.
    peak = max(abs(v) for v in pcm)
    assert 7200 <= peak <= 8800, "the tone (amplitude 8000) reached the caller with peak %d: the odd byte stayed" % peak
    assert rtp.dominant(pcm, 1000)


@pytest.mark.parametrize("proto,rate", [("exotel", 16000), ("twilio", 8000), ("raw", 24000)],
                         ids=["exotel-16000", "twilio", "raw-24000"])
def test_call_tool_per_profile(env, proto, rate):
    """What a bot developer does first: point the bridge at the bot and call it with a WAV file."""
    bot = env.testbot("echo", protocol=proto, strict=proto == "twilio")
    d = env.daemon(env.config([{"name": "default", "url": bot.url, "protocol": proto, "sample_rate": rate}]))
    play, rec = os.path.join(env.tmp, "in.wav"), os.path.join(env.tmp, "out.wav")
    with wave.open(play, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(rtp.pcm16le(rtp.tone(1000, 2000)))
    res = callctl.sipbridge_call(sbtest.build_dir(), "sip:+15550001@127.0.0.1:%d" % d.sip_port, play=play,
                                 record=rec, headers=["X-UUI: profile-%s" % proto])
    assert res.returncode == 0, callctl.describe(res)
    j = res.json
    assert j["code"] == 200 and j["hangup"] == "local" and j["rtp_lost"] == 0, j
    assert abs(j["sent_s"] - 2.0) <= 0.3 and j["received_s"] >= 2.0, j
    with wave.open(rec) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        back = rtp.from_pcm16le(w.readframes(w.getnframes()))
    loud = [i for i in range(0, len(back) - 800, 800) if rtp.rms(back[i:i + 800]) > 1000]
    assert len(loud) >= 15, "only %d loud 100 ms blocks came back through the %s bot" % (len(loud), proto)
    assert rtp.dominant(back[loud[2]:loud[2] + 8000], 1000), "1 kHz is not dominant in what came back"
    bot.wait_closed(timeout=20)
    assert start_rate(proto, bot.start_msg()) == rate
    assert not bot.select("violation"), bot.select("violation")

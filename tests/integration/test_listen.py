"""Listen mode (agent assist): the bot gets the caller's audio only. Its audio, marks, clears and keys are
ignored; the caller hears silence, or with listen_send_silence = false gets no RTP at all."""

import re

import rtp
import sbtest

MARK = {"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "m1"}}}
CLEAR = {"send": {"event": "clear", "stream_sid": "$STREAM_SID"}}
DTMF = {"send": {"event": "dtmf", "stream_sid": "$STREAM_SID", "dtmf": {"digit": "5", "duration": 200}}}
TONE = {"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 3200, "key": "stream_sid", "amplitude": 8000}}


def listening_bot(silence=True):
    """A bot that tries to speak, mark, clear and press a key while it listens to 2 s of the caller, then leaves."""
    script = [{"wait_event": "media", "count": 3}, TONE, MARK, DTMF, CLEAR, TONE, {"wait_event": "media", "count": 25},
              {"close": 1000}]
    return {"mode": "listen", "listen_send_silence": silence}, script


def caller_tone_heard(bot):
    pcm = rtp.from_pcm16le(bot.recording(bot.start_msg()["stream_sid"]))
    windows = sum(rtp.rms(pcm[i:i + 800]) > 1000 and rtp.dominant(pcm[i:i + 800], 500)
                  for i in range(0, len(pcm) - 799, 800))
    assert windows >= 10, "only %d windows of the caller's 500 Hz reached the listening bot" % windows


def test_listen_bot_is_not_heard(env, bridge, sipp):
    cfg, script = listening_bot()
    d, bot = bridge(script=script, bot=cfg)
    ep = env.endpoint()
    ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(500, 3000)))
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()  # the bot's close ends the call (on_close = hangup)
    pkts = ep.snapshot()
    assert len(pkts) >= 50, "%d packets: the caller should hear the bridge's silence" % len(pkts)
    assert all(rtp.is_silent(p) for p in pkts), \
        "%d loud packets reached the caller from a listening bot" % sum(not rtp.is_silent(p) for p in pkts)
    assert {p.pt for p in pkts} == {rtp.PT_PCMA}, "payload types %s" % {p.pt for p in pkts}
    assert all((b.seq - a.seq) & 0xFFFF == 1 for a, b in zip(pkts, pkts[1:])), "a gap in the silence"
    assert not bot.rx("mark") and not bot.rx("dtmf"), "a listening bot's mark or key was acted on"
    assert len(bot.tx("media")) == 10, "the bot did not send the 2 s of audio it was meant to"
    caller_tone_heard(bot)


def test_listen_without_silence_sends_no_rtp(env, bridge, sipp):
    cfg, script = listening_bot(silence=False)
    d, bot = bridge(script=script, bot=cfg)
    ep = env.endpoint()
    call = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).start()
    # With nothing coming from the bridge, the caller learns where to send from the answer.
    m = sbtest.wait_until(lambda: re.search(r"Answered: PCMA/(\d+)", d.stderr_text()), 20, "the answer")
    with ep._cond:
        ep.peer = ("127.0.0.1", int(m.group(1)))
    ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(500, 3000)))
    ep.send_silence_forever()
    res = call.wait()
    assert res.rc == 0, res.describe()
    assert not ep.snapshot(), "%d RTP packets reached the caller with listen_send_silence = false" % len(
        ep.snapshot())
    caller_tone_heard(bot)

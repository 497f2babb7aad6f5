"""re-INVITEs that move the caller's media: a hold (sendonly) from a new address, where music on hold comes
from, and an offer-less re-INVITE whose ACK answers with a new address (an SBC re-anchoring media); hold and
unhold events for a bot that asks for them, and its audio kept through the hold."""

import re

import pytest

import rtp
import sbtest


def bridge_with_timeout(env, testbot, daemon, timeout_s):
    bot = testbot("echo")
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["rtp"]["timeout_s"] = timeout_s
    return daemon(cfg), bot


def wait_log(d, pattern, what, count=1):
    return sbtest.wait_until(lambda: len(re.findall(pattern, d.stderr_text())) >= count, 20, what)


def loud(packets):
    return [p for p in packets if not rtp.is_silent(p)]


def test_hold_from_a_new_address(env, testbot, daemon, sipp):
    # rtp.timeout_s = 2 and a 4 s hold: music on hold from the new address keeps the call alive.
    d, bot = bridge_with_timeout(env, testbot, daemon, 2)
    ep = env.endpoint()    # the caller's first media address: sends 1 s of silence, then nothing
    moh = env.endpoint()   # where the hold re-INVITE moves the media: music on hold (700 Hz)
    ep.send_audio(bytes([rtp.silence_octet(rtp.PT_PCMA)]) * 8000)
    call = sipp("uac_hold_move.xml", d, rtp_port=ep.port, keys={"rtp_port2": moh.port}).start()
    ep.wait_packets(3)
    sid = bot.start_msg()["stream_sid"]
    wait_log(d, r"re-INVITE: PCMA 127\.0\.0\.1:%d, on hold" % moh.port, "the hold re-INVITE")
    with moh._cond:
        moh.peer = ep.peer
    moh.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(700, 8000)))

    res = call.wait()
    assert res.rc == 0, res.describe()
    assert not res.requests("BYE"), "the bridge hung up a caller on hold whose music came from the new address"
    # The music reached the bot during the hold ...
    pcm = rtp.from_pcm16le(bot.recording(sid))
    windows = sum(rtp.rms(pcm[i:i + 800]) > 1000 and rtp.dominant(pcm[i:i + 800], 700)
                  for i in range(0, len(pcm) - 799, 800))
    assert windows >= 30, "only %d windows of music on hold reached the bot" % windows
    # ... nothing went to the caller while it was held (the first packet at the new address follows the last one
    # at the old address in sequence, while the RTP clock moved on by the hold's 4 s), and after the unhold the
    # new address gets the bot's audio (the echoed music).
    first, last = ep.snapshot(), moh.snapshot()
    assert first and last, "no RTP at one of the caller's addresses"
    gap = (last[0].seq - first[-1].seq) & 0xFFFF
    assert gap == 1, "the bridge sent %d packet(s) to the caller during the hold" % (gap - 1)
    held_s = ((last[0].ts - first[-1].ts) & 0xFFFFFFFF) / 8000.0
    assert held_s >= 3.0, "the RTP clock moved %.2f s across a 4 s hold" % held_s
    echoed = loud(last)
    assert len(echoed) >= 25 and rtp.dominant([s for p in echoed for s in rtp.decode(p.pt, p.payload)], 700), \
        "%d loud packets at the new address after the unhold" % len(echoed)
    stop = bot.wait_event("rx", "stop")[0]
    assert stop["msg"]["stop"]["reason"] == "callended", stop


def test_offerless_reinvite_answer_in_ack(env, bridge, sipp):
    d, bot = bridge("echo")
    ep = env.endpoint()    # the media before the re-anchoring
    new = env.endpoint()   # the address the ACK's answer names
    ep.send_silence_forever()
    call = sipp("uac_reinvite_no_sdp.xml", d, rtp_port=ep.port, keys={"rtp_port2": new.port}).start()
    ep.wait_packets(3)
    wait_log(d, r"re-INVITE answered in the ACK: PCMA 127\.0\.0\.1:%d" % new.port, "the ACK's answer")
    ep.send_silence_forever(False)
    with new._cond:
        new.peer = ep.peer
    new.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 2000)))

    def echoed(e):
        lp = loud(e.packets)
        return len(lp) >= 25 and rtp.dominant([s for p in lp for s in rtp.decode(p.pt, p.payload)], 1000)

    new.wait_for(echoed, 20, "the bot's audio at the address the ACK answered with")
    res = call.wait()
    assert res.rc == 0, res.describe()
    oks = [m for m in res.received() if m.status == 200 and m.cseq_method == "INVITE"]
    reoffer = [m for m in oks if m.header("CSeq").startswith("2 ")]
    assert reoffer, res.describe()
    offer = sbtest.parse_sdp(reoffer[0].body())
    first = sbtest.parse_sdp(oks[0].body())
    assert offer["port"] == first["port"] and offer["fmts"] == [8] and "sendrecv" in offer["attrs"], offer
    assert not res.requests("BYE")
    assert len({p.src for p in new.snapshot()}) == 1


def test_hold_events_and_bot_audio_kept(env, testbot, daemon, sipp):
    """A bot with events = ("hold") is told of the hold and the unhold; the 1 s of audio it sends while the
    caller holds is not lost: the caller hears it after the unhold."""
    script = [{"wait_event": "hold"},
              {"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 3200, "key": "stream_sid", "amplitude": 8000}},
              {"wait_event": "unhold"}, {"wait_ms": 3000}]
    bot = testbot(script=script)
    d = daemon(env.config([{"name": "default", "url": bot.url, "events": ["hold"]}]))
    ep = env.endpoint()
    ep.send_audio(bytes([rtp.silence_octet(rtp.PT_PCMA)]) * 4000)  # 0.5 s, then the caller holds
    res = sipp("uac_hold_resume.xml", d, rtp_port=ep.port, duration_ms=2000,
               keys={"before_ms": 500, "after_ms": 2500}).run()
    assert res.rc == 0, res.describe()
    events = [e["msg"]["event"] for e in bot.rx() if e["msg"].get("event") in ("hold", "unhold")]
    assert events == ["hold", "unhold"], events
    hold, unhold = bot.rx("hold")[0], bot.rx("unhold")[0]
    assert hold["msg"]["stream_sid"] == bot.start_msg()["stream_sid"], hold
    tone_sent = bot.tx("media")
    assert tone_sent and tone_sent[-1]["t_ms"] < unhold["t_ms"], "the bot's audio was not sent during the hold"
    pkts = ep.snapshot()
    tone = loud(pkts)
    assert len(tone) == 50, "%d of the 50 packets of the bot's tone reached the caller" % len(tone)
    assert rtp.dominant([s for p in tone for s in rtp.decode(p.pt, p.payload)], 1000)
    # Nothing went out during the hold: the sequence runs on without a gap while the clock jumps by the hold.
    jumps = [(b.ts - a.ts) & 0xFFFFFFFF for a, b in zip(pkts, pkts[1:])]
    assert all((b.seq - a.seq) & 0xFFFF == 1 for a, b in zip(pkts, pkts[1:])), "a sequence gap"
    assert max(jumps) >= 8000, "no hold in the caller's RTP clock (largest step %d)" % max(jumps)
    # and the tone comes after it
    held_at = jumps.index(max(jumps))
    assert pkts.index(tone[0]) > held_at, "the bot's audio was played during the hold"


def test_no_hold_events_without_opting_in(env, bridge, sipp):
    d, bot = bridge("echo")
    ep = env.endpoint()
    res = sipp("uac_hold_resume.xml", d, rtp_port=ep.port, duration_ms=1000,
               keys={"before_ms": 300, "after_ms": 500}).run()
    assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")
    names = [e["msg"].get("event") for e in bot.rx()]
    assert "hold" not in names and "unhold" not in names, names
    assert sbtest.wait_until(lambda: "Caller resumes the call" in d.stderr_text(), 10, "the unhold logged")


def test_update_moves_media_and_refreshes(env, testbot, daemon, sipp):
    """An UPDATE with an offer moves the caller's media as a re-INVITE does: the 200 carries the answer and the
    bot's audio goes to the new address; an UPDATE without a body refreshes the session (its 200 carries
    Session-Expires) and the call goes on to the caller's BYE."""
    bot = testbot("echo")
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["sip"]["min_se_s"] = 3
    d = daemon(cfg)
    ep = env.endpoint()     # the caller's first media address (the UPDATE comes right after the ACK)
    moved = env.endpoint()  # where the UPDATE moves the media: it sends once the bridge's RTP comes there
    call = sipp("uac_update.xml", d, rtp_port=ep.port, keys={"rtp_port2": moved.port}, duration_ms=2500).start()
    wait_log(d, r"UPDATE: PCMA 127\.0\.0\.1:%d, sendrecv" % moved.port, "the UPDATE's offer taken")
    moved.wait_packets(1)
    moved.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(700, 8000 * 4)))
    res = call.wait()
    assert res.rc == 0, res.describe()
    assert [res.final_status(m) for m in ("UPDATE", "BYE")] == [200, 200], res.describe()
    assert not res.requests("BYE"), "the bridge hung up the call"
    echoed = loud(moved.snapshot())
    assert len(echoed) >= 25 and rtp.dominant([s for p in echoed for s in rtp.decode(p.pt, p.payload)], 700), \
        "%d loud packets at the new address after the UPDATE" % len(echoed)


def test_reinvite_taking_audio_away_answered_with_port_0(env, testbot, daemon, sipp):
    """A re-INVITE whose audio has port 0 takes the stream away: the answer has port 0 too (RFC 3264 8.2), not the
    bridge's port, and the call goes on to the caller's BYE."""
    d, bot = bridge_with_timeout(env, testbot, daemon, 30)
    ep = env.endpoint()
    ep.send_audio(bytes([rtp.silence_octet(rtp.PT_PCMA)]) * 8000)
    res = sipp("uac_hold_move.xml", d, rtp_port=ep.port, keys={"rtp_port2": 0}).run()
    assert res.rc == 0, res.describe()
    assert not res.requests("BYE"), res.describe()
    oks = sorted((m.header("CSeq"), m.body()) for m in res.received()
                 if m.status == 200 and m.cseq_method == "INVITE")
    ports = [int(re.search(r"^m=audio (\d+) ", body, re.M).group(1)) for _, body in oks]
    assert len(ports) == 3 and ports[0] > 0 and ports[1:] == [0, 0], oks


@pytest.mark.parametrize("group", ["239.1.2.3", "255.255.255.255"])
def test_reinvite_to_a_group_or_broadcast_address_488(env, testbot, daemon, sipp, group):
    """A re-INVITE moving the caller's audio to a multicast or broadcast address gets 488, and the call goes on as
    it was: the bridge still sends to the caller's first address, and the call ends with the caller's BYE."""
    d, bot = bridge_with_timeout(env, testbot, daemon, 10)
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_reinvite_group.xml", d, rtp_port=ep.port, keys={"group_addr": group}, duration_ms=1500).start()
    ep.wait_packets(3)
    # The caller goes quiet before its re-INVITE: a bridge that took the offer would then send elsewhere, with
    # no packet of the caller's to bring it back to this address.
    ep.send_silence_forever(False)
    res = call.wait()
    assert res.rc == 0, res.describe()
    assert res.statuses("INVITE")[-1:] == [488] and res.final_status("BYE") == 200, res.describe()
    wait_log(d, r"re-INVITE offer not acceptable, 488; the call goes on unchanged", "the refusal in the log")
    refused = res.response(488).wall()
    after = [p for p in ep.snapshot() if p.t > refused]
    assert len(after) >= 25, "%d packets to the caller's address in the 1.5 s after the 488" % len(after)
    stop = bot.wait_event("rx", "stop")[0]
    assert stop["msg"]["stop"]["reason"] == "callended", stop

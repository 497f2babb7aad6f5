"""DTMF both ways: RFC 4733 telephone-events and SIP INFO (application/dtmf-relay) from the caller reach the bot as
one dtmf event per key press; a bot's dtmf event reaches the caller as RFC 4733 packets in place of audio, on the
audio's SSRC and sequence. Without telephone-event in the offer there is none in the answer and no RFC 4733 in
either direction."""

import pytest

import rtp
import sbtest

PT = rtp.PT_PCMA
TE = rtp.PT_TELEPHONE_EVENT
SILENCE = bytes([rtp.silence_octet(PT)])
GAP_MS = 100  # silence between key presses
LEAD_MS = 300  # silence before the first one


def te_keys(te_pt=TE):
    return {"fmts": "8 0 %d" % te_pt, "te_pt": te_pt}


def silence(ms):
    return SILENCE * (8 * ms)


def bridge_sequence_ok(bot):
    """Every message from the bridge that has a sequence_number (start, media, dtmf, mark, stop) is numbered
    1, 2, 3.. in the order the bot got them."""
    seqs = [int(e["msg"]["sequence_number"]) for e in bot.rx() if "sequence_number" in e.get("msg", {})]
    assert seqs == list(range(1, len(seqs) + 1)), "sequence_number of the bridge's messages: %s" % seqs


def check_dtmf(bot, presses):
    """The bot got exactly one dtmf event per (digit, duration_ms) press, in order, on the call's stream, with
    the duration (a digit string, ms) within 40 ms."""
    got = sbtest.dtmf_received(bot)
    want = [d for d, _ in presses]
    assert [g[0] for g in got] == want, "the bot got dtmf %s for key presses %s" % (
        [(g[0], g[1]) for g in got], presses)
    sid = bot.start_msg()["stream_sid"]
    for (digit, ms), (_, dur, msg) in zip(presses, got):
        assert msg.get("stream_sid") == sid, msg
        assert isinstance(dur, str) and dur.isdigit(), "dtmf duration %r is not a digit string: %s" % (dur, msg)
        assert abs(int(dur) - ms) <= 40, "digit %s pressed %d ms, the bot was told %s ms" % (digit, ms, dur)
    bridge_sequence_ok(bot)


ALL_DIGITS = [(d, 80 + 20 * (i % 4), {}) for i, d in enumerate(rtp.DTMF_DIGITS)]

PRESS_CASES = [
    pytest.param(TE, ALL_DIGITS, id="all-digits"),
    pytest.param(TE, [("7", 200, {"ends": 3}), ("1", 160, {"ends": 1})], id="end-repeated-or-single"),
    pytest.param(TE, [("3", 200, {"lose_start": True}), ("4", 120, {})], id="lost-start"),
    pytest.param(TE, [("9", 200, {"reorder": True}), ("8", 120, {})], id="reordered"),
    pytest.param(TE, [("5", 120, {}), ("5", 120, {})], id="same-digit-twice"),
    pytest.param(96, [("2", 160, {}), ("#", 100, {})], id="dynamic-pt-96"),
]


@pytest.mark.parametrize("te_pt,presses", PRESS_CASES)
def test_rfc4733_from_caller(env, bridge, sipp, te_pt, presses):
    d, bot = bridge("silent")
    ep = env.endpoint(PT)
    ep.te_pt = te_pt
    media_ms = LEAD_MS + sum(ms + GAP_MS for _, ms, _ in presses)
    call = sipp("uac_call_te.xml", d, keys=te_keys(te_pt), rtp_port=ep.port, duration_ms=media_ms + 3000).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()
    ep.send_audio(silence(LEAD_MS))
    for digit, ms, kw in presses:
        ep.send_dtmf(digit, ms, **kw)
        ep.send_audio(silence(GAP_MS))
    ep.wait_tx_done(timeout=30)
    assert not call.done(), "the call ended before the caller had sent every key press: raise duration_ms"
    res = call.wait()
    assert res.rc == 0, res.describe()
    sdp = sbtest.answer_sdp(res)
    assert te_pt in sdp["fmts"] and "rtpmap:%d telephone-event/8000" % te_pt in sdp["attrs"], (
        "the answer to an offer of telephone-event/%d lacks it:\n%s" % (te_pt, sdp["text"]))
    assert sum(r.pt == te_pt for r in ep.tx_log) >= len(presses), "the caller sent no telephone-events"
    bot.wait_event("rx", "stop", timeout=20)
    check_dtmf(bot, [(dg, ms) for dg, ms, _ in presses])


def test_rfc4733_not_offered(env, bridge, sipp):
    """No telephone-event in the offer: none in the answer, and RFC 4733 packets sent anyway are not DTMF."""
    d, bot = bridge("silent")
    ep = env.endpoint(PT)
    call = sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, duration_ms=3000).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()
    ep.send_audio(silence(LEAD_MS))
    for digit in "56":
        ep.send_dtmf(digit, 200)
        ep.send_audio(silence(GAP_MS))
    ep.wait_tx_done(timeout=30)
    assert not call.done(), "the call ended before the caller had sent every key press: raise duration_ms"
    res = call.wait()
    assert res.rc == 0, res.describe()
    sdp = sbtest.answer_sdp(res)
    assert TE not in sdp["fmts"] and not any("telephone-event" in a for a in sdp["attrs"]), (
        "telephone-event answered though not offered:\n%s" % sdp["text"])
    assert sum(r.pt == TE for r in ep.tx_log) >= 10
    bot.wait_event("rx", "stop", timeout=20)
    got = sbtest.dtmf_received(bot)
    assert not got, "pt %d packets of a call without telephone-event became dtmf: %s" % (TE, got)
    bridge_sequence_ok(bot)


def test_sip_info_from_caller(env, bridge, sipp):
    d, bot = bridge("silent")
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_info_dtmf.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, duration_ms=1000).run()
    infos = [(m.header("CSeq"), m.status) for m in res.received() if m.cseq_method == "INFO"]
    assert res.rc == 0, "INFO answers %s\n%s" % (infos, res.describe())
    assert {c for c, s in infos if s == 200} == {"2 INFO", "3 INFO"}, infos
    bot.wait_event("rx", "stop", timeout=20)
    check_dtmf(bot, [("5", 160), ("#", 250)])
    assert [g[1] for g in sbtest.dtmf_received(bot)] == ["160", "250"], \
        "SIP INFO durations are exact: %s" % sbtest.dtmf_received(bot)


MARK_BEFORE = [{"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "before"}}},
               {"wait_event": "mark", "name": "before"}]
TONE = {"tone": {"hz": 1000, "ms": 400, "chunk_bytes": 3200, "key": "stream_sid"}}
BOT_DTMF = {"send": {"event": "dtmf", "stream_sid": "$STREAM_SID", "dtmf": {"digit": "5", "duration": 200}}}


def bot_dtmf_script():
    """A tone, played out; the dtmf; 600 ms later another tone; then close once it was played."""
    return sbtest.script_until_played([TONE] + MARK_BEFORE + [BOT_DTMF, {"wait_ms": 600}, TONE])


def stream_ok(pkts, pts):
    """One SSRC, one source, payload types in pts, seq +1 from packet to packet (whatever the type)."""
    assert pkts, "no RTP from the bridge"
    other = sorted({p.pt for p in pkts} - set(pts))
    assert not other, "payload types %s from the bridge (expected %s)" % (other, pts)
    assert len({p.ssrc for p in pkts}) == 1, "SSRC changed within the call: %s" % sorted({p.ssrc for p in pkts})
    assert len({p.src for p in pkts}) == 1, "RTP from several source addresses"
    gaps = [(a.seq, b.seq, a.pt, b.pt) for a, b in zip(pkts, pkts[1:]) if (b.seq - a.seq) & 0xFFFF != 1]
    assert not gaps, "RTP seq not +1 from packet to packet [(seq, next seq, pt, next pt)]: %s" % gaps[:10]


def test_dtmf_to_caller(env, bridge, sipp):
    d, bot = bridge(script=bot_dtmf_script())
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_wait_bye_te.xml", d, keys=te_keys(), rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    pkts = ep.snapshot()
    ev = [p for p in pkts if p.pt == TE]
    assert ev, "no telephone-event (pt %d) packets reached the caller; payload types: %s" % (
        TE, sorted({p.pt for p in pkts}))
    stream_ok(pkts, (PT, TE))
    i0, i1 = pkts.index(ev[0]), pkts.index(ev[-1])
    assert all(p.pt == TE for p in pkts[i0:i1 + 1]), "audio packets between the event's packets: %s" % [
        p for p in pkts[i0:i1 + 1] if p.pt != TE]
    assert len({p.ts for p in ev}) == 1, "the event's packets have several timestamps: %s" % ev
    assert [p.marker for p in ev] == [True] + [False] * (len(ev) - 1), "marker bits: %s" % [p.marker for p in ev]
    tev = [rtp.parse_rfc4733(p.payload) for p in ev]
    assert all(t is not None and t.event == 5 for t in tev), "events: %s" % tev
    ends = [t for t in tev if t.end]
    assert len(ends) == 3 and tev[-3:] == ends, "end packets: %s" % tev
    assert all(t.duration == 1600 for t in ends), "a 200 ms event ends with duration %s" % [t.duration for t in ends]
    # The start, then updates on the 50 ms grid (a late tick catches up; a stall past the end leaves the last
    # ones out), then the end.
    durs = [t.duration for t in tev[:-2]]
    assert durs[0] <= 160 and len(durs) >= 3 and durs[-1] == 1600 and \
        durs[1:-1] == [400 * k for k in range(1, len(durs) - 1)], "durations %s: not on the 50 ms grid" % durs
    before = [p for p in pkts[:i0] if p.pt == PT]
    after = [p for p in pkts[i1 + 1:] if p.pt == PT]
    assert before and after, "no audio before or after the event"
    ev_ts = ev[0].ts
    assert 0 < rtp.ts_diff(ev_ts, before[-1].ts) <= 8000, "event timestamp %d, last audio before it %d" % (
        ev_ts, before[-1].ts)
    assert rtp.ts_diff(after[0].ts, ev_ts) >= 1600, "audio resumed at timestamp %d, inside the event (%d + 1600)" % (
        after[0].ts, ev_ts)
    assert any(not rtp.is_silent(p) for p in before), "the first tone was not heard before the event"
    assert sum(not rtp.is_silent(p) for p in after) >= 15, "the tone after the event was not heard"


def test_dtmf_to_caller_not_offered(env, bridge, sipp):
    """The bot's dtmf on a call without telephone-event: ignored, the audio goes on and the call ends normally."""
    d, bot = bridge(script=bot_dtmf_script())
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    pkts = ep.snapshot()
    stream_ok(pkts, (PT,))
    jumps = [(a.ts, b.ts) for a, b in zip(pkts, pkts[1:]) if (b.ts - a.ts) & 0xFFFFFFFF != 160]
    assert not jumps, "RTP timestamps not +160: %s" % jumps[:10]
    loud = [i for i, p in enumerate(pkts) if not rtp.is_silent(p)]
    assert len(loud) == 40, "%d packets of tone for two 400 ms tones" % len(loud)
    bot.wait_closed(1)
    assert bot.tx("dtmf"), "the bot did not send its dtmf"


def test_sip_info_not_dtmf(env, bridge, sipp):
    """INFO that is not DTMF the bridge understands is answered, never passed on: another content type gets 415
    naming what is accepted, a dtmf-relay body without a valid signal 400, a body-less INFO (a keep-alive) 200; the
    call goes on and ends with the caller's BYE."""
    d, bot = bridge("silent")
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_info_other.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, duration_ms=500).run()
    infos = sorted((m.header("CSeq"), m.status) for m in res.received() if m.cseq_method == "INFO")
    assert res.rc == 0, "INFO answers %s\n%s" % (infos, res.describe())
    assert infos == [("2 INFO", 415), ("3 INFO", 400), ("4 INFO", 200)], infos
    stop = bot.wait_event("rx", "stop", timeout=20)
    assert stop[0]["msg"]["stop"]["reason"] == "callended", stop
    assert not bot.rx("dtmf"), bot.rx("dtmf")


def test_rfc4733_key_presses_logged_within_a_bound(env, bridge, sipp):
    """Key presses faster than a person presses keys (40 in about 2.4 s) all reach the bot, and the daemon logs at
    most 5 of them a second (the rest counted), not a line for every press a caller sends."""
    presses = [(rtp.DTMF_DIGITS[i % len(rtp.DTMF_DIGITS)], 40) for i in range(40)]
    d, bot = bridge("silent")
    ep = env.endpoint(PT)
    call = sipp("uac_call_te.xml", d, keys=te_keys(), rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()
    ep.send_audio(silence(LEAD_MS))
    for digit, ms in presses:
        ep.send_dtmf(digit, ms)
        ep.send_audio(silence(20))
    ep.wait_tx_done(timeout=30)
    bot.wait_for(lambda _: len(sbtest.dtmf_received(bot)) >= len(presses), 20, "every key press at the bot")
    call.hang_up()
    res = call.wait()
    assert res.rc == 0, res.describe()
    check_dtmf(bot, presses)
    logged = d.stderr_text().count("Caller pressed")
    assert 1 <= logged <= 20, "%d log lines for %d key presses in 2.4 s" % (logged, len(presses))


def test_bot_keys_logged_within_a_bound(env, bridge, sipp):
    """A bot that sends 40 keys at once gets them all played to the caller, one after the other, and the daemon
    logs at most 5 of them a second (the rest counted), not a line for every key a bot sends."""
    n = 40
    keys = [{"send": {"event": "dtmf", "stream_sid": "$STREAM_SID", "dtmf": {"digit": "5", "duration": 40}}}] * n
    d, bot = bridge(script=sbtest.script_until_played(keys))
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_wait_bye_te.xml", d, keys=te_keys(), rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    ends = {p.ts for p in ep.snapshot() if p.pt == TE and rtp.parse_rfc4733(p.payload).end}
    assert len(ends) == n, "%d of %d keys reached the caller" % (len(ends), n)
    logged = d.stderr_text().count("Bot sends DTMF")
    assert 1 <= logged <= 20, "%d log lines for %d keys" % (logged, n)

"""Session timers (RFC 4028): a caller's Session-Expires is honoured with the caller as the refresher, its
refreshes keep the call up past the interval, a dialog whose refresh never comes is ended with BYE and the bot
gets stop, and an interval below Min-SE gets 422. A caller that requires timers, names the bridge the refresher
and does not allow UPDATE gets re-INVITE refreshes, whose 200s carry the offers the bridge's ACKs answer."""

import os
import time

import pytest

import sbtest


SE_S = 4  # the session interval the callers ask for; the daemon's Min-SE is lowered to allow it
MIN_SE_S = 3
REFRESH_SE_S = 8  # the interval of the refreshed call: long enough that a refresh has a second to spare


def start(env, testbot, session_expires_s=None):
    bot = testbot("echo")
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["sip"]["min_se_s"] = MIN_SE_S
    if session_expires_s is not None:
        cfg["sip"]["session_expires_s"] = session_expires_s
    return env.daemon(cfg), bot


@pytest.mark.parametrize("asked", [True, False], ids=["caller-asks", "bridge-asks"])
def test_session_expires_without_refresh(env, testbot, sipp, asked):
    """The caller asks for SE_S, or asks for nothing and the bridge gives it sip.session_expires_s = SE_S: either
    way the 200 makes the caller the refresher, and with no refresh the bridge hangs up when it runs out."""
    d, bot = start(env, testbot, session_expires_s=None if asked else SE_S)
    ep = env.endpoint()
    t0 = time.monotonic()
    se_hdr = "Session-Expires: %d;refresher=uac" % SE_S if asked else "X-Timer: supported, none asked"
    res = sipp("uac_session_expire.xml", d, rtp_port=ep.port, keys={"se_hdr": se_hdr}).run()
    took = time.monotonic() - t0
    assert res.rc == 0, res.describe()
    ok = res.response(200)
    assert "timer" in (ok.header("Require") or ""), "the 200 does not require the timer: %s" % ok.text
    assert ok.header("Session-Expires").startswith("%d;refresher=uac" % SE_S), ok.header("Session-Expires")
    bye = res.requests("BYE")
    assert len(bye) == 1, "the bridge sent %d BYE(s)" % len(bye)
    # The BYE comes when the interval is over (RFC 4028 §10: at most 32 s or a third of it early), not at once.
    assert took >= SE_S * 2 / 3 - 0.5, "BYE after %.1f s, the session interval is %d s" % (took, SE_S)
    bot.wait_closed()
    stop = bot.wait_event("rx", "stop")
    assert len(stop) == 1, stop


def test_refreshes_keep_the_call(env, testbot, sipp):
    d, bot = start(env, testbot)
    ep = env.endpoint()
    ep.send_silence_forever()
    # RFC 4028's half of an interval of REFRESH_SE_S: the bridge may end an unrefreshed session a third of the
    # interval early, 5.33 s after the last refresh, so each refresh comes 1.33 s before it would (a slow
    # machine's margin), and the call outlasts that bound after every refresh but the last: one that did not
    # re-arm the timer ends the call.
    refresh_ms = REFRESH_SE_S * 1000 // 2
    t0 = time.monotonic()
    res = sipp("uac_session_refresh.xml", d, rtp_port=ep.port,
               keys={"se": REFRESH_SE_S, "refresh_ms": refresh_ms}).run()
    took = time.monotonic() - t0
    # SIPp fails on any request it does not expect, so a BYE from the bridge before the caller's own fails rc.
    assert res.rc == 0, res.describe()
    assert took >= 3 * refresh_ms / 1000.0, "the call lasted %.1f s" % took
    assert not res.requests("BYE"), "the bridge hung up a refreshed call"
    assert res.statuses("INVITE").count(200) >= 4, res.statuses("INVITE")
    stop = bot.wait_event("rx", "stop")
    assert stop[0]["msg"]["stop"]["reason"] == "callended", stop[0]["msg"]


def test_interval_below_min_se_gets_422(env, testbot, sipp):
    d, bot = start(env, testbot)
    res = sipp("uac_session_too_small.xml", d, keys={"se": MIN_SE_S - 1}).run()
    assert res.rc == 0, res.describe()
    r = res.response(422)
    # RFC 4028 §7.2: the Min-SE a 422 names is never below 90 s (sofia-sip enforces it), even when the
    # configured minimum is lower, as here to keep the test short.
    assert r.header("Min-SE").split(";")[0].strip() == str(max(90, MIN_SE_S)), r.text
    assert not bot.conns(), "a bot connection was opened for a refused call"


def test_caller_without_timers_gets_none(env, testbot, sipp):
    """A caller that does not support session timers (no "timer" in Supported) is not given any: the 200 carries
    no Session-Expires and the bridge sends no refresh (an UPDATE, which such a caller may refuse, ending the
    call), so the call lasts as long as the caller keeps it, here more than twice sip.session_expires_s."""
    d, bot = start(env, testbot, session_expires_s=SE_S)
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=2 * SE_S * 1000 + 1000).run()
    assert res.rc == 0, res.describe()
    assert res.response(200).header("Session-Expires") is None, res.describe()
    assert not res.requests("UPDATE") and not res.requests("BYE"), res.describe()
    assert res.final_status("BYE") == 200, res.describe()


def test_bridge_named_refresher_without_update_runs_without_timers(env, testbot, sipp):
    """A caller that names the bridge as the refresher (refresher=uas) but does not allow UPDATE, the method the
    bridge refreshes with, and does not require timers: the call runs without session timers (no Session-Expires in
    the 200, RFC 4028 lets the answerer do without), rather than end at the first refresh the caller refuses. It is
    kept for two and a half intervals with no request from the bridge, and ends with the caller's BYE."""
    d, bot = start(env, testbot)
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_session_uas_refresher.xml", d, rtp_port=ep.port,
               keys={"se": SE_S, "hold_ms": SE_S * 2500}).run()
    assert res.rc == 0, res.describe()
    ok = res.response(200)
    assert ok.header("Session-Expires") is None and "timer" not in (ok.header("Require") or ""), ok.text
    assert not res.requests("UPDATE") and not res.requests("BYE"), res.describe()
    stop = bot.wait_event("rx", "stop")
    assert stop[0]["msg"]["stop"]["reason"] == "callended", stop[0]["msg"]


def sdp_line(body, prefix):
    """The first line of an SDP body that starts with prefix, or None."""
    return next((line for line in body.splitlines() if line.startswith(prefix)), None)


def test_required_refresher_without_update_gets_reinvites(env, testbot, sipp):
    """A caller that requires session timers (Require: timer), names the bridge the refresher and does not allow
    UPDATE: the bridge refreshes with re-INVITEs (every half interval, no UPDATE), without SDP, and answers the offer
    each 200 OK then carries in its ACK (RFC 3261 13.2.1); the media follows the offer, so once the second refresh
    moves the caller to another port, the bridge's RTP goes there. The caller's BYE ends the call."""
    d, bot = start(env, testbot)
    ep, moved = env.endpoint(), env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_session_uas_refresher_required.xml", d, rtp_port=ep.port,
                keys={"se": SE_S, "move_port": moved.port}, until_told=True).start()
    # The caller goes quiet after the first refresh, so that its packets cannot draw the bridge back to the old
    # port once it took the second offer (symmetric RTP).
    for port in (ep.port, moved.port):
        took = "Session refresh: PCMA 127.0.0.1:%d" % port
        sbtest.wait_until(lambda: took in d.stderr_text(), 20, repr(took))
        ep.send_silence_forever(False)
    moved.wait_packets(20, timeout=10)
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    ok = res.response(200)
    assert ok.header("Session-Expires").replace(" ", "") == "%d;refresher=uas" % SE_S, ok.text
    reinvites = [m for m in res.received() if m.method == "INVITE"]
    acks = [m for m in res.received() if m.method == "ACK"]
    assert len(reinvites) == 2 and len(acks) == 2, res.describe()
    assert not res.requests("UPDATE") and not res.requests("BYE"), res.describe()
    local_port = sdp_line(ok.body(), "m=audio ").split()[1]
    for invite, ack in zip(reinvites, acks):
        assert not invite.body().strip(), "the refresh carried a body:\n" + invite.text
        assert (ack.header("Content-Type") or "").lower() == "application/sdp", "an ACK without an answer:\n" + ack.text
        body = ack.body()
        assert sdp_line(body, "m=audio ") == "m=audio %s RTP/AVP 8" % local_port, body
        assert sdp_line(body, "c=") == "c=IN IP4 127.0.0.1", body
        assert "a=rtpmap:8 PCMA/8000" in body, body
    # the second refresh about half an interval after the first (nua: interval / 2 below 90 s)
    gap = reinvites[1].wall() - reinvites[0].wall()
    assert SE_S / 2 - 1 <= gap <= SE_S, "refreshes %.2f s apart" % gap
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "callended"


def refused_refresh(env, sipp, d, name, status_line, status):
    """Runs a copy of scenario name whose status_line (its answer to the bridge's refresh) reads status instead,
    for a caller sending silence; the SIPp result."""
    ep = env.endpoint()
    ep.send_silence_forever()
    with open(os.path.join(sbtest.SCENARIOS, name)) as f:
        text = f.read()
    scenario = os.path.join(env.tmp, "%s-%d.xml" % (os.path.splitext(name)[0], status))
    with open(scenario, "w") as f:
        f.write(text.replace(status_line, "SIP/2.0 %d Refused" % status))
    return sipp(scenario, d, rtp_port=ep.port, keys={"se": SE_S}).run()


@pytest.mark.parametrize("refuse", [408, 481])
def test_refresh_refused_408_or_481_ends_the_call(env, testbot, sipp, refuse):
    """The bridge's refresh re-INVITE (a caller that requires timers, names the bridge the refresher and does not
    allow UPDATE) answered 408 or 481: the dialog is over (RFC 3261 12.2.1.2), and so is the call: the bot gets
    stop and the call is released."""
    d, bot = start(env, testbot)
    res = refused_refresh(env, sipp, d, "uac_session_refresh_refused.xml",
                          "SIP/2.0 481 Call/Transaction Does Not Exist", refuse)
    assert res.rc == 0, res.describe()
    assert len([m for m in res.received() if m.method == "INVITE"]) == 1, res.describe()
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "stopped"
    sbtest.wait_until(lambda: "Call released" in d.stderr_text(), 10, "the call released")
    assert "Session refresh answered %d" % refuse in d.stderr_text()


def test_refresh_answered_with_an_unusable_offer_ends_the_call(env, testbot, sipp):
    """The bridge's refresh re-INVITE answered 200 OK with an offer it cannot take (an IPv6 address in an IPv4
    call): an offer in a 200 cannot be refused, so the bridge's ACK answers it with the audio stream refused (port
    0, RFC 3264 6) and the bridge hangs up with BYE; the bot gets stop."""
    d, bot = start(env, testbot)
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_session_refresh_bad_offer.xml", d, rtp_port=ep.port, keys={"se": SE_S}).run()
    assert res.rc == 0, res.describe()
    ack = [m for m in res.received() if m.method == "ACK"][0]
    assert sdp_line(ack.body(), "m=audio ") == "m=audio 0 RTP/AVP 8", ack.text
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "stopped"
    assert "Session refresh answered with an offer that cannot be used, hanging up" in d.stderr_text()


def test_refresh_answered_491_sent_again(env, testbot, sipp):
    """The bridge's refresh re-INVITE answered 491 (the caller's own re-INVITE crossed it): the bridge sends it
    again within 0-2 s (RFC 3261 14.1; its tick is 100 ms), and answers that one's offer in its ACK; the call goes
    on until the caller hangs up."""
    d, bot = start(env, testbot)
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_session_refresh_glare.xml", d, rtp_port=ep.port, keys={"se": SE_S}).run()
    assert res.rc == 0, res.describe()
    reinvites = [m for m in res.received() if m.method == "INVITE"]
    assert len(reinvites) == 2, res.describe()
    gap = reinvites[1].wall() - reinvites[0].wall()
    assert gap <= 2.0 + 1.0, "sent again %.2f s after the 491" % gap
    ack = [m for m in res.received() if m.method == "ACK"][-1]
    assert sdp_line(ack.body(), "m=audio ") is not None and "a=rtpmap:8 PCMA/8000" in ack.body(), ack.text
    assert not res.requests("BYE"), res.describe()
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "callended"


@pytest.mark.parametrize("refuse", [403, 500])
def test_refresh_refused_otherwise_hangs_up(env, testbot, sipp, refuse):
    """The bridge's refresh re-INVITE refused with a status that leaves the dialog (403, 500): the caller requires
    refreshes and would end the call at the interval, so the bridge hangs up at once with one BYE."""
    d, bot = start(env, testbot)
    res = refused_refresh(env, sipp, d, "uac_session_refresh_refused_bye.xml", "SIP/2.0 403 Forbidden", refuse)
    assert res.rc == 0, res.describe()
    assert len(res.requests("BYE")) == 1, res.describe()
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "stopped"
    assert "Session refresh answered %d" % refuse in d.stderr_text()

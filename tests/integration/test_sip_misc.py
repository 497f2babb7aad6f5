"""SIP corner cases: no common codec (488), malformed SDP (400), OPTIONS, CANCEL before answer (487) and as the
bot connects, bot unreachable (503, never 200), caller BYE (bot gets stop)."""

import contextlib
import re
import socket
import time

import pytest

import rtp
import sbtest
import sipraw
from test_sip_transactions import RawCaller


def test_no_common_codec_488(env, bridge, sipp):
    d, bot = bridge("echo")
    ep = env.endpoint()
    res = sipp("uac_sdp_g729.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 488, res.describe()


def test_malformed_sdp_400(env, bridge, sipp):
    d, bot = bridge("echo")
    res = sipp("uac_sdp_bad.xml", d).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 400, res.describe()


def test_sdp_sofia_cannot_parse_400(env, bridge, sipp):
    # sofia-sip 1.12.11 would allocate without end on this m= line; the bridge refuses it first
    d, bot = bridge("echo")
    res = sipp("uac_sdp_mline_loop.xml", d).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 400, res.describe()
    res = sipp("uac_options.xml", d).run()
    assert res.rc == 0, res.describe()


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_200(env, bridge, sipp, transport):
    d, bot = bridge("echo")
    res = sipp("uac_options.xml", d, transport=transport).run()
    assert res.rc == 0, res.describe()
    assert res.final_status("OPTIONS") == 200, res.describe()


def test_options_in_dialog_200(env, bridge, sipp):
    """An OPTIONS in the dialog of a call (an SBC's keep-alive) is answered 200 and the call goes on."""
    d, bot = bridge("echo")
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_options_in_dialog.xml", d, rtp_port=ep.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    assert res.final_status("OPTIONS") == 200, res.describe()
    assert res.final_status("BYE") == 200, res.describe()
    stop = bot.wait_event("rx", "stop", timeout=20)
    assert stop[0]["msg"]["stop"]["reason"] == "callended", stop


def test_refer_from_caller_refused(env, bridge, sipp):
    """A caller's REFER (asking the bridge to transfer it) is refused at once with 403, not accepted and left
    without the NOTIFY RFC 3515 asks for; the call goes on to the caller's BYE."""
    d, bot = bridge("echo")
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_sends_refer.xml", d, rtp_port=ep.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    assert res.final_status("REFER") == 403, res.describe()
    assert not res.requests("NOTIFY") and not res.requests("BYE"), res.describe()
    assert res.final_status("BYE") == 200, res.describe()


def test_cancel_before_answer_487(env, testbot, daemon, sipp):
    hang = env.silent_listener()  # accepts the TCP connection, never answers the WebSocket handshake
    echo = testbot("echo")
    d = daemon(env.config([{"name": "default", "url": echo.url},
                           {"name": "hang", "url": hang.url, "connect_timeout_ms": 20000, "retries": 0}],
                          trunk={"bots": [{"match": "hangbot", "bot": "hang"}, {"match": "*", "bot": "default"}]}))
    ep = env.endpoint()
    res = sipp("uac_cancel.xml", d, keys={"customer": "hangbot"}, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert res.final_status() == 487, res.describe()
    assert 200 not in res.statuses(), res.describe()
    assert hang.accepted >= 1 and hang.request_bytes > 0, "the daemon never tried the bot's handshake"
    # the pending bot connection is abandoned with the call, long before its 20 s handshake timeout
    sbtest.wait_until(lambda: hang.closed_by_peer >= 1, 10, "the daemon to close the abandoned bot connection")
    assert ep.snapshot() == [], "RTP sent for a call that was never answered"

    # the daemon still takes calls
    ep2 = env.endpoint()
    res = sipp("uac_call.xml", d, keys={"customer": "other"}, rtp_port=ep2.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    echo.wait_event("rx", "stop")


def test_cancel_that_overtakes_the_answer_counted_cancelled(env, testbot, daemon):
    """A CANCEL that reaches the bridge as the bot connects, after the bridge has asked its SIP stack for the 200
    and before the 200 has gone out, is answered by the stack: 487 to the INVITE, and the 200 never goes out. The
    call is then counted as cancelled, not completed. To make the two meet, the SIP thread is held while the bot
    connects and the CANCEL arrives; the bot's name lookup is held until then, so the bot can only connect while
    the SIP thread is held. When the SIP thread reads the CANCEL before the bot's news, the call is an ordinary
    CANCEL before the answer, and the test tries again with a new daemon (whose lookup is not cached)."""
    bot = testbot("echo")
    for attempt in range(1, 6):
        admin = env.ports.tcp()
        d = daemon(env.config([{"name": "default", "url": bot.url.replace("127.0.0.1", "localhost")}],
                              admin={"address": "127.0.0.1", "port": admin, "token": ""}),
                   name="sipbridged-%d" % attempt)
        outcome = lambda o: sbtest.metric(admin, 'sipbridge_calls_total{outcome="%s"}' % o)  # noqa: E731
        caller = RawCaller(d.sip_port, env.endpoint().port)
        try:
            with contextlib.ExitStack() as sip_held:
                with sbtest.frozen_threads(sbtest.thread_ids(d.proc.pid, "sb-dns")):
                    caller.invite()
                    sbtest.wait_until(lambda: caller.call_id in d.stderr_text(), 10, "the INVITE to be routed")
                    sip_held.enter_context(sbtest.frozen_threads([d.proc.pid]))  # the SIP (control) thread
                sbtest.wait_until(lambda: "Bot default connected" in d.stderr_text(), 10, "the bot to connect")
                caller.cancel()  # on loopback, in the SIP socket once sent
            status, data = caller.response("INVITE", 15)
            if status == 200:  # the 200 went out before the CANCEL was read: an answered call
                caller.acknowledge(data)
                assert caller.hang_up() == 200
            else:
                assert status == 487, data.decode(errors="replace")
                sbtest.wait_until(lambda: outcome("cancelled") + outcome("completed") > 0, 10,
                                  "the call to be counted")
        finally:
            caller.close()
        if status == 487 and "Answered: " in d.stderr_text():  # the race, the case under test
            assert (outcome("cancelled"), outcome("completed")) == (1, 0), attempt
            # The 200 that never went out is not counted among the responses sent.
            assert not re.search(r'(?m)^sipbridge_sip_responses_total\{code="200"\} [1-9]',
                                 sbtest.admin_get(admin, "/metrics"))
            assert "The caller's CANCEL came before the 200 went out: answered 487 by the SIP stack" in \
                d.stderr_text()
            return
        d.stop()
    pytest.fail("in %d tries the CANCEL never met the bot's connect" % attempt)


def test_cancel_of_a_reinvite_leaves_the_call_answered(env, testbot, daemon):
    """A CANCEL of a re-INVITE that reaches the SIP stack before the bridge's answer to it is answered by the
    stack (487 to the re-INVITE) and ends nothing: the call goes on, and is counted completed at its BYE with its
    answer kept, not as a call that was never answered. The SIP thread is held while both arrive, so that the
    stack reads the CANCEL before it sends the bridge's 200; when the 200 still goes first, the test tries again
    with a new daemon."""
    bot = testbot("echo")
    for attempt in range(1, 6):
        admin = env.ports.tcp()
        d = daemon(env.config([{"name": "default", "url": bot.url}],
                              admin={"address": "127.0.0.1", "port": admin, "token": ""}),
                   name="sipbridged-%d" % attempt)
        outcome = lambda o: sbtest.metric(admin, 'sipbridge_calls_total{outcome="%s"}' % o)  # noqa: E731
        caller = RawCaller(d.sip_port, env.endpoint().port)
        try:
            caller.call()
            sbtest.wait_until(lambda: "Answered: " in d.stderr_text(), 10, "the call to be answered")
            with sbtest.frozen_threads([d.proc.pid]):  # the SIP (control) thread
                caller.invite(reinvite=True)
                caller.cancel(reinvite=True)  # on loopback, both in the SIP socket once sent
            status, data = caller.response("INVITE", 15)
            if status == 200:  # the bridge's answer went out first: acknowledged, and not the case
                caller.send(caller._request("ACK", "z9hG4bK-tj-ack2", 2, caller.to, ruri=caller.contact))
            else:
                assert status == 487, data.decode(errors="replace")
                caller.ack_failure(reinvite=True)
            assert caller.hang_up() == 200
            sbtest.wait_until(lambda: sum(outcome(o) for o in ("completed", "cancelled", "rejected", "failed")) > 0,
                              10, "the call to be counted")
        finally:
            caller.close()
        if status == 487:
            assert (outcome("completed"), outcome("rejected"), outcome("cancelled")) == (1, 0, 0), attempt
            assert "CANCEL came before the 200" not in d.stderr_text()
            return
        d.stop()
    pytest.fail("in %d tries the re-INVITE was answered before its CANCEL was read" % attempt)


@pytest.mark.parametrize("kind", ["refused", "no-handshake"])
def test_bot_unreachable_503(env, daemon, sipp, kind):
    if kind == "refused":
        url = "ws://127.0.0.1:%d/media" % env.ports.tcp()  # nobody listens there
        hang = None
    else:
        hang = env.silent_listener()
        url = hang.url
    d = daemon(env.config([{"name": "default", "url": url, "connect_timeout_ms": 1000, "retries": 1}]))
    ep = env.endpoint()
    t0 = time.monotonic()
    res = sipp("uac_reject.xml", d, rtp_port=ep.port).run()
    elapsed = time.monotonic() - t0
    assert res.rc == 0, res.describe()
    assert res.final_status() == 503, res.describe()
    assert 200 not in res.statuses(), "a 200 went out for a call whose bot is unreachable: %s" % res.statuses()
    if hang is not None:
        # two handshake attempts of 1 s each (retries = 1)
        assert hang.accepted >= 2, "expected 1 + retries = 2 connection attempts, saw %d" % hang.accepted
        assert elapsed >= 1.8, "503 after %.2f s, before two 1 s handshake timeouts" % elapsed
    # The deadlines are kept on a ws thread that has nothing else to do (not at lws's next 30 s timer).
    assert elapsed < 10, "503 after %.1f s, for two attempts with a 1 s deadline each" % elapsed
    assert ep.snapshot() == []


def test_caller_bye_stops_bot(env, bridge, sipp):
    d, bot = bridge("echo")
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=1000).run()
    assert res.rc == 0, res.describe()
    assert res.response(200, "BYE") is not None, res.describe()
    stop = bot.wait_event("rx", "stop")[0]
    assert stop["msg"]["stop"]["reason"] == "callended", stop
    close = bot.wait_closed(1)
    assert close["t_ms"] >= stop["t_ms"]


def test_multipart_sip_i_invite(env, bridge, sipp):
    """A SIP-I INVITE: multipart/mixed with ISUP beside the SDP, whose video stream has an a=rtpmap without a
    clock rate. The SDP part is used, the video is declined, and audio flows."""
    d, bot = bridge("echo")
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_multipart.xml", d, rtp_port=ep.port, duration_ms=4000).start()
    ep.wait_packets(3)
    noise = rtp.noise_octets(rtp.PT_PCMA, 4000, seed=11)
    ep.send_audio(noise)
    ep.wait_echo(noise, 15)
    res = call.wait()
    assert res.rc == 0, res.describe()
    body = res.response(200).body()
    assert sbtest.parse_sdp(body)["fmts"] == [8], body
    assert "m=video 0 RTP/AVP 31" in body, body
    bot.wait_event("rx", "stop")


def test_multipart_body_with_nul_bytes(env, bridge):
    """A multipart body with a NUL in a part (the SIP stack's own multipart parser aborts on it) is split by the
    bridge's own code: no SDP part, 415, and the daemon goes on."""
    d, bot = bridge("echo")
    body = b"--b\r\nv=0\x00\r\n--b--\r\n"
    inv = sipraw.request(extra=b"Content-Type: multipart/mixed;boundary=b\r\n", body=body)
    got = sipraw.udp_exchange(d.sip_port, inv)
    assert "SIP/2.0 415 Unsupported Media Type" in got, got
    assert d.alive()
    assert bot.conns() == []


@pytest.mark.parametrize("family", ["ip6", "ip4"])
def test_offer_of_a_family_without_media_address_488(env, bridge, family):
    """rtp.address of one family (here 127.0.0.1 or ::1) cannot serve an offer whose c= line is of the other: that
    is no reason to try again, so the answer is 488 with a Warning, not 503 with Retry-After, and the refusal is
    counted as a media one."""
    admin = env.ports.tcp()
    groups = {"admin": {"address": "127.0.0.1", "port": admin, "token": ""}}
    if family == "ip4":
        groups["rtp"] = {"address": "::1", "port_min": env.rtp_range[0], "port_max": env.rtp_range[1]}
    d, bot = bridge("echo", **groups)
    addr = "IP6 ::1" if family == "ip6" else "IP4 127.0.0.1"
    sdp = ("v=0\r\no=- 1 1 IN %s\r\ns=-\r\nc=IN %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\n"
           "a=rtpmap:8 PCMA/8000\r\n" % (addr, addr)).encode()
    inv = sipraw.request(extra=b"Content-Type: application/sdp\r\n", body=sdp)
    got = sipraw.udp_exchange(d.sip_port, inv, whole=True)
    firsts = [text.split("\r\n")[0] for text in got]
    assert "SIP/2.0 488 Not Acceptable Here" in firsts, firsts
    assert not any(" 503 " in line for line in firsts), firsts
    refusal = got[firsts.index("SIP/2.0 488 Not Acceptable Here")]
    want = "no IPv6 media address" if family == "ip6" else "no IPv4 media address"
    assert re.search(r'(?m)^Warning: 399 \S+ "%s"\r$' % want, refusal), refusal
    assert "Retry-After" not in refusal, refusal
    sbtest.wait_until(lambda: sbtest.metric(admin, 'sipbridge_invites_rejected_total{reason="codec"}') == 1, 10,
                      "the 488 to be counted")
    assert d.alive()
    assert bot.conns() == []


@pytest.mark.parametrize("addr", ["IP4 239.1.2.3", "IP4 255.255.255.255", "IP6 ff0e::101"])
def test_offer_to_a_group_or_broadcast_address_488(env, bridge, sipp, addr):
    """A call's RTP goes to one party: an offer whose audio is to go to a multicast or broadcast address is refused
    with 488 and a Warning that says why, counted as a media refusal, before a bot is connected."""
    admin = env.ports.tcp()
    d, bot = bridge("echo", admin={"address": "127.0.0.1", "port": admin, "token": ""})
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\n"
           "a=rtpmap:8 PCMA/8000\r\n" % addr).encode()
    inv = sipraw.request(extra=b"Content-Type: application/sdp\r\n", body=sdp)
    got = sipraw.udp_exchange(d.sip_port, inv, whole=True)
    firsts = [text.split("\r\n")[0] for text in got]
    assert "SIP/2.0 488 Not Acceptable Here" in firsts, firsts
    refusal = got[firsts.index("SIP/2.0 488 Not Acceptable Here")]
    assert re.search(r'(?m)^Warning: 399 \S+ "multicast or broadcast media address"\r$', refusal), refusal
    sbtest.wait_until(lambda: sbtest.metric(admin, 'sipbridge_invites_rejected_total{reason="codec"}') == 1, 10,
                      "the 488 to be counted")
    assert "INVITE offer not acceptable (a multicast or broadcast media address), rejecting with 488" in \
        d.stderr_text()
    # A unicast offer is taken as before.
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0 and res.final_status() == 200, res.describe()
    assert bot.conns() == [1]


def test_delayed_offer_over_ipv6_with_ipv4_media(env, bridge):
    """An INVITE without SDP over IPv6 to a bridge whose rtp.address is IPv4: the bridge makes the offer itself, so
    it offers its IPv4 address in the 200 rather than refusing an offer the INVITE never made."""
    sip_port = env.ports.port()
    d, bot = bridge("echo", trunk={"acl": ["::1/128"]},
                    sip={"listen": [{"transport": "udp", "address": "::1", "port": sip_port}],
                         "user_agent": "sipbridge-it"})
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.settimeout(10)
    try:
        inv = sipraw.request(ruri="sip:+15550001@[::1]:%d" % sip_port)
        s.sendto(sipraw.with_via(inv, b"UDP", b"[::1]:%d" % s.getsockname()[1]), ("::1", sip_port))
        finals = []
        while not finals:
            text = s.recv(65535).decode(errors="replace")
            if not text.startswith("SIP/2.0 1"):
                finals.append(text)
    finally:
        s.close()
    assert finals[0].startswith("SIP/2.0 200 "), finals[0][:300]
    assert "c=IN IP4 127.0.0.1" in finals[0], finals[0]

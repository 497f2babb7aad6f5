"""Behind 1:1 NAT: sip.public_address goes into Contact and Via, rtp.public_address into the SDP, while the
sockets stay bound to the local addresses. Loopback stands in for the NAT: the daemon binds 0.0.0.0 and
advertises 127.0.0.7 (SIP) and 127.0.0.8 (RTP); the caller uses only the advertised addresses after the INVITE."""

import re

import rtp
import sbtest

SIP_PUBLIC = "127.0.0.7"
RTP_PUBLIC = "127.0.0.8"


def via_host(msg):
    m = re.match(r"SIP/2\.0/\w+\s+([^;:\s]+)", msg.header("Via") or "")
    return m.group(1) if m else None


def test_public_addresses(env, testbot, sipp):
    bot = testbot(script=[{"wait_event": "media", "count": 30}, {"send": {"event": "hangup"}}, {"wait_ms": 3000}])
    cfg = env.config([{"name": "default", "url": bot.url}])
    cfg["sip"]["listen"] = [{"transport": t, "address": "0.0.0.0", "port": env.sip_port} for t in ("udp", "tcp")]
    cfg["sip"]["public_address"] = SIP_PUBLIC
    cfg["rtp"]["address"] = "0.0.0.0"
    cfg["rtp"]["public_address"] = RTP_PUBLIC
    d = env.daemon(cfg)
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).start()

    # The bridge's RTP comes from its port; the caller then sends to the public address in the SDP.
    ep.wait_packets(3)
    port = ep.peer[1]
    with ep._cond:
        ep.peer = (RTP_PUBLIC, port)
    sid = bot.start_msg()["stream_sid"]
    ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1000)))

    res = call.wait()
    assert res.rc == 0, res.describe()
    ok = res.response(200)
    assert ok is not None, res.describe()
    contact = ok.header("Contact") or ok.header("m")
    assert re.search(r"sip:(?:[^@>]*@)?%s:%d\b" % (re.escape(SIP_PUBLIC), env.sip_port), contact or ""), \
        "200 OK Contact %r does not carry sip.public_address" % contact
    sdp = sbtest.parse_sdp(ok.body())
    assert sdp["c"] == RTP_PUBLIC and sdp["port"] == port, "answer SDP %r does not carry rtp.public_address" % ok.body()
    assert not re.search(r"^o=.*127\.0\.0\.1", ok.body(), re.M), ok.body()

    # The bridge's own request (BYE, after the bot's hangup) names the public address in Via and Contact.
    bye = res.requests("BYE")[0]
    assert via_host(bye) == SIP_PUBLIC, "BYE Via %r" % bye.header("Via")
    bye_contact = bye.header("Contact") or bye.header("m")
    assert bye_contact is None or SIP_PUBLIC in bye_contact, bye_contact

    # The caller's tone, sent to the public RTP address, reached the bot.
    pcm = rtp.from_pcm16le(bot.recording(sid))
    windows = sum(rtp.dominant(pcm[i:i + 800], 1000) for i in range(0, len(pcm) - 799, 800))
    assert windows >= 8, "the tone sent to %s:%d reached the bot in only %d windows" % (RTP_PUBLIC, port, windows)

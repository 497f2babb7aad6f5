"""Trunk selection and bot routing: ACL (403), DID list (404), X-Customer-Header → bot, "*" default, no route (404)."""

import sipraw


def reject(env, d, sipp, **keys):
    ep = env.endpoint()
    res = sipp("uac_reject.xml", d, keys=keys, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert 200 not in res.statuses(), res.describe()
    return res.final_status()


def test_acl_reject_403(env, testbot, daemon, sipp):
    bot = testbot("echo")
    d = daemon(env.config({"default": bot.url}, trunk={"acl": ["10.0.0.0/8", "192.0.2.7/32"]}))
    assert reject(env, d, sipp) == 403
    assert bot.conns() == [], "a rejected INVITE must not reach the bot"


def test_acl_near_miss_refused(env, testbot, daemon, sipp):
    """The caller is 127.0.0.1: a /32 one address off refuses it."""
    bot = testbot("silent")
    d = daemon(env.config({"default": bot.url}, trunk={"acl": ["127.0.0.2/32"]}))
    assert reject(env, d, sipp) == 403
    assert bot.conns() == []


def test_acl_near_miss_accepted(env, testbot, daemon, sipp):
    """The caller is 127.0.0.1: a /31 that holds it lets it in."""
    bot = testbot("silent")
    d = daemon(env.config({"default": bot.url}, trunk={"acl": ["127.0.0.0/31"]}))
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")


def test_did_not_in_numbers_404(env, testbot, daemon, sipp):
    bot = testbot("echo")
    d = daemon(env.config({"default": bot.url}, trunk={"numbers": ["+15550001", "+15550002"]}))
    assert reject(env, d, sipp, did="+15559999") == 404
    assert bot.conns() == []
    # a listed number is accepted on the same daemon
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, keys={"did": "+15550002"}, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    assert bot.start_msg()["start"]["to"] == "+15550002"


def test_no_bot_route_404(env, testbot, daemon, sipp):
    bot = testbot("echo")
    d = daemon(env.config([{"name": "sales", "url": bot.url}],
                          trunk={"bots": [{"match": "salesbot", "bot": "sales"}]}))
    assert reject(env, d, sipp, customer="supportbot") == 404
    assert bot.conns() == []


def test_route_by_customer_header(env, testbot, daemon, sipp):
    sales = testbot("silent", name="sales")
    other = testbot("silent", name="other")
    d = daemon(env.config([{"name": "default", "url": other.url}, {"name": "sales", "url": sales.url}],
                          trunk={"bots": [{"match": "salesbot", "bot": "sales"}, {"match": "*", "bot": "default"}]}))
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, keys={"customer": "salesbot"}, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    assert sales.start_msg()["start"]["custom_parameters"]["X-Customer-Header"] == "salesbot"
    sales.wait_closed(1)
    assert other.conns() == [], "the call for salesbot also reached the default bot"

    # anything else goes to "*"
    ep2 = env.endpoint()
    res = sipp("uac_call.xml", d, keys={"customer": "billing"}, rtp_port=ep2.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    assert other.start_msg()["start"]["custom_parameters"]["X-Customer-Header"] == "billing"
    other.wait_closed(1)
    assert sales.conns() == [1], "the second call reached the sales bot too"


def test_route_by_customer_header_after_many_others(env, testbot, daemon):
    """X-Customer-Header routes the call wherever it stands among the INVITE's headers, here after 40 others the
    bridge does not know, and the bot gets it and X-UUI in its custom parameters (other headers past the first 32
    are not passed)."""
    sales = testbot("silent", name="sales")
    other = testbot("silent", name="other")
    d = daemon(env.config([{"name": "default", "url": other.url}, {"name": "sales", "url": sales.url}],
                          trunk={"bots": [{"match": "salesbot", "bot": "sales"}, {"match": "*", "bot": "default"}]}))
    ep = env.endpoint()
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n" % ep.port).encode()
    extra = b"".join(b"X-Pad-%d: %d\r\n" % (i, i) for i in range(40)) + \
        b"X-Customer-Header: salesbot\r\nX-UUI: uui-7\r\nContent-Type: application/sdp\r\n"
    got = sipraw.udp_exchange(d.sip_port, sipraw.request("INVITE", call_id="many-hdrs", extra=extra, body=sdp))
    assert "SIP/2.0 200 OK" in got, got
    params = sales.start_msg()["start"]["custom_parameters"]
    assert params["X-Customer-Header"] == "salesbot" and params["X-UUI"] == "uui-7", params
    assert other.conns() == [], "the call for salesbot reached the default bot"

"""limits.max_calls: while as many calls are in progress, a new INVITE gets 503 with Retry-After and the call in
progress is unharmed; once it has ended, the place is free again."""

import sbtest


def test_max_calls(env, sipp):
    bot = env.testbot("echo")
    d = env.daemon(env.config([{"name": "default", "url": bot.url}], limits={"max_calls": 1, "max_cps": 50}))
    ep = env.endpoint()
    ep.send_silence_forever()
    first = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
    bot.wait_event("rx", "media", count=3)

    res = sipp("uac_reject.xml", d, rtp_port=env.endpoint().port).run()
    assert res.final_status() == 503, res.describe()
    assert res.response(503).header("Retry-After"), res.describe()
    sbtest.wait_until(lambda: "limits.max_calls reached" in d.stderr_text(), 10, "the limit in the log")

    res = first.hang_up().wait()
    assert res.rc == 0, res.describe()
    # The call in progress was not disturbed: its bot saw it to the end.
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "callended"
    sbtest.wait_until(lambda: "Call released" in d.stderr_text(), 15, "the first call to be released")

    ep2 = env.endpoint()
    ep2.send_silence_forever()
    res = sipp("uac_call.xml", d, rtp_port=ep2.port, duration_ms=1000).run()
    assert res.rc == 0, res.describe()
    assert d.alive()

"""Operating a running daemon: a reload (SIGHUP) gives new calls the new configuration while a call in progress keeps
its own and its audio; a broken file is refused with FILE:LINE: KEY and changes nothing; keys read at start-up keep
their running values until a restart. A drain (SIGTERM) answers new INVITEs and OPTIONS with 503 + Retry-After, lets
the call in progress finish with audio both ways, then exits 0; drain_timeout_s hangs up what is left; a second
SIGTERM hangs up at once. systemd is told of every reload (RELOADING=1, then READY=1, refused or not), and a reload's
log level reaches sofia's and libwebsockets' own log lines."""

import http.client
import json
import re
import signal
import socket
import time

import rtp
import sbtest
import sipraw


def rewrite(d, cfg):
    with open(d.conf_path, "w") as f:
        f.write(cfg if isinstance(cfg, str) else sbtest.to_libconfig(cfg))


def echoed_after(ep, t0):
    """The caller's 1 kHz tone, sent now, comes back through the echo bot."""
    ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1000)))

    def got(e):
        loud = [p for p in e.packets if p.t > t0 and not rtp.is_silent(p)]
        return len(loud) >= 25 and rtp.dominant([s for p in loud for s in rtp.decode(p.pt, p.payload)], 1000)

    ep.wait_for(got, 15, "the caller's tone to be echoed")


def live_call(env, sipp, d, bot):
    """A call that lasts until the test hangs it up (call.hang_up()), however slow the steps before that are."""
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
    bot.wait_event("rx", "media", count=3)
    return ep, call


def test_reload_new_calls_take_new_config(env, sipp):
    a, b = env.testbot("echo", name="a"), env.testbot("echo", name="b")
    d = env.daemon(env.config([{"name": "default", "url": a.url}]))
    ep, call = live_call(env, sipp, d, a)

    rewrite(d, env.config([{"name": "default", "url": b.url}]))
    t0 = time.time()
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Configuration reloaded" in d.stderr_text(), 10, "the reload to be logged")
    assert "1 call(s) in progress keep theirs" in d.stderr_text()
    echoed_after(ep, t0)  # the call in progress keeps its bot and its audio

    ep2 = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep2.port, duration_ms=1000).run()
    assert res.rc == 0, res.describe()
    assert b.start_msg()["start"]["call_sid"], "the new call did not reach the new bot"
    call.hang_up()
    res = call.wait()
    assert res.rc == 0, res.describe()
    assert a.conns() == [1] and b.conns() == [1]
    assert a.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "callended"


def test_reload_broken_file_changes_nothing(env, sipp):
    bot = env.testbot("echo")
    good = sbtest.to_libconfig(env.config([{"name": "default", "url": bot.url}]))
    d = env.daemon(good)
    broken = good.replace("max_cps = 50;", "max_cps = = 50;")
    assert broken != good
    rewrite(d, broken)
    d.proc.send_signal(signal.SIGHUP)
    line = sbtest.line_of(broken, "max_cps = =")
    want = "Reload refused, the running configuration stays: %s:%d:" % (d.conf_path, line)
    sbtest.wait_until(lambda: want in d.stderr_text(), 10, "the refused reload to name file and line")
    assert d.alive()
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=1000).run()
    assert res.rc == 0, "the old configuration should still take calls: " + res.describe()

    # A key error names the key too.
    rewrite(d, good.replace("max_calls = 50;", "max_calls = 0;"))
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: re.search(r"Reload refused.*limits\.max_calls: must be", d.stderr_text()), 10,
                      "the refused reload to name the key")


def test_reload_keeps_start_up_keys(env, sipp):
    bot = env.testbot("echo")
    cfg = env.config([{"name": "default", "url": bot.url}])
    d = env.daemon(cfg)
    moved = env.config([{"name": "default", "url": bot.url}])
    new_port = env.ports.port()
    for l in moved["sip"]["listen"]:
        l["port"] = new_port
    moved["threads"] = {"media": 2, "ws": 1}
    moved["limits"] = dict(moved["limits"], max_calls=7)
    rewrite(d, moved)
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "take effect only after a restart" in d.stderr_text(), 10, "the restart keys logged")
    line = [l for l in d.stderr_text().splitlines() if "take effect only after a restart" in l][-1]
    assert "sip.listen" in line and "threads.media" in line and "max_calls" not in line, line
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=500).run()  # still on the old port
    assert res.rc == 0, res.describe()


def notify_after(d, n, count):
    """The first count sd_notify messages after the first n, once they have come, each split into fields."""
    got = d.wait_notify(lambda m: len(m) >= n + count, 20, "%d sd_notify message(s)" % count)
    return [dict(f.split("=", 1) for f in m.split("\n") if "=" in f) for m in got[n:n + count]]


def assert_reload_told(d, n, t_before):
    """RELOADING=1 with the CLOCK_MONOTONIC time of the reload, then READY=1, as the messages after the first n."""
    reloading, ready = notify_after(d, n, 2)
    assert reloading.get("RELOADING") == "1" and "READY" not in reloading, reloading
    usec = reloading.get("MONOTONIC_USEC", "")
    assert usec.isdigit(), reloading
    # Python's time.monotonic() reads the same clock (CLOCK_MONOTONIC) in seconds.
    assert t_before * 1e6 <= int(usec) <= time.monotonic() * 1e6, (usec, t_before)
    assert ready == {"READY": "1"}, ready


def test_reload_tells_systemd(env, sipp):
    bot = env.testbot("echo")
    admin_port = env.ports.tcp()
    good = sbtest.to_libconfig(env.config([{"name": "default", "url": bot.url}],
                                          admin={"address": "127.0.0.1", "port": admin_port}))
    d = env.daemon(good)
    ep, call = live_call(env, sipp, d, bot)

    # A good reload (SIGHUP): RELOADING=1, then READY=1 once it is applied.
    n, t_before = len(d.notify), time.monotonic()
    d.proc.send_signal(signal.SIGHUP)
    assert_reload_told(d, n, t_before)
    assert "Configuration reloaded" in d.stderr_text()

    # A refused one (POST /reload on a broken file): the same pair, the old configuration kept.
    rewrite(d, good.replace("max_cps = 50;", "max_cps = = 50;"))
    n, t_before = len(d.notify), time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=20)
    c.request("POST", "/reload")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    assert r.status == 400 and json.loads(body)["ok"] is False, (r.status, body)
    assert_reload_told(d, n, t_before)
    assert "Reload refused" in d.stderr_text()

    # Nothing else changed: the call in progress keeps its audio and ends normally, new calls are taken.
    echoed_after(ep, time.time())
    call.hang_up()
    res = call.wait()
    assert res.rc == 0, res.describe()
    res = sipp("uac_call.xml", d, rtp_port=env.endpoint().port, duration_ms=500).run()
    assert res.rc == 0, res.describe()
    assert len(d.notify) == n + 2, d.notify[n:]


def garbage_then_options(d):
    """Sends sofia a datagram that is not SIP (its transaction layer reports it, at its own level 3), then an
    OPTIONS; returns once the OPTIONS is answered: the SIP socket is read in order, so the garbage has been
    handled."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"not a SIP message\r\n\r\n", ("127.0.0.1", d.sip_port))
    first = sipraw.options_answer(d.sip_port, timeout=10)
    assert first.startswith("SIP/2.0 200 "), "no 200 to the OPTIONS: %r" % first


def sofia_lines_after(d, start):
    return [l for l in d.stderr_text()[start:].splitlines() if re.search(r"\bdebug\s+sofia\b", l)]


def test_reload_to_debug_turns_sofia_logs_on(env):
    cfg = env.config([{"name": "default", "url": "ws://127.0.0.1:%d/media" % env.ports.tcp()}])
    d = env.daemon(cfg)
    start = len(d.stderr_text())
    garbage_then_options(d)
    assert not sofia_lines_after(d, start), "sofia logged at info level"

    rewrite(d, dict(cfg, log={"level": "debug"}))
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: "Configuration reloaded" in d.stderr_text(), 10, "the reload to be logged")
    start = len(d.stderr_text())
    garbage_then_options(d)
    sbtest.wait_until(lambda: any("garbage" in l for l in sofia_lines_after(d, start)), 10,
                      "sofia's debug line about the garbage")

    # And back to info: sofia is quiet again.
    rewrite(d, cfg)
    d.proc.send_signal(signal.SIGHUP)
    sbtest.wait_until(lambda: d.stderr_text().count("Configuration reloaded") == 2, 10, "the second reload")
    start = len(d.stderr_text())
    garbage_then_options(d)
    assert not sofia_lines_after(d, start), "sofia still logs after the reload back to info"


def test_drain_lets_the_call_finish(env, sipp):
    bot = env.testbot("echo")
    d = env.daemon(env.config([{"name": "default", "url": bot.url}],
                              limits={"max_calls": 50, "max_cps": 50, "drain_timeout_s": 60}))
    ep, call = live_call(env, sipp, d, bot)
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    sbtest.wait_until(lambda: "draining" in d.stderr_text(), 10, "the drain to begin")

    res = sipp("uac_reject.xml", d, rtp_port=env.endpoint().port).run()
    assert res.final_status() == 503, res.describe()
    assert res.response(503).header("Retry-After"), res.describe()
    res = sipp("uac_options_503.xml", d).run()
    assert res.rc == 0, res.describe()
    assert res.response(503, "OPTIONS").header("Retry-After"), res.describe()

    echoed_after(ep, t0)  # the call in progress is unharmed
    assert d.alive()
    call.hang_up()
    res = call.wait()
    assert res.rc == 0, res.describe()
    assert d.proc.wait(20) == 0
    err = d.stderr_text()
    assert "Drain complete" in err, err[-2000:]
    assert bot.wait_event("rx", "stop")[0]["msg"]["stop"]["reason"] == "callended"


def test_drain_timeout_hangs_up(env, sipp):
    bot = env.testbot("echo")
    d = env.daemon(env.config([{"name": "default", "url": bot.url}],
                              limits={"max_calls": 50, "max_cps": 50, "drain_timeout_s": 2}))
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).start()
    bot.wait_event("rx", "media", count=3)
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    res = call.wait()
    assert res.rc == 0, "the drain timeout should end the call with BYE: " + res.describe()
    assert time.monotonic() - t0 >= 1.5, "the call was hung up before drain_timeout_s"
    assert d.proc.wait(20) == 0
    assert "Drain timeout" in d.stderr_text()
    bot.wait_event("rx", "stop")


def test_second_sigterm_hangs_up_at_once(env, sipp):
    bot = env.testbot("echo")
    d = env.daemon(env.config([{"name": "default", "url": bot.url}],
                              limits={"max_calls": 50, "max_cps": 50, "drain_timeout_s": 300}))
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).start()
    bot.wait_event("rx", "media", count=3)
    d.proc.send_signal(signal.SIGTERM)
    sbtest.wait_until(lambda: "draining" in d.stderr_text(), 10, "the drain to begin")
    assert d.alive() and not call.done()
    d.proc.send_signal(signal.SIGTERM)
    res = call.wait()
    assert res.rc == 0, res.describe()
    assert d.proc.wait(20) == 0
    assert "SIGTERM again: hanging up 1 call(s)" in d.stderr_text()

"""Signals other than SIGTERM/SIGINT mid-call: SIGHUP reloads the configuration (here the same file, so nothing
changes) and SIGUSR1/SIGUSR2 are logged and ignored; the call in progress goes on with audio both ways and ends
normally."""

import signal
import time

import pytest

import rtp
import sbtest


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1], ids=["SIGHUP", "SIGUSR1"])
def test_signal_mid_call_changes_nothing(env, bridge, sipp, sig):
    d, bot = bridge("echo")
    ep = env.endpoint()
    ep.send_silence_forever()
    call = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
    bot.start_msg()
    bot.wait_event("rx", "media", count=3)

    t_sig = time.time()
    d.proc.send_signal(sig)
    name = "SIG" + sig.name[3:]
    sbtest.wait_until(lambda: "%s received" % name in d.stderr_text(), 10, "the daemon to log %s" % name)
    assert d.alive(), "sipbridged died on %s" % name

    # Audio still flows both ways after the signal: the caller's tone reaches the bot and comes back.
    n_media = len(bot.rx("media"))
    ep.send_audio(rtp.encode(rtp.PT_PCMA, rtp.tone(1000, 1000)))
    bot.wait_event("rx", "media", count=n_media + 10)

    def echoed(e):
        loud = [p for p in e.packets if p.t > t_sig and not rtp.is_silent(p)]
        return len(loud) >= 25 and rtp.dominant([s for p in loud for s in rtp.decode(p.pt, p.payload)], 1000)

    ep.wait_for(echoed, 15, "the caller's tone echoed after %s" % name)

    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    assert res.response(200, "BYE") is not None, res.describe()
    stop = bot.wait_event("rx", "stop")[0]
    assert stop["msg"]["stop"]["reason"] == "callended", stop
    assert bot.conns() == [1]
    assert d.alive()

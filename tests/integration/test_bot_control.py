"""Bot control events: mark echoed after its audio was played, clear (barge-in), bot close and hangup → BYE."""

import pytest

import rtp
import sbtest

MARK = {"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "m1"}}}



def test_mark_after_playout(env, bridge, sipp):
    script = [{"tone": {"hz": 1000, "ms": 1000, "chunk_bytes": 3200, "key": "stream_sid"}}, MARK,
              {"wait_event": "mark", "name": "m1"}, {"close": 1000}]
    d, bot = bridge(script=script)
    ep = env.endpoint()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    tone_tx = bot.tx("media")
    mark_tx = bot.tx("mark")[0]
    echo = bot.wait_event("rx", "mark")
    assert len(echo) == 1, "mark echoed %d times" % len(echo)
    m = echo[0]["msg"]
    assert m["mark"]["name"] == "m1" and m["stream_sid"] == bot.start_msg()["stream_sid"], m
    assert "sequence_number" in m, m
    delay = echo[0]["t_ms"] - tone_tx[0]["t_ms"]
    assert delay >= 900, "mark echoed %d ms after 1000 ms of audio was sent: before it was played" % delay
    assert echo[0]["t_ms"] >= mark_tx["t_ms"]
    # by the time of the echo the caller has heard (nearly) all of the tone
    heard = [p for p in ep.snapshot() if not rtp.is_silent(p) and p.t * 1000 <= echo[0]["t_ms"] + 100]
    assert len(heard) >= 45, "only %d of 50 tone packets reached the caller before the mark echo" % len(heard)


def test_clear_drops_audio_and_returns_marks(env, bridge, sipp):
    script = [{"tone": {"hz": 1000, "ms": 10000, "chunk_bytes": 3200, "key": "stream_sid"}},
              {"wait_ms": 1000}, MARK, {"send": {"event": "clear", "stream_sid": "$STREAM_SID"}},
              {"wait_event": "mark", "name": "m1"}, {"wait_ms": 1500}, {"close": 1000}]
    d, bot = bridge(script=script)
    ep = env.endpoint()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    clear_t = bot.tx("clear")[0]["t_ms"] / 1000.0
    echo = bot.rx("mark")
    assert len(echo) == 1 and echo[0]["msg"]["mark"]["name"] == "m1", echo
    lag = echo[0]["t_ms"] / 1000.0 - clear_t
    assert lag < 0.5, "pending mark echoed %.2f s after clear" % lag
    pkts = ep.snapshot()
    before = [p for p in pkts if p.t < clear_t]
    after = [p for p in pkts if p.t >= clear_t + 0.3]
    assert sum(not rtp.is_silent(p) for p in before) >= 25, "the caller heard no tone before the clear"
    assert len(after) >= 25, "only %d packets after the clear" % len(after)
    loud_after = [p for p in after if not rtp.is_silent(p)]
    assert not loud_after, "%d tone packets still played more than 300 ms after clear" % len(loud_after)
    assert sum(not rtp.is_silent(p) for p in pkts) < 150, "most of the 10 s tone was played despite clear"


@pytest.mark.parametrize("how", ["close", "hangup"])
def test_bot_ends_call(env, bridge, sipp, how):
    end = {"close": 1000} if how == "close" else {"send": {"event": "hangup"}}
    d, bot = bridge(script=[{"wait_event": "media", "count": 3}, end])
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    assert len(res.requests("BYE")) >= 1, res.describe()
    bot.wait_closed(1)


def test_burst_in_order_then_stop_and_close(env, bridge, sipp):
    """Thirty mark echoes queued at once (a clear returns every pending mark) go out with the caller audio around
    them, nothing lost or reordered; when the call ends, stop is the last message and the bridge closes with 1000."""
    n = 30
    marks = [{"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "m%d" % i}}}
             for i in range(1, n + 1)]
    script = ([{"wait_event": "media", "count": 3}] + marks
              + [{"send": {"event": "clear", "stream_sid": "$STREAM_SID"}}, {"wait_event": "mark", "name": "m%d" % n},
                 {"wait_event": "media", "count": 8}, {"send": {"event": "hangup"}}])
    d, bot = bridge(script=script)
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    bot.wait_closed(1)
    rx = bot.rx(conn=1)
    names = [e["event"] for e in rx]
    assert names[:2] == ["connected", "start"] and names[-1] == "stop", names
    assert set(names[2:-1]) == {"media", "mark"}, set(names[2:-1])
    # one numbering over every message after connected: a gap is a lost message, a step back a reordering
    seqs = [int(e["msg"]["sequence_number"]) for e in rx[1:]]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    echoed = [e["msg"]["mark"]["name"] for e in rx if e["event"] == "mark"]
    assert echoed == ["m%d" % i for i in range(1, n + 1)], echoed
    chunks = [int(e["msg"]["media"]["chunk"]) for e in rx if e["event"] == "media"]
    assert len(chunks) >= 8 and chunks == list(range(1, len(chunks) + 1)), chunks
    evs = bot.events()
    i_stop = next(i for i, e in enumerate(evs) if e.get("dir") == "rx" and e.get("event") == "stop")
    closes = [e for e in evs[i_stop:] if e.get("dir") == "close"]
    assert closes and closes[0].get("code") == 1000, "after stop: %s" % closes


def marks_behind_audio(n, tone_ms, then):
    """A bot script: tone_ms of 1 kHz, marks m1..mn queued behind it, a clear, then the steps then."""
    marks = [{"send": {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "m%d" % i}}}
             for i in range(1, n + 1)]
    return ([{"tone": {"hz": 1000, "ms": tone_ms, "chunk_bytes": 3200, "key": "stream_sid"}}] + marks
            + [{"send": {"event": "clear", "stream_sid": "$STREAM_SID"}}] + list(then))


def echoed_in_order(bot, n):
    bot.wait_closed(1)
    echoed = [e["msg"]["mark"]["name"] for e in bot.rx("mark")]
    assert echoed == ["m%d" % i for i in range(1, n + 1)], "%d of %d marks echoed" % (len(echoed), n)


def test_clear_echoes_more_marks_than_the_send_queue_holds(env, bridge, sipp):
    """With bots.max_marks above the send queue's own bound of 4096 messages, a clear that echoes every pending mark
    at once sends them all, in order, and the call goes on: the bot is reading, it is not dropped as one that
    stopped."""
    n = 5000
    script = marks_behind_audio(n, 10000, [{"wait_event": "mark", "name": "m%d" % n},
                                           {"wait_event": "media", "count": 3}, {"send": {"event": "hangup"}}])
    d, bot = bridge(script=script, bot={"max_marks": n})
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    echoed_in_order(bot, n)
    assert bot.rx("stop"), "the call did not end with stop: the bridge dropped the bot"


def test_marks_over_the_playout_queue_counted(env, bridge, sipp):
    """With bots.max_marks above the playout queue's own bound of 65536 marks and keys, the marks over it are
    skipped as a bad message is: counted in bot_bad_messages_total and logged within a bound, not dropped unseen;
    the ones before it are echoed in order once the audio ahead of them is cleared."""
    n, cap = 65540, 65536
    script = marks_behind_audio(n, 30000, [{"wait_event": "mark", "name": "m%d" % cap}, {"send": {"event": "hangup"}}])
    admin = env.ports.port()
    d, bot = bridge(script=script, bot={"max_marks": 100000}, admin={"port": admin})
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    echoed_in_order(bot, cap)
    assert sbtest.metric(admin, "sipbridge_bot_bad_messages_total") == n - cap
    logged = d.stderr_text().count("dropping mark")
    assert 1 <= logged <= n - cap, "%d log lines for %d marks over the queue" % (logged, n - cap)

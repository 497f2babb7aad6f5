"""A bot host name whose lookup never returns (gai_shim holds getaddrinfo for it, as a DNS server or name service
that never answers would): every call to that bot fails with 503 at its connect_timeout_ms, the lookup is not
started again when the cache's wait for it runs out (dns.cache_s) while it is still stuck, so the other resolver thread keeps
serving other names, and /metrics shows it running; a lookup that returns late is logged and its answer used; the
daemon exits cleanly with a lookup stuck."""

import time

import sbtest

STUCK = "stuck.test"
CACHE_WAIT_S = 5  # dns.cache_s: a name still pending after this is asked for again
TIMED_OUT = "Bot stuckbot unreachable: host name resolution timed out for %s" % STUCK


def start(env, connect_timeout_ms, admin=None, cache_s=CACHE_WAIT_S):
    """An echo bot reached by the name STUCK ("stuck" calls) and one reached by the name localhost (the rest), and
    the daemon with the shim, its dns.cache_s cache_s; (daemon, stuck bot, localhost bot, shim log, release
    file)."""
    environ, log, release = sbtest.gai_shim(env.tmp, STUCK)
    stuckbot = env.testbot("echo", name="stuckbot")
    namebot = env.testbot("echo", name="namebot")
    bots = [{"name": "namebot", "url": "ws://localhost:%d/media" % namebot.port},
            {"name": "stuckbot", "url": "ws://%s:%d/media" % (STUCK, stuckbot.port),
             "connect_timeout_ms": connect_timeout_ms, "retries": 0}]
    extra = {"admin": {"address": "127.0.0.1", "port": admin}} if admin else {}
    extra["dns"] = {"cache_s": cache_s}
    d = env.daemon(env.config(bots, trunk={"bots": [{"match": "stuck", "bot": "stuckbot"},
                                                   {"match": "*", "bot": "namebot"}]}, **extra),
                   environ=environ)
    return d, stuckbot, namebot, log, release


def stuck_call(env, sipp, d, limit_s):
    """A call to the bot whose name does not resolve: 503 within limit_s, and the log names the name."""
    before = d.stderr_text().count(TIMED_OUT)
    t0 = time.monotonic()
    res = sipp("uac_reject.xml", d, keys={"customer": "stuck"}, rtp_port=env.endpoint().port).run()
    took = time.monotonic() - t0
    assert res.rc == 0 and res.final_status() == 503, res.describe()
    assert took < limit_s, "the call waited %.1f s for its 503" % took
    sbtest.wait_until(lambda: d.stderr_text().count(TIMED_OUT) == before + 1, 10, "%r in the log" % TIMED_OUT)


def echo_call(env, sipp, d, customer):
    ep = env.endpoint()
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys={"customer": customer}, rtp_port=ep.port, duration_ms=500).run()
    assert res.rc == 0, res.describe()


def test_stuck_lookup_is_not_started_again(env, sipp):
    """Calls keep coming for a bot whose lookup is stuck, past the dns.cache_s (5 s here) after which the cache asks
    for a pending name again: each gets 503 at its deadline, the shim sees one lookup of the name in all, and a call to a bot named
    localhost still resolves and connects (were the name asked for again, its second lookup would hold the second
    resolver thread too, and every other name would wait behind both). The 503s are counted as bot failures, and
    bot_dns_lookups_active shows the one lookup until it returns. Its return at last is logged with its duration,
    and the next call to that bot connects."""
    admin = env.ports.tcp()
    d, stuckbot, namebot, log, release = start(env, 1500, admin=admin)
    stuck_call(env, sipp, d, 15)
    sbtest.wait_until(lambda: sbtest.gai_lookups(log, STUCK) == 1, 10, "the lookup of %s" % STUCK)
    t_first = time.monotonic()
    calls = 1
    # Calls keep coming, the last of them past the cache's wait for the name.
    while time.monotonic() < t_first + CACHE_WAIT_S + 3:
        stuck_call(env, sipp, d, 15)
        calls += 1
    echo_call(env, sipp, d, "other")
    assert namebot.select("open"), "no session at the bot named localhost"
    assert sbtest.gai_lookups(log, STUCK) == 1, "the stuck name was looked up again"
    assert stuckbot.conns() == []
    assert sbtest.metric(admin, 'sipbridge_invites_rejected_total{reason="bot"}') == calls
    assert sbtest.metric(admin, "sipbridge_bot_dns_lookups_active") == 1

    # The lookup returns (late): logged, and its answer is used.
    with open(release, "w"):
        pass
    sbtest.wait_until(lambda: "Resolving %s took " % STUCK in d.stderr_text(), 10, "the late lookup in the log")
    sbtest.wait_until(lambda: sbtest.metric(admin, "sipbridge_bot_dns_lookups_active") == 0, 10,
                      "no lookup active")
    echo_call(env, sipp, d, "stuck")
    assert stuckbot.select("open"), "no session at the bot once its name resolved"
    assert sbtest.gai_lookups(log, STUCK) == 1


def test_answers_kept_for_the_configured_time(env, sipp):
    """dns.cache_s = 10: a second call to the bot named localhost right after the first uses the kept address (one
    lookup); calls then keep coming, and the name is looked up again once 10 s have passed since the first lookup,
    not sooner (the default of 60 s would not look it up again within the test's 40 s)."""
    d, _, namebot, log, _ = start(env, 1500, cache_s=10)
    t0 = time.monotonic()
    echo_call(env, sipp, d, "other")
    assert sbtest.gai_lookups(log, "localhost") == 1
    echo_call(env, sipp, d, "other")
    assert sbtest.gai_lookups(log, "localhost") == 1, "the kept address was not used"
    deadline = t0 + 40
    while sbtest.gai_lookups(log, "localhost") == 1 and time.monotonic() < deadline:
        echo_call(env, sipp, d, "other")
    asked_again = time.monotonic()
    assert sbtest.gai_lookups(log, "localhost") == 2, "the name was not looked up again within 40 s"
    # t0 is before the first lookup and asked_again after the second: an early expiry shows as less than 10 s
    assert asked_again - t0 >= 10, "looked up again %.1f s after the first lookup" % (asked_again - t0)
    assert len(namebot.select("open")) >= 3


def test_exit_with_a_lookup_stuck(env, sipp):
    """SIGTERM while a bot's lookup is stuck: the daemon does not wait for it and exits 0 with a clean sanitizer
    report."""
    d, _, _, log, _ = start(env, 1000)
    stuck_call(env, sipp, d, 15)
    assert sbtest.gai_lookups(log, STUCK) == 1
    t0 = time.monotonic()
    d.stop(timeout=10)
    assert time.monotonic() - t0 < 10
    assert "Resolving" not in d.stderr_text()

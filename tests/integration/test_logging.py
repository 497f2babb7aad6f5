"""Log formats: with log.format = "json" every line the daemon writes to stderr is one JSON object (ts, level,
subsys, msg, and the call id on the lines about a call) at the configured level, up to the last line at shutdown;
the text format (the default) stays "[time] LEVEL subsys [call-id] text". A bad format is a config error."""

import datetime
import json
import os
import re

import pytest

import rtp
import sbtest

AUDIO_MS = 600
LEVELS = ("error", "warn", "notice", "info", "debug")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TEXT_RE = re.compile(r"^(\d{2}:\d{2}:\d{2}\.\d{3}) (error|warn|notice|info|debug) *(\S+) (?:\[([0-9a-f]+)\] )?(.*)$")


def place_call(env, bridge, sipp, log):
    """One answered call with caller audio through a silent bot; returns (daemon, call id) once the call is over
    and the daemon has stopped (so every line it wrote is in its stderr file)."""
    d, bot = bridge("silent", log=log)
    audio = rtp.noise_octets(rtp.PT_PCMA, 8 * AUDIO_MS, seed=5)
    res = sipp("uac_basic.xml", d, rtp_payload=rtp.PT_PCMA, caller_audio=audio,
               duration_ms=AUDIO_MS + 600).run()
    assert res.rc == 0, res.describe()
    call_id = bot.start_msg()["start"]["call_sid"]
    bot.wait_closed(1)
    sbtest.wait_until(lambda: "Call released" in d.stderr_text(), 20, "the daemon to log the call's end")
    d.stop()
    return d, call_id


def json_lines(d):
    """Every stderr line parsed; fails on any line that is not exactly one JSON object."""
    out = []
    for n, line in enumerate(d.stderr_text().splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError("stderr line %d is not JSON (%s): %r" % (n, e, line))
        assert isinstance(obj, dict), "stderr line %d is not an object: %r" % (n, line)
        out.append(obj)
    assert out, "the daemon wrote nothing to stderr"
    return out


def check_fields(lines, t0, t1):
    for o in lines:
        assert set(o) <= {"ts", "level", "subsys", "call", "msg"}, o
        assert isinstance(o.get("msg"), str) and isinstance(o.get("subsys"), str) and o["subsys"], o
        assert o.get("level") in LEVELS, o
        assert TS_RE.match(o.get("ts", "")), o
        ts = datetime.datetime.strptime(o["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        assert t0 <= ts <= t1, "time stamp %s outside the run (%s .. %s)" % (o["ts"], t0, t1)
        assert "call" not in o or isinstance(o["call"], str), o


def now_utc(slack_s=0):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=slack_s)


@pytest.mark.parametrize("level", ["info", "debug"])
def test_json_lines(env, bridge, sipp, level):
    t0 = now_utc(-2)
    d, call_id = place_call(env, bridge, sipp, {"level": level, "format": "json"})
    lines = json_lines(d)
    check_fields(lines, t0, now_utc(2))

    # The level filter: nothing below info at info; at debug the call state machine's steps are there.
    debug = [o for o in lines if o["level"] == "debug"]
    if level == "info":
        assert not debug, "debug lines at level info: %s" % debug[:3]
    else:
        assert any(o["subsys"] == "call" and o.get("call") == call_id for o in debug), "no debug lines of the call"

    # Lines about the call carry its id, from the SIP, bot and media threads alike; no other id appears.
    about = [o for o in lines if "call" in o]
    assert {o["call"] for o in about} == {call_id}, {o["call"] for o in about}
    by_subsys = {o["subsys"] for o in about if o["level"] != "debug"}
    assert {"sip", "bot", "call", "media"} <= by_subsys, by_subsys
    invite = [o for o in lines if o["subsys"] == "sip" and o["msg"].startswith("INVITE ")]
    assert invite and all(o.get("call") == call_id for o in invite), invite
    # Lines outside a call have no call key, and the writer drained everything at exit: "Stopped" is last.
    ready = [o for o in lines if " ready: " in o["msg"]]
    assert len(ready) == 1 and "call" not in ready[0], ready
    assert lines[-1]["subsys"] == "daemon" and lines[-1]["msg"] == "Stopped", lines[-1]
    msgs = [o["msg"] for o in lines]
    assert msgs.index(ready[0]["msg"]) < msgs.index(invite[0]["msg"]), "lines out of order"


@pytest.mark.parametrize("fmt", [None, "text"], ids=["default", "explicit"])
def test_text_lines(env, bridge, sipp, fmt):
    log = {"level": "info"}
    if fmt:
        log["format"] = fmt
    d, call_id = place_call(env, bridge, sipp, log)
    text = d.stderr_text()
    seen_call = set()
    for n, line in enumerate(text.splitlines(), 1):
        m = TEXT_RE.match(line)
        assert m, "stderr line %d is not a text log line: %r" % (n, line)
        assert m.group(2) != "debug", line
        if m.group(4):
            assert m.group(4) == call_id, line
            seen_call.add(m.group(3))
    assert {"sip", "bot", "call", "media"} <= seen_call, seen_call
    assert re.search(r" info +sip \[%s\] INVITE " % call_id, text), text
    assert text.splitlines()[-1].endswith(" daemon Stopped"), text.splitlines()[-1]


def test_bad_format_rejected(env):
    cfg = env.config({"default": "ws://127.0.0.1:9/media"}, log={"level": "info", "format": "xml"})
    text = sbtest.to_libconfig(cfg)
    path = os.path.join(env.tmp, "bad.conf")
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2, (rc, out, err)
    where = "%s:%d" % (path, sbtest.line_of(text, '"xml"'))
    assert re.search(r"%s: \S*format\S*: .*json" % re.escape(where), err), err

"""Command line: -t/--check-config on good and broken configs (exit 0 / exit 2 with FILE:LINE: KEY), --version."""

import os
import re
import socket
import subprocess

import pytest

import pki
import sbtest
import sipraw


def good_config(env):
    return sbtest.to_libconfig(env.config({"default": "ws://127.0.0.1:5001/media"}))


def test_check_sample_config():
    path = os.path.join(sbtest.REPO, "conf", "sipbridge.conf")
    assert os.path.isfile(path), "sample config %s missing" % path
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 0, "sipbridged -t %s: rc=%s\n%s%s" % (path, rc, out, err)
    assert_no_sanitizer_report(err)


def test_check_generated_config(env):
    path = os.path.join(env.tmp, "good.conf")
    with open(path, "w") as f:
        f.write(good_config(env))
    for flag in ("-t", "--check-config"):
        rc, out, err = sbtest.run_daemon_once([flag, "-c", path])
        assert rc == 0, "sipbridged %s: rc=%s\n%s%s" % (flag, rc, out, err)
        assert_no_sanitizer_report(err)


def _break(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


# (id, mutation of the good text, needle on the bad line, key that must be named or None)
BROKEN = [
    ("syntax", lambda t: _break(t, "  max_cps = 50;", "  max_cps = = 50;"), "max_cps = =", None),
    ("unknown-key", lambda t: _break(t, "  max_cps = 50;", "  max_cps = 50;\n  max_bananas = 3;"),
     "max_bananas", "max_bananas"),
    ("bad-cidr", lambda t: _break(t, '"127.0.0.0/8"', '"127.0.0.0/33"'), "127.0.0.0/33", "acl"),
    ("bad-url", lambda t: _break(t, '"ws://127.0.0.1:5001/media"', '"htp:/no-such scheme"'), "htp:/", "url"),
    ("trunk-name-17", lambda t: _break(t, 'name = "test";', 'name = "abcdefghijklmnopq";'),
     "abcdefghijklmnopq", "name"),
    ("wrong-type", lambda t: _break(t, "  max_calls = 50;", '  max_calls = "fifty";'), "fifty", "max_calls"),
    # libconfig alone would read 4294967297 as 1
    ("int-wraps", lambda t: _break(t, "  max_calls = 50;", "  max_calls = 4294967297;"), "4294967297",
     "max_calls"),
    ("sample-rate-12000", lambda t: _break(t, '"ws://127.0.0.1:5001/media"', '"ws://127.0.0.1:5001/media?sample-rate=12000"'),
     "sample-rate=12000", "url"),
    ("int-beyond-64-bits", lambda t: _break(t, "  max_cps = 50;", "  max_cps = 18446744073709551616;"),
     "18446744073709551616", None),
]


def assert_no_sanitizer_report(err):
    bad = sbtest.sanitizer_lines_of(err)
    assert not bad, "sanitizer report:\n%s" % err


@pytest.mark.parametrize("mutate,needle,key", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_check_broken_config(env, mutate, needle, key):
    text = mutate(good_config(env))
    path = os.path.join(env.tmp, "broken.conf")
    with open(path, "w") as f:
        f.write(text)
    line = sbtest.line_of(text, needle)
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2, "expected exit 2, got %s\nstderr:\n%s" % (rc, err)
    where = "%s:%d" % (path, line)
    msgs = [l for l in err.splitlines() if where in l]
    assert msgs, "stderr does not name %s\nstderr:\n%s\nconfig:\n%s" % (where, err, text)
    if key is not None:
        assert any(re.search(r"%s:\s*\S*%s\S*:" % (re.escape(where), re.escape(key)), l) for l in msgs), (
            "expected 'FILE:LINE: KEY: reason' naming %r, got:\n%s" % (key, "\n".join(msgs)))
    assert_no_sanitizer_report(err)


def test_wide_integer_range_checked(env):
    """libconfig 1.5 alone reads 4294967297 as 1 (max_calls = 1 would pass -t); it is range-checked instead."""
    text = _break(good_config(env), "  max_calls = 50;", "  max_calls = 4294967297;")
    path = os.path.join(env.tmp, "wide.conf")
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2, (rc, out, err)
    expect = "%s:%d: limits.max_calls: must be 1-100000, not 4294967297" % (path, sbtest.line_of(text, "4294967297"))
    assert expect in err, err
    assert_no_sanitizer_report(err)


def test_check_empty_file_names_line_1(env):
    path = os.path.join(env.tmp, "empty.conf")
    open(path, "w").close()
    rc, out, err = sbtest.run_daemon_once(["-t", "-c", path])
    assert rc == 2, (rc, out, err)
    assert re.search(r"^sipbridged: %s:1: bots: missing \(required\)$" % re.escape(path), err, re.M), err
    assert_no_sanitizer_report(err)


def test_start_with_broken_config_exits_2(env):
    text = _break(good_config(env), '"127.0.0.0/8"', '"300.1.2.3/8"')
    path = os.path.join(env.tmp, "broken.conf")
    with open(path, "w") as f:
        f.write(text)
    exe = sbtest.binary("src/sipbridged")
    p = subprocess.run([exe, "-f", "-c", path], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                       env=sbtest.sanitizer_env())
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 2, "rc=%s\n%s" % (p.returncode, err)
    assert "%s:%d" % (path, sbtest.line_of(text, "300.1.2.3")) in err, err
    assert_no_sanitizer_report(err)


def test_version():
    with open(os.path.join(sbtest.REPO, "meson.build")) as f:
        version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
    rc, out, err = sbtest.run_daemon_once(["--version"])
    assert rc == 0, (rc, out, err)
    assert_no_sanitizer_report(err)
    assert version in out + err, "--version printed %r, expected %s" % (out + err, version)


def test_no_config_file_bot_flag(env, testbot, sipp):
    """`sipbridged --bot URL` runs on the embedded default (127.0.0.0/8 allowed, one route to --bot)."""
    bot = testbot("silent")
    env.sip_port = env.ports.port()
    d = env.daemon(None, args=["--sip-port", str(env.sip_port), "--bot", bot.url])
    ep = env.endpoint()
    res = sipp("uac_call.xml", d, rtp_port=ep.port, duration_ms=300).run()
    assert res.rc == 0, res.describe()
    assert bot.start_msg()["start"]["to"] == "+15550001"
    bot.wait_event("rx", "stop")


V4MAPPED = "::ffff:127.0.0.1"


@pytest.mark.parametrize("transport,address", [("udp", "127.0.0.1"), ("tcp", "127.0.0.1"), ("tls", "127.0.0.1"),
                                               ("udp", V4MAPPED), ("tcp", V4MAPPED)])
def test_start_with_sip_port_in_use_exits_1(env, transport, address):
    """A SIP port another socket holds: the daemon says which and exits 1, having released all it set up (the
    ASan build's leak check at exit finds nothing). A tls entry (on a port of its own) is probed as TCP. An
    IPv4-mapped IPv6 address is bound as the SIP stack binds it, on a socket that takes IPv4 too: the port an IPv4
    socket holds is in use there."""
    cfg = env.config({"default": "ws://127.0.0.1:5001/media"})
    for entry in cfg["sip"]["listen"]:
        entry["address"] = address
    shown = "[%s]" % address if ":" in address else address
    port = env.sip_port
    if transport == "tls":
        port = env.ports.tcp()
        ca = pki.make_ca(env.tmp, "ca")
        cert, key = pki.make_server_cert(env.tmp, "sip", ca, ip="127.0.0.1")
        cfg["sip"]["listen"].append({"transport": "tls", "address": "127.0.0.1", "port": port, "cert": cert,
                                     "key": key, "ca": "", "verify_client": False})
    path = os.path.join(env.tmp, "good.conf")
    with open(path, "w") as f:
        f.write(sbtest.to_libconfig(cfg))
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as holder:
        if kind == socket.SOCK_STREAM:  # an earlier test's connection may have left the port in TIME-WAIT
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            holder.listen(1)  # a listening socket keeps the port even from one with SO_REUSEADDR
        rc, out, err = sbtest.run_daemon_once(["-f", "-c", path])
    assert rc == 1, "rc=%s\n%s%s" % (rc, out, err)
    assert re.search(r"error +sip Cannot listen for SIP on %s %s:%d \(in use\?\): Address already in use"
                     % (transport, re.escape(shown), port), err), err
    assert " ready: " not in err, err
    assert_no_sanitizer_report(err)


def test_start_on_ipv4_mapped_sip_address(env):
    """sip.listen on an IPv4-mapped IPv6 address (numeric, so accepted) starts, as the SIP stack binds it on a socket
    that takes IPv4 too, and answers a request sent to the IPv4 address: the start-up bind probe does not refuse
    what the stack would bind."""
    cfg = env.config({"default": "ws://127.0.0.1:5001/media"})
    for entry in cfg["sip"]["listen"]:
        entry["address"] = V4MAPPED
    d = env.daemon(cfg)
    first = sipraw.options_answer(env.sip_port)
    assert first.startswith("SIP/2.0 200 "), first
    d.stop()  # exit status 0, no sanitizer report


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_start_with_sip_host_name_exits_2(env, transport):
    """A sip.listen host name ("localhost": 127.0.0.1 here) is refused when the config is read, naming the entry:
    the address is never resolved, so its port being held (as in the test above) never reaches the SIP stack, whose
    failed bind would leak and say only that it failed. Exit 2, nothing set up, nothing leaked."""
    cfg = env.config({"default": "ws://127.0.0.1:5001/media"})
    for entry in cfg["sip"]["listen"]:
        entry["address"] = "localhost"
    text = sbtest.to_libconfig(cfg)
    path = os.path.join(env.tmp, "hostname.conf")
    with open(path, "w") as f:
        f.write(text)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as holder:
        if kind == socket.SOCK_STREAM:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", env.sip_port))
        if kind == socket.SOCK_STREAM:
            holder.listen(1)
        rc, out, err = sbtest.run_daemon_once(["-f", "-c", path])
    assert rc == 2, "rc=%s\n%s%s" % (rc, out, err)
    where = "%s:%d" % (path, sbtest.line_of(text, '"localhost"'))
    assert re.search(r"^sipbridged: %s: sip\.listen\[0\]\.address: must be a numeric IPv4 or IPv6 address$"
                     % re.escape(where), err, re.M), err
    assert "Listening for SIP" not in err and " ready: " not in err, err
    assert_no_sanitizer_report(err)


@pytest.mark.parametrize("address,shown", [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"),
                                           (V4MAPPED, "[%s]" % V4MAPPED)])
def test_start_with_admin_port_in_use_exits_1(env, address, shown):
    """An admin port another socket listens on: the daemon says which (an IPv6 address in brackets) and exits 1,
    having released all it set up (the ASan build's leak check at exit finds nothing). An IPv4-mapped address is
    probed on a socket that takes IPv4 too, as the server binds it: the port is found in use, not refused."""
    admin_port = env.ports.tcp()
    path = os.path.join(env.tmp, "good.conf")
    with open(path, "w") as f:
        f.write(sbtest.to_libconfig(env.config({"default": "ws://127.0.0.1:5001/media"},
                                               admin={"address": address, "port": admin_port})))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port may be in TIME-WAIT
        holder.bind((address, admin_port))
        holder.listen(1)  # a listening socket keeps the port even from one with SO_REUSEADDR
        rc, out, err = sbtest.run_daemon_once(["-f", "-c", path])
    assert rc == 1, "rc=%s\n%s%s" % (rc, out, err)
    assert re.search(r"error +admin Cannot listen for the admin API on %s:%d.*: Address already in use"
                     % (re.escape(shown), admin_port), err), err
    assert " ready: " not in err, err
    assert_no_sanitizer_report(err)


def test_start_with_admin_address_not_local_exits_1(env):
    """An admin address that is not on this machine (TEST-NET-1; a bind sends nothing): the daemon names the real
    cause of the failed listen, not a port in use, and exits 1 having released all it set up."""
    admin_port = env.ports.tcp()
    path = os.path.join(env.tmp, "good.conf")
    with open(path, "w") as f:
        f.write(sbtest.to_libconfig(env.config({"default": "ws://127.0.0.1:5001/media"},
                                               admin={"address": "192.0.2.1", "port": admin_port})))
    rc, out, err = sbtest.run_daemon_once(["-f", "-c", path])
    assert rc == 1, "rc=%s\n%s%s" % (rc, out, err)
    assert re.search(r"error +admin Cannot listen for the admin API on 192\.0\.2\.1:%d: Cannot assign requested "
                     r"address$" % admin_port, err, re.M), err
    assert "in use" not in err, err
    assert " ready: " not in err, err
    assert_no_sanitizer_report(err)

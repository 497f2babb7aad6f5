"""Fixtures for the sipbridged integration tests.

The binaries come from $SB_BUILD_DIR (default <repo>/build-it), built with -Db_sanitize=address,undefined. Each test
gets free loopback ports, its own RTP port block, a generated libconfig file, the daemon (started with NOTIFY_SOCKET
and stopped with SIGTERM; exit status and sanitizer output are asserted at teardown), test bots and SIPp runs whose
traces land in the test's tmp dir.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rtp  # noqa: E402
import sbtest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class Env:
    """Per-test state shared by the fixtures; everything it starts is stopped at teardown."""

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        self.ports = sbtest.Ports()
        self.bots = []
        self.daemons = []
        self.sipps = []
        self.endpoints = []
        self.listeners = []
        self.rtp_range = self.ports.rtp_range()

    # --- processes -------------------------------------------------------------------------------------------
    def testbot(self, mode="echo", script=None, tone_hz=None, name=None, record=True, protocol=None,
                strict=False, tls=None):
        name = name or "bot%d" % (len(self.bots) + 1)
        b = sbtest.Testbot(self.tmp, self.ports.tcp(), mode=mode, script=script, tone_hz=tone_hz, name=name,
                           record=record, protocol=protocol, strict=strict, tls=tls)
        self.bots.append(b)
        return b.start()

    def config(self, bots, **kw):
        """base_config() on this test's SIP port and RTP block."""
        self.sip_port = getattr(self, "sip_port", None) or self.ports.port()
        return sbtest.base_config(self.sip_port, self.rtp_range, bots, **kw)

    def daemon(self, config, args=(), name="sipbridged", sip_port=None, preexec=None, environ=None, stderr=None):
        """Start sipbridged on config (dict or text) and wait for READY=1. A second daemon of the same test gets its
        own name and sip_port (the one its config listens on); the default is the test's SIP port. preexec runs in
        the child before exec; environ (a dict) is added to its environment; stderr (a descriptor) takes its stdout
        and stderr in place of the stderr file."""
        d = sbtest.Daemon(self.tmp, config, args=args, sip_port=sip_port or getattr(self, "sip_port", None),
                          name=name, preexec=preexec, environ=environ, stderr=stderr)
        self.daemons.append(d)
        return d.start()

    def sipp(self, scenario, daemon=None, **kw):
        port = kw.pop("target_port", None) or (daemon.sip_port if daemon else self.sip_port)
        s = sbtest.Sipp(self.tmp, self.ports, scenario, port, **kw)
        self.sipps.append(s)
        return s

    def endpoint(self, pt=rtp.PT_PCMA, port=0):
        e = rtp.RtpEndpoint(pt, port=port)
        self.endpoints.append(e)
        return e

    def silent_listener(self):
        l = sbtest.SilentListener(self.ports.tcp())
        self.listeners.append(l)
        return l

    # --- teardown --------------------------------------------------------------------------------------------
    def close(self, failed):
        errors = []
        for s in self.sipps:
            s.kill()
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError as e:
                errors.append(str(e))
            if failed and d.proc is not None:
                print("\n--- %s stderr tail (%s) ---\n%s" % (os.path.basename(d.stderr_path), d.stderr_path,
                                                           sbtest.tail(d.stderr_path, 80)))
        for b in self.bots:
            try:
                b.stop()
            except AssertionError as e:
                errors.append(str(e))
            if failed:
                print("\n--- %s log tail ---\n%s" % (b.name, sbtest.tail(b.log_path, 15)))
        for e in self.endpoints:
            e.close()
        for l in self.listeners:
            l.close()
        return errors


@pytest.fixture
def env(tmp_path, request):
    e = Env(tmp_path)
    yield e
    rep = getattr(request.node, "rep_call", None)
    errors = e.close(failed=rep is not None and rep.failed)
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def testbot(env):
    """Factory: testbot(mode="echo"|"tone"|"silent", script=[steps], tone_hz=..., name=...) -> started Testbot."""
    return env.testbot


@pytest.fixture
def daemon(env, testbot):
    """Factory: daemon(config) -> Daemon after READY=1; SIGTERM + exit 0 + clean ASan/UBSan asserted at teardown."""
    return env.daemon


@pytest.fixture
def sipp(env):
    """Factory: sipp(scenario, daemon, transport=..., keys={...}, ...) -> Sipp (call .run() or .start()/.wait())."""
    return env.sipp


@pytest.fixture
def bridge(env):
    """Common case: an echo testbot and a daemon with one trunk routing every call to it."""

    def make(mode="echo", script=None, tone_hz=None, trunk=None, bot=None, protocol=None, strict=False,
             environ=None, **groups):
        b = env.testbot(mode=mode, script=script, tone_hz=tone_hz, protocol=protocol, strict=strict)
        botcfg = {"name": "default", "url": b.url}
        if protocol is not None:
            botcfg["protocol"] = protocol
        botcfg.update(bot or {})
        d = env.daemon(env.config([botcfg], trunk=trunk, **groups), environ=environ)
        return d, b

    return make

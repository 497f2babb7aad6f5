"""Signals other than SIGTERM/SIGINT mid-call: SIGHUP reloads the configuration (here the same file, so nothing
changes) and SIGUSR1/SIGUSR2 are logged and ignored; the call in progress goes on with audio both ways and ends
normally."""

import errno
import os
import shutil
import signal
import socket
import subprocess
import tempfile
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


def fifo_writer(path, proc, timeout=20):
    """The write end of the FIFO at path, once the daemon has opened it for reading (it then waits for the text)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            return fd
        except OSError as e:  # ENXIO: no reader yet
            assert e.errno == errno.ENXIO and time.monotonic() < deadline and proc.poll() is None, e
            time.sleep(0.01)


def feed(fd, text):
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test_sighup_during_start_up_reloads_after_ready(env):
    """A SIGHUP that comes while the daemon is still reading its configuration (logrotate's reload racing a
    restart) waits for the daemon to be up and then reloads; it no longer ends the process, which systemd would
    not restart (a death by SIGHUP counts as clean)."""
    text = sbtest.to_libconfig(env.config([{"name": "default", "url": "ws://127.0.0.1:%d/media" % env.ports.tcp()}]))
    conf = os.path.join(env.tmp, "fifo.conf")
    os.mkfifo(conf)
    ndir = tempfile.mkdtemp(prefix="sbh", dir="/tmp")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(ndir, "notify"))
    sock.settimeout(0.5)
    err_path = os.path.join(env.tmp, "fifo.stderr")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sbtest.binary("src/sipbridged"), "-c", conf, "-f"], stdin=subprocess.DEVNULL,
                                stdout=err, stderr=err,
                                env=sbtest.sanitizer_env({"NOTIFY_SOCKET": os.path.join(ndir, "notify")}))
    try:
        fd = fifo_writer(conf, proc)  # the daemon is reading its configuration
        proc.send_signal(signal.SIGHUP)
        feed(fd, text)
        got = []
        deadline = time.monotonic() + 30
        while "READY=1" not in got and proc.poll() is None and time.monotonic() < deadline:
            try:
                got.extend(sock.recv(4096).decode().split("\n"))
            except socket.timeout:
                pass
        assert proc.poll() is None, "sipbridged ended (status %s) on a SIGHUP during start-up" % proc.returncode
        assert "READY=1" in got, got
        feed(fifo_writer(conf, proc), text)  # the reload reads the file again
        sbtest.wait_until(lambda: "Configuration reloaded" in open(err_path).read(), 20, "the reload")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        sock.close()
        shutil.rmtree(ndir, ignore_errors=True)
    bad = sbtest.sanitizer_lines(err_path)
    assert not bad, bad

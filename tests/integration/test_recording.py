"""Call recording (record = "FOLDER" on a trunk or a bot): a stereo 8 kHz PCM16 WAV per call, left the caller as the
bot hears it, right what the caller was sent, aligned in time; a folder that cannot be written is logged and the
call goes on without recording; a finished recording has been synced to disk, file and folder, before it is logged,
and a failed sync is logged."""

import os
import re
import resource
import signal
import struct
import time
import wave

import pytest

import rtp
import sbtest

PT = rtp.PT_PCMA
RATE = 8000


def read_wav(path):
    """(left, right, header fields) of a stereo PCM16 WAV, with its RIFF sizes checked against the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(44)
    riff, riff_size, wave_id, fmt_id, fmt_size = struct.unpack("<4sI4s4sI", head[:20])
    data_id, data_size = struct.unpack("<4sI", head[36:44])
    assert (riff, wave_id, fmt_id, data_id) == (b"RIFF", b"WAVE", b"fmt ", b"data"), head
    assert fmt_size == 16, fmt_size
    assert riff_size == size - 8, "RIFF size %d in a file of %d bytes" % (riff_size, size)
    assert data_size == size - 44, "data size %d in a file of %d bytes" % (data_size, size)
    with wave.open(path, "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (2, 2, RATE, "NONE")
        n = w.getnframes()
        data = w.readframes(n)
    samples = struct.unpack("<%dh" % (2 * n), data)
    return list(samples[0::2]), list(samples[1::2])


def onset(pcm, start, threshold=1000):
    """Index of the first sample at or after start louder than threshold."""
    for i in range(max(0, start), len(pcm)):
        if abs(pcm[i]) > threshold:
            return i
    raise AssertionError("no sound after sample %d" % start)


def wait_recorded(d, path):
    """The daemon logs a recording once its file is complete (sizes written, synced, closed)."""
    sbtest.wait_until(lambda: ("Recording %s:" % path) in d.stderr_text(), 20, "the recording of %s to end" % path)


def frames_at(hay, needle, what):
    """Where each 20 ms frame of needle (unique frames: noise) is in hay. Each must be there, in order, and at most
    60 ms from where a contiguous copy would have it: the recorder's slack, or a few frames of silence the bridge
    sent while the echo was late."""
    at = [rtp.find_sub(hay, needle[i:i + 160]) for i in range(0, len(needle), 160)]
    assert all(a >= 0 for a in at), "frames %s of the noise are not in %s" % ([i for i, a in enumerate(at) if a < 0],
                                                                            what)
    off = [a - at[0] - 160 * i for i, a in enumerate(at)]
    assert all(abs(o) <= 480 for o in off), "%s: frames out of place %s" % (what, off)
    return at[0]


def test_echo_call_recorded(env, bridge, sipp):
    rec_dir = os.path.join(env.tmp, "rec")
    os.makedirs(rec_dir)
    # On the trunk (the bot says nothing); 40 ms frames to the bot keep the echo's delay short.
    d, bot = bridge("echo", bot={"frame_ms": 40}, trunk={"record": rec_dir})
    ep = env.endpoint(PT)
    call = sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, until_told=True).start()
    ep.send_silence_forever()
    ep.wait_packets(1, timeout=20)
    tone1k = rtp.encode(PT, rtp.tone(1000, 1000))
    gap = bytes([rtp.silence_octet(PT)]) * 4000
    tone500 = rtp.encode(PT, rtp.tone(500, 1000))
    noise = rtp.noise_octets(PT, 4000, seed=7)
    sent = tone1k + gap + tone500 + noise
    ep.send_audio(sent)
    last = noise[-160:]
    ep.wait_for(lambda e: any(p.payload == last for p in e.packets), 20, "the echo of the caller's audio")
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()

    path = os.path.join(rec_dir, bot.start_msg()["start"]["call_sid"] + ".wav")
    wait_recorded(d, path)
    assert os.listdir(rec_dir) == [os.path.basename(path)]
    left, right = read_wav(path)
    pkts = ep.snapshot()
    t0 = pkts[0].t  # the bridge's first packet: the recording starts with it

    # As long as the call: from the bridge's first packet to its last.
    rx_span = pkts[-1].t - t0 + 0.02
    assert abs(len(left) / RATE - rx_span) < 0.3, "%.2f s recorded, %.2f s of RTP" % (len(left) / RATE, rx_span)

    # Left: what the caller sent, decoded, at the time it was sent.
    want = rtp.decode(PT, noise)
    at_l = frames_at(left, want, "the left channel")
    start_l = at_l - (len(sent) - len(noise))
    assert rtp.dominant(left[start_l + 800:start_l + 7200], 1000), "no 1 kHz where the caller sent it"
    assert rtp.rms(left[start_l + 8800:start_l + 11200]) < 100, "no pause where the caller paused"
    assert rtp.dominant(left[start_l + 12800:start_l + 19200], 500), "no 500 Hz where the caller sent it"
    t_sent = next(r.t for r in ep.tx_log if r.kind == "audio")
    # (0.25 s: both times are the test's own threads', which a loaded machine may run late)
    assert abs(start_l / RATE - (t_sent - t0)) < 0.25, \
        "the caller's audio sent %.3f s into the call is recorded at %.3f s" % (t_sent - t0, start_l / RATE)

    # Right: exactly what the caller received, from its first packet to its last, at the time it arrived.
    got = b"".join(p.payload for p in pkts)
    at_r = rtp.find_sub(rtp.encode(PT, right), got)
    assert 0 <= at_r < 0.1 * RATE, "the RTP the caller received is not the right channel (found at %d)" % at_r
    echo_rx = frames_at(got, noise, "the RTP received") // 160
    at_rn = frames_at(right, want, "the right channel")
    assert abs(at_rn / RATE - (pkts[echo_rx].t - t0)) < 0.25, \
        "the echo that arrived %.3f s into the call is recorded at %.3f s" % (pkts[echo_rx].t - t0, at_rn / RATE)
    start_r = at_rn - (len(sent) - len(noise))
    assert rtp.dominant(right[start_r + 800:start_r + 7200], 1000), "no echoed 1 kHz in the right channel"
    assert rtp.dominant(right[start_r + 12800:start_r + 19200], 500), "no echoed 500 Hz in the right channel"

    # Aligned: the echo is behind the caller by the same short delay at each onset and at the noise.
    delays = [onset(right, start_r - 400) - onset(left, start_l - 400),
              onset(right, start_r + 12000 - 400) - onset(left, start_l + 12000 - 400),
              at_rn - at_l]
    assert all(0 <= x < 0.1 * RATE for x in delays), "echo delays %s samples" % delays
    assert max(delays) - min(delays) <= 0.04 * RATE, "the echo delay drifts: %s samples" % delays


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_unwritable_folder(env, bridge, sipp, kind):
    trunk_dir = os.path.join(env.tmp, "trunk_rec")
    os.makedirs(trunk_dir)
    if kind == "missing":
        folder, why = os.path.join(env.tmp, "no", "such"), "No such file or directory"
    else:
        folder, why = os.path.join(env.tmp, "plain_file"), "Not a directory"
        with open(folder, "w") as f:
            f.write("not a folder\n")
    # The bot's folder wins over the trunk's: nothing may land in the trunk's.
    d, bot = bridge("echo", bot={"record": folder}, trunk={"record": trunk_dir})
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    res = sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, duration_ms=2000).run()
    assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")
    pkts = ep.snapshot()
    assert len(pkts) >= 50, "only %d RTP packets in a 2 s call" % len(pkts)
    sid = bot.start_msg()["start"]["call_sid"]
    line = "Cannot record the call in %s: cannot create %s.wav: %s" % (folder, sid, why)
    sbtest.wait_until(lambda: line in d.stderr_text(), 20, "the log line %r" % line)
    assert d.stderr_text().count("Cannot record the call") == 1, "logged more than once per call"
    assert os.listdir(trunk_dir) == [], "recorded in the trunk's folder though the bot names its own"
    assert d.alive()


def test_write_error_leaves_a_valid_file(env, testbot, daemon, sipp):
    """A full disk in the middle of a call (here the file size limit, RLIMIT_FSIZE, with SIGXFSZ ignored: writes
    past it fail with EFBIG after a short one): logged once, the call goes on, and the file holds a valid WAV of
    what reached it, its RIFF sizes those of the file and its data whole stereo samples."""
    limit = 44 + 4 * RATE + 2  # the header, 1 s of audio and half a stereo sample

    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # kept across exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    caller = []
    d, path = recorded_call(env, testbot, daemon, sipp, None, duration_ms=3000, preexec=limit_files, caller=caller)
    ep = caller[0]
    err = d.stderr_text()
    assert err.count("Cannot write %s: File too large" % path) == 1, sbtest.tail(d.stderr_path, 20)
    assert "(incomplete)" in err, sbtest.tail(d.stderr_path, 20)
    assert len(ep.snapshot()) >= 100, "the call did not go on after the write error"
    left, right = read_wav(path)
    assert len(left) == (limit - 44) // 4, "%d samples recorded in a file of %d bytes" % (len(left), limit)
    assert d.alive()


def test_killed_daemon_leaves_a_valid_file(env, bridge, sipp):
    """SIGKILL in the middle of a recorded call (the OOM killer, a crash): the recorder keeps the header's sizes
    current as it writes, so the file is a valid WAV whose sizes are those of the file, in whole samples, and it
    holds the call's audio up to about a second (the header's update interval, SB_REC_SYNC_MS) and the mixing
    window (0.5 s) before the kill."""
    rec_dir = os.path.join(env.tmp, "rec")
    os.makedirs(rec_dir)
    d, bot = bridge("echo", bot={"frame_ms": 40}, trunk={"record": rec_dir})
    ep = env.endpoint(PT)
    sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, until_told=True).start()
    ep.send_silence_forever()
    ep.wait_packets(1, timeout=20)
    ep.send_audio(rtp.encode(PT, rtp.tone(1000, 20000)))
    bot.wait_event("rx", "start")
    path = os.path.join(rec_dir, bot.start_msg()["start"]["call_sid"] + ".wav")

    # Three seconds of audio in the file: the header has been brought up to date at least twice.
    def written():
        return os.path.exists(path) and os.path.getsize(path) > 44 + 3 * 4 * RATE
    sbtest.wait_until(written, 30, "3 s of audio in %s" % path)
    t_kill = time.monotonic()
    d.kill()
    assert "Recording %s:" % path not in d.stderr_text(), "the recording ended before the kill"

    left, right = read_wav(path)  # the header's sizes are those of the file
    t0 = ep.snapshot()[0].t  # the bridge's first packet: the recording starts with it
    lost = (t_kill - t0) - len(left) / RATE
    assert lost < 2.0, "%.2f s recorded of %.2f s of call before the kill" % (len(left) / RATE, t_kill - t0)

    # Left the caller's tone, right its echo, each from its onset to the end of what was recorded.
    on_l = onset(left, 0)
    on_r = onset(right, on_l)
    assert on_r - on_l < 0.2 * RATE, "the echo is %d samples behind the caller" % (on_r - on_l)
    assert len(left) - on_r >= RATE, "less than 1 s of the echo recorded: %d samples" % (len(left) - on_r)
    assert rtp.dominant(left[on_l + 400:], 1000), "no 1 kHz in the left channel after its onset"
    assert rtp.dominant(right[on_r + 400:], 1000), "no echoed 1 kHz in the right channel after its onset"


def fsync_shim(env, fail=None):
    """The environment that preloads fsync_shim into the daemon, and the log of its fsync calls the shim keeps: each
    line "fsync PATH" is written before the call returns. fail: fsync of paths ending so fails with EIO."""
    log = os.path.join(env.tmp, "fsync.log")
    environ = {"LD_PRELOAD": sbtest.binary("tests/integration/libfsync_shim.so"), "SB_FSYNC_LOG": log,
               # the shim comes before the sanitizer's runtime in the list of loaded libraries
               "ASAN_OPTIONS": sbtest.sanitizer_env()["ASAN_OPTIONS"] + ":verify_asan_link_order=0"}
    if fail:
        environ["SB_FSYNC_FAIL"] = fail
    return environ, log


def recorded_call(env, testbot, daemon, sipp, environ, duration_ms=2000, preexec=None, caller=None, **groups):
    """A recorded call (2 s) to an echo bot; (daemon, path of the recording) once the daemon has logged it
    finished. caller, a list, gets the caller's endpoint."""
    rec_dir = os.path.realpath(os.path.join(env.tmp, "rec"))
    os.makedirs(rec_dir)
    bot = testbot("echo")
    d = daemon(env.config([{"name": "default", "url": bot.url}], trunk={"record": rec_dir}, **groups),
               environ=environ, preexec=preexec)
    ep = env.endpoint(PT)
    ep.send_silence_forever()
    if caller is not None:
        caller.append(ep)
    res = sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, duration_ms=duration_ms).run()
    assert res.rc == 0, res.describe()
    path = os.path.join(rec_dir, bot.start_msg()["start"]["call_sid"] + ".wav")
    wait_recorded(d, path)
    return d, path


def test_finished_recording_is_on_disk(env, testbot, daemon, sipp):
    """When the daemon logs a recording finished, the file has been fsync'ed and so has its folder (which holds its
    name: fsync(2)), and the file holds, header and data, what the line says. What a power cut would leave cannot be
    seen here: this shows the calls were made, and made before the recording was reported."""
    environ, log = fsync_shim(env)
    d, path = recorded_call(env, testbot, daemon, sipp, environ)
    synced = open(log).read().splitlines()  # read at once: the recording was logged after these calls returned
    line = next(ln for ln in d.stderr_text().splitlines() if ("Recording %s:" % path) in ln)
    assert "fsync " + path in synced, (path, synced)
    assert "fsync " + os.path.dirname(path) in synced, "the folder was not synced: %s" % synced
    left, right = read_wav(path)  # the header's sizes are those of the file
    logged_s = float(line.split("Recording %s: " % path)[1].split(" s")[0])
    assert abs(len(left) / RATE - logged_s) < 0.05 + 1e-9, (len(left), line)
    assert len(left) > 1.5 * RATE, "%d samples recorded of a 2 s call" % len(left)
    assert "(incomplete)" not in line and "Cannot sync" not in d.stderr_text(), line


@pytest.mark.parametrize("what", ["file", "folder"])
def test_sync_failure_is_logged(env, testbot, daemon, sipp, what):
    """fsync failing at the end of a recording (EIO: the disk lost the data) is a warning that names what could not
    be synced and the error, and the recording is reported incomplete; the call itself is unaffected."""
    environ, log = fsync_shim(env, fail=".wav" if what == "file" else "/rec")
    d, path = recorded_call(env, testbot, daemon, sipp, environ)
    err = d.stderr_text()
    target = path if what == "file" else os.path.dirname(path)
    want = "Cannot sync %s to disk: Input/output error (errno 5)" % target
    assert err.count(want) == 1, sbtest.tail(d.stderr_path, 20)
    line = next(ln for ln in err.splitlines() if ("Recording %s:" % path) in ln)
    assert "(incomplete)" in line, line
    assert err.index(want) < err.index(line), "the recording was reported before the failed sync"
    read_wav(path)
    assert d.alive()


def recording_metrics(port):
    """The recorder's samples on /metrics: recordings by outcome, frames not written by reason."""
    return {k: sbtest.metric(port, "sipbridge_%s" % k) for k in (
        'recordings_total{outcome="completed"}', 'recordings_total{outcome="failed"}',
        'recording_drops_total{reason="overrun"}', 'recording_drops_total{reason="failed"}',
        'recording_drops_total{reason="out_of_step"}')}


def logged_drops(line):
    """The frames a Recording line says were dropped: (recorder late, out of step, not written)."""
    m = re.search(r" (\d+) frames dropped \(recorder late\), (\d+) out of step, (\d+) not written", line)
    assert m, line
    return tuple(int(x) for x in m.groups())


def test_completed_recording_counted(env, testbot, daemon, sipp):
    """A recording that ends well counts once as completed on /metrics, and nothing as failed or not written but
    what the recorder reports it dropped for being late (none on a machine that keeps up)."""
    admin_port = env.ports.tcp()
    d, path = recorded_call(env, testbot, daemon, sipp, None, admin={"address": "127.0.0.1", "port": admin_port})
    line = next(ln for ln in d.stderr_text().splitlines() if ("Recording %s:" % path) in ln)
    assert "(incomplete)" not in line, line
    late, out_of_step, _ = logged_drops(line)
    got = recording_metrics(admin_port)
    assert got == {'recordings_total{outcome="completed"}': 1, 'recordings_total{outcome="failed"}': 0,
                   'recording_drops_total{reason="overrun"}': late,
                   'recording_drops_total{reason="failed"}': 0,
                   'recording_drops_total{reason="out_of_step"}': out_of_step}, (got, line)


def test_out_of_step_frames_counted(env, testbot, daemon, sipp):
    """Caller audio sent faster than real time: 40 packets (800 ms) at once, in sequence. The jitter buffer releases
    in-order packets as they come, so each is recorded at about the time of the burst; the recorder appends a
    channel's frames while they stay within 60 ms of their times and drops the rest to keep the channels aligned,
    about 36 frames here. The Recording line counts them as out of step, and /metrics as recording_drops_total
    reason out_of_step, the same figure in the same unit (frames of one channel) as the other reasons."""
    admin_port = env.ports.tcp()
    rec_dir = os.path.realpath(os.path.join(env.tmp, "rec"))
    os.makedirs(rec_dir)
    bot = testbot("echo")
    d = daemon(env.config([{"name": "default", "url": bot.url}], trunk={"record": rec_dir},
                          admin={"address": "127.0.0.1", "port": admin_port}))
    ep = env.endpoint(PT)
    call = sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)  # the bridge sends from the answer on: its address is known
    bot.wait_event("rx", "start")
    tone = rtp.encode(PT, rtp.tone(1000, 800))
    for i in range(40):
        ep.send_raw(rtp.build_rtp(1000 + i, 160 * i, PT, 0x0de1a7ed, tone[160 * i:160 * (i + 1)]))
    ep.wait_for(lambda e: sum(1 for p in e.packets if not rtp.is_silent(p)) >= 30, 20,
                "the burst's echo back at the caller")
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    path = os.path.join(rec_dir, bot.start_msg()["start"]["call_sid"] + ".wav")
    wait_recorded(d, path)
    line = next(ln for ln in d.stderr_text().splitlines() if ("Recording %s:" % path) in ln)
    late, out_of_step, lost = logged_drops(line)
    assert 20 <= out_of_step <= 40, line
    got = recording_metrics(admin_port)
    assert got['recording_drops_total{reason="out_of_step"}'] == out_of_step, (got, line)
    assert got['recording_drops_total{reason="overrun"}'] == late, (got, line)
    assert got['recording_drops_total{reason="failed"}'] == lost == 0, (got, line)
    assert got['recordings_total{outcome="completed"}'] == 1, (got, line)


@pytest.mark.parametrize("kind", ["missing_folder", "sync"])
def test_failed_recording_counted(env, testbot, daemon, sipp, kind):
    """A recording that fails counts once as failed on /metrics and not as completed. One whose folder is missing
    writes none of the call's audio: every frame of both channels is counted as not written, about two per 20 ms
    packet the caller was sent; one that fails only at the end (its sync) loses no frame."""
    admin_port = env.ports.tcp()
    admin = {"address": "127.0.0.1", "port": admin_port}
    if kind == "sync":
        environ, _ = fsync_shim(env, fail=".wav")
        d, path = recorded_call(env, testbot, daemon, sipp, environ, admin=admin)
        sent = None
    else:
        bot = testbot("echo")
        d = daemon(env.config([{"name": "default", "url": bot.url}],
                              trunk={"record": os.path.join(env.tmp, "no", "such")}, admin=admin))
        ep = env.endpoint(PT)
        ep.send_silence_forever()
        res = sipp("uac_call.xml", d, keys={"fmts": "8 0"}, rtp_port=ep.port, duration_ms=2000).run()
        assert res.rc == 0, res.describe()
        sid = bot.start_msg()["start"]["call_sid"]
        path = os.path.join(env.tmp, "no", "such", sid + ".wav")
        wait_recorded(d, path)
        assert d.stderr_text().count("cannot create %s.wav: No such file or directory" % sid) == 1, \
            sbtest.tail(d.stderr_path, 20)
        sent = len(ep.snapshot())
        assert sent >= 50, "only %d RTP packets in a 2 s call" % sent
    got = recording_metrics(admin_port)
    assert got['recordings_total{outcome="completed"}'] == 0, got
    assert got['recordings_total{outcome="failed"}'] == 1, got
    lost = got['recording_drops_total{reason="failed"}']
    if sent is None:
        assert lost == 0, got
    else:
        assert 1.5 * sent <= lost <= 2 * sent + 10, "%d frames not written of a call the caller got %d packets of: %s" % (
            lost, sent, got)
    assert d.alive()

"""Audio through the bridge, measured at the caller's RTP endpoint: echo round trip, re-framing of bot media of
any chunk size and id key, real-time pacing, RTP header continuity, silence while the bot is quiet, and a 16 or
24 kHz bot's audio whole at a mark and at its end."""

import os
import shutil
import signal
import subprocess
import time

import pytest

import rtp
import sbtest

CODECS = [pytest.param(rtp.PT_PCMA, id="pcma"), pytest.param(rtp.PT_PCMU, id="pcmu")]


def fmts(pt):
    return "8 0" if pt == rtp.PT_PCMA else "0 8"



def check_rtp_stream(pkts, pt):
    assert pkts, "no RTP from the bridge"
    for p in pkts:
        assert p.pt == pt and len(p.payload) == 160, "pt %d len %d (expected pt %d, 160 bytes)" % (
            p.pt, len(p.payload), pt)
    assert len({p.ssrc for p in pkts}) == 1, "SSRC changed within the call"
    for a, b in zip(pkts, pkts[1:]):
        assert (b.seq - a.seq) & 0xFFFF == 1, "RTP seq %d -> %d" % (a.seq, b.seq)
        assert (b.ts - a.ts) & 0xFFFFFFFF == 160, "RTP ts %d -> %d" % (a.ts, b.ts)
    src = {p.src for p in pkts}
    assert len(src) == 1, "RTP from several source addresses: %s" % src


# Both ways the media threads can do their socket work: io_uring where the system allows it (the default), epoll.
MEDIA_IO = ["io_uring", "epoll"]


# Both loops the ws threads can wait in: epoll (libwebsockets' libev event loop, the default), poll().
WS_LOOP = {"epoll": "ws threads wait in epoll", "poll": "ws threads wait in poll()"}


def media_io_bridge(bridge, media_io, *args, ws_loop="auto", rx_buffers=1024, **kw):
    d, bot = bridge(*args, threads={"media": 1, "ws": 1, "media_io": media_io, "ws_loop": ws_loop,
                                    "media_rx_buffers": rx_buffers}, **kw)
    # The log has its own writer thread: the line may land just after READY.
    sbtest.wait_until(lambda: "Media I/O: %s" % media_io in d.stderr_text(), 10, "the daemon to say it uses %s"
                      % media_io)
    if ws_loop != "auto":
        sbtest.wait_until(lambda: WS_LOOP[ws_loop] in d.stderr_text(), 10, "the daemon to say it waits in %s"
                          % ws_loop)
    return d, bot


@pytest.mark.parametrize("ws_loop", sorted(WS_LOOP))
@pytest.mark.parametrize("media_io", MEDIA_IO)
@pytest.mark.parametrize("pt", CODECS)
def test_echo_round_trip(env, bridge, sipp, pt, media_io, ws_loop):
    d, bot = media_io_bridge(bridge, media_io, "echo", ws_loop=ws_loop)
    ep = env.endpoint(pt)
    call = sipp("uac_call.xml", d, keys={"fmts": fmts(pt)}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)  # the bridge streams (silence) as soon as it answered; learn its address
    tone = rtp.encode(pt, rtp.tone(1000, 1000))
    noise = rtp.noise_octets(pt, 8000, seed=5)
    ep.send_audio(tone + noise)

    ep.wait_echo(noise, 15, "the pseudo-random sequence to come back intact through the echo bot")
    pkts = ep.snapshot()
    data = b"".join(p.payload for p in pkts if not rtp.is_silent(p))
    at = rtp.find_sub(data, noise)
    tone_back = rtp.decode(pt, data[:at])
    assert len(tone_back) >= 6400, "only %d samples of the tone came back" % len(tone_back)
    assert rtp.dominant(tone_back[-6400:], 1000), "1 kHz is not dominant in the echoed tone"
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()
    check_rtp_stream(ep.snapshot(), pt)


def test_ws_threads_default_one_per_core(env, bridge, sipp):
    # threads.ws left out: one ws thread per core (at most 16); calls take turns among them, and each call's
    # audio goes to its bot and back whole while another call runs on the other thread.
    d, bot = bridge("echo", threads={"media": 1})
    want = min(os.cpu_count(), 16)
    sbtest.wait_until(lambda: "%d ws worker(s)" % want in d.stderr_text(), 10,
                      "the daemon to say it runs %d ws worker(s)" % want)
    legs = []
    for seed in (11, 12, 13):
        ep = env.endpoint(rtp.PT_PCMA)
        call = sipp("uac_call.xml", d, keys={"fmts": fmts(rtp.PT_PCMA)}, rtp_port=ep.port, until_told=True).start()
        legs.append((ep, call, rtp.noise_octets(rtp.PT_PCMA, 8000, seed=seed)))
    for ep, _, noise in legs:
        ep.wait_packets(1, timeout=20)
        ep.send_audio(noise)
    for ep, call, noise in legs:
        ep.wait_echo(noise, 15, "each call's pseudo-random sequence to come back intact through its bot")
        res = call.hang_up().wait()
        assert res.rc == 0, res.describe()


def thread_sched(pid):
    """{thread id: (name, policy, real-time priority)} of a process, from /proc (fields 41 and 40
    of stat; policy 1 is SCHED_FIFO, 0 SCHED_OTHER)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (stat[stat.index("(") + 1:stat.rindex(")")], int(fields[38]), int(fields[37]))
    return out


@pytest.mark.parametrize("ws_realtime", [True, False])
def test_audio_threads_real_time(env, bridge, sipp, ws_realtime):
    # The media threads pace RTP at SCHED_FIFO 2; the ws threads, which carry the audio to the bot and back,
    # at 1 (threads.ws_realtime, default on) or with ordinary scheduling. The other threads keep ordinary
    # scheduling.
    if not shutil.which("chrt") or subprocess.run(["chrt", "-f", "2", "true"], capture_output=True).returncode:
        pytest.skip("this system refuses SCHED_FIFO 2 to the tests (or has no chrt to ask)")
    threads = {"media": 1, "ws": 2}
    if not ws_realtime:
        threads["ws_realtime"] = False
    d, bot = bridge("echo", threads=threads)
    said = "WebSocket threads run with real-time scheduling (SCHED_FIFO 1)" if ws_realtime else \
        "WebSocket threads run with ordinary scheduling"
    sbtest.wait_until(lambda: said in d.stderr_text(), 10, "the daemon to say: " + said)

    def by_role():
        got = {"media": [], "ws": [], "other": []}
        for name, policy, prio in thread_sched(d.proc.pid).values():
            role = "media" if name.startswith("sb-media") else "ws" if name.startswith("sb-ws") else "other"
            got[role].append((policy, prio))
        return got

    want_ws = [(1, 1), (1, 1)] if ws_realtime else [(0, 0), (0, 0)]
    sbtest.wait_until(lambda: by_role()["media"] == [(1, 2)] and by_role()["ws"] == want_ws, 10,
                      "the media thread at FIFO 2 and the ws threads at %s" % ("FIFO 1" if ws_realtime else "OTHER"))
    others = by_role()["other"]
    assert others and all(p == (0, 0) for p in others), others
    # And they carry a call's audio there and back.
    ep = env.endpoint(rtp.PT_PCMA)
    call = sipp("uac_call.xml", d, keys={"fmts": fmts(rtp.PT_PCMA)}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    noise = rtp.noise_octets(rtp.PT_PCMA, 8000, seed=21)
    ep.send_audio(noise)
    ep.wait_echo(noise, 15, "the caller's pseudo-random sequence to come back intact through the bot")
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()


def rx_buffer_waits(port):
    return sbtest.metric(port, "sipbridge_media_rx_buffer_waits_total")


def test_receive_buffers_running_out(env, bridge, sipp):
    # io_uring: the calls of a media thread receive into buffers they share, 64 here. While the daemon is stopped,
    # the RTP sockets of 10 calls fill up with 300 datagrams each (a socket keeps about 256); when it runs again
    # the buffers run out (the kernel reads up to 32 datagrams of a socket at a time), and the receives that
    # found none wait and are made anew once the turn gave the buffers back. Every call's audio must still come
    # back through its bot, and the metric must count the waits.
    admin = env.ports.tcp()
    d, bot = media_io_bridge(bridge, "io_uring", "echo", admin={"address": "127.0.0.1", "port": admin, "token": ""},
                             rx_buffers=64)
    legs = []
    for seed in range(20, 30):
        ep = env.endpoint(rtp.PT_PCMA)
        call = sipp("uac_call.xml", d, keys={"fmts": fmts(rtp.PT_PCMA)}, rtp_port=ep.port, until_told=True).start()
        legs.append((ep, call, rtp.noise_octets(rtp.PT_PCMA, 8000, seed=seed)))
    for ep, _, _ in legs:
        ep.wait_packets(1, timeout=20)  # the bridge streams from the answer on: its RTP port is known
    assert rx_buffer_waits(admin) == 0
    junk = bytes(20)  # not RTP (version 0): read, then dropped as bad
    d.proc.send_signal(signal.SIGSTOP)
    try:
        for ep, _, _ in legs:
            for _ in range(300):
                ep.sock.sendto(junk, ep.peer)
    finally:
        d.proc.send_signal(signal.SIGCONT)
    sbtest.wait_until(lambda: rx_buffer_waits(admin) > 0, 10, "the receives to find the buffers all taken")
    for ep, _, noise in legs:
        ep.send_audio(noise)
    for ep, call, noise in legs:
        ep.wait_echo(noise, 15, "each call's pseudo-random sequence to come back intact after the buffers ran out")
    for ep, call, noise in legs:
        res = call.hang_up().wait()
        assert res.rc == 0, res.describe()


def caller_hears(env, sipp, d, pt, silence=True):
    """A caller (PCMU or PCMA, pt) of d that waits for the bridge's BYE, sending silence unless told not to: the
    RTP packets it got, checked as a stream (sequence, timestamps, pacing)."""
    ep = env.endpoint(pt)
    if silence:
        ep.send_silence_forever()
    res = sipp("uac_wait_bye.xml", d, keys={"fmts": fmts(pt)}, rtp_port=ep.port).run()
    assert res.rc == 0, res.describe()
    pkts = ep.snapshot()
    check_rtp_stream(pkts, pt)
    return pkts


@pytest.mark.parametrize("pt", CODECS)
def test_bot_media_reframed(env, bridge, sipp, pt):
    # three PCM blocks that survive G.711 exactly, sent in odd chunk sizes with each id key variant
    blocks, steps = [], []
    for i, (chunk, key) in enumerate([(642, "streamSid"), (100, "stream_sid"), (3202, "none")]):
        pcm = rtp.decode(pt, rtp.noise_octets(pt, 4000, seed=100 + i))
        path = os.path.join(env.tmp, "block%d.pcm" % i)
        with open(path, "wb") as f:
            f.write(rtp.pcm16le(pcm))
        blocks.append(pcm)
        steps.append({"pcm": {"file": path, "chunk_bytes": chunk, "key": key}})
    d, bot = bridge(script=sbtest.script_until_played(steps))
    pkts = caller_hears(env, sipp, d, pt, silence=False)
    want = rtp.encode(pt, blocks[0] + blocks[1] + blocks[2])
    got = b"".join(p.payload for p in pkts)
    assert rtp.find_sub(got, want) >= 0, "the bot's audio did not reach the caller intact and in order " \
        "(first block at %d, second at %d, third at %d)" % tuple(
            rtp.find_sub(got, rtp.encode(pt, b)[:800]) for b in blocks)


@pytest.mark.parametrize("media_io", MEDIA_IO)
def test_pacing_and_silence(env, bridge, sipp, media_io):
    pt = rtp.PT_PCMA
    steps = [{"wait_ms": 600},
             {"tone": {"hz": 1000, "ms": 3000, "chunk_bytes": 3200, "key": "stream_sid", "amplitude": 8000}}]
    d, bot = media_io_bridge(bridge, media_io, script=sbtest.script_until_played(steps))
    pkts = caller_hears(env, sipp, d, pt, silence=False)
    loud = [p for p in pkts if not rtp.is_silent(p)]
    assert loud, "no tone reached the caller"
    i0, i1 = pkts.index(loud[0]), pkts.index(loud[-1])
    assert i0 > 0 and rtp.is_silent(pkts[0]), "the call did not start with silence while the bot waited"
    assert i1 - i0 + 1 == 150 and len(loud) == 150, "%d packets of tone for 3 s" % (i1 - i0 + 1)
    # Paced in real time: the 3 s sent at once took as long on the wire as their RTP timestamps say.
    ts_span = ((loud[-1].ts - loud[0].ts) & 0xFFFFFFFF) / 8000.0
    assert ts_span == 149 * 0.02, ts_span
    span = loud[-1].t - loud[0].t
    assert span >= 0.8 * ts_span, "3 s of bot audio, sent at once, was played in %.2f s" % span
    tone_pcm = []
    for p in loud:
        tone_pcm.extend(rtp.decode(pt, p.payload))
    assert rtp.dominant(tone_pcm, 1000)
    tx = bot.tx("media")
    assert tx[-1]["t_ms"] - tx[0]["t_ms"] < 1000, "the bot was meant to send its 3 s at once"


def test_bot_speech_after_a_pause_keeps_the_cadence(env, bridge, sipp):
    """The bot speaks in short bursts (100 ms of tone, then 405 ms of nothing, so that each burst's audio comes at
    another point of the 20 ms slot): each burst's first packet goes out in its slot, as the silence before it did,
    not early (a stream that starts early has to give the time back later: a short and then a long interval).
    Measured as each packet's arrival against its RTP timestamp: the first loud packet of a burst keeps the offset
    of the silent packets before it."""
    pt = rtp.PT_PCMA
    steps = [{"wait_ms": 600}]
    for _ in range(8):
        steps += [{"tone": {"hz": 1000, "ms": 100, "chunk_bytes": 1600, "key": "stream_sid", "amplitude": 8000}},
                  {"wait_ms": 405}]
    d, bot = bridge(script=sbtest.script_until_played(steps))
    pkts = caller_hears(env, sipp, d, pt, silence=False)
    t0, ts0 = pkts[0].t, pkts[0].ts

    def offset(p):
        return (p.t - t0) - ((p.ts - ts0) & 0xFFFFFFFF) / 8000.0

    shifts = []
    for i in range(5, len(pkts)):
        if not rtp.is_silent(pkts[i]) and all(rtp.is_silent(p) for p in pkts[i - 5:i]):
            before = sorted(offset(p) for p in pkts[i - 5:i])[2]
            shifts.append((offset(pkts[i]) - before) * 1000)
    assert len(shifts) == 8, "%d bursts heard" % len(shifts)
    early = [round(x, 1) for x in shifts if x < -3.5]
    assert len(early) <= 1, "bursts that started early (ms against their slot): %s" % early


def test_partial_last_frame_played(env, bridge, sipp):
    """An utterance that is not a whole number of 20 ms frames: its last 10 ms are padded and played soon after,
    not held back until the bot speaks again or sends a mark."""
    pt = rtp.PT_PCMA
    steps = [{"wait_event": "media", "count": 2},
             {"tone": {"hz": 1000, "ms": 1010, "chunk_bytes": 3200, "key": "stream_sid", "amplitude": 8000}},
             {"wait_ms": 2000}, {"close": 1000}]
    d, bot = bridge(script=steps)
    pkts = caller_hears(env, sipp, d, pt)
    loud = [p for p in pkts if not rtp.is_silent(p)]
    # 8080 samples: 50 whole frames and one of 80 samples of tone and 80 of silence
    assert len(loud) == 51, "%d packets of tone for 1010 ms" % len(loud)
    last = loud[-1].payload
    silence = bytes([rtp.silence_octet(pt)])
    assert last[80:] == silence * 80 and last[:80].count(silence) <= 20, last.hex()  # a 1 kHz sine is 0 every 4th sample
    # after at most a few frames of silence (the bridge waits 100 ms for the rest of a frame that a streaming
    # bot would still send), not at the end of the call
    gap = pkts.index(loud[-1]) - pkts.index(loud[0]) - 50
    assert 0 <= gap <= 10, "the tail was played %d packets after the rest" % gap


def quiet_runs(pcm):
    """The longest run of near-silent samples in pcm (a 1 kHz sine at 8 kHz crosses zero on every 4th sample, one
    at a time)."""
    longest = run = 0
    for v in pcm:
        run = run + 1 if abs(v) < 500 else 0
        longest = max(longest, run)
    return longest


def tone_heard(pkts, pt):
    """The 1 kHz tone the caller heard in pkts, from its first loud sample to its last, without the packets of
    silence before the last one (an utterance that ends in a partial frame has it padded and played after 100 ms
    without audio: test_partial_last_frame_played)."""
    pcm = []
    for p in pkts:
        if not rtp.is_silent(p):
            pcm.extend(rtp.decode(pt, p.payload))
    loud = [i for i, v in enumerate(pcm) if abs(v) > 1000]
    assert loud, "the caller heard no tone"
    tone = pcm[loud[0]:loud[-1] + 1]
    assert rtp.dominant(tone, 1000)
    return tone


@pytest.mark.parametrize("protocol,rate,half_ms", [("raw", 16000, 500), ("exotel", 24000, 500), ("exotel", 8000, 510),
                                                   ("raw", 16000, 510)],
                         ids=["raw-16000", "exotel-24000", "exotel-8000-partial", "raw-16000-partial"])
def test_bot_audio_whole_at_a_mark_and_at_its_end(env, bridge, sipp, protocol, rate, half_ms):
    """A 1 kHz tone sent as two halves with a mark between reaches the caller whole, every one of its samples at
    8 kHz, without a gap. At 16 and 24 kHz the resampler holds the last 3 ms of the bot's audio back as its
    look-ahead: a mark must still come after all the audio sent before it, with no hole where it stands, and the
    end of an utterance must be played, not kept for the bot's next words. Halves of 510 ms end inside a 20 ms
    frame: the second half goes on in that frame, as a bot that marks between the chunks of one utterance needs,
    rather than after silence that makes up the frame."""
    pt = rtp.PT_PCMU
    mark = ({"type": "mark", "data": {"name": "half"}} if protocol == "raw" else
            {"event": "mark", "stream_sid": "$STREAM_SID", "mark": {"name": "half"}})
    half = {"tone": {"hz": 1000, "ms": half_ms, "chunk_bytes": rate, "amplitude": 8000}}
    steps = [{"wait_event": "media", "count": 2}, half, {"send": mark}, half, {"wait_ms": 2000}, {"close": 1000}]
    d, bot = bridge(script=steps, protocol=protocol, bot={"sample_rate": rate})
    pkts = caller_hears(env, sipp, d, pt)
    names = [m["msg"].get("mark", m["msg"].get("data", {})).get("name") for m in bot.rx("mark")]
    assert names == ["half"], "the mark should come back once: %s" % bot.rx("mark")
    tone = tone_heard(pkts, pt)
    hole = quiet_runs(tone)
    assert hole <= 2, "a hole of %d samples in the tone where the mark stands" % hole
    # From its first sample above zero (the 2nd) to its last: the last 3 ms came out too.
    want = 2 * half_ms * 8
    assert want - 3 <= len(tone) <= want + 1, "the caller heard %d samples of a %d-sample tone" % (len(tone), want)


@pytest.mark.parametrize("rate", [16000, 24000])
def test_resampled_utterance_whose_frames_come_out_whole(env, bridge, sipp, rate):
    """An utterance of 203 ms at 16 or 24 kHz comes out of the resampler as 200 ms, ten whole frames, with its
    last 3 ms held back as the resampler's look-ahead and nothing left in the playout queue. Those 3 ms must still
    be played after 100 ms without audio, not kept for the bot's next words: the caller hears all 1624 samples."""
    pt = rtp.PT_PCMU
    tone = {"tone": {"hz": 1000, "ms": 203, "chunk_bytes": rate, "amplitude": 8000}}
    d, bot = bridge(script=[{"wait_event": "media", "count": 2}, tone, {"wait_ms": 2000}, {"close": 1000}],
                    bot={"sample_rate": rate})
    pkts = caller_hears(env, sipp, d, pt)
    heard = tone_heard(pkts, pt)
    assert quiet_runs(heard) <= 2, "a hole in the tone"
    assert 1621 <= len(heard) <= 1625, "the caller heard %d samples of a 1624-sample tone" % len(heard)


@pytest.mark.parametrize("pt", CODECS)
def test_silence_when_bot_silent(env, bridge, sipp, pt):
    d, bot = bridge("silent")
    ep = env.endpoint(pt)
    res = sipp("uac_call.xml", d, keys={"fmts": fmts(pt)}, rtp_port=ep.port, duration_ms=1500).run()
    assert res.rc == 0, res.describe()
    assert len(ep.snapshot()) >= 40, "only %d RTP packets during a 1.5 s call" % len(ep.snapshot())
    pkts = ep.snapshot()
    check_rtp_stream(pkts, pt)
    assert all(rtp.is_silent(p) for p in pkts), "non-silent audio from a silent bot"
    span = pkts[-1].t - pkts[0].t
    assert span >= 0.02 * (len(pkts) - 1) * 0.8, "%d packets in %.2f s: not paced at 20 ms" % (len(pkts), span)


def test_caller_audio_waits_out_a_stalled_ws_thread(env, bridge, sipp):
    """Caller audio that finds the call's up ring full while its ws thread does not run waits on the media side,
    640 ms in all (the ring holds 160 ms): after a 300 ms stall the bot still gets every frame, in order; beyond
    640 ms the rest is dropped and counted, and the call goes on."""
    admin = env.ports.tcp()
    d, bot = bridge("echo", admin={"address": "127.0.0.1", "port": admin, "token": ""})
    ep = env.endpoint(rtp.PT_PCMA)
    call = sipp("uac_call.xml", d, keys={"fmts": fmts(rtp.PT_PCMA)}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    drops = 'sipbridge_queue_drops_total{direction="to_bot"}'
    ws = sbtest.thread_ids(d.proc.pid, "sb-ws0")

    # 1 s of noise; the ws thread stops 0.3 s into it for 300 ms: some 15 frames, 7 more than the ring holds. A
    # machine that holds the test's own threads makes the stall longer than meant: such a try is made again.
    for attempt in range(3):
        noise = rtp.noise_octets(rtp.PT_PCMA, 8000, seed=41 + 10 * attempt)
        before, sent = sbtest.metric(admin, drops), len(ep.tx_log)
        ep.send_audio(noise)
        ep.wait_for(lambda e: len(e.tx_log) >= sent + 15, 10, "the caller to be sending the noise")
        with sbtest.frozen_threads(ws) as held:
            time.sleep(0.3)
        if held[0] <= 0.6:  # 0.04 s from the bound
            break
        ep.wait_tx_done(timeout=20)
    else:
        pytest.fail("the ws thread was held %.2f s and more in three tries, not about 0.3" % held[0])
    ep.wait_echo(noise, 15, "the noise to come back intact after the ws thread's stall")
    assert sbtest.metric(admin, drops) == before, "caller audio was dropped in a stall of %.2f s" % held[0]

    # 2 s of noise, the ws thread stopped for 1.5 s of it: what is over 640 ms is dropped, and counted.
    ep.send_audio(rtp.noise_octets(rtp.PT_PCMA, 16000, seed=42))
    with sbtest.frozen_threads(ws):
        time.sleep(1.5)
    sbtest.wait_until(lambda: sbtest.metric(admin, drops) >= before + 20, 10,
                      "the frames over 640 ms to be counted dropped")

    # The call goes on: later audio comes back intact (the silence after it completes its last media message).
    later = rtp.noise_octets(rtp.PT_PCMA, 8000, seed=43)
    ep.send_audio(later)
    ep.send_silence_forever()
    ep.wait_echo(later, 15, "audio after the long stall to come back intact")
    res = call.hang_up().wait()
    assert res.rc == 0, res.describe()


@pytest.mark.parametrize("tail", [0, 80], ids=["whole-frames", "short-last-packet"])
def test_caller_audio_before_bye_reaches_the_bot(env, bridge, sipp, tail):
    """Caller audio that reached the bridge before the caller's BYE goes to the bot ahead of the stop, even when the
    call's ws thread finds the two waiting together: 100 ms of noise arrives while that thread does not run (it waits
    in the call's up ring), then the BYE is answered; when the thread runs again, the bot gets the noise, then stop.
    A last packet of 10 ms (80 samples, short of a 20 ms frame) goes too."""
    admin = env.ports.tcp()
    d, bot = bridge("silent", admin={"address": "127.0.0.1", "port": admin, "token": ""})
    pt = rtp.PT_PCMA
    ep = env.endpoint(pt)
    call = sipp("uac_call.xml", d, keys={"fmts": fmts(pt)}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    ep.send_audio(bytes([rtp.silence_octet(pt)]) * 1600)  # 200 ms: two media messages
    bot.wait_event("rx", "media", count=2)
    rtp_in = 'sipbridge_rtp_packets_total{direction="in"}'
    n0 = sbtest.metric(admin, rtp_in)
    noise = rtp.noise_octets(pt, 800 + tail, seed=44)  # 100 ms: 5 frames, fewer than the up ring holds
    with sbtest.frozen_threads(sbtest.thread_ids(d.proc.pid, "sb-ws0")):
        ep.send_audio(noise[:800])
        sbtest.wait_until(lambda: sbtest.metric(admin, rtp_in) >= n0 + 5, 10, "the noise to reach the bridge")
        if tail:
            ep.send_short(noise[800:])
            sbtest.wait_until(lambda: sbtest.metric(admin, rtp_in) >= n0 + 6, 10, "the short packet to arrive")
        res = call.hang_up().wait()
        assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")
    rec = rtp.from_pcm16le(bot.recording(bot.start_msg()["stream_sid"]))
    assert rtp.find_sub(rec, rtp.decode(pt, noise)) >= 0, (
        "the %d ms of caller audio that came before the BYE did not reach the bot (%d samples recorded)"
        % (len(noise) // 8, len(rec)))
    media = bot.rx("media")
    assert media[-1]["t_ms"] <= bot.rx("stop")[0]["t_ms"], "media after the stop"


def test_caller_audio_unread_at_bye_reaches_the_bot(env, bridge, sipp):
    """Caller audio still in the call's socket when the BYE is answered goes to the bot ahead of the stop: the media
    thread does not run while 200 ms of silence and 100 ms of noise arrive, the noise's third packet lost, and the
    BYE is answered; the ws thread then runs first, and must not stop the bot before the media thread has read it all
    and let go of the call. That is more than the call's up ring holds, and the two packets after the hole are held
    by the jitter buffer (it waits 1 s for a lost one here): they go too."""
    admin = env.ports.tcp()
    lo, hi = env.rtp_range
    d, bot = bridge("silent", admin={"address": "127.0.0.1", "port": admin, "token": ""},
                    rtp={"address": "127.0.0.1", "port_min": lo, "port_max": hi, "jitter": "fixed", "jitter_ms": 1000})
    pt = rtp.PT_PCMA
    ep = env.endpoint(pt)
    call = sipp("uac_call.xml", d, keys={"fmts": fmts(pt)}, rtp_port=ep.port, until_told=True).start()
    ep.wait_packets(1, timeout=20)
    ep.send_silence_forever()  # one stream without pauses: its media time is its arrival time
    bot.wait_event("rx", "media", count=2)
    noise = rtp.noise_octets(pt, 800, seed=45)  # 100 ms: 5 packets
    imp = rtp.Impair(drop_at=(2,), guard=0)
    ws = sbtest.thread_ids(d.proc.pid, "sb-ws0")[0]
    with sbtest.frozen_threads(sbtest.thread_ids(d.proc.pid, "sb-media0")):
        with sbtest.frozen_threads([ws]):
            n = len(ep.tx_log)
            sbtest.wait_until(lambda: len(ep.tx_log) >= n + 10, 10, "200 ms more of silence")
            ep.send_audio(noise, impair=imp)
            ep.send_silence_forever(False)  # nothing after the noise
            ep.wait_tx_done()  # on loopback: in the call's socket
            call.hang_up()
            sbtest.wait_until(lambda: [c for c in sbtest.admin_calls(admin) if c["state"] == "terminating"], 10,
                              "the BYE to be taken")
            slept = sbtest.sleeps(d.proc.pid, ws)
        # The ws thread has done what it was told before it waits again.
        sbtest.wait_until(lambda: sbtest.sleeps(d.proc.pid, ws) > slept, 10, "the ws thread to run")
    res = call.wait()
    assert res.rc == 0, res.describe()
    bot.wait_event("rx", "stop")
    assert [p.action for p in imp.packets] == ["sent", "sent", "dropped", "sent", "sent"], imp.packets
    rec = rtp.from_pcm16le(bot.recording(bot.start_msg()["stream_sid"]))
    at = rtp.find_sub(rec, rtp.decode(pt, noise[:320]))
    assert at >= 0, "the caller audio that came before the BYE did not reach the bot (%d samples recorded)" % len(rec)
    after = rtp.find_sub(rec, rtp.decode(pt, noise[640:]))
    assert after == at + 640, (
        "the packets held behind the lost one did not reach the bot at their place: %d samples after the first "
        "(%d recorded)" % (after - at, len(rec)))
    assert bot.rx("media")[-1]["t_ms"] <= bot.rx("stop")[0]["t_ms"], "media after the stop"

"""A call's RTP and RTCP sockets are gone with the call: after calls one after another (each leg's RTP socket
taken into and out of the media worker's io_uring file table), nothing of the daemon's stays bound in the RTP
range, and every call, on whichever port it got, carries the caller's audio intact. RTP the kernel refuses to
send is counted and logged, not dropped unseen."""

import errno
import os
import re
import socket

import pytest
import rtp
import sbtest
from test_basic_call import check_recording

AUDIO_MS = 800
CALLS = 4


def bound_udp_ports(lo, hi):
    """The UDP ports in [lo, hi] that some socket on this machine is bound to."""
    ports = set()
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                port = int(line.split()[1].rsplit(":", 1)[1], 16)
                if lo <= port <= hi:
                    ports.add(port)
    return ports


def test_sockets_released_after_each_call(env, bridge, sipp):
    d, bot = bridge("silent")
    lo, hi = env.rtp_range[0], env.rtp_range[1] + 1
    used = []
    for i in range(CALLS):
        audio = rtp.noise_octets(rtp.PT_PCMA, 8 * AUDIO_MS, seed=100 + i)
        keys = {"fmts": "8 0", "customer": "salesbot", "uui": "UUI-%d" % i, "account_sid": "AC%d" % i,
                "campaign": "c", "caller": "alice", "did": "+15550001"}
        res = sipp("uac_basic.xml", d, keys=keys, rtp_payload=rtp.PT_PCMA, caller_audio=audio,
                   duration_ms=AUDIO_MS + 1000).run()
        assert res.rc == 0, res.describe()
        port = sbtest.parse_sdp(res.response(200).body())["port"]
        used.append(port)
        conn = i + 1
        bot.wait_closed(conn)
        sid = bot.start_msg(conn)["stream_sid"]
        check_recording(rtp.decode(rtp.PT_PCMA, audio), bot.recording(sid))
        # The call's RTP and RTCP sockets close once the kernel has ended their last requests.
        sbtest.wait_until(lambda: not ({port, port + 1} & bound_udp_ports(lo, hi)), 10,
                          "call %d's RTP port %d to be released" % (conn, port))
    left = bound_udp_ports(lo, hi) & ({p for p in used} | {p + 1 for p in used})
    assert not left, "sockets left bound after %d calls: %s" % (CALLS, sorted(left))


UNROUTABLE = "198.51.100.7"  # RFC 5737 documentation range: never a caller's


def test_rtp_that_cannot_be_sent_counted_and_logged(env, bridge, sipp):
    """RTP the kernel refuses to send (here an SDP address no route leads to from rtp.address) is counted in
    sipbridge_rtp_send_errors_total and in the call's end-of-call line, and its first failure is logged once with
    the address and the cause; the call itself goes on until the caller hangs up."""
    # The bridge's RTP is bound to 127.0.0.1, from which the kernel routes nothing off the machine: connect() makes
    # the same route lookup as a send, and sends nothing. It fails as the bridge's sends will: EINVAL (a loopback
    # source for a route off the machine), or ENETUNREACH where the machine has no route there at all.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        with pytest.raises(OSError) as refused:
            probe.connect((UNROUTABLE, 9))
    assert refused.value.errno in (errno.EINVAL, errno.ENETUNREACH), refused.value
    cause = os.strerror(refused.value.errno)
    admin = env.ports.tcp()
    d, bot = bridge("silent", admin={"address": "127.0.0.1", "port": admin, "token": ""})
    with open(os.path.join(sbtest.SCENARIOS, "uac_call.xml")) as f:
        text = f.read()
    assert text.count("c=IN IP4 [media_ip]") == 1
    scenario = os.path.join(env.tmp, "uac_call_unroutable.xml")
    with open(scenario, "w") as f:
        f.write(text.replace("c=IN IP4 [media_ip]", "c=IN IP4 " + UNROUTABLE))
    port = env.ports.rtp_range(2)[0]
    s = sipp(scenario, d, rtp_port=port, until_told=True).start()
    errors = lambda: sbtest.metric(admin, "sipbridge_rtp_send_errors_total")  # noqa: E731
    sbtest.wait_until(lambda: errors() >= 25, 20, "the bridge's failed sends to be counted")
    assert sbtest.metric(admin, 'sipbridge_rtp_packets_total{direction="out"}') == 0
    first = re.findall(r"RTP to the caller at %s port (\d+) cannot be sent: (.*) \(this call's further failures "
                       r"are counted, not logged\)" % re.escape(UNROUTABLE), d.stderr_text())
    assert len(first) == 1, d.stderr_text()[-3000:]
    assert first == [(str(port), cause)], first
    s.hang_up()
    res = s.wait()
    assert res.rc == 0 and res.final_status() == 200, res.describe()
    end = sbtest.wait_until(lambda: re.search(r"RTP: \d+ packet\(s\) in, -?\d+ lost, jitter \d+ ms; 0 out, (\d+) "
                                              r"not sent", d.stderr_text()), 10, "the call's end-of-call line")
    assert int(end.group(1)) >= 25
    assert sbtest.metric(admin, "sipbridge_rtp_send_errors_total") == int(end.group(1))

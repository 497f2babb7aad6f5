"""A call's RTP and RTCP sockets are gone with the call: after calls one after another (each leg's RTP socket
taken into and out of the media worker's io_uring file table), nothing of the daemon's stays bound in the RTP
range, and every call, on whichever port it got, carries the caller's audio intact."""

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

"""RTCP (RFC 3550): the bridge sends compound SR + SDES reports from the RTP port + 1 to the caller's RTP port + 1,
describing what it sent and what it received from the caller, and reads the caller's reports (its loss, jitter
and the round-trip time they give) into the call's statistics, logged when the call ends."""

import re
import socket
import struct
import time

import sbtest

NTP_OFFSET = 2208988800


def ntp_now():
    t = time.time() + NTP_OFFSET
    return int(t) << 32 | int((t % 1) * (1 << 32))


def parse_compound(data):
    """[(pt, count, body)] of an RTCP compound packet."""
    out = []
    while len(data) >= 4:
        assert data[0] >> 6 == 2, data.hex()
        n = 4 * ((data[2] << 8 | data[3]) + 1)
        out.append((data[1], data[0] & 0x1F, data[4:n]))
        data = data[n:]
    return out


def read_sr(sock, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data, src = sock.recvfrom(2048)
        except socket.timeout:
            break
        parts = parse_compound(data)
        if parts and parts[0][0] == 200:
            return parts, src, time.monotonic()
    raise AssertionError("no RTCP sender report within %.0f s" % timeout)


def test_rtcp_reports_both_ways(env, bridge, sipp):
    d, bot = bridge("echo")
    lo, _ = env.ports.rtp_range(4)  # an even/odd pair of free ports for the caller
    ep = env.endpoint(port=lo)
    rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp_sock.bind(("127.0.0.1", lo + 1))
    try:
        ep.send_silence_forever()
        call = sipp("uac_call.xml", d, rtp_port=ep.port, until_told=True).start()
        ep.wait_packets(3)
        bridge_rtp = ep.peer
        parts, src, t_sr = read_sr(rtcp_sock, 10)
        # what the caller had received when the bridge wrote the report (its NTP time: the same wall clock as
        # the receive thread's stamps), however late this thread read it
        sr_ntp_hi, sr_ntp_lo = struct.unpack("!II", parts[0][2][4:12])
        sr_wall = sr_ntp_hi - NTP_OFFSET + sr_ntp_lo / 2.0 ** 32
        n_rx = sum(1 for p in ep.snapshot() if p.t <= sr_wall)
        # From the RTP port + 1, about the stream the caller receives.
        assert src == (bridge_rtp[0], bridge_rtp[1] + 1), (src, bridge_rtp)
        (pt, count, body), sdes = parts[0], parts[1]
        assert pt == 200 and count == 1, (pt, count)  # a sender report with one report block
        ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack("!IIIIII", body[:24])
        assert ssrc == ep.snapshot()[0].ssrc
        assert abs(packets - n_rx) <= 10 and octets == 160 * packets, (packets, octets, n_rx)
        assert abs((ntp_hi - NTP_OFFSET) - time.time()) < 5
        # One report block about the caller's stream: nothing lost, up to its latest packet.
        assert count == 1
        rb_ssrc, lost_word, ext_seq, jitter, lsr, dlsr = struct.unpack("!IIIIII", body[24:48])
        assert rb_ssrc == ep.ssrc and lost_word & 0xFFFFFF == 0 and lsr == 0
        sent = [s for _, s, _ in ep.tx_log]
        assert ext_seq & 0xFFFF in sent[-15:], (ext_seq, sent[-15:])
        assert sdes[0] == 202 and b"\x01\x13sipbridge@127.0.0.1" in sdes[2], sdes

        # The caller answers with an SR of its own and a report about the bridge's stream:
        # 25 % lost, 12 packets in all, jitter 80 (10 ms), and the LSR/DLSR of the bridge's SR.
        lsr = (ntp_hi & 0xFFFF) << 16 | ntp_lo >> 16
        our_ntp = ntp_now()
        dlsr = int((time.monotonic() - t_sr) * 65536)
        sr = struct.pack("!BBHIIIIII", 0x81, 200, 12, ep.ssrc, our_ntp >> 32, our_ntp & 0xFFFFFFFF, 0,
                         len(ep.tx_log), 160 * len(ep.tx_log))
        sr += struct.pack("!IIIIII", ssrc, 64 << 24 | 12, 0, 80, lsr, dlsr)
        rtcp_sock.sendto(sr, src)

        # The next report carries our SR's time as its LSR, with the delay since.
        parts, _, _ = read_sr(rtcp_sock, 10)
        body = parts[0][2]
        _, _, _, _, lsr2, dlsr2 = struct.unpack("!IIIIII", body[24:48])
        assert lsr2 == (our_ntp >> 16) & 0xFFFFFFFF, (hex(lsr2), hex(our_ntp))
        assert 0 < dlsr2 < 10 * 65536
        call.hang_up()
        res = call.wait()
        assert res.rc == 0, res.describe()
    finally:
        rtcp_sock.close()
    log = sbtest.wait_until(lambda: re.search(r"RTCP from the caller: 1 report\(s\), last 25% lost \(12 packets in "
                                              r"all\), jitter 10 ms, RTT (\d+) ms", d.stderr_text()), 10,
                            "the call's RTCP statistics in the log")
    assert 0 <= int(log.group(1)) < 1000, log.group(0)
    assert re.search(r"RTP: \d+ packet\(s\) in, 0 lost, jitter \d+ ms; \d+ out", d.stderr_text())

"""How long the SIP stack keeps an ended call's BYE transaction (RFC 3261 timer J = sip.t1x64_ms over UDP): a
retransmitted BYE is answered from the transaction, 200 again, for as long as it is kept, and as a request for a
dialog that no longer exists (481) once it is gone. The default keeps it the RFC's 32 s; sip.t1x64_ms shortens it,
which is what a bridge set up at hundreds of calls a second saves its memory with."""

import re
import socket
import time

import pytest

import sipraw



class RawCaller:
    """One call over UDP from 127.0.0.1, written by hand so that its BYE can be sent again byte for byte."""

    def __init__(self, port, rtp_port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.here = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.call_id = "tj-%d-%d" % (self.sock.getsockname()[1], time.monotonic_ns())
        self.rtp_port = rtp_port
        self.to = self.bye = None

    def close(self):
        self.sock.close()

    def _request(self, method, branch, cseq, to=None, ruri="sip:+15550001@127.0.0.1", extra=b"", body=b""):
        return sipraw.request(method, ruri, via=self.here + ";rport", call_id=self.call_id, branch=branch,
                              cseq=cseq, from_tag="tj-from", to=to,
                              extra=b"Contact: <sip:caller@%s>\r\n" % self.here.encode() + extra, body=body)

    def send(self, msg):
        self.sock.sendto(msg, ("127.0.0.1", self.port))

    def response(self, cseq_method, timeout):
        """The next final response to cseq_method, skipping provisional ones and any other message."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no final response to %s within %.0f s" % (cseq_method, timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            m = re.match(rb"SIP/2\.0 (\d{3}) ", data)
            cseq = re.search(rb"(?im)^CSeq:\s*\d+\s+(\S+)", data)
            if m and cseq and cseq.group(1).decode() == cseq_method and int(m.group(1)) >= 200:
                return int(m.group(1)), data

    def invite(self, reinvite=False):
        """The call's INVITE; with reinvite, a re-INVITE in its dialog (CSeq 2) with the same offer."""
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n" % self.rtp_port).encode()
        self.send(self._invite_request("INVITE", reinvite, extra=b"Content-Type: application/sdp\r\n", body=sdp))

    def cancel(self, reinvite=False):
        """CANCEL of the INVITE (or the re-INVITE): its branch, CSeq number and To."""
        self.send(self._invite_request("CANCEL", reinvite))

    def ack_failure(self, reinvite=False):
        """The ACK of a final failure to the INVITE (or the re-INVITE): part of its transaction."""
        self.send(self._invite_request("ACK", reinvite))

    def _invite_request(self, method, reinvite, **kw):
        if reinvite:
            return self._request(method, "z9hG4bK-tj-reinv", 2, self.to, ruri=self.contact, **kw)
        return self._request(method, "z9hG4bK-tj-inv", 1, **kw)

    def call(self):
        self.invite()
        status, data = self.response("INVITE", 15)
        assert status == 200, data.decode(errors="replace")
        self.acknowledge(data)

    def acknowledge(self, data):
        """ACKs the 200 in data, and makes the call's BYE (sent by hang_up())."""
        self.to = re.search(rb"(?im)^To:\s*(.*?)\r\n", data).group(1).decode()
        self.contact = contact = re.search(rb"(?im)^Contact:\s*<([^>]+)>", data).group(1).decode()
        self.send(self._request("ACK", "z9hG4bK-tj-ack", 1, self.to, ruri=contact))
        # After a re-INVITE (CSeq 2) the BYE needs a higher number.
        self.bye = self._request("BYE", "z9hG4bK-tj-bye", 3, self.to, ruri=contact)

    def hang_up(self):
        """Sends the BYE (again, if it was sent before); returns its final status."""
        self.send(self.bye)
        return self.response("BYE", 10)[0]


def call_and_hang_up(env, testbot, daemon, t1x64_ms):
    bot = testbot("echo")
    cfg = env.config([{"name": "default", "url": bot.url}])
    if t1x64_ms is not None:
        cfg["sip"]["t1x64_ms"] = t1x64_ms
    d = daemon(cfg)
    ep = env.endpoint()
    caller = RawCaller(d.sip_port, ep.port)
    caller.call()
    bot.wait_event("rx", "start", timeout=10)
    assert caller.hang_up() == 200
    return d, bot, caller


def test_bye_transaction_kept_32_s_by_default(env, testbot, daemon):
    d, bot, caller = call_and_hang_up(env, testbot, daemon, None)
    try:
        ended = time.monotonic()
        bot.wait_event("rx", "stop", timeout=10)
        # Well past where the shortened lifetime below ends the transaction, a retransmission still meets it.
        statuses = []
        while time.monotonic() - ended < 9:
            statuses.append(caller.hang_up())
            time.sleep(0.5)
        assert set(statuses) == {200}, statuses
    finally:
        caller.close()


@pytest.mark.parametrize("t1x64_ms", [4000])
def test_bye_transaction_kept_t1x64_ms(env, testbot, daemon, t1x64_ms):
    d, bot, caller = call_and_hang_up(env, testbot, daemon, t1x64_ms)
    try:
        ended = time.monotonic()
        assert caller.hang_up() == 200, "a retransmitted BYE was not answered from its transaction"
        statuses = []
        while not statuses or statuses[-1] == 200:
            assert time.monotonic() - ended < 20, "the BYE transaction outlived sip.t1x64_ms: %s" % statuses
            time.sleep(0.25)
            statuses.append(caller.hang_up())
        gone = time.monotonic() - ended
        assert statuses[-1] == 481, statuses
        assert set(statuses[:-1]) <= {200}, statuses
        # The transaction was kept sip.t1x64_ms (less the scheduling of the stack's timer, at most a second).
        assert gone >= t1x64_ms / 1000.0 - 1.0, "the BYE transaction ended after %.1f s" % gone
    finally:
        caller.close()

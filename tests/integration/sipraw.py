"""Raw SIP over UDP and TCP for the tests that need what SIPp cannot send: floods, torture messages, broken
framing, idle and half-sent connections; plus what the kernel knows about the daemon (descriptors, CPU time,
connections). Only loopback addresses are ever used: every Via this module writes names the sender itself."""

import os
import re
import select
import socket
import subprocess
import time

_VIA = re.compile(rb"(SIP\s*/\s*\d+\.\d+\s*/\s*)([A-Za-z]+)(\s+)([^;,\s]+)")
_VIA_NAME = re.compile(rb"(?i)(?:via|v)[ \t]*:")  # a Via header field, full or compact


def request(method="INVITE", ruri="sip:+15550001@127.0.0.1", via="127.0.0.1:5060", transport="UDP",
            call_id="c1", branch="z9hG4bK-1", cseq=1, extra=b"", body=b"", from_tag=None, to=None):
    """A minimal well-formed request; extra is raw header lines (each ending in CRLF). The From tag is f-<call_id>
    unless given; To is <ruri> unless given (a dialog's To, with its tag)."""
    head = ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s;branch=%s\r\n"
            "From: <sip:caller@127.0.0.1>;tag=%s\r\n"
            "To: %s\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d %s\r\n"
            "Max-Forwards: 70\r\n" % (method, ruri, transport, via, branch, from_tag or "f-" + call_id,
                                        to or "<%s>" % ruri, call_id, cseq, method))
    return head.encode() + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def with_via(msg, transport, hostport, call_id_suffix=None):
    """msg with the sent-by of every Via header field (Via or compact v, folded or not) replaced by hostport over
    transport, so that replies come back here and nowhere else; no other line changes. Optionally a suffix appended
    to its Call-ID (the same message sent twice is a merged request otherwise)."""
    head, sep, body = msg.partition(b"\r\n\r\n")
    fields = []  # the start line, then each header field with its continuation lines (CRLF or bare LF ends)
    for line in re.split(rb"(?<=\n)", head):
        if len(fields) > 1 and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    head = b"".join(
        _VIA.sub(lambda m: m.group(1) + transport + m.group(3) + hostport, f) if i and _VIA_NAME.match(f) else f
        for i, f in enumerate(fields))
    if call_id_suffix is not None:
        head = re.sub(rb"(?im)^((?:call-id|i)\s*:\s*)(\S+)", lambda m: m.group(1) + m.group(2) + call_id_suffix,
                      head, count=1)
    return head + sep + body


def status_lines(data):
    return [l.decode(errors="replace") for l in data.split(b"\r\n") if l.startswith(b"SIP/2.0 ")]


def udp_exchange(port, msg, src="127.0.0.1", quiet=1.0, via_transport=b"UDP", whole=False):
    """Sends msg from a fresh socket on src, its Via naming that socket over via_transport; returns the first lines
    (whole: the whole texts) of every datagram received until none came for `quiet` seconds."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(quiet)
    try:
        s.sendto(with_via(msg, via_transport, b"%s:%d" % (src.encode(), s.getsockname()[1])), ("127.0.0.1", port))
        got = []
        try:
            while True:
                data = s.recv(65535)
                got.append((data if whole else data.split(b"\r\n")[0]).decode(errors="replace"))
        except socket.timeout:
            pass
        return got
    finally:
        s.close()


class Tcp:
    """One TCP connection to the daemon's SIP port from a chosen loopback address (IPv4 or IPv6)."""

    def __init__(self, port, src="127.0.0.1", timeout=20.0):
        # timeout bounds connect() and a whole sendall(): a large message to a daemon that reads little at a time
        # (sip.max_message_bytes) goes only as fast as it is answered
        v6 = ":" in src
        self.sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((src, 0))
        self.sock.settimeout(timeout)
        self.sock.connect(("::1" if v6 else "127.0.0.1", port))
        self.local = self.sock.getsockname()
        self.data = b""
        self.eof = False

    def send(self, msg, fix_via=True, may_be_refused=False):
        """Sends all of msg; True once it went. With may_be_refused, a daemon that refuses the message and closes
        the connection before all of it went ends the send (False), and what it answered is still read."""
        if fix_via:
            msg = with_via(msg, b"TCP", b"%s:%d" % (self.local[0].encode(), self.local[1]))
        try:
            self.sock.sendall(msg)
        except (BrokenPipeError, ConnectionResetError):
            if not may_be_refused:
                raise
            return False
        return True

    def read_until(self, pred, timeout):
        """Reads until pred(self) or EOF or timeout; returns pred(self)."""
        deadline = time.monotonic() + timeout
        while not pred(self) and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # poll(), not select(): a test holding thousands of sockets may give this one a
            # descriptor above select()'s limit of 1024.
            p = select.poll()
            p.register(self.sock, select.POLLIN)
            if not p.poll(min(left, 0.2) * 1000):
                continue
            try:
                x = self.sock.recv(65536)
            except (ConnectionResetError, OSError):
                x = b""
            if x:
                self.data += x
            else:
                self.eof = True
        return pred(self)

    def wait_eof(self, timeout):
        return self.read_until(lambda t: t.eof, timeout)

    def close(self):
        self.sock.close()


def connect_refused_or_silent(port, src, timeout=2.0):
    """True when a TCP connect from src does not complete within timeout (SYN dropped) or is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except BlockingIOError:
        pass
    except ConnectionRefusedError:
        return True
    finally:
        pass
    try:
        _, w, _ = select.select([], [s], [], timeout)
        if not w:
            return True
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0
    finally:
        s.close()


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def options_answer(port, addr="127.0.0.1", timeout=20.0):
    """Sends an OPTIONS, with a Call-ID of its own (a test's own requests are not merged with it), from a fresh UDP
    socket on addr to the daemon's SIP port there; returns the first line of the first answer."""
    v6 = ":" in addr
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    s.settimeout(timeout)
    host = ("[%s]" % addr if v6 else addr).encode()
    try:
        tag = "options-%d" % time.monotonic_ns()
        msg = request(method="OPTIONS", ruri="sip:x@%s" % host.decode(), call_id=tag, branch="z9hG4bK-" + tag)
        s.sendto(with_via(msg, b"UDP", b"%s:%d" % (host, s.getsockname()[1])), (addr, port))
        return s.recv(65535).split(b"\r\n")[0].decode(errors="replace")
    finally:
        s.close()


def fds_after_start(pid, port, addr="127.0.0.1", timeout=20.0):
    """The daemon's descriptor count once its control thread has finished starting. libsystemd sends READY=1 from
    a socket of its own and closes it after sending, so a count taken as soon as READY=1 arrived may include that
    socket. The control thread answers SIP only after that close: once an OPTIONS from addr (the daemon's SIP
    address) has an answer (a 200, or a 403 from outside the ACLs), the count is the daemon's own."""
    first = options_answer(port, addr, timeout)
    assert first.startswith("SIP/2.0 "), first
    return fds(pid)


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_drops(port):
    """Datagrams the kernel dropped on the loopback UDP sockets bound to port (their receive buffers were full):
    a datagram the daemon never read is not its doing."""
    n = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    n += int(fields[-1])
    return n


DAEMON_ADDRS = ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]")


def server_connections(port, state="established"):
    """Connections in `state` whose local end is the daemon's SIP port on a daemon address (its side of them): a
    client socket of another test on 127.0.0.2 may have been given the same port number as its own."""
    out = subprocess.run(["ss", "-tanH", "state", state, "( sport = :%d )" % port], capture_output=True,
                         text=True, timeout=10).stdout
    return [l for l in out.splitlines() if l.strip() and l.split()[2].rsplit(":", 1)[0] in DAEMON_ADDRS]


def unread_by_server(port, peer):
    """Bytes the daemon has not read yet on its side of the connection from peer ((address, port)) to its SIP
    port, as the kernel counts them (the socket's receive queue); None while the kernel lists no such
    connection."""
    out = subprocess.run(["ss", "-tanH", "state", "established", "( sport = :%d and dport = :%d )" % (port, peer[1])],
                         capture_output=True, text=True, timeout=10).stdout
    for l in out.splitlines():
        f = l.split()
        if len(f) >= 4 and f[2].rsplit(":", 1)[0] in DAEMON_ADDRS and f[3].rsplit(":", 1)[0].strip("[]") == peer[0]:
            return int(f[0])
    return None


def connections_to(addr, port, state="established"):
    """Connections in `state` to addr:port (an IPv4 address), as the kernel lists them: the daemon's own
    connections to a peer."""
    out = subprocess.run(["ss", "-tanH", "state", state, "( dst %s and dport = :%d )" % (addr, port)],
                         capture_output=True, text=True, timeout=10).stdout
    return [l for l in out.splitlines() if l.strip()]

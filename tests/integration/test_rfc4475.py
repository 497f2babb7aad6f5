"""The RFC 4475 torture messages (tests/integration/data/rfc4475), each sent over UDP and over TCP from a trunk's
address: each gets the class of answer the RFC expects of an endpoint (or none, where it cannot be answered), no
connection is left hanging and the daemon goes on. Every Via is rewritten to the sender's own loopback address
first, so no reply can leave the machine; Call-IDs get a per-transport suffix so the two copies are not merged.

Expected final status over UDP and over TCP: a code, "-" for no answer (responses are dropped; a message whose
Via cannot be parsed has nowhere to go; TCP framing that is incomplete waits), or "closed" when the daemon closes
the connection without a final answer. INVITEs that pass every check reach a bot that refuses the connection:
their 503 shows they were processed normally."""

import os
import subprocess

import pytest

import sbtest
import sipraw

CORPUS = os.path.join(sbtest.HERE, "data", "rfc4475")

EXPECTED = {
    # 3.1.1 valid messages
    "wsinv": ("481", "481"),          # well-formed; an in-dialog INVITE (To tag) for no dialog
    "intmeth": ("501", "501"),        # unknown method; its URI is beyond the stack, answered by the guard
    "esc01": ("503", "503"),
    "escnull": ("405", "405"),        # REGISTER: not a registrar
    "esc02": ("501", "501"),
    "lwsdisp": ("200", "200"),
    "longreq": ("503", "503"),
    "dblreq": ("405", "405"),         # the REGISTER is answered; the trailing INVITE is noise
    "semiuri": ("200", "200"),
    "transports": ("200", "200"),
    "mpart01": ("403", "403"),        # MESSAGE is disabled; the multipart/signed body parses
    "unreason": ("-", "-"),           # responses to nothing we sent: dropped
    "noreason": ("-", "-"),
    # 3.1.2 invalid messages
    "badinv01": ("-", "closed"),      # its Via cannot be parsed: no address to answer
    "clerr": ("400", "-"),            # Content-Length beyond the body: over TCP, wait for the rest
    "ncl": ("400", "400"),
    "scalar02": ("400", "400"),
    "scalarlg": ("-", "-"),
    "quotbal": ("400", "400"),
    "ltgtruri": ("400", "400"),
    "lwsruri": ("400", "400"),        # answered by the guard
    "lwsstart": ("503", "503"),       # liberal: the extra spaces are ignored
    "trws": ("200", "200"),
    "escruri": ("400", "400"),        # headers in the request-URI
    "baddate": ("503", "503"),        # the Date does not matter here
    "regbadct": ("400", "400"),
    "badaspec": ("200", "200"),       # liberal: the spaces are ignored
    "baddn": ("400", "-"),            # no empty line after the headers: over TCP it is incomplete
    "badvers": ("505", "505"),
    "mismatch01": ("400", "400"),
    "mismatch02": ("400", "400"),
    "bigcode": ("-", "closed"),       # a response with a status code beyond 699
    # 3.2-3.4
    "badbranch": ("200", "200"),      # falls back to RFC 2543 matching
    "insuf": ("400", "400"),
    "unkscm": ("416", "416"),
    "novelsc": ("416", "416"),
    "unksm2": ("405", "405"),
    "bext01": ("420", "420"),
    "invut": ("415", "415"),          # a body that is not SDP
    "regaut01": ("405", "405"),
    "multi01": ("400", "400"),
    "mcl01": ("400", "400"),
    "bcast": ("-", "-"),
    "zeromf": ("200", "200"),         # an endpoint processes it normally
    "cparam01": ("405", "405"),
    "cparam02": ("405", "405"),
    "regescrt": ("405", "405"),
    "sdp01": ("406", "406"),          # Accept excludes application/sdp
    "inv2543": ("503", "400"),        # RFC 2543 style is accepted; over TCP it lacks Content-Length
}


def final(lines):
    codes = [l.split()[1] for l in lines if len(l.split()) > 1 and l.split()[1].isdigit() and int(l.split()[1]) >= 200]
    return codes[0] if codes else None


def over_udp(port, raw, quiet):
    sock = sipraw.socket.socket(sipraw.socket.AF_INET, sipraw.socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    try:
        msg = sipraw.with_via(raw, b"UDP", b"127.0.0.1:%d" % sock.getsockname()[1], b"-udp")
        sock.sendto(msg, ("127.0.0.1", port))
        got, deadline = [], sipraw.time.monotonic() + quiet
        while sipraw.time.monotonic() < deadline and final(got) is None:
            try:
                got.append(sock.recv(65535).split(b"\r\n", 1)[0].decode(errors="replace"))
            except sipraw.socket.timeout:
                pass
        return final(got) or "-"
    finally:
        sock.close()


def over_tcp(port, raw, quiet):
    t = sipraw.Tcp(port)
    try:
        t.sock.sendall(sipraw.with_via(raw, b"TCP", b"127.0.0.1:%d" % t.local[1], b"-tcp"))
        t.read_until(lambda x: final(sipraw.status_lines(x.data)) is not None, quiet)
        code = final(sipraw.status_lines(t.data))
        return code or ("closed" if t.eof else "-")
    finally:
        t.close()


def test_corpus_is_complete():
    names = sorted(f[:-4] for f in os.listdir(CORPUS) if f.endswith(".dat"))
    assert names == sorted(EXPECTED), "corpus and table differ: %s" % (set(names) ^ set(EXPECTED))
    # The manifest lists every file, and the valid messages are the RFC archive's bytes.
    r = subprocess.run(["/usr/bin/python3", os.path.join(CORPUS, "check_corpus.py"), CORPUS], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_with_via_rewrites_via_header_fields_only():
    """The rewrite these tests rely on touches the sent-by of Via and compact v header fields (folded ones too) and
    nothing else: not another header that quotes a Via, not the body."""
    quoted = b"Subject: was SIP/2.0/UDP 192.0.2.9:5060\r\n"
    body = b"SIP/2.0/TCP 192.0.2.8:5070;branch=z9hG4bK-b\r\n"
    raw = (b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
           b"v  : SIP / 2.0\r\n / TCP\r\n    192.0.2.2;branch=z9hG4bK-2, SIP/2.0/UDP 192.0.2.3;branch=z9hG4bK-3\r\n"
           + quoted +
           b"Call-ID: c1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    msg = sipraw.with_via(raw, b"TLS", b"127.0.0.1:4000")
    head, _, rest = msg.partition(b"\r\n\r\n")
    assert rest == body
    assert head.startswith(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
                           b"Via: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK-1\r\n"
                           b"v  : SIP / 2.0\r\n / TLS\r\n    127.0.0.1:4000;branch=z9hG4bK-2, "
                           b"SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK-3\r\n"), head
    assert quoted in head
    # bare LF line ends too
    lf = sipraw.with_via(raw.replace(b"\r\n", b"\n"), b"TLS", b"127.0.0.1:4000")
    assert lf == msg.replace(b"\r\n", b"\n"), lf


@pytest.fixture
def torture_daemon(env, daemon):
    refused = "ws://127.0.0.1:%d/media" % env.ports.tcp()  # nobody listens: processed INVITEs end in 503
    cfg = env.config([{"name": "default", "url": refused, "retries": 0, "connect_timeout_ms": 1000}],
                     trunk={"acl": ["127.0.0.0/8"]})
    return daemon(cfg)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_torture_messages(torture_daemon, transport):
    d = torture_daemon
    fds0 = sipraw.fds(d.proc.pid)
    wrong = []
    for name in sorted(EXPECTED):
        with open(os.path.join(CORPUS, name + ".dat"), "rb") as f:
            raw = f.read()
        want = EXPECTED[name][0 if transport == "udp" else 1]
        # Silence is waited out; an answer or the daemon's close ends the wait when it comes.
        quiet = 1.0 if want == "-" else 5.0
        got = (over_udp if transport == "udp" else over_tcp)(d.sip_port, raw, quiet)
        if got != want:
            wrong.append("%s: %s, expected %s" % (name, got, want))
        assert d.alive(), "sipbridged died on %s" % name
    assert not wrong, "\n".join(wrong)
    if transport == "tcp":
        # Connections the peer closed do not linger: the daemon's side closes too.
        sbtest.wait_until(lambda: sipraw.server_connections(d.sip_port, "close-wait") == [], 10,
                          "no CLOSE-WAIT connection left")
    sbtest.wait_until(lambda: sipraw.fds(d.proc.pid) <= fds0, 30, "the descriptors to return to %d" % fds0)

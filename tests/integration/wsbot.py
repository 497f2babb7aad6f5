"""A WebSocket server written from RFC 6455 on a plain socket, for the tests that need a bot to send exactly what they
say: its own answer to the upgrade, pings, fragments, masked or broken frames, close codes. Each accepted connection
runs `script(conn)` on a thread of its own once the upgrade is answered; what the connection saw is kept on it."""

import base64
import hashlib
import json
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 20


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(op, payload=b"", fin=True, mask=None, rsv=0):
    """A frame as a server sends it (unmasked unless mask, 4 bytes, is given)."""
    head = bytes([(0x80 if fin else 0) | rsv | op])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def is_event(event):
    """A predicate on frames: a text frame holding a JSON object whose "event" is event."""
    def pred(f):
        if f[1] != 1:
            return False
        try:
            return json.loads(f[2]).get("event") == event
        except ValueError:
            return False
    return pred


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.request_line = None
        self.headers = {}
        self.frames = []  # (fin, opcode, payload, masked) as received
        self.eof = False
        self.error = None

    def _read(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                self.eof = True
                raise EOFError("the client closed the connection")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_request(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("closed before the upgrade request was whole")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.request_line = lines[0]
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()

    def send(self, data):
        self.sock.sendall(data)

    def answer(self, protocol=None, accept=None, then=b""):
        """101 as RFC 6455 says; then: frames sent in the same write as the answer."""
        key = self.headers.get("sec-websocket-key", "")
        text = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: %s\r\n" % (accept or accept_value(key)))
        if protocol:
            text += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.send((text + "\r\n").encode() + then)

    def recv_frame(self):
        """The next frame from the client, unmasked: (fin, opcode, payload, masked)."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        key = self._read(4) if b1 & 0x80 else None
        p = self._read(n)
        if key:
            p = bytes(b ^ key[i % 4] for i, b in enumerate(p))
        f = (bool(b0 & 0x80), b0 & 0x0F, p, key is not None)
        self.frames.append(f)
        return f

    def recv_until(self, pred, what):
        """Frames until pred(frame) holds; the one that did."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            f = self.recv_frame()
            if pred(f):
                return f
        raise TimeoutError("no " + what)

    def recv_each(self, **preds):
        """Frames until each of preds (name=predicate) has held, in whatever order they come: frames the bridge sends
        on separate paths (a pong from the socket's writer, a mark once the media thread played it) have no order
        between them. Returns the first frame each predicate held for, by name."""
        got = {}
        deadline = time.monotonic() + TIMEOUT
        while len(got) < len(preds) and time.monotonic() < deadline:
            f = self.recv_frame()
            for name, pred in preds.items():
                if name not in got and pred(f):
                    got[name] = f
                    break
        if len(got) < len(preds):
            raise TimeoutError("no " + " and no ".join(n for n in preds if n not in got))
        return got

    def recv_event(self, event):
        return json.loads(self.recv_until(is_event(event), "%s event" % event)[2])

    def wait_eof(self):
        """Reads frames until the client closes the socket."""
        try:
            while True:
                self.recv_frame()
        except EOFError:
            return True
        except OSError:
            return False


class RawWsBot:
    """Listens on port; answer(conn) answers the upgrade (default: 101 as RFC 6455 says), then script(conn) runs.
    With tls (an ssl.SSLContext for a server certificate of 127.0.0.1), every connection is wss: the TLS handshake
    first, then the same bytes inside the session."""

    def __init__(self, port, script=None, answer=None, path="/media", tls=None):
        self.port = port
        self.tls = tls
        self.url = "%s://127.0.0.1:%d%s" % ("wss" if tls else "ws", port, path)
        self.script = script
        self.answer = answer or (lambda c: c.answer())
        self.conns = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self._threads = []
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            c = Conn(s)
            self.conns.append(c)
            t = threading.Thread(target=self._run, args=(c,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, c):
        try:
            if self.tls:
                c.sock = self.tls.wrap_socket(c.sock, server_side=True)
            c.read_request()
            self.answer(c)
            if self.script:
                self.script(c)
        except Exception as e:  # kept for the test to report
            c.error = "%s: %s" % (type(e).__name__, e)
            # a script that failed lets go of the call at once rather than at the caller's timeout
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            c.done = True

    def wait_done(self, n=1, timeout=TIMEOUT + 10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.conns) >= n and all(getattr(c, "done", False) for c in self.conns[:n]):
                return self.conns[:n]
            time.sleep(0.05)
        raise TimeoutError("the bot's connection scripts did not finish")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.sock.close()

"""RTP caller endpoint for the integration tests, plus G.711 and tone helpers.

The endpoint owns one UDP socket on a free loopback port; the SIPp scenario advertises that port in its SDP. The
bridge's RTP address is learnt from the first packet received (the bridge sends from the port in its answer).
"""

import math
import os
import random
import socket
import struct
import threading
import time

PT_PCMU = 0
PT_PCMA = 8
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_S = 0.020

# ---------------------------------------------------------------------------------------------------------------
# G.711 (bit-exact with spandsp's inline functions)


def _top_bit(x):
    return x.bit_length() - 1


def _lin2alaw(linear):
    if linear >= 0:
        mask = 0x55 | 0x80
    else:
        mask = 0x55
        linear = -linear - 1
    seg = _top_bit(linear | 0xFF) - 7
    if seg >= 8:
        return 0x7F ^ mask
    shift = seg + 3 if seg else 4
    return ((seg << 4) | ((linear >> shift) & 0x0F)) ^ mask


def _alaw2lin(a):
    a ^= 0x55
    i = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg:
        i = (i + 0x108) << (seg - 1)
    else:
        i += 8
    return i if a & 0x80 else -i


_ULAW_BIAS = 0x84


def _lin2ulaw(linear):
    if linear < 0:
        linear = _ULAW_BIAS - linear
        mask = 0x7F
    else:
        linear = _ULAW_BIAS + linear
        mask = 0xFF
    seg = _top_bit(linear | 0xFF) - 7
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((linear >> (seg + 3)) & 0x0F)) ^ mask


def _ulaw2lin(u):
    u = ~u & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return (_ULAW_BIAS - t) if u & 0x80 else (t - _ULAW_BIAS)


ALAW_DECODE = [_alaw2lin(i) for i in range(256)]
ULAW_DECODE = [_ulaw2lin(i) for i in range(256)]
ALAW_SILENCE = _lin2alaw(0)  # 0xD5
ULAW_SILENCE = _lin2ulaw(0)  # 0xFF


def _clamp16(v):
    return max(-32768, min(32767, int(v)))


def alaw_encode(samples):
    return bytes(_lin2alaw(_clamp16(s)) for s in samples)


def ulaw_encode(samples):
    return bytes(_lin2ulaw(_clamp16(s)) for s in samples)


def alaw_decode(data):
    return [ALAW_DECODE[b] for b in data]


def ulaw_decode(data):
    return [ULAW_DECODE[b] for b in data]


def encode(pt, samples):
    return alaw_encode(samples) if pt == PT_PCMA else ulaw_encode(samples)


def decode(pt, data):
    return alaw_decode(data) if pt == PT_PCMA else ulaw_decode(data)


def silence_octet(pt):
    return ALAW_SILENCE if pt == PT_PCMA else ULAW_SILENCE


def is_silent(p):
    """True for a received packet whose payload is all the codec's silence octet."""
    return p.payload == bytes([silence_octet(p.pt)]) * len(p.payload)


def canonical(pt, data):
    """Octets as the bridge re-encodes them after decoding (µ-law 0x7F and 0xFF both decode to 0)."""
    return encode(pt, decode(pt, data))


def quantise(pt, samples):
    """PCM after one G.711 encode/decode, i.e. what a caller hears of the bot's PCM."""
    return decode(pt, encode(pt, samples))


# ---------------------------------------------------------------------------------------------------------------
# PCM helpers


def pcm16le(samples):
    return struct.pack("<%dh" % len(samples), *samples)


def from_pcm16le(data):
    n = len(data) // 2
    return list(struct.unpack("<%dh" % n, data[: n * 2]))


def tone(hz, ms, amplitude=8000, rate=8000, phase_samples=0):
    n = rate * ms // 1000
    return [int(round(amplitude * math.sin(2 * math.pi * hz * (i + phase_samples) / rate))) for i in range(n)]


def noise_octets(pt, nbytes, seed=1234):
    """A reproducible pseudo-random G.711 sequence in canonical form (round-trips through PCM exactly)."""
    rnd = random.Random(seed)
    return canonical(pt, bytes(rnd.randrange(256) for _ in range(nbytes)))


def goertzel_power(samples, hz, rate=8000):
    if not samples:
        return 0.0
    k = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / len(samples)


def dominant(samples, hz, others=(300, 500, 700, 1300, 1700, 2000, 2500, 3000), rate=8000):
    """True if the power at hz exceeds every other probe frequency by a factor of 10."""
    p = goertzel_power(samples, hz, rate)
    if p <= 0:
        return False
    return all(p > 10 * goertzel_power(samples, o, rate) for o in others if abs(o - hz) > 100)


def rms(samples):
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def find_sub(hay, needle):
    """Index of needle in hay (bytes, or lists of samples), or -1."""
    if isinstance(hay, (bytes, bytearray)):
        return bytes(hay).find(bytes(needle))
    h, n = pcm16le(hay), pcm16le(needle)
    i = h.find(n)
    while i >= 0 and i % 2:
        i = h.find(n, i + 1)
    return i // 2 if i >= 0 else -1


# ---------------------------------------------------------------------------------------------------------------
# RTP endpoint


class Packet:
    __slots__ = ("seq", "ts", "pt", "ssrc", "marker", "payload", "t", "src")

    def __init__(self, seq, ts, pt, ssrc, marker, payload, t, src):
        self.seq, self.ts, self.pt, self.ssrc = seq, ts, pt, ssrc
        self.marker, self.payload, self.t, self.src = marker, payload, t, src


def parse_rtp(data):
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    cc = data[0] & 0x0F
    ext = data[0] & 0x10
    off = 12 + 4 * cc
    if ext:
        if len(data) < off + 4:
            return None
        off += 4 + 4 * struct.unpack("!H", data[off + 2: off + 4])[0]
    end = len(data)
    if data[0] & 0x20:
        end -= data[-1]
    if off > end:
        return None
    seq, ts, ssrc = struct.unpack("!HII", data[2:12])
    return seq, ts, data[1] & 0x7F, ssrc, bool(data[1] & 0x80), data[off:end]


def build_rtp(seq, ts, pt, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


class RtpEndpoint:
    """A caller's RTP leg: receives into self.packets, sends a queued G.711 stream paced at 20 ms."""

    def __init__(self, pt=PT_PCMA, host="127.0.0.1", port=0):
        self.pt = pt
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.peer = None
        self.packets = []
        self.non_rtp = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._tx_queue = bytearray()
        self._tx_fill_silence = False
        self.tx_log = []  # (time, seq, payload) of every packet sent
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._rx = threading.Thread(target=self._rx_loop, name="rtp-rx-%d" % self.port, daemon=True)
        self._rx.start()
        self._tx = None

    # receive side -------------------------------------------------------------------------------------------
    def _rx_loop(self):
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.time()
            p = parse_rtp(data)
            with self._cond:
                if p is None:
                    self.non_rtp += 1
                else:
                    if self.peer is None:
                        self.peer = src
                    self.packets.append(Packet(*p, now, src))
                self._cond.notify_all()

    def wait_for(self, pred, timeout, what="condition"):
        """Wait until pred(self) holds (re-checked on every packet); raise AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("RTP endpoint :%d: timed out after %.1f s waiting for %s (%d packets received)"
                                         % (self.port, timeout, what, len(self.packets)))
                self._cond.wait(min(left, 0.2))

    def wait_packets(self, n, timeout=20):
        self.wait_for(lambda e: len(e.packets) >= n, timeout, "%d packets" % n)

    def snapshot(self):
        with self._cond:
            return list(self.packets)

    def received_bytes(self, since=None):
        return b"".join(p.payload for p in self.snapshot() if since is None or p.t >= since)

    def received_pcm(self, since=None):
        out = []
        for p in self.snapshot():
            if since is None or p.t >= since:
                out.extend(decode(p.pt, p.payload))
        return out

    # send side ----------------------------------------------------------------------------------------------
    def send_audio(self, octets):
        """Queue G.711 octets to be sent in 160-byte packets; starts the pacing thread on first use."""
        with self._cond:
            self._tx_queue.extend(octets)
        self._ensure_tx()

    def send_silence_forever(self, on=True):
        """When the queue is empty, keep sending silence packets (like a real phone)."""
        self._tx_fill_silence = on
        self._ensure_tx()

    def tx_pending(self):
        with self._cond:
            return len(self._tx_queue)

    def wait_tx_done(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.tx_pending() > 0:
            if time.monotonic() > deadline:
                raise AssertionError("RTP endpoint: audio still queued after %.1f s" % timeout)
            self._stop.wait(0.02)

    def _ensure_tx(self):
        if self._tx is None:
            self._tx = threading.Thread(target=self._tx_loop, name="rtp-tx-%d" % self.port, daemon=True)
            self._tx.start()

    def _tx_loop(self):
        next_t = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_t:
                self._stop.wait(next_t - now)
                continue
            next_t += FRAME_S
            if next_t < now - 0.2:  # fell far behind (a stalled machine): resynchronise
                next_t = now + FRAME_S
            with self._cond:
                peer = self.peer
                if peer is None:
                    continue
                if self._tx_queue:
                    chunk = bytes(self._tx_queue[:FRAME_SAMPLES])
                    del self._tx_queue[:FRAME_SAMPLES]
                    if len(chunk) < FRAME_SAMPLES:
                        chunk += bytes([silence_octet(self.pt)]) * (FRAME_SAMPLES - len(chunk))
                elif self._tx_fill_silence:
                    chunk = bytes([silence_octet(self.pt)]) * FRAME_SAMPLES
                else:
                    continue
            pkt = build_rtp(self._seq, self._ts, self.pt, self.ssrc, chunk)
            try:
                self.sock.sendto(pkt, peer)
            except OSError:
                pass
            self.tx_log.append((time.time(), self._seq, chunk))
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF

    def send_raw(self, data, dest=None):
        """Send an arbitrary datagram from this endpoint's socket (default: to the learnt peer)."""
        self.sock.sendto(data, dest or self.peer)

    def close(self):
        self._stop.set()
        for t in (self._rx, self._tx):
            if t is not None:
                t.join(timeout=2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def write_g711_file(path, octets):
    with open(path, "wb") as f:
        f.write(octets)
    return path


def urandom_octets(n):
    return os.urandom(n)

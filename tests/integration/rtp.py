"""RTP caller endpoint for the integration tests, plus G.711 and tone helpers.

The endpoint owns one UDP socket on a free loopback port; the SIPp scenario advertises that port in its SDP. The
bridge's RTP address is learnt from the first packet received (the bridge sends from the port in its answer).
"""

import collections
import heapq
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


def find_all(hay, needle):
    """Every sample-aligned index of needle (a list of samples) in hay (a list of samples), in order."""
    h, n = pcm16le(hay), pcm16le(needle)
    out = []
    i = h.find(n)
    while i >= 0:
        if i % 2 == 0:
            out.append(i // 2)
        i = h.find(n, i + 1)
    return out


# ---------------------------------------------------------------------------------------------------------------
# RFC 4733 telephone-events

PT_TELEPHONE_EVENT = 101
DTMF_DIGITS = "0123456789*#ABCD"  # event codes 0-15


class TelephoneEvent:
    __slots__ = ("event", "end", "volume", "duration")

    def __init__(self, event, end, volume, duration):
        self.event, self.end, self.volume, self.duration = event, end, volume, duration

    @property
    def digit(self):
        return DTMF_DIGITS[self.event] if self.event < len(DTMF_DIGITS) else None

    def __repr__(self):
        return "<event %d%s vol %d dur %d>" % (self.event, " E" if self.end else "", self.volume, self.duration)


def build_rfc4733(event, end, volume, duration):
    return struct.pack("!BBH", event, (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF)


def parse_rfc4733(payload):
    """The first event block of a telephone-event payload, or None if it is shorter than 4 bytes."""
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def ts_diff(a, b):
    """a - b for 32-bit RTP timestamps, in -2^31..2^31-1."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


# ---------------------------------------------------------------------------------------------------------------
# RTP endpoint


class Packet:
    __slots__ = ("seq", "ts", "pt", "ssrc", "marker", "payload", "t", "src")

    def __init__(self, seq, ts, pt, ssrc, marker, payload, t, src):
        self.seq, self.ts, self.pt, self.ssrc = seq, ts, pt, ssrc
        self.marker, self.payload, self.t, self.src = marker, payload, t, src

    def __repr__(self):
        return "<rtp pt %d seq %d ts %d%s %d bytes>" % (self.pt, self.seq, self.ts, " M" if self.marker else "",
                                                      len(self.payload))


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


class TxRecord(tuple):
    """One datagram the endpoint sent. Unpacks as (t, seq, payload); also carries ts, pt, marker and kind:
    "audio" (queued audio), "fill" (silence while nothing is queued), "dup" (a second copy made by Impair) or
    "dtmf" (RFC 4733)."""

    def __new__(cls, t, seq, payload, ts, pt, marker, kind):
        r = tuple.__new__(cls, (t, seq, payload))
        r.ts, r.pt, r.marker, r.kind = ts, pt, marker, kind
        return r

    t = property(lambda self: self[0])
    seq = property(lambda self: self[1])
    payload = property(lambda self: self[2])

    def __repr__(self):
        return "<tx %s pt %d seq %d ts %d%s>" % (self.kind, self.pt, self.seq, self.ts, " M" if self.marker else "")


class OrigPacket:
    """A packet of an impaired stream as the unimpaired stream has it, and what Impair did with it."""
    __slots__ = ("index", "seq", "ts", "payload", "action", "delays")

    def __init__(self, index, seq, ts, payload, action, delays):
        self.index, self.seq, self.ts, self.payload = index, seq, ts, payload
        self.action, self.delays = action, delays

    def __repr__(self):
        return "<#%d seq %d %s %s>" % (self.index, self.seq, self.action, ["%.0f ms" % (d * 1000) for d in self.delays])


class Impair:
    """Deterministic network impairment of one stream queued with RtpEndpoint.send_audio(octets, impair=...).

    Every packet keeps the seq and timestamp the unimpaired stream gives it; impairment only changes when it is
    sent and how often. Per packet, from a generator seeded with seed:
      drop     probability that it is never sent (never two packets in a row);
      reorder  probability that it is held back: swapped with the next packet, or delayed by 2 or 3 packet
               times (it goes out 2 ms after the packet it is swapped with / the packet 2 or 3 places later);
      dup      probability that it is sent, then sent again 3-40 ms later.
    drop_at, delay_at ({index: packet times}) and dup_at impose the same on given packets (index 0 is the
    stream's first packet), and the first `guard` packets are left alone. After sending, self.packets holds an
    OrigPacket per packet of the stream, in stream order, with action "sent", "dropped", "delayed" or "dup"."""

    def __init__(self, seed=1, reorder=0.0, dup=0.0, drop=0.0, drop_at=(), delay_at=None, dup_at=(), guard=5):
        self.rnd = random.Random(seed)
        self.reorder, self.dup, self.drop = reorder, dup, drop
        self.drop_at, self.dup_at = set(drop_at), set(dup_at)
        self.delay_at = dict(delay_at or {})
        self.guard = guard
        self.packets = []

    def plan(self, seq, ts, payload):
        """Delays in seconds after the packet's own send time at which copies of it go out ([] = dropped)."""
        i = len(self.packets)
        # three draws per packet whatever is decided: one packet's decision does not shift the next one's draws
        r = self.rnd.random()
        hold = self.rnd.choice((1, 1, 2, 3))
        again = self.rnd.uniform(0.003, 0.040)
        prev_dropped = bool(self.packets) and self.packets[-1].action == "dropped"
        if i < self.guard:
            action = "sent"
        elif i in self.drop_at:
            action = "dropped"
        elif i in self.delay_at:
            action, hold = "delayed", self.delay_at[i]
        elif i in self.dup_at:
            action = "dup"
        elif r < self.drop and not prev_dropped:
            action = "dropped"
        elif self.drop <= r < self.drop + self.reorder:
            action = "delayed"
        elif self.drop + self.reorder <= r < self.drop + self.reorder + self.dup:
            action = "dup"
        else:
            action = "sent"
        delays = {"sent": [0.0], "dropped": [], "delayed": [hold * FRAME_S + 0.002], "dup": [0.0, again]}[action]
        self.packets.append(OrigPacket(i, seq, ts, payload, action, delays))
        return delays

    def count(self, action):
        return sum(p.action == action for p in self.packets)

    def summary(self):
        return "%d packets: %d dropped, %d delayed, %d duplicated" % (
            len(self.packets), self.count("dropped"), self.count("delayed"), self.count("dup"))


class _Audio:
    kind = "audio"

    def __init__(self, octets, impair):
        self.data = bytearray(octets)
        self.impair = impair

    def pending(self):
        return len(self.data)


class _Dtmf:
    kind = "dtmf"

    def __init__(self, digit, duration_ms, volume, lose_start, reorder, ends):
        if digit not in DTMF_DIGITS or len(digit) != 1:
            raise ValueError("not a DTMF digit: %r" % (digit,))
        self.digit, self.duration_ms, self.volume = digit, duration_ms, volume
        self.lose_start, self.reorder, self.ends = lose_start, reorder, ends
        self.plan = None  # [tick, seq, marker, payload, send] per datagram, made when the event starts
        self.ts = None
        self.tick = 0
        self.ticks = 0

    def pending(self):
        return 1

    def start(self, seq, ts):
        """Lays out the event's datagrams from seq on; returns (datagrams, frames of media time it covers)."""
        total = self.duration_ms * 8
        frames = max(1, -(-total // FRAME_SAMPLES))
        code = DTMF_DIGITS.index(self.digit)
        layout = [(k, (k + 1) * FRAME_SAMPLES, False) for k in range(frames - 1)]
        layout += [(frames - 1, total, True)] * self.ends
        plan = [[tick, (seq + i) & 0xFFFF, i == 0, build_rfc4733(code, end, self.volume, dur), True]
                for i, (tick, dur, end) in enumerate(layout)]
        if self.lose_start and plan:
            plan[0][4] = False
        if self.reorder:
            assert len(plan) >= 3, "a %d ms event has fewer than 3 packets to reorder" % self.duration_ms
            late = max(plan[1][0], plan[2][0])
            plan[1][0] = plan[2][0] = late
            plan[1], plan[2] = plan[2], plan[1]
        self.plan = plan
        self.ts = ts
        self.ticks = frames
        return len(layout), frames


class RtpEndpoint:
    """A caller's RTP leg: receives into self.packets, sends a queued G.711 stream paced at 20 ms.

    Queued audio goes out in 160-byte packets (a stream's last one padded with silence); send_dtmf() queues an
    RFC 4733 event in its place; an Impair passed to send_audio() reorders, duplicates and drops that stream's
    packets. Nothing queued: nothing is sent and seq and timestamp stand still, unless send_silence_forever()."""

    def __init__(self, pt=PT_PCMA, host="127.0.0.1", port=0, seq=None, ts=None, te_pt=PT_TELEPHONE_EVENT):
        self.pt = pt
        self.te_pt = te_pt
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.peer = None
        self.packets = []
        self.non_rtp = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._tx_items = collections.deque()
        self._tx_sched = []  # heap of (monotonic time, n, datagram, TxRecord fields) for delayed copies
        self._tx_n = 0
        self._tx_fill_silence = False
        self.tx_log = []  # a TxRecord per datagram sent, in sending order
        self.dtmf_sent = []  # (digit, duration_ms, ts, first seq) per event sent with send_dtmf
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16) if seq is None else seq & 0xFFFF
        self._ts = random.getrandbits(32) if ts is None else ts & 0xFFFFFFFF
        self._rx = threading.Thread(target=self._rx_loop, name="rtp-rx-%d" % self.port, daemon=True)
        self._rx.start()
        self._tx = None

    def set_next(self, seq=None, ts=None):
        """Sequence number and/or timestamp of the next packet; before the first packet is sent."""
        assert not self.tx_log, "set_next() after packets were sent"
        if seq is not None:
            self._seq = seq & 0xFFFF
        if ts is not None:
            self._ts = ts & 0xFFFFFFFF

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

    def wait_echo(self, octets, timeout=20, what="the caller's audio to come back through the echo bot"):
        """Wait until octets arrive intact and in order in the loud packets. Silent packets between them are
        allowed: an echo bot sends each 20 ms frame as it gets it, and when one comes late the bridge fills that
        slot with silence rather than stop the stream. On timeout, says how many of its frames did arrive."""
        def echoed(e):
            return find_sub(b"".join(p.payload for p in e.packets if not is_silent(p)), octets) >= 0

        try:
            self.wait_for(echoed, timeout, what)
        except AssertionError as e:
            loud = {p.payload for p in self.snapshot() if not is_silent(p)}
            frames = [bytes(octets[i:i + FRAME_SAMPLES]) for i in range(0, len(octets), FRAME_SAMPLES)]
            raise AssertionError("%s; %d of its %d frames arrived" % (e, sum(f in loud for f in frames), len(frames)))

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
    def send_audio(self, octets, impair=None):
        """Queue G.711 octets to be sent in 160-byte packets; starts the pacing thread on first use. With an
        Impair, this stream's packets are reordered, duplicated and dropped as it decides."""
        with self._cond:
            last = self._tx_items[-1] if self._tx_items else None
            if last is not None and last.kind == "audio" and last.impair is impair:
                last.data.extend(octets)
            else:
                self._tx_items.append(_Audio(octets, impair))
        self._ensure_tx()

    def send_dtmf(self, digit, duration_ms, volume=10, lose_start=False, reorder=False, ends=3):
        """Queue an RFC 4733 event (payload type self.te_pt) in place of audio: one timestamp (the one the audio
        would have had) for every packet, the marker bit on the first, an update every 20 ms with the duration so
        far, then `ends` end packets with the full duration back to back; audio after it resumes with the timestamp
        advanced by the event's duration. lose_start: the first packet is not sent (its seq is used up);
        reorder: the 2nd and 3rd packets go out swapped."""
        with self._cond:
            self._tx_items.append(_Dtmf(digit, duration_ms, volume, lose_start, reorder, ends))
        self._ensure_tx()

    def send_silence_forever(self, on=True):
        """When the queue is empty, keep sending silence packets (like a real phone)."""
        self._tx_fill_silence = on
        self._ensure_tx()

    def tx_pending(self):
        """Octets of audio still queued, plus 1 per queued event and per copy waiting for its delayed send."""
        with self._cond:
            return sum(i.pending() for i in self._tx_items) + len(self._tx_sched)

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
            with self._cond:
                due = min(next_t, self._tx_sched[0][0]) if self._tx_sched else next_t
            if now < due:
                self._stop.wait(due - now)
                continue
            if now >= next_t:
                tick_t = next_t
                next_t += FRAME_S
                if next_t < now - 0.2:  # fell far behind (a stalled machine): resynchronise
                    next_t = now + FRAME_S
                self._tick(tick_t)
            self._send_scheduled(time.monotonic())

    def _tick(self, tick_t):
        """One packet time: the next packet(s) of the queue go out, or are scheduled by their Impair."""
        with self._cond:
            peer = self.peer
            if peer is None:
                return
            out = self._next_packets()
        for seq, ts, pt, marker, payload, kind, delays in out:
            pkt = build_rtp(seq, ts, pt, self.ssrc, payload, marker)
            fields = (seq, payload, ts, pt, marker, kind)
            for d in delays:
                if d <= 0:
                    self._send(pkt, peer, fields)
                else:
                    with self._cond:
                        self._tx_n += 1
                        heapq.heappush(self._tx_sched, (tick_t + d, self._tx_n, pkt, fields))

    def _send_scheduled(self, now):
        while True:
            with self._cond:
                if not self._tx_sched or self._tx_sched[0][0] > now:
                    return
                _, _, pkt, fields = heapq.heappop(self._tx_sched)
                peer = self.peer
            self._send(pkt, peer, fields)

    def _send(self, pkt, peer, fields):
        """Sends one datagram and logs it; fields = (seq, payload, ts, pt, marker, kind)."""
        try:
            self.sock.sendto(pkt, peer)
        except OSError:
            pass
        self.tx_log.append(TxRecord(time.time(), *fields))

    def _next_packets(self):
        """Under the lock: [(seq, ts, pt, marker, payload, kind, delays)] for this packet time."""
        items = self._tx_items
        while items and items[0].kind == "audio" and not items[0].data:
            items.popleft()
        if items and items[0].kind == "dtmf":
            return self._next_dtmf(items[0])
        if items:
            item = items[0]
            chunk = bytes(item.data[:FRAME_SAMPLES])
            del item.data[:FRAME_SAMPLES]
            if len(chunk) < FRAME_SAMPLES:
                chunk += bytes([silence_octet(self.pt)]) * (FRAME_SAMPLES - len(chunk))
            if not item.data:
                items.popleft()
            kind, delays = "audio", [0.0]
            if item.impair is not None:
                delays = item.impair.plan(self._seq, self._ts, chunk)
                if len(delays) > 1:  # the second copy is logged as "dup"
                    out = [(self._seq, self._ts, self.pt, False, chunk, "audio", delays[:1]),
                           (self._seq, self._ts, self.pt, False, chunk, "dup", delays[1:])]
                    self._advance(1, 1)
                    return out
        elif self._tx_fill_silence:
            chunk, kind, delays = bytes([silence_octet(self.pt)]) * FRAME_SAMPLES, "fill", [0.0]
        else:
            return []
        out = [(self._seq, self._ts, self.pt, False, chunk, kind, delays)]
        self._advance(1, 1)
        return out

    def _advance(self, packets, frames):
        self._seq = (self._seq + packets) & 0xFFFF
        self._ts = (self._ts + frames * FRAME_SAMPLES) & 0xFFFFFFFF

    def _next_dtmf(self, ev):
        if ev.plan is None:
            npkts, frames = ev.start(self._seq, self._ts)
            self.dtmf_sent.append((ev.digit, ev.duration_ms, self._ts, self._seq))
            self._advance(npkts, frames)  # audio after the event: seq past its packets, ts past its duration
        out = [(seq, ev.ts, self.te_pt, marker, payload, "dtmf", [0.0])
               for tick, seq, marker, payload, send in ev.plan if tick == ev.tick and send]
        ev.tick += 1
        if ev.tick >= ev.ticks:
            self._tx_items.popleft()
        return out

    def send_short(self, octets):
        """Sends at once one audio packet of fewer than 160 octets (a ptime under 20 ms), next in sequence after what
        was sent; the timestamp goes on by its length. Not while audio waits to be sent."""
        assert 0 < len(octets) < FRAME_SAMPLES
        with self._cond:
            assert not self._tx_items, "send_short() while audio waits to be sent"
            seq, ts = self._seq, self._ts
            self._seq = (seq + 1) & 0xFFFF
            self._ts = (ts + len(octets)) & 0xFFFFFFFF
        payload = bytes(octets)
        self._send(build_rtp(seq, ts, self.pt, self.ssrc, payload), self.peer, (seq, payload, ts, self.pt, False, "audio"))

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

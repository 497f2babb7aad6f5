#!/usr/bin/python3
"""Write raw G.711 audio for SIPp's rtp_stream: a 440 Hz / 1 kHz two-tone pattern (A-law by default).

usage: gen_audio.py [--ulaw] [--seconds N] [OUT]     (OUT defaults to audio.alaw or audio.ulaw)
"""

import math
import sys


def lin2alaw(x):
    mask = 0xD5 if x >= 0 else 0x55
    if x < 0:
        x = -x - 1
    seg = max((x | 0xFF).bit_length() - 8, 0)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((x >> (seg + 3 if seg else 4)) & 0x0F)) ^ mask


def lin2ulaw(x):
    mask = 0x7F if x < 0 else 0xFF
    x = 0x84 + abs(x)
    seg = max((x | 0xFF).bit_length() - 8, 0)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((x >> (seg + 3)) & 0x0F)) ^ mask


def main(argv):
    ulaw = "--ulaw" in argv
    seconds = 3
    if "--seconds" in argv:
        seconds = int(argv[argv.index("--seconds") + 1])
    rest = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] != "--seconds")]
    out = rest[0] if rest else ("audio.ulaw" if ulaw else "audio.alaw")
    enc = lin2ulaw if ulaw else lin2alaw
    data = bytearray()
    for n in range(8000 * seconds):
        hz = 440 if (n // 4000) % 2 == 0 else 1000  # alternate every 0.5 s
        data.append(enc(int(8000 * math.sin(2 * math.pi * hz * n / 8000))))
    with open(out, "wb") as f:
        f.write(data)
    print("wrote %s: %d bytes, %d s of %s" % (out, len(data), seconds, "mu-law" if ulaw else "A-law"))


if __name__ == "__main__":
    main(sys.argv[1:])

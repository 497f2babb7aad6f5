"""Check the RFC 4475 torture-test corpus in this directory.

For every .dat file: its name, its length in bytes, whether the declared Content-Length matches the length of the
body actually present, and its first line (quoted; control bytes and invalid UTF-8 shown as \\xNN). Several messages
are wrong on purpose (clerr, ncl, mcl01, dblreq, inv2543, baddn), so a mismatch is reported, not treated as an error.

Also checks that MANIFEST.tsv lists every .dat file exactly once, and that the 13 valid messages of section 3.1.1
still have the SHA-256 of the RFC's bit-exact archive. Exits 1 if either of those checks fails.

Run: /usr/bin/python3 check_corpus.py [directory]
"""

import hashlib
import os
import re
import sys

# SHA-256 of the section 3.1.1 members of the RFC 4475 Appendix A archive (as published by independent decodes).
ARCHIVE_SHA256 = {
    "wsinv.dat": "d6f6cdee99cd0a1f8e3d9a0fdd67c877700e19ab86d8186dada06f61260e3e61",
    "intmeth.dat": "b957a8292c1c0a9851fe94705b90f94320738f43aacde64998e401f742ef688d",
    "esc01.dat": "be3a316d4ce5f69cad474646191e390dd4b50fc8371e44b5197fe1237781973e",
    "escnull.dat": "263fe2ecd12a5ccbb6c67b3174e9211d11da9b600e7d69666a86d2ee42873e90",
    "esc02.dat": "9a9c59449f00327b02071feafc8e5c2a261c98c818044167894cc17809a12199",
    "lwsdisp.dat": "d1b36b6316c12824f6f04bf6b1fd1f021cade9b74871693b9c3474cd9fa7f4e6",
    "longreq.dat": "185739292bc676760e5b1cca77c87705aa570240171c506ad76f8c35af0ecdaa",
    "dblreq.dat": "a6be48426565c2a705389c4ce2ea17e57b891cb13f80490a2cb9392c797b46ef",
    "semiuri.dat": "87bbaed6b4b354dbd3c5c7a20e66686303c63e43a0aa19b89de1ac75231611a2",
    "transports.dat": "33b4553a3b9418121b099ff07882535151edd6a1e81898c63a916aad2cbf90bc",
    "mpart01.dat": "92147c8e24997bac59629e1b163767697d0d6d499af87f89e325d69968bec3ba",
    "unreason.dat": "4f939d6ebf4817eea70f011d3209e83732872ffc20ffd304b244084dc392f4d7",
    "noreason.dat": "07e11e470a69fffa3674de805e5165d1351a9439a91045ee70c9570ea24ab4fe",
}

CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE)


def show(raw):
    """Quote a byte string for the terminal: printable ASCII and valid UTF-8 as is, anything else as \\xNN."""
    text = raw.decode("utf-8", errors="backslashreplace")
    out = []
    for ch in text:
        if ch == "\\" or ch == '"':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def content_length_status(data):
    """Compare the declared Content-Length with the octets after the first empty line."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return "no end of header section (no empty line)"
    body = len(data) - (end + 4)
    # unfold continuation lines before looking at header names
    header = re.sub(rb"\r\n[ \t]+", b" ", data[:end])
    values = []
    for line in header.split(b"\r\n")[1:]:
        m = CONTENT_LENGTH.match(line)
        if m:
            values.append(m.group(1).decode("latin-1"))
    if not values:
        return "no Content-Length (body %d)" % body
    if len(values) > 1:
        return "MISMATCH: %d Content-Length values (%s), body %d" % (len(values), ", ".join(values), body)
    declared = values[0]
    if not re.fullmatch(r"[0-9]+", declared):
        return "MISMATCH: declared %s (not a number), body %d" % (declared, body)
    if int(declared) == body:
        return "ok: declared %s = body %d" % (declared, body)
    return "MISMATCH: declared %s, body %d" % (declared, body)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    names = sorted(n for n in os.listdir(directory) if n.endswith(".dat"))
    failed = False

    for name in names:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        first = data.split(b"\r\n", 1)[0]
        print("%-15s %5d bytes  %-44s %s" % (name, len(data), content_length_status(data), show(first)))

    with open(os.path.join(directory, "MANIFEST.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    listed = [r[0] for r in rows[1:]]
    if rows[0] != ["file", "section", "method", "validity", "expectation"] or any(len(r) != 5 for r in rows):
        print("MANIFEST.tsv: bad header or row width")
        failed = True
    if sorted(listed) != names:
        print("MANIFEST.tsv does not list the .dat files exactly once: missing %s, extra %s"
              % (sorted(set(names) - set(listed)), sorted(set(listed) - set(names))))
        failed = True

    bad_hash = []
    for name, digest in sorted(ARCHIVE_SHA256.items()):
        path = os.path.join(directory, name)
        if not os.path.exists(path) or hashlib.sha256(open(path, "rb").read()).hexdigest() != digest:
            bad_hash.append(name)
    if bad_hash:
        failed = True
    print("%d files, %d listed in MANIFEST.tsv, archive SHA-256 of the 3.1.1 messages: %s"
          % (len(names), len(listed), "ok (%d)" % len(ARCHIVE_SHA256) if not bad_hash else "DIFFERS for " + ", ".join(bad_hash)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Certificates for the tests' TLS bots, made in a test's tmp dir with the openssl command line: a self-signed CA and
server certificates it signs, for a DNS name or an IP address."""

import os
import ssl
import subprocess


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60)
    assert p.returncode == 0, "openssl %s failed: %s" % (" ".join(args), p.stderr.decode(errors="replace"))


def make_ca(tmp, name):
    """A self-signed CA: returns (cert path, key path)."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=%s test CA" % name,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=tmp)
    return os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")


def make_server_cert(tmp, name, ca, dns=None, ip=None):
    """A server certificate for DNS name `dns` or IP address `ip` (only that one) signed by ca: returns (cert, key)."""
    san = "DNS:%s" % dns if dns else "IP:%s" % ip
    with open(os.path.join(tmp, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % san)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % (dns or ip), cwd=tmp)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca[0], "-CAkey", ca[1], "-set_serial", "2", "-days", "2",
            "-out", name + ".pem", "-extfile", name + ".ext", cwd=tmp)
    return os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")


def server_context(tmp, ip="127.0.0.1"):
    """A TLS server context for a certificate of IP address ip from a new CA: returns (context, CA cert path)."""
    ca = make_ca(tmp, "ca")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*make_server_cert(tmp, "bot", ca, ip=ip))
    return ctx, ca[0]

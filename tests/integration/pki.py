"""Certificates for the tests' TLS bots, made in a test's tmp dir with the openssl command line: a self-signed CA and
server certificates it signs, for a DNS name or an IP address, valid from now for two days or for given dates."""

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


def make_server_cert(tmp, name, ca, dns=None, ip=None, dates=None):
    """A server certificate for DNS name `dns` or IP address `ip` (only that one) signed by ca: returns (cert, key).
    dates=(not_before, not_after) as YYYYMMDDHHMMSSZ gives it that validity (in the past for an expired one)
    instead of two days from now."""
    san = "DNS:%s" % dns if dns else "IP:%s" % ip
    with open(os.path.join(tmp, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % san)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % (dns or ip), cwd=tmp)
    if dates:
        _sign_with_dates(tmp, name, ca, dates)
    else:
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca[0], "-CAkey", ca[1], "-set_serial", "2",
                "-days", "2", "-out", name + ".pem", "-extfile", name + ".ext", cwd=tmp)
    return os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")


def _sign_with_dates(tmp, name, ca, dates):
    """Signs name.csr with ca for the given validity: `openssl x509 -req` only counts days from now, `openssl ca`
    takes both dates, with a throwaway database of its own."""
    with open(os.path.join(tmp, name + ".ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = %s.index\nnew_certs_dir = .\n"
                "serial = %s.serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
                "[any]\ncommonName = supplied\n" % (name, name))
    open(os.path.join(tmp, name + ".index"), "w").close()
    with open(os.path.join(tmp, name + ".serial"), "w") as f:
        f.write("02\n")
    openssl("ca", "-batch", "-config", name + ".ca.cnf", "-cert", ca[0], "-keyfile", ca[1], "-in", name + ".csr",
            "-out", name + ".pem", "-startdate", dates[0], "-enddate", dates[1], "-extfile", name + ".ext",
            "-notext", cwd=tmp)


def server_context(tmp, ip="127.0.0.1"):
    """A TLS server context for a certificate of IP address ip from a new CA: returns (context, CA cert path)."""
    ca = make_ca(tmp, "ca")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*make_server_cert(tmp, "bot", ca, ip=ip))
    return ctx, ca[0]

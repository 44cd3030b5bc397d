#!/usr/bin/env python3
"""The certificate reader (src/core/cert.c) and its X.509 summary against the openssl command.

Usage: cert.py CERTTOOL   (tests/helpers/certtool; prints TAP)

Certificates are made at test time with `openssl req` / `openssl x509` / `openssl ca`: RSA-2048,
ECDSA P-256 (with a UTF-8 subject), Ed25519 leaves, a chain root (P-384) -> intermediate ->
leaf, an expired certificate, and one with enough subjectAltNames to fill more than two TLS
records. Every field of the summary is compared with what `openssl x509 -noout -fingerprint
-sha256 -subject -issuer -serial -dates -ext subjectAltName -nameopt RFC2253` (and -sha1,
-text) prints of the same file; nothing is hard-coded.

Streams: built here around those certificates (ServerHello and Certificate in one record,
the Certificate split across records, one-byte records, random record sizes), and captured
from `openssl s_server -no_tls1_3` on 127.0.0.1 answering a JARM ClientHello; each is fed to
the reader at once, byte by byte and in random chunks, with identical results. A TLS
1.3-only s_server gives "tls13". Hostile streams (lying lengths, endless records, truncated
DER, ...) give the right reason within the byte limit. Servers are stopped by PID.
"""
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "loopback"))
import harness  # noqa: E402

TOOL = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
tap = harness.Tap()


# ---- openssl ----------------------------------------------------------------------------

def ossl(*args, cwd=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True,
                          cwd=cwd).stdout


def write(path, data):
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    return path


def make_certs(tmp):
    """name -> dict(pem, key, chain (PEM files after the leaf), ders (leaf first))."""
    j = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    certs = {}

    def selfsigned(name, keyopts, subj, ext=None, utf8=False):
        args = ["req", "-x509", "-nodes", "-days", "30", "-subj", subj, "-keyout",
                j(name + ".key"), "-out", j(name + ".pem")] + keyopts
        if utf8:
            args.append("-utf8")
        if ext:
            args += ["-addext", ext]
        ossl(*args)
        certs[name] = {"pem": j(name + ".pem"), "key": j(name + ".key"), "chain": []}

    selfsigned("rsa", ["-newkey", "rsa:2048"], "/C=DE/O=Acme, Inc./OU=R+D \"Lab\"/CN=rsa.test",
               "subjectAltName=DNS:rsa.test,DNS:*.rsa.test,IP:127.0.0.1,IP:::1")
    selfsigned("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
               "/CN=\u00fcnic\u00f6de.test/O=J\u00e4rm", "subjectAltName=DNS:ec.test", utf8=True)
    selfsigned("ed25519", ["-newkey", "ed25519"], "/CN=ed25519.test")

    # A chain: root (P-384) -> intermediate (RSA) -> leaf (P-256), serials chosen by openssl.
    write(j("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n")
    write(j("leaf.ext"), "basicConstraints=CA:FALSE\nsubjectAltName=DNS:leaf.test,"
                         "DNS:www.leaf.test,IP:10.0.0.1\n")
    ossl("req", "-x509", "-nodes", "-days", "60", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-384", "-subj", "/CN=Test Root/O=Jarm", "-keyout", j("root.key"),
         "-out", j("root.pem"))
    ossl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=Test Intermediate/O=Jarm",
         "-keyout", j("inter.key"), "-out", j("inter.csr"))
    ossl("x509", "-req", "-in", j("inter.csr"), "-CA", j("root.pem"), "-CAkey", j("root.key"),
         "-CAcreateserial", "-days", "40", "-extfile", j("ca.ext"), "-out", j("inter.pem"))
    ossl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj",
         "/CN=leaf.test", "-keyout", j("leaf.key"), "-out", j("leaf.csr"))
    ossl("x509", "-req", "-in", j("leaf.csr"), "-CA", j("inter.pem"), "-CAkey", j("inter.key"),
         "-CAcreateserial", "-days", "20", "-sha384", "-extfile", j("leaf.ext"),
         "-out", j("leaf.pem"))
    certs["chain"] = {"pem": j("leaf.pem"), "key": j("leaf.key"), "chain": [j("inter.pem")]}
    certs["root"] = {"pem": j("root.pem"), "key": j("root.key"), "chain": []}

    # Expired: `openssl ca` takes explicit dates.
    os.makedirs(j("ca"))
    write(j("ca", "index.txt"), "")
    write(j("ca", "serial"), "7f01\n")
    write(j("ca.cnf"), f"""[ca]
default_ca = d
[d]
database = {j("ca", "index.txt")}
new_certs_dir = {j("ca")}
serial = {j("ca", "serial")}
default_md = sha256
policy = p
[p]
commonName = supplied
""")
    ossl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=expired.test",
         "-keyout", j("expired.key"), "-out", j("expired.csr"))
    ossl("ca", "-batch", "-notext", "-config", j("ca.cnf"), "-selfsign", "-keyfile",
         j("expired.key"), "-in", j("expired.csr"), "-startdate", "20200101000000Z",
         "-enddate", "20200301120000Z", "-out", j("expired.pem"))
    certs["expired"] = {"pem": j("expired.pem"), "key": j("expired.key"), "chain": []}

    # About 40 KB of subjectAltNames: the Certificate message fills three TLS records.
    names = ",".join(f"DNS:host-{i:04d}.many-sans.example" for i in range(1400))
    write(j("many.cnf"), "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName="
          + names + ",IP:192.0.2.7,IP:2001:db8::7\n")
    ossl("req", "-x509", "-nodes", "-days", "30", "-newkey", "rsa:2048", "-subj", "/CN=many.test",
         "-config", j("many.cnf"), "-extensions", "ext", "-keyout", j("many.key"),
         "-out", j("many.pem"))
    certs["many_sans"] = {"pem": j("many.pem"), "key": j("many.key"), "chain": []}

    for c in certs.values():
        c["ders"] = [ossl("x509", "-in", p, "-outform", "DER") for p in [c["pem"]] + c["chain"]]
    return certs


def iso(openssl_date):
    t = time.strptime(openssl_date.replace(" GMT", ""), "%b %d %H:%M:%S %Y")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def norm_san(v):
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


def expected(pem, chain_len):
    """The summary's fields as the openssl command prints them."""
    out = ossl("x509", "-in", pem, "-noout", "-fingerprint", "-sha256", "-subject", "-issuer",
               "-serial", "-dates", "-ext", "subjectAltName", "-nameopt", "RFC2253").decode()
    want = {"san": [], "chain_len": chain_len}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        key, _, val = line.partition("=")
        if key == "sha256 Fingerprint":
            want["sha256"] = val.replace(":", "").lower()
        elif key in ("subject", "issuer"):
            want[key] = val
        elif key == "serial":
            want["serial"] = val.lower()
        elif key == "notBefore":
            want["not_before"] = iso(val)
        elif key == "notAfter":
            want["not_after"] = iso(val)
        elif line.startswith("X509v3 Subject Alternative Name"):
            for item in lines[i + 1].strip().split(", "):
                kind, _, v = item.partition(":")
                if kind in ("DNS", "IP Address"):
                    want["san"].append(norm_san(v))
    sha1 = ossl("x509", "-in", pem, "-noout", "-fingerprint", "-sha1").decode().strip()
    want["sha1"] = sha1.partition("=")[2].replace(":", "").lower()
    text = ossl("x509", "-in", pem, "-noout", "-text").decode()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Signature Algorithm:") and "sig_alg" not in want:
            want["sig_alg"] = line.partition(": ")[2]
        elif line.startswith("Public Key Algorithm:"):
            alg = line.partition(": ")[2]
        elif line.startswith("Public-Key: ("):
            bits = line.split("(")[1].split()[0]
        elif line.startswith("NIST CURVE:"):
            curve = line.partition(": ")[2]
    if alg == "rsaEncryption":
        want["key"] = "rsa-" + bits
    elif alg == "id-ecPublicKey":
        want["key"] = "ec-" + curve.replace("-", "").lower()
    else:
        want["key"] = alg.lower()
    verify = subprocess.run(["openssl", "verify", "-no_check_time", "-CAfile", pem, pem],
                            capture_output=True)
    want["self_signed"] = want["subject"] == want["issuer"] and verify.returncode == 0
    return want


# ---- the tool ---------------------------------------------------------------------------

def tool(*args):
    r = subprocess.run([TOOL, *args], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"certtool {' '.join(args)}: exit {r.returncode}: {r.stderr!r}")
    return r.stdout.decode()


def parse_stream(path, max_bytes=None):
    """Feed path at once, byte by byte and in random chunks: (status dict, summaries, same)."""
    outs = []
    for split in ("all", "1", "rand:7", "rand:12345"):
        args = ["stream", "-s", split] + (["-m", str(max_bytes)] if max_bytes else []) + [path]
        outs.append(tool(*args))
    lines = outs[0].splitlines()
    head = lines[0].split()
    st = {head[i]: head[i + 1] for i in range(0, len(head), 2)}
    for k in ("pos", "count", "cap"):
        st[k] = int(st[k])
    certs = [json.loads(x) if x.startswith("{") else x for x in lines[1:]]
    return st, certs, all(o == outs[0] for o in outs)


def compare(name, got, want):
    if not isinstance(got, dict):
        tap.ok(False, f"{name}: the certificate parses", got)
        return
    got = dict(got, san=[norm_san(s) for s in got["san"]])
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    tap.ok(not bad and set(got) == set(want), f"{name}: every field equals openssl's",
           "\n".join(f"{k}: got {g!r}, openssl {w!r}" for k, (g, w) in bad.items())
           or f"keys {sorted(got)} vs {sorted(want)}")


# ---- TLS streams ------------------------------------------------------------------------

def u16(n):
    return n.to_bytes(2, "big")


def u24(n):
    return n.to_bytes(3, "big")


def record(kind, payload, version=b"\x03\x03"):
    return bytes([kind]) + version + u16(len(payload)) + payload


def frame(kind, data, sizes):
    """data in records of the given sizes (an int, or a list cycled)."""
    sizes = sizes if isinstance(sizes, list) else [sizes]
    out, at, i = b"", 0, 0
    while at < len(data):
        n = sizes[i % len(sizes)]
        out += record(kind, data[at:at + n])
        at += n
        i += 1
    return out


def handshake(kind, body):
    return bytes([kind]) + u24(len(body)) + body


def server_hello(version=None, sid=b""):
    exts = b"\xff\x01" + u16(1) + b"\x00"
    if version is not None:
        exts += b"\x00\x2b" + u16(2) + version
    body = b"\x03\x03" + bytes(range(32)) + bytes([len(sid)]) + sid + b"\xc0\x2f\x00" + u16(
        len(exts)) + exts
    return handshake(2, body)


def certificate(ders):
    lst = b"".join(u24(len(d)) + d for d in ders)
    return handshake(11, u24(len(lst)) + lst)


TAIL = handshake(12, b"\x03\x00\x17\x41" + bytes(65) + b"\x04\x01" + u16(4) + b"abcd") + \
    handshake(14, b"")


def layouts(ders):
    sh, cm = server_hello(), certificate(ders)
    rng = random.Random(len(cm))
    return {
        "full records, several messages each": frame(22, sh + cm + TAIL, 16384),
        "Certificate split across records": record(22, sh) + frame(22, cm + TAIL, [500, 7, 3000]),
        "one-byte records": frame(22, sh + cm + TAIL, 1),
        "random record sizes": frame(22, sh + cm + TAIL,
                                     [rng.randint(1, 16384) for _ in range(64)]),
    }


# ---- s_server ---------------------------------------------------------------------------

def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(p[1] == want and p[3] == "0A" for p in (x.split() for x in f.readlines()[1:]))


def capture(c, version_opts, probe, tmp, name):
    """Start s_server with certificate c, send ClientHello `probe`, return the reply bytes."""
    port = harness.free_port()
    cmd = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", c["pem"], "-key",
           c["key"], "-quiet", "-naccept", "1"] + version_opts
    if c["chain"]:
        cmd += ["-cert_chain", c["chain"][0]]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not listening(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        hello = subprocess.run([TOOL, "hello", str(probe), "localhost"], capture_output=True,
                               check=True).stdout
        data = b""
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(hello)
            s.settimeout(1.0)
            end = time.monotonic() + 10
            while time.monotonic() < end and len(data) < 1 << 20:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break  # s_server waits for the client's next flight
                if not chunk:
                    break
                data += chunk
        return write(os.path.join(tmp, name + ".stream"), data)
    finally:
        proc.kill()
        proc.wait()


# ---- the tests --------------------------------------------------------------------------

def test_certs(certs, tmp):
    for name, c in certs.items():
        wants = [expected(p, len(c["ders"])) for p in [c["pem"]] + c["chain"]]
        got = tool("der", write(os.path.join(tmp, name + ".der"), c["ders"][0]))
        compare(f"{name} DER", dict(json.loads(got), chain_len=len(c["ders"])), wants[0])
        if name not in ("root",):
            for lname, data in layouts(c["ders"]).items():
                path = write(os.path.join(tmp, "s.bin"), data)
                limit = None
                if len(data) > 65536:  # one-byte records: six stream bytes per DER byte
                    st, _, _ = parse_stream(path)
                    tap.eq(st["status"], "too_big", f"{name}, {lname}: {len(data)} bytes "
                           "are more than the default limit")
                    limit = len(data)
                st, got, same = parse_stream(path, limit)
                ok = tap.ok(same, f"{name}, {lname}: same result at once, byte by byte, in chunks")
                ok &= tap.ok(st["status"] == "found" and st["count"] == len(c["ders"]),
                             f"{name}, {lname}: found {len(c['ders'])} certificate(s)", st)
                if ok:
                    for i, w in enumerate(wants):
                        compare(f"{name}, {lname}, certificate {i}", got[i], w)
    tap.ok(len(certificate(certs["many_sans"]["ders"])) > 2 * 16384,
           "many_sans: the Certificate message needs more than two full records")
    return certs


def test_hostile(certs, tmp):
    leaf = certs["rsa"]["ders"][0]
    sh, cm = server_hello(), certificate([leaf])
    body = cm[4:]

    def run(desc, data, status, max_bytes=None, count=None, check=None):
        st, got, same = parse_stream(write(os.path.join(tmp, "h.bin"), data), max_bytes)
        limit = max_bytes or 65536
        ok = tap.ok(same, f"{desc}: same result whatever the cut")
        ok &= tap.ok(st["status"] == status, f"{desc}: {status}", st)
        tap.ok(st["pos"] <= limit and st["cap"] <= limit,
               f"{desc}: read {st['pos']} bytes, buffer {st['cap']} <= {limit}")
        if count is not None:
            tap.eq(st["count"], count, f"{desc}: {count} certificate(s)")
        if check is not None and ok:
            check(st, got)

    run("TLS 1.3 ServerHello (supported_versions 0304)",
        record(22, server_hello(b"\x03\x04")) + record(23, bytes(100)), "tls13")
    run("TLS 1.3 draft ServerHello (7f1c)", record(22, server_hello(b"\x7f\x1c")), "tls13")
    run("TLS 1.2 in supported_versions", record(22, server_hello(b"\x03\x03") + cm), "found",
        count=1)
    run("Certificate length lies (longer), then EOF",
        record(22, sh) + frame(22, b"\x0b" + u24(len(body) + 1000) + body, 1000), "truncated")
    run("Certificate length lies (16 MB)", record(22, sh + b"\x0b\xff\xff\xff" + body),
        "too_big", check=lambda st, g: tap.ok(st["pos"] < 200, "16 MB: decided at its header"))
    run("Certificate length lies (shorter)",
        record(22, sh + b"\x0b" + u24(len(body) - 10) + body), "malformed")
    run("certificate_list length lies",
        record(22, sh + handshake(11, u24(len(body) - 2) + body[3:])), "malformed")
    run("certificate entry length lies",
        record(22, sh + handshake(11, body[:3] + u24(len(leaf) + 1) + leaf)), "malformed")
    endless = record(22, sh + b"\x0b" + u24(60000)) + record(22, b"A") * 200000
    run("endless one-byte records of a 60000-byte message", endless, "too_big")
    run("endless empty handshake records", record(22, sh) + record(22, b"") * 100000, "too_big",
        check=lambda st, g: tap.eq(st["pos"], 65536, "empty records: stops at 65536 bytes"))
    run("endless records, max 1000", endless, "too_big", max_bytes=1000)
    run("a certificate larger than max 500", record(22, sh + cm), "too_big", max_bytes=500)
    run("record length over 2^14 + 2048", record(22, sh + cm)[:3] + b"\xff\xff" + sh, "malformed")
    run("truncated DER (consistent lengths)",
        record(22, sh + certificate([leaf[:len(leaf) // 2]])), "found", count=1,
        check=lambda st, g: tap.eq(g, ["error EFORMAT"], "truncated DER: an error, no crash"))
    run("DER with trailing bytes", record(22, sh + certificate([leaf + b"\x00"])), "found",
        check=lambda st, g: tap.eq(g, ["error EFORMAT"], "trailing bytes: an error"))
    run("garbage certificate then a good one", record(22, sh + certificate([b"\x30\x00", leaf])),
        "found", count=2,
        check=lambda st, g: tap.ok(g[0] == "error EFORMAT" and isinstance(g[1], dict)
                                   and g[1]["chain_len"] == 2, "the second still parses", g))
    run("one-byte records, cut after the Certificate", frame(22, sh + cm, 1)[:-6], "truncated")
    run("alert before the certificate", record(22, sh) + record(21, b"\x02\x28"), "alert")
    run("alert first", record(21, b"\x02\x28"), "alert")
    run("not TLS", b"HTTP/1.1 400 Bad Request\r\n\r\n", "not_tls")
    run("SSLv2-looking first record", b"\x16\x02\x00\x00\x10" + bytes(16), "not_tls")
    run("no Certificate (ServerKeyExchange first)", record(22, sh + TAIL), "no_certificate")
    run("empty certificate list", record(22, sh + handshake(11, u24(0))), "no_certificate")
    run("ChangeCipherSpec after the ServerHello", record(22, sh) + record(20, b"\x01"),
        "no_certificate")
    run("Certificate without ServerHello", record(22, cm), "no_server_hello")
    run("ServerHello with lying extensions length",
        record(22, sh[:-7] + u16(50) + sh[-5:]), "malformed")
    run("ServerHello with a 33-byte session id", record(22, server_hello(sid=bytes(33))),
        "malformed")
    run("ServerHello shorter than 38 bytes", record(22, handshake(2, bytes(37))), "malformed")
    run("application data inside a message",
        record(22, sh + cm[:100]) + record(23, b"x") + record(22, cm[100:]), "malformed")
    run("EOF after the ServerHello", record(22, sh), "truncated")
    run("nothing at all", b"", "truncated")


def test_servers(certs, tmp):
    for name, c in certs.items():
        if name == "root":
            continue
        path = capture(c, ["-no_tls1_3"], 0, tmp, name)
        st, got, same = parse_stream(path)
        tap.ok(same, f"s_server {name}: same result at once, byte by byte, in chunks")
        if name == "ed25519":
            # The JARM probes offer no Ed25519 signature scheme, so a TLS 1.2 server whose
            # only certificate is Ed25519 refuses them with a handshake_failure alert.
            tap.ok(st["status"] == "alert", "s_server ed25519 (TLS 1.2): alert", st)
            continue
        if not tap.ok(st["status"] == "found" and st["count"] == len(c["ders"]),
                      f"s_server {name} (TLS 1.2): {len(c['ders'])} certificate(s)", st):
            continue
        for i, p in enumerate([c["pem"]] + c["chain"]):
            compare(f"s_server {name}, certificate {i}", got[i], expected(p, len(c["ders"])))
    path = capture(certs["rsa"], ["-tls1_3"], 6, tmp, "tls13")
    st, _, same = parse_stream(path)
    tap.ok(same and st["status"] == "tls13", "s_server -tls1_3: tls13", st)


def main():
    if TOOL is None:
        sys.stderr.write("usage: cert.py CERTTOOL\n")
        return 2
    if shutil.which("openssl") is None:
        tap.skip_all("openssl not installed")
    with tempfile.TemporaryDirectory(prefix="jarm-cert-") as tmp:
        certs = make_certs(tmp)
        test_certs(certs, tmp)
        test_hostile(certs, tmp)
        test_servers(certs, tmp)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

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
from certkit import (write, make_certs, expected, norm_san, u16, u24,  # noqa: E402
                     record, frame, handshake, server_hello, certificate)

TOOL = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
tap = harness.Tap()


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

#!/usr/bin/env python3
"""jarmsweep --cert against hostile servers: bounded time and memory, one row, the right JARM.

Each server is a python thread pool on 127.0.0.1 (a free port) that answers every probe
connection the same way: it reads the ClientHello record, sends one TLS 1.2 ServerHello
(cipher c02f), then misbehaves in its own way after it:

  lying_long_close   a Certificate message whose length says 1000 bytes more than follow,
                     then FIN                                     -> cert_error truncated
  lying_long_hold    the same, and the connection stays open      -> truncated at the deadline
  lying_16mb         a Certificate message of 16 MB announced (and the connection held)
                                                                   -> too_big, at once
  lying_short        a length 10 bytes shorter than the message   -> malformed
  endless_records    a 60000-byte Certificate announced, then one-byte records as fast as
                     the socket takes them, forever                -> too_big (64 KiB read)
  endless_empty      empty handshake records forever              -> too_big
  truncated_der      consistent lengths around half a DER certificate -> bad_der
  one_byte_records   a real certificate, every byte in its own record -> cert, equal to openssl
  trickle            one byte every 50 ms, forever                -> truncated at the deadline
  alert_after_hello  a fatal alert after the ServerHello          -> alert
  appdata_after_hello  application data after the ServerHello     -> no_certificate

For each: jarmsweep --cert gives exactly one row, status ok, the same jarm and raw as a run
without --cert, the cert_error (or cert) above, within about one timeout (the servers that
decide early well within it), and a peak RSS within 8 MiB of the run without --cert. All the
servers in one run: one row each within about one timeout. --cert-max 1000 on a normal
certificate gives too_big. Servers are threads of this script; nothing else is started.
"""
import os
import socketserver
import sys
import tempfile
import threading
import time

import certkit
import harness
from certkit import u16, u24, record, frame, handshake, server_hello, certificate

T = 3  # -t: seconds per connection
RSS_SLACK_KIB = 8192
SH = record(22, server_hello())


def gen_lying_long(body):
    return [SH + record(22, b"\x0b" + u24(len(body) + 1000) + body)]


def endless(chunk):
    while True:
        yield chunk


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(10)
        try:
            hdr = b""
            while len(hdr) < 5:
                b = s.recv(5 - len(hdr))
                if not b:
                    return
                hdr += b
            need = int.from_bytes(hdr[3:5], "big")
            while need > 0:
                b = s.recv(min(need, 65536))
                if not b:
                    return
                need -= len(b)
            case = self.server.case
            for piece in case["send"]():
                if isinstance(piece, float):
                    time.sleep(piece)
                else:
                    s.sendall(piece)
            if case.get("hold"):
                while s.recv(65536):  # until the scanner closes
                    pass
        except OSError:
            pass  # the scanner closed: the end of every endless sender


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start(case):
    srv = Server(("127.0.0.1", 0), Handler)
    srv.case = case
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def cases(leaf):
    body = certificate([leaf])[4:]
    half = certificate([leaf[:len(leaf) // 2]])

    def trickle():
        yield SH
        # A record of 16384 bytes that opens a 60000-byte Certificate message, one byte
        # every 50 ms: it never ends within the timeout.
        yield b"\x16\x03\x03" + u16(16384) + b"\x0b" + u24(60000)
        for b in endless(b"\x00"):
            yield b
            yield 0.05

    return {
        "lying_long_close": dict(send=lambda: gen_lying_long(body), want="truncated"),
        "lying_long_hold": dict(send=lambda: gen_lying_long(body), hold=True, want="truncated",
                                slow=True),
        "lying_16mb": dict(send=lambda: [SH + record(22, b"\x0b\xff\xff\xff" + body)],
                           hold=True, want="too_big"),
        "lying_short": dict(send=lambda: [SH + record(22, b"\x0b" + u24(len(body) - 10) + body)],
                            want="malformed"),
        "endless_records": dict(send=lambda: (x for gen in (
            [SH + record(22, b"\x0b" + u24(60000))], endless(record(22, b"A") * 10000))
            for x in gen), want="too_big"),
        "endless_empty": dict(send=lambda: (x for gen in (
            [SH], endless(record(22, b"") * 10000)) for x in gen), want="too_big"),
        "truncated_der": dict(send=lambda: [SH + record(22, half)], want="bad_der"),
        "one_byte_records": dict(send=lambda: [SH + frame(22, certificate([leaf]), 1)],
                                want="cert"),
        "trickle": dict(send=trickle, want="truncated", slow=True),
        "alert_after_hello": dict(send=lambda: [SH + record(21, b"\x02\x28")], want="alert"),
        "appdata_after_hello": dict(send=lambda: [SH + record(23, bytes(64))],
                                    want="no_certificate"),
    }


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    with tempfile.TemporaryDirectory(prefix="jarm-certh-") as tmp:
        certkit.ossl("req", "-x509", "-nodes", "-days", "5", "-newkey", "rsa:2048", "-subj",
                     "/O=Hostile Test/CN=hostile.test", "-addext",
                     "subjectAltName=DNS:hostile.test", "-keyout", os.path.join(tmp, "k.pem"),
                     "-out", os.path.join(tmp, "c.pem"))
        pem = os.path.join(tmp, "c.pem")
        leaf = certkit.ossl("x509", "-in", pem, "-outform", "DER")
        want_cert = certkit.expected(pem, 1)
        all_cases = cases(leaf)
        servers = {name: start(case) for name, case in all_cases.items()}
        try:
            ports = {name: srv.server_address[1] for name, srv in servers.items()}
            for name, case in all_cases.items():
                target = f"127.0.0.1:{ports[name]}"
                a = harness.run(args.jarmsweep, ["-q", "-t", T, "--cert", target],
                                timeout=60, measure_rss=True)
                b = harness.run(args.jarmsweep, ["-q", "-t", T, target], timeout=60,
                                measure_rss=True)
                row, row0 = a.row, b.row
                tap.ok(a.rc == 0 and len(a.rows) == 1 and not a.bad_lines and b.rc == 0
                       and len(b.rows) == 1, f"{name}: exit 0, exactly one row",
                       f"{a.describe()}\n{b.describe()}")
                tap.ok(row.get("status") == "ok" and row.get("jarm") == row0.get("jarm")
                       and row.get("raw") == row0.get("raw") and row.get("jarm") != harness.ZEROS,
                       f"{name}: status ok, the same jarm and raw as without --cert",
                       f"{row.get('jarm')} / {row0.get('jarm')}")
                if case["want"] == "cert":
                    got = row.get("cert") or {}
                    got = dict(got, san=[certkit.norm_san(x) for x in got.get("san", [])])
                    tap.ok("cert_error" not in row and all(
                        got.get(k) == v for k, v in want_cert.items()),
                        f"{name}: every cert field equals openssl's",
                        {k: (got.get(k), v) for k, v in want_cert.items() if got.get(k) != v})
                else:
                    tap.ok(row.get("cert_error") == case["want"] and "cert" not in row,
                           f"{name}: cert_error {case['want']}",
                           {k: row.get(k) for k in ("cert", "cert_error")})
                one = a.rc == 0 and len(a.rows) == 1
                if case.get("slow"):
                    tap.ok(one and a.wall <= T + harness.SLACK + 1,
                           f"{name}: done within the timeout ({a.wall:.2f}s, -t {T})")
                else:
                    tap.ok(one and a.wall < T, f"{name}: decided before the timeout "
                           f"({a.wall:.2f}s, -t {T})")
                if a.maxrss_kib is not None and b.maxrss_kib is not None:
                    tap.ok(one and a.maxrss_kib <= b.maxrss_kib + RSS_SLACK_KIB,
                           f"{name}: peak RSS {a.maxrss_kib} KiB, without --cert "
                           f"{b.maxrss_kib} KiB")
                else:
                    tap.skip(f"{name}: peak RSS", "GNU time not installed")

            # All of them in one run: one row each, all within about one timeout.
            targets = [f"127.0.0.1:{p}" for p in ports.values()]
            a = harness.run(args.jarmsweep, ["-q", "-t", T, "--cert", *targets], timeout=60)
            got = {r.get("port"): r for r in a.rows}
            tap.ok(a.rc == 0 and len(a.rows) == len(ports) and set(got) == set(ports.values()),
                   f"all {len(ports)} hostile servers in one run: one row each", a.describe())
            tap.ok(a.rc == 0 and a.wall <= T + harness.SLACK + 1,
                   f"all in one run: within about one timeout ({a.wall:.2f}s, -t {T})")
            tap.ok(all((got.get(p, {}).get("cert_error") or "cert") == all_cases[n]["want"]
                       for n, p in ports.items()), "all in one run: each row's cert_error",
                   {n: got.get(p, {}).get("cert_error") for n, p in ports.items()})

            p = ports["one_byte_records"]
            a = harness.run(args.jarmsweep, ["-q", "-t", T, "--cert", "--cert-max", "1000",
                                             f"127.0.0.1:{p}"], timeout=60)
            tap.ok(a.row.get("cert_error") == "too_big" and a.wall < T,
                   "one_byte_records, --cert-max 1000: too_big before the timeout",
                   a.describe())
        finally:
            for srv in servers.values():
                srv.shutdown()
                srv.server_close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

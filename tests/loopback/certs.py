#!/usr/bin/env python3
"""jarmsweep --cert end to end: the server's certificate taken from the JARM probes.

Real servers on 127.0.0.1 (free ports), all started by this script and stopped by PID:
  - `openssl s_server` (default protocol settings) with each certificate of certkit.py:
    RSA-2048, ECDSA P-256 with a UTF-8 subject, Ed25519 (the probes offer no Ed25519
    signature scheme, so every probe is refused: cert_error "alert"), a leaf signed by an
    intermediate (-cert_chain: chain_len 2), an expired certificate, and one with about
    40 KB of subjectAltNames (its Certificate message spans three TLS records);
  - nginx with its own certificate (RSA-3072), when nginx is installed;
  - a TLS 1.3-only s_server (-tls1_3): cert_error "tls13";
  - the six `openssl s_server` configurations of vectors/captures.json (their
    server_command), and every capture replayed by tests/helpers/responder.
Every field of a row's "cert" equals what `openssl x509 -noout -fingerprint -sha256 (-sha1)
-subject -issuer -serial -dates -ext subjectAltName -nameopt RFC2253` (and -text for the key
and signature algorithm) prints of the same file; for the replayed captures the file is the
DER that this script reads out of the capture's bytes itself. Nothing is hard-coded.

With and without --cert, each server gets the same jarm, raw and status (and, for the
captures, the capture's fingerprint); CSV and jarm-json output are unchanged by --cert; rows
without --cert have neither cert nor cert_error. --cert-max below the message gives
"too_big" with the same fingerprint. --match lists with cert-sha256 entries label rows by
certificate in match_cert.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import certkit
import harness

FIELDS = {"sha256", "sha1", "subject", "issuer", "serial", "not_before", "not_after", "san",
          "key", "sig_alg", "self_signed", "chain_len"}
T = 5  # -t for real servers


def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(p[1] == want and p[3] == "0A" for p in (x.split() for x in f.readlines()[1:]))


class Servers:
    """Server processes by name: (proc, port); stop() terminates them by PID."""

    def __init__(self, tmp):
        self.tmp, self.procs = tmp, {}

    def start(self, name, cmd_of_port):
        port = harness.free_port()
        proc = subprocess.Popen(cmd_of_port(port), cwd=self.tmp, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[name] = (proc, port)
        return port

    def wait(self, timeout=15):
        """Wait until every server listens; the names of those that do not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            late = [n for n, (proc, port) in self.procs.items() if not listening(port)]
            if not late or any(self.procs[n][0].poll() is not None for n in late):
                return late
            time.sleep(0.05)
        return [n for n, (proc, port) in self.procs.items() if not listening(port)]

    def port(self, name):
        return self.procs[name][1]

    def stop(self):
        for proc, _ in self.procs.values():
            harness.stop(proc)


def s_server(c, *opts):
    def cmd(port):
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-cert",
                c["pem"], "-key", c["key"], *opts]
        if c["chain"]:
            argv += ["-cert_chain", c["chain"][0]]
        return argv
    return cmd


def nginx(tmp, pem, key):
    return lambda port: harness.nginx_command(tmp, port, pem, key)


def scan(args, ports, extra=(), timeout=T):
    r = harness.run(args.jarmsweep, ["-q", "-t", timeout, *extra,
                                     *[f"127.0.0.1:{p}" for p in ports]], timeout=120)
    return r, {row.get("port"): row for row in r.rows}


def compare_cert(tap, desc, row, want):
    got = row.get("cert")
    if not tap.ok(isinstance(got, dict) and "cert_error" not in row,
                  f"{desc}: the row has cert and no cert_error",
                  {k: row.get(k) for k in ("status", "cert", "cert_error")}):
        return
    got = dict(got, san=[certkit.norm_san(s) for s in got.get("san", [])])
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    tap.ok(not bad and set(got) == FIELDS, f"{desc}: every cert field equals openssl's",
           "\n".join(f"{k}: got {g!r}, openssl {w!r}" for k, (g, w) in bad.items())
           or f"keys {sorted(got)}")


def same_fingerprints(tap, desc, a, b):
    keys = ("status", "jarm", "raw")
    tap.ok(all(a.get(k) == b.get(k) for k in keys) and a.get("jarm"),
           f"{desc}: same status, jarm and raw with and without --cert",
           "\n".join(f"{k}: {a.get(k)!r} / {b.get(k)!r}" for k in keys))


def lines_sorted(run):
    return sorted(run.out.decode(errors="replace").splitlines())


# ---- real servers ---------------------------------------------------------------------------

def test_real(args, tap, tmp, certs):
    srv = Servers(tmp)
    try:
        for name, c in certs.items():
            if name != "root":
                srv.start(name, s_server(c))
        srv.start("tls13", s_server(certs["rsa"], "-tls1_3"))
        have_nginx = shutil.which("nginx") is not None
        if have_nginx:
            certkit.ossl("req", "-x509", "-nodes", "-days", "10", "-newkey", "rsa:3072",
                         "-subj", "/O=Nginx Test/CN=nginx.test", "-addext",
                         "subjectAltName=DNS:nginx.test,IP:127.0.0.1", "-keyout",
                         os.path.join(tmp, "nginx.key"), "-out", os.path.join(tmp, "nginx.pem"))
            srv.start("nginx", nginx(tmp, os.path.join(tmp, "nginx.pem"),
                                     os.path.join(tmp, "nginx.key")))
        late = srv.wait()
        tap.ok(not late, "every server listens", f"not listening: {late}")
        names = list(srv.procs)
        ports = [srv.port(n) for n in names]

        with_cert, rows = scan(args, ports, ["--cert"])
        without, rows0 = scan(args, ports)
        for desc, r, rr in (("--cert", with_cert, rows), ("without --cert", without, rows0)):
            tap.ok(r.rc == 0 and len(r.rows) == len(ports) and set(rr) == set(ports)
                   and not r.bad_lines, f"{desc}: exit 0, one row per server", r.describe())
        tap.ok(not any("cert" in row or "cert_error" in row for row in rows0.values()),
               "without --cert: no row has cert or cert_error")

        for name in names:
            port = srv.port(name)
            row, row0 = rows.get(port, {}), rows0.get(port, {})
            same_fingerprints(tap, name, row, row0)
            if name == "ed25519":
                tap.ok(row.get("cert_error") == "alert" and "cert" not in row,
                       "ed25519: every probe refused (no Ed25519 scheme offered): cert_error "
                       "alert", row)
            elif name == "tls13":
                tap.ok(row.get("cert_error") == "tls13" and "cert" not in row,
                       "TLS 1.3-only s_server: cert_error tls13", row)
            elif name == "nginx":
                compare_cert(tap, "nginx", row,
                             certkit.expected(os.path.join(tmp, "nginx.pem"), 1))
            else:
                c = certs[name]
                compare_cert(tap, f"s_server {name}", row,
                             certkit.expected(c["pem"], len(c["ders"])))
        if not have_nginx:
            tap.skip("nginx: every cert field equals openssl's", "nginx not installed")
        # Each server three times in one run, interleaved: the later rows come from the scan's
        # cache of summaries (keyed by the leaf's hash and the chain's length), and each must
        # still be its own server's certificate, field for field.
        again = harness.run(args.jarmsweep, ["-q", "-t", T, "--cert", "-c", "4",
                                             *[f"127.0.0.1:{p}" for p in ports * 3]], timeout=120)
        wrong = [(row.get("port"), row.get("cert", row.get("cert_error")))
                 for row in again.rows
                 if (row.get("cert"), row.get("cert_error")) !=
                 (rows.get(row.get("port"), {}).get("cert"),
                  rows.get(row.get("port"), {}).get("cert_error"))]
        tap.ok(again.rc == 0 and len(again.rows) == 3 * len(ports) and not wrong,
               "each server three times in one run: every row has its own server's cert "
               "(summaries from the cache included)", f"{again.describe()}\n{wrong[:3]}")
        tap.eq(rows.get(srv.port("chain"), {}).get("cert", {}).get("chain_len"), 2,
               "chain: chain_len 2 (leaf and intermediate)")
        expired = rows.get(srv.port("expired"), {}).get("cert", {})
        tap.ok(expired.get("not_after", "9") < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "expired: not_after is in the past", expired.get("not_after"))
        many = certs["many_sans"]["ders"][0]
        tap.ok(len(certkit.certificate([many])) > 2 * 16384,
               f"many_sans: the Certificate message ({len(many)} bytes of DER) spans more "
               "than two TLS records")
        tap.ok(len(rows.get(srv.port("many_sans"), {}).get("cert", {}).get("san", [])) == 1402,
               "many_sans: all 1402 subjectAltNames")

        # Formats other than NDJSON are unchanged by --cert.
        for fmt in ("csv", "jarm-json"):
            a, _ = scan(args, ports, ["--cert", "-f", fmt])
            b, _ = scan(args, ports, ["-f", fmt])
            tap.ok(a.rc == 0 and lines_sorted(a) == lines_sorted(b)
                   and len(lines_sorted(a)) >= len(ports),
                   f"-f {fmt}: the same lines with and without --cert",
                   f"{a.describe()}\n{b.describe()}")

        # One probe at a time, as the reference: the same certificate and fingerprint.
        p = srv.port("rsa")
        r, rr = scan(args, [p], ["--cert", "--probe-parallel", "1"])
        same_fingerprints(tap, "--probe-parallel 1, rsa", rr.get(p, {}), rows0.get(p, {}))
        tap.eq(rr.get(p, {}).get("cert"), rows.get(p, {}).get("cert"),
               "--probe-parallel 1, rsa: the same cert object")

        # --cert-max: a message over the limit is too_big; the fingerprint does not move.
        p = srv.port("many_sans")
        r, rr = scan(args, [p], ["--cert", "--cert-max", "16384"])
        tap.ok(rr.get(p, {}).get("cert_error") == "too_big" and "cert" not in rr.get(p, {}),
               "many_sans, --cert-max 16384: cert_error too_big", r.describe())
        same_fingerprints(tap, "many_sans, --cert-max 16384", rr.get(p, {}), rows0.get(p, {}))
        p = srv.port("rsa")
        r, rr = scan(args, [p], ["--cert", "--cert-max", "100000"])
        tap.eq(rr.get(p, {}).get("cert"), rows.get(p, {}).get("cert"),
               "rsa, --cert-max 100000: the same cert object")
        r, rr = scan(args, [p], ["--cert-max", "100000"])
        tap.eq(rr.get(p, {}).get("cert"), rows.get(p, {}).get("cert"),
               "rsa, --cert-max 100000 alone implies --cert")

        test_match(args, tap, tmp, certs, srv, rows)
    finally:
        srv.stop()


def test_match(args, tap, tmp, certs, srv, rows):
    rsa_pem, ec_pem = certs["rsa"]["pem"], certs["ec"]["pem"]
    rsa = certkit.expected(rsa_pem, 1)["sha256"]
    colons = certkit.ossl("x509", "-in", ec_pem, "-noout", "-fingerprint", "-sha256") \
        .decode().strip().partition("=")[2]  # openssl's own form: upper case with colons
    jarm = rows.get(srv.port("rsa"), {}).get("jarm", "")
    lst = certkit.write(os.path.join(tmp, "c2.tsv"),
                        "fingerprint\tlabel\tsource\tnotes\tkind\n"
                        f"{rsa}\trsa test certificate\tthis test\t\tcert-sha256\n"
                        f"{colons}\tec test certificate\tthis test\topenssl's form\tcert-sha256\n"
                        f"{jarm}\trsa test server\tthis test\t\tjarm\n"
                        f"{'ab' * 32}\tnobody's certificate\tthis test\t\tcert-sha256\n")
    ports = [srv.port(n) for n in ("rsa", "ec", "chain", "tls13")]
    r, rr = scan(args, ports, ["--cert", "--match", lst])
    tap.ok(r.rc == 0 and len(r.rows) == 4, "--match with cert-sha256 entries: exit 0, 4 rows",
           r.describe())
    row = rr.get(srv.port("rsa"), {})
    tap.eq(row.get("match_cert"), ["rsa test certificate"],
           "--match: the rsa server matches by certificate (match_cert)")
    tap.ok("rsa test server" in (row.get("match") or [])
           and "rsa test certificate" not in (row.get("match") or []),
           "--match: the same list's jarm entry matches the fingerprint (match), the "
           "certificate entry does not", row.get("match"))
    tap.eq(rr.get(srv.port("ec"), {}).get("match_cert"), ["ec test certificate"],
           "--match: an entry in openssl's colon form matches the ec server")
    tap.eq(rr.get(srv.port("chain"), {}).get("match_cert"), [],
           "--match: a certificate in no list: match_cert []")
    tap.eq(rr.get(srv.port("tls13"), {}).get("match_cert"), [],
           "--match: no certificate (tls13): match_cert []")

    r = harness.run(args.jarmsweep, ["-t", T, "--match", lst, f"127.0.0.1:{srv.port('rsa')}"],
                    timeout=120)
    row = r.row
    tap.ok(r.rc == 0 and "match_cert" not in row and "rsa test server" in row.get("match", []),
           "--match without --cert: no match_cert, the jarm entry still matches", r.describe())
    tap.ok("--cert" in r.err_text, "--match without --cert: stderr says the certificate "
           "entries need --cert", r.err_text)

    bad_hex = certkit.write(os.path.join(tmp, "bad1.tsv"), f"{rsa}\tok\t\t\tcert-sha256\n"
                            "0123xyz\tbad\t\t\tcert-sha256\n")
    bad_kind = certkit.write(os.path.join(tmp, "bad2.tsv"), f"{rsa}\tok\t\t\tcertificate\n")
    short = certkit.write(os.path.join(tmp, "bad3.tsv"), f"{rsa[:62]}\tok\t\t\tcert-sha256\n")
    for path, line, what in ((bad_hex, 2, "bad certificate sha256 '0123xyz'"),
                             (bad_kind, 1, "bad kind 'certificate'"),
                             (short, 1, f"bad certificate sha256 '{rsa[:62]}'")):
        r = harness.run(args.jarmsweep, ["--cert", "--match", path, "127.0.0.1:1"])
        tap.ok(r.rc == 2 and r.out == b"" and f"{path}:{line}: {what}" in r.err_text,
               f"--match {os.path.basename(path)}: exit 2, '{path}:{line}: {what}'",
               r.describe())


# ---- captures.json: replayed, and the same s_server configurations live ----------------------

def capture_expect(cap, tmp):
    """What --cert must report for a capture's replies: ('cert', expected fields) from the
    first probe whose ServerHello selects TLS 1.2 or lower, or ('cert_error', word)."""
    replies = [bytes.fromhex(p["received_hex"]) if p["received_hex"] else b""
               for p in cap["probes"]]
    tls13 = False
    for i, data in enumerate(replies):
        ders, version = certkit.read_certificates(data)
        if version is not None and version >= 0x0304:
            tls13 = True
        elif version is not None:
            if not ders:
                return "cert_error", "truncated"
            pem = certkit.der_to_pem(ders[0], os.path.join(tmp, f"{cap['name']}.{i}.pem"))
            return "cert", certkit.expected(pem, len(ders))
    if tls13:
        return "cert_error", "tls13"
    first = next((d for d in replies if d), b"")
    if not first:
        return "cert_error", "no_server_hello"
    if first[0] == 21:
        return "cert_error", "alert"
    return "cert_error", "not_tls" if first[0] not in (20, 22, 23) else "malformed"


def test_captures(args, tap, tmp):
    caps = harness.captures(args.vectors)
    for name, cap in caps.items():
        silent = not any(p["received_hex"] for p in cap["probes"])
        t = 1 if silent else T
        if silent:
            resp = harness.Responder(args.responder, tmp, mode="silent")
        else:
            replies = harness.write_replies(os.path.join(tmp, name + ".replies"),
                                            harness.reply_lines(cap))
            resp = harness.Responder(args.responder, tmp, replies=replies)
        with resp:
            a, ra = scan(args, [resp.port], ["--cert"], timeout=t)
            b, rb = scan(args, [resp.port], timeout=t)
        row, row0 = ra.get(resp.port, {}), rb.get(resp.port, {})
        tap.ok(a.rc == 0 and b.rc == 0 and len(a.rows) == 1 and len(b.rows) == 1,
               f"replay {name}: one row each, exit 0", f"{a.describe()}\n{b.describe()}")
        tap.ok(row.get("jarm") == cap["fingerprint"] == row0.get("jarm")
               and row.get("raw") == row0.get("raw"),
               f"replay {name}: the capture's fingerprint with and without --cert",
               f"{row.get('jarm')} / {row0.get('jarm')} / {cap['fingerprint']}")
        kind, want = capture_expect(cap, tmp)
        if kind == "cert":
            compare_cert(tap, f"replay {name}", row, want)
        else:
            tap.ok(row.get("cert_error") == want and "cert" not in row,
                   f"replay {name}: cert_error {want}", row)


def test_capture_servers(args, tap, tmp):
    for name, opts in (("rsa", ["-newkey", "rsa:2048"]),
                       ("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        certkit.ossl("req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                     "-keyout", os.path.join(tmp, name + ".key"),
                     "-out", os.path.join(tmp, name + ".pem"), *opts)
    caps = {n: c for n, c in harness.captures(args.vectors).items()
            if c.get("server_kind") == "openssl s_server"}
    srv = Servers(tmp)
    try:
        for name, cap in caps.items():
            srv.start(name, lambda port, cap=cap: [a.replace("PORT", str(port))
                                                   for a in cap["server_command"]])
        late = srv.wait()
        tap.ok(not late, "captures.json's s_servers listen", f"not listening: {late}")
        ports = [srv.port(n) for n in caps]
        a, rows = scan(args, ports, ["--cert"])
        b, rows0 = scan(args, ports)
        tap.ok(a.rc == 0 and b.rc == 0 and len(a.rows) == len(b.rows) == len(caps),
               "captures.json's s_servers: one row each, with and without --cert",
               f"{a.describe()}\n{b.describe()}")
        for name, cap in caps.items():
            row, row0 = rows.get(srv.port(name), {}), rows0.get(srv.port(name), {})
            tap.ok(row.get("jarm") == cap["fingerprint"] == row0.get("jarm")
                   and row.get("raw") == row0.get("raw") == cap["raw"],
                   f"s_server {name}: the capture's fingerprint and raw with and without --cert",
                   f"{row.get('jarm')} / {row0.get('jarm')} / {cap['fingerprint']}")
            if "-tls1_3" in cap["server_command"]:
                tap.ok(row.get("cert_error") == "tls13", f"s_server {name}: cert_error tls13",
                       row)
            else:
                pem = os.path.join(tmp, cap["server_command"][cap["server_command"].index(
                    "-cert") + 1])
                compare_cert(tap, f"s_server {name}", row, certkit.expected(pem, 1))
    finally:
        srv.stop()


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    if shutil.which("openssl") is None:
        tap.skip_all("openssl not installed")
    help_text = harness.run(args.jarmsweep, ["--help"]).out.decode(errors="replace")
    tap.ok("--cert " in help_text and "--cert-max" in help_text and "cert_error" in help_text,
           "--help describes --cert, --cert-max and cert_error")
    for bad in ("0", "x", "16777217", "-5", ""):
        r = harness.run(args.jarmsweep, ["--cert", "--cert-max", bad, "127.0.0.1:1"])
        tap.ok(r.rc == 2 and r.out == b"" and r.err_text.startswith("jarmsweep: ")
               and r.err_text.count("\n") == 1 and "--cert-max" in r.err_text,
               f"--cert-max '{bad}': exit 2, one line on stderr", r.describe())
    with tempfile.TemporaryDirectory(prefix="jarm-certs-") as tmp:
        certs = certkit.make_certs(tmp)
        test_real(args, tap, tmp, certs)
        test_captures(args, tap, tmp)
        test_capture_servers(args, tap, tmp)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

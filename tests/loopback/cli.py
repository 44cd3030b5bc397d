#!/usr/bin/env python3
"""The jarmsweep command line: help, usage errors, output files and formats, target forms.

Contract: stdout carries only results; usage errors exit 2 with one line
`jarmsweep: ...` on stderr and nothing on stdout; runtime failures exit 1; `-f csv` writes the
reference's CSV line `host,ip,jarm`; `-f jarm-json` the reference's `-j -v` line. Scans go to
the responder on 127.0.0.1 replaying captures.json openssl_rsa_default.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import harness
from harness import SLACK

OPTIONS = [("-i", "--input"), ("-p", "--ports"), ("-o", "--output"), ("-f", "--format"),
           ("-c", "--concurrency"), (None, "--probe-parallel"), ("-t", "--timeout"),
           ("-r", "--rate"), (None, "--sni"), ("-q", "--quiet"), ("-h", "--help"),
           ("-V", "--version")]


def free_port_run(n):
    """A port p such that p .. p+n-1 are all free on 127.0.0.1 right now."""
    for _ in range(200):
        p = harness.free_port()
        if p + n > 65535:
            continue
        try:
            socks = []
            for q in range(p, p + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", q))
            return p
        except OSError:
            pass
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no run of free ports")


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    js = args.jarmsweep
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    fp, raw = cap["fingerprint"], cap["raw"]

    # --help and --version
    r = harness.run(js, ["--help"])
    text = r.out.decode(errors="replace")
    tap.ok(r.rc == 0, "--help exits 0", r.describe())
    missing = [o for pair in OPTIONS for o in pair if o and o not in text]
    tap.ok(not missing, "--help mentions every option", f"missing: {missing}")
    tap.ok(all(w in text for w in ("ndjson", "csv", "jarm-json")), "--help names the formats")
    r = harness.run(js, ["-h"])
    tap.ok(r.rc == 0 and r.out.decode(errors="replace") == text, "-h is --help")
    for flag in ("--version", "-V"):
        r = harness.run(js, [flag])
        tap.ok(r.rc == 0 and r.out.startswith(b"jarmsweep ") and r.out.count(b"\n") == 1,
               f"{flag} prints one line 'jarmsweep VERSION' and exits 0", r.describe())

    # Usage errors: exit 2, one line "jarmsweep: ..." on stderr, nothing on stdout.
    usage_cases = [
        ["--bogus", "127.0.0.1"], ["-c", "0", "127.0.0.1"], ["-c", "abc", "127.0.0.1"],
        ["-c", "-5", "127.0.0.1"], ["-t", "0", "127.0.0.1"], ["-t", "abc", "127.0.0.1"],
        ["-t", "-1", "127.0.0.1"], ["-f", "xml", "127.0.0.1"], ["-p", "0", "127.0.0.1"],
        ["-p", "99999", "127.0.0.1"], ["-p", "10-5", "127.0.0.1"], ["-p", "abc", "127.0.0.1"],
        ["-p", "443,", "127.0.0.1"], ["--probe-parallel", "0", "127.0.0.1"],
        ["--probe-parallel", "10", "127.0.0.1"], ["-r", "abc", "127.0.0.1"],
        ["-r", "-1", "127.0.0.1"], ["127.0.0.1", "-o"], [],
    ]
    for argv in usage_cases:
        r = harness.run(js, argv)
        err = r.err.decode(errors="replace")
        tap.ok(r.rc == 2 and r.out == b"" and err.startswith("jarmsweep: ")
               and err.count("\n") == 1 and err.endswith("\n"),
               f"usage error {' '.join(argv) or '(no targets)'}: exit 2, one stderr line",
               r.describe())

    # The endpoint grammar's refusals, word for word (nothing is sent: they fail before).
    for argv, want in (
            (["--proxy", "ftp://127.0.0.1:3128"],
             "bad --proxy 'ftp://127.0.0.1:3128' (socks5:// or http://[user:pass@]host:port)"),
            (["--proxy", "socks5://127.0.0.1"],
             "bad --proxy 'socks5://127.0.0.1' (socks5:// or http://[user:pass@]host:port)"),
            (["--proxy", "socks5://::1:1080"],
             "bad --proxy 'socks5://::1:1080' (socks5:// or http://[user:pass@]host:port)"),
            (["--proxy", "socks5://@127.0.0.1:1080"], "bad --proxy credentials (1-255 bytes each)"),
            (["--proxy", "socks5://u%zz:p@127.0.0.1:1080"],
             "bad --proxy credentials (1-255 bytes each)"),
            (["--resolvers", "127.0.0.1:65536"], 'invalid resolver "127.0.0.1:65536" (expected IP, '
             'IP:PORT or [IPv6]:PORT, port 1-65535)'),
            (["--resolvers", "[::1]x"], 'invalid resolver "[::1]x" (expected IP, IP:PORT or '
             '[IPv6]:PORT, port 1-65535)')):
        r = harness.run(js, argv + ["127.0.0.1:9"])
        tap.ok(r.rc == 2 and r.out == b"" and r.err.decode(errors="replace") ==
               f"jarmsweep: {want}\n", f"{' '.join(argv)}: exit 2, '{want}'", r.describe())

    # An input file that cannot be opened is refused before any scan (exit 1 or 2, both
    # defensible); an unwritable output is a runtime failure (exit 1, as --help says).
    for label, argv, codes in (
            ("-i missing file", ["-i", "/nonexistent/targets.txt"], (1, 2)),
            ("-o unwritable", ["-o", "/nonexistent/dir/out.ndjson", "127.0.0.1"], (1,))):
        r = harness.run(js, argv)
        err = r.err.decode(errors="replace")
        tap.ok(r.rc in codes and r.out == b"" and err.startswith("jarmsweep: ")
               and err.count("\n") == 1,
               f"{label}: exit {' or '.join(map(str, codes))}, one line on stderr, no rows",
               r.describe())

    with tempfile.TemporaryDirectory(prefix="jarm-cli-") as tmp:
        replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
        with harness.Responder(args.responder, tmp, replies=replies,
                               listen=("127.0.0.1:0", "127.0.0.1:0")) as resp:
            p1, p2 = resp.ports
            t1 = f"127.0.0.1:{p1}"
            scans(tap, js, tmp, t1, p1, p2, fp, raw, cap)
        silent = harness.Responder(args.responder, tmp, mode="silent")
        try:
            sigint(tap, js, silent.port)
        finally:
            silent.stop()
    return tap.done()


def scans(tap, js, tmp, t1, p1, p2, fp, raw, cap):
    # Plain NDJSON on stdout; with -q nothing on stderr.
    r = harness.run(js, ["-q", "-t", 5, t1])
    tap.ok(r.rc == 0 and len(r.rows) == 1 and not r.bad_lines and r.row.get("jarm") == fp
           and r.row.get("raw") == raw, "ndjson on stdout: one row, the capture", r.describe())
    tap.eq(r.err, b"", "-q: nothing on stderr")
    r = harness.run(js, ["-t", 5, t1])
    tap.ok(r.rc == 0 and len(r.rows) == 1 and not r.bad_lines,
           "without -q, stdout still carries only the result row", r.describe())

    # -o FILE
    out = os.path.join(tmp, "out.ndjson")
    r = harness.run(js, ["-q", "-t", 5, "-o", out, t1])
    tap.ok(r.rc == 0 and r.out == b"", "-o FILE: exit 0, nothing on stdout", r.describe())
    try:
        with open(out, "rb") as f:
            rows = [json.loads(l) for l in f.read().splitlines()]
    except (OSError, ValueError) as e:
        rows = [str(e)]
    tap.ok(len(rows) == 1 and isinstance(rows[0], dict) and rows[0].get("jarm") == fp,
           "-o FILE: the row is in the file", rows[:2])

    # -f csv / -f jarm-json: the reference's line formats.
    r = harness.run(js, ["-q", "-t", 5, "-f", "csv", t1])
    tap.eq(r.out.decode(errors="replace"), f"127.0.0.1,127.0.0.1,{fp}\n",
           "-f csv: the reference's CSV line host,ip,jarm")
    r = harness.run(js, ["-q", "-t", 5, "-f", "jarm-json", t1])
    tap.eq(r.out.decode(errors="replace"), cap["stdout"],
           "-f jarm-json: the reference's -j -v line")
    r = harness.run(js, ["-q", "-t", 5, "-f", "ndjson", t1])
    tap.ok(len(r.rows) == 1 and r.row.get("jarm") == fp, "-f ndjson: the default format")

    # Target forms: host,port (reference style), -p LIST, ranges, stdin, several arguments.
    r = harness.run(js, ["-q", "-t", 5, f"127.0.0.1,{p1}"])
    tap.ok(len(r.rows) == 1 and r.row.get("port") == p1 and r.row.get("jarm") == fp,
           "target host,port (reference style)", r.describe())
    r = harness.run(js, ["-q", "-t", 5, "-p", f"{p1},{p2}", "127.0.0.1"])
    tap.eq(sorted((x.get("port"), x.get("jarm")) for x in r.rows), sorted([(p1, fp), (p2, fp)]),
           "-p P1,P2: one row per port")
    dead = free_port_run(3)
    r = harness.run(js, ["-q", "-t", 2, "-p", f"{dead}-{dead + 2}", "127.0.0.1"])
    tap.eq(sorted((x.get("port"), x.get("status")) for x in r.rows),
           [(dead + i, "refused") for i in range(3)], "-p A-B: a range, every port refused")
    r = harness.run(js, ["-q", "-t", 5, "-p", str(p2), "-i", "-"],
                    stdin=f"# stdin\n{t1}\n\n127.0.0.1\n".encode())
    tap.eq(sorted(x.get("port") for x in r.rows), sorted([p1, p2]),
           "-i - reads stdin; -p applies to targets without a port")
    r = harness.run(js, ["-q", "-t", 5, t1, f"127.0.0.1:{p2}", t1])
    tap.eq(sorted(x.get("port") for x in r.rows), sorted([p1, p2, p1]),
           "several target arguments, a duplicate scanned twice")
    inp = os.path.join(tmp, "in.txt")
    with open(inp, "w") as f:
        f.write(f"{t1}\r\n")
    r = harness.run(js, ["-q", "-t", 5, "-i", inp, "-i", inp])
    tap.eq([x.get("port") for x in r.rows], [p1, p1], "-i repeatable, CRLF line endings")

    # SNI: the target as given by default, --sni overrides.
    r = harness.run(js, ["-q", "-t", 5, t1])
    tap.eq(r.row.get("sni"), "127.0.0.1", "sni defaults to the host as given")
    r = harness.run(js, ["-q", "-t", 5, "--sni", "example.test", t1])
    tap.eq(r.row.get("sni"), "example.test", "--sni sets it")
    tap.eq(r.row.get("jarm"), fp, "--sni: still the capture's fingerprint")

    # Options that must not change results.
    r = harness.run(js, ["-q", "-t", 5, "-c", 1, "--probe-parallel", 1, "-r", 50, t1])
    tap.ok(len(r.rows) == 1 and r.row.get("jarm") == fp,
           "-c 1 --probe-parallel 1 -r 50: same fingerprint", r.describe())


def sigint(tap, js, port):
    """SIGINT: no new targets; in-flight ones time out; rows flushed; prompt exit."""
    timeout = 2
    targets = [f"127.0.0.1:{port}"] * 6
    proc = subprocess.Popen([js, "-q", "-c", "2", "-t", str(timeout)] + targets,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    took = time.monotonic() - t0
    rows = []
    for line in out.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append(None)
    tap.ok(took <= timeout + SLACK, f"SIGINT: exit {took:.2f}s later (timeout {timeout}s)")
    tap.ok(1 <= len(rows) <= 2 and all(r and r.get("status") == "timeout" for r in rows),
           "SIGINT: the in-flight targets finish (time out) and are written; no new ones",
           f"rc={proc.returncode} rows={rows} stderr={err[-500:]!r}")
    tap.diag(f"exit status after SIGINT: {proc.returncode}")


if __name__ == "__main__":
    sys.exit(main())

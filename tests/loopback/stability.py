#!/usr/bin/env python3
"""--repeat N: each target scanned N times, spread over the run; `stable` and `variants`.

Backends on 127.0.0.1 with one throwaway RSA certificate: nginx (Debian's package) and
`openssl s_server`, whose fingerprints N and S the scanner under test measures directly
first (never constants; the test needs N != S). HAProxy in TCP mode in front of them:

1. A frontend balancing round robin over both, with source-address persistence that expires
   after 400 ms idle (`stick on src`, as load balancers keep a client on one backend for a
   while): each scan's ten connections go to one backend, the next scan after a pause goes
   to the other. `--repeat 6 -c 1` with a second target that takes 1.5 s per pass (a port that
   accepts and never answers, -t 1.5) puts a pause between the passes of the HAProxy target:
   `stable: false`, variants exactly N x3 and S x3, the row's jarm one of them; the slow
   target's row is one timeout row, `stable: true`, one variant of zeros x6. Passes back to
   back would all land on the first backend: the pause is the check that passes are spread.
2. A frontend over nginx alone and one over s_server alone: `--repeat 6` gives `stable:
   true`, one variant with count 6, the backend's fingerprint.
3. The replay responder: `--repeat 4` sends 4 x 10 ClientHellos (its counters), one row;
   -f csv and -f jarm-json keep their columns with --repeat; the summary counts stable and
   unstable rows; --repeat 0, --repeat 1001 and --repeat x are usage errors.

Everything is stopped by PID. About 20 s.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import harness
from fingerprints import listening, make_cert, nginx
from harness import SLACK, ZEROS


def start(cmd, ports, cwd):
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while proc.poll() is None and time.monotonic() < deadline:
        if all(listening(p) for p in ports):
            return proc
        time.sleep(0.05)
    harness.stop(proc)
    raise RuntimeError(f"{cmd[0]} did not start")


def haproxy_cmd(tmp, p_mixed, p_ngx, p_oss, ngx, oss):
    conf = os.path.join(tmp, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(f"""global
  maxconn 512
defaults
  mode tcp
  timeout client 10s
  timeout connect 2s
  timeout server 10s
frontend mixed
  bind 127.0.0.1:{p_mixed}
  default_backend mixed
frontend only_nginx
  bind 127.0.0.1:{p_ngx}
  default_backend only_nginx
frontend only_s_server
  bind 127.0.0.1:{p_oss}
  default_backend only_s_server
backend mixed
  balance roundrobin
  stick-table type ip size 16 expire 400ms
  stick on src
  server nginx 127.0.0.1:{ngx}
  server s_server 127.0.0.1:{oss}
backend only_nginx
  server nginx 127.0.0.1:{ngx}
backend only_s_server
  server s_server 127.0.0.1:{oss}
""")
    return ["haproxy", "-db", "-f", conf]


def scan(args, targets, *extra, timeout=5, quiet=True):
    return harness.run(args.jarmsweep, (["-q"] if quiet else []) + ["-t", timeout, *extra,
                                                                    *targets], timeout=120)


def variants(row):
    return [(v.get("jarm"), v.get("count")) for v in row.get("variants") or []]


def backend_tests(tap, args, tmp):
    make_cert(tmp)  # rsa.pem, rsa.key
    pem, key = os.path.join(tmp, "rsa.pem"), os.path.join(tmp, "rsa.key")
    ngx, oss = harness.free_port(), harness.free_port()
    p_mixed, p_ngx, p_oss = harness.free_port(), harness.free_port(), harness.free_port()
    procs = []
    tarpit = socket.socket()
    try:
        procs.append(start(nginx(tmp, ngx), [ngx], tmp))
        procs.append(start(["openssl", "s_server", "-accept", f"127.0.0.1:{oss}", "-quiet",
                            "-cert", pem, "-key", key], [oss], tmp))
        procs.append(start(haproxy_cmd(tmp, p_mixed, p_ngx, p_oss, ngx, oss),
                           [p_mixed, p_ngx, p_oss], tmp))
        N = scan(args, [f"127.0.0.1:{ngx}"]).row.get("jarm")
        S = scan(args, [f"127.0.0.1:{oss}"]).row.get("jarm")
        if not tap.ok(N not in (None, ZEROS) and S not in (None, ZEROS) and N != S,
                      "reference: nginx and s_server scanned directly differ",
                      f"nginx {N}, s_server {S}"):
            return
        tap.diag(f"nginx {N}\ns_server {S}")

        # A port that accepts (the kernel completes the handshake) and never answers.
        tarpit.bind(("127.0.0.1", 0))
        tarpit.listen(64)
        slow = f"127.0.0.1:{tarpit.getsockname()[1]}"
        mixed = f"127.0.0.1:{p_mixed}"
        r = scan(args, [mixed, slow], "--repeat", 6, "-c", 1, timeout=1.5, quiet=False)
        by = {row.get("host") + ":" + str(row.get("port")): row for row in r.rows}
        row = by.get(mixed, {})
        tap.ok(r.rc == 0 and len(r.rows) == 2, "--repeat 6, two targets: two rows",
               r.describe())
        tap.ok(row.get("stable") is False and sorted(variants(row)) == sorted([(N, 3), (S, 3)]),
               "HAProxy round robin over nginx and s_server: stable false, N x3 and S x3",
               r.describe())
        tap.ok(row.get("jarm") in (N, S) and row.get("jarm") == variants(row)[0][0]
               if variants(row) else False,
               "the row's jarm is the first (most frequent) variant", r.describe())
        srow = by.get(slow, {})
        tap.ok(srow.get("status") == "timeout" and srow.get("stable") is True
               and variants(srow) == [(ZEROS, 6)],
               "the silent target: one timeout row, stable, zeros x6", r.describe())
        tap.ok(r.wall >= 9 - 0.5 and r.wall < 9 + 12 * SLACK,
               f"the silent target's six passes took their time ({r.wall:.1f} s)")
        tap.ok(re.search(r"repeat: 1 stable, 1 unstable", r.err_text),
               "the summary counts 1 stable, 1 unstable", r.err_text[-600:])

        for port, want, name in ((p_ngx, N, "nginx"), (p_oss, S, "s_server")):
            r = scan(args, [f"127.0.0.1:{port}"], "--repeat", 6)
            row = r.row
            tap.ok(row.get("stable") is True and variants(row) == [(want, 6)]
                   and row.get("jarm") == want,
                   f"HAProxy over {name} alone: stable true, one variant x6", r.describe())
    finally:
        tarpit.close()
        for p in reversed(procs):
            harness.stop(p)


def responder_tests(tap, args, tmp):
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
    with harness.Responder(args.responder, tmp, replies=replies) as resp:
        target = f"127.0.0.1:{resp.port}"
        F = scan(args, [target]).row.get("jarm")
        before = resp.snapshot().get("hellos", 0)
        r = scan(args, [target], "--repeat", 4)
        after = resp.snapshot().get("hellos", 0)
        row = r.row
        tap.ok(len(r.rows) == 1 and row.get("stable") is True and variants(row) == [(F, 4)]
               and row.get("jarm") == F and row.get("status") == "ok",
               "--repeat 4 against the responder: one row, stable, F x4", r.describe())
        tap.eq(after - before, 40, "--repeat 4: the responder saw 4 x 10 ClientHellos")
        r = scan(args, [target], "--repeat", 2, "-f", "csv")
        tap.eq(r.out.decode(errors="replace").strip(), f"127.0.0.1,127.0.0.1,{F}",
               "-f csv keeps its columns with --repeat")
        r = scan(args, [target], "--repeat", 2, "-f", "jarm-json")
        try:
            obj = json.loads(r.out)
        except ValueError:
            obj = {}
        tap.ok(sorted(obj) == ["host", "ip", "jarm", "result"] and obj.get("result") == F,
               "-f jarm-json keeps its keys with --repeat", r.describe())
        r = scan(args, [target], "--repeat", 1)
        tap.ok(r.row.get("jarm") == F and "stable" not in r.row and "variants" not in r.row,
               "--repeat 1 is a plain scan: no stable, no variants", r.describe())
    for bad in ("0", "1001", "x"):
        r = harness.run(args.jarmsweep, ["--repeat", bad, "127.0.0.1:1"])
        tap.ok(r.rc == 2 and not r.out and "--repeat" in r.err_text,
               f"--repeat {bad}: a usage error", r.describe())


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    with tempfile.TemporaryDirectory(prefix="jarm-stability-") as tmp:
        responder_tests(tap, args, tmp)
        missing = [p for p in ("nginx", "haproxy", "openssl") if shutil.which(p) is None]
        if missing:
            tap.skip("HAProxy over nginx and s_server", f"not installed: {' '.join(missing)}")
        else:
            backend_tests(tap, args, tmp)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

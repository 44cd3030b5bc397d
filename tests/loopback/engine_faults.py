#!/usr/bin/env python3
"""Engine faults: a full window, a descriptor shortage, a failing SOCKS5 proxy.

1. A target can be decided (a probe times out) while it waits in the ready queue for room in
   the window. The responder answers the gate probe and holds probes 2-10 open: one target
   at -c 2, and 12 at -c 4, each give exactly one `timeout` row with every probe status
   final, and the run exits 0 in bounded time (before the fix: an assertion, or a hang).
2. Descriptors run out under a running scan (prlimit on the process): the scan keeps
   returning to the loop and finishes every row `ok` with 40 descriptors (before: a busy
   loop with no rows that ignored SIGTERM). With 3 descriptors (none for a socket) the
   probes fail as `error` rows with the reason after bounded retries, and once the limit is
   raised again the next targets are scanned normally.
3. Proxy failures are the proxy's: nobody listening on the proxy port, a proxy that accepts
   and never answers, a malformed greeting reply and a CONNECT general failure each give a
   `proxy_error` row with the reason in "error", within the timeout (before: `refused` and
   `timeout`, which blame the target).
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness


def gate_then_hold(tap, args, tmp, cap):
    lines = harness.reply_lines(cap)
    replies = harness.write_replies(f"{tmp}/gate-hold", [lines[0]] + ["-"] * 9)
    with harness.Responder(args.responder, tmp, replies=replies,
                           listen=("0.0.0.0:0",)) as resp:
        r = harness.run(args.jarmsweep, ["-q", "-t", 1, "-c", 2, f"127.0.0.1:{resp.port}"],
                        timeout=30)
        row = r.row
        probes = [p.get("status") for p in row.get("probes", [])]
        tap.ok(r.rc == 0 and row.get("status") == "timeout" and probes[0] == "ok"
               and "pending" not in probes and len(probes) == 10,
               "gate answered, rest held, -c 2: one timeout row, probes final", r.describe())
        targets = [f"127.0.0.{i + 1}:{resp.port}" for i in range(12)]
        r = harness.run(args.jarmsweep, ["-q", "-t", 1, "-c", 4] + targets, timeout=60)
        hosts = sorted(f"{x.get('host')}:{x.get('port')}" for x in r.rows)
        tap.ok(r.rc == 0 and hosts == sorted(targets) and not r.bad_lines
               and all(x.get("status") == "timeout" for x in r.rows),
               "12 such targets at -c 4: 12 timeout rows, one per target", r.describe())
        tap.ok(all(p.get("status") not in ("pending", None)
                   for x in r.rows for p in x.get("probes", [])),
               "every probe status final")


def scan_with_limit(args, limit, batches, pause):
    """Run a scan reading stdin, lower its descriptor limit, feed batches of targets (the
    limit given by each batch's pair), close stdin; return (rc, rows, stderr)."""
    p = subprocess.Popen([args.jarmsweep, "-q", "-c", "500", "-t", "2", "-i", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    reader.start()
    time.sleep(0.5)
    for lim, lines in batches:
        subprocess.check_call(["prlimit", "--pid", str(p.pid), f"--nofile={lim}:"])
        p.stdin.write("".join(l + "\n" for l in lines).encode())
        p.stdin.flush()
        time.sleep(pause)
    p.stdin.close()
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.send_signal(15)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        reader.join()
        return "hang", [], p.stderr.read().decode(errors="replace")
    reader.join()
    run = harness.Run(p.returncode, out[0] if out else b"", p.stderr.read(), 0, None)
    return run.rc, run.rows, run.err_text


def descriptors(tap, args, tmp):
    with harness.Responder(args.responder, tmp, listen=("0.0.0.0:0",)) as resp:
        targets = [f"127.0.{i // 250}.{i % 250 + 1}:{resp.port}" for i in range(1000)]
        t0 = time.monotonic()
        rc, rows, err = scan_with_limit(args, 40, [(40, targets)], 0)
        tap.ok(rc == 0 and len(rows) == 1000 and all(x.get("status") == "ok" for x in rows),
               "40 descriptors, -c 500, 1000 targets: every row ok, no busy loop",
               f"rc={rc} rows={len(rows)} wall={time.monotonic() - t0:.1f}s {err[-500:]}")

        first, second = targets[:20], targets[500:520]
        rc, rows, err = scan_with_limit(args, 3, [(3, first), (1024, second)], 5.0)
        by = {f"{x.get('host')}:{x.get('port')}": x for x in rows}
        bad = [by.get(t, {}) for t in first]
        tap.ok(rc == 0 and len(rows) == 40 and set(by) == set(first + second),
               "no descriptor for a socket: one row per target, the run ends",
               f"rc={rc} rows={len(rows)} {err[-500:]}")
        tap.ok(all(x.get("status") == "error" and x.get("error") == "out of file descriptors"
                   for x in bad),
               "... those rows are status error, error 'out of file descriptors'", bad[:1])
        tap.ok(all(by.get(t, {}).get("status") == "ok" for t in second),
               "descriptors back: the next targets are scanned", [by.get(t) for t in second][:1])


class FakeProxy:
    """A SOCKS5 server on 127.0.0.1 that misbehaves one way (mode)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns = []
        self.th = threading.Thread(target=self.serve, daemon=True)
        self.th.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            c.settimeout(2)
            try:
                if self.mode == "stall":
                    continue
                c.recv(16)
                if self.mode == "badver":
                    c.sendall(b"\x04\x00")
                    continue
                c.sendall(b"\x05\x00")
                c.recv(300)
                if self.mode == "general":
                    c.sendall(b"\x05\x01\x00\x01" + b"\x00" * 6)
                elif self.mode == "stall_connect":
                    pass
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.th.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def proxies(tap, args):
    target = "127.0.0.1:443"
    dead = harness.free_port()
    cases = [(None, "proxy refused connection", "no proxy listening")]
    for mode, why, desc in [("stall", "proxy timed out", "a proxy that never answers"),
                            ("stall_connect", "proxy timed out",
                             "a proxy that never answers the CONNECT"),
                            ("badver", "proxy reply malformed", "a malformed greeting reply"),
                            ("general", "proxy general failure", "CONNECT: general failure")]:
        cases.append((FakeProxy(mode), why, desc))
    try:
        for fp, why, desc in cases:
            port = fp.port if fp else dead
            r = harness.run(args.jarmsweep, ["-q", "-t", 1, "--proxy",
                                             f"socks5://127.0.0.1:{port}", target], timeout=30)
            row = r.row
            tap.ok(r.rc == 0 and row.get("status") == "proxy_error" and row.get("error") == why
                   and row.get("jarm") == harness.ZEROS and r.wall < 1 + 2 * harness.SLACK,
                   f"{desc}: proxy_error, error '{why}', within the timeout", r.describe())
            tap.ok(all(p.get("status") in ("proxy_error", "skipped")
                       for p in row.get("probes", [])),
                   f"{desc}: no probe blames the target")
        # The summary counts every row once: proxy_error rows are among "other".
        r = harness.run(args.jarmsweep, ["-t", 1, "--proxy", f"socks5://127.0.0.1:{dead}",
                                         target, "127.0.0.2:443", "127.0.0.3:443"], timeout=30)
        m = re.search(r"jarmsweep: (\d+) rows in .*?: (\d+) ok, (\d+) timeout, (\d+) refused, "
                      r"(\d+) no_tls, (\d+) rejected, (\d+) other, (\d+) unscanned", r.err_text)
        n = [int(x) for x in m.groups()] if m else []
        tap.ok(len(r.rows) == 3 and n and n[0] == 3 and sum(n[1:]) == 3 and n[6] == 3,
               "the summary counts proxy_error rows (as other)", r.describe())
    finally:
        for fp, _, _ in cases:
            if fp:
                fp.close()


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    with tempfile.TemporaryDirectory(prefix="jarm-faults-") as tmp:
        gate_then_hold(tap, args, tmp, cap)
        if os.path.exists("/usr/bin/prlimit") or os.path.exists("/bin/prlimit"):
            descriptors(tap, args, tmp)
        else:
            tap.skip("descriptor limits", "prlimit is not installed")
        proxies(tap, args)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

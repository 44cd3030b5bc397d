#!/usr/bin/env python3
"""jarmsweep where conditions pile up: slow readers, closed pipes, memory limits, huge lines,
closed standard descriptors, clashing --resume runs, signals (TAP).

- A reader that takes nothing for seconds must not turn answered probes into timeouts: rows
  are written by a thread, and the engine starts no new target while they back up, so the
  scanner's memory stays flat (50,000 rows waiting would take about 20 MB).
- `--dry-run 0.0.0.0/0 | head -2` and a scan into a pipe closed early end promptly (exit 1).
- Out of memory (a growth of a row or output buffer made to fail, and `ulimit -v` on the
  release build) exits 1 and the --resume checkpoint names no more units than rows written.
- A 200 MB line costs no memory: its row is a bad_target "line too long"; `-i /dev/zero`
  stays small.
- Closed stdin, stdout or stderr: the run still works.
- `--resume` in a directory that does not exist, or held by a running scan, and `-i DIR` are
  usage errors (exit 2) before anything is scanned; SIGHUP stops like SIGTERM.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import harness
from harness import SLACK


def checkpoint_units(path):
    """Units a checkpoint names as done: the watermark plus the listed ones."""
    with open(path) as f:
        words = f.read().split()
    nxt = int(words[words.index("next") + 1])
    done = words[words.index("done") + 1:]
    return nxt + len(done)


def is_sanitized(path):
    with open(path, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def is_tsan(path):
    with open(path, "rb") as f:
        return b"__tsan_init" in f.read()


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def slow_reader(tap, js, port, tmp):
    n, timeout, pause = 1000, 2, 5
    path = os.path.join(tmp, "slow.txt")
    with open(path, "w") as f:
        f.write(f"127.0.0.1:{port}\n" * n)
    proc = subprocess.Popen([js, "-q", "-t", str(timeout), "-c", "10000", "-i", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(pause)  # nobody reads: the pipe fills after a few dozen rows
    out, err = proc.communicate(timeout=120)
    r = harness.Run(proc.returncode, out, err, 0, None)
    statuses = [row.get("status") for row in r.rows]
    tap.ok(r.rc == 0 and len(r.rows) == n and statuses.count("ok") == n,
           f"slow reader ({pause} s without reading, -t {timeout}): {n} rows, all ok, no "
           "false timeouts", f"rc={r.rc} rows={len(r.rows)} "
           f"non-ok={[s for s in statuses if s != 'ok'][:5]} timeouts={statuses.count('timeout')}"
           f" stderr={r.err_text[-400:]!r}")


def back_pressure(tap, js, tmp):
    """Rows waiting for a reader that stopped hold back new targets: memory stays flat."""
    n, closed = 50000, harness.free_port()
    path = os.path.join(tmp, "many.txt")
    with open(path, "w") as f:
        f.write(f"127.0.0.1:{closed}\n" * n)
    proc = subprocess.Popen([js, "-q", "-t", "2", "-c", "1000", "-i", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(4)  # nobody reads: without back-pressure every row would queue up (~20 MB)
    hwm = None
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        pass
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    rows = out.count(b"\n")
    # ThreadSanitizer's shadow memory costs more than AddressSanitizer's.
    lim = 64000 if is_tsan(js) else 32000 if is_sanitized(js) else 16000
    tap.ok(proc.returncode == 0 and rows == n and hwm is not None and hwm < lim,
           f"a reader that stops for 4 s: peak {hwm} KiB (< {lim}) while {n} rows wait; "
           "then all rows", f"rc={proc.returncode} rows={rows} err={err[-300:]!r}")


def closed_pipes(tap, js, port, tmp):
    # --dry-run of the whole IPv4 space into `head -2`.
    t0 = time.monotonic()
    p = subprocess.Popen(f"'{js}' --dry-run --allow-reserved 0.0.0.0/0 | head -2",
                         shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the shell's own process group: ours only
        out, err = p.communicate()
        took = 999
    tap.ok(took < 5 and out.count(b"\n") == 2,
           f"--dry-run 0.0.0.0/0 | head -2 ends promptly ({took:.2f} s)", f"{out!r} {err!r}")
    tap.ok(b"Broken pipe" in err, "  and says the pipe broke", err[-300:])

    # A scan whose reader goes away: stop at the first write error, exit 1.
    path = os.path.join(tmp, "pipe.txt")
    with open(path, "w") as f:
        f.write(f"127.0.0.1:{port}\n" * 3000)
    proc = subprocess.Popen([js, "-t", "2", "-c", "200", "-i", path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(1000)
    proc.stdout.close()
    t0 = time.monotonic()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    took = time.monotonic() - t0
    err = proc.stderr.read()
    proc.stderr.close()
    tap.ok(proc.returncode == 1 and took < 2 + SLACK + 1 and b"stdout: Broken pipe" in err,
           f"scan into a pipe closed early: exit 1 after {took:.2f} s, 'Broken pipe'",
           f"rc={proc.returncode} stderr={err[-400:]!r}")


def out_of_memory(tap, js, port, tmp):
    n = 300
    path = os.path.join(tmp, "oom.txt")
    with open(path, "w") as f:
        f.write(f"127.0.0.1:{port}\n" * n)

    def check(label, env=None, preexec=None):
        ck = os.path.join(tmp, "oom.resume")
        for p in (ck, ck + ".lock"):
            if os.path.exists(p):
                os.unlink(p)
        proc = subprocess.run([js, "-t", "2", "-c", "1000", "--resume", ck, "-i", path],
                              capture_output=True, timeout=120, env=env, preexec_fn=preexec)
        r = harness.Run(proc.returncode, proc.stdout, proc.stderr, 0, None)
        if r.rc == 127 and b"error while loading shared libraries" in r.err:
            tap.skip(label, "too little to even load the binary")
            return False
        claimed = checkpoint_units(ck) if os.path.exists(ck) else 0
        good = (len(r.rows) == nrows[0] and r.rc == 0 and claimed == nrows[0]) or (
            r.rc == 1 and r.err.startswith(b"jarmsweep: ") and claimed <= len(r.rows)
            and not r.bad_lines)
        tap.ok(good, f"{label}: exit {r.rc}, {len(r.rows)} rows, checkpoint claims {claimed}",
               r.describe())
        return r.rc == 1 and b"out of memory" in r.err

    nrows = [n]
    failures = 0
    for k in (0, 1, 3, 6, 9, 12):
        env = dict(os.environ, JARMSWEEP_TEST_FAIL_GROWTH=str(k))
        failures += check(f"buffer growth {k} fails", env=env)
    tap.ok(failures >= 4, f"failed growths made {failures} of 6 runs fail (exit 1)")

    if is_sanitized(js):
        tap.skip("ulimit -v", "sanitizer runtimes reserve terabytes of address space")
        return
    import resource
    hits = 0
    with open(path, "w") as f:
        f.write(f"127.0.0.1:{port}\n" * 1000)
    nrows[0] = 1000
    for kib in range(8000, 13001, 1000):
        def limit(kib=kib):
            resource.setrlimit(resource.RLIMIT_AS, (kib * 1024, kib * 1024))
        hits += check(f"ulimit -v {kib}", preexec=limit)
    tap.diag(f"{hits} of the ulimit -v runs ran out of memory")


def long_lines(tap, js, port, tmp):
    path = os.path.join(tmp, "long.txt")
    with open(path, "wb") as f:
        f.write(f"127.0.0.1:{port}\n".encode())
        chunk = b"a" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(f"\n127.0.0.1:{port}\n".encode())
    r = harness.run(js, ["-q", "-t", "2", "-i", path], timeout=60, measure_rss=True)
    st = sorted(row.get("status") for row in r.rows)
    bad = [row for row in r.rows if row.get("status") == "bad_target"]
    tap.ok(r.rc == 0 and st == ["bad_target", "ok", "ok"] and bad
           and bad[0].get("error") == "line too long" and bad[0].get("line") == 2
           and len(bad[0].get("host", "")) <= 1100,
           "a 200 MB line: a bad_target row 'line too long' (line 2, host cut), its "
           "neighbours scanned", r.describe())
    if r.maxrss_kib is not None:
        lim = 60000 if is_sanitized(js) else 20000
        tap.ok(r.maxrss_kib < lim, f"  in {r.maxrss_kib} KiB (< {lim})")

    proc = subprocess.Popen([js, "-q", "-i", "/dev/zero"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(2)
    rss = rss_kib(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    lim = 80000 if is_sanitized(js) else 20000
    tap.ok(rss is not None and rss < lim and rc == 0,
           f"-i /dev/zero for 2 s: {rss} KiB (< {lim}), SIGTERM ends it (exit {rc})")


def closed_std(tap, js, port, tmp):
    out = os.path.join(tmp, "closed.ndjson")
    for redir, desc in (("<&-", "stdin"), (">&-", "stdout"), ("2>&-", "stderr"),
                        ("<&- >&- 2>&-", "all three")):
        if os.path.exists(out):
            os.unlink(out)
        cmd = f"exec '{js}' -t 2 -o '{out}' 127.0.0.1:{port} 127.0.0.1:{port} {redir}"
        p = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=60)
        rows = []
        if os.path.exists(out):
            with open(out, "rb") as f:
                rows = harness.Run(0, f.read(), b"", 0, None).rows
        tap.ok(p.returncode == 0 and len(rows) == 2 and all(r["status"] == "ok" for r in rows),
               f"{desc} closed ({redir}): exit 0, both rows ok in -o",
               f"rc={p.returncode} rows={rows} err={p.stderr[-500:]!r}")
    p = subprocess.run(["sh", "-c", f"exec '{js}' -t 2 127.0.0.1:{port} 2>&-"],
                       capture_output=True, timeout=60)
    r = harness.Run(p.returncode, p.stdout, p.stderr, 0, None)
    tap.ok(r.rc == 0 and r.row.get("status") == "ok", "stderr closed: the row on stdout",
           r.describe())


def usage_and_signals(tap, js, port, hold_port, tmp):
    t0 = time.monotonic()
    r = harness.run(js, ["-t", "1", "--resume", "/nonexistent/dir/x", "127.0.0.1:1"])
    tap.ok(r.rc == 2 and not r.out and b"/nonexistent/dir/x" in r.err and r.wall < 1 + SLACK,
           "--resume in a missing directory: exit 2 at start", r.describe())
    r = harness.run(js, ["-i", tmp, "127.0.0.1:1"])
    tap.ok(r.rc == 2 and not r.out and b"Is a directory" in r.err, "-i DIR: exit 2",
           r.describe())

    ck = os.path.join(tmp, "twice.resume")
    first = subprocess.Popen([js, "-q", "-t", "3", "--resume", ck, f"127.0.0.1:{hold_port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    r = harness.run(js, ["-q", "-t", "1", "--resume", ck, f"127.0.0.1:{hold_port}"])
    tap.ok(r.rc == 2 and not r.out and b"in use by another jarmsweep run" in r.err,
           "a second run on the same --resume file: refused, exit 2", r.describe())
    out, err = first.communicate(timeout=30)
    tap.ok(first.returncode == 0 and out.count(b"\n") == 1, "  the first run is unharmed",
           f"rc={first.returncode} {out!r} {err!r}")
    r = harness.run(js, ["-q", "-t", "1", "--resume", ck, f"127.0.0.1:{hold_port}"])
    tap.ok(r.rc == 0 and not r.out, "  once it is gone, the file can be resumed (all done)",
           r.describe())

    # SIGHUP: graceful, like SIGTERM: the target in flight finishes, the next never starts.
    timeout = 2
    proc = subprocess.Popen([js, "-q", "-c", "1", "-t", str(timeout),
                             f"127.0.0.1:{hold_port}", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=timeout + 20)
    took = time.monotonic() - t0
    r = harness.Run(proc.returncode, out, err, took, None)
    tap.ok(r.rc == 0 and len(r.rows) == 1 and r.rows[0]["status"] == "timeout"
           and took <= timeout + SLACK,
           f"SIGHUP stops gracefully: the target in flight gets its row, exit 0 ({took:.2f} s)",
           r.describe())


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    with tempfile.TemporaryDirectory(prefix="jarm-robust-") as tmp:
        replies = harness.write_replies(os.path.join(tmp, "r.replies"),
                                        harness.reply_lines(cap))
        with harness.Responder(args.responder, tmp, replies=replies) as good, \
                harness.Responder(args.responder, tmp, mode="silent") as hold:
            slow_reader(tap, args.jarmsweep, good.port, tmp)
            back_pressure(tap, args.jarmsweep, tmp)
            closed_pipes(tap, args.jarmsweep, good.port, tmp)
            out_of_memory(tap, args.jarmsweep, good.port, tmp)
            long_lines(tap, args.jarmsweep, good.port, tmp)
            closed_std(tap, args.jarmsweep, good.port, tmp)
            usage_and_signals(tap, args.jarmsweep, good.port, hold.port, tmp)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Stress: many targets against servers that misbehave at random, under pressure (TAP).

Each seed draws a run: targets spread at random over behaviours (answer, answer late, hold,
drip, reset, refuse, endless bytes, gate-then-hold: the first probe answered and every later
one held), each behaviour a server on 16 loopback addresses of its own, a few unparsable lines, a window (-c) from 2 to 10,000, a timeout, probes in
parallel or not, and some of: a stdout reader that pauses and then reads slowly, a low
open-files limit from the start, a limit lowered while the scan runs, a --resume checkpoint,
a SIGTERM halfway followed by a resumed run. Every run must keep the invariants:

- exactly one valid row per input line: the multiset of (host, port) of the rows equals the
  input's, so no target is lost or repeated and no row names a target never input;
- every row is valid JSON with a known status, ten probes with final statuses (never
  `pending`), a 62-character fingerprint (zeros unless ok);
- exit status 0 and nothing about a loop not closed (a sanitizer finding aborts the run);
- bounded time (from the timeout, the window and the target count) and memory;
- the checkpoint names exactly the rows written; a resumed run writes exactly the others.

Seeded so that a failure replays: the seed is in every assertion; rerun it with
`stress.py ... --seed N` (-v to see the run's command line). The meson suite runs a short
fixed set; `--minutes M` runs random seeds for M minutes and prints the count.
"""
import collections
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import SLACK

PROBE_STATUSES = {"ok", "alert", "no_tls", "malformed", "closed", "refused", "reset",
                  "unreachable", "timeout", "skipped", "error", "proxy_error"}
TARGET_STATUSES = {"ok", "timeout", "refused", "unreachable", "no_tls", "rejected", "error",
                   "proxy_error"}
FP_RE = re.compile(r"^[0-9a-f]{62}$")
# Unparsable, and never a host name (nothing may be looked up).
BAD_LINES = ["not a target!", "127.0.0.1:99999", "[::1", "127.0.0.1:0"]
# The fixed seeds of the meson suite: together they cover every window class, the slow
# reader, both descriptor limits, the checkpoint and the interrupted-then-resumed run.
SHORT_SEEDS = [2, 5, 6, 7, 8, 14]


class Servers:
    """One responder per behaviour, listening on ADDRS loopback addresses of its own (a server
    is an address, as on the internet); `refuse` is addresses where nobody listens."""

    ADDRS = 16

    def __init__(self, args, tmp, cap):
        lines = harness.reply_lines(cap)
        replies = harness.write_replies(os.path.join(tmp, "answer.replies"), lines)
        gate = harness.write_replies(os.path.join(tmp, "gate.replies"),
                                     [lines[0]] + ["-"] * 9)
        specs = {
            "answer": dict(replies=replies),
            "late": dict(replies=replies, delay_ms=150),
            "hold": dict(mode="silent"),
            "drip": dict(mode="drip", extra=["--drip-ms", "50"]),
            "reset": dict(mode="reset-hello"),
            "endless": dict(mode="garbage", extra=["--garbage-mib", "64"]),
            "gate": dict(replies=gate),
        }
        self.resp, self.endpoints = {}, {}
        for i, (kind, spec) in enumerate(specs.items()):
            addrs = [f"127.{40 + i}.0.{k}" for k in range(1, self.ADDRS + 1)]
            r = harness.Responder(args.responder, tmp, listen=[f"{a}:0" for a in addrs],
                                  **spec)
            self.resp[kind] = r
            self.endpoints[kind] = list(zip(addrs, r.ports))
        port = harness.free_port()
        self.endpoints["refuse"] = [(f"127.39.0.{k}", port) for k in range(1, self.ADDRS + 1)]

    def stop(self):
        for r in self.resp.values():
            r.stop()


WEIGHTS = {"answer": 30, "late": 10, "hold": 12, "drip": 8, "reset": 10, "refuse": 10,
           "endless": 5, "gate": 15}


def draw(seed, quick):
    """The run of a seed: everything random comes from here."""
    rng = random.Random(seed)
    cfg = {"seed": seed}
    cfg["c"] = rng.choice([2, 3, 10, 50, 200, 1000, 10000])
    cfg["t"] = rng.choice([0.3, 0.5, 0.8])
    cfg["pp"] = rng.choice([1, 3, 9, 9])
    cfg["slow"] = rng.random() < 0.35
    cfg["nofile"] = rng.choice([None, None, None, 100, 160])
    cfg["squeeze"] = cfg["nofile"] is None and rng.random() < 0.2  # limit lowered mid-run
    cfg["resume"] = rng.random() < 0.5
    cfg["sigterm"] = cfg["resume"] and rng.random() < 0.5
    cfg["squeeze_at"] = rng.uniform(0.2, 1.0)
    cfg["squeeze_to"] = rng.choice([90, 150])
    c_eff = cfg["c"] if cfg["nofile"] is None else min(cfg["c"], max(1, cfg["nofile"] - 64))
    # A per-address limit (6 by default, where the scanner has one) caps the window too.
    c_eff = min(c_eff, 6 * Servers.ADDRS * len(WEIGHTS))
    if cfg["squeeze"]:
        c_eff = min(c_eff, cfg["squeeze_to"] - 64)
    cfg["c_eff"] = c_eff
    # As many targets as a pessimistic model (every probe of every target takes the whole
    # timeout) scans in about 12 s.
    cap = 2000
    n = int(12 * c_eff / (10 * cfg["t"] / (1 if cfg["pp"] == 1 else 3)))
    cfg["n"] = max(10, min(cap, n))
    names = list(WEIGHTS)
    cfg["kinds"] = rng.choices(names, weights=[WEIGHTS[k] for k in names], k=cfg["n"])
    cfg["which"] = [rng.randrange(Servers.ADDRS) for _ in range(cfg["n"])]
    cfg["bad"] = [rng.randrange(cfg["n"] + 1) for _ in range(rng.randrange(4))]
    cfg["pause"] = rng.uniform(0.5, 2.5) if cfg["slow"] else 0
    cfg["sigterm_at"] = rng.uniform(0.3, 2.0)
    return cfg


def describe(cfg):
    keys = ("c", "t", "pp", "n", "slow", "nofile", "squeeze", "resume", "sigterm")
    return " ".join(f"{k}={cfg[k]}" for k in keys)


def input_lines(cfg, servers):
    lines = ["%s:%d" % servers.endpoints[k][w] for k, w in zip(cfg["kinds"], cfg["which"])]
    for i, pos in enumerate(sorted(cfg["bad"], reverse=True)):
        lines.insert(pos, BAD_LINES[i % len(BAD_LINES)])
    return lines


def expected_key(line):
    if line in BAD_LINES:
        return (line, None)
    host, port = line.rsplit(":", 1)
    return (host, int(port))


def row_key(row):
    return (row.get("host"), row.get("port"))


def check_row(row):
    """'' if the row is valid, else why not."""
    st = row.get("status")
    if st == "bad_target":
        return "" if row.get("error") and row.get("port") is None else "bad bad_target row"
    if st not in TARGET_STATUSES:
        return f"status {st!r}"
    if not str(row.get("host")).startswith("127.") or not isinstance(row.get("port"), int):
        return "host/port"
    probes = row.get("probes")
    if not isinstance(probes, list) or len(probes) != 10:
        return "probes"
    bad = [p.get("status") for p in probes if p.get("status") not in PROBE_STATUSES]
    if bad:
        return f"probe statuses {bad}"
    fp = row.get("jarm", "")
    if not FP_RE.match(fp) or (st != "ok" and fp != "0" * 62):
        return f"jarm {fp!r}"
    return ""


class Reader(threading.Thread):
    """Reads the scanner's stdout: at once, or after a pause and then slowly."""

    def __init__(self, stream, pause):
        super().__init__(daemon=True)
        self.stream, self.pause, self.data = stream, pause, bytearray()

    def run(self):
        if self.pause:
            time.sleep(self.pause)
        while True:
            chunk = self.stream.read1(8192 if self.pause else 1 << 20)
            if not chunk:
                return
            self.data += chunk
            if self.pause:
                time.sleep(0.005)


def one_run(js, cfg, argv, tmp, interrupt):
    """Run the scanner; returns (rc, rows, bad_lines, stderr, wall, maxrss_kib)."""
    nofile = cfg["nofile"]

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    errf = tempfile.TemporaryFile(dir=tmp)
    t0 = time.monotonic()
    proc = subprocess.Popen([js] + argv, stdout=subprocess.PIPE, stderr=errf,
                            stdin=subprocess.DEVNULL, preexec_fn=limit)
    reader = Reader(proc.stdout, cfg["pause"])
    reader.start()
    budget = bound(cfg)
    timers = []
    if interrupt:
        timers.append(threading.Timer(cfg["sigterm_at"], proc.send_signal, [signal.SIGTERM]))
    if cfg["squeeze"] and interrupt is not None:
        lim = cfg["squeeze_to"]
        timers.append(threading.Timer(cfg["squeeze_at"], squeeze, [proc.pid, lim]))
    for t in timers:
        t.start()
    rusage = None
    deadline = time.monotonic() + budget + 30
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = "killed (hung)"
            break
        time.sleep(0.02)
    wall = time.monotonic() - t0
    for t in timers:
        t.cancel()
    reader.join(30)
    proc.stdout.close()
    errf.seek(0)
    err = errf.read()
    errf.close()
    run = harness.Run(proc.returncode, bytes(reader.data), err, wall, rusage.ru_maxrss)
    return run


def squeeze(pid, lim):
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lim, lim))
    except (OSError, ProcessLookupError):
        pass


def bound(cfg):
    """Seconds a run may take: the pessimistic model of draw(), doubled, plus slack. With a
    per-address limit (6 connections) the busiest address can be the bottleneck instead."""
    per_target = 10 * cfg["t"] / (1 if cfg["pp"] == 1 else 3)
    model = cfg["n"] * per_target / max(1, cfg["c_eff"])
    if cfg.get("per_ip"):
        busiest = max(collections.Counter(zip(cfg["kinds"], cfg["which"])).values())
        model = max(model, busiest * 10 * cfg["t"] / 6)
    return 2 * model + 4 * cfg["t"] + cfg["pause"] + 10 + SLACK


def checkpoint_done(path):
    """The unit numbers a checkpoint names as done (a set), given the units of the run."""
    with open(path) as f:
        words = f.read().split()
    nxt = int(words[words.index("next") + 1])
    return set(range(nxt)) | {int(w) for w in words[words.index("done") + 1:]}


def run_seed(args, servers, seed, quick, tmp):
    """Returns (ok, message, counters)."""
    cfg = draw(seed, quick)
    lines = input_lines(cfg, servers)
    path = os.path.join(tmp, f"in-{seed}.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    ck = os.path.join(tmp, f"ck-{seed}")
    for p in (ck, ck + ".lock"):
        if os.path.exists(p):
            os.unlink(p)
    argv = ["-q", "-c", str(cfg["c"]), "-t", str(cfg["t"]), "--probe-parallel", str(cfg["pp"]),
            "-i", path]
    if cfg["resume"]:
        argv += ["--resume", ck]
    if args.verbose:
        print(f"# seed {seed}: {describe(cfg)}\n# {args.jarmsweep} {' '.join(argv)}", flush=True)
    cfg["per_ip"] = supports(args.jarmsweep, "--per-ip")
    want = collections.Counter(expected_key(l) for l in lines)
    problems = []
    runs = [one_run(args.jarmsweep, cfg, argv, tmp, cfg["sigterm"])]
    if cfg["sigterm"]:
        first_done = checkpoint_done(ck) if os.path.exists(ck) else set()
        claimed = collections.Counter(expected_key(lines[i]) for i in first_done
                                      if i < len(lines))
        got1 = collections.Counter(row_key(r) for r in runs[0].rows)
        if claimed != got1:
            problems.append(f"interrupted run: checkpoint names {sum(claimed.values())} units, "
                            f"{sum(got1.values())} rows written; differ by "
                            f"{dict((claimed - got1) + (got1 - claimed))}"[:600])
        cfg2 = dict(cfg, slow=False, pause=0)
        runs.append(one_run(args.jarmsweep, cfg2, argv, tmp, False))
    rows = [r for run in runs for r in run.rows]
    for i, run in enumerate(runs):
        tag = f"run {i + 1}"
        if run.rc != 0:
            problems.append(f"{tag}: exit {run.rc}: {run.err_text[-400:]!r}")
        if b"internal error" in run.err or b"runtime error" in run.err:
            problems.append(f"{tag}: {run.err_text[-400:]!r}")
        if run.bad_lines:
            problems.append(f"{tag}: {len(run.bad_lines)} lines not JSON: {run.bad_lines[:2]!r}")
        lim = bound(cfg)
        if run.wall > lim:
            problems.append(f"{tag}: took {run.wall:.1f} s, bound {lim:.1f} s")
        mem = 600000 if harness_sanitized(args.jarmsweep) else 64000
        if run.maxrss_kib and run.maxrss_kib > mem:
            problems.append(f"{tag}: max RSS {run.maxrss_kib} KiB > {mem}")
    invalid = [(check_row(r), r) for r in rows if check_row(r)]
    if invalid:
        problems.append(f"{len(invalid)} invalid rows, first: {invalid[0][0]}: "
                        f"{json.dumps(invalid[0][1])[:400]}")
    got = collections.Counter(row_key(r) for r in rows)
    if got != want:
        missing, extra = want - got, got - want
        problems.append(f"rows {sum(got.values())} for {sum(want.values())} input lines; "
                        f"missing {sum(missing.values())} {dict(list(missing.items())[:3])}, "
                        f"extra {sum(extra.values())} {dict(list(extra.items())[:3])}")
    if cfg["resume"] and os.path.exists(ck) and not problems:
        done = checkpoint_done(ck)
        if done != set(range(len(lines))):
            problems.append(f"final checkpoint names {len(done)} units of {len(lines)}")
    statuses = collections.Counter(r.get("status") for r in rows)
    msg = (f"seed {seed}: {describe(cfg)}: {len(rows)} rows in "
           f"{' + '.join(f'{r.wall:.1f}' for r in runs)} s, max RSS "
           f"{max((r.maxrss_kib or 0) for r in runs)} KiB, {dict(statuses)}")
    if problems:
        msg += "\n" + "\n".join(problems) + \
            f"\nreplay: {sys.argv[0]} --jarmsweep ... --seed {seed} -v"
    return not problems, msg


_SAN = {}
_HELP = {}


def supports(path, option):
    if path not in _HELP:
        _HELP[path] = subprocess.run([path, "--help"], capture_output=True).stdout
    return option.encode() in _HELP[path]


def harness_sanitized(path):
    if path not in _SAN:
        with open(path, "rb") as f:
            data = f.read()
        _SAN[path] = b"__asan_init" in data or b"__tsan_init" in data
    return _SAN[path]


def main():
    def extra(ap):
        ap.add_argument("--seed", type=int, action="append", help="run these seeds only")
        ap.add_argument("--minutes", type=float, help="random seeds for this long")
        ap.add_argument("-v", "--verbose", action="store_true")
    args = harness.parse_args(extra)
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    with tempfile.TemporaryDirectory(prefix="jarm-stress-") as tmp:
        servers = Servers(args, tmp, cap)
        try:
            if args.minutes:
                end = time.monotonic() + 60 * args.minutes
                seeds_rng = random.Random()
                count = failed = rows = 0
                while time.monotonic() < end:
                    seed = seeds_rng.randrange(1, 1 << 31)
                    ok, msg = run_seed(args, servers, seed, False, tmp)
                    tap.ok(ok, msg.splitlines()[0], msg)
                    count += 1
                    failed += not ok
                tap.diag(f"{count} random seeds in {args.minutes} minutes, {failed} failed")
            else:
                for seed in args.seed or SHORT_SEEDS:
                    ok, msg = run_seed(args, servers, seed, not args.seed, tmp)
                    tap.ok(ok, msg.splitlines()[0], msg)
        finally:
            servers.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

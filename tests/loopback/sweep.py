#!/usr/bin/env python3
"""Sweeps: shards, seeds, blocklists, resume after interruptions, streaming input.

1. Three shards of 127.5.0.0/20 x 443,8443 with one seed (--dry-run): disjoint, together
   exactly the 8,192 targets, and the same order when run again; another seed, another order.
2. The default blocklist keeps 127.0.0.0/8 out of a range unless --allow-reserved; a
   --blocklist file removes its CIDRs from a range but never an explicit target.
3. A 16,384-target sweep (127.6.0.0/19 x 2 ports) against the replay responder, stopped with
   SIGINT three times at random moments and resumed with --resume: the union of the output
   is every target exactly once, each with the right fingerprint.
4. Streaming: two million lines through a pipe (-i -) with --dry-run: every line comes out,
   and peak memory stays flat (well under 64 MiB).
Runs in a private network namespace (lo only); skipped when that is impossible.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import harness


def dry(args, extra):
    r = harness.run(args.jarmsweep, ["-q", "--dry-run"] + extra, timeout=120)
    return r.rc, r.out.decode().split()


def main():
    args = harness.parse_args()
    harness.in_private_netns("needs root, unshare and ip for a private network namespace")
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    fp = cap["fingerprint"]

    # 1. shards
    base = ["--allow-reserved", "-p", "443,8443", "--seed", "12345", "127.5.0.0/20"]
    everything = {f"127.5.{i >> 8}.{i & 255}:{p}" for i in range(4096) for p in (443, 8443)}
    parts = [dry(args, base + ["--shard", f"{i}/3"])[1] for i in range(3)]
    union = [t for p in parts for t in p]
    tap.eq(len(union), 8192, "three shards hold 8,192 targets")
    tap.ok(set(union) == everything and len(set(union)) == len(union),
           "shards are disjoint and complete")
    tap.ok(all(abs(len(p) - 8192 / 3) < 8192 / 3 * 0.02 for p in parts), "shards are balanced (2%)",
           [len(p) for p in parts])
    again = [dry(args, base + ["--shard", f"{i}/3"])[1] for i in range(3)]
    tap.ok(again == parts, "same seed, same shards, same order")
    other = dry(args, ["--allow-reserved", "-p", "443,8443", "--seed", "54321",
                       "127.5.0.0/20"])[1]
    tap.ok(set(other) == everything and other != sorted(other, key=union.index),
           "another seed: the same targets in another order")
    seq = dry(args, ["--allow-reserved", "--seed", "1", "127.5.0.0/24"])[1]
    tap.ok(seq != sorted(seq, key=lambda s: int(s.split(".")[3].split(":")[0])),
           "a range is not scanned in address order")

    # 2. blocklists
    rc, out = dry(args, ["-p", "443", "127.5.0.0/28"])
    tap.ok(rc == 0 and out == [], "the default blocklist keeps 127/8 out of ranges", out[:3])
    rc, out = dry(args, ["-p", "443", "127.5.0.1"])
    tap.eq(out, ["127.5.0.1:443"], "an explicit target is never blocklisted")
    with tempfile.TemporaryDirectory(prefix="jarm-sweep-") as tmp:
        bl = os.path.join(tmp, "block.conf")
        with open(bl, "w") as f:
            f.write("# opt-outs\n127.5.0.0/29\n127.5.0.9\n")
        rc, out = dry(args, ["--allow-reserved", "--blocklist", bl, "-p", "443",
                             "127.5.0.0/28", "127.5.0.3"])
        want = {f"127.5.0.{i}:443" for i in range(16)} - {f"127.5.0.{i}:443" for i in
                                                          list(range(8)) + [9]}
        tap.ok(set(out[:-1]) == want and out[-1] == "127.5.0.3:443",
               "--blocklist removes CIDRs from ranges, not explicit targets", out)
        with open(bl, "w") as f:
            f.write("127.5.0.0/33\n")
        r = harness.run(args.jarmsweep, ["--allow-reserved", "--blocklist", bl, "127.5.0.0/28"])
        tap.ok(r.rc == 2 and "block.conf:1:" in r.err_text and not r.out,
               "a bad blocklist line is a usage error naming FILE:LINE", r.describe())
        resume_part(tap, args, tmp, cap, fp)
    stream_part(tap, args)
    return tap.done()


def resume_part(tap, args, tmp, cap, fp):
    replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
    resp = harness.Responder(args.responder, tmp, replies=replies, listen=("0.0.0.0:0",))
    try:
        port = resp.port
        out = os.path.join(tmp, "out.ndjson")
        ck = os.path.join(tmp, "sweep.resume")
        cmd = [args.jarmsweep, "-q", "-c", "500", "-t", "5", "--allow-reserved",
               "-p", f"{port},{port + 1}" if port < 65535 else f"{port}", "--seed", "99",
               "--resume", ck, "-o", out, "127.6.0.0/19"]
        # Probes to port+1 are refused: they still make a row each, which is what we count.
        rnd = random.Random(4242)
        stops = 0
        for attempt in range(3):
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rnd.uniform(0.8, 2.5))
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                stops += 1
            p.wait(timeout=120)
        tap.ok(stops >= 2, f"the sweep was interrupted ({stops} times)")
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        tap.eq(r.returncode, 0, "the last resumed run completes")
        rows = [harness.json.loads(l) for l in open(out, "rb").read().splitlines()]
        keys = [(x["ip"], x["port"]) for x in rows]
        nports = 2 if port < 65535 else 1
        tap.eq(len(keys), 8192 * nports, "as many rows as targets")
        tap.eq(len(set(keys)), len(keys), "no target twice across the runs")
        want = {(f"127.6.{i >> 8}.{i & 255}", q) for i in range(8192)
                for q in ([port, port + 1] if nports == 2 else [port])}
        tap.ok(set(keys) == want, "every target once: no holes")
        tap.ok(all(x["jarm"] == fp for x in rows if x["port"] == port),
               "every answered target has the capture's fingerprint")
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        rows2 = open(out, "rb").read().splitlines()
        tap.ok(r.returncode == 0 and len(rows2) == len(rows),
               "resuming a finished sweep scans nothing")
        bad = cmd[:]
        bad[bad.index("99")] = "98"
        r = subprocess.run(bad, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        tap.ok(r.returncode == 2 and b"--seed" in r.stderr,
               "a checkpoint refuses another seed", r.stderr)
    finally:
        resp.stop()


def stream_part(tap, args):
    n = 2_000_000
    gen = subprocess.Popen([sys.executable, "-c",
                            "import sys\nw=sys.stdout.write\n"
                            f"for i in range({n}): w('10.%d.%d.%d:443\\n' % "
                            "(i >> 16 & 255, i >> 8 & 255, i & 255))"],
                           stdout=subprocess.PIPE)
    time_bin = harness.TIME_BIN
    cmd = [args.jarmsweep, "-q", "--dry-run", "-i", "-"]
    if time_bin:
        cmd = [time_bin, "-f", "%M"] + cmd
    p = subprocess.run(cmd, stdin=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300)
    gen.wait()
    lines = p.stdout.count(b"\n")
    tap.eq(lines, n, "two million piped lines, two million targets out")
    if time_bin:
        rss = int(p.stderr.decode().strip().splitlines()[-1])
        tap.ok(rss < 64 * 1024, f"peak RSS stays flat: {rss} KiB")


if __name__ == "__main__":
    sys.exit(main())

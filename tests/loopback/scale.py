#!/usr/bin/env python3
"""10,000 targets, and an input file of good and garbage lines: one row per line, none lost.

Runs in a private network namespace (re-executes itself under `unshare --net`, lo only; the
test is skipped when that is impossible), with the responder on 0.0.0.0 so that every
127.x.y.z address reaches it.

1. 10,000 targets on distinct 127.x.y.z addresses, -c 3000 (fds stay far below the
   20,000 open-files limit): exactly 10,000 rows, each with the capture's fingerprint, no
   (ip, port) twice, every target present, each probe sent exactly once per target.
2. A mixed file: good targets in every accepted spelling, a duplicate, bad ports, `[::1`,
   `host:`, an empty host, overlong lines, binary junk, comments, blank and whitespace-only
   lines: exactly one row per non-blank non-comment line; bad ones are `bad_target` with
   their line number and text; duplicates are scanned as often as they are listed.
"""
import os
import sys
import tempfile

import harness
from harness import ZEROS

N = 10000


def gen_ips(n, first=(127 << 24) | (1 << 16) | 1):
    out, ip = [], first
    while len(out) < n:
        if ip & 0xff not in (0, 255):
            out.append(f"{ip >> 24}.{(ip >> 16) & 0xff}.{(ip >> 8) & 0xff}.{ip & 0xff}")
        ip += 1
    return out


def main():
    args = harness.parse_args()
    harness.in_private_netns("needs root, unshare and ip for a private network namespace")
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    fp, raw = cap["fingerprint"], cap["raw"]

    with tempfile.TemporaryDirectory(prefix="jarm-scale-") as tmp:
        replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
        resp = harness.Responder(args.responder, tmp, replies=replies, listen=("0.0.0.0:0",))
        try:
            port = resp.port
            scale_part(tap, args, tmp, resp, port, fp, raw)
            mixed_part(tap, args, tmp, port, fp)
        finally:
            resp.stop()
    return tap.done()


def scale_part(tap, args, tmp, resp, port, fp, raw):
    ips = gen_ips(N)
    tf = os.path.join(tmp, "targets.txt")
    with open(tf, "w") as f:
        f.write("".join(f"{ip}:{port}\n" for ip in ips))
    r = harness.run(args.jarmsweep, ["-q", "-c", 3000, "-t", 10, "-i", tf], timeout=900)
    tap.diag(f"{N} targets in {r.wall:.2f}s ({N / r.wall:.0f} targets/s)")
    tap.ok(r.rc == 0, "10k: exit 0", r.describe())
    tap.ok(not r.bad_lines, "10k: every output line is a JSON object",
           r.bad_lines[:3])
    tap.eq(len(r.rows), N, "10k: exactly 10,000 rows")
    keys = [(row.get("ip"), row.get("port")) for row in r.rows]
    tap.eq(len(keys) - len(set(keys)), 0, "10k: no (ip, port) twice")
    tap.ok(set(keys) == set((ip, port) for ip in ips), "10k: every target has its row",
           f"missing {len(set((ip, port) for ip in ips) - set(keys))}, "
           f"unexpected {list(set(keys) - set((ip, port) for ip in ips))[:5]}")
    wrong = [row for row in r.rows if row.get("status") != "ok" or row.get("jarm") != fp
             or row.get("raw") != raw or row.get("host") != row.get("ip")]
    tap.ok(not wrong, f"10k: every row ok with the capture's fingerprint ({len(wrong)} wrong)",
           wrong[:3])
    st = resp.snapshot()
    tap.eq(st.get("accepted"), N * 10, "10k: exactly ten connections per target")
    tap.eq(st.get("by_probe"), [N] * 10, "10k: each probe sent exactly once per target")
    tap.eq(st.get("unrecognised"), 0, "10k: every ClientHello recognised")


def mixed_part(tap, args, tmp, port, fp):
    P = str(port).encode()
    # (line bytes, expectation): "skip", "bad", ("ok", ip, port), ("status", word)
    spec = [
        (b"# mixed input: comments and blank lines are skipped", "skip"),
        (b"127.2.0.1:" + P, ("ok", "127.2.0.1", port)),
        (b"", "skip"),
        (b"127.2.0.2:99999", "bad"),
        (b"[::1", "bad"),
        (b"127.2.0.3:", "bad"),
        (b":" + P, "bad"),
        (b"a" * 5000 + b":" + P, "bad"),
        (b"\x00\xff\xfe\x80junk\x01\x1b[31m:443", "bad"),
        (b"127.2.0.4," + P, ("ok", "127.2.0.4", port)),
        (b"127.2.0.5:" + P + b" \t\r", ("ok", "127.2.0.5", port)),
        (b"   \t", "skip"),
        (b"#127.2.0.99:" + P, "skip"),
        (b"127.2.0.1:" + P, ("ok", "127.2.0.1", port)),
        (b"127.2.0.6", ("ok", "127.2.0.6", port)),
        (b"127.2.0.7:0", "bad"),
        (b"127.2.0.8:-1", "bad"),
        (b"127.2.0.9:44a", "bad"),
        (b"127.2.0.10:" + P + b"0000000", "bad"),
        (b"[::1]:" + P, ("status", "refused")),
        (b"x" * 70000, "bad"),
        (b"\r", "skip"),
        (b"127.2.0.12:" + P, ("ok", "127.2.0.12", port)),  # last line, no newline
    ]
    mf = os.path.join(tmp, "mixed.txt")
    with open(mf, "wb") as f:
        f.write(b"\n".join(line for line, _ in spec))
    r = harness.run(args.jarmsweep, ["-q", "-t", 2, "-p", port, "-i", mf], timeout=60)
    tap.ok(r.rc == 0, "mixed: exit 0", r.describe())
    tap.ok(not r.bad_lines, "mixed: every output line is valid UTF-8 JSON", r.bad_lines[:3])
    want_rows = sum(1 for _, e in spec if e != "skip")
    tap.eq(len(r.rows), want_rows, "mixed: one row per non-blank non-comment line")

    bad_rows = {}
    for row in r.rows:
        if row.get("status") == "bad_target":
            bad_rows.setdefault(row.get("line"), []).append(row)
    want_bad = [i + 1 for i, (_, e) in enumerate(spec) if e == "bad"]
    tap.eq(sorted(k for k in bad_rows if k is not None), want_bad,
           "mixed: bad_target rows carry the line numbers of the bad lines")
    tap.ok(all(len(v) == 1 for v in bad_rows.values()), "mixed: one row per bad line")
    for lineno in want_bad:
        line = spec[lineno - 1][0]
        row = (bad_rows.get(lineno) or [{}])[0]
        text = line.rstrip(b" \t\r")
        label = f"mixed line {lineno} ({text[:24]!r}{'...' if len(text) > 24 else ''})"
        ok = (row.get("ip") is None and row.get("port") is None and row.get("jarm") == ZEROS
              and row.get("input") == mf and isinstance(row.get("error"), str)
              and row.get("error") != "" and isinstance(row.get("host"), str))
        tap.ok(ok, f"{label}: bad_target with ip/port null, zeros, input, error",
               {k: (v[:80] if isinstance(v, str) else v) for k, v in row.items()})
        try:
            ascii_text = text.decode("ascii")
            printable = ascii_text.isprintable()
        except UnicodeDecodeError:
            printable = False
        if printable and len(text) <= 256:
            tap.eq(row.get("host"), ascii_text, f"{label}: the text as given")
        elif printable:
            h = row.get("host") or ""
            tap.ok(len(h) >= 16 and ascii_text.startswith(h),
                   f"{label}: the text as given (possibly shortened)", h[:80])

    want_ok = {}
    for _, e in spec:
        if isinstance(e, tuple) and e[0] == "ok":
            want_ok[(e[1], e[2])] = want_ok.get((e[1], e[2]), 0) + 1
    got_ok = {}
    for row in r.rows:
        if row.get("status") == "ok" and row.get("jarm") == fp:
            key = (row.get("ip"), row.get("port"))
            got_ok[key] = got_ok.get(key, 0) + 1
    tap.eq(got_ok, want_ok, "mixed: good lines in every spelling scanned, the duplicate twice")
    others = [row.get("status") for row in r.rows if row.get("ip") == "::1"]
    tap.eq(others, ["refused"], "mixed: [::1]:PORT (nothing listens on ::1 here) refused")


if __name__ == "__main__":
    sys.exit(main())

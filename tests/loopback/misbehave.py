#!/usr/bin/env python3
"""jarmsweep against servers that misbehave (tests/helpers/responder --mode ...).

The responder answers each probe with the bytes the reference received from
`openssl s_server` (captures.json, openssl_rsa_default), or misbehaves: never answers,
drips one byte per 100 ms, resets after accept or after the ClientHello, sends megabytes of
garbage, answers HTTP, answers an alert, closes without a word. Each case asserts the target
and probe statuses of the CLI contract, the fingerprint (expected values come from the
capture or from harness.fuzzy, the hash as jarm(7) states it), how many
connections were made, and that it cost at most its timeout. Cases run concurrently, each
with its own responder on 127.0.0.1 (or ::1).
"""
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import harness
from harness import RAW_EMPTY, SLACK, ZEROS

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class Case:
    def __init__(self, name, *, mode="replay", lines=None, resp_extra=(), args=(), timeout=2,
                 listen="127.0.0.1:0", no_server=False, rss=False, host="127.0.0.1"):
        self.name, self.mode, self.lines, self.resp_extra = name, mode, lines, resp_extra
        self.args, self.timeout, self.listen, self.no_server = list(args), timeout, listen, no_server
        self.rss, self.host = rss, host
        self.run = self.stats = self.port = None


def execute(case, args, tmp):
    resp = None
    if case.no_server:
        case.port = harness.free_port()
    else:
        replies = None
        if case.lines is not None:
            replies = harness.write_replies(f"{tmp}/{case.name}.replies", case.lines)
        resp = harness.Responder(args.responder, tmp, mode=case.mode, replies=replies,
                                 listen=(case.listen,), extra=case.resp_extra)
        case.port = resp.port
    target = f"[{case.host}]:{case.port}" if ":" in case.host else f"{case.host}:{case.port}"
    try:
        case.run = harness.run(args.jarmsweep, ["-t", case.timeout] + case.args + [target],
                               timeout=4 * case.timeout + 30, measure_rss=case.rss)
    finally:
        case.stats = resp.stop() if resp else {}
    return case


def probe_statuses(row):
    return [p.get("status") if isinstance(p, dict) else None for p in row.get("probes") or []]


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    lines = harness.reply_lines(cap)
    fp, raw = cap["fingerprint"], cap["raw"]
    parsed = [p["parsed"] for p in cap["probes"]]
    # What each probe of the capture is: a ServerHello (ok) or an alert (15 ...).
    kinds = ["alert" if h.startswith("15") else "ok" for h in lines]

    tap.ok(harness.fuzzy(raw) == fp, "jarm(7)'s hash (harness.fuzzy) gives the capture's "
           "fingerprint")

    # Probe 3 closes without a word, probe 5 resets (cli_behaviour probe_3_eof_without_data,
    # probe_5_rst): only those probes are blanked.
    eofrst_lines = list(lines)
    eofrst_lines[2], eofrst_lines[4] = "close", "reset"
    eofrst_raw = ",".join("|||" if i in (2, 4) else s for i, s in enumerate(parsed))

    # Probe 4 never answers (cli_behaviour timeout_on_probe_4): one probe at a time, so the
    # reference's sequence is reproduced exactly: 4 connections, then everything zero.
    p4_lines = list(lines)
    p4_lines[3] = "-"

    cases = [
        Case("replay", lines=lines, timeout=5, rss=True),
        Case("silent", mode="silent", lines=lines, timeout=2),
        Case("probe4_timeout", lines=p4_lines, args=["--probe-parallel", 1], timeout=2),
        Case("eof_and_rst", lines=eofrst_lines, timeout=5),
        Case("drip", mode="drip", lines=lines, args=["--probe-parallel", 9], timeout=2),
        Case("drip_fast", mode="drip", lines=lines, resp_extra=["--drip-ms", "10"],
             args=["--probe-parallel", 9], timeout=5),
        Case("reset_accept", mode="reset-accept", lines=lines, timeout=2),
        Case("reset_hello", mode="reset-hello", lines=lines, timeout=2),
        Case("garbage", mode="garbage", lines=lines, resp_extra=["--garbage-mib", "64"],
             timeout=2, rss=True),
        Case("http", mode="http", lines=lines, timeout=2),
        Case("alert", mode="alert", lines=lines, timeout=2),
        Case("close", mode="close", lines=lines, timeout=2),
        Case("refused", no_server=True, timeout=2),
        Case("ipv6", lines=lines, listen="[::1]:0", host="::1", timeout=5),
        Case("delayed_in_time", lines=lines, resp_extra=["--delay-ms", "300"], timeout=2),
    ]

    with tempfile.TemporaryDirectory(prefix="jarm-misbehave-") as tmp:
        with ThreadPoolExecutor(max_workers=len(cases)) as pool:
            done = {c.name: c for c in pool.map(lambda c: execute(c, args, tmp), cases)}

    def common(c, status, jarm, raw_, probes, accepted=None):
        """Assertions every case makes; returns the row."""
        r, row = c.run, c.run.row
        n = c.name
        if not tap.ok(r.rc == 0 and len(r.rows) == 1 and not r.bad_lines,
                      f"{n}: exit 0, exactly one NDJSON row", r.describe()):
            return row
        tap.eq(row.get("status"), status, f"{n}: target status {status}")
        tap.eq(row.get("jarm"), jarm, f"{n}: jarm")
        tap.eq(row.get("raw"), raw_, f"{n}: raw")
        tap.eq(probe_statuses(row), probes, f"{n}: probe statuses")
        tap.ok(row.get("port") == c.port and row.get("ip") == c.host and row.get("host") == c.host,
               f"{n}: host, ip, port", {k: row.get(k) for k in ("host", "ip", "port")})
        if accepted is not None:
            tap.eq(c.stats.get("accepted"), accepted, f"{n}: {accepted} connection(s) made")
        return row

    def within(c, bound, lower=None):
        desc = f"{c.name}: took {c.run.wall:.2f}s, at most {bound:.2f}s"
        if lower is not None:
            desc += f" and at least {lower:.2f}s"
        tap.ok(c.run.wall <= bound and (lower is None or c.run.wall >= lower), desc)

    # Replay: the capture, exactly; one connection per probe; each probe recognised once.
    c = done["replay"]
    row = common(c, "ok", fp, raw, kinds, accepted=10)
    tap.eq(c.stats.get("by_probe"), [1] * 10, "replay: each of the ten probes sent once")
    tap.eq(row.get("sni"), "127.0.0.1", "replay: sni is the target as given")
    tap.ok(isinstance(row.get("elapsed_ms"), int) and 0 <= row["elapsed_ms"] <= c.run.wall * 1000
           + 50, "replay: elapsed_ms is an integer within the run", row.get("elapsed_ms"))
    tap.ok(isinstance(row.get("ts"), str) and TS_RE.match(row["ts"]), "replay: ts is RFC 3339",
           row.get("ts"))
    tap.ok(all(isinstance(p, dict) and isinstance(p.get("ms"), int) for p in row.get("probes", [])),
           "replay: every probe has an integer ms")
    within(c, c.timeout + SLACK)

    # Silent: the gate probe times out; no other probe is sent; zeros.
    c = done["silent"]
    common(c, "timeout", ZEROS, RAW_EMPTY, ["timeout"] + ["skipped"] * 9, accepted=1)
    within(c, c.timeout + SLACK, lower=c.timeout - 0.1)

    # Probe 4 never answers, one probe at a time: the reference's 4 connections, then zeros.
    c = done["probe4_timeout"]
    common(c, "timeout", ZEROS, RAW_EMPTY, kinds[:3] + ["timeout"] + ["skipped"] * 6,
           accepted=4)
    within(c, c.timeout + SLACK, lower=c.timeout - 0.1)

    # EOF without data on probe 3, RST on probe 5: only those probes are blanked.
    c = done["eof_and_rst"]
    common(c, "ok", harness.fuzzy(eofrst_raw), eofrst_raw,
           kinds[:2] + ["closed", kinds[3], "reset"] + kinds[5:], accepted=10)
    within(c, c.timeout + SLACK)

    # Drip 1 byte / 100 ms with -t 2: at the timeout each probe holds ~21 bytes, which the
    # reference's single recv would have returned: parsed as final (jarm(7), Reading), a
    # ServerHello cut before byte 44 gives |||; the 7-byte alerts arrive whole. The gate probe
    # and the parallel round each cost at most one timeout.
    c = done["drip"]
    drip_probes = ["alert" if k == "alert" else "malformed" for k in kinds]
    common(c, "rejected", ZEROS, RAW_EMPTY, drip_probes, accepted=10)
    within(c, 2 * c.timeout + SLACK, lower=2 * c.timeout - 0.2)

    # Drip 1 byte / 10 ms with -t 5: the ServerHellos are decided after ~100 bytes (~1 s),
    # long before the 1484 bytes or EOF arrive: the parser's early decision, not the timeout,
    # ends each probe.
    c = done["drip_fast"]
    common(c, "ok", fp, raw, kinds, accepted=10)
    within(c, c.timeout)

    for name, hello in (("reset_accept", None), ("reset_hello", 10)):
        c = done[name]
        common(c, "rejected", ZEROS, RAW_EMPTY, ["reset"] * 10, accepted=10)
        if hello is not None:
            tap.eq(c.stats.get("hellos"), hello, f"{name}: every ClientHello was read first")
        within(c, c.timeout + SLACK)

    # Garbage: 64 MiB of random non-TLS bytes per connection: no_tls at the first byte; the
    # scanner stops reading (no connection is read to its end) and holds no more memory than
    # for a normal target.
    c = done["garbage"]
    common(c, "no_tls", ZEROS, RAW_EMPTY, ["no_tls"] * 10, accepted=10)
    tap.eq(c.stats.get("answered"), 0, "garbage: no connection was read to the end")
    within(c, c.timeout + SLACK)
    base = done["replay"].run.maxrss_kib
    if c.run.maxrss_kib is not None and base is not None:
        tap.ok(c.run.maxrss_kib <= base + 2048,
               f"garbage: peak RSS {c.run.maxrss_kib} KiB, within 2 MiB of a normal target's "
               f"{base} KiB")
    else:
        tap.skip("garbage: peak RSS bounded", "GNU time not installed")

    c = done["http"]
    common(c, "no_tls", ZEROS, RAW_EMPTY, ["no_tls"] * 10, accepted=10)
    within(c, c.timeout + SLACK)

    c = done["alert"]
    common(c, "rejected", ZEROS, RAW_EMPTY, ["alert"] * 10, accepted=10)
    within(c, c.timeout + SLACK)

    c = done["close"]
    common(c, "rejected", ZEROS, RAW_EMPTY, ["closed"] * 10, accepted=10)
    within(c, c.timeout + SLACK)

    c = done["refused"]
    common(c, "refused", ZEROS, RAW_EMPTY, ["refused"] * 10)
    within(c, SLACK)

    c = done["ipv6"]
    common(c, "ok", fp, raw, kinds, accepted=10)
    within(c, c.timeout + SLACK)

    # Every reply held 300 ms, well inside -t 2: the capture, and the delay was really waited
    # (gate probe, then at least one more round; ten rounds if probes go one at a time).
    c = done["delayed_in_time"]
    common(c, "ok", fp, raw, kinds, accepted=10)
    within(c, 10 * 0.3 + SLACK, lower=0.6)

    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

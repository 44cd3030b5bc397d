#!/usr/bin/env python3
"""Names against a hostile DNS server (tests/loopback/hostile_dns.py on 127.0.0.1) (TAP).

- TCP fallback that closes after one answer: UDP answers take 50 ms, and 5% of 2,000 names
  are answered over UDP only with the TC bit, and the server's TCP side answers one query per connection and closes it
  (c-ares then fails every other query on it and, before 1.20, every query outstanding to
  that server; without retries about a third of all names ended as dns_error). No name may end as dns_error: the healthy ones are not
  hurt, and the truncated ones are asked again until each gets its own connection.
- Names that never answer: 5% of 2,000 names get no answer at all. They end as dns_error
  timeout, and must not hold up the others: every healthy name has its row within about a
  second, and the run ends when the silent names' own tries are over.
Every name resolves to 127.0.0.1 and is scanned on a port where nothing listens (refused).
"""
import collections
import os
import random
import sys
import tempfile
import time

import harness
from harness import SLACK
from hostile_dns import HostileDNS


def ts_seconds(ts):
    """Seconds since the epoch of a row's ts (UTC, milliseconds)."""
    import calendar
    base, frac = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000


def scan(args, dns, names, tmp, extra=()):
    path = os.path.join(tmp, "names.txt")
    with open(path, "w") as f:
        f.write("\n".join(names) + "\n")
    port = harness.free_port()
    t0 = time.time()
    r = harness.run(args.jarmsweep, ["-q", "-t", "1", "-p", port, "--resolvers",
                                     f"127.0.0.1:{dns.port}", "-i", path] + list(extra),
                    timeout=120)
    return r, t0


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="jarm-dns-") as tmp, \
            HostileDNS(udp_delay=0.05) as dns:
        # TCP fallback, one answer per connection.
        names = [f"tcp{i}.test" if rng.random() < 0.05 else f"ok{i}.test" for i in range(2000)]
        r, _ = scan(args, dns, names, tmp)
        by = collections.Counter((row["host"][:2], row["status"]) for row in r.rows)
        ntcp = sum(n.startswith("tcp") for n in names)
        tap.ok(r.rc == 0 and len(r.rows) == 2000, "TCP fallback: a row per name", r.describe())
        tap.eq(by[("ok", "refused")], 2000 - ntcp, "  every healthy name resolved (none dns_error)")
        tap.eq(by[("tc", "refused")], ntcp,
               f"  every one of the {ntcp} truncated names resolved over TCP, asked again "
               "after the connection closed under it")
        tap.diag(f"TCP connections {dns.tcp_conns}, rows {dict(by)}, {r.wall:.2f} s")

        # Names that never answer (answers at once from here on).
        dns.udp_delay = 0
        names = [f"quiet{i}.test" if rng.random() < 0.05 else f"ok{i}.test" for i in range(2000)]
        nquiet = sum(n.startswith("quiet") for n in names)
        r, t0 = scan(args, dns, names, tmp)
        ok_rows = [row for row in r.rows if row["host"].startswith("ok")]
        quiet_rows = [row for row in r.rows if row["host"].startswith("quiet")]
        last_ok = max((ts_seconds(row["ts"]) for row in ok_rows), default=1e18) - t0
        tap.ok(r.rc == 0 and len(ok_rows) == 2000 - nquiet
               and all(row["status"] == "refused" for row in ok_rows),
               "silent names: every healthy name scanned", r.describe())
        tap.ok(len(quiet_rows) == nquiet and all(row["status"] == "dns_error"
                                                 and row["error"] == "timeout"
                                                 for row in quiet_rows),
               f"  the {nquiet} silent names are dns_error timeout")
        tap.ok(last_ok <= 1.5 + SLACK,
               f"  the last healthy row {last_ok:.2f} s after the start (silent names do not "
               f"throttle the others; it was 24 s)")
        tap.ok(r.wall <= 8 + SLACK, f"  the run took {r.wall:.2f} s (the silent names' tries "
               "of 2 + 4 s, default --dns-timeout 2 and --dns-tries 2)")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

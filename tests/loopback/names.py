#!/usr/bin/env python3
"""Host names end to end: dnsmasq on loopback resolves, jarmsweep scans what it answered.

Runs in a private network namespace (lo only; skipped when that is impossible) with the
responder on 0.0.0.0 and [::], and dnsmasq on 127.0.0.1 with --no-resolv --no-hosts and a
generated hosts file, so no query and no probe can leave the namespace.

1. 2,000 names, each with its own 127.2.x.y address: 2,000 rows, each with the name as
   `host` and `sni`, the address the hosts file gives as `ip`, and the capture's fingerprint.
2. 50 names that do not exist: exactly one row each, status dns_error, error nxdomain.
3. A name with two A records: one row (the first address) by default, two with
   --all-addresses; a name with only an AAAA record (::1) is scanned over IPv6; -4 makes it
   no_address.
4. A silent DNS server: one dns_error row with error timeout, within the DNS time budget.
5. A name listed on two lines and with two ports: four rows, all right.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile

import harness

N = 2000
NX = 50
DNSMASQ = "/usr/sbin/dnsmasq"


def start_dnsmasq(tmp, hosts_lines):
    hosts = os.path.join(tmp, "hosts")
    with open(hosts, "w") as f:
        f.write("".join(hosts_lines))
    os.chmod(hosts, 0o644)
    port = harness.free_port()
    proc = subprocess.Popen([DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
                             "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                             f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                             "--local=/jarmsweep.test/", f"--pid-file={tmp}/dnsmasq.pid",
                             "--log-facility=-", "--cache-size=10000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_dns(proc, port, "n0.jarmsweep.test")
    return proc, port



def addr(i):
    return f"127.2.{i // 250}.{i % 250 + 1}"


def main():
    args = harness.parse_args()
    if not os.path.exists(DNSMASQ):
        harness.Tap.skip_all("dnsmasq (dnsmasq-base) is not installed")
    harness.in_private_netns("needs root, unshare and ip for a private network namespace")
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    fp = cap["fingerprint"]

    with tempfile.TemporaryDirectory(prefix="jarm-names-") as tmp:
        os.chmod(tmp, 0o755)  # dnsmasq reads the hosts file as nobody
        hosts = [f"{addr(i)} n{i}.jarmsweep.test\n" for i in range(N)]
        hosts += ["127.3.0.1 multi.jarmsweep.test\n", "127.3.0.2 multi.jarmsweep.test\n",
                  "::1 v6.jarmsweep.test\n"]
        dns, dport = start_dnsmasq(tmp, hosts)
        replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
        resp = harness.Responder(args.responder, tmp, replies=replies,
                                 listen=("0.0.0.0:0",))
        try:
            port = resp.port
            resolvers = ["--resolvers", f"127.0.0.1:{dport}"]

            # 1 and 2: 2,000 names and 50 that do not exist, interleaved.
            names = os.path.join(tmp, "names.txt")
            with open(names, "w") as f:
                for i in range(N):
                    f.write(f"n{i}.jarmsweep.test\n")
                    if i % (N // NX) == 0:
                        f.write(f"nx{i}.jarmsweep.test\n")
            r = harness.run(args.jarmsweep, ["-q", "-c", 2000, "-t", 10, "-p", port, "-i", names]
                            + resolvers, timeout=600)
            tap.eq(r.rc, 0, "2,000 names: exit 0")
            tap.eq(len(r.rows), N + NX, "one row per name")
            ok_rows = [x for x in r.rows if x.get("status") == "ok"]
            want = {f"n{i}.jarmsweep.test": addr(i) for i in range(N)}
            got = {x["host"]: x["ip"] for x in ok_rows}
            tap.eq(len(ok_rows), N, "every existing name scanned ok")
            tap.ok(got == want, "each name scanned at the address dnsmasq gave",
                   [(h, got.get(h), a) for h, a in want.items() if got.get(h) != a][:5])
            tap.ok(all(x["jarm"] == fp for x in ok_rows), "each with the capture's fingerprint")
            tap.ok(all(x["sni"] == x["host"] for x in ok_rows), "server_name is the name")
            nx = [x for x in r.rows if x["host"].startswith("nx")]
            tap.eq(len(nx), NX, "one row per NXDOMAIN name")
            tap.ok(all(x["status"] == "dns_error" and x.get("error") == "nxdomain"
                       and x["ip"] is None and x["jarm"] == harness.ZEROS for x in nx),
                   "NXDOMAIN rows say dns_error / nxdomain with 62 zeros", nx[:2])
            tap.eq(len({x["host"] for x in nx}), NX, "no NXDOMAIN name twice")

            # 3: several addresses, IPv6 only, -4.
            r = harness.run(args.jarmsweep, ["-q", "-p", port, "multi.jarmsweep.test"] + resolvers)
            tap.ok(len(r.rows) == 1 and r.rows[0]["ip"] == "127.3.0.1"
                   and r.rows[0]["jarm"] == fp, "two A records: the first is scanned",
                   r.describe())
            r = harness.run(args.jarmsweep, ["-q", "-p", port, "--all-addresses",
                                             "multi.jarmsweep.test"] + resolvers)
            tap.ok(sorted(x["ip"] for x in r.rows) == ["127.3.0.1", "127.3.0.2"]
                   and all(x["jarm"] == fp for x in r.rows),
                   "--all-addresses: one row per address", r.describe())
            resp6 = harness.Responder(args.responder, tmp, replies=replies,
                                      listen=(f"[::1]:{port}",))
            try:
                r = harness.run(args.jarmsweep, ["-q", "-p", port, "v6.jarmsweep.test"]
                                + resolvers)
                tap.ok(len(r.rows) == 1 and r.rows[0]["ip"] == "::1"
                       and r.rows[0]["jarm"] == fp, "AAAA-only name scanned over IPv6",
                       r.describe())
            finally:
                resp6.stop()
            r = harness.run(args.jarmsweep, ["-q", "-4", "-p", port, "v6.jarmsweep.test"]
                            + resolvers)
            tap.ok(len(r.rows) == 1 and r.rows[0]["status"] == "dns_error"
                   and r.rows[0].get("error") == "no_address", "-4: AAAA-only is no_address",
                   r.describe())

            # 5: duplicates and ports.
            dup = os.path.join(tmp, "dup.txt")
            with open(dup, "w") as f:
                f.write("n1.jarmsweep.test\nn1.jarmsweep.test\n")
            r = harness.run(args.jarmsweep, ["-q", "-p", f"{port},{port}", "-i", dup] + resolvers)
            tap.ok(len(r.rows) == 4 and all(x["jarm"] == fp and x["ip"] == addr(1)
                                            for x in r.rows),
                   "a name on two lines with two ports: four right rows", r.describe())
        finally:
            resp.stop()
            harness.stop(dns)

        # 4: a DNS server that never answers.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            sport = silent.getsockname()[1]
            r = harness.run(args.jarmsweep, ["-q", "--resolvers", f"127.0.0.1:{sport}",
                                             "--dns-timeout", "0.3", "--dns-tries", "1",
                                             "n1.jarmsweep.test"], timeout=30)
            tap.ok(len(r.rows) == 1 and r.rows[0]["status"] == "dns_error"
                   and r.rows[0].get("error") == "timeout", "silent DNS server: timeout row",
                   r.describe())
            tap.ok(r.wall < 5, f"silent DNS server costs its timeout ({r.wall:.2f}s)")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Servers that limit connections per client: real limiters in a private network namespace.

The script creates two network namespaces (`ip netns add`) joined by a veth pair: the
servers and their firewall in one (10.200.0.1), the scanner in the other (10.200.0.2; the
test re-runs itself there with `ip netns exec`); both are deleted at the end. (Client and
server must not share a namespace: on one loopback, conntrack confirms a SYN on its way
out, so connlimit would count SYNs it dropped itself as open connections.) Needs root,
iproute2 and iptables; the HAProxy, openssl and dnsmasq parts skip themselves when those
are missing.

For every case the expected fingerprint is the one the same server gives a sequential scan
(`--probe-parallel 1`, a generous timeout, 50 ms between connections, the limiter in place);
the scans under test use the default options (the default --per-ip) and a short timeout.

The server-side count of connections open at once is the responder's own peak (it counts
every accepted connection until it is closed), checked against --per-ip.

1. `openssl s_server` behind iptables connlimit (per source address) of 1, 2, 3 and 4, with
   REJECT --reject-with tcp-reset and with DROP: three targets on the one address at once,
   each row equal to the sequential fingerprint.
2. HAProxy terminating TLS with a per-source stick table, `tcp-request connection reject`
   and `silent-drop` above 2 connections.
3. A server that resets every TLS 1.3 hello, behind connlimit 2: the TLS 1.3 probes stay
   blank (confirmation invents no answer) and the row equals the sequential one.
4. 500 names served by dnsmasq, all resolving to one address behind connlimit 3 (REJECT),
   and one host scanned on 200 ports (nat REDIRECT to one server) behind connlimit 4 (REJECT):
   every row right; 50 targets on one address without a limiter: the server never sees
   more than --per-ip connections at once.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import harness

INNER = "JARM_LIMITERS_SRV"
PER_IP = 6  # the default --per-ip, the bound the server-side count checks
SRV_IP = "10.200.0.1"
SRV = None  # the servers' namespace (set inside)


def sh(*cmd, check=True):
    return subprocess.run([str(c) for c in cmd], check=check, capture_output=True, text=True)


def srv(*cmd):
    """A command in the servers' namespace, as an argument list."""
    return ["ip", "netns", "exec", SRV] + [str(c) for c in cmd]


def enter_namespace():
    """Outside: create the namespaces, run this script in the client's, delete them."""
    global SRV
    if os.environ.get(INNER):
        SRV = os.environ[INNER]
        return
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"):
        harness.Tap.skip_all("needs root, iproute2 and iptables (network namespaces)")
    cli, server = f"jarmcli{os.getpid()}", f"jarmsrv{os.getpid()}"
    try:
        for cmd in (["ip", "netns", "add", cli], ["ip", "netns", "add", server],
                    ["ip", "link", "add", "jl0", "netns", cli, "type", "veth", "peer", "name",
                     "jl1", "netns", server],
                    ["ip", "-n", cli, "addr", "add", "10.200.0.2/24", "dev", "jl0"],
                    ["ip", "-n", server, "addr", "add", f"{SRV_IP}/24", "dev", "jl1"],
                    ["ip", "-n", cli, "link", "set", "jl0", "up"],
                    ["ip", "-n", server, "link", "set", "jl1", "up"],
                    ["ip", "-n", cli, "link", "set", "lo", "up"],
                    ["ip", "-n", server, "link", "set", "lo", "up"]):
            if sh(*cmd, check=False).returncode != 0:
                harness.Tap.skip_all(f"cannot set up network namespaces: {' '.join(cmd)}")
        sys.stdout.flush()
        env = dict(os.environ, **{INNER: server})
        rc = subprocess.call(["ip", "netns", "exec", cli, sys.executable,
                              os.path.abspath(sys.argv[0])] + sys.argv[1:], env=env)
    finally:
        sh("ip", "netns", "del", cli, check=False)
        sh("ip", "netns", "del", server, check=False)
    sys.exit(rc)


def responder(args, tmp, **kw):
    """The responder, started in the servers' namespace (through a small wrapper)."""
    wrap = f"{tmp}/responder-in-srv"
    with open(wrap, "w") as f:
        f.write(f"#!/bin/sh\nexec ip netns exec {SRV} {args.responder} \"$@\"\n")
    os.chmod(wrap, 0o755)
    return harness.Responder(wrap, tmp, listen=("0.0.0.0:0",), **kw)


def wait_port(port, proc, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            with socket.create_connection((SRV_IP, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")



class Limiter:
    """An iptables connlimit rule in the servers' INPUT chain for one destination port:
    connections from one source above `limit` -> action.

    connlimit forgets a closed connection only when it next collects, at most once per
    kernel tick, so a server that answers within the same tick looks busier than it is;
    the responder holds its replies 10 ms (RESP_DELAY) to stay clear of that."""

    def __init__(self, port, limit, action):
        sh(*srv("iptables", "-F", "INPUT"))
        base = srv("iptables", "-A", "INPUT") + ["-p", "tcp", "--syn", "--dport", port,
                                                 "-m", "connlimit", "--connlimit-mask", "32"]
        if action == "REJECT":
            sh(*base, "--connlimit-above", limit, "-j", "REJECT", "--reject-with", "tcp-reset")
        elif action == "DROP":
            sh(*base, "--connlimit-above", limit, "-j", "DROP")


RESP_DELAY = 10


def scan(args, targets, *extra, timeout=2, wall=120):
    return harness.run(args.jarmsweep, ["-q", "-t", timeout] + list(extra) + targets,
                       timeout=wall)


def sequential(args, target, *extra):
    """The reference's schedule: one probe at a time, a generous timeout, and (like the
    reference's own pace) 50 ms between connections, so that the limiter has processed the
    end of one before the next arrives."""
    r = scan(args, [target], "--probe-parallel", 1, "-r", 20, *extra, timeout=5)
    return r.row


def check_rows(tap, desc, r, want, n):
    fps = [x.get("jarm") for x in r.rows]
    ok = r.rc == 0 and len(r.rows) == n and not r.bad_lines and all(f == want for f in fps)
    tap.ok(ok, desc, None if ok else r.describe() + f"\nwant {want}")
    return ok


def make_cert(tmp):
    key, crt = f"{tmp}/key.pem", f"{tmp}/crt.pem"
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=limit.test", "-days", "2")
    with open(f"{tmp}/both.pem", "w") as f:
        f.write(open(crt).read() + open(key).read())
    return key, crt, f"{tmp}/both.pem"


def connlimit_s_server(tap, args, tmp):
    if not shutil.which("openssl"):
        tap.skip("openssl s_server behind connlimit", "openssl is not installed")
        return
    key, crt, _ = make_cert(tmp)
    port = harness.free_port()
    server = subprocess.Popen(srv("openssl", "s_server", "-accept", f"{SRV_IP}:{port}", "-cert",
                                  crt, "-key", key, "-quiet"), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server, "openssl s_server")
        target = f"{SRV_IP}:{port}"
        Limiter(port, 0, None)
        want = sequential(args, target).get("jarm")
        tap.ok(want and want != harness.ZEROS, f"s_server: sequential fingerprint {want}")
        for action in ("REJECT", "DROP"):
            for limit in (1, 2, 3, 4):
                Limiter(port, limit, action)
                seq = sequential(args, target).get("jarm")
                r = scan(args, [target] * 3, timeout=1.5)
                retried = sum(x.get("retried", 0) for x in r.rows)
                check_rows(tap, f"s_server, connlimit {limit} {action}: 3 targets at once, "
                           f"each the sequential fingerprint ({retried} probes confirmed)",
                           r, want, 3)
                tap.eq(seq, want, f"s_server, connlimit {limit} {action}: sequential agrees")
    finally:
        harness.stop(server)
        sh(*srv("iptables", "-F", "INPUT"))


HAPROXY_CFG = """global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend reject_fe
    bind {ip}:{p1} ssl crt {pem}
    stick-table type ip size 1k store conn_cur
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ sc0_conn_cur gt 2 }}
    default_backend nowhere
frontend drop_fe
    bind {ip}:{p2} ssl crt {pem}
    stick-table type ip size 1k store conn_cur
    tcp-request connection track-sc0 src
    tcp-request connection silent-drop if {{ sc0_conn_cur gt 2 }}
    default_backend nowhere
backend nowhere
    server none 127.0.0.1:9
"""


def haproxy(tap, args, tmp):
    if not shutil.which("haproxy") or not shutil.which("openssl"):
        tap.skip("HAProxy stick tables", "haproxy or openssl is not installed")
        return
    _, _, pem = make_cert(tmp)
    p1, p2 = harness.free_port(), harness.free_port()
    cfg = f"{tmp}/haproxy.cfg"
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(ip=SRV_IP, p1=p1, p2=p2, pem=pem))
    server = subprocess.Popen(srv("haproxy", "-db", "-f", cfg), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(p1, server, "haproxy")
        wait_port(p2, server, "haproxy")
        for port, how in ((p1, "reject"), (p2, "silent-drop")):
            target = f"{SRV_IP}:{port}"
            want = sequential(args, target).get("jarm")
            tap.ok(want and want != harness.ZEROS, f"haproxy {how}: sequential fingerprint")
            r = scan(args, [target] * 3, timeout=1.5)
            retried = sum(x.get("retried", 0) for x in r.rows)
            check_rows(tap, f"haproxy stick table, {how} above 2: 3 targets, each the "
                       f"sequential fingerprint ({retried} probes confirmed)", r, want, 3)
    finally:
        harness.stop(server)


def tls13_reset(tap, args, tmp, cap):
    lines = harness.reply_lines(cap)[:6] + ["reset"] * 4  # probes 7-10 are the TLS 1.3 ones
    replies = harness.write_replies(f"{tmp}/tls13-reset", lines)
    with responder(args, tmp, replies=replies, delay_ms=RESP_DELAY) as resp:
        target = f"{SRV_IP}:{resp.port}"
        Limiter(resp.port, 2, "REJECT")
        seq = sequential(args, target)
        want = seq.get("jarm")
        blank = [p.get("status") for p in seq.get("probes", [])][6:]
        tap.ok(want and want != harness.ZEROS and blank == ["reset"] * 4,
               "TLS 1.3 resets: the sequential scan has the four probes blank", seq)
        r = scan(args, [target] * 3)
        check_rows(tap, "TLS 1.3 resets behind connlimit 2: each row the sequential one", r,
                   want, 3)
        tap.ok(all([p.get("status") for p in x.get("probes", [])][6:] == ["reset"] * 4
                   for x in r.rows), "... the TLS 1.3 probes stay blank (reset)")
        sh(*srv("iptables", "-F", "INPUT"))


def start_dnsmasq(tmp, addr):
    port = harness.free_port()
    proc = subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                             "--no-resolv", "--no-hosts", f"--address=/limit.test/{addr}",
                             f"--port={port}", "--listen-address=127.0.0.1",
                             "--bind-interfaces", f"--pid-file={tmp}/dnsmasq.pid",
                             "--log-facility=-", "--cache-size=10000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_dns(proc, port, "n0.limit.test")
    return proc, port


def many_on_one(tap, args, tmp, cap):
    fp = cap["fingerprint"]
    replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
    # No limiter here: the responder's peak of connections open at once is the server-side
    # count that must stay within --per-ip; then the same behind a limiter.
    with responder(args, tmp, replies=replies, delay_ms=RESP_DELAY) as resp:
        target = f"{SRV_IP}:{resp.port}"
        sh(*srv("iptables", "-F", "INPUT"))
        r = scan(args, [target] * 50, "-c", 1000)
        check_rows(tap, "50 targets on one address, no limiter: every row right", r, fp, 50)
        tap.ok(resp.snapshot().get("peak_open", 99) <= PER_IP,
               f"... the server never had more than {PER_IP} connections open",
               resp.snapshot())
    with responder(args, tmp, replies=replies, delay_ms=RESP_DELAY) as resp:
        dnsmasq = shutil.which("dnsmasq") or (os.path.exists("/usr/sbin/dnsmasq")
                                              and "/usr/sbin/dnsmasq")
        if dnsmasq:
            dns, dport = start_dnsmasq(tmp, SRV_IP)
            try:
                Limiter(resp.port, 3, "REJECT")
                names = [f"n{i}.limit.test:{resp.port}" for i in range(500)]
                inp = f"{tmp}/names"
                with open(inp, "w") as f:
                    f.write("\n".join(names) + "\n")
                r = scan(args, ["-i", inp], "--resolvers", f"127.0.0.1:{dport}", "-c", 1000,
                         wall=300)
                check_rows(tap, "500 names on one address behind connlimit 3: every row the "
                           "capture's fingerprint", r, fp, 500)
                tap.ok(all(x.get("ip") == SRV_IP for x in r.rows),
                       "... all scanned at the one address")
                tap.ok(resp.snapshot().get("peak_open", 99) <= PER_IP,
                       f"... the server never had more than {PER_IP} connections open",
                       resp.snapshot())
            finally:
                harness.stop(dns)
        else:
            tap.skip("500 names on one address", "dnsmasq is not installed")

        # One host, 200 ports, all redirected to the responder, behind connlimit 4 (REJECT:
        # a first gate dropped on a port that never answered anyone is not confirmed).
        sh(*srv("iptables", "-t", "nat", "-F", "PREROUTING"))
        sh(*srv("iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-d", SRV_IP,
                "--dport", "20000:20199", "-j", "REDIRECT", "--to-ports", resp.port))
        try:
            Limiter(resp.port, 4, "REJECT")
            targets = [f"{SRV_IP}:{p}" for p in range(20000, 20200)]
            t0 = time.monotonic()
            r = scan(args, targets, "-c", 1000, timeout=1.5, wall=300)
            check_rows(tap, f"one host on 200 ports behind connlimit 4 REJECT: every row the "
                       f"capture's fingerprint ({time.monotonic() - t0:.1f} s)", r, fp, 200)
            tap.ok(resp.snapshot().get("peak_open", 99) <= PER_IP,
                   f"... the server never had more than {PER_IP} connections open",
                   resp.snapshot())
        finally:
            sh(*srv("iptables", "-t", "nat", "-F", "PREROUTING"))
            sh(*srv("iptables", "-F", "INPUT"))


def main():
    enter_namespace()
    args = harness.parse_args()
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    with tempfile.TemporaryDirectory(prefix="jarm-limit-") as tmp:
        os.chmod(tmp, 0o755)
        connlimit_s_server(tap, args, tmp)
        haproxy(tap, args, tmp)
        tls13_reset(tap, args, tmp, cap)
        many_on_one(tap, args, tmp, cap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

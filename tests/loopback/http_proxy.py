#!/usr/bin/env python3
"""HTTP CONNECT proxies: Squid (Debian's squid-openssl) and a scripted hostile proxy.

The origin is the replay responder playing the openssl_rsa_default capture on 127.0.0.1; its
expected fingerprint F is what the scanner under test gets scanning it directly (never a
constant). Every proxy listens on 127.0.0.1; Squid resolves names from a hosts file of its
own and asks no DNS server but 127.0.0.1, so nothing leaves loopback.

1. Squid as a plain CONNECT proxy: F through it, the row records the proxy (without
   credentials), a name is resolved by the proxy (ip null), a refused target port behind it
   (Squid answers 503) is `refused` with error "proxy said 503", and --compare-direct says
   intercepted false (also for a name: resolved here for the direct side, from /etc/hosts).
2. Squid with `ssl_bump bump` and its own CA (made here with openssl): the fingerprint
   through it is Squid's own OpenSSL stack, B, measured independently by scanning a CONNECT
   relay of this script's (plain TCP in front of the same Squid) directly; --compare-direct
   says intercepted true; a Squid that splices one port and bumps the others gives, in one
   run, one row intercepted true, one false and one "unknown" (dead target), and the summary
   counts them. The second workflow: a direct scan written with -o, then a scan through the
   bumping proxy with --baseline of it, is `changed` (and `same` through the plain proxy).
3. Squid requiring Basic authentication (basic_ncsa_auth, a password file written here):
   the right credentials give F, a wrong password and no credentials give proxy_error
   "proxy said 407".
4. The hostile proxy: one listening port per behaviour. A reply written one byte at a time
   (then a working tunnel: F), HTTP/1.0 with bare LF ends, an interim 100 head before the
   200, and a 200 whose first TLS bytes arrive in the same segment as the blank line (those
   bytes reach the TLS side: the fingerprint of a server that answers every probe with them,
   scanned directly). Failures, each exactly one row within the timeout and rc 0: endless
   headers at full speed ("proxy reply too long", bounded memory), endless headers trickled
   ("proxy timed out"), silence ("proxy timed out"), 200 then non-TLS garbage (no_tls: the
   bytes belong to the tunnel), a close in the middle of the status line ("proxy closed
   connection"), a reset ("proxy reset connection"), 407/403 ("proxy said 407"/"403",
   proxy_error), 502/504 (unreachable) and 503 (refused) with "proxy said N", a non-HTTP
   greeting, a NUL in the reason and a four-digit status ("proxy reply malformed"), and no
   proxy listening ("proxy refused connection"). The CONNECT requests it records: one per
   probe connection, `CONNECT host:port HTTP/1.1` with Host, Basic credentials exactly when
   given, a name passed as it was written, an IPv6 address in brackets.
5. The command line: --compare-direct without --proxy, an https:// proxy and a proxy URL
   without a port are usage errors.

Squid takes about 2 s to start and 1 s to stop; the whole script about 60 s.
"""
import base64
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import SLACK, ZEROS

T = 3  # --timeout for the runs that are expected to fail


# ---------------------------------------------------------------------------------------
# Squid


def make_ca(d, name="ca"):
    """A throwaway RSA-2048 CA certificate and key in d (world-readable: Squid's helpers run
    as the proxy user)."""
    key, pem = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-newkey", "rsa:2048",
                    "-subj", "/CN=jarmsweep test CA", "-addext",
                    "basicConstraints=critical,CA:true", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign", "-keyout", key, "-out", pem],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)
    return pem, key


def wait_listening(port, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Squid:
    """squid -N (foreground) with a configuration of its own in tmp/name, on a free port.

    mode: "plain" (CONNECT only), "bump" (ssl_bump bump, a CA of its own; splice=PORT
    splices that target port instead), "auth" (Basic, user alice, password s3cret)."""

    def __init__(self, tmp, name, mode="plain", splice=None):
        self.dir = d = os.path.join(tmp, name)
        os.makedirs(d)
        os.chmod(d, 0o755)
        self.port = harness.free_port()
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n")
        conf = []
        if mode == "bump":
            pem, key = make_ca(d)
            self.ca = pem
            db = os.path.join(d, "ssl_db")
            subprocess.run(["/usr/lib/squid/security_file_certgen", "-c", "-s", db, "-M", "4MB"],
                           check=True, capture_output=True)
            conf += [f"http_port 127.0.0.1:{self.port} ssl-bump generate-host-certificates=on "
                     f"dynamic_cert_mem_cache_size=4MB tls-cert={pem} tls-key={key}",
                     f"sslcrtd_program /usr/lib/squid/security_file_certgen -s {db} -M 4MB",
                     "sslcrtd_children 2 startup=1 idle=1",
                     "sslproxy_cert_error allow all"]
            if splice is not None:
                conf += [f"acl spliced port {splice}", "ssl_bump splice spliced"]
            conf += ["ssl_bump bump all", "http_access allow all"]
        elif mode == "auth":
            pw = subprocess.run(["openssl", "passwd", "-1", "s3cret"], check=True,
                                capture_output=True, text=True).stdout.strip()
            pwfile = os.path.join(d, "passwd")
            with open(pwfile, "w") as f:
                f.write(f"alice:{pw}\n")
            os.chmod(pwfile, 0o644)
            conf += [f"http_port 127.0.0.1:{self.port}",
                     f"auth_param basic program /usr/lib/squid/basic_ncsa_auth {pwfile}",
                     "auth_param basic children 2 startup=1 idle=1",
                     "auth_param basic realm jarmsweep-test",
                     "acl authed proxy_auth REQUIRED",
                     "http_access allow authed", "http_access deny all"]
        else:
            conf += [f"http_port 127.0.0.1:{self.port}", "http_access allow all"]
        conf += [f"pid_filename {d}/squid.pid", f"cache_log {d}/cache.log", "access_log none",
                 "cache_store_log none", "cache deny all", "cache_mem 8 MB",
                 "dns_nameservers 127.0.0.1", f"hosts_file {d}/hosts", "pinger_enable off",
                 "icp_port 0", "htcp_port 0", f"coredump_dir {d}",
                 "shutdown_lifetime 0 seconds", "connect_timeout 5 seconds"]
        self.conf = os.path.join(d, "squid.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        open(os.path.join(d, "cache.log"), "w").close()
        if os.geteuid() == 0:
            # Squid drops root for the proxy user (cache_effective_user): its log, database
            # and helpers' files must be that user's.
            try:
                pu = pwd.getpwnam("proxy")
                for root, dirs, files in os.walk(d):
                    for n in dirs + files + ["."]:
                        os.chown(os.path.join(root, n), pu.pw_uid, pu.pw_gid)
            except KeyError:
                pass
        self.proc = subprocess.Popen(["squid", "-N", "-f", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_listening(self.port, self.proc):
            log = self.log()
            harness.stop(self.proc)
            raise RuntimeError(f"squid ({mode}) did not start: {log[-1500:]}")
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self):
        try:
            with open(os.path.join(self.dir, "cache.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        harness.stop(self.proc)


# ---------------------------------------------------------------------------------------
# A CONNECT relay of the test's own: a plain TCP port in front of a proxy, for the reference
# fingerprint of what answers through the proxy, scanned directly by the scanner.


class Relay:
    def __init__(self, proxy_port, target):
        self.proxy_port, self.target = proxy_port, target
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.stopping = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            p = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
            p.sendall(f"CONNECT {self.target} HTTP/1.1\r\nHost: {self.target}\r\n\r\n".encode())
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                b = p.recv(1)  # never past the head
                if not b:
                    raise OSError("proxy closed")
                head += b
            if not re.match(rb"HTTP/1\.[01] 2\d\d", head):
                raise OSError("proxy refused the tunnel")
            c.settimeout(10)
            threading.Thread(target=pump, args=(c, p), daemon=True).start()
            pump(p, c)
        except OSError:
            c.close()

    def stop(self):
        self.stopping.set()
        self.th.join()
        self.ls.close()


def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------
# The hostile proxy


class Hostile:
    """One listening port per behaviour; every CONNECT request head is recorded."""

    def __init__(self, origin_port, eager_reply=b""):
        self.origin_port, self.eager_reply = origin_port, eager_reply
        self.requests = {}  # mode -> [request head bytes]
        self.ports = {}
        self.socks = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def listen(self, mode):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        s.settimeout(0.1)
        self.socks.append(s)
        self.ports[mode] = s.getsockname()[1]
        self.requests[mode] = []
        th = threading.Thread(target=self._accept, args=(s, mode), daemon=True)
        th.start()
        self.threads.append(th)
        return self.ports[mode]

    def url(self, mode, cred=""):
        return f"http://{cred}127.0.0.1:{self.ports[mode]}"

    def _accept(self, s, mode):
        while not self.stopping.is_set():
            try:
                c, _ = s.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(c, mode), daemon=True).start()

    def _read_head(self, c):
        head = b""
        c.settimeout(10)
        while b"\r\n\r\n" not in head and len(head) < 65536:
            d = c.recv(4096)
            if not d:
                break
            head += d
        return head

    def _sleep(self, secs):
        return self.stopping.wait(secs)

    def _serve(self, c, mode):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            head = self._read_head(c)
            with self.lock:
                self.requests[mode].append(head)
            getattr(self, "m_" + mode)(c)
        except OSError:
            pass
        finally:
            c.close()

    def _tunnel(self, c, reply, byte_by_byte=False):
        o = socket.create_connection(("127.0.0.1", self.origin_port), timeout=10)
        if byte_by_byte:
            for i in range(len(reply)):
                c.sendall(reply[i:i + 1])
                self._sleep(0.002)
        else:
            c.sendall(reply)
        threading.Thread(target=pump, args=(c, o), daemon=True).start()
        pump(o, c)

    def _hold(self, c, secs=30):
        """Keep the connection open until the client closes it (or secs pass)."""
        c.settimeout(0.1)
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                if not c.recv(65536):
                    return
            except socket.timeout:
                continue

    # Working proxies
    def m_drip(self, c):
        self._tunnel(c, b"HTTP/1.1 200 Connection established\r\nVia: 1.1 drip\r\n\r\n",
                     byte_by_byte=True)

    def m_http10(self, c):
        self._tunnel(c, b"HTTP/1.0 200 Connection established\nProxy-agent: x/1\n\n")

    def m_interim(self, c):
        self._tunnel(c, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")

    def m_eager(self, c):
        # The blank line and the first TLS record in one segment, before any ClientHello.
        c.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + self.eager_reply)
        self._hold(c)

    # Hostile ones
    def m_endless(self, c):
        c.sendall(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Filler: " + b"a" * 100 + b"\r\n"
        c.settimeout(10)
        while not self.stopping.is_set():
            c.sendall(line * 16)

    def m_trickle(self, c):
        c.sendall(b"HTTP/1.1 200 OK\r\n")
        while not self._sleep(0.05):
            c.sendall(b"X-Slow: 1\r\n")

    def m_silent(self, c):
        self._hold(c)

    def m_garbage(self, c):
        c.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + b"this is not TLS at all\r\n" * 8)
        self._hold(c, 2)

    def m_close_mid(self, c):
        c.sendall(b"HTTP/1.1 200 Conn")

    def m_reset(self, c):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    def _status(self, c, code, reason, extra=b""):
        body = b"<html>no</html>\r\n"
        c.sendall(b"HTTP/1.1 %d %s\r\n%sContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                  % (code, reason, extra, len(body), body))
        self._hold(c, 2)

    def m_s407(self, c):
        self._status(c, 407, b"Proxy Authentication Required",
                     b'Proxy-Authenticate: Basic realm="hostile"\r\n')

    def m_s403(self, c):
        self._status(c, 403, b"Forbidden")

    def m_s502(self, c):
        self._status(c, 502, b"Bad Gateway")

    def m_s503(self, c):
        self._status(c, 503, b"Service Unavailable")

    def m_s504(self, c):
        self._status(c, 504, b"Gateway Timeout")

    def m_not_http(self, c):
        c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        self._hold(c, 2)

    def m_nul(self, c):
        c.sendall(b"HTTP/1.1 200 O\x00K\r\n\r\n")
        self._hold(c, 2)

    def m_bigcode(self, c):
        c.sendall(b"HTTP/1.1 2000 OK\r\n\r\n")
        self._hold(c, 2)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join()
        for s in self.socks:
            s.close()


# ---------------------------------------------------------------------------------------


def scan(args, proxy, targets, *extra, timeout=5):
    return harness.run(args.jarmsweep, ["-q", "-t", timeout, "--proxy", proxy, *extra,
                                        *targets], timeout=60)


def compare(args, proxy, targets, *extra):
    """A --compare-direct run, without -q (the summary is checked)."""
    return harness.run(args.jarmsweep, ["-t", 5, *extra, "--proxy", proxy, "--compare-direct",
                                        *targets], timeout=60)


def check_compare(tap, r, direct, via, verdict, desc):
    """One row: jarm_direct, jarm_proxy (= jarm) and intercepted as given."""
    row = r.row
    tap.ok(row.get("jarm_direct") == direct and row.get("jarm_proxy") == via
           and row.get("jarm") == via and row.get("intercepted") is verdict, desc, r.describe())


def proxy_error(tap, r, why, desc, t=T):
    """One row, proxy_error, zeros, error == why, within the timeout."""
    row = r.row
    tap.ok(r.rc == 0 and len(r.rows) == 1 and row.get("status") == "proxy_error"
           and row.get("jarm") == ZEROS and row.get("error") == why
           and r.wall < t + 2 * SLACK, desc, r.describe())


def squid_tests(tap, args, tmp, target, F, resp_port, dead):
    plain = Squid(tmp, "plain")
    bump = auth = relay = None
    try:
        r = scan(args, plain.url, [target])
        row = r.row
        tap.ok(r.rc == 0 and row.get("jarm") == F and row.get("status") == "ok",
               "plain Squid: the origin's fingerprint through it", r.describe())
        tap.eq(row.get("proxy"), plain.url, "the row records the proxy")
        tap.eq(row.get("ip"), "127.0.0.1", "an address target keeps its ip")
        r = scan(args, plain.url, [f"localhost:{resp_port}"])
        tap.ok(r.row.get("jarm") == F and r.row.get("ip") is None
               and r.row.get("host") == "localhost",
               "plain Squid: a name resolved by the proxy (fingerprint, ip null)", r.describe())
        # A name with --compare-direct: resolved here for the direct side (from /etc/hosts; any
        # DNS query would go to a dead loopback port), by name through the proxy.
        r = compare(args, plain.url, [f"localhost:{resp_port}"], "--resolvers",
                    f"127.0.0.1:{dead}")
        tap.eq(r.row.get("host"), "localhost", "plain Squid, --compare-direct, a name: its row")
        check_compare(tap, r, F, F, False, "... both sides F, intercepted false")
        r = scan(args, plain.url, [f"127.0.0.1:{dead}"], timeout=T)
        tap.ok(r.row.get("status") == "refused" and r.row.get("error") == "proxy said 503"
               and r.row.get("jarm") == ZEROS,
               "plain Squid: a refused target port is refused, error 'proxy said 503'",
               r.describe())
        r = compare(args, plain.url, [target])
        check_compare(tap, r, F, F, False,
                      "plain Squid, --compare-direct: intercepted false, both sides F")
        tap.ok(re.search(r"compare-direct: 0 intercepted, 1 not intercepted, 0 unknown",
                         r.err_text), "the summary counts it", r.err_text[-600:])

        # The second workflow: the direct scan outside (-o), then through the proxy inside.
        base = os.path.join(tmp, "outside.ndjson")
        r0 = harness.run(args.jarmsweep, ["-q", "-t", 5, "-o", base, target])
        tap.ok(r0.rc == 0 and os.path.getsize(base) > 0, "outside: -o writes the direct scan")
        r = scan(args, plain.url, [target], "--baseline", base)
        tap.eq(r.row.get("baseline"), "same", "inside through plain Squid: --baseline same")

        bump = Squid(tmp, "bump", "bump")
        relay = Relay(bump.port, target)
        rr = harness.run(args.jarmsweep, ["-q", "-t", 5, f"127.0.0.1:{relay.port}"])
        B = rr.row.get("jarm")
        ok_ref = tap.ok(rr.row.get("status") == "ok" and B not in (None, ZEROS, F),
                        "reference: Squid bumping, scanned through the test's CONNECT relay, "
                        "answers with its own stack", rr.describe())
        if ok_ref:
            tap.diag(f"Squid bump fingerprint (reference): {B}")
        r = scan(args, bump.url, [target])
        tap.ok(r.row.get("status") == "ok" and r.row.get("jarm") == B,
               "bumping Squid: the fingerprint is Squid's own", r.describe())
        check_compare(tap, compare(args, bump.url, [target]), F, B, True,
                      "bumping Squid, --compare-direct: intercepted true")
        r = scan(args, bump.url, [target], "--baseline", base)
        tap.ok(r.row.get("baseline") == "changed" and r.row.get("baseline_jarm") == F,
               "inside through bumping Squid: --baseline changed, the old one F", r.describe())
        relay.stop()
        relay = None
        bump.stop()

        # One Squid that splices one port and bumps the rest: three rows, three verdicts.
        bump = Squid(tmp, "splice", "bump", splice=resp_port)
        t2 = f"127.0.0.1:{args.second_port}"
        r = compare(args, bump.url, [target, t2, f"127.0.0.1:{dead}"])
        by = {row.get("port"): row for row in r.rows}
        tap.ok(len(r.rows) == 3 and by.get(resp_port, {}).get("intercepted") is False
               and by.get(args.second_port, {}).get("intercepted") is True
               and by.get(dead, {}).get("intercepted") == "unknown",
               "splice one port, bump the rest: false, true, unknown", r.describe())
        tap.ok(by.get(dead, {}).get("jarm_direct") == ZEROS,
               "the dead target's direct side is zeros", r.describe())
        tap.ok(re.search(r"compare-direct: 1 intercepted, 1 not intercepted, 1 unknown",
                         r.err_text), "the summary counts 1, 1, 1", r.err_text[-600:])
        bump.stop()
        bump = None

        auth = Squid(tmp, "auth", "auth")
        hp = auth.url.split("//")[1]
        r = scan(args, f"http://alice:s3cret@{hp}", [target])
        tap.ok(r.row.get("jarm") == F and r.row.get("proxy") == auth.url,
               "Squid with Basic auth: the right credentials give F (no password in the row)",
               r.describe())
        r = scan(args, f"http://alice:wrong@{hp}", [target], timeout=T)
        proxy_error(tap, r, "proxy said 407", "Squid with Basic auth: a wrong password: 407")
        r = scan(args, auth.url, [target], timeout=T)
        proxy_error(tap, r, "proxy said 407", "Squid with Basic auth: no credentials: 407")
    finally:
        if relay:
            relay.stop()
        for s in (plain, bump, auth):
            if s:
                s.stop()


def hostile_tests(tap, args, tmp, cap, target, F, resp_port, dead):
    # The eager proxy's reference: a server that answers every probe with the first probe's
    # recorded reply, scanned directly.
    first = next(p["received_hex"] for p in cap["probes"] if p["received_hex"])
    replies = harness.write_replies(f"{tmp}/same10", [first] * 10)
    same = harness.Responder(args.responder, tmp, replies=replies)
    h = Hostile(resp_port, bytes.fromhex(first))
    try:
        rr = harness.run(args.jarmsweep, ["-q", "-t", 5, f"127.0.0.1:{same.port}"])
        E = rr.row.get("jarm")
        tap.ok(rr.row.get("status") == "ok" and E not in (None, ZEROS),
               "reference: one reply to every probe, scanned directly", rr.describe())
        for m in ("drip", "http10", "interim", "eager", "endless", "trickle", "silent",
                  "garbage", "close_mid", "reset", "s407", "s403", "s502", "s503", "s504",
                  "not_http", "nul", "bigcode"):
            h.listen(m)

        r = scan(args, h.url("drip"), [target])
        tap.ok(r.row.get("jarm") == F, "a reply written one byte at a time, then the tunnel: F",
               r.describe())
        reqs = h.requests["drip"]
        tap.eq(len(reqs), 10, "one CONNECT per probe connection")
        good = reqs and all(q.startswith(f"CONNECT {target} HTTP/1.1\r\n".encode())
                   and f"\r\nHost: {target}\r\n".encode() in q and q.endswith(b"\r\n\r\n")
                   and b"Proxy-Authorization" not in q for q in reqs)
        tap.ok(good, "each is 'CONNECT host:port HTTP/1.1' with Host, no credentials",
               reqs[:1])
        r = scan(args, h.url("drip"), [f"[::1]:{resp_port}"])
        q = h.requests["drip"][10:]
        tap.ok(r.row.get("jarm") == F and q and all(
            x.startswith(f"CONNECT [::1]:{resp_port} HTTP/1.1\r\n".encode())
            and f"\r\nHost: [::1]:{resp_port}\r\n".encode() in x for x in q),
            "an IPv6 target: CONNECT [::1]:port, in brackets", q[:1])
        r = scan(args, h.url("http10"), [target])
        tap.eq(r.row.get("jarm"), F, "HTTP/1.0 with bare LF line ends: F")
        r = scan(args, h.url("interim"), [target])
        tap.eq(r.row.get("jarm"), F, "an interim 100 head before the 200: F")
        r = scan(args, h.url("eager", "alice:s3cret@"), [f"localhost:{resp_port}"])
        tap.ok(r.row.get("jarm") == E and r.row.get("status") == "ok",
               "TLS bytes in the segment of the blank line reach the TLS side", r.describe())
        cred = base64.b64encode(b"alice:s3cret")
        tap.ok(h.requests["eager"] and all(
            q.startswith(f"CONNECT localhost:{resp_port} HTTP/1.1\r\n".encode())
            and b"\r\nProxy-Authorization: Basic " + cred + b"\r\n" in q
            for q in h.requests["eager"]),
            "a name is sent as written, Basic credentials when given", h.requests["eager"][:1])

        plain = harness.run(args.jarmsweep, ["-q", "-t", 5, target], measure_rss=True)
        r = harness.run(args.jarmsweep, ["-q", "-t", T, "--proxy", h.url("endless"), target],
                        measure_rss=True)
        proxy_error(tap, r, "proxy reply too long", "endless headers: 'proxy reply too long'")
        if r.rows and r.maxrss_kib and plain.maxrss_kib:
            tap.ok(r.maxrss_kib < plain.maxrss_kib + 8192,
                   f"endless headers: bounded memory ({r.maxrss_kib} KiB, a direct scan "
                   f"{plain.maxrss_kib} KiB)")
        proxy_error(tap, scan(args, h.url("trickle"), [target], timeout=T), "proxy timed out",
                    "headers trickled forever: 'proxy timed out'")
        proxy_error(tap, scan(args, h.url("silent"), [target], timeout=T), "proxy timed out",
                    "a silent proxy: 'proxy timed out'")
        r = scan(args, h.url("garbage"), [target], timeout=T)
        tap.ok(len(r.rows) == 1 and r.row.get("status") == "no_tls"
               and r.row.get("jarm") == ZEROS and r.wall < T + 2 * SLACK,
               "200 then garbage: the garbage is the tunnel's, no_tls", r.describe())
        proxy_error(tap, scan(args, h.url("close_mid"), [target], timeout=T),
                    "proxy closed connection", "a close in the middle of the status line")
        proxy_error(tap, scan(args, h.url("reset"), [target], timeout=T),
                    "proxy reset connection", "a reset after the request")
        proxy_error(tap, scan(args, h.url("s407"), [target], timeout=T), "proxy said 407",
                    "407: 'proxy said 407'")
        proxy_error(tap, scan(args, h.url("s403"), [target], timeout=T), "proxy said 403",
                    "403: 'proxy said 403'")
        for m, st in (("s502", "unreachable"), ("s503", "refused"), ("s504", "unreachable")):
            code = m[1:]
            r = scan(args, h.url(m), [target], timeout=T)
            tap.ok(len(r.rows) == 1 and r.row.get("status") == st
                   and r.row.get("error") == f"proxy said {code}"
                   and r.row.get("jarm") == ZEROS and r.wall < T + 2 * SLACK,
                   f"{code}: the target's failure, {st}, error 'proxy said {code}'", r.describe())
        for m, what in (("not_http", "a non-HTTP greeting"), ("nul", "a NUL in the reason"),
                        ("bigcode", "a four-digit status code")):
            proxy_error(tap, scan(args, h.url(m), [target], timeout=T), "proxy reply malformed",
                        f"{what}: 'proxy reply malformed'")
        proxy_error(tap, scan(args, f"http://127.0.0.1:{dead}", [target], timeout=T),
                    "proxy refused connection", "no proxy listening: 'proxy refused connection'")
        st = same.stop()
        tap.diag(f"responder counters: {st}")
    finally:
        h.stop()
        same.stop()


def cli_tests(tap, args, target):
    for argv, what in ((["--compare-direct", target], "--compare-direct without --proxy"),
                       (["--proxy", "https://127.0.0.1:3128", target], "an https:// proxy"),
                       (["--proxy", "http://127.0.0.1", target], "a proxy URL without a port"),
                       (["--proxy", "http://127.0.0.1:0", target], "proxy port 0")):
        r = harness.run(args.jarmsweep, argv)
        tap.ok(r.rc == 2 and not r.out and r.err_text.startswith("jarmsweep: "),
               f"{what}: a usage error", r.describe())
    r = harness.run(args.jarmsweep, ["--help"])
    text = r.out.decode(errors="replace")
    tap.ok("http://" in text and "--compare-direct" in text and "intercepted" in text,
           "--help shows the HTTP proxy and the interception check")


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    with tempfile.TemporaryDirectory(prefix="jarm-httpproxy-") as tmp:
        os.chmod(tmp, 0o755)  # Squid runs as the proxy user
        replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
        resp = harness.Responder(args.responder, tmp, replies=replies,
                                 listen=("127.0.0.1:0", "127.0.0.1:0"))
        resp_port, args.second_port = resp.ports[0], resp.ports[1]
        dead = harness.free_port()
        target = f"127.0.0.1:{resp_port}"
        try:
            r = harness.run(args.jarmsweep, ["-q", "-t", 5, target])
            F = r.row.get("jarm")
            if not tap.ok(r.row.get("status") == "ok" and F not in (None, ZEROS),
                          "reference: the origin scanned directly", r.describe()):
                return tap.done()
            r = harness.run(args.jarmsweep, ["-q", "-t", 5, f"127.0.0.1:{args.second_port}"])
            tap.eq(r.row.get("jarm"), F, "reference: the origin's second port, the same")
            cli_tests(tap, args, target)
            hostile_tests(tap, args, tmp, cap, target, F, resp_port, dead)
            if shutil.which("squid") is None:
                tap.skip("Squid", "squid (squid-openssl) is not installed")
            else:
                squid_tests(tap, args, tmp, target, F, resp_port, dead)
        finally:
            resp.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

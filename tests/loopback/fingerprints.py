#!/usr/bin/env python3
"""The bundled fingerprint lists (contrib/fingerprints/*.tsv) against real servers.

1. Every list is well formed: '#' comment header saying that a fingerprint identifies a TLS
   stack and not an application, four TAB-separated columns, valid fingerprints, labels.
2. A few entries of servers.tsv are measured again with jarmsweep: `openssl s_server` in four
   configurations, and nginx and HAProxy when installed, each on 127.0.0.1 with a throwaway
   self-signed certificate. An entry is compared only when the installed versions are the
   ones its label names (otherwise the check is skipped, not failed: fingerprints move with
   library versions).
3. When the scanner has --match and --baseline, the end-to-end checks of both:
   `--match c2` labels a default OpenSSL server "Metasploit", and a baseline run reports
   `same`, then `changed` after the server's configuration changed, and `new` for another
   port.

Servers bind 127.0.0.1 only and are stopped by PID. About 10 s.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import harness

LISTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                     "fingerprints")
FP_RE = re.compile(r"^(?:[0-3][0-9a-f]|4[0-6])[0a-j](?:(?:[0-3][0-9a-f]|4[0-6])[0a-j]){9}"
                   r"(?:[0-9a-f]{32})?$")


def read_list(path):
    """(comment lines, [(lineno, columns)]) of a list file."""
    comments, rows = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.lstrip().startswith("#"):
                comments.append(line)
            elif line.strip() and not line.startswith("fingerprint\t"):
                rows.append((n, line.split("\t")))
    return comments, rows


def check_lists(tap):
    entries = {}
    for name in ("c2.tsv", "servers.tsv"):
        path = os.path.join(LISTS, name)
        comments, rows = read_list(path)
        text = " ".join(c.lstrip("# ") for c in comments)
        tap.ok("NOT an application" in text and "Metasploit" in text,
               f"{name}: the header says a fingerprint identifies a stack, not an application")
        bad = [(n, cols) for n, cols in rows
               if len(cols) != 4 or not FP_RE.match(cols[0]) or len(cols[0]) not in (30, 62)
               or not cols[1].strip() or not cols[2].strip()]
        tap.ok(rows and not bad, f"{name}: {len(rows)} well-formed entries", bad[:3])
        for _, cols in rows:
            entries.setdefault(cols[1], []).append(cols[0])
    return entries


def openssl_library():
    out = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    m = re.search(r"Library: OpenSSL (\S+)", out) or re.search(r"OpenSSL (\S+)", out)
    return m.group(1) if m else "?"


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def make_cert(tmp):
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-newkey", "rsa:2048", "-keyout", os.path.join(tmp, "rsa.key"),
                    "-out", os.path.join(tmp, "rsa.pem")], check=True, capture_output=True)
    with open(os.path.join(tmp, "rsa.combined.pem"), "w") as out:
        for part in ("rsa.pem", "rsa.key"):
            with open(os.path.join(tmp, part)) as f:
                out.write(f.read())


def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(l.split()[1] == want and l.split()[3] == "0A" for l in f.readlines()[1:])


class Server:
    """A server process on 127.0.0.1:port, stopped by PID."""

    def __init__(self, cmd, port, cwd):
        self.port = port
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not listening(port) and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.up = listening(port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The port is free again once nothing listens on it.
        deadline = time.monotonic() + 5
        while listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def s_server(tmp, port, *opts):
    return ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
            "-cert", os.path.join(tmp, "rsa.pem"), "-key", os.path.join(tmp, "rsa.key"), *opts]


def nginx(tmp, port):
    return harness.nginx_command(tmp, port, os.path.join(tmp, "rsa.pem"),
                                 os.path.join(tmp, "rsa.key"))


def haproxy(tmp, port):
    conf = os.path.join(tmp, f"haproxy{port}.cfg")
    with open(conf, "w") as f:
        f.write(f"""global
  maxconn 64
defaults
  mode http
  timeout client 5s
  timeout connect 1s
  timeout server 5s
frontend fe
  bind 127.0.0.1:{port} ssl crt {tmp}/rsa.combined.pem
  http-request return status 200 content-type text/plain string ok
""")
    return ["haproxy", "-db", "-f", conf]


def scan(args, port, extra=()):
    r = harness.run(args.jarmsweep, ["-q", "-t", 5, *extra, f"127.0.0.1:{port}"], timeout=60)
    return r, r.row


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    entries = check_lists(tap)
    if shutil.which("openssl") is None:
        tap.skip("re-measure", "openssl not installed")
        return tap.done()
    lib = openssl_library()
    ossl = f"OpenSSL {lib}"
    cases = [
        (f"{ossl} s_server, defaults", "openssl", lambda t, p: s_server(t, p)),
        (f"{ossl} s_server, -no_tls1_3 or -tls1_2", "openssl",
         lambda t, p: s_server(t, p, "-no_tls1_3")),
        (f"{ossl} s_server, -tls1_3", "openssl", lambda t, p: s_server(t, p, "-tls1_3")),
        (f"{ossl} s_server, -alpn h2,http/1.1", "openssl",
         lambda t, p: s_server(t, p, "-alpn", "h2,http/1.1")),
    ]
    ngx = dpkg_version("nginx").split("-")[0]
    if shutil.which("nginx") and ngx:
        cases.append((f"nginx {ngx} ({ossl}), defaults", "nginx", nginx))
    hap = dpkg_version("haproxy").split("-")[0]
    if shutil.which("haproxy") and hap:
        cases.append((f"HAProxy {hap} ({ossl}), defaults", "haproxy", haproxy))

    with tempfile.TemporaryDirectory(prefix="jarm-fplist-") as tmp:
        make_cert(tmp)
        for label, what, mk in cases:
            if label not in entries:
                tap.skip(f"re-measure {label}",
                         f"no such entry: installed {what} or OpenSSL {lib} differs from the "
                         f"measured versions")
                continue
            port = harness.free_port()
            srv = Server(mk(tmp, port), port, tmp)
            try:
                if not tap.ok(srv.up, f"{label}: server listens on 127.0.0.1:{port}"):
                    continue
                run, row = scan(args, port)
                tap.ok(row.get("jarm") in entries[label],
                       f"{label}: measured again, same fingerprint as servers.tsv",
                       f"got {row.get('jarm')} want {entries[label]}\n{run.describe()}")
            finally:
                srv.stop()

        helptext = harness.run(args.jarmsweep, ["--help"]).out.decode(errors="replace")
        if "--match" not in helptext:
            tap.skip("--match c2 labels a default OpenSSL server Metasploit", "no --match yet")
        else:
            port = harness.free_port()
            srv = Server(s_server(tmp, port), port, tmp)
            try:
                run, row = scan(args, port, ["--match", "c2", "--match", "servers"])
                tap.ok(run.rc == 0 and "Metasploit" in (row.get("match") or []),
                       "--match c2 labels a default OpenSSL server Metasploit", run.describe())
                tap.ok(f"{ossl} s_server, defaults" in (row.get("match") or []),
                       "--match servers labels it with its servers.tsv entry", row.get("match"))
            finally:
                srv.stop()

        if "--baseline" not in helptext:
            tap.skip("--baseline: same, changed, new", "no --baseline yet")
            return tap.done()
        port, other = harness.free_port(), harness.free_port()
        default_fp = entries.get(f"{ossl} s_server, defaults", [None])[0]
        base = os.path.join(tmp, "baseline.txt")
        with open(base, "w") as f:
            f.write(f"# a baseline\n127.0.0.1:{port} {default_fp}\n127.0.0.1:1 {default_fp}\n")
        srv = Server(s_server(tmp, port), port, tmp)
        try:
            run, row = scan(args, port, ["--baseline", base])
            tap.eq(row.get("baseline"), "same", "--baseline: an unchanged server is same")
        finally:
            srv.stop()
        srv = Server(s_server(tmp, port, "-no_tls1_3"), port, tmp)
        try:
            run, row = scan(args, port, ["--baseline", base])
            tap.eq(row.get("baseline"), "changed",
                   "--baseline: the same server with -no_tls1_3 is changed")
            tap.ok(default_fp in json.dumps(row), "--baseline: the row holds the old fingerprint",
                   run.describe())
        finally:
            srv.stop()
        srv = Server(s_server(tmp, other), other, tmp)
        try:
            run, row = scan(args, other, ["--baseline", base])
            tap.eq(row.get("baseline"), "new", "--baseline: a port not in the baseline is new")
        finally:
            srv.stop()
    return tap.done()


if __name__ == "__main__":
    raise SystemExit(main())

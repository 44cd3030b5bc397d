#!/usr/bin/env python3
"""jarmsweep against real `openssl s_server`s: the fingerprints of vectors/captures.json.

For every `openssl s_server` configuration in captures.json (its server_command, with
throwaway RSA-2048 / ECDSA P-256 certificates made by `openssl req`), a server is started on
127.0.0.1 on a free port, all six at once, and jarmsweep must print the capture's `jarm` and
`raw` (NDJSON) and the reference's own `-j -v` line (`-f jarm-json`). The plain HTTP server
capture is replayed with python's http.server. Servers are stopped by PID.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import harness

CERTS = {
    "rsa": ["-newkey", "rsa:2048"],
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
}


def make_certs(tmp):
    for name, key in CERTS.items():
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-keyout", os.path.join(tmp, name + ".key"),
                        "-out", os.path.join(tmp, name + ".pem")] + key,
                       check=True, capture_output=True)


def listening(port):
    """Whether something listens on 127.0.0.1:port (from /proc/net/tcp, no connection)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
    return False


def start_server(cmd, cwd):
    # stdin stays an open pipe: s_server treats EOF on stdin as "quit" in some modes.
    return subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_listening(procs_ports, timeout=15):
    deadline = time.monotonic() + timeout
    pending = dict(procs_ports)
    while pending and time.monotonic() < deadline:
        for name, (proc, port) in list(pending.items()):
            if listening(port) or proc.poll() is not None:
                del pending[name]
        time.sleep(0.05)
    return list(pending)


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    if shutil.which("openssl") is None:
        tap.skip_all("openssl not installed")
    caps = harness.captures(args.vectors)
    ossl = {n: c for n, c in caps.items() if c.get("server_kind") == "openssl s_server"}
    tap.ok(len(ossl) == 6, f"captures.json has 6 openssl s_server configurations ({len(ossl)})")

    with tempfile.TemporaryDirectory(prefix="jarm-ossl-") as tmp:
        make_certs(tmp)
        servers = {}
        try:
            for name, cap in ossl.items():
                port = harness.free_port()
                cmd = [a.replace("PORT", str(port)) for a in cap["server_command"]]
                tap.ok(cmd[3] == f"127.0.0.1:{port}", f"{name}: server bound to 127.0.0.1 only")
                servers[name] = (start_server(cmd, tmp), port)
            if "python_http_server" in caps:
                port = harness.free_port()
                servers["python_http_server"] = (start_server(
                    [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                    tmp), port)
            late = wait_listening(servers)
            tap.ok(not late, "every server listens", f"not listening: {late}")

            def scan(item):
                name, (proc, port) = item
                nd = harness.run(args.jarmsweep, ["-t", 5, f"127.0.0.1:{port}"], timeout=90)
                jj = harness.run(args.jarmsweep, ["-t", 5, "-f", "jarm-json",
                                                  f"127.0.0.1:{port}"], timeout=90)
                return name, port, nd, jj

            with ThreadPoolExecutor(max_workers=len(servers)) as pool:
                results = list(pool.map(scan, servers.items()))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
            for proc, _ in servers.values():
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    for name, port, nd, jj in sorted(results):
        cap = caps[name]
        row = nd.row
        tap.ok(nd.rc == 0 and len(nd.rows) == 1 and not nd.bad_lines,
               f"{name}: exit 0 and exactly one NDJSON row", nd.describe())
        tap.eq(row.get("jarm"), cap["fingerprint"], f"{name}: jarm equals the capture's")
        tap.eq(row.get("raw"), cap["raw"], f"{name}: raw equals the capture's")
        want_status = "ok" if cap["fingerprint"] != harness.ZEROS else "no_tls"
        tap.eq(row.get("status"), want_status, f"{name}: status {want_status}")
        tap.ok(row.get("host") == "127.0.0.1" and row.get("ip") == "127.0.0.1"
               and row.get("port") == port, f"{name}: host, ip and port",
               {k: row.get(k) for k in ("host", "ip", "port")})
        tap.ok(isinstance(row.get("probes"), list) and len(row["probes"]) == 10,
               f"{name}: ten probe entries", row.get("probes"))
        tap.eq(jj.out.decode(errors="replace"), cap["stdout"],
               f"{name}: -f jarm-json is the reference's -j -v line")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""SOCKS5: every probe connection through microsocks on loopback (Debian's microsocks).

The replay responder plays the openssl_rsa_default capture on 127.0.0.1; microsocks listens
on 127.0.0.1 (one without and one with username/password authentication):
1. through the proxy, the capture's fingerprint and raw; the row records the proxy;
   --compare-direct through it: intercepted false;
2. with authentication: right credentials work, a wrong password and missing credentials
   are proxy_error rows (never a crash, never a hang);
3. a name is resolved by the proxy (socks5h): `localhost` gives the fingerprint, ip null;
4. a refused target port behind the proxy is `refused`; a proxy that closes at once and a
   proxy port nobody listens on are proxy_error, each within the timeout.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness


def start_microsocks(port, *extra):
    proc = subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(port)] + list(extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("microsocks did not start")



def main():
    args = harness.parse_args()
    tap = harness.Tap()
    if shutil.which("microsocks") is None:
        tap.skip_all("microsocks is not installed")
    cap = harness.captures(args.vectors)["openssl_rsa_default"]
    fp, raw = cap["fingerprint"], cap["raw"]
    with tempfile.TemporaryDirectory(prefix="jarm-socks-") as tmp:
        replies = harness.write_replies(f"{tmp}/replies", harness.reply_lines(cap))
        resp = harness.Responder(args.responder, tmp, replies=replies,
                                 listen=("127.0.0.1:0",))
        p_open, p_auth = harness.free_port(), harness.free_port()
        ms_open = start_microsocks(p_open)
        ms_auth = start_microsocks(p_auth, "-u", "alice", "-P", "s3cret")
        # A "proxy" that accepts and closes at once.
        closer = socket.socket()
        closer.bind(("127.0.0.1", 0))
        closer.listen(64)
        p_close = closer.getsockname()[1]
        stop_closer = threading.Event()

        def close_all():
            closer.settimeout(0.1)
            while not stop_closer.is_set():
                try:
                    c, _ = closer.accept()
                    c.close()
                except OSError:
                    pass
        th = threading.Thread(target=close_all, daemon=True)
        th.start()
        try:
            target = f"127.0.0.1:{resp.port}"
            r = harness.run(args.jarmsweep, ["-q", "-t", 5, "--proxy",
                                             f"socks5://127.0.0.1:{p_open}", target])
            row = r.row
            tap.ok(row.get("jarm") == fp and row.get("raw") == raw,
                   "through SOCKS5: the capture's fingerprint and raw", r.describe())
            tap.eq(row.get("proxy"), f"socks5://127.0.0.1:{p_open}", "the row records the proxy")
            st = resp.snapshot()
            tap.ok(st.get("hellos", 0) >= 10, "the responder saw the probes (via the proxy)")

            r = harness.run(args.jarmsweep, ["-q", "-t", 5, "--proxy",
                                             f"socks5://127.0.0.1:{p_open}", "--compare-direct",
                                             target])
            tap.ok(r.row.get("jarm_direct") == fp and r.row.get("jarm_proxy") == fp
                   and r.row.get("intercepted") is False,
                   "--compare-direct through SOCKS5: intercepted false", r.describe())

            r = harness.run(args.jarmsweep, ["-q", "--proxy",
                                             f"socks5://alice:s3cret@127.0.0.1:{p_auth}", target])
            tap.eq(r.row.get("jarm"), fp, "with username/password: the fingerprint")
            r = harness.run(args.jarmsweep, ["-q", "-t", 3, "--proxy",
                                             f"socks5://alice:wrong@127.0.0.1:{p_auth}", target])
            tap.ok(r.rc == 0 and r.row.get("status") == "proxy_error"
                   and r.row.get("jarm") == harness.ZEROS, "a wrong password: proxy_error",
                   r.describe())
            r = harness.run(args.jarmsweep, ["-q", "-t", 3, "--proxy",
                                             f"socks5://127.0.0.1:{p_auth}", target])
            tap.ok(r.row.get("status") == "proxy_error",
                   "a proxy that wants credentials we lack: proxy_error", r.describe())

            r = harness.run(args.jarmsweep, ["-q", "--proxy", f"socks5h://127.0.0.1:{p_open}",
                                             f"localhost:{resp.port}"])
            tap.ok(r.row.get("jarm") == fp and r.row.get("ip") is None
                   and r.row.get("host") == "localhost",
                   "a name resolved by the proxy (socks5h): fingerprint, ip null", r.describe())

            dead = harness.free_port()
            r = harness.run(args.jarmsweep, ["-q", "-t", 3, "--proxy",
                                             f"socks5://127.0.0.1:{p_open}", f"127.0.0.1:{dead}"])
            tap.eq(r.row.get("status"), "refused", "a refused target behind the proxy: refused")
            r = harness.run(args.jarmsweep, ["-q", "-t", 2, "--proxy",
                                             f"socks5://127.0.0.1:{p_close}", target])
            tap.ok(r.row.get("status") == "proxy_error" and r.wall < 4,
                   "a proxy that closes at once: proxy_error, fast", r.describe())
            r = harness.run(args.jarmsweep, ["-q", "-t", 2, "--proxy",
                                             f"socks5://127.0.0.1:{dead}", target])
            tap.ok(r.row.get("status") == "proxy_error" and r.wall < 4
                   and r.row.get("error") == "proxy refused connection",
                   "no proxy listening: proxy_error, fast", r.describe())
            r = harness.run(args.jarmsweep, ["--proxy", "ftp://127.0.0.1:3128", target])
            tap.ok(r.rc == 2 and not r.out and "--proxy" in r.err_text,
                   "a proxy URL of an unknown scheme is a usage error", r.describe())
        finally:
            stop_closer.set()
            th.join()
            closer.close()
            harness.stop(ms_open)
            harness.stop(ms_auth)
            resp.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

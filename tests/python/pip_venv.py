#!/usr/bin/env python3
"""`pip install contrib/python` into a fresh virtual environment gives a working module (TAP).

Usage: pip_venv.py JARMSWEEP SOURCE_ROOT BUILD_DIR

1. `python3 -m venv` makes an empty environment (no system site-packages) and its pip
   installs contrib/python with --no-index: nothing is fetched, the stdlib-only build backend
   compiles libjarmsweep with meson and ninja (in BUILD_DIR, kept between runs) and puts it
   into the wheel.
2. With JARM_LIBRARY and PYTHONPATH unset and the working directory outside the tree,
   `python -c 'import jarm; print(jarm.string_fingerprint("127.0.0.1", PORT))'` fingerprints
   an `openssl s_server` on 127.0.0.1, using the library inside the installed package; the
   fingerprint must be the one the jarmsweep binary gives for the same server, and that of a
   real answer (not 62 zeros).
3. The installed module still honours JARM_LIBRARY (the build tree's library).

Only 127.0.0.1. The servers are stopped by PID.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "loopback"))
import harness  # noqa: E402  (stop: the loopback tests' process stop)

JARMSWEEP, ROOT, BUILD_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
N = 0
FAILED = 0


def ok(cond, desc, diag=None):
    global N, FAILED
    N += 1
    print(f"{'ok' if cond else 'not ok'} {N} - {desc}", flush=True)
    if not cond:
        FAILED += 1
        for line in str(diag if diag is not None else "").splitlines()[-40:]:
            print(f"# {line}")
    return cond


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JARM_LIBRARY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                        "LD_PRELOAD", "PYTHONDONTWRITEBYTECODE")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_NO_CACHE_DIR="1")
    env.update(extra)
    return env


def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(p[1] == want and p[3] == "0A" for p in (line.split() for line in f)
                   if len(p) > 3)


def main():
    tmp = tempfile.mkdtemp(prefix="jarm-venv-")
    srv = None
    try:
        venv = os.path.join(tmp, "venv")
        py = os.path.join(venv, "bin", "python")
        r = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True,
                           env=clean_env())
        if not ok(r.returncode == 0, "python3 -m venv makes a fresh environment", r.stderr):
            return
        r = subprocess.run([py, "-c", "import jarm"], capture_output=True, text=True, cwd=tmp,
                           env=clean_env())
        ok(r.returncode != 0, "the fresh environment has no jarm module")

        t0 = time.monotonic()
        r = subprocess.run([py, "-m", "pip", "install", "--no-index",
                            os.path.join(ROOT, "contrib", "python")],
                           capture_output=True, text=True, cwd=tmp, timeout=900,
                           env=clean_env(JARM_BUILD_DIR=BUILD_DIR, JARM_BUILD_LIBRARY="1"))
        if not ok(r.returncode == 0, f"pip install --no-index contrib/python "
                  f"({time.monotonic() - t0:.0f} s, libjarmsweep compiled by the backend)",
                  r.stdout + r.stderr):
            return

        # A throwaway certificate and an openssl s_server on 127.0.0.1.
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-newkey", "rsa:2048",
                        "-keyout", os.path.join(tmp, "key.pem"),
                        "-out", os.path.join(tmp, "cert.pem")],
                       check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        srv = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
                                "-cert", os.path.join(tmp, "cert.pem"),
                                "-key", os.path.join(tmp, "key.pem")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=tmp)
        deadline = time.monotonic() + 15
        while not listening(port):
            if srv.poll() is not None or time.monotonic() > deadline:
                ok(False, "openssl s_server listens on 127.0.0.1")
                return
            time.sleep(0.05)

        r = subprocess.run([JARMSWEEP, "-t", "5", f"127.0.0.1:{port}"], capture_output=True,
                           text=True, timeout=120)
        row = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}
        cli = row.get("jarm", "")
        ok(row.get("status") == "ok" and len(cli) == 62 and cli != "0" * 62,
           "jarmsweep fingerprints the server", r.stdout + r.stderr)

        code = (f'import jarm; print(jarm.string_fingerprint("127.0.0.1", {port})); '
                'print(jarm.library_path())')
        r = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=tmp,
                           timeout=120, env=clean_env())
        out = r.stdout.split()
        ok(r.returncode == 0 and len(out) == 2, "python -c 'import jarm; "
           "print(jarm.string_fingerprint(\"127.0.0.1\", PORT))' runs", r.stdout + r.stderr)
        fp, lib = (out + ["", ""])[:2]
        ok(fp == cli, f"the module's fingerprint is the binary's ({fp})", f"{fp} != {cli}")
        ok(lib.startswith(venv + os.sep) and os.path.basename(lib) == "libjarmsweep.so",
           "it used the libjarmsweep.so inside the installed package", lib)

        own = os.path.realpath(os.path.join(BUILD_DIR, "src", "libjarmsweep.so"))
        r = subprocess.run([py, "-c", "import jarm; print(jarm.library_path())"],
                           capture_output=True, text=True, cwd=tmp, timeout=60,
                           env=clean_env(JARM_LIBRARY=own))
        ok(r.returncode == 0 and r.stdout.strip() == own,
           "JARM_LIBRARY still overrides the packaged library", r.stdout + r.stderr)
    finally:
        if srv is not None:
            harness.stop(srv)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
    print(f"1..{N}")
    sys.exit(1 if FAILED or N == 0 else 0)

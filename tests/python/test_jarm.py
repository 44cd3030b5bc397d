#!/usr/bin/env python3
"""The Python module (contrib/python/jarm) over libjarmsweep, end to end on loopback.

    test_jarm.py RESPONDER VECTORS_DIR JARMSWEEP [unittest arguments...]

Environment (tests/python/meson.build sets them): JARM_LIBRARY, the libjarmsweep.so under
test; PYTHONPATH, contrib/python; JARM_TEST_CC, the C compiler (to find clang's ASan runtime).

Servers: `openssl s_server` with a throwaway RSA certificate, tests/helpers/responder
replaying captures.json's openssl_rsa_default replies (and in http and alert modes), a
listener that never answers, and a port nobody listens on; all bound to 127.0.0.1 and
stopped by PID. Nothing is ever resolved through DNS.

Sanitizers: a libjarmsweep.so built with AddressSanitizer cannot be loaded into an
uninstrumented python unless the ASan runtime is loaded first. The script looks at the
library (ldd: a gcc build links libasan.so; nm: a clang build leaves __asan_* undefined and
needs clang's shared runtime libclang_rt.asan-ARCH.so) and, if needed, re-executes itself
with LD_PRELOAD set to that runtime and ASAN_OPTIONS=...:detect_leaks=0 (the interpreter
itself never frees everything, so LeakSanitizer would always fail it; the C side's leaks are
covered by the C tests). The preload is removed again from the environment of the
executables it starts (openssl, responder, jarmsweep), which carry their own runtime, and
given back to the python subprocesses. If the runtime cannot be found the suite is skipped
(exit 77) with the reason.
"""
import glob
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

if len(sys.argv) < 4:
    sys.exit("usage: test_jarm.py RESPONDER VECTORS_DIR JARMSWEEP [unittest args]")
RESPONDER, VECTORS, JARMSWEEP = (os.path.abspath(a) for a in sys.argv[1:4])
UNITTEST_ARGV = [sys.argv[0]] + sys.argv[4:]
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
PKG_DIR = os.path.join(SRC, "contrib", "python")
SKIP = 77
EXPECTED = "07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d"
ZEROS = "0" * 62
# Seconds allowed beyond a modelled bound: the suites run side by side on a busy machine.
SLACK = float(os.environ.get("JARM_TEST_SLACK", "4"))


# --- sanitizer runtime ----------------------------------------------------------------------

def _run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _clang_runtime(name):
    """Path of clang's shared runtime `name` (e.g. libclang_rt.asan-x86_64.so), or None."""
    ccs = [os.environ.get("JARM_TEST_CC", ""), "clang"]
    for cc in ccs:
        if not cc:
            continue
        p = _run_text([cc, f"-print-file-name={name}"]).strip()
        if os.path.isabs(p) and os.path.exists(p):
            return p
    found = sorted(glob.glob(f"/usr/lib/llvm-*/lib/clang/*/lib/linux/{name}"))
    return found[-1] if found else None


def _sanitizer_preload(lib):
    """(runtime to LD_PRELOAD or None, reason to skip or None) for the library."""
    for line in _run_text(["ldd", lib]).splitlines():
        if re.search(r"lib(asan|clang_rt\.asan[-\w]*)\.so", line) and "=>" in line:
            path = line.split("=>", 1)[1].split("(")[0].strip()
            if os.path.exists(path):
                return path, None
            return None, f"{lib} links an ASan runtime that ldd cannot find: {line.strip()}"
    if not shutil.which("nm"):
        return None, None
    undef = _run_text(["nm", "-D", "--undefined-only", lib])
    arch = platform.machine()
    for kind, sym in (("asan", "__asan_"), ("ubsan_standalone", "__ubsan_")):
        if sym in undef:
            rt = _clang_runtime(f"libclang_rt.{kind}-{arch}.so")
            if rt is None:
                return None, (f"{lib} is built with clang's -fsanitize ({kind}) and needs "
                              f"libclang_rt.{kind}-{arch}.so preloaded, which was not found "
                              "(Debian: libclang-rt-14-dev)")
            return rt, None
    return None, None


def _maybe_reexec():
    lib = os.environ.get("JARM_LIBRARY")
    if os.environ.get("JARM_TEST_REEXEC") == "1":
        return
    if not lib or not os.path.exists(lib):
        print(f"SKIP: JARM_LIBRARY={lib!r} does not name the built libjarmsweep.so",
              file=sys.stderr)
        sys.exit(SKIP)
    rt, why = _sanitizer_preload(lib)
    if why:
        print(f"SKIP: {why}", file=sys.stderr)
        sys.exit(SKIP)
    if rt is None:
        return
    env = dict(os.environ)
    env["JARM_TEST_REEXEC"] = "1"
    env["JARM_TEST_PRELOAD"] = rt
    env["JARM_TEST_ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "")
    env["LD_PRELOAD"] = rt
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""),
                                                  "detect_leaks=0"]))
    print(f"# sanitized library: re-running python with LD_PRELOAD={rt}", file=sys.stderr)
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


_maybe_reexec()
PRELOAD = os.environ.pop("JARM_TEST_PRELOAD", None)
ORIG_ASAN = os.environ.pop("JARM_TEST_ASAN_OPTIONS", None)
if PRELOAD:
    # Our own process has it loaded already; children choose (native_env / python_env).
    PY_ASAN = os.environ.get("ASAN_OPTIONS", "")
    os.environ.pop("LD_PRELOAD", None)
    if ORIG_ASAN is not None:
        os.environ["ASAN_OPTIONS"] = ORIG_ASAN
    else:
        os.environ.pop("ASAN_OPTIONS", None)


def native_env(**extra):
    """Environment for the C executables (their own sanitizer runtime, no preload)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(extra)
    return env


def python_env(**extra):
    """Environment for python subprocesses importing jarm (preload again if needed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [PKG_DIR, os.environ.get("PYTHONPATH", "")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if PRELOAD:
        env["LD_PRELOAD"] = PRELOAD
        env["ASAN_OPTIONS"] = PY_ASAN
    env.update(extra)
    return env


sys.path.insert(0, PKG_DIR)
import jarm  # noqa: E402


# --- servers --------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
    return False


class Proc:
    """A server subprocess, stopped by PID."""

    def __init__(self, cmd, cwd=None):
        self.errf = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=self.errf,
                                     env=native_env())

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        self.errf.close()


class Responder(Proc):
    def __init__(self, tmp, mode="replay", replies=None):
        self.port_file = tempfile.mktemp(prefix="responder-", suffix=".port", dir=tmp)
        cmd = [RESPONDER, "--listen", "127.0.0.1:0", "--port-file", self.port_file,
               "--mode", mode, "--stats"]
        if replies:
            cmd += ["--replies", replies]
        super().__init__(cmd)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.port_file) or os.path.getsize(self.port_file) == 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"responder did not start: {self.stderr()}")
            time.sleep(0.01)
        time.sleep(0.01)
        with open(self.port_file) as f:
            self.port = int(f.read().split()[0])



S = {}  # the module's servers and files


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="jarm-py-")
    S["tmp"] = tmp
    S["procs"] = []
    try:
        with open(os.path.join(VECTORS, "captures.json")) as f:
            caps = {c["name"]: c for c in json.load(f)["captures"]}
        cap = caps["openssl_rsa_default"]
        S["cap"] = cap
        S["caps"] = caps
        replies = os.path.join(tmp, "replies")
        with open(replies, "w") as f:
            f.write("\n".join(p["received_hex"] or "-" for p in cap["probes"]) + "\n")

        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-newkey", "rsa:2048",
                        "-keyout", os.path.join(tmp, "rsa.key"),
                        "-out", os.path.join(tmp, "rsa.pem")],
                       check=True, capture_output=True, env=native_env())
        port = free_port()
        srv = Proc(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
                    "-cert", os.path.join(tmp, "rsa.pem"), "-key", os.path.join(tmp, "rsa.key")],
                   cwd=tmp)
        S["procs"].append(srv)
        S["ossl"] = port

        for name, mode, rep in (("replay", "replay", replies), ("http", "http", None),
                                ("alert", "alert", None), ("hold", "silent", None)):
            r = Responder(tmp, mode, rep)
            S["procs"].append(r)
            S[name] = r

        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # never accepted, never answered: the kernel completes connects
        S["silent_sock"] = silent
        S["silent"] = silent.getsockname()[1]
        S["refused"] = free_port()

        deadline = time.monotonic() + 15
        while not listening(port):
            if srv.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openssl s_server did not start: {srv.stderr()}")
            time.sleep(0.05)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for p in S.get("procs", []):
        p.stop()
    if "silent_sock" in S:
        S["silent_sock"].close()
    if "tmp" in S:
        shutil.rmtree(S["tmp"], ignore_errors=True)


def cli_row(port, *extra):
    r = subprocess.run([JARMSWEEP, "-q", "-t", "5", *extra, f"127.0.0.1:{port}"],
                       capture_output=True, timeout=120, env=native_env())
    rows = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    assert r.returncode == 0 and len(rows) == 1, (r.returncode, r.stdout, r.stderr)
    return rows[0]


def cli_json(*args):
    r = subprocess.run([JARMSWEEP, *args], capture_output=True, timeout=60, env=native_env())
    assert r.returncode == 0, (r.returncode, r.stderr)
    return json.loads(r.stdout)


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def task_count():
    return len(os.listdir("/proc/self/task"))


def scan_threads():
    return [t for t in threading.enumerate() if t.name == "jarm-scan"]


# --- tests ----------------------------------------------------------------------------------

class TestStringFingerprint(unittest.TestCase):
    def test_three_line_script_equals_capture_and_cli(self):
        port = S["ossl"]
        script = ("import jarm\n"
                  f'print(jarm.string_fingerprint("127.0.0.1", {port}, timeout=5))\n')
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120, env=python_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, EXPECTED + "\n", r.stderr)
        self.assertEqual(S["cap"]["fingerprint"], EXPECTED)
        row = cli_row(port)
        self.assertEqual(row["jarm"], r.stdout.strip())
        self.assertEqual(row["status"], "ok")

    def test_in_process(self):
        fp = jarm.string_fingerprint("127.0.0.1", S["ossl"], timeout=5)
        self.assertEqual(fp, EXPECTED)
        self.assertEqual(jarm.string_fingerprint("127.0.0.1", S["replay"].port), EXPECTED)

    def assertRaisesStatus(self, status, *args, **kw):
        with self.assertRaises(jarm.JarmError) as cm:
            jarm.string_fingerprint(*args, **kw)
        e = cm.exception
        self.assertEqual(e.status, status, e.row)
        self.assertIsInstance(e.row, dict)
        self.assertEqual(e.row["status"], status)
        self.assertEqual(e.row["jarm"], ZEROS)
        self.assertIn(status, str(e))
        return e

    def test_refused(self):
        e = self.assertRaisesStatus("refused", "127.0.0.1", S["refused"], timeout=5)
        self.assertEqual(e.reason, "refused")
        self.assertEqual((e.row["host"], e.row["ip"], e.row["port"]),
                         ("127.0.0.1", "127.0.0.1", S["refused"]))

    def test_refused_ipv6_literal_is_bracketed(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
                port = s.getsockname()[1]
        except OSError:
            self.skipTest("no ::1")
        e = self.assertRaisesStatus("refused", "::1", port, timeout=5)
        self.assertEqual((e.row["host"], e.row["ip"], e.row["port"]), ("::1", "::1", port))

    def test_timeout(self):
        t0 = time.monotonic()
        e = self.assertRaisesStatus("timeout", "127.0.0.1", S["silent"], timeout=1)
        self.assertLess(time.monotonic() - t0, 1 + SLACK)
        self.assertEqual(e.reason, "timeout")
        self.assertEqual(e.row["raw"], ",".join(["|||"] * 10))

    def test_no_tls(self):
        self.assertRaisesStatus("no_tls", "127.0.0.1", S["http"].port, timeout=5)

    def test_rejected(self):
        # A TLS server that alerts on every probe: no ServerHello, so no fingerprint.
        self.assertRaisesStatus("rejected", "127.0.0.1", S["alert"].port, timeout=5)

    def test_bad_target(self):
        e = self.assertRaisesStatus("bad_target", "bad host!", 443)
        self.assertIsInstance(e.reason, str)
        self.assertNotEqual(e.reason, "bad_target")
        self.assertEqual(e.reason, e.row["error"])
        self.assertIn(e.reason, str(e))

    def test_misuse_raises_value_error(self):
        for kw in ({"port": 0}, {"port": 65536}, {"port": "443"}, {"timeout": 0},
                   {"timeout": -1}, {"timeout": "5"}):
            with self.subTest(**kw), self.assertRaises((ValueError, TypeError)):
                jarm.string_fingerprint("127.0.0.1", **kw)
        for host in ("", "a\0b"):
            with self.subTest(host=host), self.assertRaises(ValueError):
                jarm.string_fingerprint(host, 443)
        for sni in ("", "a" * 256, "a\0b"):
            with self.subTest(sni=sni), self.assertRaises(ValueError):
                jarm.fingerprint("127.0.0.1", 443, sni=sni)
        with self.assertRaises(TypeError):
            jarm.string_fingerprint(None, 443)


class TestFingerprint(unittest.TestCase):
    def test_row_dict(self):
        port = S["ossl"]
        row = jarm.fingerprint("127.0.0.1", port, timeout=5)
        self.assertIsInstance(row, dict)
        self.assertEqual(row["status"], "ok")
        self.assertEqual(row["jarm"], EXPECTED)
        self.assertEqual(row["raw"], S["cap"]["raw"])
        self.assertEqual((row["host"], row["ip"], row["port"], row["sni"]),
                         ("127.0.0.1", "127.0.0.1", port, "127.0.0.1"))
        self.assertEqual(len(row["probes"]), 10)
        for k in ("elapsed_ms", "ts"):
            self.assertIn(k, row)
        cli = cli_row(port)
        for k in ("host", "ip", "port", "jarm", "status", "raw", "sni"):
            self.assertEqual(row[k], cli[k], k)
        self.assertEqual(list(row), list(cli), "same fields in the same order as the CLI")

    def test_sni(self):
        row = jarm.fingerprint("127.0.0.1", S["replay"].port, sni="example.test")
        self.assertEqual(row["sni"], "example.test")
        self.assertEqual(row["jarm"], EXPECTED)

    def test_never_raises_for_outcomes(self):
        for port, status, t in ((S["refused"], "refused", 5), (S["silent"], "timeout", 1),
                                (S["http"].port, "no_tls", 5), (S["alert"].port, "rejected", 5)):
            with self.subTest(status=status):
                self.assertEqual(jarm.fingerprint("127.0.0.1", port, timeout=t)["status"],
                                 status)
        row = jarm.fingerprint("bad host!", 443)
        self.assertEqual(row["status"], "bad_target")
        self.assertTrue(row["error"])

    def test_concurrent_calls_from_threads(self):
        out = []

        def one():
            out.append(jarm.fingerprint("127.0.0.1", S["replay"].port)["jarm"])

        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(out, [EXPECTED] * 8)


class TestCert(unittest.TestCase):
    """cert=True: the certificate from the probes, as jarmsweep --cert writes it."""

    def expected_sha256(self):
        out = subprocess.run(["openssl", "x509", "-in", os.path.join(S["tmp"], "rsa.pem"),
                              "-noout", "-fingerprint", "-sha256"], check=True,
                             capture_output=True, text=True, env=native_env()).stdout
        return out.strip().partition("=")[2].replace(":", "").lower()

    def test_fingerprint_cert_equals_cli(self):
        port = S["ossl"]
        row = jarm.fingerprint("127.0.0.1", port, timeout=5, cert=True)
        self.assertEqual(row["jarm"], EXPECTED, "the fingerprint does not move")
        cert = row.get("cert")
        self.assertIsInstance(cert, dict, row)
        self.assertEqual(cert["sha256"], self.expected_sha256())
        self.assertEqual((cert["subject"], cert["key"], cert["chain_len"], cert["self_signed"]),
                         ("CN=localhost", "rsa-2048", 1, True))
        cli = cli_row(port, "--cert")
        self.assertEqual(cert, cli["cert"], "the same object as jarmsweep --cert")
        self.assertNotIn("cert", jarm.fingerprint("127.0.0.1", port, timeout=5))

    def test_scan_cert_and_errors(self):
        targets = [f"127.0.0.1:{S['ossl']}", f"127.0.0.1:{S['http'].port}",
                   f"127.0.0.1:{S['alert'].port}", f"127.0.0.1:{S['refused']}"]
        rows = {r["port"]: r for r in jarm.scan(targets, timeout=5, cert=True)}
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[S["ossl"]]["cert"]["sha256"], self.expected_sha256())
        self.assertEqual(rows[S["http"].port].get("cert_error"), "not_tls")
        self.assertEqual(rows[S["alert"].port].get("cert_error"), "alert")
        self.assertEqual(rows[S["refused"]].get("cert_error"), "no_server_hello")
        small = list(jarm.scan(targets[:1], cert=True, cert_max=100))
        self.assertEqual(small[0].get("cert_error"), "too_big")
        for bad in (0, -1, 16777217, True, "1"):
            with self.subTest(cert_max=bad), self.assertRaises(ValueError):
                jarm.scan(targets[:1], cert=True, cert_max=bad)


class TestScan(unittest.TestCase):
    N = 5000

    @classmethod
    def setUpClass(cls):
        # One scan first: whatever the first call sets up for good (libuv's, OpenSSL's) is
        # then part of the baselines the leak checks compare with.
        list(jarm.scan([f"127.0.0.1:{S['replay'].port}"] * 10, timeout=5))

    def targets(self, n, consumed=None):
        t = f"127.0.0.1:{S['replay'].port}"
        for _ in range(n):
            if consumed is not None:
                consumed[0] += 1
            yield t

    def check_row(self, row):
        port = S["replay"].port
        self.assertEqual((row["status"], row["jarm"], row["raw"], row["ip"], row["port"]),
                         ("ok", EXPECTED, S["cap"]["raw"], "127.0.0.1", port), row)

    def assertQuiet(self, fds, tasks):
        """No scan thread left, no fd and no OS thread more than before."""
        deadline = time.monotonic() + 2
        while (scan_threads() or fd_count() > fds or task_count() > tasks) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(scan_threads(), [])
        self.assertLessEqual(fd_count(), fds, os.listdir("/proc/self/fd"))
        self.assertLessEqual(task_count(), tasks)

    def test_5000_targets(self):
        fds, tasks = fd_count(), task_count()
        consumed = [0]
        t0 = time.monotonic()
        rows = list(jarm.scan(self.targets(self.N, consumed), concurrency=1000, timeout=5))
        wall = time.monotonic() - t0
        print(f"# {self.N} targets in {wall:.2f}s", file=sys.stderr)
        self.assertEqual(consumed[0], self.N)
        self.assertEqual(len(rows), self.N)
        for row in rows:
            self.check_row(row)
        self.assertQuiet(fds, tasks)

    def test_abandon_halfway(self):
        for how in ("break", "close", "del"):
            with self.subTest(how=how):
                fds, tasks = fd_count(), task_count()
                consumed = [0]
                timeout = 5
                it = jarm.scan(self.targets(self.N, consumed), concurrency=1000,
                               timeout=timeout)
                t0 = time.monotonic()
                n = 0
                if how == "break":
                    for row in it:
                        self.check_row(row)
                        n += 1
                        if n == 1000:
                            break
                    del it  # the for loop held the only other reference
                else:
                    for _, row in zip(range(1000), it):
                        self.check_row(row)
                        n += 1
                    if how == "close":
                        it.close()
                    else:
                        del it
                elapsed = time.monotonic() - t0
                self.assertEqual(n, 1000)
                self.assertLess(elapsed, timeout + 2 + SLACK)
                self.assertLess(consumed[0], self.N, "the input was consumed lazily")
                self.assertQuiet(fds, tasks)
        # and a later scan still works
        rows = list(jarm.scan(self.targets(200), timeout=5))
        self.assertEqual(len(rows), 200)
        for row in rows:
            self.check_row(row)

    def test_abandon_before_first_row(self):
        it = jarm.scan(self.targets(10))
        it.close()  # never started: nothing to stop
        self.assertEqual(scan_threads(), [])

    def test_infinite_input_is_consumed_lazily(self):
        consumed = [0]

        def forever():
            while True:
                consumed[0] += 1
                yield f"127.0.0.1:{S['replay'].port}"

        n = 0
        for row in jarm.scan(forever(), concurrency=200):
            self.check_row(row)
            n += 1
            if n == 500:
                break
        self.assertGreaterEqual(consumed[0], 500)
        self.assertLess(consumed[0], 100_000)
        self.assertEqual(scan_threads(), [])

    def test_abandon_while_input_blocks(self):
        # jarm_scan is stopped by the row callback while its reader thread is inside next()
        # (a slow iterable): ten quick targets, five that time out after 1 s (all on one
        # address: fewer than the per-address limit, so they all run at once), then next()
        # takes 2.5 s. The consumer breaks after the ten quick rows; the first late row
        # (~1 s) tells jarm_scan to stop; the reader is still inside next() then. jarm_scan
        # must not return (and free what the reader uses) before that call has come back.
        # In a subprocess: if it does, the reader writes into freed memory (ASan aborts, or
        # the heap is corrupted), which must not take this whole suite down.
        slow_s, timeout = 2.5, 1
        script = f"""
import time, threading, jarm
inside = [False]  # the reader thread is inside our next()
def slow():
    for i in range(100000):
        if i < 10:
            yield "127.0.0.1:{S['replay'].port}"
        elif i < 15:
            yield "127.0.0.1:{S['hold'].port}"
        else:
            inside[0] = True
            time.sleep({slow_s})
            inside[0] = False
            yield "127.0.0.1:{S['replay'].port}"
t0 = time.monotonic()
n = 0
for row in jarm.scan(slow(), concurrency=100, timeout={timeout}):
    if row["port"] == {S['hold'].port}:
        continue  # one address: per-address scheduling may finish a held target first
    assert row["jarm"] == "{EXPECTED}", row
    n += 1
    if n == 10:
        break
print("abandoned", n, round(time.monotonic() - t0, 3), flush=True)
assert not [t for t in threading.enumerate() if t.name == "jarm-scan"]
print("returned while next() ran" if inside[0] else "waited for next()", flush=True)
time.sleep({slow_s})  # a reader left running comes back from next() by now
rows = list(jarm.scan(["127.0.0.1:{S['replay'].port}"] * 20))
assert len(rows) == 20 and all(r["jarm"] == "{EXPECTED}" for r in rows)
print("alive", flush=True)
"""
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=60, env=python_env())
        lines = r.stdout.split("\n")
        self.assertEqual(lines[0].split()[:2], ["abandoned", "10"], r.stdout + r.stderr[-6000:])
        self.assertEqual(lines[1:2], ["waited for next()"],
                         "jarm_scan returned while its reader thread was inside next()")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-6000:])
        self.assertLess(float(lines[0].split()[2]), slow_s + timeout + SLACK)
        self.assertEqual(lines[2], "alive", r.stdout + r.stderr[-6000:])

    def test_ports_and_statuses(self):
        ok, refused = S["replay"].port, S["refused"]
        rows = list(jarm.scan(["127.0.0.1", "bad host!", f"127.0.0.1:{S['http'].port}"],
                              ports=(ok, refused), timeout=5))
        got = sorted((r["host"], r["port"] or 0, r["status"]) for r in rows)
        self.assertEqual(got, sorted([("127.0.0.1", ok, "ok"), ("127.0.0.1", refused, "refused"),
                                      ("bad host!", 0, "bad_target"),
                                      ("127.0.0.1", S["http"].port, "no_tls")]))
        rows = list(jarm.scan(["127.0.0.1"], ports=f"{ok}", timeout=5, sni="example.test"))
        self.assertEqual([(r["status"], r["sni"]) for r in rows], [("ok", "example.test")])
        # A single string is one target, not an iterable of characters.
        rows = list(jarm.scan(f"127.0.0.1:{ok}"))
        self.assertEqual(len(rows), 1)
        self.check_row(rows[0])
        # bytes targets
        rows = list(jarm.scan([f"127.0.0.1:{ok}".encode()]))
        self.check_row(rows[0])

    def test_range_needs_allow_reserved(self):
        # As on the command line, a range's reserved addresses are blocklisted (no rows)
        # unless allowed.
        ok = S["replay"].port
        rows = list(jarm.scan(["127.0.0.1/31"], ports=(ok,), timeout=5))
        self.assertEqual(rows, [])
        rows = list(jarm.scan(["127.0.0.1/31"], ports=(ok,), allow_reserved=True, timeout=5))
        self.assertEqual(sorted(r["ip"] for r in rows), ["127.0.0.0", "127.0.0.1"])
        self.assertEqual([r["jarm"] for r in rows if r["ip"] == "127.0.0.1"], [EXPECTED])

    def test_errors(self):
        with self.assertRaises(jarm.JarmError) as cm:
            list(jarm.scan(["127.0.0.1"], proxy="ftp://127.0.0.1:1"))
        self.assertEqual(cm.exception.status, "error")
        self.assertIn("proxy", cm.exception.reason)
        with self.assertRaises(jarm.JarmError) as cm:
            list(jarm.scan(["127.0.0.1"], ports="0-x"))
        self.assertIn("ports", cm.exception.reason)
        for kw in ({"concurrency": 0}, {"timeout": 0}, {"ports": ()}, {"ports": (0,)},
                   {"sni": "a\0b"}):
            with self.subTest(**kw), self.assertRaises(ValueError):
                jarm.scan(["127.0.0.1"], **kw)
        with self.assertRaises(TypeError):
            jarm.scan(5)
        self.assertEqual(scan_threads(), [])

    def test_iterable_errors_are_raised_after_the_rows_before_them(self):
        port = S["replay"].port

        def broken():
            yield f"127.0.0.1:{port}"
            yield f"127.0.0.1:{port}"
            raise RuntimeError("input broke")

        rows = []
        with self.assertRaisesRegex(RuntimeError, "input broke"):
            for row in jarm.scan(broken()):
                rows.append(row)
        self.assertEqual(len(rows), 2)
        rows = []
        with self.assertRaises(TypeError):
            for row in jarm.scan([f"127.0.0.1:{port}", 42]):
                rows.append(row)
        self.assertEqual(len(rows), 1)
        self.assertEqual(scan_threads(), [])

    def test_two_scans_at_once(self):
        out = {}

        def run(k):
            out[k] = list(jarm.scan(self.targets(300), concurrency=100))

        ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        for k in range(2):
            self.assertEqual(len(out[k]), 300)
            for row in out[k]:
                self.check_row(row)


class TestExplainDiff(unittest.TestCase):
    def fps(self):
        return sorted({c["fingerprint"] for c in S["caps"].values()})

    def test_explain_equals_cli(self):
        for fp in self.fps():
            with self.subTest(fp=fp):
                self.assertEqual(jarm.explain(fp), cli_json("explain", "-f", "ndjson", fp))
        e = jarm.explain(EXPECTED)
        self.assertEqual(e["answered"], 7)
        p1 = e["probes"][0]
        self.assertEqual((p1["probe"], p1["name"], p1["code"], p1["cipher"], p1["version"]),
                         (1, "tls1_2_forward", "07d", "0033", "TLS 1.2"))
        self.assertEqual(p1["cipher_name"], "TLS_DHE_RSA_WITH_AES_128_CBC_SHA")
        self.assertTrue(p1["intent"])
        self.assertEqual(jarm.explain(EXPECTED.upper()), e)

    def test_diff_equals_cli(self):
        fps = self.fps()
        for a in fps:
            for b in fps:
                with self.subTest(a=a, b=b):
                    self.assertEqual(jarm.diff(a, b), cli_json("diff", "-f", "ndjson", a, b))
        d = jarm.diff(EXPECTED, EXPECTED)
        self.assertTrue(d["identical"])
        self.assertEqual(d["probes_differ"], [])
        other = S["caps"]["openssl_rsa_no_tls1_3"]["fingerprint"]
        d = jarm.diff(EXPECTED, other)
        self.assertFalse(d["identical"])
        self.assertEqual(d["probes_differ"], [p["probe"] for p in d["probes"]])
        self.assertTrue(d["probes_differ"])

    def test_bad_fingerprints(self):
        for bad in ("", EXPECTED[:-1], EXPECTED + "0", "zz" + EXPECTED[2:],
                    "47d" + EXPECTED[3:], "07k" + EXPECTED[3:], EXPECTED[:-1] + "g",
                    "\u00e9" * 62, EXPECTED[:30] + "\0" + EXPECTED[31:]):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    jarm.explain(bad)
                with self.assertRaises(ValueError):
                    jarm.diff(EXPECTED, bad)
                with self.assertRaises(ValueError):
                    jarm.diff(bad, EXPECTED)
        with self.assertRaises(TypeError):
            jarm.explain(None)


class TestPackaging(unittest.TestCase):
    def test_version(self):
        self.assertRegex(jarm.__version__, r"^\d+\.\d+\.\d+")

    def test_library_beside_the_module(self):
        with tempfile.TemporaryDirectory(prefix="jarm-pkg-") as tmp:
            shutil.copytree(os.path.join(PKG_DIR, "jarm"), os.path.join(tmp, "jarm"),
                            ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
            shutil.copy(os.environ["JARM_LIBRARY"], os.path.join(tmp, "jarm",
                                                                 "libjarmsweep.so"))
            env = python_env(PYTHONPATH=tmp)
            env.pop("JARM_LIBRARY", None)
            r = subprocess.run([sys.executable, "-c",
                                "import jarm; print(jarm.library_path()); "
                                f"print(jarm.explain({EXPECTED!r})['answered'])"],
                               capture_output=True, text=True, timeout=60, env=env, cwd=tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(),
                             [os.path.join(tmp, "jarm", "libjarmsweep.so"), "7"])

    def test_missing_library(self):
        env = python_env(JARM_LIBRARY="/nonexistent/libjarmsweep.so")
        r = subprocess.run([sys.executable, "-c",
                            "import jarm\n"
                            "try:\n    jarm.fingerprint('127.0.0.1', 1)\n"
                            "except OSError as e:\n    print('OSError', e)\n"],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("OSError"), r.stdout)
        self.assertIn("/nonexistent/libjarmsweep.so", r.stdout)

    def test_pip_install_offline(self):
        if subprocess.run([sys.executable, "-m", "pip", "--version"],
                          capture_output=True).returncode != 0:
            self.skipTest("no pip for this python")
        with tempfile.TemporaryDirectory(prefix="jarm-pip-") as tmp:
            env = python_env(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1",
                             PIP_NO_INPUT="1")
            env.pop("PYTHONPATH", None)
            src = os.path.join(tmp, "src")
            shutil.copytree(PKG_DIR, src, ignore=shutil.ignore_patterns(
                "__pycache__", "build", "*.egg-info", "*.so*"))
            target = os.path.join(tmp, "site")
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                                "--no-index", "--target", target, src],
                               capture_output=True, text=True, timeout=120, env=env, cwd=tmp)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            env["PYTHONPATH"] = target
            r = subprocess.run([sys.executable, "-c",
                                "import jarm; print(jarm.__file__, jarm.__version__); "
                                f"print(jarm.explain({EXPECTED!r})['answered'])"],
                               capture_output=True, text=True, timeout=60, env=env, cwd=tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(),
                             [os.path.join(target, "jarm", "__init__.py"), jarm.__version__,
                              "7"])


if __name__ == "__main__":
    unittest.main(argv=UNITTEST_ARGV, verbosity=2)

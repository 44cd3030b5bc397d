"""Shared pieces of the loopback tests: TAP output, the responder, running jarmsweep.

Every test script takes the same arguments (tests/loopback/meson.build passes them):
  --jarmsweep PATH   the scanner under test
  --responder PATH   tests/helpers/responder
  --vectors DIR      the golden vectors (tests/vectors: captures.json, ...)

Python 3 standard library only. Traffic goes to 127.0.0.1 / ::1 only, or to 127.x.y.z
inside a private network namespace (scale.py).
"""
import argparse
import json
import os
import shutil
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

ZEROS = "0" * 62
RAW_EMPTY = ",".join(["|||"] * 10)
# Extra wall time allowed over a timeout (process start, scheduling, sanitizers, valgrind).
SLACK = float(os.environ.get("JARM_TEST_SLACK", "1.5"))


class Tap:
    """A TAP producer: ok() per assertion, plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        cond = bool(cond)
        print(f"{'ok' if cond else 'not ok'} {self.n} - {desc}", flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                self.diag(diag)
        return cond

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, f"got:  {got!r}\nwant: {want!r}")

    def skip(self, desc, reason):
        self.n += 1
        print(f"ok {self.n} - {desc} # SKIP {reason}", flush=True)

    @staticmethod
    def diag(msg):
        for line in str(msg).splitlines() or [""]:
            print(f"# {line[:2000]}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0

    @staticmethod
    def skip_all(reason):
        print(f"1..0 # SKIP {reason}", flush=True)
        sys.exit(0)


def parse_args(extra=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--jarmsweep", required=True)
    ap.add_argument("--responder", required=True)
    ap.add_argument("--vectors", required=True)
    if extra:
        extra(ap)
    args = ap.parse_args()
    args.jarmsweep = os.path.abspath(args.jarmsweep)
    args.responder = os.path.abspath(args.responder)
    return args


def captures(vectors):
    with open(os.path.join(vectors, "captures.json")) as f:
        return {c["name"]: c for c in json.load(f)["captures"]}


# The cipher code table of jarm(7): ascending, the five 13xx suites last.
_CODE_SUITES = sorted(
    "0004 0005 0007 000a 0016 002f 0033 0035 0039 003c 003d 0041 0045 0067 006b 0084 0088 "
    "009a 009c 009d 009e 009f 00ba 00be 00c0 00c4 c007 c008 c009 c00a c011 c012 c013 c014 "
    "c023 c024 c027 c028 c02b c02c c02f c030 c060 c061 c072 c073 c076 c077 c09c c09d c09e "
    "c09f c0a0 c0a1 c0a2 c0a3 c0ac c0ad c0ae c0af cc13 cc14 cca8 cca9".split()) + \
    "1301 1302 1303 1304 1305".split()


def fuzzy(raw):
    """The fuzzy hash of a raw string, as jarm(7) states it (an independent check of the
    C code: written from the page, not from src/core/fphash.c)."""
    import hashlib
    if raw == ",".join(["|||"] * 10):
        return "0" * 62
    out, text = "", ""
    for hs in raw.split(","):
        f = (hs.split("|") + ["", "", "", ""])[:4]
        c = f[0]
        out += "00" if c == "" else "%02x" % (
            _CODE_SUITES.index(c) + 1 if c in _CODE_SUITES else 70)
        v = f[1]
        out += "0" if v == "" or len(v) < 4 or not v[3].isdigit() else "abcdefghij"[int(v[3])]
        text += f[2] + f[3]
    return out + hashlib.sha256(text.encode()).hexdigest()[:32]


def reply_lines(capture):
    """The capture's replies as the 10 lines of a responder --replies file."""
    return [p["received_hex"] or "-" for p in capture["probes"]]


def write_replies(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


_port_rng = random.SystemRandom()


def free_port(host="127.0.0.1"):
    """A port nothing listens on now, for a server the test starts next. Drawn at random
    below the kernel's ephemeral range (32768 and up on Linux): a port-0 bind or the source
    port of a scan's outgoing connection never lands there, and tests running side by side
    rarely draw the same one (port 0 hands them out nearly in sequence)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = _port_rng.randrange(10000, 32768)
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Responder:
    """tests/helpers/responder in a subprocess; stop() returns its counters."""

    def __init__(self, path, tmp, *, mode="replay", replies=None, delay_ms=0,
                 listen=("127.0.0.1:0",), extra=()):
        fd, self.pf = tempfile.mkstemp(prefix="responder-", suffix=".port", dir=tmp)
        os.close(fd)
        os.unlink(self.pf)
        cmd = [path, "--port-file", self.pf, "--mode", mode, "--stats"]
        for l in listen:
            cmd += ["--listen", l]
        if replies:
            cmd += ["--replies", replies]
        if delay_ms:
            cmd += ["--delay-ms", str(delay_ms)]
        cmd += list(extra)
        self.errf = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.errf)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.errf.seek(0)
                raise RuntimeError(f"responder did not start: {self.errf.read()}")
            time.sleep(0.01)
        with open(self.pf) as f:
            self.ports = [int(x) for x in f.read().split()]
        self.port = self.ports[0]
        self.stats = None

    def _read_stats(self):
        self.errf.seek(0)
        lines = [l for l in self.errf.read().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def snapshot(self):
        """Counters now (SIGUSR1), without stopping."""
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.1)
        return self._read_stats()

    def stop(self):
        if self.stats is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.stats = self._read_stats()
            self.errf.close()
        return self.stats

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Run:
    """One finished jarmsweep run."""

    def __init__(self, rc, out, err, wall, maxrss_kib):
        self.rc, self.out, self.err, self.wall, self.maxrss_kib = rc, out, err, wall, maxrss_kib
        self.rows, self.bad_lines = [], []
        for line in out.splitlines():
            try:
                self.rows.append(json.loads(line.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                self.bad_lines.append(line)

    @property
    def row(self):
        return self.rows[0] if len(self.rows) == 1 else {}

    @property
    def err_text(self):
        return self.err.decode(errors="replace")

    def describe(self):
        return (f"rc={self.rc} wall={self.wall:.2f}s rows={len(self.rows)} "
                f"bad_lines={len(self.bad_lines)}\nstdout: {self.out[:1500]!r}\n"
                f"stderr: {self.err[-1500:]!r}")


TIME_BIN = shutil.which("time", path="/usr/bin:/bin")



def stop(proc):
    """Terminate a process this test started, and reap it (kill after 5 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dns_qname(name):
    """name in DNS wire format."""
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def wait_dns(proc, port, name, seconds=10):
    """Wait until the DNS server proc on 127.0.0.1:port answers an A query for name;
    kill it and raise when it exits or stays silent."""
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + dns_qname(name) + b"\0\1\0\1"
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the DNS server exited")
            try:
                s.sendto(query, ("127.0.0.1", port))
                s.recvfrom(512)
                return
            except OSError:
                time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("the DNS server did not answer")

def run(jarmsweep, args, *, timeout=60, stdin=None, measure_rss=False):
    """Run jarmsweep with args; stdin is bytes or None (= /dev/null)."""
    cmd = [jarmsweep] + [str(a) for a in args]
    rss_file = None
    if measure_rss and TIME_BIN:
        # ru_maxrss of a child of this interpreter includes the interpreter's own RSS (it
        # survives exec); GNU time forks from a small process, so its %M is the scanner's.
        fd, rss_file = tempfile.mkstemp(prefix="rss-")
        os.close(fd)
        cmd = [TIME_BIN, "-f", "%M", "-o", rss_file] + cmd
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, input=stdin if stdin is not None else b"",
                           capture_output=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", (e.stderr or b"") + b"\n[killed: test timeout]"
    wall = time.monotonic() - t0
    maxrss = None
    if rss_file:
        try:
            with open(rss_file) as f:
                maxrss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(rss_file)
    return Run(rc, out, err, wall, maxrss)


def in_private_netns(tap_reason):
    """Re-exec the calling script under `unshare --net` with lo up; skip if impossible."""
    if os.environ.get("JARM_TEST_NETNS") == "1":
        subprocess.check_call(["ip", "link", "set", "lo", "up"])
        names = [l.split(":")[1].strip() for l in subprocess.check_output(
            ["ip", "-o", "link", "show"], text=True).splitlines() if l.strip()]
        if names != ["lo"]:
            print(f"Bail out! namespace has interfaces other than lo: {names}")
            sys.exit(1)
        for key, val in [("net/core/somaxconn", "65535"),
                         ("net/ipv4/tcp_max_syn_backlog", "65535"),
                         ("net/ipv4/ip_local_port_range", "1024 65535")]:
            try:
                with open("/proc/sys/" + key, "w") as f:
                    f.write(val)
            except OSError:
                pass
        return
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        Tap.skip_all(tap_reason)
    env = dict(os.environ, JARM_TEST_NETNS="1")
    script = os.path.abspath(sys.argv[0])
    sys.stdout.flush()
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, script] + sys.argv[1:], env)

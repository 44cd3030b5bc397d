#!/usr/bin/env python3
"""Loopback scan benchmark: jarmsweep against the ceiling of a minimal epoll client.

The ceiling on a machine is the kernel's rate of TCP
connect/send/receive/close against a trivial responder. This script measures it with
bench/ceiling.c and, in the same run, against the same responder and the same targets,
measures jarmsweep, and reports jarmsweep's rate as a fraction of the ceiling.

It re-executes itself under `unshare --net` (root only): a fresh network namespace with only
`lo`, so no packet can leave the machine. The responder listens on 0.0.0.0 in there and every
target is a distinct 127.x.y.z address.

Settings:
  1. concurrency 1000, replies immediate, --targets targets (default 20000)
  2. concurrency 10000, every reply held 200 ms by the responder (--delay-ms 200)
  3. peak RSS of jarmsweep with 15000 connections held open by a silent responder

Every figure printed: targets/s, connections/s, ratio to the ceiling, CPU us per target, peak
RSS; plus how busy the machine was (other processes skew both measurements alike, but a
busy machine lowers both). Exit status: 0 when every run completed with every fingerprint
right (and, with --check, every bar met: ratio >= 0.90, RSS <= 48 MiB), 1 otherwise, 77
when it cannot run (not root, no unshare).

Python 3 standard library only.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

INNER_ENV = "JARMBENCH_NETNS"
PORT = 4433
RATIO_BAR = 0.90
RSS_BAR_KIB = 48 * 1024


def log(*a):
    print(*a, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jarmsweep", help="jarmsweep binary (omit to measure the ceiling only)")
    ap.add_argument("--responder", required=True, help="tests/helpers responder binary")
    ap.add_argument("--ceiling", required=True, help="bench/ceiling binary")
    ap.add_argument("--vectors", required=True, help="golden vectors directory")
    ap.add_argument("--targets", type=int, default=20000, help="targets in settings 1 and 2")
    ap.add_argument("--hold", type=int, default=15000, help="connections held in setting 3")
    ap.add_argument("--settings", default="1,2,3", help="which settings to run (e.g. 1,3)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="alternate ceiling and jarmsweep this many times, keep the best of each")
    ap.add_argument("--ceiling-args", default="",
                    help="extra ceiling options, e.g. '--fin --read eof' (default: one read, "
                         "RST close: what jarmsweep does on the wire)")
    ap.add_argument("--json", help="also write all measurements to this file")
    ap.add_argument("--cert", action="store_true",
                    help="settings 1 and 2: also run jarmsweep --cert after each jarmsweep run "
                         "and report its ratio next to the one without (the replies carry the "
                         "capture's Certificate message: every row must have its cert)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless ratio >= 0.90 in settings 1 and 2 and RSS <= 48 MiB")
    return ap.parse_args()


# ------------------------------------------------------------------------------------------
# Namespace


def enter_namespace():
    """Re-exec under `unshare --net`; returns only inside the namespace."""
    if os.environ.get(INNER_ENV) == "1":
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        log("SKIP: needs root, unshare and ip to run in a private network namespace")
        sys.exit(77)
    env = dict(os.environ, **{INNER_ENV: "1"})
    cmd = ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    sys.exit(subprocess.call(cmd, env=env))


def setup_namespace():
    subprocess.check_call(["ip", "link", "set", "lo", "up"])
    links = subprocess.check_output(["ip", "-o", "link", "show"], text=True).splitlines()
    names = [l.split(":")[1].strip() for l in links if l.strip()]
    if names != ["lo"]:
        log(f"refusing to run: the namespace has interfaces other than lo: {names}")
        sys.exit(1)
    # Per-namespace knobs: a deep accept queue and the full ephemeral range.
    for key, val in [("net/core/somaxconn", "65535"),
                     ("net/ipv4/tcp_max_syn_backlog", "65535"),
                     ("net/ipv4/ip_local_port_range", "1024 65535")]:
        try:
            with open("/proc/sys/" + key, "w") as f:
                f.write(val)
        except OSError as e:
            log(f"note: cannot set {key}: {e}")


# ------------------------------------------------------------------------------------------
# Helpers


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(rest[11]) + int(rest[12])) / tck


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def kib(v):
    return int(v.split()[0]) if v else 0


class Responder:
    def __init__(self, path, tmp, replies, mode="replay", delay_ms=0):
        self.pf = os.path.join(tmp, "responder.port")
        if os.path.exists(self.pf):
            os.unlink(self.pf)
        cmd = [path, "--listen", f"0.0.0.0:{PORT}", "--port-file", self.pf, "--mode", mode,
               "--replies", replies, "--stats"]
        if delay_ms:
            cmd += ["--delay-ms", str(delay_ms)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("responder did not start: " + self.proc.stderr.read())
            time.sleep(0.02)

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid)

    def accepted(self):
        """Connections accepted so far (SIGUSR1 makes the responder print its counters)."""
        self.proc.send_signal(signal.SIGUSR1)
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("responder exited")
            if line.startswith("{"):
                return json.loads(line)["accepted"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        lines = [l for l in err.splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else {}


def run_measured(cmd, responder, stdout=subprocess.DEVNULL, timeout=600):
    """Run cmd to completion; returns wall, rusage, exit status and machine load."""
    acc0 = responder.accepted()
    busy0, total0 = cpu_jiffies()
    rcpu0 = responder.cpu_s()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    deadline = t0 + timeout
    # Peak RSS is sampled from VmHWM while it runs: ru_maxrss of a child started from this
    # process includes this interpreter's RSS (Linux carries the high-water mark over exec).
    hwm = 0
    while True:
        hwm = max(hwm, kib(proc_status(proc.pid).get("VmHWM")))
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    busy1, total1 = cpu_jiffies()
    ncpu = os.cpu_count() or 1
    tool_cpu = ru.ru_utime + ru.ru_stime
    resp_cpu = responder.cpu_s() - rcpu0
    machine_busy = (busy1 - busy0) / max(1, total1 - total0) * ncpu
    conns = responder.accepted() - acc0
    return {
        "rc": proc.returncode, "wall_s": wall, "cpu_s": tool_cpu, "maxrss_kib": hwm,
        "connections": conns,
        "responder_cpu_s": resp_cpu, "machine_busy_cores": machine_busy,
        "others_cores": max(0.0, machine_busy - (tool_cpu + resp_cpu) / wall),
        "stderr": err[-2000:],
    }


def write_targets(path, n, port):
    """n distinct 127.x.y.z addresses from 127.1.0.1, skipping .0 and .255."""
    out = []
    ip = (127 << 24) | (1 << 16) | 1
    while len(out) < n:
        if ip & 0xff not in (0, 255):
            out.append(f"{ip >> 24}.{(ip >> 16) & 0xff}.{(ip >> 8) & 0xff}.{ip & 0xff}:{port}")
        ip += 1
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return out


def capture(vectors, name):
    with open(os.path.join(vectors, "captures.json")) as f:
        for c in json.load(f)["captures"]:
            if c["name"] == name:
                return c
    raise SystemExit(f"capture {name} not in {vectors}/captures.json")


def write_replies(path, cap):
    with open(path, "w") as f:
        for p in cap["probes"]:
            f.write((p["received_hex"] or "-") + "\n")


def verify_rows(path, targets, fp, raw, cert=False):
    """Every target exactly once, every row ok with the capture's fingerprint and raw (and,
    with cert, a cert object)."""
    want = set(t.rsplit(":", 1)[0] for t in targets)
    seen, bad, dup, lines = set(), 0, 0, 0
    first_bad = None
    with open(path, errors="replace") as f:
        for line in f:
            lines += 1
            try:
                row = json.loads(line)
            except ValueError:
                bad += 1
                first_bad = first_bad or line[:300]
                continue
            key = (row.get("ip"), row.get("port"))
            if key in seen:
                dup += 1
            seen.add(key)
            if (row.get("status") != "ok" or row.get("jarm") != fp or row.get("raw") != raw
                    or row.get("ip") not in want or row.get("port") != PORT
                    or (cert and not isinstance(row.get("cert"), dict))):
                bad += 1
                first_bad = first_bad or line[:300]
    return {"rows": lines, "bad_rows": bad, "duplicates": dup,
            "missing": len(targets) - len(seen - {None}), "first_bad": first_bad,
            "fingerprints_ok": lines == len(targets) and bad == 0 and dup == 0}


# ------------------------------------------------------------------------------------------
# Settings


def rate_figures(m, ntargets):
    wall = m["wall_s"]
    return {
        "targets_per_s": ntargets / wall, "conns_per_s": m["connections"] / wall,
        "cpu_us_per_target": m["cpu_s"] * 1e6 / ntargets, "peak_rss_kib": m["maxrss_kib"],
        # Client plus responder: on an idle machine the two share the cores, so this is what
        # bounds the rate; unlike wall time it hardly moves when other processes compete.
        "pair_cpu_us_per_target": (m["cpu_s"] + m["responder_cpu_s"]) * 1e6 / ntargets,
    }


def run_ceiling(args, tf, ntargets, conc, resp):
    cmd = [args.ceiling, "--targets-file", tf, "-c", str(conc)] + args.ceiling_args.split()
    out_path = tf + ".ceiling.json"
    with open(out_path, "w") as out:
        m = run_measured(cmd, resp, stdout=out)
    with open(out_path) as f:
        text = f.read()
    try:
        res = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        res = {}
    ok = (m["rc"] == 0 and res.get("errors") == 0 and res.get("connections") == ntargets * 10
          and m["connections"] == ntargets * 10)
    m.update(rate_figures(m, ntargets))
    m["ok"] = ok
    m["tool"] = "ceiling"
    return m


def run_jarmsweep(args, tf, targets, conc, resp, fp, raw, tmp, timeout_s=5, cert=False):
    out = os.path.join(tmp, "jarmsweep.ndjson")
    if os.path.exists(out):
        os.unlink(out)
    cmd = [args.jarmsweep, "-q", "-c", str(conc), "-t", str(timeout_s), "-i", tf, "-o", out]
    if cert:
        cmd.append("--cert")
    m = run_measured(cmd, resp)
    v = verify_rows(out, targets, fp, raw, cert) if os.path.exists(out) else {
        "rows": 0, "fingerprints_ok": False, "first_bad": None}
    m.update(v)
    m.update(rate_figures(m, len(targets)))
    # Every target answers every probe: exactly ten connections each, no retries.
    m["ok"] = m["rc"] == 0 and v["fingerprints_ok"] and m["connections"] == len(targets) * 10
    m["tool"] = "jarmsweep --cert" if cert else "jarmsweep"
    m["cmd"] = " ".join(cmd)
    return m


def best(runs):
    ok = [r for r in runs if r["ok"]]
    return max(ok, key=lambda r: r["targets_per_s"]) if ok else runs[-1]


def show(label, m, ceiling=None):
    ratio = ""
    if ceiling is not None and ceiling.get("targets_per_s"):
        ratio = f" ratio {m['targets_per_s'] / ceiling['targets_per_s']:.3f}"
    log(f"  {label:9s} {m['targets_per_s']:9.1f} targets/s {m['conns_per_s']:9.1f} conns/s"
        f"{ratio}  cpu {m['cpu_us_per_target']:7.1f} us/target  rss {m['peak_rss_kib'] / 1024:6.1f}"
        f" MiB  wall {m['wall_s']:6.2f}s  (responder cpu {m['responder_cpu_s']:.2f}s, machine"
        f" busy {m['machine_busy_cores']:.2f} cores, others {m['others_cores']:.2f})"
        + ("" if m["ok"] else "  FAILED"))
    if not m["ok"]:
        for k in ("rc", "connections", "rows", "bad_rows", "duplicates", "missing", "first_bad"):
            if k in m:
                log(f"      {k}: {m[k]}")
        if m.get("stderr"):
            log("      stderr: " + m["stderr"].strip().replace("\n", "\n      "))


def rate_setting(args, name, conc, delay_ms, tmp, replies, fp, raw, results):
    tf = os.path.join(tmp, f"targets-{name}.txt")
    targets = write_targets(tf, args.targets, PORT)
    log(f"setting {name}: {len(targets)} targets x 10 probes, concurrency {conc}, replies "
        + (f"held {delay_ms} ms" if delay_ms else "immediate"))
    resp = Responder(args.responder, tmp, replies, delay_ms=delay_ms)
    runs = {"ceiling": [], "jarmsweep": [], "cert": []}
    try:
        for _ in range(args.repeat):
            c = run_ceiling(args, tf, len(targets), conc, resp)
            runs["ceiling"].append(c)
            show("ceiling", c)
            if args.jarmsweep:
                j = run_jarmsweep(args, tf, targets, conc, resp, fp, raw, tmp)
                runs["jarmsweep"].append(j)
                show("jarmsweep", j, c)
            if args.jarmsweep and args.cert:
                j = run_jarmsweep(args, tf, targets, conc, resp, fp, raw, tmp, cert=True)
                runs["cert"].append(j)
                show("--cert", j, c)
    finally:
        stats = resp.stop()
    c = best(runs["ceiling"])
    res = {"setting": name, "concurrency": conc, "delay_ms": delay_ms, "targets": len(targets),
           "ceiling": c, "responder": stats}
    ok = c["ok"]
    for key, suffix, label in (("jarmsweep", "", "jarmsweep"), ("cert", "_cert", "--cert")):
        if not runs[key]:
            continue
        j = best(runs[key])
        res["jarmsweep" + suffix] = j
        res["ratio" + suffix] = j["targets_per_s"] / c["targets_per_s"] if c["targets_per_s"] else 0
        res["cpu_ratio" + suffix] = (min(r["pair_cpu_us_per_target"] for r in runs["ceiling"])
                                     / min(r["pair_cpu_us_per_target"] for r in runs[key]))
        ok = ok and j["ok"]
        log(f"  => best: ceiling {c['targets_per_s']:.1f} targets/s, {label} "
            f"{j['targets_per_s']:.1f} targets/s, ratio {res['ratio' + suffix]:.3f}"
            f" (bar {RATIO_BAR}), CPU ratio {res['cpu_ratio' + suffix]:.3f}, fingerprints "
            f"{'right' if j['fingerprints_ok'] else 'WRONG'}"
            + (" (and every row has its cert)" if suffix and j["fingerprints_ok"] else ""))
    res["others_cores_max"] = max(r["others_cores"] for rs in runs.values() for r in rs)
    res["ok"] = ok
    results.append(res)
    return ok


def rss_setting(args, tmp, replies, results):
    n = args.hold
    tf = os.path.join(tmp, "targets-hold.txt")
    targets = write_targets(tf, n, PORT)
    timeout_s = 10
    log(f"setting 3: peak RSS with {n} connections held open by a silent responder "
        f"(-c {n}, -t {timeout_s})")
    resp = Responder(args.responder, tmp, replies, mode="silent")
    out = os.path.join(tmp, "hold.ndjson")
    cmd = [args.jarmsweep, "-q", "-c", str(n), "-t", str(timeout_s), "-i", tf, "-o", out]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_fds, hwm, rss_at_peak, t_peak = 0, 0, 0, None
    try:
        # Sample until the in-flight count stops growing (or the timeout is near).
        stable_since = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < timeout_s * 0.8:
            try:
                nfds = len(os.listdir(f"/proc/{proc.pid}/fd"))
            except OSError:
                break
            st = proc_status(proc.pid)
            hwm = max(hwm, kib(st.get("VmHWM")))
            if nfds > peak_fds:
                peak_fds, rss_at_peak, t_peak = nfds, kib(st.get("VmRSS")), time.monotonic() - t0
                stable_since = time.monotonic()
            elif nfds >= n and time.monotonic() - stable_since > 1.0:
                break
            time.sleep(0.1)
        st = proc_status(proc.pid)
        hwm = max(hwm, kib(st.get("VmHWM")))
        t_sig = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=timeout_s + 20)
            exit_s = time.monotonic() - t_sig
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            exit_s = None
    finally:
        stats = resp.stop()
    rows = sum(1 for _ in open(out)) if os.path.exists(out) else 0
    ok = peak_fds >= n and proc.returncode is not None and exit_s is not None
    res = {"setting": "3", "connections_target": n, "peak_fds": peak_fds,
           "responder_peak_open": stats.get("peak_open"), "vmhwm_kib": hwm,
           "vmrss_at_peak_kib": rss_at_peak, "seconds_to_peak": t_peak,
           "exit_after_sigint_s": exit_s, "rc": proc.returncode, "rows": rows,
           "heap_per_conn_bytes": (hwm * 1024) / max(1, peak_fds), "ok": ok,
           "stderr": err.decode(errors="replace")[-2000:]}
    results.append(res)
    log(f"  jarmsweep peak {peak_fds} fds (responder saw {stats.get('peak_open')} open), VmHWM "
        f"{hwm / 1024:.1f} MiB (bar 48 MiB), {res['heap_per_conn_bytes']:.0f} B per connection "
        f"overall; exit {proc.returncode} {exit_s if exit_s is None else round(exit_s, 2)} s "
        f"after SIGINT; {rows} rows" + ("" if ok else "  FAILED"))
    if not ok and res["stderr"]:
        log("      stderr: " + res["stderr"].strip().replace("\n", "\n      "))
    return ok


def main():
    args = parse_args()
    enter_namespace()
    setup_namespace()
    for p in (args.responder, args.ceiling) + ((args.jarmsweep,) if args.jarmsweep else ()):
        if not os.access(p, os.X_OK):
            raise SystemExit(f"not executable: {p}")
    cap = capture(args.vectors, "openssl_rsa_default")
    fp, raw = cap["fingerprint"], cap["raw"]
    settings = set(args.settings.split(","))
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    log(f"loopback benchmark: {os.cpu_count()} cpus, load average {' '.join(load)}, "
        f"replies = captures.json openssl_rsa_default ({fp})")

    results, ok = [], True
    with tempfile.TemporaryDirectory(prefix="jarmbench-") as tmp:
        replies = os.path.join(tmp, "replies.txt")
        write_replies(replies, cap)
        if "1" in settings:
            ok &= rate_setting(args, "1", 1000, 0, tmp, replies, fp, raw, results)
        if "2" in settings:
            ok &= rate_setting(args, "2", 10000, 200, tmp, replies, fp, raw, results)
        if "3" in settings and args.jarmsweep:
            ok &= rss_setting(args, tmp, replies, results)

    bars = True
    log("summary:")
    for r in results:
        if "ratio" in r:
            met = r["ratio"] >= RATIO_BAR
            bars &= met
            log(f"  setting {r['setting']}: ratio {r['ratio']:.3f} "
                f"({'meets' if met else 'BELOW'} {RATIO_BAR}), CPU ratio {r['cpu_ratio']:.3f}; "
                f"ceiling "
                f"{r['ceiling']['targets_per_s']:.0f} targets/s "
                f"{r['ceiling']['conns_per_s']:.0f} conns/s; jarmsweep "
                f"{r['jarmsweep']['targets_per_s']:.0f} targets/s, "
                f"{r['jarmsweep']['cpu_us_per_target']:.0f} us CPU/target, rss "
                f"{r['jarmsweep']['peak_rss_kib'] / 1024:.1f} MiB")
            if "ratio_cert" in r:
                log(f"  setting {r['setting']} with --cert: ratio {r['ratio_cert']:.3f} "
                    f"(without {r['ratio']:.3f}), CPU ratio {r['cpu_ratio_cert']:.3f}, "
                    f"{r['jarmsweep_cert']['cpu_us_per_target']:.0f} us CPU/target, rss "
                    f"{r['jarmsweep_cert']['peak_rss_kib'] / 1024:.1f} MiB")
        elif "vmhwm_kib" in r:
            met = r["vmhwm_kib"] <= RSS_BAR_KIB
            bars &= met
            log(f"  setting 3: VmHWM {r['vmhwm_kib'] / 1024:.1f} MiB with {r['peak_fds']} fds "
                f"({'meets' if met else 'ABOVE'} 48 MiB)")
        else:
            log(f"  setting {r['setting']}: ceiling {r['ceiling']['targets_per_s']:.0f} "
                f"targets/s {r['ceiling']['conns_per_s']:.0f} conns/s")
    busy = max([r.get("others_cores_max", 0) for r in results] + [0])
    if busy > 0.25:
        log(f"  note: other processes used up to {busy:.2f} of {os.cpu_count()} cores during "
            "these runs; wall-clock rates and ratios are unreliable (the CPU ratio, client + "
            "responder CPU per target of the ceiling over jarmsweep's, is steadier); rerun "
            "on an idle machine, with --repeat 3")
    log(json.dumps({"benchmark": "loopback", "results": results}, default=str))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "loopback", "results": results}, f, indent=1, default=str)
    if not ok:
        return 1
    return 1 if args.check and not bars else 0


if __name__ == "__main__":
    sys.exit(main())

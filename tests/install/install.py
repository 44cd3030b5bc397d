"""`meson install` end to end, as a user outside the tree sees it (TAP).

1. `meson install --destdir TMP` of this build tree (first with --no-rebuild; if something
   to install was not built yet, once more letting meson build it).
2. Every promised file is there: bin/jarmsweep, man1/jarmsweep.1, man7/jarm.7,
   man3/libjarm.3, share/jarmsweep/blocklist.conf, include/jarm.h and include/jarmsweep.h,
   libjarm.a, libjarm.so with its soname chain, libjarmsweep.so, pkgconfig/libjarm.pc.
   libjarm.so (the pure core) exports every JARM_API function of jarm.h and nothing else of
   ours; libjarmsweep.so exports those of jarm.h and jarmsweep.h and nothing else. libjarm(3)
   shows every one of them in its SYNOPSIS.
3. tests/install/consumer.c is compiled against the installed header and library with the
   flags of `pkg-config libjarm`, linked once to libjarm.so (run with LD_LIBRARY_PATH) and
   once to libjarm.a (`pkg-config --static`, so libcrypto comes from Requires.private), and
   both binaries run. tests/install/consumer_sweep.c, which includes only <jarmsweep.h>, is
   compiled against the installed headers and linked to libjarmsweep.so, and run.

The .pc holds absolute paths under the real prefix; pkg-config is pointed into TMP with
--define-variable for prefix, libdir and includedir. In a sanitizer build the installed
library is instrumented, so the consumer is compiled with the same -fsanitize flags.
Nothing touches the network.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "loopback"))
from harness import Tap  # noqa: E402


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def under(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--cc", required=True, help="the build's C compiler command")
    ap.add_argument("--sanitize", default="none")
    ap.add_argument("--pkg-config", default="")
    for d in ("prefix", "bindir", "libdir", "includedir", "mandir", "datadir"):
        ap.add_argument("--" + d, required=True)
    ap.add_argument("--consumer", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--sweep-header", required=True)
    ap.add_argument("--consumer-sweep", required=True)
    ap.add_argument("--man3", required=True)
    ap.add_argument("--version", required=True)
    a = ap.parse_args()
    tap = Tap()
    cc = shlex.split(a.cc)
    san = [] if a.sanitize in ("", "none") else [f"-fsanitize={a.sanitize}"]

    tmp = tempfile.mkdtemp(prefix="jarm-install-")
    try:
        dest = os.path.join(tmp, "root")
        base = [a.meson, "install", "-C", a.build_root, "--destdir", dest]
        r = sh(base + ["--no-rebuild"])
        if r.returncode != 0:
            Tap.diag("meson install --no-rebuild failed, retrying with a rebuild:\n"
                     + r.stdout[-1500:] + r.stderr[-1500:])
            r = sh(base)
        if not tap.ok(r.returncode == 0, "meson install --destdir exits 0",
                      r.stdout[-3000:] + r.stderr[-3000:]):
            return tap.done()

        libdir = under(dest, a.libdir)
        so = os.path.join(libdir, "libjarm.so")
        soname = "libjarm.so.0"
        files = {
            "jarmsweep": os.path.join(under(dest, a.bindir), "jarmsweep"),
            "man page": os.path.join(under(dest, a.mandir), "man1", "jarmsweep.1"),
            "jarm(7)": os.path.join(under(dest, a.mandir), "man7", "jarm.7"),
            "libjarm(3)": os.path.join(under(dest, a.mandir), "man3", "libjarm.3"),
            "default blocklist": os.path.join(under(dest, a.datadir), "jarmsweep",
                                              "blocklist.conf"),
            "jarm.h": os.path.join(under(dest, a.includedir), "jarm.h"),
            "jarmsweep.h": os.path.join(under(dest, a.includedir), "jarmsweep.h"),
            "libjarmsweep.so": os.path.join(libdir, "libjarmsweep.so"),
            "libjarm.a": os.path.join(libdir, "libjarm.a"),
            "libjarm.so": so,
            soname: os.path.join(libdir, soname),
            f"libjarm.so.{a.version}": os.path.join(libdir, f"libjarm.so.{a.version}"),
            "libjarm.pc": os.path.join(libdir, "pkgconfig", "libjarm.pc"),
        }
        for what, path in files.items():
            tap.ok(os.path.isfile(path), f"installed: {what}",
                   f"{path} missing; installed: {sorted(walk(dest))}")
        tap.ok(os.path.islink(so) and os.path.realpath(so) == os.path.realpath(
            files[f"libjarm.so.{a.version}"]) and os.path.islink(files[soname]),
            f"libjarm.so -> {soname} -> libjarm.so.{a.version}")
        with open(files["jarm.h"]) as f, open(a.header) as g:
            tap.ok(f.read() == g.read(), "the installed jarm.h is include/jarm.h")
        with open(files["jarmsweep.h"]) as f, open(a.sweep_header) as g:
            tap.ok(f.read() == g.read(), "the installed jarmsweep.h is include/jarmsweep.h")

        r = sh([files["jarmsweep"], "--version"])
        tap.ok(r.returncode == 0 and r.stdout.startswith("jarmsweep "),
               "the installed jarmsweep runs (--version)", r.stdout + r.stderr)

        readelf = shutil.which("readelf")
        if readelf:
            r = sh([readelf, "-d", so])
            tap.ok(f"[{soname}]" in r.stdout, f"libjarm.so has soname {soname}", r.stdout)
        else:
            tap.skip("libjarm.so soname", "readelf not found")

        def api_of(path):
            with open(path) as f:
                return set(re.findall(r"JARM_API\b[^;(]*?\b(jarm_\w+)\s*\(", f.read()))

        core_api, sweep_api = api_of(a.header), api_of(a.sweep_header)
        tap.ok(len(core_api) >= 10 and len(sweep_api) >= 8 and not core_api & sweep_api,
               f"jarm.h declares {len(core_api)} functions, jarmsweep.h {len(sweep_api)} more")
        with open(a.man3) as f:
            synopsis = f.read().split(".SH DESCRIPTION")[0]
        tap.ok(all(re.search(r"\b" + n + r"\(", synopsis) for n in core_api | sweep_api),
               "libjarm(3)'s SYNOPSIS shows every function of both headers",
               sorted(n for n in core_api | sweep_api
                      if not re.search(r"\b" + n + r"\(", synopsis)))
        nm = shutil.which("nm")
        if nm:
            for lib, api in ((so, core_api), (files["libjarmsweep.so"], core_api | sweep_api)):
                name = os.path.basename(lib)
                r = sh([nm, "-D", "--defined-only", lib])
                syms = {l.split()[-1] for l in r.stdout.splitlines()
                        if len(l.split()) == 3 and l.split()[1] in "TDBRVWiu"}
                # Sanitizer runtimes may add interceptor or init symbols of their own.
                ours = {s for s in syms if s.startswith("jarm")}
                tap.ok(api <= ours, f"{name} exports the {len(api)} JARM_API functions",
                       f"missing: {sorted(api - ours)}")
                tap.ok(ours <= api, f"{name} exports nothing else of ours (-fvisibility=hidden)",
                       f"extra: {sorted(ours - api)}")
        else:
            tap.skip("exported symbols", "nm not found")
            tap.skip("hidden internals", "nm not found")

        pkgconf = a.pkg_config or shutil.which("pkg-config")
        if not pkgconf:
            for what in ("pkg-config", "shared consumer", "static consumer"):
                tap.skip(what, "pkg-config not found")
            return tap.done()
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        env.pop("PKG_CONFIG_SYSROOT_DIR", None)
        defs = [f"--define-variable=prefix={under(dest, a.prefix)}",
                f"--define-variable=libdir={libdir}",
                f"--define-variable=includedir={under(dest, a.includedir)}"]

        def pc(*args):
            r = sh([pkgconf] + defs + list(args) + ["libjarm"], env=env)
            return r.returncode, shlex.split(r.stdout), r.stderr

        rc, ver, err = pc("--modversion")
        tap.ok(rc == 0 and ver == [a.version], f"pkg-config --modversion libjarm is {a.version}",
               err)
        rc, cflags, err = pc("--cflags")
        rc2, libs, err2 = pc("--libs")
        rc3, slibs, err3 = pc("--static", "--libs")
        ok = tap.ok(rc == rc2 == rc3 == 0 and "-ljarm" in libs and "-lcrypto" in slibs and
                    any(f == "-I" + under(dest, a.includedir) for f in cflags),
                    "pkg-config --cflags/--libs/--static point into the install",
                    f"cflags {cflags} libs {libs} static {slibs}\n{err}{err2}{err3}")
        if not ok:
            return tap.done()

        std = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
        runenv = dict(os.environ)
        runenv.pop("LD_LIBRARY_PATH", None)
        for kind, link in (
                ("shared", libs),
                ("static", ["-l:libjarm.a" if f == "-ljarm" else f for f in slibs])):
            exe = os.path.join(tmp, f"consumer-{kind}")
            cmd = cc + std + san + cflags + [a.consumer, "-o", exe] + link
            r = sh(cmd)
            if not tap.ok(r.returncode == 0, f"{kind}: consumer.c compiles and links with "
                          "the installed header and library", shlex.join(cmd) + "\n" + r.stderr):
                tap.skip(f"{kind}: linkage", "no binary")
                tap.skip(f"{kind}: consumer runs", "no binary")
                continue
            if readelf:
                needed = re.findall(r"\(NEEDED\).*\[(.+?)\]", sh([readelf, "-d", exe]).stdout)
                want = soname in needed if kind == "shared" else not any(
                    n.startswith("libjarm") for n in needed)
                tap.ok(want, f"{kind}: linkage ({'needs' if kind == 'shared' else 'no'} "
                       f"{soname})", f"NEEDED: {needed}")
            else:
                tap.skip(f"{kind}: linkage", "readelf not found")
            env_run = dict(runenv, LD_LIBRARY_PATH=libdir) if kind == "shared" else runenv
            r = sh([exe], env=env_run, timeout=60)
            tap.ok(r.returncode == 0 and "consumer: ok" in r.stdout,
                   f"{kind}: consumer runs: probe 0 is 425 bytes, the empty raw string "
                   "hashes to 62 zeros", r.stdout + r.stderr)
        # The scanner's header alone, against the installed libjarmsweep.so.
        exe = os.path.join(tmp, "consumer-sweep")
        cmd = cc + std + san + cflags + [a.consumer_sweep, "-o", exe, "-L" + libdir,
                                         "-ljarmsweep"]
        r = sh(cmd)
        if tap.ok(r.returncode == 0, "consumer_sweep.c (only <jarmsweep.h>) compiles and links "
                  "with the installed header and libjarmsweep", shlex.join(cmd) + "\n" + r.stderr):
            r = sh([exe], env=dict(runenv, LD_LIBRARY_PATH=libdir), timeout=60)
            tap.ok(r.returncode == 0 and "consumer_sweep: ok" in r.stdout,
                   "consumer_sweep runs: jarm_result_to_json writes the row", r.stdout + r.stderr)
        else:
            tap.skip("consumer_sweep runs", "no binary")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.done()


def walk(root):
    for d, _, fs in os.walk(root):
        for f in fs:
            yield os.path.relpath(os.path.join(d, f), root)


if __name__ == "__main__":
    sys.exit(main())

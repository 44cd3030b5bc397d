"""A PEP 517 build backend for the jarm module, standard library only.

Why not setuptools: the module is one pure-Python file (plus, optionally, a libjarmsweep.so
copied beside it), and it must install offline with whatever Python the machine has. With
setuptools as the backend, `pip install contrib/python` needs setuptools and wheel from an
index (build isolation), and even `--no-build-isolation` fails where setuptools < 70.1 is
installed without the separate `wheel` package ("invalid command 'bdist_wheel'"), which is
the case of the pyenv Python 3.11.7 (setuptools 65.5) of our build machines. This backend
needs nothing, so all of these work offline:

    pip install contrib/python
    pip install --no-build-isolation --no-index contrib/python
    pip install -e contrib/python          (PEP 660: a .pth file naming this directory)
    pip wheel --no-deps -w dist contrib/python

The wheel carries the engine: when this directory sits in a jarmsweep source tree (the
usual case: contrib/python of a checkout), build_wheel compiles libjarmsweep with meson and
ninja (release build, no tests) and ships it as jarm/libjarmsweep.so, where the module
looks first after JARM_LIBRARY; the wheel is then tagged for this platform instead of
py3-none-any. Only the build runs the tools; the installed module needs no compiler.

  JARM_BUILD_LIBRARY  auto (default): build when the source tree, meson and ninja are
                      there, else warn and make a pure-Python wheel (the module then uses
                      JARM_LIBRARY or an installed libjarmsweep); 1: the build must happen;
                      0: never build (pure wheel).
  JARM_BUILD_DIR      the meson build directory (default: build-wheel at the top of the
                      source tree, kept, so a second install only relinks what changed).

A libjarmsweep.so (or libjarmsweep.so.*) copied into jarm/ by hand is packaged instead of
building one. Sdists never carry a library, and editable installs do not build it.
"""
import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "jarm"
SUMMARY = "JARM TLS fingerprinting at scan speed: Python bindings of jarmsweep's C engine"
LICENSE = "BSD-3-Clause"
REQUIRES_PYTHON = ">=3.8"
CLASSIFIERS = [
    "Programming Language :: Python :: 3",
    "License :: OSI Approved :: BSD License",
    "Operating System :: POSIX :: Linux",
    "Topic :: Security",
    "Topic :: System :: Networking :: Monitoring",
]
LIB_RE = re.compile(r"^libjarmsweep\.so(\.[0-9.]+)?$")


def _version():
    with open(os.path.join(HERE, NAME, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("jarm/__init__.py has no __version__")
    return m.group(1)


def _epoch():
    # Reproducible archives: SOURCE_DATE_EPOCH, else the zip format's earliest date.
    return max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)


def _package_files(with_lib):
    """(archive name, path) of the module's files, sorted."""
    out = []
    pkg = os.path.join(HERE, NAME)
    for name in sorted(os.listdir(pkg)):
        path = os.path.join(pkg, name)
        if not os.path.isfile(path):
            continue
        if name.endswith(".py") or (with_lib and LIB_RE.match(name)):
            out.append((f"{NAME}/{name}", path))
    return out


def _log(msg):
    print(f"jarm build: {msg}", file=sys.stderr, flush=True)


def _source_root():
    """The jarmsweep source tree this directory belongs to, or None (e.g. an sdist)."""
    root = os.path.dirname(os.path.dirname(HERE))
    try:
        with open(os.path.join(root, "meson.build"), encoding="utf-8") as f:
            head = f.read(4096)
    except OSError:
        return None
    if re.search(r"project\(\s*'jarmsweep'", head) and os.path.isfile(
            os.path.join(root, "src", "engine", "api.c")):
        return root
    return None


def _build_library():
    """Compile libjarmsweep with meson + ninja; the path of the shared library, or None."""
    mode = os.environ.get("JARM_BUILD_LIBRARY", "auto").strip().lower()
    if mode in ("0", "no", "false", "off"):
        return None
    root = _source_root()
    meson, ninja = shutil.which("meson"), shutil.which("ninja")
    missing = [what for what, ok in (("the jarmsweep source tree", root),
                                     ("meson", meson), ("ninja", ninja)) if not ok]
    if missing:
        msg = "no " + ", no ".join(missing) + ": building a wheel without libjarmsweep"
        if mode in ("1", "yes", "true", "on"):
            raise RuntimeError(f"jarm build: JARM_BUILD_LIBRARY=1 but {msg}")
        _log(msg + " (the module will need JARM_LIBRARY or an installed libjarmsweep)")
        return None
    build = os.path.abspath(os.environ.get("JARM_BUILD_DIR") or os.path.join(root, "build-wheel"))
    # The build's python is meson's own; the variables of pip's isolated environment (and of
    # a venv) must not leak into it.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONSAFEPATH",
                        "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")}
    setup = [meson, "setup", build, root, "-Dbuildtype=release", "-Dtests=false",
             "-Dbench=false", "-Dpython_module=disabled"]

    def run(cmd):
        _log(" ".join(cmd))
        # meson and ninja talk on stdout; pip shows the backend's stderr with -v.
        return subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=sys.stderr).returncode

    configured = os.path.isfile(os.path.join(build, "meson-private", "coredata.dat"))
    if not configured and run(setup) != 0:
        raise RuntimeError(f"jarm build: meson setup {build} failed")
    if run([ninja, "-C", build]) != 0:
        if not configured:
            raise RuntimeError(f"jarm build: ninja -C {build} failed")
        _log("the existing build directory failed; configuring it afresh")
        shutil.rmtree(build)
        if run(setup) != 0 or run([ninja, "-C", build]) != 0:
            raise RuntimeError(f"jarm build: building libjarmsweep in {build} failed")
    lib = os.path.realpath(os.path.join(build, "src", "libjarmsweep.so"))
    if not os.path.isfile(lib):
        raise RuntimeError(f"jarm build: {lib} was not built")
    return lib


def _metadata(version):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {NAME}",
        f"Version: {version}",
        f"Summary: {SUMMARY}",
        f"License: {LICENSE}",
        f"Requires-Python: {REQUIRES_PYTHON}",
    ]
    lines += [f"Classifier: {c}" for c in CLASSIFIERS]
    readme = os.path.join(HERE, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8")


def _tag(files):
    if any(LIB_RE.match(os.path.basename(a)) for a, _ in files):
        plat = re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())
        return f"py3-none-{plat}", False
    return "py3-none-any", True


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _write_wheel(wheel_directory, entries, tag, purelib):
    """entries: (archive name, bytes, mode). Returns the wheel's file name."""
    version = _version()
    dist_info = f"{NAME}-{version}.dist-info"
    wheel_meta = (f"Wheel-Version: 1.0\nGenerator: jarm-build\n"
                  f"Root-Is-Purelib: {'true' if purelib else 'false'}\nTag: {tag}\n").encode()
    entries = list(entries) + [
        (f"{dist_info}/METADATA", _metadata(version), 0o644),
        (f"{dist_info}/WHEEL", wheel_meta, 0o644),
    ]
    record = io.StringIO()
    for name, data, _ in entries:
        record.write(f"{name},{_record_hash(data)},{len(data)}\n")
    record.write(f"{dist_info}/RECORD,,\n")
    entries.append((f"{dist_info}/RECORD", record.getvalue().encode(), 0o644))

    filename = f"{NAME}-{version}-{tag}.whl"
    os.makedirs(wheel_directory, exist_ok=True)
    date = time.gmtime(_epoch())[:6]
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=date)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return filename


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# --- PEP 517 ------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _package_files(with_lib=True)
    if not any(LIB_RE.match(os.path.basename(arc)) for arc, _ in files):
        lib = _build_library()
        if lib is not None:
            files.append((f"{NAME}/libjarmsweep.so", lib))
    tag, purelib = _tag(files)
    entries = [(a, _read(p), 0o755 if LIB_RE.match(os.path.basename(a)) else 0o644)
               for a, p in files]
    return _write_wheel(wheel_directory, entries, tag, purelib)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # PEP 660: the installed wheel is a .pth file putting this directory on sys.path, so the
    # module (and a libjarmsweep.so dropped next to it later) is used in place.
    pth = (HERE + "\n").encode("utf-8")
    return _write_wheel(wheel_directory, [(f"__editable__.{NAME}.pth", pth, 0o644)],
                        "py3-none-any", True)


def build_sdist(sdist_directory, config_settings=None):
    version = _version()
    base = f"{NAME}-{version}"
    files = [("pyproject.toml", os.path.join(HERE, "pyproject.toml")),
             ("_jarm_build.py", os.path.join(HERE, "_jarm_build.py"))]
    if os.path.exists(os.path.join(HERE, "README.md")):
        files.append(("README.md", os.path.join(HERE, "README.md")))
    files += _package_files(with_lib=False)
    os.makedirs(sdist_directory, exist_ok=True)
    filename = f"{base}.tar.gz"
    mtime = _epoch()
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz",
                      format=tarfile.PAX_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
        add("PKG-INFO", _metadata(version))
        for name, path in files:
            add(name, _read(path))
    return filename

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

A libjarmsweep.so (or libjarmsweep.so.*) present in jarm/ is packaged into the wheel, which
is then tagged for this platform instead of py3-none-any. Sdists never carry it.
"""
import base64
import hashlib
import io
import os
import re
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

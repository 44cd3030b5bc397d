"""jarm - JARM TLS fingerprinting from Python, over jarmsweep's C engine (libjarmsweep).

    >>> import jarm
    >>> jarm.string_fingerprint("example.com", 443, timeout=5)
    '27d40d40d29d40d1dc42d43d00041d4689ee210389f4f6b4b5b1b93f92252d'
    >>> for row in jarm.scan(open("hosts.txt"), ports=(443, 8443), concurrency=2000):
    ...     print(row["host"], row["port"], row["status"], row["jarm"])

Pure Python (ctypes, standard library only). The library is looked up, in this order, in
the file named by the environment variable JARM_LIBRARY, as libjarmsweep.so next to this
module, at the path `meson install` recorded in jarm/_libpath.py, and on the system path
(ctypes.util.find_library("jarmsweep"), then dlopen's own search: LD_LIBRARY_PATH, rpath,
ld.so.cache). It is loaded on first use, so `import jarm` works without it.

Every call returns or yields the NDJSON rows of `jarmsweep` parsed into dicts (fields host,
ip, port, jarm, status, raw, probes, sni, elapsed_ms, ts, and error/input/line for rows that
were never scanned; see jarmsweep(1)). The engine runs with the GIL released.
"""
import atexit
import ctypes
import ctypes.util
import json
import os
import queue
import threading
import weakref

__version__ = "0.1.0"

__all__ = ["JarmError", "string_fingerprint", "fingerprint", "scan", "explain", "diff",
           "library_path", "__version__"]

FP_LEN = 62
PROBES = 10
_ENOBUFS = -5003
_EFORMAT = -5004
# Longest row of one target: ten probe strings whose ALPN bytes are all \u00XX-escaped
# stay below 100 KiB; jarm_fingerprint_row says JARM_ENOBUFS if not, and we retry once.
_ROW_CAP = 256 * 1024
_QUEUE_MIN = 10000


class JarmError(Exception):
    """A target that could not be fingerprinted, or an engine error.

    status: the row's status word (dns_error, refused, timeout, no_tls, rejected,
            unreachable, proxy_error, bad_target, error);
    reason: the row's "error" field when it has one (e.g. "nxdomain", a parse error),
            else the status; for engine errors the engine's message;
    row:    the row as a dict, or None for engine errors.
    """

    def __init__(self, status, reason=None, row=None):
        self.status = status
        self.reason = reason if reason else status
        self.row = row
        target = ""
        if row:
            host, port = row.get("host"), row.get("port")
            if host is not None:
                target = f"{host}:{port}: " if port is not None else f"{host}: "
        msg = f"{target}{status}" if self.reason == status else f"{target}{status}: {self.reason}"
        super().__init__(msg)


# --- the library --------------------------------------------------------------------------

class _FpProbe(ctypes.Structure):
    """jarm_fp_probe_t."""
    _fields_ = [
        ("cipher_code", ctypes.c_char * 3),
        ("version_code", ctypes.c_char),
        ("cipher", ctypes.c_uint16),
        ("cipher_name", ctypes.c_char_p),
        ("version", ctypes.c_char_p),
        ("answered", ctypes.c_int),
    ]


class _ScanOpts(ctypes.Structure):
    """jarm_scan_opts_t."""
    _fields_ = [
        ("concurrency", ctypes.c_uint),
        ("timeout", ctypes.c_double),
        ("ports", ctypes.c_char_p),
        ("sni", ctypes.c_char_p),
        ("resolvers", ctypes.c_char_p),
        ("proxy", ctypes.c_char_p),
        ("allow_reserved", ctypes.c_int),
    ]


# const char *(*)(void *): returned as an address (c_void_p) so that ctypes neither copies
# nor leaks it; the buffer is kept alive by us until the next call.
_NEXT_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
# int (*)(void *, const jarm_result_t *): the result is turned into its NDJSON line with
# jarm_result_to_json (the command line's row), which is parsed like any row.
_ROW_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

_lib_lock = threading.Lock()
_lib = None
_lib_path = None


def _candidates():
    env = os.environ.get("JARM_LIBRARY")
    if env:
        yield env, True
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libjarmsweep.so", "libjarmsweep.so.0"):
        p = os.path.join(here, name)
        if os.path.exists(p):
            yield p, True
    try:  # written by `meson install` (contrib/python/meson.build)
        from ._libpath import LIBRARY
    except ImportError:
        LIBRARY = None
    if LIBRARY and os.path.exists(LIBRARY):
        yield LIBRARY, True
    found = ctypes.util.find_library("jarmsweep")
    if found:
        yield found, False
    yield "libjarmsweep.so.0", False
    yield "libjarmsweep.so", False


def _declare(lib):
    c_char_p, c_void_p, c_size_t, c_int, c_uint = (ctypes.c_char_p, ctypes.c_void_p,
                                                   ctypes.c_size_t, ctypes.c_int, ctypes.c_uint)
    lib.jarm_strerror.argtypes = [c_int]
    lib.jarm_strerror.restype = c_char_p
    lib.jarm_probe_name.argtypes = [c_uint]
    lib.jarm_probe_name.restype = c_char_p
    lib.jarm_probe_intent.argtypes = [c_uint]
    lib.jarm_probe_intent.restype = c_char_p
    lib.jarm_cipher_name.argtypes = [ctypes.c_uint16]
    lib.jarm_cipher_name.restype = c_char_p
    lib.jarm_fp_decode.argtypes = [c_char_p, c_size_t, c_void_p, c_void_p,
                                   ctypes.POINTER(_FpProbe)]
    lib.jarm_fp_decode.restype = c_int
    lib.jarm_fingerprint_row.argtypes = [c_char_p, ctypes.c_double, c_char_p, c_void_p,
                                         c_size_t]
    lib.jarm_fingerprint_row.restype = c_int
    lib.jarm_scan.argtypes = [ctypes.POINTER(_ScanOpts), _NEXT_FN, c_void_p, _ROW_FN, c_void_p,
                              c_void_p, c_size_t]
    lib.jarm_scan.restype = c_int
    lib.jarm_result_to_json.argtypes = [c_void_p, c_void_p, c_size_t]
    lib.jarm_result_to_json.restype = c_int


def _load():
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for path, explicit in _candidates():
            try:
                lib = ctypes.CDLL(path)
                _declare(lib)
            except (OSError, AttributeError) as e:
                tried.append(f"{path}: {e}")
                if explicit:
                    # A library named outright that does not load is an error, not a miss.
                    raise OSError(f"jarm: cannot use {path}: {e}") from e
                continue
            _lib, _lib_path = lib, path
            return lib
        raise OSError("jarm: libjarmsweep not found (set JARM_LIBRARY, put libjarmsweep.so "
                      "next to the jarm module, or install it on the library path); tried: "
                      + "; ".join(tried))


def library_path():
    """The path or name the library was loaded from (loading it if needed)."""
    _load()
    return _lib_path


def _strerror(code):
    s = _load().jarm_strerror(code)
    return s.decode("utf-8", "replace") if s else f"error {code}"


# --- argument checks ----------------------------------------------------------------------

def _port(port):
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"jarm: bad port {port!r} (an int 1-65535)")
    return port


def _timeout(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
            not 0.001 <= timeout <= 86400:
        raise ValueError(f"jarm: bad timeout {timeout!r} (seconds, 0.001-86400)")
    return float(timeout)


def _cstr(value, what, allow_none=True):
    """str/bytes -> bytes without NUL; None passes if allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"jarm: {what} must be a str, not {type(value).__name__}")
    value = bytes(value)
    if b"\0" in value:
        raise ValueError(f"jarm: {what} contains a NUL character")
    return value


def _sni(sni):
    s = _cstr(sni, "sni")
    if s is not None and not 1 <= len(s) <= 255:
        raise ValueError(f"jarm: bad sni {sni!r} (1-255 bytes)")
    return s


def _target(host, port):
    """host and port as one target of the command-line syntax (IPv6 literals bracketed)."""
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("utf-8")
    if not isinstance(host, str):
        raise TypeError(f"jarm: host must be a str, not {type(host).__name__}")
    if not host:
        raise ValueError("jarm: empty host")
    _port(port)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return _cstr(f"{host}:{port}", "host", allow_none=False)


# --- one target ---------------------------------------------------------------------------

def fingerprint(host, port=443, timeout=5, sni=None):
    """Fingerprint host:port and return its NDJSON row as a dict.

    Never raises for the outcome of the scan (see row["status"]); raises ValueError or
    TypeError for bad arguments, OSError when the library cannot be loaded, and JarmError
    (status "error") when the engine itself fails.
    """
    target = _target(host, port)
    t = _timeout(timeout)
    s = _sni(sni)
    lib = _load()
    cap = _ROW_CAP
    for _ in range(2):
        buf = ctypes.create_string_buffer(cap)
        n = lib.jarm_fingerprint_row(target, t, s, buf, cap)
        if n >= 0:
            return json.loads(buf.raw[:n])
        if n != _ENOBUFS:
            break
        cap *= 16
    raise JarmError("error", f"jarm_fingerprint_row: {_strerror(n)}")


def _result_json(result, buf):
    """The NDJSON line (bytes) of a const jarm_result_t * given to a row callback; buf is a
    list holding the buffer to reuse (grown when a row does not fit)."""
    lib = _load()
    for _ in range(2):
        if not buf:
            buf.append(ctypes.create_string_buffer(_ROW_CAP))
        n = lib.jarm_result_to_json(result, buf[0], len(buf[0]))
        if n >= 0:
            return ctypes.string_at(buf[0], n)
        if n != _ENOBUFS:
            break
        buf[:] = [ctypes.create_string_buffer(len(buf[0]) * 16)]
    raise JarmError("error", f"jarm_result_to_json: {_strerror(n)}")


def string_fingerprint(host, port=443, timeout=5):
    """The 62-character JARM fingerprint of host:port.

    Raises JarmError (with .status, .reason and .row) unless the row's status is "ok", i.e.
    unless at least one probe got a ServerHello: dns_error, refused, timeout, no_tls,
    rejected (alerts only), unreachable, proxy_error, bad_target or error.
    """
    row = fingerprint(host, port, timeout)
    status = row.get("status")
    if status != "ok":
        raise JarmError(status or "error", row.get("error") or status, row)
    return row["jarm"]


# --- many targets -------------------------------------------------------------------------

_DONE = object()
_active = weakref.WeakSet()
# Scans whose reader thread was still inside _next when the consumer let go: their ctypes
# callbacks must outlive that call (jarm_scan is meant to wait for it; this is a safety net).
_lingering = set()


class _ScanState:
    """What the callbacks of one jarm_scan share with the consumer. Callbacks never raise."""

    def __init__(self, it, maxsize):
        self.it = it
        self.q = queue.Queue(maxsize=maxsize)
        self.stop = False  # set by the consumer: rows are dropped, input ends
        self.exhausted = False
        self.keep = None  # the buffer of the last target handed to C
        self.input_exc = None  # raised by the targets iterable, or a bad target item
        self.thread_exc = None
        self.rc = 0
        self.err = ctypes.create_string_buffer(512)
        self.thread = None
        self.reader_ident = None
        self.in_next = False  # the reader thread is inside _next
        self.finished = False  # the consumer is done with this scan
        self.timeout = 5.0
        self.next_cb = _NEXT_FN(self._next)
        self.row_cb = _ROW_FN(self._row)
        self.rowbuf = []  # the buffer of jarm_result_to_json, reused for every row

    # Called on jarm_scan's reader thread.
    def _next(self, _data):
        self.reader_ident = threading.get_ident()
        self.in_next = True
        try:
            return self._next_target()
        finally:
            self.in_next = False
            if self.finished:
                _lingering.discard(self)

    def _next_target(self):
        self.keep = None
        if self.stop or self.exhausted:
            return None
        try:
            t = next(self.it)
            if isinstance(t, str):
                t = t.encode("utf-8")
            elif isinstance(t, (bytes, bytearray)):
                t = bytes(t)
            else:
                raise TypeError(f"jarm.scan: targets must be str, not {type(t).__name__}")
            if b"\0" in t:
                raise ValueError(f"jarm.scan: target {t!r} contains a NUL character")
        except StopIteration:
            self.exhausted = True
            return None
        except BaseException as e:  # noqa: B902 - re-raised in the consumer
            self.input_exc = e
            self.exhausted = True
            return None
        if self.stop:
            # Abandoned while the iterable was producing this one: end the input now
            # rather than scan a target nobody will read.
            return None
        self.keep = ctypes.create_string_buffer(t)
        return ctypes.addressof(self.keep)

    # Called on the thread running jarm_scan.
    def _row(self, _data, result):
        try:
            row = _result_json(result, self.rowbuf)
            while not self.stop:
                try:
                    self.q.put(row, timeout=0.05)
                    return 0
                except queue.Full:
                    pass
            return 1
        except BaseException:  # noqa: B902 - never let an exception cross into C
            self.stop = True
            return 1

    def _put_done(self):
        while not self.stop:
            try:
                self.q.put(_DONE, timeout=0.05)
                return
            except queue.Full:
                pass

    def run(self, opts):
        try:
            self.rc = _load().jarm_scan(ctypes.byref(opts), self.next_cb, None, self.row_cb,
                                        None, self.err, len(self.err))
        except BaseException as e:  # noqa: B902
            self.thread_exc = e
        finally:
            self._put_done()

    def shutdown(self):
        """Stop the scan and wait for its thread (not from the scan's own threads)."""
        self.stop = True
        t = self.thread
        if t is None:
            return
        me = threading.get_ident()
        if me == t.ident or me == self.reader_ident:
            return  # finalised from a callback (cyclic GC): the thread ends by itself
        t.join()


def _ports_str(ports):
    if isinstance(ports, (str, bytes)):
        s = ports.decode() if isinstance(ports, bytes) else ports
        if not s or "\0" in s:
            raise ValueError(f"jarm.scan: bad ports {ports!r}")
        return s.encode()
    if isinstance(ports, int):
        ports = (ports,)
    ports = list(ports)
    if not ports:
        raise ValueError("jarm.scan: no ports")
    return ",".join(str(_port(p)) for p in ports).encode()


def _list_str(value, what):
    if value is None:
        return None
    if not isinstance(value, (str, bytes)):
        value = ",".join(value)
    return _cstr(value, what)


def scan(targets, ports=(443,), concurrency=1000, timeout=5, sni=None, resolvers=None,
         proxy=None, allow_reserved=False):
    """Scan targets and yield one row dict per target (per port) as results complete.

    targets:     an iterable of strings in jarmsweep's target syntax (IP, IP:PORT,
                 [IPv6]:PORT, HOST, HOST:PORT, HOST,PORT, CIDR, ranges), consumed lazily
                 from the engine's reader thread; a single str is one target. Every
                 target yields exactly one row (an unparsable one has status bad_target).
    ports:       ports for targets without one: ints, or a string such as "443,8000-8010".
    concurrency: connections in flight.  timeout: seconds per connection.
    sni:         server_name override.  resolvers: "IP[:PORT],..." or a list of them.
    proxy:       "socks5://[user:pass@]host:port".  allow_reserved: ranges may cover
                 reserved space such as 127.0.0.0/8.

    The scan starts on the first next() and runs on a background thread with the GIL
    released. Abandoning the iterator (break, close(), garbage collection) stops it: no new
    target is started and the call returns once the ones in flight finish (at most one
    timeout later). Bad options raise JarmError (status "error") from the first next(); an
    exception raised by the targets iterable ends the input and is re-raised after the rows
    of the targets read before it.
    """
    if isinstance(targets, (str, bytes)):
        targets = [targets]
    it = iter(targets)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or \
            not 1 <= concurrency <= 10_000_000:
        raise ValueError(f"jarm.scan: bad concurrency {concurrency!r}")
    opts = _ScanOpts(concurrency=concurrency, timeout=_timeout(timeout), ports=_ports_str(ports),
                     sni=_sni(sni), resolvers=_list_str(resolvers, "resolvers"),
                     proxy=_cstr(proxy, "proxy"), allow_reserved=1 if allow_reserved else 0)
    _load()
    return _scan_rows(it, opts, max(_QUEUE_MIN, 4 * concurrency))


def _scan_rows(it, opts, maxsize):
    st = _ScanState(it, maxsize)
    st.timeout = opts.timeout
    st.thread = threading.Thread(target=st.run, args=(opts,), name="jarm-scan", daemon=True)
    _active.add(st)
    try:
        st.thread.start()
        while True:
            item = st.q.get()
            if item is _DONE:
                break
            yield json.loads(item)
        st.thread.join()
        if st.thread_exc is not None:
            raise st.thread_exc
        if st.rc < 0:
            msg = st.err.value.decode("utf-8", "replace") or _strerror(st.rc)
            raise JarmError("error", msg)
        if st.input_exc is not None:
            raise st.input_exc
    finally:
        st.shutdown()
        _active.discard(st)
        st.finished = True
        if st.in_next:
            _lingering.add(st)


@atexit.register
def _stop_all():
    # A scan abandoned without being closed (a suspended generator held somewhere) must not
    # keep the interpreter from exiting, nor call back into it while it is torn down.
    for st in list(_active):
        st.stop = True
    for st in list(_active):
        t = st.thread
        if t is not None and t.is_alive() and t.ident != threading.get_ident():
            t.join(timeout=st.timeout + 2.0)  # the ones in flight: at most one timeout


# --- reading fingerprints -----------------------------------------------------------------

def _s(b):
    return None if b is None else b.decode("ascii", "replace")


def _decode(fp):
    if not isinstance(fp, str):
        raise TypeError(f"jarm: fingerprint must be a str, not {type(fp).__name__}")
    if len(fp) != FP_LEN or not fp.isascii():
        raise ValueError(f"jarm: bad fingerprint {fp!r}: want {FP_LEN} characters, "
                         "10 x (cipher code 00-46, version code 0 or a-j) then 32 hex digits")
    fp = fp.lower()
    lib = _load()
    half1 = ctypes.create_string_buffer(31)
    half2 = ctypes.create_string_buffer(33)
    probes = (_FpProbe * PROBES)()
    rc = lib.jarm_fp_decode(fp.encode("ascii"), FP_LEN, half1, half2, probes)
    if rc != 0:
        raise ValueError(f"jarm: bad fingerprint {fp!r}: want {FP_LEN} characters, "
                         "10 x (cipher code 00-46, version code 0 or a-j) then 32 hex digits")
    return fp, half1.value.decode(), half2.value.decode(), list(probes)


def _probe_fields(p):
    name = _s(p.cipher_name)
    return {
        "code": p.cipher_code.decode("ascii") + p.version_code.decode("ascii"),
        "answered": bool(p.answered),
        "cipher": f"{p.cipher:04x}" if name is not None else None,
        "cipher_name": name,
        "version": _s(p.version),
    }


def _probe_head(lib, i):
    return {"probe": i + 1, "name": _s(lib.jarm_probe_name(i)),
            "intent": _s(lib.jarm_probe_intent(i))}


def explain(fp):
    """What a fingerprint says, probe by probe: the dict `jarmsweep explain -f ndjson` prints.

    {"fingerprint", "cipher_half", "extension_hash", "answered": count, "probes": [{"probe":
    1-10, "name", "intent", "code", "answered", "cipher": "c030" or None, "cipher_name",
    "version": "TLS 1.2" or None}, ...]}. Upper-case hex is accepted. Raises ValueError for
    a malformed fingerprint.
    """
    fp, half1, half2, probes = _decode(fp)
    lib = _load()
    out = []
    for i, p in enumerate(probes):
        d = _probe_head(lib, i)
        d.update(_probe_fields(p))
        out.append(d)
    return {"fingerprint": fp, "cipher_half": half1, "extension_hash": half2,
            "answered": sum(1 for p in probes if p.answered), "probes": out}


def diff(a, b):
    """Where two fingerprints part: the dict `jarmsweep diff -f ndjson` prints.

    {"a", "b", "identical", "probes_differ": [probe numbers 1-10], "extension_hash_differs",
    "extension_hash_a", "extension_hash_b", "probes": [{"probe", "name", "intent",
    "cipher_differs", "version_differs", "a": {...}, "b": {...}} for each differing probe]}.
    Only the first 30 characters decode per probe; the extension hash can only be compared.
    Raises ValueError for a malformed fingerprint.
    """
    a, _, ha, pa = _decode(a)
    b, _, hb, pb = _decode(b)
    lib = _load()
    rows, differ = [], []
    for i, (p, q) in enumerate(zip(pa, pb)):
        dc = p.cipher_code != q.cipher_code
        dv = p.version_code != q.version_code
        if not (dc or dv):
            continue
        differ.append(i + 1)
        d = _probe_head(lib, i)
        d.update({"cipher_differs": dc, "version_differs": dv, "a": _probe_fields(p),
                  "b": _probe_fields(q)})
        rows.append(d)
    return {"a": a, "b": b, "identical": not differ and ha == hb, "probes_differ": differ,
            "extension_hash_differs": ha != hb, "extension_hash_a": ha, "extension_hash_b": hb,
            "probes": rows}

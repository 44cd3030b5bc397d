#!/usr/bin/env python3
"""jarm(7)'s tables are the code's (TAP).

Usage: jarm7.py TABLES_HELPER PATH/TO/jarm.7

The page marks each table it states as fact with a comment line `.\\" table: NAME` before
its .TS. This test reads those tables from the roff source and compares every entry with
what libjarm does, observed through the helper tests/docs/tables.c (public API only):

  probes            per probe: name, record version, client_version, cipher list, cipher
                    order (the page's transform applied to the page's ALL list must give the
                    suites the probe really sends) and GREASE
  probe-extensions  per probe: ALPN set, ALPN order and the supported_versions sent
  ciphers-all       the base order of ALL (through the probes' cipher lists)
  extensions        the extension types in order, in every probe, and their bodies
  alpn              the two protocol sets
  cipher-codes      the code of every suite: exactly these 69 are not 46
  version-codes     the code of every field listed

It also checks the probe lengths, the hex dump of probe 1 and every raw string /
fingerprint example of the page, and that groff renders the page without a warning.
"""
import os
import re
import shutil
import subprocess
import sys

HELPER, PAGE = sys.argv[1], sys.argv[2]
N = 0
FAILED = 0


def ok(cond, desc, diag=None):
    global N, FAILED
    N += 1
    print(f"{'ok' if cond else 'not ok'} {N} - {desc}")
    if not cond:
        FAILED += 1
        if diag is not None:
            for line in str(diag).splitlines()[:40]:
                print(f"# {line}")
    return cond


def helper(*args):
    r = subprocess.run([HELPER, *args], capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


def unroff(s):
    """Plain text of a roff table cell or text line."""
    s = s.replace("\\-", "-").replace("\\(em", "\u2014").replace("\\(mi", "-")
    s = s.replace("\\&", "").replace("\\e", "\\")
    return s.strip()


def tables(src):
    """{name: [[cell, ...], ...]} of the tables marked `.\\" table: name`."""
    out = {}
    lines = src.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r'^\.\\" table: (\S+)', lines[i])
        i += 1
        if not m:
            continue
        assert lines[i] == ".TS", f"table {m.group(1)}: .TS expected after its mark"
        i += 1
        while not lines[i].rstrip().endswith("."):  # options and format lines
            i += 1
        i += 1
        rows, cur, cell_open = [], None, False
        while lines[i] != ".TE":
            line = lines[i]
            i += 1
            if cell_open:  # inside T{ ... T}
                if line.startswith("T}"):
                    cell_open = False
                    rest = line[2:]
                    cur[-1] = cur[-1].strip()
                    if rest.startswith("\t"):
                        cur += rest[1:].split("\t")
                        if cur[-1] == "T{":
                            cur[-1] = ""
                            cell_open = True
                    if not cell_open:
                        rows.append(cur)
                        cur = None
                else:
                    cur[-1] += " " + line
                continue
            cells = line.split("\t")
            if all(c == "_" for c in cells):
                continue
            if cells[-1] == "T{":
                cells[-1] = ""
                cur, cell_open = cells, True
                continue
            rows.append(cells)
        out[m.group(1)] = [[unroff(c) for c in row] for row in rows]
    return out


def transform(order, lst):
    n, m = len(lst), len(lst) // 2
    if order == "forward":
        return list(lst)
    if order == "reverse":
        return lst[::-1]
    if order == "bottom_half":
        return lst[m + 1:] if n % 2 else lst[m:]
    if order == "top_half":
        return lst[:m + 1][::-1] if n % 2 else lst[:m][::-1]
    if order == "middle_out":
        out = [lst[m]] if n % 2 else []
        for i in range(1, m + 1):
            out += [lst[m + i], lst[m - i]] if n % 2 else [lst[m - 1 + i], lst[m - i]]
        return out
    raise ValueError(order)


def is_grease(v):
    return len(v) == 4 and v[0:2] == v[2:4] and v[1] == "a"


def decode(h):
    """The parts of a ClientHello record (hex) the page describes."""
    b = bytes.fromhex(h)
    out = {"record": b[1:3].hex(), "hello": b[9:11].hex(), "len": len(b)}
    sid = b[43]
    pos = 44 + sid
    cl = int.from_bytes(b[pos:pos + 2], "big")
    suites = [b[pos + 2 + i:pos + 4 + i].hex() for i in range(0, cl, 2)]
    out["grease"] = bool(suites) and is_grease(suites[0])
    out["suites"] = suites[1:] if out["grease"] else suites
    pos += 2 + cl
    pos += 1 + b[pos]  # compression methods
    el = int.from_bytes(b[pos:pos + 2], "big")
    pos += 2
    end = pos + el
    exts = []
    while pos < end:
        t = b[pos:pos + 2].hex()
        n = int.from_bytes(b[pos + 2:pos + 4], "big")
        exts.append((t, b[pos + 4:pos + 4 + n]))
        pos += 4 + n
    out["exts"] = exts
    d = dict(exts)
    if "0010" in d:
        a, protos, i = d["0010"], [], 2
        while i < len(a):
            protos.append(a[i + 1:i + 1 + a[i]].decode())
            i += 1 + a[i]
        out["alpn"] = protos
    sv = d.get("002b")
    out["sv"] = [sv[i:i + 2].hex() for i in range(1, len(sv), 2)] if sv else None
    return out


def pairs(rows):
    """(first, second) of every non-empty pair of cells of a paired table."""
    out = []
    for row in rows:
        for i in range(0, len(row) - 1, 2):
            if row[i]:
                out.append((row[i], row[i + 1]))
    return out


def main():
    with open(PAGE, encoding="utf-8") as f:
        src = f.read()
    t = tables(src)
    want = {"probes", "probe-extensions", "ciphers-all", "extensions", "alpn", "cipher-codes",
            "version-codes"}
    if not ok(want <= set(t), "the page has every checked table", sorted(set(t))):
        print(f"1..{N}")
        return 1
    hellos = [decode(h) for h in helper("hellos")]
    names = helper("names")

    # ALL, from the page, in base order.
    allp = pairs(t["ciphers-all"])
    ok(sorted(int(p) for p, _ in allp) == list(range(1, 70)),
       "ciphers-all: positions 1..69", allp)
    all_suites = [s for _, s in sorted(allp, key=lambda x: int(x[0]))]
    lists = {"ALL": all_suites, "NO1.3": [s for s in all_suites if not s.startswith("13")]}

    # Probe parameters.
    rows = t["probes"][1:]
    ok(len(rows) == 10, "probes: ten rows", rows)
    for row in rows:
        num, name, rec, hel, cl, order, grease = row
        i = int(num) - 1
        h = hellos[i]
        ok(name == names[i], f"probe {num}: name {name}", f"code: {names[i]}")
        ok(rec == h["record"], f"probe {num}: record version {rec}", f"code: {h['record']}")
        ok(hel == h["hello"], f"probe {num}: client_version {hel}", f"code: {h['hello']}")
        ok(h["suites"] == transform(order, lists[cl]),
           f"probe {num}: ciphers {cl} in {order} order", " ".join(h["suites"]))
        ok((grease == "yes") == h["grease"], f"probe {num}: GREASE {grease}")

    # ALPN sets.
    sets = {row[0]: row[1].split() for row in t["alpn"]}
    ok(set(sets) == {"normal", "rare"}, "alpn: the normal and the rare set", sets)

    rows = t["probe-extensions"][1:]
    ok(len(rows) == 10, "probe-extensions: ten rows", rows)
    for num, alpn, aorder, sv in rows:
        h = hellos[int(num) - 1]
        ok(h.get("alpn") == transform(aorder, sets.get(alpn, [])),
           f"probe {num}: ALPN {alpn} in {aorder} order", h.get("alpn"))
        got = None if h["sv"] is None else " ".join(
            "GREASE" if is_grease(v) else v for v in h["sv"])
        ok((sv == "\u2014" and got is None) or sv == got,
           f"probe {num}: supported_versions {sv}", got)

    # Extensions: types in order in every probe, and the bodies the page spells out.
    ext_rows = t["extensions"][1:]
    types = [r[0] for r in ext_rows]
    for i, h in enumerate(hellos):
        got = ["GREASE" if is_grease(tp) else tp for tp, _ in h["exts"]]
        expect = [tp for tp in types
                  if (tp != "GREASE" or h["grease"]) and (tp != "002b" or h["sv"] is not None)]
        ok(got == expect, f"probe {i + 1}: extensions in the page's order", got)
    body = dict(hellos[0]["exts"])
    for tp, name, text in ext_rows:
        words = re.findall(r"\b[0-9a-f]{2,4}\b", text.split("(")[0])
        if tp == "GREASE" or not words or not all(re.fullmatch(r"[0-9a-f]+", w) for w in
                                                  text.split("(")[0].split()):
            continue
        want_b = bytes.fromhex("".join(words))
        data = body.get(tp, b"")
        ok(data.endswith(want_b) and len(data) - len(want_b) <= 2,
           f"extension {tp} ({name}): body {text}", data.hex())

    # Cipher codes: exactly the 69 of the table are not 46, and the empty field is 00.
    code_of = dict(line.split() for line in helper("ciphers"))
    empty = code_of.pop("empty", None)
    page = {s: c for c, s in pairs(t["cipher-codes"])}
    ok(len(page) == 69, "cipher-codes: 69 entries", len(page))
    for suite, code in sorted(page.items(), key=lambda x: x[1]):
        ok(code_of.get(suite) == code, f"cipher code {code} is {suite}", code_of.get(suite, "46"))
    ok(set(code_of) == set(page), "no other suite has a code but 46",
       sorted(set(code_of) ^ set(page)))
    ok(sorted(page) == sorted(all_suites), "the code table holds the suites of ALL")
    ok(empty == "00", "the empty cipher field is 00", empty)

    # Version codes.
    rows = t["version-codes"][1:]
    fields = ["" if r[0] == "\u2014" else r[0] for r in rows]
    got = {}
    for line in helper("version", *fields):
        f, _, c = line.rpartition(" ")
        got[f.strip()] = c
    for (field, code, _), f in zip(rows, fields):
        ok(got.get(f) == code, f"version code of {field!r} is {code}", got.get(f))
    ok(all(fields.count(c) for c in ["0300", "0301", "0302", "0303", "0304", "0305"]),
       "version-codes: 0300..0305 are all listed")

    # Probe lengths for example.com.
    m = re.search(r"The ten probes for this host are ([0-9, and\n]+?) bytes", src)
    lens = [int(x) for x in re.findall(r"\d+", m.group(1))] if m else []
    ok(lens == [h["len"] for h in hellos], "the probe lengths for example.com",
       f"page {lens}, code {[h['len'] for h in hellos]}")

    # The hex dump of probe 1: every full line of offset and bytes.
    p1 = bytes.fromhex(helper("hellos")[0])
    dump = re.findall(r"^(\d{4})  ((?:[0-9a-f]{2} ?)+)$", src, re.M)
    bad = [(off, hx) for off, hx in dump
           if p1[int(off):int(off) + len(hx.split())] != bytes.fromhex(hx.replace(" ", ""))]
    ok(len(dump) >= 10 and not bad, f"the hex dump of probe 1 ({len(dump)} lines)", bad)

    # Raw strings and fingerprints of the examples.
    ex = re.findall(r"^(\S+)\n  ([0-9a-f]{62})$", src, re.M)
    raws = [",".join([unroff(r)] * 10) for r, _ in ex]
    fps = helper("hash", *raws)
    ok(len(ex) == 4 and fps == [fp for _, fp in ex], "the four hash examples", list(zip(fps, ex)))
    block = re.search(r"s_server\ngives\n.PP\n.RS\n.EX\n(.*?)\n.EE", src, re.S)
    raw = unroff(block.group(1).replace("\n", "")) if block else ""
    fp = re.search(r"and the fingerprint\n\.BR ([0-9a-f]{62})", src)
    ok(raw.count(",") == 9 and fp and helper("hash", raw) == [fp.group(1)],
       "the OpenSSL raw string hashes to the fingerprint the page gives", raw)

    groff = shutil.which("groff")
    if groff:
        r = subprocess.run([groff, "-t", "-man", "-Tutf8", "-ww", "-z", PAGE],
                           capture_output=True, text=True)
        ok(r.returncode == 0 and r.stderr == "", "groff -t -man -ww renders it cleanly",
           r.stderr)
    else:
        N_skip = N + 1
        print(f"ok {N_skip} - groff renders it # SKIP groff not installed")
        globals()["N"] = N_skip
    print(f"1..{N}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

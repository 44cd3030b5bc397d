"""The man page and --help stay in step with the code; explain and diff (TAP).

Documentation: every long option of the getopt table in src/cli/opts.c (`long_opts`, read
with a regex, so options added later are checked without editing this file) and every short
option of its getopt string appears in `jarmsweep --help` and in contrib/man/jarmsweep.1;
every --option that --help or the man page mentions exists in the table; every subcommand
main() dispatches, every target and probe status word of src/engine/scan.c (and the rows feed.c
writes itself), every DNS error word and every JSON key src/engine/output.c writes is documented in
the man page's matching section; the page's version is the binary's; groff renders it
without a warning.

explain / diff: text and --format ndjson output of the capture fingerprints of
captures.json, decoded probe by probe and checked against each capture's raw string; diff
lists exactly the probes that differ; malformed fingerprints and usage errors exit 2 with one
line on standard error.

No network at all: these run the binary on fixed inputs only.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import harness

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CAPTURE_FP = "07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d"
VERSIONS = {"0300": "SSL 3.0", "0301": "TLS 1.0", "0302": "TLS 1.1", "0303": "TLS 1.2",
            "0304": "TLS 1.3"}


def read(*parts):
    with open(os.path.join(SRC, *parts), encoding="utf-8") as f:
        return f.read()


def c_block(text, head):
    """The body of the C initializer or function that starts at regex `head`, or ''."""
    m = re.search(head, text)
    if not m:
        return ""
    i = text.find("{", m.end() - 1)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    return ""


def man_text(src):
    """The man page source as plain text: comments dropped, escapes resolved."""
    lines = [l for l in src.splitlines() if not l.startswith(('.\\"', "'\\\""))]
    t = "\n".join(lines)
    for a, b in ((r"\-", "-"), (r"\(aq", "'"), (r"\(dq", '"'), (r"\(ha", "^"), (r"\~", " "),
                 (r"\%", ""), (r"\&", ""), (r"\e", "\\")):
        t = t.replace(a, b)
    return re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", t)


def sections(src, macro):
    """{title: plain text} of the man source's .SH sections (subsections included) or, with
    macro ".SS", of its subsections (each ends at the next .SS or .SH)."""
    out, title, buf = {}, None, []

    def close():
        if title is not None:
            out[title] = man_text("\n".join(buf))

    for line in src.splitlines():
        if line.startswith(macro + " "):
            close()
            title, buf = line[len(macro) + 1:].strip().strip('"'), []
        elif line.startswith(".SH "):  # only reached for macro ".SS"
            close()
            title, buf = None, []
        elif title is not None:
            buf.append(line)
    close()
    return out


def has_word(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def long_opts_in(text):
    return set(re.findall(r"(?<![\w-])--([a-z0-9][a-z0-9-]*[a-z0-9])", text))


def documentation(tap, js):
    opts_c, status_c, output_c = read("src", "cli", "opts.c"), \
        read("src", "engine", "status.c"), read("src", "engine", "format_ndjson.c")
    main_c, resolver_c = read("src", "cli", "main.c"), read("src", "engine", "resolver.c")
    man_src = read("contrib", "man", "jarmsweep.1")
    man = man_text(man_src)
    sh = sections(man_src, ".SH")
    ss = sections(man_src, ".SS")

    r = harness.run(js, ["--help"])
    helptext = r.out.decode(errors="replace")
    tap.ok(r.rc == 0 and "Usage:" in helptext, "--help exits 0 with a usage text", r.describe())

    # The getopt table and the getopt string of jarm__cli_parse.
    table = set(re.findall(r'\{\s*"([a-z0-9-]+)"\s*,', c_block(opts_c, r"long_opts\s*\[\s*\]\s*=")))
    m = re.search(r'getopt_long\s*\([^;]*?"([^"]*)"', opts_c)
    shorts = sorted(set(c for c in (m.group(1) if m else "") if c.isalnum()))
    tap.ok(len(table) >= 20 and "help" in table and "version" in table,
           f"parsed {len(table)} long options from long_opts in src/cli/opts.c",
           f"table: {sorted(table)}")
    tap.ok(len(shorts) >= 5 and "h" in shorts, f"parsed short options -{''.join(shorts)} from "
           "the getopt_long string", f"shorts: {shorts}")

    in_help = long_opts_in(helptext)
    options_section = sh.get("OPTIONS", "")
    for opt in sorted(table):
        tap.ok(has_word(helptext, "--" + opt), f"--{opt} (getopt table) is in --help")
        tap.ok(has_word(man, "--" + opt), f"--{opt} (getopt table) is in the man page")
    for c in shorts:
        tap.ok(has_word(helptext, "-" + c), f"-{c} (getopt string) is in --help")
        tap.ok(has_word(options_section, "-" + c), f"-{c} (getopt string) is in the man "
               "page's OPTIONS")
    tap.ok(in_help <= table, "every --option --help mentions exists", sorted(in_help - table))
    # (LIBRARY shows a pkg-config command line, whose options are not ours.)
    in_man = long_opts_in("\n".join(v for k, v in sh.items() if k != "LIBRARY"))
    tap.ok(in_man <= table, "every --option the man page mentions exists",
           sorted(in_man - table))

    # Subcommands dispatched by main().
    subs = re.findall(r'strcmp\s*\(\s*argv\s*\[\s*1\s*\]\s*,\s*"([a-z-]+)"\s*\)', main_c)
    tap.ok({"explain", "diff"} <= set(subs), f"main() dispatches subcommands {subs}")
    for sub in subs:
        tap.ok(re.search(r"jarmsweep " + sub + r"\b", helptext) is not None,
               f"subcommand {sub} is in --help's usage")
        tap.ok(has_word(sh.get("SUBCOMMANDS", ""), sub),
               f"subcommand {sub} is in the man page's SUBCOMMANDS")
        tap.ok(re.search(r"jarmsweep " + sub + r"\b", sh.get("SYNOPSIS", "")) is not None,
               f"subcommand {sub} is in the man page's SYNOPSIS")

    # Status words: the one status table (src/engine/status.c), targets and probes.
    def names(table):
        return re.findall(r'=\s*\{"([a-z_]+)"', c_block(status_c, table + r"\[\]\s*=\s*\{"))
    tstat = list(dict.fromkeys(names("target_statuses")))
    # "pending" is the engine's state before an outcome; no row ever shows it.
    pstat = [n for n in dict.fromkeys(names("probe_statuses")) if n != "pending"]
    dnserr = sorted(set(re.findall(r'return\s+"([a-z_]+)"', c_block(
        resolver_c, r"jarm__dns_status_name\s*\([^)]*\)\s*\{"))) - {"ok"})
    tap.ok(len(tstat) >= 9 and "bad_target" in tstat and "dns_error" in tstat,
           f"target statuses from src: {tstat}")
    tap.ok(len(pstat) >= 11, f"probe statuses from src: {pstat}")
    tsec = next((v for k, v in ss.items() if k.startswith("Target status")), "")
    psec = next((v for k, v in ss.items() if k.startswith("Probe status")), "")
    for w in tstat:
        tap.ok(has_word(tsec, w), f"target status {w} is in the man page's Target status")
        tap.ok(has_word(helptext, w), f"target status {w} is in --help")
    for w in pstat:
        tap.ok(has_word(psec, w), f"probe status {w} is in the man page's Probe status")
        tap.ok(has_word(helptext, w), f"probe status {w} is in --help")
    for w in dnserr:
        tap.ok(has_word(tsec, w), f"dns_error reason {w} is in the man page")

    # Every JSON key output.c writes.
    keys = sorted(set(re.findall(r'\\"([a-z_]+)\\":', output_c)))
    out_sec = sh.get("OUTPUT", "")
    tap.ok({"host", "ip", "port", "jarm", "status", "raw", "probes", "ms", "sni", "elapsed_ms",
            "ts", "error", "input", "line"} <= set(keys),
           f"row keys from src/engine/format_ndjson.c: {keys}")
    for k in keys:
        tap.ok(has_word(out_sec, k), f"row field {k} is in the man page's OUTPUT")

    # Sections, version, examples, rendering.
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "TARGETS", "OPTIONS", "SUBCOMMANDS", "OUTPUT",
              "STATUS", "EXIT STATUS", "FIDELITY", "FILES", "EXAMPLES", "SEE ALSO"):
        tap.ok(s in sh, f"man page has section {s}")
    r = harness.run(js, ["--version"])
    ver = r.out.decode(errors="replace").split()[1] if r.rc == 0 and r.out.split() else "?"
    th = re.search(r"^\.TH\s+JARMSWEEP\s+1\s+\S+\s+\"jarmsweep ([^\"]+)\"", man_src, re.M)
    tap.eq(th.group(1) if th else None, ver, "the man page's .TH version is --version's")
    for code in ("0", "1", "2"):
        tap.ok(re.search(r"^\.B " + code + "$", man_src, re.M), f"exit status {code} documented")
    ex = sh.get("EXAMPLES", "")
    addrs = re.findall(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})", ex)
    tap.ok(addrs and all(a.startswith(("192.0.2.", "198.51.100.", "203.0.113."))
                         for a in addrs),
           "examples use documentation addresses only", addrs)
    tap.ok("blocklist.conf" in sh.get("FILES", ""), "FILES names the default blocklist")
    groff = shutil.which("groff")
    if groff:
        p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z",
                            os.path.join(SRC, "contrib", "man", "jarmsweep.1")],
                           capture_output=True, text=True)
        tap.ok(p.returncode == 0 and p.stderr == "", "groff -man -ww renders it without "
               "warnings", p.stderr)
    else:
        tap.skip("groff -man -ww renders it without warnings", "groff not installed")


def decode_raw(raw):
    """Per probe (cipher field, version field) of a raw string, or None for '|||'."""
    out = []
    for p in raw.split(","):
        f = p.split("|")
        out.append(None if p == "|||" else (f[0], f[1]))
    return out


def explain_tests(tap, js, vectors):
    r = harness.run(js, ["explain", CAPTURE_FP])
    text = r.out.decode(errors="replace")
    tap.ok(r.rc == 0 and r.err == b"", "explain FP: exit 0, nothing on stderr", r.describe())
    rows = {int(l.split()[0]): l for l in text.splitlines() if re.match(r"\d+\s", l)}
    tap.eq(sorted(rows), list(range(1, 11)), "explain text: a row per probe 1..10")
    p1 = rows.get(1, "")
    tap.ok("tls1_2_forward" in p1 and "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" in p1 and
           "0033" in p1 and p1.rstrip().endswith("TLS 1.2"),
           "explain text: probe 1 is TLS_DHE_RSA_WITH_AES_128_CBC_SHA (0033), TLS 1.2", p1)
    tap.ok("aa99ce74e2c6d013c745aa52b5cc042d" in text and "07d14d16d21d21d00042d43d000000"
           in text, "explain text: both halves shown")

    r = harness.run(js, ["explain", "--format", "ndjson", CAPTURE_FP])
    ok = tap.ok(r.rc == 0 and len(r.rows) == 1 and not r.bad_lines and r.out.count(b"\n") == 1,
                "explain --format ndjson: one JSON line", r.describe())
    j = r.row if ok else {}
    tap.ok(j.get("fingerprint") == CAPTURE_FP and j.get("cipher_half") == CAPTURE_FP[:30] and
           j.get("extension_hash") == CAPTURE_FP[30:] and len(j.get("probes", [])) == 10,
           "explain ndjson: fingerprint, cipher_half, extension_hash, 10 probes", j)
    pr = j.get("probes") or [{}]
    tap.ok(pr[0].get("probe") == 1 and pr[0].get("name") == "tls1_2_forward" and
           pr[0].get("cipher") == "0033" and
           pr[0].get("cipher_name") == "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" and
           pr[0].get("version") == "TLS 1.2" and pr[0].get("answered") is True and
           pr[0].get("code") == "07d", "explain ndjson: probe 1 decoded", pr[0])
    intents = [p.get("intent") for p in pr]
    tap.ok(all(isinstance(i, str) and i for i in intents) and len(set(intents)) == 10,
           "explain ndjson: ten distinct intents")
    tap.ok(all(i in text for i in intents if i), "explain text: every probe's intent shown")
    tap.ok(j.get("answered") == sum(1 for p in pr if p.get("answered")) == 7,
           "explain ndjson: 'answered' counts the probes with a ServerHello (7)")
    r = harness.run(js, ["explain", "-f", "ndjson", CAPTURE_FP.upper()])
    tap.ok(r.rc == 0 and r.row.get("fingerprint") == CAPTURE_FP,
           "explain -f ndjson accepts upper-case hex and prints it normalised", r.describe())
    r = harness.run(js, ["explain", "--format=text", CAPTURE_FP])
    tap.ok(r.rc == 0 and r.out.decode() == text, "--format=text is the default output")

    # Every capture: the decoding agrees with the capture's raw string.
    for cap in harness.captures(vectors).values():
        fp, raw = cap["fingerprint"], cap["raw"]
        r = harness.run(js, ["explain", "--format", "ndjson", fp])
        probes = r.row.get("probes", [])
        bad = []
        for i, (p, want) in enumerate(zip(probes, decode_raw(raw))):
            if want is None:
                if p.get("answered") or p.get("code") != "000":
                    bad.append((i + 1, p, want))
                continue
            cipher, version = want
            if (not p.get("answered") or p.get("code") != fp[3 * i:3 * i + 3] or
                    (p.get("cipher") is not None and p["cipher"] != cipher) or
                    (version in VERSIONS and not str(p.get("version")).startswith(
                        VERSIONS[version]))):
                bad.append((i + 1, p, want))
        tap.ok(r.rc == 0 and len(probes) == 10 and not bad,
               f"explain {cap['name']}: every probe agrees with the capture's raw string",
               f"{r.describe()}\nmismatches: {bad}")


def mutate(fp, probe, cipher=None, version=None):
    i = 3 * (probe - 1)
    c = cipher if cipher is not None else fp[i:i + 2]
    v = version if version is not None else fp[i + 2]
    return fp[:i] + c + v + fp[i + 3:]


def diff_tests(tap, js):
    a = CAPTURE_FP
    b = mutate(mutate(mutate(a, 2, cipher="13"), 7, version="e"), 9, cipher="29", version="d")
    b = b[:30] + "bb" + b[32:]
    want = {2: (True, False), 7: (False, True), 9: (True, True)}

    r = harness.run(js, ["diff", "--format", "ndjson", a, b])
    ok = tap.ok(r.rc == 0 and len(r.rows) == 1 and not r.bad_lines,
                "diff --format ndjson: exit 0, one JSON line", r.describe())
    j = r.row if ok else {}
    tap.eq(j.get("probes_differ"), sorted(want), "diff ndjson: probes_differ lists exactly "
           "the changed probes")
    got = {p.get("probe"): (p.get("cipher_differs"), p.get("version_differs"))
           for p in j.get("probes", [])}
    tap.eq(got, want, "diff ndjson: per probe, cipher and/or version")
    p9 = next((p for p in j.get("probes", []) if p.get("probe") == 9), {})
    tap.ok(p9.get("a", {}).get("answered") is False and p9.get("b", {}).get("cipher") == "c02f"
           and p9.get("b", {}).get("version") == "TLS 1.2" and p9.get("name") == "tls1_3_invalid",
           "diff ndjson: both sides decoded", p9)
    tap.ok(j.get("extension_hash_differs") is True and j.get("identical") is False and
           j.get("extension_hash_a") == a[30:] and j.get("extension_hash_b") == b[30:],
           "diff ndjson: the extension hashes differ", j)

    r = harness.run(js, ["diff", a, b])
    text = r.out.decode(errors="replace")
    listed = sorted(int(l.split()[0]) for l in text.splitlines()
                    if re.match(r"\d+\s+\w+\s+differs in ", l))
    tap.ok(r.rc == 0 and listed == sorted(want), "diff text: exit 0, lists exactly probes "
           "2, 7, 9", text)
    tap.ok(re.search(r"^2 .*differs in cipher$", text, re.M) and
           re.search(r"^7 .*differs in version$", text, re.M) and
           re.search(r"^9 .*differs in cipher and version$", text, re.M) and
           "extensions differ" in text, "diff text: says how each probe differs", text)

    c = a[:30] + "cc" + a[32:]
    r = harness.run(js, ["diff", "-f", "ndjson", a, c])
    tap.ok(r.rc == 0 and r.row.get("probes_differ") == [] and r.row.get("probes") == [] and
           r.row.get("extension_hash_differs") is True, "diff: only the extension hash differs",
           r.describe())
    r = harness.run(js, ["diff", "-f", "ndjson", a, a])
    tap.ok(r.rc == 0 and r.row.get("identical") is True and r.row.get("probes_differ") == [],
           "diff of a fingerprint with itself: identical, exit 0", r.describe())
    r = harness.run(js, ["diff", a, a])
    tap.ok(r.rc == 0 and "identical" in r.out.decode(), "diff text: identical")


def error_tests(tap, js):
    fp = CAPTURE_FP
    bad_fps = ["xyz", fp[:-1], fp + "0", "zz" + fp[2:], "47d" + fp[3:], "07k" + fp[3:],
               fp[:40] + "g" + fp[41:], "", "07d\n" + fp[4:]]
    for bad in bad_fps:
        for argv in (["explain", bad], ["explain", "-f", "ndjson", bad], ["diff", fp, bad],
                     ["diff", bad, fp]):
            r = harness.run(js, argv)
            err = r.err.decode(errors="replace")
            if not tap.ok(r.rc == 2 and r.out == b"" and
                          err.startswith("jarmsweep: bad fingerprint '") and
                          err.count("\n") == 1 and err.endswith("\n"),
                          f"{argv[0]} {bad[:70]!r}: exit 2, one line 'bad fingerprint'",
                          r.describe()):
                break
    for argv in (["explain"], ["explain", fp, fp], ["explain", "--format", "xml", fp],
                 ["explain", "--format"], ["explain", "--bogus", fp], ["diff"], ["diff", fp],
                 ["diff", fp, fp, fp], ["diff", "-f", "csv", fp, fp]):
        r = harness.run(js, argv)
        err = r.err.decode(errors="replace")
        tap.ok(r.rc == 2 and r.out == b"" and err.startswith("jarmsweep: ") and
               err.count("\n") == 1, f"usage error {' '.join(argv)[:60]}: exit 2, one line",
               r.describe())
    r = harness.run(js, ["explain", "--help"])
    tap.ok(r.rc == 0 and b"explain" in r.out, "explain --help: usage, exit 0", r.describe())
    if os.path.exists("/dev/full"):
        p = subprocess.run([js, "explain", fp], stdout=open("/dev/full", "wb"),
                           stderr=subprocess.PIPE)
        tap.ok(p.returncode == 1 and p.stderr.startswith(b"jarmsweep: "),
               "explain > /dev/full: exit 1 with a message", p.stderr)
    else:
        tap.skip("explain > /dev/full", "no /dev/full")


def main():
    args = harness.parse_args()
    tap = harness.Tap()
    documentation(tap, args.jarmsweep)
    explain_tests(tap, args.jarmsweep, args.vectors)
    diff_tests(tap, args.jarmsweep)
    error_tests(tap, args.jarmsweep)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

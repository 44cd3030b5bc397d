#!/usr/bin/env python3
"""seed_corpus.py - write fuzz seeds from the golden vectors into a directory.

Usage: seed_corpus.py TARGET VECTORS_DIR OUT_DIR

This script turns the golden vectors (tests/vectors) into one file per input at build
time, so the fuzz-regress suite replays them and a libFuzzer run can start from them,
without a second copy of the vector data in the corpus directories.

  hello  every parse.json input_hex and every captures.json received_hex (reply bytes)
  hash   every hash.json raw, every parse.json expected probe string and every captures.json
         raw and parsed string (raw JARM strings and their pieces)
  probe  the probes.json host names, encoded as the fuzz_probe input layout
         (length byte, host, random stream), with an empty and a patterned random stream
  cert   the openssl s_server replies of captures.json (ServerHello and the start of the
         Certificate message), their handshake bytes re-framed in one-byte records and in
         one record, and their ServerHello followed by a small Certificate message

File names are the first 16 hex digits of the SHA-1 of the content (libFuzzer uses the
full SHA-1), so identical inputs collapse. Stale files from an earlier run are removed.
"""
import hashlib
import json
import os
import sys


def load(vectors, name):
    with open(os.path.join(vectors, name), encoding="utf-8") as f:
        return json.load(f)


def hello_seeds(vectors):
    for case in load(vectors, "parse.json")["cases"]:
        if case.get("input_hex") is not None:
            yield bytes.fromhex(case["input_hex"])
    for cap in load(vectors, "captures.json")["captures"]:
        for probe in cap["probes"]:
            if probe.get("received_hex") is not None:
                yield bytes.fromhex(probe["received_hex"])


def hash_seeds(vectors):
    for case in load(vectors, "hash.json")["cases"]:
        yield case["raw"].encode("utf-8", "surrogatepass")
    for case in load(vectors, "parse.json")["cases"]:
        if case.get("expected_utf8_hex") is not None:
            yield bytes.fromhex(case["expected_utf8_hex"])
    for cap in load(vectors, "captures.json")["captures"]:
        yield cap["raw"].encode("utf-8", "surrogatepass")
        for probe in cap["probes"]:
            if probe.get("parsed") is not None:
                yield probe["parsed"].encode("utf-8", "surrogatepass")


def probe_seeds(vectors):
    pattern = bytes(range(256))
    for target in load(vectors, "probes.json")["targets"]:
        host = target["host"].encode("utf-8")[:255]
        yield bytes([len(host)]) + host
        yield bytes([len(host)]) + host + pattern


def records(data):
    """The (type, payload) records of a stream, up to the first incomplete one."""
    at = 0
    while at + 5 <= len(data):
        n = int.from_bytes(data[at + 3:at + 5], "big")
        if at + 5 + n > len(data):
            break
        yield data[at], data[at + 5:at + 5 + n]
        at += 5 + n


def frame(kind, payload, size):
    """payload cut into records of at most size bytes."""
    out = b""
    for at in range(0, len(payload), size):
        chunk = payload[at:at + size]
        out += bytes([kind, 3, 3]) + len(chunk).to_bytes(2, "big") + chunk
    return out


def cert_seeds(vectors):
    for cap in load(vectors, "captures.json")["captures"]:
        if cap.get("server_kind") != "openssl s_server":
            continue
        for probe in cap["probes"]:
            if probe.get("received_hex") is None:
                continue
            data = bytes.fromhex(probe["received_hex"])
            yield data
            hs = b"".join(p for t, p in records(data) if t == 22)
            if len(hs) > 4 and hs[0] == 2:
                hello = hs[:4 + int.from_bytes(hs[1:4], "big")]
                # The same handshake bytes in one-byte records and in one record, and the
                # ServerHello followed by a short Certificate message with a fake DER.
                yield frame(22, hs[:200], 1)
                yield frame(22, hs, 16384)
                der = bytes([0x30, 0x03, 0x02, 0x01, 0x01])
                body = (len(der) + 3).to_bytes(3, "big") + len(der).to_bytes(3, "big") + der
                yield frame(22, hello + bytes([11]) + len(body).to_bytes(3, "big") + body, 16384)


SEEDS = {"hello": hello_seeds, "hash": hash_seeds, "probe": probe_seeds, "cert": cert_seeds}


def main(argv):
    if len(argv) != 4 or argv[1] not in SEEDS:
        sys.stderr.write("usage: %s {%s} VECTORS_DIR OUT_DIR\n" % (argv[0], "|".join(SEEDS)))
        return 2
    target, vectors, out = argv[1:]
    os.makedirs(out, exist_ok=True)
    wanted = {}
    for data in SEEDS[target](vectors):
        wanted[hashlib.sha1(data).hexdigest()[:16]] = data
    for name in os.listdir(out):
        if name not in wanted:
            os.unlink(os.path.join(out, name))
    for name, data in wanted.items():
        path = os.path.join(out, name)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        with open(path, "wb") as f:
            f.write(data)
    os.utime(out)  # the directory is the build output: make it newer than its inputs
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

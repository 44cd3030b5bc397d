"""Certificates and TLS byte streams for the certificate tests (tests/cert.py, certs.py,
cert_hostile.py): test certificates made with the openssl command, the fields `openssl x509`
prints of them (the expected values: nothing is hard-coded), and TLS records built or read
back in python.

Python 3 standard library and the openssl command only.
"""
import ipaddress
import os
import subprocess
import time


# ---- openssl ----------------------------------------------------------------------------

def ossl(*args, cwd=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True,
                          cwd=cwd).stdout


def write(path, data):
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    return path


def make_certs(tmp):
    """name -> dict(pem, key, chain (PEM files after the leaf), ders (leaf first))."""
    j = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    certs = {}

    def selfsigned(name, keyopts, subj, ext=None, utf8=False):
        args = ["req", "-x509", "-nodes", "-days", "30", "-subj", subj, "-keyout",
                j(name + ".key"), "-out", j(name + ".pem")] + keyopts
        if utf8:
            args.append("-utf8")
        if ext:
            args += ["-addext", ext]
        ossl(*args)
        certs[name] = {"pem": j(name + ".pem"), "key": j(name + ".key"), "chain": []}

    selfsigned("rsa", ["-newkey", "rsa:2048"], "/C=DE/O=Acme, Inc./OU=R+D \"Lab\"/CN=rsa.test",
               "subjectAltName=DNS:rsa.test,DNS:*.rsa.test,IP:127.0.0.1,IP:::1")
    selfsigned("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
               "/CN=\u00fcnic\u00f6de.test/O=J\u00e4rm", "subjectAltName=DNS:ec.test", utf8=True)
    selfsigned("ed25519", ["-newkey", "ed25519"], "/CN=ed25519.test")

    # A chain: root (P-384) -> intermediate (RSA) -> leaf (P-256), serials chosen by openssl.
    write(j("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n")
    write(j("leaf.ext"), "basicConstraints=CA:FALSE\nsubjectAltName=DNS:leaf.test,"
                         "DNS:www.leaf.test,IP:10.0.0.1\n")
    ossl("req", "-x509", "-nodes", "-days", "60", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-384", "-subj", "/CN=Test Root/O=Jarm", "-keyout", j("root.key"),
         "-out", j("root.pem"))
    ossl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=Test Intermediate/O=Jarm",
         "-keyout", j("inter.key"), "-out", j("inter.csr"))
    ossl("x509", "-req", "-in", j("inter.csr"), "-CA", j("root.pem"), "-CAkey", j("root.key"),
         "-CAcreateserial", "-days", "40", "-extfile", j("ca.ext"), "-out", j("inter.pem"))
    ossl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj",
         "/CN=leaf.test", "-keyout", j("leaf.key"), "-out", j("leaf.csr"))
    ossl("x509", "-req", "-in", j("leaf.csr"), "-CA", j("inter.pem"), "-CAkey", j("inter.key"),
         "-CAcreateserial", "-days", "20", "-sha384", "-extfile", j("leaf.ext"),
         "-out", j("leaf.pem"))
    certs["chain"] = {"pem": j("leaf.pem"), "key": j("leaf.key"), "chain": [j("inter.pem")]}
    certs["root"] = {"pem": j("root.pem"), "key": j("root.key"), "chain": []}

    # Expired: `openssl ca` takes explicit dates.
    os.makedirs(j("ca"))
    write(j("ca", "index.txt"), "")
    write(j("ca", "serial"), "7f01\n")
    write(j("ca.cnf"), f"""[ca]
default_ca = d
[d]
database = {j("ca", "index.txt")}
new_certs_dir = {j("ca")}
serial = {j("ca", "serial")}
default_md = sha256
policy = p
[p]
commonName = supplied
""")
    ossl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=expired.test",
         "-keyout", j("expired.key"), "-out", j("expired.csr"))
    ossl("ca", "-batch", "-notext", "-config", j("ca.cnf"), "-selfsign", "-keyfile",
         j("expired.key"), "-in", j("expired.csr"), "-startdate", "20200101000000Z",
         "-enddate", "20200301120000Z", "-out", j("expired.pem"))
    certs["expired"] = {"pem": j("expired.pem"), "key": j("expired.key"), "chain": []}

    # About 40 KB of subjectAltNames: the Certificate message fills three TLS records.
    names = ",".join(f"DNS:host-{i:04d}.many-sans.example" for i in range(1400))
    write(j("many.cnf"), "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName="
          + names + ",IP:192.0.2.7,IP:2001:db8::7\n")
    ossl("req", "-x509", "-nodes", "-days", "30", "-newkey", "rsa:2048", "-subj", "/CN=many.test",
         "-config", j("many.cnf"), "-extensions", "ext", "-keyout", j("many.key"),
         "-out", j("many.pem"))
    certs["many_sans"] = {"pem": j("many.pem"), "key": j("many.key"), "chain": []}

    for c in certs.values():
        c["ders"] = [ossl("x509", "-in", p, "-outform", "DER") for p in [c["pem"]] + c["chain"]]
    return certs


def iso(openssl_date):
    t = time.strptime(openssl_date.replace(" GMT", ""), "%b %d %H:%M:%S %Y")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def norm_san(v):
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


def expected(pem, chain_len):
    """The summary's fields as the openssl command prints them."""
    out = ossl("x509", "-in", pem, "-noout", "-fingerprint", "-sha256", "-subject", "-issuer",
               "-serial", "-dates", "-ext", "subjectAltName", "-nameopt", "RFC2253").decode()
    want = {"san": [], "chain_len": chain_len}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        key, _, val = line.partition("=")
        if key == "sha256 Fingerprint":
            want["sha256"] = val.replace(":", "").lower()
        elif key in ("subject", "issuer"):
            want[key] = val
        elif key == "serial":
            want["serial"] = val.lower()
        elif key == "notBefore":
            want["not_before"] = iso(val)
        elif key == "notAfter":
            want["not_after"] = iso(val)
        elif line.startswith("X509v3 Subject Alternative Name"):
            for item in lines[i + 1].strip().split(", "):
                kind, _, v = item.partition(":")
                if kind in ("DNS", "IP Address"):
                    want["san"].append(norm_san(v))
    sha1 = ossl("x509", "-in", pem, "-noout", "-fingerprint", "-sha1").decode().strip()
    want["sha1"] = sha1.partition("=")[2].replace(":", "").lower()
    text = ossl("x509", "-in", pem, "-noout", "-text").decode()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Signature Algorithm:") and "sig_alg" not in want:
            want["sig_alg"] = line.partition(": ")[2]
        elif line.startswith("Public Key Algorithm:"):
            alg = line.partition(": ")[2]
        elif line.startswith("Public-Key: ("):
            bits = line.split("(")[1].split()[0]
        elif line.startswith("NIST CURVE:"):
            curve = line.partition(": ")[2]
    if alg == "rsaEncryption":
        want["key"] = "rsa-" + bits
    elif alg == "id-ecPublicKey":
        want["key"] = "ec-" + curve.replace("-", "").lower()
    else:
        want["key"] = alg.lower()
    verify = subprocess.run(["openssl", "verify", "-no_check_time", "-CAfile", pem, pem],
                            capture_output=True)
    want["self_signed"] = want["subject"] == want["issuer"] and verify.returncode == 0
    return want


# ---- TLS streams ------------------------------------------------------------------------

def u16(n):
    return n.to_bytes(2, "big")


def u24(n):
    return n.to_bytes(3, "big")


def record(kind, payload, version=b"\x03\x03"):
    return bytes([kind]) + version + u16(len(payload)) + payload


def frame(kind, data, sizes):
    """data in records of the given sizes (an int, or a list cycled)."""
    sizes = sizes if isinstance(sizes, list) else [sizes]
    out, at, i = b"", 0, 0
    while at < len(data):
        n = sizes[i % len(sizes)]
        out += record(kind, data[at:at + n])
        at += n
        i += 1
    return out


def handshake(kind, body):
    return bytes([kind]) + u24(len(body)) + body


def server_hello(version=None, sid=b""):
    exts = b"\xff\x01" + u16(1) + b"\x00"
    if version is not None:
        exts += b"\x00\x2b" + u16(2) + version
    body = b"\x03\x03" + bytes(range(32)) + bytes([len(sid)]) + sid + b"\xc0\x2f\x00" + u16(
        len(exts)) + exts
    return handshake(2, body)


def certificate(ders):
    lst = b"".join(u24(len(d)) + d for d in ders)
    return handshake(11, u24(len(lst)) + lst)




def read_certificates(stream):
    """The DER certificates of the first Certificate message in a server's byte stream (TLS
    records from the first byte), read independently of src/core/cert.c: (ders, version), where
    version is the ServerHello's selected version (supported_versions first) or None; ders is
    None when the stream ends before the Certificate message is complete or has none."""
    hs, at = b"", 0
    while at + 5 <= len(stream):
        kind, n = stream[at], int.from_bytes(stream[at + 3:at + 5], "big")
        if kind != 22:
            break
        hs += stream[at + 5:at + 5 + n]
        at += 5 + n
    version, pos = None, 0
    while pos + 4 <= len(hs):
        kind, n = hs[pos], int.from_bytes(hs[pos + 1:pos + 4], "big")
        body = hs[pos + 4:pos + 4 + n]
        if len(body) < n:
            return None, version
        if kind == 2:
            version = int.from_bytes(body[:2], "big")
            sid = body[34]
            p = 35 + sid + 3
            if p + 2 <= len(body):
                end = p + 2 + int.from_bytes(body[p:p + 2], "big")
                p += 2
                while p + 4 <= end:
                    et, el = int.from_bytes(body[p:p + 2], "big"), \
                        int.from_bytes(body[p + 2:p + 4], "big")
                    if et == 0x2b and el == 2:
                        version = int.from_bytes(body[p + 4:p + 6], "big")
                    p += 4 + el
        elif kind == 11:
            ders, p = [], 3
            while p + 3 <= len(body):
                m = int.from_bytes(body[p:p + 3], "big")
                ders.append(body[p + 3:p + 3 + m])
                p += 3 + m
            return ders, version
        pos += 4 + n
    return None, version


def der_to_pem(der, path):
    """Write der as a PEM file (openssl x509 -inform DER) and return path."""
    subprocess.run(["openssl", "x509", "-inform", "DER", "-out", path], input=der, check=True,
                   capture_output=True)
    return path

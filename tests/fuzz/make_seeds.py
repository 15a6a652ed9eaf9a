#!/usr/bin/env python3
"""Write the seed inputs of one fuzz target (see tests/fuzz/README.md).

Usage: make_seeds.py TARGET DUMPDIR SHARED SRC OUTDIR

DUMPDIR holds the captures' IKE datagrams (rikectl decode --dump-dir),
SHARED is ../shared (captures, key tables, expected SK plaintexts), SRC the
source tree. The input formats are those of tests/fuzz/harness_*.c.
"""
import os
import sys

SUITES = (0, 1, 2)  # harness_wire.c: AES-GCM-16, AES-CBC + HMAC-SHA-256-128, ChaCha20-Poly1305
BLOCK = {0: 1, 1: 16, 2: 1}
PL_SK, PL_SKF = 46, 53

CTL_LINES = [
    "status", "status --json", "list-sas", "list-sas --json", "up home", "down home",
    "reload", "qcd rollover", "redirect home 192.0.2.1", "up\thome --json",
]


def write(outdir, name, data):
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def sk_inner_np(msg):
    """The SK/SKF header's next-payload octet (the first inner payload), or None."""
    if len(msg) < 28:
        return None
    np, off = msg[16], 28
    while np and off + 4 <= len(msg):
        if np in (PL_SK, PL_SKF):
            return msg[off]
        plen = int.from_bytes(msg[off + 2:off + 4], "big")
        if plen < 4:
            return None
        np, off = msg[off], off + plen
    return None


def plaintexts(shared, dumpdir):
    """(inner_np, exchange, flags, SK plaintext) from the captures' expected_decrypted.tsv."""
    out = []
    for d in sorted(os.listdir(os.path.join(shared, "captures"))):
        tsv = os.path.join(shared, "captures", d, "expected_decrypted.tsv")
        if not os.path.exists(tsv):
            continue
        for line in open(tsv):
            f = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(f) < 8:
                continue
            base = f[0].split(".")[0]
            dump = os.path.join(dumpdir, "%s-%s.ike" % (base, f[1]))
            np = sk_inner_np(open(dump, "rb").read()) if os.path.exists(dump) else None
            out.append((np if np is not None else 35, int(f[5]), int(f[6], 16), bytes.fromhex(f[7])))
    return out


def padded(inner, block):
    """inner || padding || pad length, a whole number of blocks."""
    pad = (block - (len(inner) + 1) % block) % block
    return inner + bytes(pad) + bytes([pad])


def seeds_sk(dumpdir, shared, outdir):
    n = 0
    for name in sorted(os.listdir(dumpdir)):
        data = open(os.path.join(dumpdir, name), "rb").read()
        write(outdir, "raw-" + name, bytes([0]) + data)
        n += 1
    for i, (np, exch, flags, plain) in enumerate(plaintexts(shared, dumpdir)):
        inner = plain[:len(plain) - 1 - plain[-1]] if plain and plain[-1] < len(plain) else plain
        for s in SUITES:
            write(outdir, "sealed-%d-%d" % (i, s),
                  bytes([0x80 | s, np, exch, flags]) + padded(inner, BLOCK[s]))
            n += 1
    return n


def seeds_skf(dumpdir, shared, outdir):
    n = 0
    for i, (np, _, _, plain) in enumerate(plaintexts(shared, dumpdir)):
        inner = plain[:len(plain) - 1 - plain[-1]] if plain and plain[-1] < len(plain) else plain
        for s in SUITES:
            for nfrags in (1, 2, 3):
                step = max(1, -(-len(inner) // nfrags))
                chunks = [inner[k:k + step] for k in range(0, len(inner), step)] or [b""]
                seed = bytes([s])
                for j, c in enumerate(chunks):
                    p = padded(c, BLOCK[s])[:255]
                    seed += bytes([0, np if j == 0 else 0, j + 1, len(chunks), len(p)]) + p
                write(outdir, "frags-%d-%d-%d" % (i, s, nfrags), seed)
                n += 1
    return n


def seeds_lines(lines, prefix, outdir):
    for i, line in enumerate(lines):
        write(outdir, "%s-%d" % (prefix, i), line.encode())
    return len(lines)


def main():
    target, dumpdir, shared, src, outdir = sys.argv[1:6]
    os.makedirs(outdir, exist_ok=True)
    if target == "sk":
        n = seeds_sk(dumpdir, shared, outdir)
    elif target == "skf":
        n = seeds_skf(dumpdir, shared, outdir)
    elif target == "keytable":
        lines = []
        for d in sorted(os.listdir(os.path.join(shared, "captures"))):
            t = os.path.join(shared, "captures", d, "ikev2_decryption_table")
            if os.path.exists(t):
                lines += [l.rstrip("\n") for l in open(t)]
        n = seeds_lines(lines, "row", outdir)
    elif target == "config":
        ex = os.path.join(src, "examples")
        confs = [open(os.path.join(ex, f)).read() for f in sorted(os.listdir(ex))
                 if f.endswith(".conf")] if os.path.isdir(ex) else []
        n = seeds_lines(confs, "conf", outdir)
    elif target == "ctl":
        n = seeds_lines(CTL_LINES, "line", outdir)
    else:  # decode: the datagrams as they are
        n = 0
        for name in sorted(os.listdir(dumpdir)):
            write(outdir, name, open(os.path.join(dumpdir, name), "rb").read())
            n += 1
    print("%s: %d seeds in %s" % (target, n, outdir))


if __name__ == "__main__":
    main()

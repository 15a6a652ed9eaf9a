#!/usr/bin/env python3
"""bench/init_probe.py: how fast does a responder's event loop answer while a
burst of IKE_SA_INIT requests is computed? Used by bench/crypto_workers.sh.

It sends one IKE_SA_INIT request P and waits for the answer (the responder
keeps it as its cached response, RFC 7296 2.1). Then it sends BURST requests
with distinct SPIi (RFC 7296 1.2: SA with one proposal AES-GCM-16-256 /
PRF-HMAC-SHA2-256 / GROUP, KE, Ni), WINDOW at a time at most outstanding,
and PROBE_MS after each answer to P it retransmits P and times the cached answer: that is
the event loop's latency for cheap work while the Diffie-Hellman work of the
burst is being done. MODP KE values are random numbers below p (RFC 6989 2.1
range check passes); Curve25519 values are random octets (RFC 8031).

Output, one line:
  burst B answered A secs S rate R/s probes N lost L p50 X ms p90 Y ms max Z ms
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

KE_LEN = {14: 256, 31: 32}
# RFC 3526 3: the 2048-bit MODP group's prime; the generator is 2.
MODP2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
KE_POOL = {}


def ke_value(group, i):
    """A valid KE value: g^x mod p for MODP (RFC 6989 2.1: an honest value
    lies in the subgroup, which half of all random numbers do not), random
    octets for Curve25519. 16 of them, reused (the responder's work is the
    same for each request)."""
    pool = KE_POOL.setdefault(group, [])
    if len(pool) < 16:
        if group == 31:
            pool.append(os.urandom(32))
        else:
            x = int.from_bytes(os.urandom(32), "big")
            pool.append(pow(2, x, MODP2048).to_bytes(256, "big"))
    return pool[i % len(pool)]


def request(spi, group):
    """An IKE_SA_INIT request (RFC 7296 3.1-3.9) with SPIi spi."""
    def transform(last, ttype, tid, keylen=0):
        body = struct.pack("!BBH", ttype, 0, tid)
        if keylen:
            body += struct.pack("!HH", 0x8000 | 14, keylen)
        return struct.pack("!BBH", 0 if last else 3, 0, 4 + len(body)) + body
    tr = transform(False, 1, 20, 256) + transform(False, 2, 5) + transform(True, 4, group)
    prop = struct.pack("!BBHBBBB", 0, 0, 8 + len(tr), 1, 1, 0, 3) + tr
    sa = struct.pack("!BBH", 34, 0, 4 + len(prop)) + prop  # next: KE
    ke_data = ke_value(group, spi & 0xFFFF)
    ke = struct.pack("!BBHHH", 40, 0, 8 + len(ke_data), group, 0) + ke_data  # next: Ni
    nonce = os.urandom(32)
    ni = struct.pack("!BBH", 0, 0, 4 + len(nonce)) + nonce
    body = sa + ke + ni
    hdr = struct.pack("!QQBBBBII", spi, 0, 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return hdr + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=500)
    ap.add_argument("--group", type=int, default=14, choices=sorted(KE_LEN))
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--probe-ms", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.connect((a.dst, a.port))
    base = int.from_bytes(os.urandom(4), "big") << 32
    probe_spi = base | 0xFFFFFFFF
    probe = request(probe_spi, a.group)
    s.settimeout(1)
    for _ in range(10):  # the first datagram may wait for ARP
        s.send(probe)
        try:
            m = s.recv(65535)
        except socket.timeout:
            continue
        if len(m) >= 28 and struct.unpack("!Q", m[:8])[0] == probe_spi:
            break
    else:
        print("no answer to the first request", file=sys.stderr)
        return 1
    s.setblocking(False)

    reqs = [request(base | i, a.group) for i in range(a.burst)]
    answered = set()
    sent = 0
    rtts = []
    probes = lost = 0
    probe_out = None  # send time of the probe in flight
    t0 = time.monotonic()
    next_probe = t0
    t_last = t0
    while len(answered) < a.burst and time.monotonic() - t_last < a.timeout:
        now = time.monotonic()
        while sent < a.burst and sent - len(answered) < a.window:
            try:
                s.send(reqs[sent])
            except BlockingIOError:
                break
            sent += 1
        if probe_out is not None and now - probe_out > 2.0:
            lost += 1  # unanswered for 2 s: counted lost, sent again
            probe_out = None
        if probe_out is None and now >= next_probe:
            s.send(probe)
            probes += 1
            probe_out = now
        r, _, _ = select.select([s], [], [], max(0.0, min(next_probe - time.monotonic(), 0.01)))
        if not r:
            continue
        while True:
            try:
                m = s.recv(65535)
            except BlockingIOError:
                break
            if len(m) < 28:
                continue
            spi = struct.unpack("!Q", m[:8])[0]
            if spi == probe_spi:
                if probe_out is not None:
                    t = time.monotonic()
                    rtts.append((t - probe_out) * 1000.0)
                    probe_out = None
                    next_probe = t + a.probe_ms / 1000.0
            elif (spi >> 32) == (base >> 32):
                answered.add(spi)
                t_last = time.monotonic()
    secs = t_last - t0
    rtts.sort()

    def pct(p):
        return rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else float("nan")
    print("burst %d answered %d secs %.3f rate %.0f/s probes %d lost %d "
          "p50 %.2f ms p90 %.2f ms max %.2f ms" %
          (a.burst, len(answered), secs, len(answered) / secs if secs > 0 else 0,
           probes, lost, pct(0.5), pct(0.9), rtts[-1] if rtts else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""TCP transfer check for the dataplane namespace test.

  tcpx.py server ADDR PORT       accept one connection, print sha256 and length of what arrived
  tcpx.py client ADDR PORT NBYTES send NBYTES of seeded pseudo-random data, print its sha256
"""
import hashlib
import random
import socket
import sys

def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    h = hashlib.sha256()
    if mode == "server":
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(1)
        s.settimeout(20)
        print("listening", flush=True)
        c, _ = s.accept()
        c.settimeout(20)
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            h.update(d)
            n += len(d)
        print(h.hexdigest(), n, flush=True)
    else:
        total = int(sys.argv[4])
        data = random.Random(4303).randbytes(total)
        h.update(data)
        c = socket.create_connection((addr, port), timeout=20)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()
        print(h.hexdigest(), total, flush=True)

main()

#!/usr/bin/env python3
"""A stand-in for systemd's side of sd_notify(3) (tests/tools/test_package.sh):
binds a datagram socket at PATH, prints each message it receives as one
line "SECONDS FIELD=VALUE|FIELD=VALUE" (monotonic seconds since start) to
OUT, and stops after IDLE seconds without one or after LIMIT seconds."""
import os
import socket
import sys
import time

path, out_path = sys.argv[1], sys.argv[2]
idle = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
limit = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)  # the path appears only once it is bound
t0 = time.monotonic()
with open(out_path, "a", buffering=1) as out:
    while time.monotonic() - t0 < limit:
        s.settimeout(min(idle, max(0.1, limit - (time.monotonic() - t0))))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        out.write("%.3f %s\n" % (time.monotonic() - t0, d.decode(errors="replace").replace("\n", "|")))

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# udpflood.py SRC DST PORT SECONDS [PPS]: UDP datagrams from SRC to DST (test namespaces only),
# at most PPS a second (0: as fast as it can), for SECONDS; prints how many were sent.
import socket
import sys
import time

src, dst, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
pps = int(sys.argv[5]) if len(sys.argv) > 5 else 0
family = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((src, 0))
start = time.time()
end = start + seconds
sent = 0
while True:
    now = time.time()
    if now >= end:
        break
    if pps and sent >= (now - start) * pps:
        time.sleep(0.001)
        continue
    try:
        s.sendto(b"x" * 18, (dst, port))
        sent += 1
    except OSError:
        time.sleep(0.001)
print(sent)

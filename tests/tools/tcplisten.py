#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# tcplisten.py ADDR PORT... : listens on each port (test namespaces only) and accepts and closes
# every connection until killed; prints "ready" once all are bound.
import select, socket, sys

addr, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
socks = []
for p in ports:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, p))
    s.listen(64)
    socks.append(s)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        c, _ = s.accept()
        c.close()

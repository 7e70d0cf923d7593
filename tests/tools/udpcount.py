#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# udpcount.py ADDR SECONDS PORT...: counts the UDP datagrams each port receives for SECONDS and
# prints {"PORT": count, ...} as JSON. Writes "ready" to stderr once every port is bound.
import json, select, socket, sys, time

addr, seconds, ports = sys.argv[1], float(sys.argv[2]), [int(p) for p in sys.argv[3:]]
socks = {}
for p in ports:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, p))
    socks[s] = p
counts = {str(p): 0 for p in ports}
print("ready", file=sys.stderr, flush=True)
end = time.monotonic() + seconds
while (left := end - time.monotonic()) > 0:
    for s in select.select(list(socks), [], [], left)[0]:
        s.recv(2048)
        counts[str(socks[s])] += 1
print(json.dumps(counts))

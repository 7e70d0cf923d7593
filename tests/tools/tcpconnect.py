#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# tcpconnect.py SRC DST PORT [TIMEOUT]: one TCP connect from SRC to DST:PORT (test namespaces
# only); exits 0 when it completes, 1 when it fails or times out (default 1.5 s).
import socket, sys

src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
try:
    s = socket.create_connection((dst, port), timeout=timeout, source_address=(src, 0))
    s.close()
except OSError as e:
    print(e, file=sys.stderr)
    sys.exit(1)

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# netprobe.py: one network action, its outcome as JSON on stdout (for the policy e2e tests).
#   netprobe.py tcp ADDR PORT [TIMEOUT]       connect(); {"errno": "EPERM"|..., "ms": N} (errno 0: connected)
#   netprobe.py udp ADDR PORT COUNT           COUNT sendto()s; {"sent": n, "errno": first error}
#   netprobe.py udp-connected ADDR PORT COUNT connect() then send(); the same
#   netprobe.py serve-tcp ADDR PORT SECONDS   accept and answer "ok" for SECONDS; "ready" on stderr
#   netprobe.py echo-udp ADDR PORT SECONDS    answer every datagram for SECONDS; "ready" on stderr
#   netprobe.py ask-udp ADDR PORT             one datagram, wait 1 s for the answer: {"answered": bool}
#   netprobe.py get-tcp ADDR PORT             connect, read the answer: {"answer": "ok"|null, "errno": ...}
import errno, json, select, socket, sys, time

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else type(e).__name__

cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if cmd == "tcp":
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
        res = 0
    except socket.timeout:
        res = "ETIMEDOUT"
    except OSError as e:
        res = err_name(e)
    print(json.dumps({"errno": res, "ms": int((time.monotonic() - t0) * 1000)}))
elif cmd in ("udp", "udp-connected"):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    first, sent = 0, 0
    try:
        if cmd == "udp-connected":
            s.connect((addr, port))
        for _ in range(int(sys.argv[4])):
            if cmd == "udp-connected":
                s.send(b"x" * 16)
            else:
                s.sendto(b"x" * 16, (addr, port))
            sent += 1
    except OSError as e:
        first = err_name(e)
    print(json.dumps({"sent": sent, "errno": first}))
elif cmd == "serve-tcp":
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    print("ready", file=sys.stderr, flush=True)
    end = time.monotonic() + float(sys.argv[4])
    while (left := end - time.monotonic()) > 0:
        if select.select([s], [], [], left)[0]:
            c, _ = s.accept()
            c.sendall(b"ok")
            c.close()
elif cmd == "echo-udp":
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", file=sys.stderr, flush=True)
    end = time.monotonic() + float(sys.argv[4])
    while (left := end - time.monotonic()) > 0:
        if select.select([s], [], [], left)[0]:
            data, peer = s.recvfrom(2048)
            try:
                s.sendto(data, peer)
            except OSError:
                pass
elif cmd == "ask-udp":
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(b"ask", (addr, port))
        s.recv(2048)
        print(json.dumps({"answered": True}))
    except (OSError, socket.timeout) as e:
        print(json.dumps({"answered": False, "errno": err_name(e)}))
elif cmd == "get-tcp":
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect((addr, port))
        print(json.dumps({"answer": s.recv(16).decode(), "errno": 0}))
    except socket.timeout:
        print(json.dumps({"answer": None, "errno": "ETIMEDOUT"}))
    except OSError as e:
        print(json.dumps({"answer": None, "errno": err_name(e)}))
else:
    sys.exit("unknown command " + cmd)

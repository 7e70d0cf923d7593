#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# xfer.py: one connection (TCP) or one exchange (UDP) that moves exactly N bytes one way and M
# bytes back, for the visibility tests. Each side writes a JSON line with its pid and ports to
# --info when done (and the server "ready" to stderr once it listens).
#   xfer.py server tcp|udp ADDR PORT --recv N --send M --info FILE
#   xfer.py client tcp|udp ADDR PORT --send N --recv M --info FILE
# UDP goes in datagrams of 1200 bytes (the last one shorter), paced so that nothing is lost on a
# veth; the client connect()s, the server answers with sendto() from an unconnected socket.
import argparse, json, os, socket, struct, sys, time

DGRAM = 1200
SO_RCVBUFFORCE = 33  # not in Python's socket module


def tcp_info(s):
    """What the kernel counted for the socket (struct tcp_info): segments and bytes it resent,
    once everything it was given to send has been sent and acknowledged."""
    for _ in range(500):
        ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        unacked, notsent = struct.unpack_from("I", ti, 24)[0], struct.unpack_from("I", ti, 144)[0]
        if not unacked and not notsent:
            break
        time.sleep(0.01)
    return {"segs_out": struct.unpack_from("I", ti, 136)[0], "segs_in": struct.unpack_from("I", ti, 140)[0],
            "bytes_retrans": struct.unpack_from("Q", ti, 208)[0]}


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv_exact(s, n):
    got = 0
    while got < n:
        d = s.recv(min(1 << 20, n - got))
        if not d:
            raise SystemExit(f"xfer: peer closed after {got} of {n} bytes")
        got += len(d)


def send_dgrams(s, n, dest=None):
    sent = count = 0
    while sent < n:
        chunk = b"u" * min(DGRAM, n - sent)
        s.sendto(chunk, dest) if dest else s.send(chunk)
        sent += len(chunk)
        count += 1
        if count % 32 == 0:
            time.sleep(0.0005)
    return count


def recv_dgrams(s, n):
    got = count = 0
    peer = None
    s.settimeout(10)
    while got < n:
        d, peer = s.recvfrom(65536)
        got += len(d)
        count += 1
    return count, peer


def server(a):
    fam = family(a.addr)
    if a.proto == "tcp":
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.addr, a.port))
        ls.listen(1)
        print("ready", file=sys.stderr, flush=True)
        c, peer = ls.accept()
        recv_exact(c, a.recv)
        c.sendall(b"s" * a.send)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
        info = {"pid": os.getpid(), "port": c.getsockname()[1], "peer_port": peer[1], **tcp_info(c)}
        c.close()
    else:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        s.bind((a.addr, a.port))
        print("ready", file=sys.stderr, flush=True)
        got, peer = recv_dgrams(s, a.recv)
        sent = send_dgrams(s, a.send, peer)
        info = {"pid": os.getpid(), "port": s.getsockname()[1], "peer_port": peer[1],
                "datagrams_in": got, "datagrams_out": sent}
        s.close()
    with open(a.info, "w") as f:
        json.dump(info, f)


def client(a):
    fam = family(a.addr)
    if a.proto == "tcp":
        c = socket.create_connection((a.addr, a.port), timeout=10)
        c.sendall(b"c" * a.send)
        c.shutdown(socket.SHUT_WR)
        recv_exact(c, a.recv)
        while c.recv(65536):
            pass
        info = {"pid": os.getpid(), "port": c.getsockname()[1], **tcp_info(c)}
        c.close()
    else:
        c = socket.socket(fam, socket.SOCK_DGRAM)
        c.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        c.connect((a.addr, a.port))
        sent = send_dgrams(c, a.send)
        got, _ = recv_dgrams(c, a.recv)
        info = {"pid": os.getpid(), "port": c.getsockname()[1], "datagrams_out": sent, "datagrams_in": got}
        c.close()
    with open(a.info, "w") as f:
        json.dump(info, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("proto", choices=["tcp", "udp"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--recv", type=int, default=0)
    p.add_argument("--info", required=True)
    a = p.parse_args()
    (server if a.role == "server" else client)(a)


main()

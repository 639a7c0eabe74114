#!/usr/bin/python3
"""Watch interfaces for frames MAC addresses send, and say when each came
and on which interface, as JSON lines on stdout:

  {"t": MONOTONIC_S, "dev": "sega", "src": "00:16:3e:...", "type": 32821,
   "dst": "ff:ff:..."}

(type 0x8035 = 32821 is RARP, 0x0806 = 2054 ARP, 0x0800 = 2048 IPv4).
Runs until SIGTERM or SIGINT, takes what came before it, then prints
{"drops": N}: frames the
kernel could not queue for it (a test must not trust a sniffer that
dropped any). The times are CLOCK_MONOTONIC, as gw-net-client's, so the
two can be compared.

Usage: netsniff.py IFACE[,IFACE...] MAC[,MAC...] > FILE (a pipe that nobody reads
while it runs would fill and stop it)."""

import json
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 3
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35  # also SCM_TIMESTAMPNS
SOL_PACKET = 263
PACKET_STATISTICS = 6


# CLOCK_REALTIME (the stamps) to CLOCK_MONOTONIC, taken once.
OFFSET = time.time() - time.monotonic()


def arrival(anc):
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9 - OFFSET
    return time.monotonic()


def drain(s, dev, mac):
    while True:
        try:
            f, anc, _, addr = s.recvmsg(65536, 64)
        except BlockingIOError:
            return
        # Frames the host itself sends out of the port: skip.
        if addr[2] == socket.PACKET_OUTGOING or f[6:12] not in mac:
            continue
        print(json.dumps({"t": arrival(anc), "dev": dev,
                          "src": f[6:12].hex(":"),
                          "type": int.from_bytes(f[12:14], "big"),
                          "dst": f[0:6].hex(":")}), flush=True)


def main(argv):
    devs = argv[1].split(",")
    mac = {bytes.fromhex(m.replace(":", "")) for m in argv[2].split(",")}
    socks = {}
    for d in devs:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                          socket.htons(ETH_P_ALL))
        # A busy host may hold us off for a while: room for seconds.
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        # The kernel's arrival time, not when we got round to reading.
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind((d, 0))
        s.setblocking(False)
        socks[s] = d
    running = [True]
    signal.signal(signal.SIGTERM, lambda *a: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *a: running.__setitem__(0, False))
    print(json.dumps({"ready": True}), flush=True)
    while running[0]:
        try:
            ready, _, _ = select.select(list(socks), [], [], 0.1)
        except InterruptedError:
            continue
        for s in ready:
            drain(s, socks[s], mac)
    for s in socks:  # what came before the signal, to the last frame
        drain(s, socks[s], mac)
    drops = 0
    for s in socks:
        st = s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        drops += int.from_bytes(st[4:8], "little")
    print(json.dumps({"drops": drops}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

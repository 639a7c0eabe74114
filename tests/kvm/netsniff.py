#!/usr/bin/python3
"""Watch interfaces for frames a MAC address sends, and say when each came
and on which interface, as JSON lines on stdout:

  {"t": MONOTONIC_S, "dev": "sega", "type": 32821, "dst": "ff:ff:..."}

(type 0x8035 = 32821 is RARP, 0x0806 = 2054 ARP, 0x0800 = 2048 IPv4).
Runs until SIGTERM or SIGINT. The times are CLOCK_MONOTONIC, as
gw-net-client's, so the two can be compared.

Usage: netsniff.py IFACE[,IFACE...] MAC"""

import json
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 3


def main(argv):
    devs = argv[1].split(",")
    mac = bytes.fromhex(argv[2].replace(":", ""))
    socks = {}
    for d in devs:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                          socket.htons(ETH_P_ALL))
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
            while True:
                try:
                    f, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                t = time.monotonic()
                # Frames the host itself sends out of the port: skip.
                if addr[2] == socket.PACKET_OUTGOING or f[6:12] != mac:
                    continue
                print(json.dumps({"t": t, "dev": socks[s],
                                  "type": int.from_bytes(f[12:14], "big"),
                                  "dst": f[0:6].hex(":")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""Write the seeds of the net fuzz target (tests/fuzz/corpus/net/):
receive rings as a driver lays them out (one buffer per chain, merged
buffers, a chain of several buffers, an indirect table, EVENT_IDX) with
frames that fit, need several buffers, do not fit, or carry offload
headers the driver did not accept; and broken rings (a readable-only
buffer, a first buffer shorter than the header, a buffer outside RAM).
Layout: 30-byte header (u16 size, u16 features, u16 next_avail, u16
next_used, u32 desc, u32 avail, u32 used, u8 flags, u8 nframes, 4 x u16
frame lengths), then 64 KiB of guest RAM from 0, then the frames."""

import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                    "corpus", "net")
DESC, AVAIL, USED, DATA, TABLE = 0x0, 0x1000, 0x2000, 0x4000, 0x3000
NEXT, WRITE, INDIRECT = 1, 2, 4
MRG, GUEST_CSUM, TSO4 = 1 << 15, 1 << 1, 1 << 7
IMAGE = 64 * 1024


def header(size, features, frames, flags=0):
    lens = [len(f) for f in frames] + [0] * (4 - len(frames))
    return struct.pack("<HHHHIIIBB4H", size, features, 0, 0, DESC, AVAIL,
                       USED, flags, len(frames), *lens)


def desc(ram, table, i, addr, length, flags, nxt=0):
    struct.pack_into("<QIHH", ram, table + 16 * i, addr, length, flags, nxt)


def publish(ram, size, heads):
    for k, head in enumerate(heads):
        struct.pack_into("<H", ram, AVAIL + 4 + 2 * (k % size), head)
    struct.pack_into("<H", ram, AVAIL + 2, len(heads))


def frame(n, flags=0, gso=0):
    return bytes([flags, gso]) + bytes(10) + bytes((i * 7 + 1) & 0xff
                                                   for i in range(n))


def write(name, hdr, ram, frames):
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(hdr + bytes(ram) + b"".join(frames))


def buffers(n, length, size=16, flags=WRITE):
    ram = bytearray(IMAGE)
    for i in range(n):
        desc(ram, DESC, i, DATA + i * 0x800, length, flags)
    publish(ram, size, list(range(n)))
    return ram


def main():
    fr = [frame(60), frame(1500)]
    write("one-buffer.bin", header(16, 0, fr), buffers(4, 2048), fr)
    fr = [frame(3000), frame(100), frame(5000)]
    write("merged.bin", header(16, MRG, fr), buffers(6, 1024), fr)
    write("too-few.bin", header(16, MRG, [frame(4000)]), buffers(2, 1024),
          [frame(4000)])
    write("too-small.bin", header(16, 0, [frame(500)]), buffers(1, 200),
          [frame(500)])
    fr = [frame(100, 1), frame(100, 0, 1), frame(100, 2, 0x81)]
    write("offload-refused.bin", header(16, MRG, fr), buffers(4, 2048), fr)
    write("offload-ok.bin", header(16, MRG | GUEST_CSUM | TSO4, fr),
          buffers(4, 2048), fr)
    ram = bytearray(IMAGE)
    desc(ram, DESC, 0, DATA, 12, WRITE | NEXT, 1)
    desc(ram, DESC, 1, DATA + 0x100, 1000, WRITE)
    publish(ram, 8, [0])
    write("chain.bin", header(8, 0, [frame(500)]), ram, [frame(500)])
    ram = bytearray(IMAGE)
    desc(ram, TABLE, 0, DATA, 64, WRITE | NEXT, 1)
    desc(ram, TABLE, 1, DATA + 0x100, 1000, WRITE)
    desc(ram, DESC, 0, TABLE, 32, INDIRECT)
    publish(ram, 8, [0])
    write("indirect.bin", header(8, MRG, [frame(900)], flags=3), ram,
          [frame(900)])
    write("readable-only.bin", header(16, MRG, [frame(50)]),
          buffers(2, 1024, flags=0), [frame(50)])
    write("short-first.bin", header(16, MRG, [frame(50)]), buffers(2, 8),
          [frame(50)])
    ram = buffers(1, 4096)
    desc(ram, DESC, 0, 2 * 1024 * 1024 - 100, 4096, WRITE)
    write("outside-ram.bin", header(16, MRG, [frame(50)]), ram, [frame(50)])


if __name__ == "__main__":
    main()

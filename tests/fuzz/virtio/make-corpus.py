#!/usr/bin/python3
"""Write the seeds of the virtio fuzz target (tests/fuzz/corpus/virtio/):
rings laid out as a driver would, good (a chain, an indirect table,
EVENT_IDX, a wrapped index) and broken (a loop, a table inside a table,
a jumping index, a buffer outside RAM), and a saved console state.
Layout: 20-byte header (u16 size, u8 flags, u8 max, u16 next_avail,
u16 next_used, u32 desc, u32 avail, u32 used), then guest RAM from 0."""

import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                    "corpus", "virtio")
DESC, AVAIL, USED, DATA, TABLE = 0x0, 0x100, 0x200, 0x400, 0x600
NEXT, WRITE, INDIRECT = 1, 2, 4


def image(size=8, flags=0, maxbufs=16, next_avail=0, next_used=0):
    hdr = struct.pack("<HBBHHIII", size, flags, maxbufs, next_avail,
                      next_used, DESC, AVAIL, USED)
    return hdr, bytearray(0x800)


def desc(ram, table, i, addr, length, flags, nxt=0):
    struct.pack_into("<QIHH", ram, table + 16 * i, addr, length, flags, nxt)


def publish(ram, size, heads, start=0):
    for k, head in enumerate(heads):
        struct.pack_into("<H", ram, AVAIL + 4 + 2 * ((start + k) % size),
                         head)
    struct.pack_into("<H", ram, AVAIL + 2, (start + len(heads)) & 0xffff)


def write(name, hdr, ram):
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(hdr + bytes(ram))


def chain():
    hdr, ram = image()
    desc(ram, DESC, 0, DATA, 16, NEXT, 1)
    desc(ram, DESC, 1, DATA + 16, 8, NEXT, 2)
    desc(ram, DESC, 2, DATA + 64, 32, WRITE)
    desc(ram, DESC, 3, DATA + 128, 4, 0)
    publish(ram, 8, [0, 3])
    write("chain.bin", hdr, ram)


def indirect():
    hdr, ram = image(flags=2)
    desc(ram, TABLE, 0, DATA, 16, NEXT, 1)
    desc(ram, TABLE, 1, DATA + 64, 32, WRITE)
    desc(ram, DESC, 0, TABLE, 32, INDIRECT)
    publish(ram, 8, [0])
    write("indirect.bin", hdr, ram)


def event_idx():
    hdr, ram = image(flags=3, next_avail=65534, next_used=65534)
    for i in range(4):
        desc(ram, DESC, i, DATA + 16 * i, 16, WRITE)
    publish(ram, 8, [0, 1, 2, 3], start=65534)
    struct.pack_into("<H", ram, AVAIL + 4 + 16, 65535)  # used_event
    write("event-idx-wrap.bin", hdr, ram)


def broken():
    hdr, ram = image()
    desc(ram, DESC, 0, DATA, 1, NEXT, 1)
    desc(ram, DESC, 1, DATA, 1, NEXT, 0)
    publish(ram, 8, [0])
    write("loop.bin", hdr, ram)
    hdr, ram = image(flags=2)
    desc(ram, TABLE, 0, TABLE + 0x80, 16, INDIRECT)
    desc(ram, DESC, 0, TABLE, 16, INDIRECT)
    publish(ram, 8, [0])
    write("nested-indirect.bin", hdr, ram)
    hdr, ram = image()
    publish(ram, 8, [0])
    struct.pack_into("<H", ram, AVAIL + 2, 100)
    write("avail-jump.bin", hdr, ram)
    hdr, ram = image()
    desc(ram, DESC, 0, 0x1ff000, 0x2000, 0)
    publish(ram, 8, [0])
    write("outside-ram.bin", hdr, ram)
    hdr, ram = image(size=6)
    write("bad-size.bin", hdr, ram)


def console_state():
    # virtio_mmio_state (376 bytes) then the console's fields (272).
    vio = struct.pack("<QIIQIIIIIIII", 0xd0000000, 16, 3, (1 << 32) | 3 << 28,
                      0, 0, 1, 0x0f, 1, 0, 2, 0)
    q = struct.pack("<QQQHHHHII", DESC, AVAIL, USED, 8, 1, 5, 5, 0, 0)
    queues = q + q.replace(struct.pack("<Q", DESC), struct.pack("<Q", 0x300),
                           1) + bytes(40 * 6)
    con = struct.pack("<HHIII", 0, 0, 1, 1, 3) + b"ls\n" + bytes(253)
    hdr = struct.pack("<HBBHHIII", 0, 0x80, 0, 0, 0, 0, 0, 0)
    with open(os.path.join(HERE, "console-state.bin"), "wb") as f:
        f.write(hdr + vio + queues + con)


chain()
indirect()
event_idx()
broken()
console_state()

#!/usr/bin/python3
"""Write the seeds of the virtio fuzz target (tests/fuzz/corpus/virtio/):
rings laid out as a driver would, good (a chain, an indirect table,
EVENT_IDX, a wrapped index) and broken (a loop, a table inside a table,
a jumping index, a buffer outside RAM), a saved console state, and
virtio-blk requests (flags bit 6) framed as drivers do and as they must
not, and a saved virtio-blk state.
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


BLK, DISCARD, ZEROES, RO = 0x40, 0x04, 0x08, 0x20


def blk_hdr(ram, at, rtype, sector):
    struct.pack_into("<IIQ", ram, at, rtype, 0, sector)


def blk_requests():
    # A read [header][data + status], a write [header + data][status],
    # a flush, a GET_ID, a write-zeroes segment, an unknown type.
    hdr, ram = image(size=16, flags=BLK | DISCARD | ZEROES | 3)
    blk_hdr(ram, DATA, 0, 8)
    desc(ram, DESC, 0, DATA, 16, NEXT, 1)
    desc(ram, DESC, 1, DATA + 0x100, 513, WRITE)
    blk_hdr(ram, DATA + 0x20, 1, 2047)
    desc(ram, DESC, 2, DATA + 0x20, 16 + 512, NEXT, 3)
    desc(ram, DESC, 3, DATA + 0x300, 1, WRITE)
    blk_hdr(ram, DATA + 0x40, 4, 0)
    desc(ram, DESC, 4, DATA + 0x40, 16, NEXT, 5)
    desc(ram, DESC, 5, DATA + 0x301, 1, WRITE)
    blk_hdr(ram, DATA + 0x60, 8, 0)
    desc(ram, DESC, 6, DATA + 0x60, 16, NEXT, 7)
    desc(ram, DESC, 7, DATA + 0x310, 21, WRITE)
    blk_hdr(ram, DATA + 0x80, 13, 0)
    struct.pack_into("<QII", ram, DATA + 0x90, 16, 8, 1)
    desc(ram, DESC, 8, DATA + 0x80, 32, NEXT, 9)
    desc(ram, DESC, 9, DATA + 0x302, 1, WRITE)
    blk_hdr(ram, DATA + 0xa0, 99, 0)
    desc(ram, DESC, 10, DATA + 0xa0, 16, NEXT, 11)
    desc(ram, DESC, 11, DATA + 0x303, 1, WRITE)
    publish(ram, 16, [0, 2, 4, 6, 8, 10])
    write("blk-requests.bin", hdr, ram)
    # Read-only: a write and a discard; a short header; no status byte.
    hdr, ram = image(size=8, flags=BLK | RO)
    blk_hdr(ram, DATA, 1, 0)
    desc(ram, DESC, 0, DATA, 16 + 512, NEXT, 1)
    desc(ram, DESC, 1, DATA + 0x300, 1, WRITE)
    desc(ram, DESC, 2, DATA, 8, NEXT, 3)
    desc(ram, DESC, 3, DATA + 0x300, 1, WRITE)
    desc(ram, DESC, 4, DATA, 16, 0)
    publish(ram, 8, [0, 2, 4])
    write("blk-broken.bin", hdr, ram)


def blk_state():
    # virtio_mmio_state (376) then the virtio-blk fields (64).
    feat = (1 << 32) | 3 << 28 | 1 << 2 | 1 << 6 | 1 << 9 | 1 << 12 | \
        1 << 13 | 1 << 14
    vio = struct.pack("<QIIQIIIIIIII", 0xd0001000, 17, 2, feat, 0, 0, 0,
                      0x0f, 1, 0, 1, 0)
    q = struct.pack("<QQQHHHHII", DESC, AVAIL, USED, 8, 1, 5, 5, 0, 0)
    blk = struct.pack("<QQIIIIHHI", 2048, feat, 126, 512, 1 << 22, 1 << 22,
                      1, 0, 0) + b"xvda" + bytes(16) + bytes(4)
    hdr = struct.pack("<HBBHHIII", 0, 0x80 | BLK, 0, 0, 0, 0, 0, 0)
    with open(os.path.join(HERE, "blk-state.bin"), "wb") as f:
        f.write(hdr + vio + q + bytes(40 * 7) + blk)


chain()
indirect()
event_idx()
broken()
console_state()
blk_requests()
blk_state()

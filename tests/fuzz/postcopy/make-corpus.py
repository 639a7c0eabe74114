#!/usr/bin/python3
"""Write the post-copy fuzz seeds (no KVM needed): make-corpus.py.
Each seed: RAM size selector, POSTCOPY body length, the body, then
messages as a source or destination sends them."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../kvm"))
from lib.stream import crc32c  # noqa: E402

OUT = os.path.join(HERE, "../corpus/postcopy")
ID = b"fuzz-stream-id!\0"
REGION = 2 << 20


def msg(typ, region=0, arg=0, data=b""):
    dcrc = crc32c(data) if data else 0
    m = struct.pack("<IIQIIII", 0x50574447, typ, region, len(data), arg,
                    dcrc, 0)
    return struct.pack("<IIQIIII", 0x50574447, typ, region, len(data), arg,
                       dcrc, crc32c(m)) + data


def body(nr, pending):
    words = [0] * ((nr + 63) // 64)
    for r in pending:
        words[r // 64] |= 1 << (r % 64)
    return struct.pack("<IHHQQ", 512, 4242, 0, nr, len(pending)) + \
        b"".join(struct.pack("<Q", w) for w in words)


def seed(name, sel, b, msgs):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([sel]) + struct.pack("<H", len(b)) + b + msgs)


# sel 15: 16 * 4 MiB = 64 MiB, 32 regions
b = body(32, [0, 5, 31])
hello_pages = msg(1, 0, 1, ID + struct.pack("<Q", 0x80000021))
seed("hello-request-region.bin", 15, b,
     hello_pages + msg(1, 0, 2, ID) + msg(2, 5) +
     msg(3, 5, 1) + msg(3, 31, 1) + msg(5) + msg(6))
seed("done-bye.bin", 15, b, msg(4) + msg(6))
seed("bad-map.bin", 15, body(32, [0]) + b"", msg(1, 0, 1, ID + b"\xff" * 8))
seed("empty-plan.bin", 0, body(1, []), msg(3, 0, 1))
for f in sorted(os.listdir(OUT)):
    print(f, os.path.getsize(os.path.join(OUT, f)))

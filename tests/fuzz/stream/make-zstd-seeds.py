#!/usr/bin/python3
"""Add the stream fuzz seeds for PAGE_ZSTD and CONNECTIONS to the corpus,
made from the state-only seed (no KVM needed; needs the zstd program):
a valid compressed batch, a decompression bomb, a frame whose length
lies, and a stream that asks for several connections."""
import os, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../kvm"))
from lib.stream import Stream, Record, crc32c
PAGE_ZSTD, CONNECTIONS = 0x13, 0x14
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../corpus/stream")
base = open(out + "/state-only.bin", "rb").read()


def zstd(data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        # From a file, zstd records the content size in the frame.
        return subprocess.run(["zstd", "-1", "-q", "-c", f.name], check=True,
                              stdout=subprocess.PIPE).stdout


def batch(entries, data_pages, frame, frame_len=None):
    flen = len(frame) if frame_len is None else frame_len
    return struct.pack("<IIII", len(entries), 0, data_pages, flen) + \
        b"".join(struct.pack("<Q", e) for e in entries) + frame


def seed(name, records, live=False):
    s = Stream(base)
    if live:
        s.fields[2] = 1
    for i, r in enumerate(records):
        s.records.insert(1 + i, r)
    open(os.path.join(out, name), "wb").write(s.encode())


pages = b"\xab" * 100 + b"\x00" * 3996 + bytes(range(256)) * 16
frame = zstd(pages)
seed("zstd-pages.bin", [Record(0, PAGE_ZSTD, batch(
    [0x100, 0x101 | (1 << 56), 0x102], 2, frame))])
seed("zstd-bomb.bin", [Record(0, PAGE_ZSTD, batch(
    [0x100], 1, zstd(b"\x00" * (16 << 20))))])
seed("zstd-lying-length.bin", [Record(0, PAGE_ZSTD, batch(
    [0x100, 0x102], 2, frame[:-4]))])
seed("connections.bin", [Record(0, CONNECTIONS, struct.pack("<II", 4, 0))],
     live=True)


# Extra connections (CONNECTIONS): a hello, then records chained from it.
def hello(index, count, stream_id=b"\x42" * 16, header_crc=0x1234):
    raw = struct.pack("<IIII", 0x43574447, index, count, 0) + stream_id + \
        struct.pack("<II", header_crc, 0)
    crc = crc32c(raw)
    return raw[:-4] + struct.pack("<I", crc), crc


def conn_seed(name, records, index=1, count=2):
    head, chain = hello(index, count)
    out, size = [head], len(head)
    for seq, r in enumerate(records):
        if r.type == 0:
            r.body = struct.pack("<QQII", seq, size, chain, 0)
        b, chain = r.encode(2, chain, seq)
        out.append(b)
        size += len(b)
    open(os.path.join(out_dir, name), "wb").write(b"".join(out))


out_dir = out
rnd0 = Record(0, 0x8000000F, struct.pack("<IIQQQ", 0, 0, 2, 0, 0))
rnd1 = Record(0, 0x8000000F, struct.pack("<IIQQQ", 1, 0, 1, 0, 0))
page = Record(0, 1, struct.pack("<IIQQ", 2, 0, 0x100, 0x101 | (1 << 56))
              + b"\xcd" * 4096)
zpage = Record(0, PAGE_ZSTD, batch([0x102, 0x103], 2, frame))
conn_seed("conn-rounds.bin", [page, rnd0, zpage, rnd1, Record(0, 0, b"")])
conn_seed("conn-no-end.bin", [page, rnd0, zpage])
conn_seed("conn-bad-round.bin", [rnd1, page, Record(0, 0, b"")])
conn_seed("conn-state-record.bin",
          [Record(0, 0x0D, b"\0" * 24), Record(0, 0, b"")])

#!/usr/bin/python3
"""Add the stream fuzz seeds for PAGE_ZSTD and CONNECTIONS to the corpus,
made from the state-only seed (no KVM needed; needs the zstd program):
a valid compressed batch, a decompression bomb, a frame whose length
lies, and a stream that asks for several connections."""
import os, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../kvm"))
from lib.stream import Stream, Record
PAGE_ZSTD, CONNECTIONS = 0x12, 0x13
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

"""Reading and re-writing godwit streams in tests (docs/stream-format.md),
so that tests can cut, corrupt and forge records with valid checksums."""

import struct

HEADER = struct.Struct("<8sIIIIQII12sIII")  # 64 bytes
REC = struct.Struct("<IIII")  # type, length, crc, reserved

END, PAGE_DATA, VCPU_REGS, VCPU_LAPIC, DEVICE = 0x0, 0x1, 0x2, 0x7, 0xE


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def pad8(n):
    return (n + 7) & ~7


class Record:
    def __init__(self, offset, rtype, body):
        self.offset, self.type, self.body = offset, rtype, body

    def encode(self):
        crc = crc32c(self.body, crc32c(struct.pack("<II", self.type,
                                                   len(self.body))))
        return (REC.pack(self.type, len(self.body), crc, 0) + self.body +
                b"\0" * (pad8(len(self.body)) - len(self.body)))


class Stream:
    """A parsed stream: header fields, config text and records."""

    def __init__(self, data):
        self.fields = list(HEADER.unpack_from(data, 0))
        config_len = self.fields[4]
        self.config = data[64:64 + config_len]
        off = 64 + pad8(config_len)
        self.header_end = off
        self.records = []
        while off < len(data):
            rtype, length, crc, _ = REC.unpack_from(data, off)
            self.records.append(Record(off, rtype,
                                       data[off + 16:off + 16 + length]))
            off += 16 + pad8(length)

    def boundaries(self):
        """Every offset where a record starts, and the end."""
        return [self.header_end] + [r.offset + 16 + pad8(len(r.body))
                                    for r in self.records]

    def header(self):
        f = list(self.fields)
        f[11] = 0
        raw = HEADER.pack(*f)
        crc = crc32c(self.config, crc32c(raw))
        f[11] = crc
        return (HEADER.pack(*f) + self.config +
                b"\0" * (pad8(len(self.config)) - len(self.config)))

    def encode(self):
        return self.header() + b"".join(r.encode() for r in self.records)

    def find(self, rtype):
        return [r for r in self.records if r.type == rtype]

    # header field indexes
    MEM_BYTES, NR_VCPUS, VENDOR, DIGEST = 5, 6, 8, 9

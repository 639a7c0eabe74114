"""Reading and re-writing godwit streams in tests (docs/stream-format.md),
revisions 1 and 2, so that tests can cut, corrupt and forge records.

Stream(data).encode() re-seals everything: the header CRC, and in
revision 2 the record chain (sequence numbers, chained CRCs) and END's
count and digest, so a forged stream passes every check but the one a
test aims at. Each Record also keeps its original bytes (raw), so a test
can splice streams the way a damaged or mixed-up file would be: without
re-sealing anything."""

import struct

HEADER = struct.Struct("<8sIIIIQII12sIII")  # the first 64 bytes
ID_LEN = 16
REC = struct.Struct("<IIII")  # type, length, crc, seq (rev. 1: reserved)
END_BODY = struct.Struct("<QQII")  # records, bytes, digest, reserved

(END, PAGE_DATA, VCPU_REGS, VCPU_SREGS, VCPU_LAPIC, IRQCHIP, PIT, CLOCK,
 DEVICE) = 0x0, 0x1, 0x2, 0x3, 0x7, 0xB, 0xC, 0xD, 0xE
ROUND, SAVE_INFO, PADDING = 0x8000000F, 0x80000010, 0x80000011


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
    def __init__(self, offset, rtype, body, raw=b""):
        self.offset, self.type, self.body, self.raw = offset, rtype, body, raw

    def encode(self, version=2, chain=0, seq=0):
        """The record's bytes, sealed: (bytes, crc)."""
        if version == 1:
            crc = crc32c(self.body, crc32c(struct.pack(
                "<II", self.type, len(self.body))))
            seq = 0
        else:
            # Long bodies: CRC in C would be faster, but streams are small.
            crc = crc32c(self.body, crc32c(struct.pack(
                "<III", self.type, len(self.body), seq), chain))
        return (REC.pack(self.type, len(self.body), crc, seq) + self.body +
                b"\0" * (pad8(len(self.body)) - len(self.body))), crc


class Stream:
    """A parsed stream: header fields, config text and records."""

    def __init__(self, data):
        self.fields = list(HEADER.unpack_from(data, 0))
        self.version = self.fields[1]
        self.header_size = self.fields[3]
        self.stream_id = data[64:self.header_size]
        config_len = self.fields[4]
        self.config = data[self.header_size:self.header_size + config_len]
        off = self.header_size + pad8(config_len)
        self.header_end = off
        self.raw_header = data[:off]
        self.records = []
        while off + 16 <= len(data):
            rtype, length, crc, _ = REC.unpack_from(data, off)
            end = off + 16 + pad8(length)
            self.records.append(Record(off, rtype,
                                       data[off + 16:off + 16 + length],
                                       data[off:end]))
            off = end

    def boundaries(self):
        """Every offset where a record starts, and the end."""
        return [self.header_end] + [r.offset + 16 + pad8(len(r.body))
                                    for r in self.records]

    def header(self):
        f = list(self.fields)
        f[11] = 0
        raw = HEADER.pack(*f) + self.stream_id
        crc = crc32c(self.config, crc32c(raw))
        self.header_crc = crc
        f[11] = crc
        return (HEADER.pack(*f) + self.stream_id + self.config +
                b"\0" * (pad8(len(self.config)) - len(self.config)))

    def encode(self):
        """Header and records, every check value made right again."""
        out = [self.header()]
        size = len(out[0])
        chain = self.header_crc if self.version >= 2 else 0
        for seq, r in enumerate(self.records):
            if r.type == END and self.version >= 2:
                r.body = END_BODY.pack(seq, size, chain, 0)
            b, crc = r.encode(self.version, chain, seq)
            chain = crc if self.version >= 2 else 0
            out.append(b)
            size += len(b)
        return b"".join(out)

    def raw(self):
        """The original bytes of the header and every record, as they are."""
        return self.raw_header + b"".join(r.raw for r in self.records)

    def find(self, rtype):
        return [r for r in self.records if r.type == rtype]

    # header field indexes
    MEM_BYTES, NR_VCPUS, VENDOR, DIGEST = 5, 6, 8, 9

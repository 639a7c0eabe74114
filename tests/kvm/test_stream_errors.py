#!/usr/bin/python3
"""kvm suite: hostile save files. Every damaged or forged stream is
refused by godwit restore with one line naming the record type (or the
stream header) and the byte offset, exit status 1, no crash, and no VM
left running; godwit inspect refuses it the same way."""

import os
import re
import struct

from lib.gw import check, main, seeded_random
from lib.stream import (DEVICE, END, PAGE_DATA, VCPU_LAPIC, VCPU_REGS,
                        Record, Stream)

rnd = seeded_random()
WHERE = re.compile(r"(record [A-Z_a-z ]+ \(0x[0-9a-f]+\)|record header|"
                   r"stream header) at offset \d+: ")


def make_save(env, vcpus=1):
    vm = env.run("dirty", "mib=8", memory=64, vcpus=vcpus)
    vm.expect(r"^dirty: sweep", 30)
    path = os.path.join(env.tmp, "good.sav")
    rc, _, err = env.godwit_cmd("save", vm.qmp_path, path)
    check(rc == 0, "save: " + err)
    vm.wait(30)
    return open(path, "rb").read()


def refused(env, data, want, label):
    """Restore and inspect must both refuse data with a message matching
    want; the restore process must exit 1 and leave no VM behind."""
    path = os.path.join(env.tmp, "bad.sav")
    with open(path, "wb") as f:
        f.write(data)
    qmp = os.path.join(env.tmp, "bad.qmp")
    rc, out, err = env.godwit_cmd("restore", path, "--serial", "none",
                                  "--qmp", qmp, timeout=60)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 1, "%s: restore exit %d, want 1: %s" % (label, rc, err))
    check(len(lines) == 1, "%s: want one error line, got: %s" % (label, err))
    check(WHERE.search(lines[0]) or "machine identity" in lines[0],
          "%s: error does not name record and offset: %s" % (label, lines[0]))
    check(re.search(want, lines[0]), "%s: no /%s/ in: %s"
          % (label, want, lines[0]))
    check(not os.path.exists(qmp), "%s: a control socket was left" % label)
    rc, out, err = env.godwit_cmd("inspect", path, timeout=60)
    if "machine identity" not in want:
        check(rc == 1, "%s: inspect exit %d, want 1" % (label, rc))
    return lines[0]


def test_good_stream_is_valid(env):
    data = make_save(env)
    path = os.path.join(env.tmp, "good.sav")
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect good stream: " + err)
    # Re-encoding what we parsed gives the same bytes: the parser is exact.
    check(Stream(data).encode() == data, "stream.py re-encoding differs")


def test_truncated_at_every_record_boundary(env):
    data = make_save(env)
    s = Stream(data)
    for cut in [0, 10, 64] + s.boundaries()[:-1]:
        refused(env, data[:cut], r"truncated|ends", "cut at %d" % cut)


def test_truncated_at_random_offsets(env):
    data = make_save(env)
    for _ in range(15):
        cut = rnd.randrange(1, len(data))
        refused(env, data[:cut], r"truncated|ends|CRC", "cut at %d" % cut)


def test_bit_flips(env):
    data = make_save(env)
    for _ in range(15):
        at = rnd.randrange(len(data))
        bad = bytearray(data)
        bad[at] ^= 1 << rnd.randrange(8)
        refused(env, bytes(bad), r".", "flip at %d" % at)


def test_wrong_magic_and_version(env):
    data = make_save(env)
    refused(env, b"X" + data[1:], r"bad magic", "magic")
    bad = bytearray(data)
    struct.pack_into("<I", bad, 8, 3)
    refused(env, bytes(bad), r"version 3 is not supported", "version")


def test_oversized_length(env):
    data = make_save(env)
    s = Stream(data)
    r = s.find(VCPU_REGS)[0]
    bad = bytearray(data)
    struct.pack_into("<I", bad, r.offset + 4, 0x7FFFFFFF)
    refused(env, bytes(bad), r"record VCPU_REGS \(0x2\) at offset %d: length 2147483647 exceeds"
            % r.offset, "length")


def test_pfn_beyond_guest_memory(env):
    data = make_save(env)
    s = Stream(data)
    pfn = (64 << 20) >> 12  # first page past 64 MiB of RAM
    body = struct.pack("<IIQ", 1, 0, pfn | (1 << 56))  # one ZERO entry
    s.records.insert(0, Record(0, PAGE_DATA, body))
    refused(env, s.encode(), r"PAGE_DATA.*pfn 0x4000 is beyond guest memory",
            "pfn")


def test_unknown_mandatory_record(env):
    s = Stream(make_save(env))
    s.records.insert(2, Record(0, 0x77, b"12345678"))
    refused(env, s.encode(), r"unknown mandatory record type 0x77", "0x77")


def test_unknown_optional_record_is_skipped(env):
    s = Stream(make_save(env))
    s.records.insert(2, Record(0, 0x80000077, b"12345678"))
    path = os.path.join(env.tmp, "opt.sav")
    with open(path, "wb") as f:
        f.write(s.encode())
    vm = env.restore(path)
    vm.expect(r"^dirty: sweep", 30)
    vm.qmp().execute("quit")
    check(vm.wait(30) == 0, "restore with an optional record")


def test_other_machine_identity(env):
    data = make_save(env)
    s = Stream(data)
    s.fields[Stream.DIGEST] ^= 0x1
    refused(env, s.encode(), r"machine identity: CPU feature digest",
            "digest")
    s = Stream(data)
    s.fields[Stream.VENDOR] = b"OtherVendor!"
    refused(env, s.encode(), r"machine identity: CPU vendor", "vendor")
    s = Stream(data)
    s.fields[Stream.MEM_BYTES] = 128 << 20
    refused(env, s.encode(), r"machine identity: memory", "memory")


def test_duplicate_and_missing_state(env):
    data = make_save(env)
    s = Stream(data)
    r = s.find(VCPU_REGS)[0]
    s.records.insert(s.records.index(r), Record(0, r.type, r.body))
    refused(env, s.encode(), r"second VCPU_REGS record for vCPU 0", "dup")
    s = Stream(data)
    s.records.remove(s.find(VCPU_LAPIC)[0])
    refused(env, s.encode(), r"END.*no VCPU_LAPIC record for vCPU 0",
            "missing")
    s = Stream(data)
    s.records.remove(s.find(DEVICE)[0])
    refused(env, s.encode(), r"no DEVICE record for 'serial0'", "device")


def test_vcpu_out_of_range(env):
    s = Stream(make_save(env))
    r = s.find(VCPU_REGS)[0]
    r.body = struct.pack("<I", 5) + r.body[4:]
    refused(env, s.encode(), r"VCPU_REGS.*vcpu 5 does not exist", "vcpu")


def test_bad_device_state(env):
    s = Stream(make_save(env))
    r = s.find(DEVICE)[0]
    body = bytearray(r.body)
    body[24 + 11] = 200  # serial rx_count beyond the FIFO
    r.body = bytes(body)
    refused(env, s.encode(), r"DEVICE.*'serial0': rx_count 200 exceeds",
            "serial state")


def test_records_after_end(env):
    s = Stream(make_save(env))
    check(s.records[-1].type == END, "last record is not END")
    # A stream whose END comes early is missing state.
    s.records = [r for r in s.records if r.type in (PAGE_DATA,)] + \
        [s.records[-1]]
    refused(env, s.encode(), r"END.*no ", "early END")


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

#!/usr/bin/python3
"""kvm suite: hostile save files. Every damaged or forged stream is
refused by godwit restore with one line naming the record type (or the
stream header) and the byte offset, exit status 1, no crash, and no VM
left running; godwit inspect refuses it the same way. Streams spliced
from several saves of one VM (what revision 1 could not see) are refused
at the record where the splice is; a seeded campaign of mutations over
real saves finds restore and inspect agreeing on every one."""

import os
import re
import struct

from lib.gw import check, main, seeded_random, wait_until
from lib.stream import (CLOCK, DEVICE, END, PAGE_DATA, VCPU_LAPIC,
                        VCPU_REGS, VCPU_SREGS, Record, Stream, pad8)

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


def refused(env, data, want, label, at=None, rtype=None, host_only=False):
    """Restore and inspect must both refuse data with a message matching
    want (at offset at, in a record of type rtype, if given); the restore
    process must exit 1 and leave no VM behind. host_only: what only the
    restoring host can judge (inspect accepts it)."""
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
    if at is not None:
        check("at offset %d: " % at in lines[0], "%s: not at offset %d: %s"
              % (label, at, lines[0]))
    if rtype is not None:
        check("(0x%x) at offset" % rtype in lines[0],
              "%s: not a record of type 0x%x: %s" % (label, rtype, lines[0]))
    check(not os.path.exists(qmp), "%s: a control socket was left" % label)
    rc, out, err = env.godwit_cmd("inspect", path, timeout=60)
    if "machine identity: CPU" not in want and not host_only:
        check(rc == 1, "%s: inspect exit %d, want 1" % (label, rc))
    print("%s: %s" % (label, lines[0]), flush=True)
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


def three_saves(env, mib):
    """a: save -c of a running VM; then b (save -p) and c (save) of the
    same paused VM: b and c hold the same pages and state, differing only
    in their stream identity and save time."""
    vm = env.run("dirty", "mib=%d" % mib, memory=32)
    vm.keeps_sweeping(2)
    out = []
    for name, flags in (("a", ["-c"]), ("b", ["-p"]), ("c", [])):
        path = os.path.join(env.tmp, name + ".sav")
        rc, _, err = env.godwit_cmd("save", *flags, vm.qmp_path, path)
        check(rc == 0, "save %s: %s" % (name, err))
        out.append(open(path, "rb").read())
        if name == "a":
            vm.keeps_sweeping(2)
    vm.wait(30)
    return [Stream(d) for d in out]


def join(head, records):
    return head + b"".join(r.raw for r in records)


def test_spliced_streams_are_refused(env):
    """The mutations revision 1 let through, each found where it is."""
    a, b, c = three_saves(env, 10)
    pages = b.find(PAGE_DATA)
    check(len(pages) >= 3, "want 3 page batches, got %d" % len(pages))
    i = b.records.index(pages[1])
    # A whole PAGE_DATA record deleted: the next one is out of sequence.
    refused(env, join(b.raw_header, b.records[:i] + b.records[i + 1:]),
            r"sequence number %d, expected %d" % (i + 1, i),
            "deleted PAGE_DATA", pages[1].offset, b.records[i + 1].type)
    # The pages of b, then the state of c (same VM, same paused state).
    k = b.records.index(b.find(CLOCK)[0])
    check([r.raw[:8] for r in b.records] == [r.raw[:8] for r in c.records],
          "b and c do not have the same records")
    refused(env, join(b.raw_header, b.records[:k] + c.records[k:]),
            r"CRC mismatch", "pages of b, state of c", b.records[k].offset,
            CLOCK)
    # A prefix of a, the rest of b.
    j = a.records.index(a.find(PAGE_DATA)[1])
    refused(env, join(a.raw_header, a.records[:j] + b.records[j:]),
            r"CRC mismatch|sequence number", "prefix of a, rest of b",
            a.records[j].offset)
    # Two records swapped.
    r = b.records.index(b.find(VCPU_REGS)[0])
    swapped = b.records[:r] + [b.records[r + 1], b.records[r]] + \
        b.records[r + 2:]
    refused(env, join(b.raw_header, swapped),
            r"sequence number %d, expected %d" % (r + 1, r),
            "swapped", b.records[r].offset, VCPU_SREGS)
    # A record repeated in a stream without the LIVE flag.
    refused(env, join(b.raw_header, b.records[:i + 1] + b.records[i:]),
            r"sequence number %d, expected %d" % (i, i + 1), "repeated",
            b.records[i + 1].offset, PAGE_DATA)
    # Cut exactly before END.
    refused(env, join(b.raw_header, b.records[:-1]),
            r"without an END record", "no END", b.records[-1].offset)
    # END from another save.
    refused(env, join(b.raw_header, b.records[:-1] + c.records[-1:]),
            r"CRC mismatch", "END of c", b.records[-1].offset, END)


def test_kvm_refused_state_is_one_line(env):
    """A VCPU_SREGS whose CR4 sets a reserved bit: the structure is fine
    (inspect accepts it, it cannot ask KVM), KVM_SET_SREGS refuses it."""
    s = Stream(make_save(env))
    r = s.find(VCPU_SREGS)[0]
    body = bytearray(r.body)
    cr4 = 8 + 248  # vcpu header, then struct kvm_sregs: cr4 at 248
    body[cr4 + 7] |= 0x80  # bit 63
    r.body = bytes(body)
    data = s.encode()
    r = Stream(data).find(VCPU_SREGS)[0]
    path = os.path.join(env.tmp, "cr4.sav")
    with open(path, "wb") as f:
        f.write(data)
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0, "inspect: " + err)
    refused(env, data, r"vCPU 0: KVM refused the saved state: ", "cr4",
            r.offset, VCPU_SREGS, host_only=True)


# ---- A seeded campaign: restore and inspect agree on every mutation ----

def _records_mutation(rnd, s, other):
    """Record-level damage without re-sealing: what a mixed-up file is."""
    recs, n = s.records, len(s.records)
    i = rnd.randrange(n - 1)
    kind = rnd.choice(["delete", "repeat", "swap", "splice", "end"])
    if kind == "delete":
        recs = recs[:i] + recs[i + 1:]
    elif kind == "repeat":
        recs = recs[:i + 1] + recs[i:]
    elif kind == "swap":
        recs = recs[:i] + [recs[i + 1], recs[i]] + recs[i + 2:]
    elif kind == "splice":
        recs = recs[:i] + other.records[min(i, len(other.records) - 1):]
    else:
        recs = recs[:-1] + other.records[-1:]
    return kind, join(s.raw_header, recs)


def _byte_mutation(rnd, data):
    kind = rnd.choice(["flip", "byte", "cut"])
    at = rnd.randrange(len(data))
    if kind == "cut":
        return kind, data[:at]
    bad = bytearray(data)
    if kind == "flip":
        bad[at] ^= 1 << rnd.randrange(8)
    else:
        bad[at] = rnd.randrange(256)
    return (kind, bytes(bad)) if bad != bytearray(data) else (kind, data[:-1])


FORGERIES = ["repeat page", "config garbage", "config memory",
             "header vcpus", "header memory", "unknown type",
             "optional record", "untouched"]


def _forged_mutation(rnd, s, kind=None):
    """Re-sealed forgeries (valid chain): the checks beyond the chain."""
    s = Stream(s.encode())
    kind = kind or rnd.choice(FORGERIES)
    if kind == "repeat page":
        p = s.find(PAGE_DATA)[0]
        s.records.insert(s.records.index(p) + 1, Record(0, p.type, p.body))
    elif kind == "config garbage":
        s.config = b"memory = = 3\n"
        s.fields[4] = len(s.config)
    elif kind == "config memory":
        s.config = re.sub(rb"memory = \d+", b"memory = 64", s.config)
        s.fields[4] = len(s.config)
    elif kind == "header vcpus":
        s.fields[Stream.NR_VCPUS] = 2
    elif kind == "header memory":
        s.fields[Stream.MEM_BYTES] = 64 << 20
    elif kind == "unknown type":
        s.records.insert(3, Record(0, 0x55, b"12345678"))
    elif kind == "optional record":
        s.records.insert(3, Record(0, 0x80000055, b"12345678"))
    return kind, s.encode()


def agree(env, data, label):
    """Restore and inspect agree; a refusal is one line, exit 1."""
    path = os.path.join(env.tmp, "m.sav")
    with open(path, "wb") as f:
        f.write(data)
    irc, _, ierr = env.godwit_cmd("inspect", path, timeout=60)
    vm = env.restore(path, name="m")
    # Refused: the process ends; accepted: its control socket appears.
    wait_until("restore to decide", lambda: vm.proc.poll() is not None or
               os.path.exists(vm.qmp_path), 30, 0.01)
    rrc = vm.proc.poll()
    if rrc is None:
        check(irc == 0, "%s: restore accepts, inspect refuses: %s"
              % (label, ierr))
        vm.keeps_sweeping(3)  # and the guest is whole
        vm.quit()
        return True
    vm.wait(10)
    check(rrc == 1, "%s: restore exit %s" % (label, rrc))
    check(len([l for l in vm.stderr_lines if l]) == 1,
          "%s: want one error line: %s" % (label, vm.stderr()))
    check(irc == 1, "%s: restore refuses (%s), inspect accepts"
          % (label, vm.stderr()))
    check(not os.path.exists(vm.qmp_path), "%s: socket left" % label)
    return False


def test_inspect_agrees_on_every_forgery(env):
    """Each kind once, among them what inspect used to pass and restore
    refused: a page repeated in a stream without LIVE, a header and a
    config that disagree, a config that does not parse."""
    _, b, _ = three_saves(env, 1)
    for kind in FORGERIES:
        _, data = _forged_mutation(rnd, b, kind)
        ok = agree(env, data, kind)
        check(ok == (kind in ("optional record", "untouched")),
              "%s: %s" % (kind, "accepted" if ok else "refused"))


def test_mutation_campaign(env):
    """Seeded (the seed is printed above): 36 mutations of real saves
    (small ones: forging re-seals them with a CRC in Python)."""
    a, b, c = three_saves(env, 1)
    accepted = 0
    for n in range(36):
        s, other = rnd.choice([(b, c), (c, b), (a, b), (b, a)])
        family = n % 3
        if family == 0:
            kind, data = _records_mutation(rnd, s, other)
        elif family == 1:
            kind, data = _byte_mutation(rnd, s.raw())
        else:
            kind, data = _forged_mutation(rnd, s)
        ok = agree(env, data, "mutation %d (%s)" % (n, kind))
        check(not ok or kind in ("optional record", "untouched") or
              (kind == "splice" and data == s.raw()),
              "mutation %d (%s) was accepted" % (n, kind))
        accepted += ok
    print("%d of 36 mutations accepted (harmless ones)" % accepted)


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

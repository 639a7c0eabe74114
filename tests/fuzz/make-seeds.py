#!/usr/bin/python3
"""Write the hand-made seeds of the kernel and daemon fuzz targets:
small PVH ELF and bzImage images (good and subtly bad) and godwitd state
and exit files. No KVM needed; run from anywhere."""

import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def pvh_elf(desc_size=8, entry=0x100000, paddr=0x100000, note_type=18):
    """ELF64: header, PT_LOAD, PT_NOTE (Xen, XEN_ELFNOTE_PHYS32_ENTRY)."""
    note_off = 64 + 2 * 56
    desc = struct.pack("<Q" if desc_size == 8 else "<I", entry)
    note = struct.pack("<III", 4, desc_size, note_type) + b"Xen\0" + desc
    code_off = (note_off + len(note) + 15) & ~15
    code = b"\xf4" * 64
    e = bytearray(code_off + len(code))
    e[0:16] = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    struct.pack_into("<HHIQQQIHHHHHH", e, 16, 2, 62, 1, entry, 64, 0, 0, 64,
                     56, 2, 0, 0, 0)
    struct.pack_into("<IIQQQQQQ", e, 64, 1, 5, code_off, paddr, paddr,
                     len(code), len(code) + 4096, 16)
    struct.pack_into("<IIQQQQQQ", e, 120, 4, 4, note_off, 0, 0, len(note),
                     len(note), 4)
    e[note_off:note_off + len(note)] = note
    e[code_off:] = code
    return bytes(e)


def bzimage(version=0x020f, xload=0x3, setup_sects=4, payload=8192, reloc=1):
    """The setup header fields the loader reads (Linux boot protocol)."""
    img = bytearray(512 * (setup_sects + 1) + payload)
    img[0x1f1] = setup_sects
    struct.pack_into("<I", img, 0x1f4, payload // 16)   # syssize
    struct.pack_into("<H", img, 0x1fe, 0xaa55)
    img[0x200:0x202] = b"\xeb\x6a"                      # header ends at 0x26c
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, version)
    img[0x211] = 0x01                                   # LOADED_HIGH
    struct.pack_into("<I", img, 0x22c, 0x7fffffff)      # initrd_addr_max
    struct.pack_into("<I", img, 0x230, 0x200000)        # kernel_alignment
    img[0x234] = reloc
    struct.pack_into("<H", img, 0x236, xload)
    struct.pack_into("<I", img, 0x238, 2048)            # cmdline_size
    struct.pack_into("<Q", img, 0x258, 0x1000000)       # pref_address
    struct.pack_into("<I", img, 0x260, 0x400000)        # init_size
    return bytes(img)


def write(sub, name, data):
    os.makedirs(os.path.join(HERE, sub), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(HERE, sub, name), mode) as f:
        f.write(data)


write("kernel", "pvh-desc8.elf", pvh_elf())
write("kernel", "pvh-desc4.elf", pvh_elf(4))
write("kernel", "pvh-no-entry.elf", pvh_elf(note_type=17))
write("kernel", "pvh-low.elf", pvh_elf(paddr=0x1000, entry=0x1000))
write("kernel", "bzimage-2.15.bin", bzimage())
write("kernel", "bzimage-2.10-old.bin", bzimage(version=0x020a))
write("kernel", "bzimage-no64.bin", bzimage(xload=0))
write("kernel", "bzimage-fixed.bin", bzimage(reloc=0))

st = {"version": 1, "domid": 3, "name": "web1",
      "uuid": "3b1f2c44-9a0e-4d2b-8f6a-0c1d2e3f4a5b", "state": "running",
      "origin": "create", "pid": 4242, "qmp": "/run/godwit/vm/web1.qmp",
      "exit-file": "/var/lib/godwit/domains/3b1f/exit",
      "console": "/dev/pts/3", "peer": "", "created": 1795000000,
      "reason": ""}
write("daemon", "state-running.json", json.dumps(st, indent=2) + "\n")
write("daemon", "state-incoming.json", json.dumps(dict(
    st, state="incoming", origin="migration", name="", uuid="", domid=0,
    peer="10.0.0.2:8002")) + "\n")
write("daemon", "state-crashed.json", json.dumps(dict(
    st, state="crashed",
    reason="121 crash guest triple fault on vCPU 0 at rip 0x100000")) + "\n")
write("daemon", "state-bad-version.json", json.dumps(dict(st, version=99)) + "\n")
write("daemon", "state-garbage.json", '{"version": 1, "state": 7, "qmp": [1,2]}\n')
for name, text in [("exit-poweroff", "0 poweroff guest powered off\n"),
                   ("exit-reset", "120 reset guest requested a reset\n"),
                   ("exit-crash", "121 crash guest triple fault on vCPU 1 at rip 0x1234\n"),
                   ("exit-saved", "0 saved saved to /var/lib/x.sav\n"),
                   ("exit-migrated", "0 migrated migrated to 10.0.0.2:8002\n"),
                   ("exit-debug", "3 exit guest exited with status 3 (debug-exit port)\n"),
                   ("exit-error", "1 error failed to start\n"),
                   ("exit-bad", "x poweroff\n")]:
    write("daemon", name, text)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def stream_header(config, version=1, header_size=64):
    """The first bytes of a migration stream (relocation preamble)."""
    fields = [b"\x89GDW\r\n\x1a\n", version, 1, header_size, len(config),
              64 << 20, 1, 4096, b"GenuineIntel", 0, 0, 0]
    raw = struct.pack("<8sIIIIQII12sIII", *fields)
    fields[11] = crc32c(config, crc32c(raw))
    return (struct.pack("<8sIIIIQII12sIII", *fields) +
            b"\0" * (header_size - 64) + config)


def query(arrival_id):
    raw = struct.pack("<IIQiIQ96sII", 0x48574447, 6, 1, 0, 0, arrival_id,
                      b"", 0, 0)
    return raw[:-4] + struct.pack("<I", crc32c(raw))


cfg = b'name = "web"\nmemory = 64\n'
write("daemon", "reloc-stream-v1", stream_header(cfg))
write("daemon", "reloc-stream-v2", stream_header(cfg, 2, 96))
write("daemon", "reloc-query", query(0x00c0ffee12345678))
write("daemon", "vmm-cmdline", b"\0".join([
    b"/usr/bin/godwit", b"migrate-receive", b"--incoming-fd", b"3",
    b"--arrival-id", b"00c0ffee12345678", b"--outcome-file",
    b"/var/lib/godwit/incoming/t/outcome", b"--qmp", b"/run/godwit/vm/.t.qmp",
    b"--exit-file", b"/var/lib/godwit/incoming/t/exit"]) + b"\0")
write("daemon", "outcome-running", "RUNNING\n")


def lease_file(resource, generation, host=b"host1", pid=4242):
    """A `file` engine lease record (stream_format.h lease_file_rec)."""
    raw = struct.pack("<8sIIQQII16s64s1024sII", b"GDWLEASE", 1, 1152,
                      generation, 1795000000 * 10**9, pid, len(resource),
                      bytes(range(16)), host, resource, 0, 0)
    return raw[:-4] + struct.pack("<I", crc32c(raw))


def rec_lease(engine, resource, generation):
    return struct.pack("<16sQII", engine, generation, len(resource),
                       0) + resource


write("lease", "empty.bin", b"")
write("lease", "db-gen1.bin", lease_file(b"db", 1))
write("lease", "db-gen7.bin", lease_file(b"db", 7))
write("lease", "other-resource.bin", lease_file(b"/srv/img/vm.raw", 1))
write("lease", "bad-crc.bin", lease_file(b"db", 1)[:-1] + b"\0")
write("lease", "short.bin", lease_file(b"db", 1)[:100])
write("lease", "rec-lease.bin", rec_lease(b"file", b"/srv/img/vm.raw", 3))

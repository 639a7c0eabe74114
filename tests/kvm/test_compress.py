#!/usr/bin/python3
"""kvm suite: compressed streams. A dirty guest (it checks every page on
every sweep; data=2048 makes half of each page noise it checks too) is migrated with --compress zstd and auto, saved with
--compress and restored, and carries on intact; the streams really hold
PAGE_ZSTD batches; a damaged compressed batch is refused in one line,
naming the record and its offset."""

import os
import re

from lib.gw import check, main
from lib.net import receiver
from lib.stream import Stream

PAGE_ZSTD = 0x13


def sweeping(env, cmdline="mib=32 rate=100 data=2048", memory=128):
    src = env.run("dirty", cmdline, memory=memory, name="src")
    src.expect(r"^dirty: sweep", 30)
    return src


def migrate_compressed(env, mode, want_zstd):
    src = sweeping(env)
    dst = receiver(env)
    rc, _, err = env.godwit_cmd("migrate", "--compress", mode, src.qmp_path,
                                dst.addr, timeout=120)
    check(rc == 0, "migrate --compress %s: exit %d: %s" % (mode, rc, err))
    check(src.wait(30) == 0, "source did not end after migrating")
    line = dst.expect_stderr(r"restored \d+ pages", 30).group(0)
    dst.keeps_sweeping(8)
    full = dst.stderr()
    if want_zstd is not None:
        check(("zstd" in full) == want_zstd,
              "--compress %s: zstd batches %s expected: %s"
              % (mode, "were" if want_zstd else "were not", line))
    dst.quit()


def test_migrate_zstd(env):
    migrate_compressed(env, "zstd", True)


def test_migrate_auto_on_loopback(env):
    # Loopback is faster than the compressor: auto sends raw pages but for
    # its measuring windows (its choice is unit-tested); whichever batches
    # go compressed, the guest must not notice.
    migrate_compressed(env, "auto", None)


def save_compressed(env):
    src = sweeping(env, "mib=48 data=2048", memory=128)
    path = os.path.join(env.tmp, "z.sav")
    rc, _, err = env.godwit_cmd("save", "--compress", src.qmp_path, path)
    check(rc == 0, "save --compress: %s" % err)
    check(src.wait(30) == 0, "saved VM did not exit 0")
    return path


def test_save_restore_compressed(env):
    path = save_compressed(env)
    s = Stream(open(path, "rb").read())
    zstd = s.find(PAGE_ZSTD)
    check(len(zstd) >= 12, "only %d PAGE_ZSTD records" % len(zstd))
    # data=2048: each page is half noise, half zeros: about 2:1.
    size = os.path.getsize(path)
    check(size < 30 << 20, "compressed save is %d bytes" % size)
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "PAGE_ZSTD" in out and "compressed:" in out,
          "inspect: %s %s" % (out, err))
    # Lazy restore reads pages where they lie in the file: not from frames.
    lazy = env.restore(path, extra=["--lazy"])
    check(lazy.wait(30) == 1, "restore --lazy of a compressed save did "
          "not exit 1")
    check("compressed pages cannot be restored lazily" in lazy.stderr(),
          "restore --lazy says: " + lazy.stderr())
    vm = env.restore(path)
    vm.keeps_sweeping(30)
    vm.quit()


def test_corrupted_compressed_batch_refused(env):
    path = save_compressed(env)
    data = bytearray(open(path, "rb").read())
    rec = Stream(bytes(data)).find(PAGE_ZSTD)[3]
    data[rec.offset + 16 + 16 + 8 * 1024 + 40] ^= 0x10
    bad = os.path.join(env.tmp, "bad.sav")
    open(bad, "wb").write(data)
    vm = env.restore(bad)
    check(vm.wait(30) == 1, "restore of a damaged batch did not exit 1")
    lines = [l for l in vm.stderr_lines if l and "PAGE_ZSTD" in l]
    want = r"record PAGE_ZSTD \(0x13\) at offset %d: CRC mismatch" % rec.offset
    check(len(lines) == 1 and re.search(want, lines[0]),
          "want one line matching %r: %s" % (want, vm.stderr()))


if __name__ == "__main__":
    main([test_migrate_zstd, test_migrate_auto_on_loopback,
          test_save_restore_compressed,
          test_corrupted_compressed_batch_refused])

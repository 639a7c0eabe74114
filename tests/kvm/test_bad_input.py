#!/usr/bin/python3
"""Bad input to godwit run gives one clear error line and exit status 1
(or 2 for usage errors), never a crash or a hang."""

import os
import struct

from lib.gw import check, main


def run_fails(env, args, want_rc, want_text):
    rc, out, err = env.godwit_cmd(*args, timeout=30)
    check(rc == want_rc, "godwit %s: exit %d, want %d (%s)"
          % (" ".join(args), rc, want_rc, err.strip()))
    lines = [l for l in err.splitlines() if l.strip()]
    check(any(want_text in l for l in lines),
          "godwit %s: no '%s' in: %s" % (" ".join(args), want_text, err))
    check(len(lines) <= 3, "too many error lines: %s" % err)


def write(env, name, data):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_missing_kernel_file(env):
    run_fails(env, ["run", "--kernel", "/nonexistent.elf"], 1,
              "No such file")


def test_garbage_kernel(env):
    k = write(env, "garbage", os.urandom(4096))
    run_fails(env, ["run", "--kernel", k, "--qmp", "none"], 1,
              "neither an ELF file nor a bzImage")


def test_truncated_elf(env):
    data = open(env.guest("dirty"), "rb").read()
    k = write(env, "trunc.elf", data[:200])
    run_fails(env, ["run", "--kernel", k, "--qmp", "none"], 1,
              "kernel")


def test_elf_without_pvh_note(env):
    # A host binary is an x86-64 ELF without the Xen note.
    run_fails(env, ["run", "--kernel", "/bin/true", "--qmp", "none"], 1,
              "no PVH entry point")
    # So is a test guest whose note has a different type.
    data = bytearray(open(env.guest("dirty"), "rb").read())
    at = data.find(b"\x12\x00\x00\x00Xen\x00")
    check(at > 0, "dirty.elf has no PVH note to patch")
    data[at] = 0x13
    k = write(env, "nonote.elf", bytes(data))
    run_fails(env, ["run", "--kernel", k, "--qmp", "none"], 1,
              "no PVH entry point")


def test_elf_segment_outside_ram(env):
    # Move the first PT_LOAD segment to 1 GiB: it cannot fit in 64 MiB.
    data = bytearray(open(env.guest("dirty"), "rb").read())
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if struct.unpack_from("<I", data, off)[0] == 1:  # PT_LOAD
            struct.pack_into("<Q", data, off + 0x18, 0x40000000)
            break
    k = write(env, "far.elf", bytes(data))
    run_fails(env, ["run", "--kernel", k, "--memory", "64", "--qmp",
                    "none"], 1, "does not fit in 64 MiB of guest RAM")


def test_memory_not_a_size(env):
    run_fails(env, ["run", "--kernel", env.guest("dirty"), "--memory",
                    "lots"], 1, "not a size")


def test_memory_too_big_for_host(env):
    run_fails(env, ["run", "--kernel", env.guest("dirty"), "--memory",
                    "64t"], 1, "more than this host")


def test_memory_too_small_for_kernel(env):
    run_fails(env, ["run", "--kernel", env.guest("dirty"), "--memory",
                    "1k"], 1, "multiple of 2 MiB")


def test_bad_vcpus(env):
    run_fails(env, ["run", "--kernel", env.guest("dirty"), "--vcpus",
                    "0"], 1, "from 1 to 255")


def test_unknown_cpu_model(env):
    run_fails(env, ["run", "--kernel", env.guest("dirty"), "--cpu",
                    "pentium"], 1, "unknown model")


def test_unknown_option_is_usage_error(env):
    rc, out, err = env.godwit_cmd("run", "--frobnicate")
    check(rc == 2, "exit %d, want 2" % rc)


def test_unknown_verb_is_usage_error(env):
    rc, out, err = env.godwit_cmd("frobnicate")
    check(rc == 2, "exit %d, want 2" % rc)


def test_config_unknown_key(env):
    cfg = write(env, "vm.cfg", b'name = "a"\nmemory = 64\nfrobs = 3\n')
    run_fails(env, ["run", cfg, "--kernel", env.guest("dirty")], 1,
              "vm.cfg:3")


def test_config_bad_value(env):
    cfg = write(env, "vm.cfg", b'name = "a"\nmemory = "lots"\n')
    run_fails(env, ["run", cfg, "--kernel", env.guest("dirty")], 1,
              "memory")


def test_no_dev_kvm(env):
    os.environ["GODWIT_KVM"] = os.path.join(env.tmp, "no-kvm")
    try:
        run_fails(env, ["run", "--kernel", env.guest("dirty"), "--qmp",
                        "none"], 1, "cannot open")
    finally:
        del os.environ["GODWIT_KVM"]


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

#!/usr/bin/python3
"""kvm suite: lazy restore. `godwit restore --lazy FILE` runs the guest
as soon as its state is in and loads its memory from FILE as it is
touched: every test guest, saved at a random moment, carries on exactly
as after a plain restore (the dirty guest checks every page, the cpu
guests' digests match an undisturbed run, the timer guest keeps its
rate). A page batch damaged in the file is found when first read, after
the guest already runs: the VM stops with one line instead of running
on memory the file did not vouch for."""

import os
import re
import time

from lib.gw import check, main, seeded_random
from lib.stream import PAGE_DATA, Stream

rnd = seeded_random()
DIGESTS = {}


def digest(env, guest, vcpus, rounds):
    """The digest of an undisturbed run (it depends on the CPU count)."""
    if (guest, vcpus) not in DIGESTS:
        ref = env.run(guest, "rounds=%d" % rounds, vcpus=vcpus, name="ref")
        DIGESTS[guest, vcpus] = ref.expect(
            r"^cpu: digest=([0-9a-f]+) ok$", 300).group(1)
        check(ref.wait(30) == 0, "reference run failed")
    return DIGESTS[guest, vcpus]


def save_at_random(env, vm, pattern):
    vm.expect(pattern, 60)
    time.sleep(rnd.uniform(0.05, 0.6))
    path = os.path.join(env.tmp, vm.name + ".sav")
    rc, out, err = env.godwit_cmd("save", vm.qmp_path, path)
    check(rc == 0, "save: " + err)
    check(vm.wait(30) == 0, "saved VM did not end")
    return path


def lazy(env, path, name):
    vm = env.restore(path, name=name, extra=["--lazy"])
    vm.expect_stderr(r"running from .* lazily", 30)
    return vm


def test_lazy_dirty(env):
    for guest, vcpus in (("dirty", 1), ("smp-dirty", 2)):
        src = env.run(guest, "mib=48", memory=128, vcpus=vcpus,
                      name="src-" + guest)
        path = save_at_random(env, src, r"^dirty: sweep")
        vm = lazy(env, path, "lazy-" + guest)
        vm.keeps_sweeping(5)
        vm.expect_stderr(r"lazy restore complete: \d+ MiB", 60)
        vm.quit()


def test_lazy_cpu(env):
    for guest, vcpus in (("cpu", 1), ("smp-cpu", 2)):
        # About 3 s of work (800 rounds took 0.3 s on a quiet host and
        # could end before the save's random moment).
        want = digest(env, guest, vcpus, 8000)
        src = env.run(guest, "rounds=8000", vcpus=vcpus, name="src-" + guest)
        path = save_at_random(env, src, r"^cpu: progress")
        check(not any("digest" in l for l in src.all_lines),
              "%s finished before the save" % guest)
        vm = lazy(env, path, "lazy-" + guest)
        got = vm.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300).group(1)
        check(got == want, "%s digest %s != undisturbed %s"
              % (guest, got, want))
        check(vm.wait(30) == 0, "%s exit status" % guest)


def test_lazy_timer(env):
    src = env.run("timer", "seconds=4", name="src")
    path = save_at_random(env, src, r"^timer: tick")
    vm = lazy(env, path, "lazy")
    vm.expect(r"^timer: ok$", 60)
    check(vm.wait(30) == 0, "timer exit status")


def test_lazy_damaged_batch_stops_the_vm(env):
    src = env.run("dirty", "mib=32", memory=128, name="src")
    path = save_at_random(env, src, r"^dirty: sweep [3-9]")
    with open(path, "rb") as f:
        s = Stream(f.read())
    pages = s.find(PAGE_DATA)
    check(len(pages) >= 4, "too few page batches to damage one")
    # A byte of page data in the last batch: the restore pass reads only
    # the pfn lists, so the VM runs before anything can notice.
    rec = pages[-1]
    off = rec.offset + 16 + len(rec.body) - 100
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))
    vm = lazy(env, path, "lazy")
    rc = vm.wait(60)
    check(rc == 122, "exit status %s, want 122 (stopped)" % rc)
    m = re.search(r"record PAGE_DATA at offset (\d+): CRC mismatch.*the VM "
                  r"stopped \(its memory would be wrong\)", vm.stderr())
    check(m and int(m.group(1)) == rec.offset,
          "no one-line reason naming the batch at %d: %s"
          % (rec.offset, vm.stderr()))


if __name__ == "__main__":
    main([test_lazy_dirty, test_lazy_cpu, test_lazy_timer,
          test_lazy_damaged_batch_stops_the_vm])

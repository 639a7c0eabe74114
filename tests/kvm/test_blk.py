#!/usr/bin/python3
"""kvm suite: the virtio-blk device under the blk guest (guests/README.md),
which checks every sector of every pass it writes: a disk keeps every
acknowledged write across saves and restores taken at random moments
with requests in flight, across 20 live-migration hops between two
receivers in turn over an image in a directory both use, across a
migration between two godwitd daemons, and when the destination is
killed in mid-migration (the source keeps its disk and goes on), and an
image that cannot be synced (a save without -c or a migration fails, the
VM goes on). Each case ends with a fresh VM verifying the whole image
(mode=verify). Also a read-only disk: verify runs, writing is refused by
the guest."""

import os
import re
import signal
import time

from lib.gw import check, main, seeded_random, wait_until
from lib.net import receiver
from test_daemon import daemon_test
from test_disks import held_by

MIB = 1 << 20
# The guest keeps 128 requests in flight, random 4 KiB blocks, reads
# back and checks each block while others are written.
WORKLOAD = "qd=128 pattern=rand mix=1"
# Larger blocks on a direct-I/O disk: the device has requests of its own
# in flight at a pause, not only the guest.
IN_FLIGHT = "qd=128 bs=65536 pattern=rand mix=1"


def image(env, name="disk.img", size=8 * MIB):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def disk_arg(img, access="rw", opts=""):
    return ["--disk", "%s%s,raw,xvda,%s" % (opts, img, access)]


def blk_vm(env, img, cmdline=WORKLOAD, name="vm", access="rw", opts=""):
    return env.run("blk", cmdline, memory=64, name=name,
                   extra=disk_arg(img, access, opts))


def keeps_passing(vm, passes=2, timeout=60):
    """The guest completes passes more passes (each writes and checks the
    whole disk) after its next pass line; returns the last pass."""
    n = int(vm.expect(r"^blk: pass (\d+)$", timeout).group(1))
    while True:
        m = int(vm.expect(r"^blk: pass (\d+)$", timeout).group(1))
        if m >= n + passes:
            return m


def verify(env, img):
    """A fresh VM checks every sector against the verify rule."""
    vm = blk_vm(env, img, "mode=verify", name="verify", access="ro")
    vm.expect(r"^blk: done passes=1$", 120)
    check(vm.wait(30) == 0, "verify: exit status")


def drained(vm):
    """Requests the device completed at quiesce, from its debug lines."""
    return sum(int(m.group(1)) for m in re.finditer(
        r"quiesce completed (\d+) requests in flight", vm.stderr()))


def test_save_restore_at_random_moments(env):
    rnd = seeded_random()
    img = image(env, size=32 * MIB)
    os.environ["GODWIT_DEBUG"] = "1"
    try:
        vm = blk_vm(env, img, IN_FLIGHT, name="vm0", opts="direct-io,")
        last = keeps_passing(vm, 1)
        in_flight = []
        # Four saves, and more (up to eight) until one has caught requests
        # in flight: on a loaded host the slow guest may have none out.
        for i in range(8):
            if i >= 4 and sum(in_flight):
                break
            time.sleep(rnd.uniform(0.05, 1.5))
            path = os.path.join(env.tmp, "s%d.sav" % i)
            rc, _, err = env.godwit_cmd("save", vm.qmp_path, path)
            check(rc == 0, "save %d: %s" % (i, err))
            check(vm.wait(30) == 0, "save %d: the VM did not end" % i)
            check(not held_by(img), "save %d: the image is still locked" % i)
            in_flight.append(drained(vm))
            vm = env.restore(path, name="vm%d" % (i + 1))
            n = keeps_passing(vm, 2)
            check(n > last, "restore %d: pass %d after %d" % (i, n, last))
            last = n
    finally:
        del os.environ["GODWIT_DEBUG"]
    vm.quit()
    print("    requests completed at quiesce, per save: %s" % in_flight)
    check(sum(in_flight) > 0, "no save caught a request in flight "
          "(requests completed at quiesce, per save: %s)" % in_flight)
    verify(env, img)


def migrate(env, src, addr):
    rc, _, err = env.godwit_cmd("migrate", src.qmp_path, addr, timeout=300)
    check(rc == 0, "migrate: " + err)
    check(src.wait(30) == 0, "the source did not end")


def test_ping_pong_20(env):
    img = image(env)
    vm = blk_vm(env, img, name="vm0")
    keeps_passing(vm, 1)
    for i in range(20):
        dst = receiver(env, name="vm%d" % (i + 1))
        migrate(env, vm, dst.addr)
        keeps_passing(dst, 1)
        vm = dst
    keeps_passing(vm, 3)
    vm.quit()
    verify(env, img)


def test_destination_killed(env):
    """Killed once the source paused and sent everything: the source takes
    its devices back, its disk locked and working, and goes on."""
    img = image(env)
    src = blk_vm(env, img, name="src")
    keeps_passing(src, 1)
    dst = receiver(env, env_extra={"GODWIT_TEST_STALL": "before-received"})
    q = src.qmp()
    q.execute("migrate", uri=dst.addr)
    dst.expect_stderr("test: stalled before-received", 60)
    dst.proc.send_signal(signal.SIGKILL)
    dst.wait(30)
    q.wait_migration_over(60)
    check(q.execute("query-status")["status"] == "running",
          "source is %s" % q.execute("query-status")["status"])
    q.close()
    keeps_passing(src, 3)
    check(held_by(img), "the source let go of its image")
    src.quit()
    verify(env, img)


def test_readonly_disk(env):
    img = image(env)
    vm = blk_vm(env, img, "passes=1 qd=32")
    vm.expect(r"^blk: done passes=1$", 60)
    check(vm.wait(30) == 0, "write pass: exit status")
    verify(env, img)
    vm = blk_vm(env, img, "passes=1", name="ro", access="ro")
    rc = vm.proc.wait(60)
    vm._t_out.join(5)
    check(rc == 3 and vm.all_lines[-1:] ==
          ["blk: BAD the disk is read-only; mode=write needs a writable one"],
          "a write run on a read-only disk: exit %d, %s" % (rc,
                                                             vm.all_lines))


def test_sync_failure_keeps_the_vm(env):
    """An image that cannot be synced fails a save without -c and a
    migration (before YOURS), and the VM goes on here; save -c needs no
    sync."""
    img = image(env)
    os.environ["GODWIT_TEST_SYNC_FAIL"] = "xvda"
    try:
        vm = blk_vm(env, img)
    finally:
        del os.environ["GODWIT_TEST_SYNC_FAIL"]
    keeps_passing(vm, 1)
    want = "disk xvda: %s: cannot sync it: Input/output error" % img
    rc, _, err = env.godwit_cmd("save", vm.qmp_path,
                                os.path.join(env.tmp, "a.sav"))
    check(rc == 1 and want in err, "save: exit %d: %s" % (rc, err))
    check(not os.path.exists(os.path.join(env.tmp, "a.sav")),
          "a failed save left its file")
    keeps_passing(vm, 1)
    rc, _, err = env.godwit_cmd("save", "-c", vm.qmp_path,
                                os.path.join(env.tmp, "b.sav"))
    check(rc == 0, "save -c: " + err)
    dst = receiver(env)
    rc, _, err = env.godwit_cmd("migrate", vm.qmp_path, dst.addr,
                                timeout=120)
    check(rc == 1 and want in err, "migrate: exit %d: %s" % (rc, err))
    dst.expect_stderr("discarding the VM", 30)
    dst.kill()
    keeps_passing(vm, 2)
    check(held_by(img), "the VM let go of its image")
    vm.quit()
    verify(env, img)


@daemon_test
def test_daemons_migrate_a_disk(env, start):
    """Two godwitd in one directory: the domain with its disk goes
    A -> B -> A -> B -> A while its guest checks every block."""
    a = start("a")
    b = start("b")
    img = image(env)
    cfg = os.path.join(env.tmp, "blk.cfg")
    with open(cfg, "w") as f:
        f.write("name = 'mover'\nkernel = '%s'\nmemory = 64\n"
                "cmdline = '%s'\nserial = 'pty'\n"
                "disk = [ '%s,raw,xvda,rw' ]\n"
                % (env.guest("blk"), WORKLOAD, img))
    a.cli("create", cfg)
    a.wait_dom("mover", "running")
    here, there = a, b
    for hop in range(4):
        passing(here, "mover")
        there_addr = "127.0.0.1:%d" % there.reloc_port
        here.cli("migrate", "mover", there_addr, timeout=120)
        there.wait_dom("mover", "running")
        here.wait_gone("mover")
        here, there = there, here
    passing(here, "mover")
    here.cli("destroy", "mover")
    here.wait_gone("mover")
    wait_until("the lock to go", lambda: not held_by(img))
    verify(env, img)


def passing(d, dom):
    """The blk guest in dom completes passes (two console sessions)."""
    def passes(lines):
        bad = [l for l in lines if "CORRUPT" in l or "BAD" in l]
        check(not bad, "%s: %s" % (dom, bad))
        return [int(m.group(1)) for m in
                (re.match(r"^blk: pass (\d+)$", l) for l in lines) if m]
    first = passes(d.console(dom, seconds=5, until=r"^blk: pass"))
    check(first, "%s: no pass on its console" % dom)
    later = passes(d.console(dom, seconds=5, until=r"^blk: pass"))
    check(later and later[-1] > first[-1],
          "%s: no progress: %s then %s" % (dom, first[-3:], later[-3:]))


if __name__ == "__main__":
    main([test_save_restore_at_random_moments, test_ping_pong_20,
          test_destination_killed, test_readonly_disk,
          test_sync_failure_keeps_the_vm, test_daemons_migrate_a_disk])

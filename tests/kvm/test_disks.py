#!/usr/bin/python3
"""kvm suite: disks in the VMM process.
A VM with a disk opens and locks its image at start, a second VM that
wants it read-write is refused with the holder named, and the lock goes
when the VM ends; read-only users share. Hotplug scripts run add before
the start and remove after the end; a failing or hanging script stops
the start with its own message and leaves nothing running or locked.
Bad disks are one line and exit 1. A save file cannot be restored twice
at once; a restore checks the size the guest saw; a live migration
hands the lock from source to destination. godwitd lists the disks."""

import fcntl
import os
import stat
import struct
import subprocess
import time

from lib.gw import TestFailure, check, main, wait_until
from lib.net import receiver
from test_daemon import daemon_test

MIB = 1 << 20


def image(env, name="disk.img", size=4 * MIB):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def disk_vm(env, specs, name="vm"):
    """A dirty guest with these --disk specs, once it sweeps."""
    extra = []
    for s in specs:
        extra += ["--disk", s]
    vm = env.run("dirty", "mib=4", memory=32, name=name, extra=extra)
    vm.expect(r"^dirty: sweep", 30)
    return vm


def run_fails(env, specs, want, extra=()):
    """godwit run with these disks exits 1 with one error line."""
    args = ["run", "--kernel", env.guest("dirty"), "--memory", "32",
            "--qmp", "none", "--cmdline", "mib=4", "--name", "vm"] + \
        list(extra)
    for s in specs:
        args += ["--disk", s]
    rc, out, err = env.godwit_cmd(*args, timeout=60)
    errors = [l for l in err.splitlines() if "error:" in l or
              l.startswith("godwit: --disk")]
    check(rc == 1, "exit %d, want 1: %s" % (rc, err))
    check(len(errors) == 1 and want in errors[0],
          "want one error line with %r, got: %s" % (want, err))
    check("dirty:" not in out, "the guest ran: " + out)
    return errors[0]


def held_by(path):
    """Does /proc/locks list a lock on path's inode?"""
    st = os.stat(path)
    tag = ":%d " % st.st_ino
    with open("/proc/locks") as f:
        return any(tag in l for l in f)


def test_disk_opened_locked_and_released(env):
    img = image(env)
    a = disk_vm(env, ["%s,raw,xvda,rw" % img], name="a")
    a.expect_stderr(r"disk xvda: %s opened read-write \(4194304 bytes, "
                    r"io_uring\)$" % img)
    check(held_by(img), "no lock on the image")
    want = "disk xvdb: %s is in use: opened read-write by process %d (" \
        % (img, a.proc.pid)
    line = run_fails(env, ["%s,raw,xvdb,rw" % img], want)
    check("godwit run" in line, "the holder's command line: " + line)
    run_fails(env, ["%s,raw,xvdb,ro" % img], want)
    a.quit()
    check(not held_by(img), "the lock outlived the VM")
    b = disk_vm(env, ["format=raw, vdev=xvda, target=%s" % img], name="b")
    b.quit()


def test_thread_engine_on_request(env):
    img = image(env)
    os.environ["GODWIT_IO_ENGINE"] = "threads"
    try:
        vm = disk_vm(env, ["%s,raw,xvda,rw" % img])
    finally:
        del os.environ["GODWIT_IO_ENGINE"]
    vm.expect_stderr(r"disk xvda: %s opened read-write \(4194304 bytes, "
                     r"threads\)" % img)
    vm.quit()


def test_readonly_disks_share(env):
    img = image(env)
    a = disk_vm(env, ["%s,raw,xvda,ro" % img], name="a")
    b = disk_vm(env, ["%s,raw,xvda,ro" % img], name="b")
    want = "disk xvda: %s is in use: opened read-only by process" % img
    run_fails(env, ["%s,raw,xvda,rw" % img], want)
    a.quit()
    b.quit()


def script(env, name, body):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def log_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


# A stand-in for a block script: logs each call, prints a device path.
LOGGING = """echo "$1 $GODWIT_VDEV $GODWIT_PARAMS $GODWIT_MODE $GODWIT_DOMAIN \
$GODWIT_DEVICE" >> %(log)s
[ "$1" = add ] && echo %(img)s
exit 0"""


def test_hotplug_add_and_remove(env):
    img = image(env)
    log = os.path.join(env.tmp, "calls")
    s = script(env, "block-test", LOGGING % {"log": log, "img": img})
    vm = disk_vm(env, ["script=%s, vdev=xvda, target=vg0/root" % s])
    vm.expect_stderr(r"disk xvda: %s opened read-write" % img)
    check(log_lines(log) == ["add xvda vg0/root w vm "],
          "calls: %s" % log_lines(log))
    check(held_by(img), "the device the script gave is not locked")
    vm.quit()
    check(log_lines(log) == ["add xvda vg0/root w vm ",
                             "remove xvda vg0/root w vm %s" % img],
          "calls: %s" % log_lines(log))
    check(not held_by(img), "still locked")


def test_failing_hotplug_stops_start(env):
    img = image(env)
    log = os.path.join(env.tmp, "calls")
    ok = script(env, "block-ok", LOGGING % {"log": log, "img": img})
    bad = script(env, "block-bad",
                 "echo \"$1 $GODWIT_VDEV\" >> %s\n"
                 "echo '  Volume group \"vg9\" not found' >&2\nexit 5" % log)
    want = 'disk xvdb: hotplug script %s add failed (exit 5): ' \
        '"Volume group "vg9" not found"' % bad
    run_fails(env, ["script=%s,vdev=xvda,target=a" % ok,
                    "script=%s,vdev=xvdb,target=b" % bad], want)
    # The first disk was added, opened and locked: all undone.
    check(log_lines(log) == ["add xvda a w vm ", "add xvdb",
                             "remove xvda a w vm %s" % img],
          "calls: %s" % log_lines(log))
    check(not held_by(img), "left locked")


def test_hanging_hotplug_has_a_deadline(env):
    s = script(env, "block-hang", "sleep 60")
    os.environ["GODWIT_HOTPLUG_TIMEOUT_MS"] = "500"
    try:
        start = time.time()
        run_fails(env, ["script=%s,vdev=xvda,target=a" % s],
                  "disk xvda: hotplug script %s add did not finish within "
                  "500 ms (killed)" % s)
        check(time.time() - start < 10, "the deadline was not kept")
    finally:
        del os.environ["GODWIT_HOTPLUG_TIMEOUT_MS"]


F_OFD_SETLK = 37
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10


def set_immutable(path, on):
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS,
                    struct.pack("i", FS_IMMUTABLE_FL if on else 0))
    finally:
        os.close(fd)


def test_bad_disks_one_line_each(env):
    img = image(env)
    missing = os.path.join(env.tmp, "missing.img")
    run_fails(env, ["%s,raw,xvda" % missing],
              "disk xvda: %s does not exist" % missing)
    run_fails(env, ["size=8M,%s,raw,xvda" % img],
              "disk xvda: %s is 4194304 bytes, smaller than the disk's "
              "configured size of 8388608 bytes" % img)
    run_fails(env, ["%s,vmdk,xvda" % img],
              'unknown format "vmdk" (raw or qcow2 are supported)')
    run_fails(env, ["qcow2:%s,xvda,w" % img],
              "disk xvda: %s: not a qcow2 image" % img)
    run_fails(env, [env.tmp + ",raw,xvda"],
              "disk xvda: %s is not a regular file or a block device"
              % env.tmp)
    run_fails(env, ["%s,raw,xvda" % img, "%s,raw,xvda" % img],
              "vdev xvda is already used by disk 1")
    run_fails(env, ["%s,raw,serial0" % img],
              "disk serial0: vdev serial0 is the name of a platform device: "
              "choose another vdev")
    check(not held_by(img), "a refused disk was left locked")
    set_immutable(img, True)
    try:
        run_fails(env, ["%s,raw,xvda,w" % img],
                  "disk xvda: %s is read-only (Operation not permitted): "
                  "use access=ro" % img)
        vm = disk_vm(env, ["%s,raw,xvda,r" % img])
        vm.quit()
    finally:
        set_immutable(img, False)
    os.environ["GODWIT_IO_ENGINE"] = "uring"
    try:
        run_fails(env, ["%s,raw,xvda" % img], "disk xvda: GODWIT_IO_ENGINE="
                  "uring: expected io_uring, threads or auto")
    finally:
        del os.environ["GODWIT_IO_ENGINE"]
    cfg = os.path.join(env.tmp, "vm.cfg")
    with open(cfg, "w") as f:
        f.write("name = 'vm'\nkernel = '%s'\nmemory = 32\n"
                "disk = [ '%s,raw,xvda', 'foo:%s,xvdb,w' ]\n"
                % (env.guest("dirty"), img, img))
    rc, _, err = env.godwit_cmd("run", "--qmp", "none", cfg)
    check(rc == 1 and err.strip() == 'godwit: %s:4: disk: entry 2: unknown '
          'prefix "foo:"' % cfg, "config: exit %d: %s" % (rc, err))


def test_qcow2_overlay_opened_locked_and_migrated(env):
    """A qcow2 overlay (made by godwit disk-create) on a raw base: both
    are locked (the base read-only), the migration's destination reads
    the metadata under the lock, and QEMU finds the image clean."""
    base = image(env, "base.img")
    top = os.path.join(env.tmp, "top.qcow2")
    rc, _, err = env.godwit_cmd("disk-create", "-b", "base.img", top)
    check(rc == 0, "disk-create: " + err)
    rc, _, err = env.godwit_cmd("disk-create", top, "4M")
    check(rc == 1 and "cannot create it: File exists" in err,
          "disk-create over an existing file: %d %s" % (rc, err))
    rc, _, err = env.godwit_cmd("disk-create", top + ".2", "1000")
    check(rc == 2 and "a multiple of 512" in err,
          "disk-create with a bad size: %d %s" % (rc, err))
    src = disk_vm(env, ["qcow2:%s,xvda,w" % top], name="src")
    src.expect_stderr(r"disk xvda: %s opened read-write \(4194304 bytes"
                      % top)
    check(held_by(top) and held_by(base), "the chain is not locked")
    run_fails(env, ["%s,raw,xvdb,rw" % base],
              "disk xvdb: %s is in use: opened read-only by process %d"
              % (base, src.proc.pid))
    dst = receiver(env)
    rc, _, err = env.godwit_cmd("migrate", src.qmp_path, dst.addr,
                                timeout=300)
    check(rc == 0, "migrate: " + err)
    check(src.wait(30) == 0, "source did not end after migrating")
    dst.keeps_sweeping(2)
    dst.quit()
    check(not held_by(top) and not held_by(base), "locked after the end")
    r = subprocess.run(["qemu-img", "check", "-q", top],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "qemu-img check: " + r.stdout + r.stderr)


def test_save_file_restored_once_at_a_time(env):
    img = image(env)
    vm = disk_vm(env, ["%s,raw,xvda,rw" % img])
    save = os.path.join(env.tmp, "vm.save")
    rc, _, err = env.godwit_cmd("save", vm.qmp_path, save, timeout=120)
    check(rc == 0, "save: " + err)
    check(vm.wait(30) == 0, "saved VM did not end")
    check(not held_by(img), "the saved VM kept its lock")
    r1 = env.restore(save, name="r1")
    r1.expect(r"^dirty: sweep", 30)
    rc, _, err = env.godwit_cmd("restore", save, "--qmp", "none")
    check(rc == 1, "second restore: exit %d: %s" % (rc, err))
    check("disk xvda: %s is in use: opened read-write by process %d ("
          % (img, r1.proc.pid) in err, "second restore: " + err)
    r1.quit()
    # The guest saw 4 MiB: a smaller image is refused on restore.
    os.truncate(img, 2 * MIB)
    rc, _, err = env.godwit_cmd("restore", save, "--qmp", "none")
    check(rc == 1 and "%s is 2097152 bytes, smaller than the disk's "
          "configured size of 4194304 bytes" % img in err,
          "restore onto a smaller image: exit %d: %s" % (rc, err))


def test_migration_hands_the_lock_over(env):
    img = image(env)
    src = disk_vm(env, ["%s,raw,xvda,rw" % img], name="src")
    dst = receiver(env)
    rc, _, err = env.godwit_cmd("migrate", src.qmp_path, dst.addr,
                                timeout=300)
    check(rc == 0, "migrate: " + err)
    check(src.wait(30) == 0, "source did not end after migrating")
    dst.keeps_sweeping(3)
    run_fails(env, ["%s,raw,xvda,rw" % img],
              "disk xvda: %s is in use: opened read-write by process %d ("
              % (img, dst.proc.pid))
    dst.quit()
    check(not held_by(img), "still locked after the destination ended")


def ofd_write_lock(path):
    """Hold a write lock on path as another godwit would (once the
    source has let go of it, just after YOURS); returns the fd."""
    fd = os.open(path, os.O_RDWR)
    lock = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)

    def take():
        try:
            fcntl.fcntl(fd, F_OFD_SETLK, lock)
            return True
        except BlockingIOError:
            return False
    wait_until("the source to let go of the lock", take, 10)
    return fd


def handed_over_and_killed(env):
    """The destination dies right after YOURS arrived, before it took the
    disks (the source had let go of its locks): the source cannot know
    whether it runs the VM, so it stays paused, unconfirmed, until the
    operator settles it."""
    img = image(env)
    src = disk_vm(env, ["%s,raw,xvda,rw" % img], name="src")
    dst = receiver(env, env_extra={"GODWIT_TEST_STALL": "got-yours"})
    q = src.qmp()
    q.execute("migrate", uri=dst.addr)
    dst.expect_stderr("test: stalled got-yours", 60)
    dst.kill()
    wait_until("the source to say unconfirmed", lambda: q.execute(
        "query-status")["status"] == "unconfirmed", 30)
    return src, img, q


def test_migration_back_to_source_takes_the_lock_back(env):
    src, img, q = handed_over_and_killed(env)
    r = q.execute_raw("migrate-resolve", action="resume-here")
    check("return" in r, "resume-here: %s" % r)
    check(q.execute("query-status")["status"] == "running",
          "source does not run after resume-here")
    q.close()
    src.keeps_sweeping(3)
    run_fails(env, ["%s,raw,xvda,rw" % img],
              "disk xvda: %s is in use: opened read-write by process %d ("
              % (img, src.proc.pid))
    src.quit()


def test_migration_back_to_source_never_runs_it_twice(env):
    src, img, q = handed_over_and_killed(env)
    fd = ofd_write_lock(img)
    try:
        r = q.execute_raw("migrate-resolve", action="resume-here")
        check("error" in r, "resumed although the image is held: %s" % r)
        check(q.execute("query-status")["status"] == "unconfirmed",
              "source left unconfirmed")
        info = q.execute("query-migrate")
        check("disk xvda: %s is in use: opened read-write by process %d ("
              % (img, os.getpid()) in info.get("error", ""),
              "source's reason: %s" % info)
        r = q.execute_raw("migrate-resolve", action="resume-here")
        check("error" in r and "cannot resume here" in r["error"]["desc"],
              "second resume-here: %s" % r)
    finally:
        os.close(fd)
    # The image is free again: the operator's next word runs it here.
    q.execute("migrate-resolve", action="resume-here")
    check(q.execute("query-status")["status"] == "running",
          "source does not run once the image is free")
    q.close()
    src.keeps_sweeping(3)
    src.quit()


@daemon_test
def test_daemon_lists_disks(env, start):
    d = start("a")
    img = image(env)
    cfg = os.path.join(d.dir, "web.cfg")
    with open(cfg, "w") as f:
        f.write("name = 'web'\nkernel = '%s'\nmemory = 32\n"
                "cmdline = 'mib=4'\nserial = 'pty'\n"
                "disk = [ '%s,raw,xvda,rw', 'vdev=xvdb, access=ro, "
                "target=%s' ]\n" % (env.guest("dirty"), img, img + "2"))
    image(env, "disk.img2")
    d.cli("create", cfg)
    d.wait_dom("web", "running")
    out, _ = d.cli("list", "-v")
    row = [l for l in out.splitlines() if l.startswith("web ")][0]
    check(row.endswith("\txvda:rw:%s,xvdb:ro:%s2\t-" % (img, img)),
          "list -v: %r" % row)
    check("\tDisks" in out.splitlines()[0], "header: " + out)
    disks = d.dom("web")["disks"]
    check(disks == [{"vdev": "xvda", "target": img, "access": "rw"},
                    {"vdev": "xvdb", "target": img + "2", "access": "ro"}],
          "json: %s" % disks)
    wait_until("the VMM to lock the image", lambda: held_by(img))
    d.cli("destroy", "web")
    d.wait_gone("web")
    wait_until("the lock to go", lambda: not held_by(img))


if __name__ == "__main__":
    main([test_disk_opened_locked_and_released, test_thread_engine_on_request,
          test_readonly_disks_share,
          test_hotplug_add_and_remove, test_failing_hotplug_stops_start,
          test_hanging_hotplug_has_a_deadline, test_bad_disks_one_line_each,
          test_save_file_restored_once_at_a_time,
          test_migration_hands_the_lock_over,
          test_qcow2_overlay_opened_locked_and_migrated,
          test_migration_back_to_source_takes_the_lock_back,
          test_migration_back_to_source_never_runs_it_twice,
          test_daemon_lists_disks])

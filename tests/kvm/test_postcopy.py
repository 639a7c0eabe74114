#!/usr/bin/python3
"""kvm suite: post-copy. The VM moves after one pre-copy round and its
guest runs at the destination while the regions that changed since come
from the source, on demand (the guest waits on them) and in the
background: the dirty guest writing everywhere checks every page as it
goes, the cpu guest's digest matches an undisturbed run. A connection cut
in the middle pauses the VM at the destination; `godwit migrate-recover`
reconnects and it finishes intact. The source never resumes after
YOURS, and ends only once the destination has every region."""

import os
import re
import subprocess
import time

from lib.gw import TestFailure, check, main, wait_until
from lib.net import receiver


def migrate_cmd(env, vm, dest, *opts):
    return [env.godwit, "migrate", "--verbose", *opts, vm.qmp_path, dest]


def migrate(env, vm, dest, *opts):
    rc, out, err = env.godwit_cmd(*migrate_cmd(env, vm, dest, *opts)[1:],
                                  timeout=300)
    return rc, err


def postcopy_figures(err):
    m = re.search(r"downtime ([0-9.]+) ms, \d+ rounds, .*then post-copy",
                  err)
    check(m, "not a post-copy migration: " + err)
    return float(m.group(1))


def test_postcopy_dirty_guest(env):
    """64 MiB rewritten as fast as the guest can: every region it needs
    comes to it, and every page is what it last wrote."""
    src = env.run("dirty", "mib=64", memory=256, name="src")
    src.expect(r"^dirty: sweep", 60)
    dst = receiver(env)
    rc, err = migrate(env, src, dst.addr, "--postcopy", "--bandwidth", "64")
    check(rc == 0, "migrate failed: " + err)
    check(postcopy_figures(err) <= 30, "downtime over 30 ms: " + err)
    check(src.wait(30) == 0, "source did not end after post-copy")
    dst.expect_stderr(r"post-copy complete: \d+ regions", 60)
    dst.keeps_sweeping(5)
    dst.quit()


def test_postcopy_cpu_guest(env):
    ref = env.run("cpu", "rounds=2000", name="ref")
    digest = ref.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300).group(1)
    ref.wait(30)
    src = env.run("cpu", "rounds=2000", name="src")
    src.expect(r"^cpu: progress", 30)
    dst = receiver(env)
    rc, err = migrate(env, src, dst.addr, "--postcopy")
    check(rc == 0, "migrate failed: " + err)
    postcopy_figures(err)
    src.wait(30)
    check(not any("digest" in l for l in src.all_lines),
          "cpu guest finished before the migration")
    got = dst.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300).group(1)
    check(got == digest, "digest %s != undisturbed %s" % (got, digest))
    check(dst.wait(30) == 0, "cpu exit status")


def test_postcopy_cut_then_recover(env):
    """Both post-copy connections break after a few regions: the VM
    waits paused at the destination, the source keeps its copy, and
    migrate-recover carries on to the end, every page intact."""
    src = env.run("dirty", "mib=64", memory=256, name="src")
    src.expect(r"^dirty: sweep", 60)
    dst = receiver(env, env_extra={"GODWIT_TEST_POSTCOPY_CUT": "3"})
    mig = subprocess.Popen(migrate_cmd(env, src, dst.addr, "--postcopy",
                                       "--bandwidth", "32"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    env.procs.append(mig)
    try:
        dst.expect_stderr(r"the VM is paused until `godwit migrate-recover`",
                          60)
        # The source waits for it: still there, never resumed.
        time.sleep(0.5)
        check(src.proc.poll() is None, "the source ended without its pages")
        check(mig.poll() is None, "godwit migrate ended early")
        n = len(dst.all_lines)
        time.sleep(0.5)
        check(len(dst.all_lines) - n <= 1, "the guest ran on while paused")
        rc, out, err = env.godwit_cmd("migrate-recover", dst.qmp_path,
                                      timeout=60)
        check(rc == 0, "migrate-recover: " + err)
        _, err = mig.communicate(timeout=120)
        err = err.decode()
        check(mig.returncode == 0, "migrate failed: " + err)
        postcopy_figures(err)
    finally:
        if mig.poll() is None:
            mig.kill()
            mig.wait()
    check(src.wait(30) == 0, "source did not end")
    dst.expect_stderr(r"post-copy complete", 60)
    dst.keeps_sweeping(5)
    dst.quit()


if __name__ == "__main__":
    main([test_postcopy_dirty_guest, test_postcopy_cpu_guest,
          test_postcopy_cut_then_recover])

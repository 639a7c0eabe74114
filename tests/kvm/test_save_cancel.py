#!/usr/bin/python3
"""kvm suite: a save never holds the VM hostage. A save into a FIFO that
nobody reads can be cancelled (job-abort, QMP save-cancel) and otherwise
fails at the stall timeout; either way the VM goes on as it was, running
or paused, with every page intact."""

import os
import stat
import subprocess
import time

from lib.gw import check, main, wait_until


def sweeping(env):
    vm = env.run("dirty", "mib=16", memory=64)
    vm.expect(r"^dirty: sweep", 30)
    return vm


def status(q):
    return q.execute("query-status")["status"]


def test_save_to_fifo_nobody_reads_is_cancelled(env):
    vm = sweeping(env)
    fifo = os.path.join(env.tmp, "save.fifo")
    os.mkfifo(fifo)
    save = subprocess.Popen([env.godwit, "save", vm.qmp_path, fifo],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    env.procs.append(save)
    q = vm.qmp()
    wait_until("the save", lambda: status(q) == "save-vm", 30)
    time.sleep(0.5)
    check(status(q) == "save-vm", "the save ended by itself")
    t = time.time()
    rc, _, err = env.godwit_cmd("job-abort", vm.qmp_path)
    check(rc == 0, "job-abort: %s" % err)
    _, err = save.communicate(timeout=10)
    check(time.time() - t < 3, "cancel took %.1f s" % (time.time() - t))
    check(save.returncode == 1 and b"cancelled" in err and
          b"VM resumed" in err, "save: %r" % err)
    check(status(q) == "running", "VM is %s" % status(q))
    check(q.execute("query-save")["status"] == "failed", "query-save")
    check(stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced")
    vm.keeps_sweeping(3)
    q.close()
    vm.quit()


def test_save_to_fifo_nobody_reads_times_out(env):
    """A reader that opens the FIFO and takes nothing, then no reader at
    all: each fails at the stall timeout; a paused VM stays paused."""
    vm = sweeping(env)
    fifo = os.path.join(env.tmp, "save.fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    q = vm.qmp()
    t = time.time()
    r = q.execute_raw("save", file=fifo, **{"stall-timeout-ms": 2000})
    took = time.time() - t
    check("error" in r and "no progress for 2.0 s (stall timeout)" in
          r["error"]["desc"] and "VM resumed" in r["error"]["desc"],
          "save: %s" % r)
    check(2 <= took < 6, "failed after %.1f s" % took)
    check(status(q) == "running", "VM is %s" % status(q))
    vm.keeps_sweeping(3)
    os.close(reader)
    q.execute("stop")
    t = time.time()
    r = q.execute_raw("save", file=fifo, **{"stall-timeout-ms": 1000})
    check("error" in r and "no reader opened the FIFO within 1.0 s" in
          r["error"]["desc"] and "left paused" in r["error"]["desc"],
          "save: %s" % r)
    check(time.time() - t < 5, "failed after %.1f s" % (time.time() - t))
    check(status(q) == "paused", "VM is %s" % status(q))
    q.execute("cont")
    vm.keeps_sweeping(3)
    q.close()
    vm.quit()


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

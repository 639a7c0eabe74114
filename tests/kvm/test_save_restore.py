#!/usr/bin/python3
"""kvm suite: checkpoints. Every guest is saved at random moments and
restored, and must carry on as if nothing happened: dirty keeps sweeping
with every page intact and its sweep count continuing, cpu ends with the
digest of an undisturbed run, timer sees no jump in time."""

import os
import time

from lib.gw import check, check_pauses, main, seeded_random

rnd = seeded_random()
SEEDS = 3  # random save moments per guest and run


def save(env, vm, path, *flags):
    rc, out, err = env.godwit_cmd("save", *flags, vm.qmp_path, path,
                                  timeout=120)
    check(rc == 0, "save failed (%d): %s" % (rc, err))
    return err


def last_sweep(vm):
    for line in reversed(vm.all_lines):
        if line.startswith("dirty: sweep "):
            return int(line.split()[2])
    return 0


def save_restore_dirty(env, guest, vcpus, cmdline, memory):
    vm = env.run(guest, cmdline, memory=memory, vcpus=vcpus)
    vm.expect(r"^dirty: ready", 60)
    for i in range(SEEDS):
        time.sleep(rnd.uniform(0.05, 1.5))
        path = os.path.join(env.tmp, "dirty%d.sav" % i)
        before = last_sweep(vm)
        save(env, vm, path)
        check(vm.wait(30) == 0, "saved VM did not exit 0")
        vm = env.restore(path, name="vm")
        m = vm.expect(r"^dirty: sweep (\d+)$", 30)
        check(int(m.group(1)) >= before,
              "sweep count went back: %s < %d" % (m.group(1), before))
        # Several more sweeps over every page, each checked by the guest.
        target = int(m.group(1)) + 50
        while int(m.group(1)) < target:
            m = vm.expect(r"^dirty: sweep (\d+)$", 30)
    vm.quit()


def test_dirty_random_moments(env):
    save_restore_dirty(env, "dirty", 1, "mib=48", 128)


def test_smp_dirty_random_moments(env):
    save_restore_dirty(env, "smp-dirty", 2, "mib=48", 128)


def cpu_digest(env, guest, vcpus, rounds):
    vm = env.run(guest, "rounds=%d" % rounds, vcpus=vcpus, name="ref")
    m = vm.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300)
    check(vm.wait(30) == 0, "reference cpu run")
    return m.group(1)


def save_restore_cpu(env, guest, vcpus, rounds):
    ref = cpu_digest(env, guest, vcpus, rounds)
    for i in range(SEEDS):
        vm = env.run(guest, "rounds=%d" % rounds, vcpus=vcpus)
        vm.expect(r"^cpu: progress", 60)
        time.sleep(rnd.uniform(0.0, 0.5))
        path = os.path.join(env.tmp, "cpu%d.sav" % i)
        save(env, vm, path)
        vm.wait(30)
        if any("digest" in l for l in vm.all_lines):
            continue  # finished before the save: nothing to check
        vm = env.restore(path)
        m = vm.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300)
        check(m.group(1) == ref, "digest %s != undisturbed %s"
              % (m.group(1), ref))
        check(vm.wait(30) == 0, "restored cpu exit status")


def test_cpu_random_moments(env):
    save_restore_cpu(env, "cpu", 1, 2000)


def test_smp_cpu_random_moments(env):
    save_restore_cpu(env, "smp-cpu", 2, 2000)


def test_timer_random_moments(env):
    vm = env.run("timer", "seconds=6")
    vm.expect(r"^timer: tick", 30)
    for i in range(2):
        time.sleep(rnd.uniform(0.2, 1.5))
        path = os.path.join(env.tmp, "timer%d.sav" % i)
        save(env, vm, path)
        vm.wait(30)
        check_pauses(vm, 100)
        # Let wall-clock time pass while saved: the guest must not see it
        # where godwit can hold guest time still (check_pauses).
        time.sleep(1.0)
        vm = env.restore(path)
    vm.expect(r"^timer: ok$", 60)
    check(vm.wait(30) == 0, "timer exit status")
    check_pauses(vm, 100)


def test_timer_pause_unpause(env):
    vm = env.run("timer", "seconds=5")
    vm.expect(r"^timer: tick", 30)
    q = vm.qmp()
    q.execute("stop")
    time.sleep(0.5)
    q.execute("cont")
    vm.expect(r"^timer: ok$", 60)
    check(vm.wait(30) == 0, "timer exit status")
    check_pauses(vm, 50)


def test_chain_20(env):
    vm = env.run("dirty", "mib=16", memory=64)
    vm.expect(r"^dirty: ready", 30)
    for i in range(20):
        m = vm.expect(r"^dirty: sweep (\d+)$", 30)
        n = int(m.group(1))
        path = os.path.join(env.tmp, "chain.sav")
        save(env, vm, path)
        check(vm.wait(30) == 0, "save %d: VM did not exit 0" % i)
        vm = env.restore(path)
        m = vm.expect(r"^dirty: sweep (\d+)$", 30)
        check(int(m.group(1)) >= n, "chain %d: sweep went back" % i)
    vm.quit()


def test_save_continue_keeps_running(env):
    vm = env.run("dirty", "mib=32")
    vm.expect(r"^dirty: sweep", 30)
    path = os.path.join(env.tmp, "c.sav")
    save(env, vm, path, "-c")
    n = int(vm.expect(r"^dirty: sweep (\d+)$", 30).group(1))
    m = vm.expect(r"^dirty: sweep (\d+)$", 30)
    check(int(m.group(1)) > n, "VM stopped sweeping after save -c")
    q = vm.qmp()
    check(q.execute("query-status")["status"] == "running", "not running")
    check(q.execute("query-save")["status"] == "completed", "query-save")
    # The file restores too, alongside the original (a different socket).
    vm2 = env.restore(path, name="copy")
    vm2.expect(r"^dirty: sweep", 30)
    vm2.qmp().execute("quit")
    q.execute("quit")
    check(vm.wait(30) == 0 and vm2.wait(30) == 0, "quit")


def test_save_paused_leaves_paused(env):
    vm = env.run("dirty", "mib=16")
    vm.expect(r"^dirty: sweep", 30)
    save(env, vm, os.path.join(env.tmp, "p.sav"), "-p")
    q = vm.qmp()
    check(q.execute("query-status")["status"] == "paused", "not paused")
    time.sleep(0.3)
    n = len(vm.all_lines)
    time.sleep(0.5)
    check(len(vm.all_lines) == n, "guest printed while paused")
    q.execute("cont")
    vm.expect(r"^dirty: sweep", 30)
    q.execute("quit")
    check(vm.wait(30) == 0, "quit")


def test_restore_paused(env):
    vm = env.run("dirty", "mib=16")
    vm.expect(r"^dirty: sweep", 30)
    path = os.path.join(env.tmp, "rp.sav")
    save(env, vm, path)
    vm.wait(30)
    vm = env.restore(path, extra=["-p"])
    q = vm.qmp()
    check(q.execute("query-status")["status"] == "paused", "not paused")
    q.execute("cont")
    vm.expect(r"^dirty: sweep", 30)
    q.execute("quit")
    check(vm.wait(30) == 0, "quit")


def test_failed_save_leaves_vm_running(env):
    vm = env.run("dirty", "mib=16")
    vm.expect(r"^dirty: sweep", 30)
    rc, out, err = env.godwit_cmd("save", vm.qmp_path,
                                  "/nonexistent-dir/x.sav")
    check(rc == 1, "save to a missing directory: exit %d" % rc)
    check("resumed" in err, "error does not say the VM resumed: " + err)
    q = vm.qmp()
    check(q.execute("query-status")["status"] == "running", "not running")
    check(q.execute("query-save")["status"] == "failed", "query-save")
    n = int(vm.expect(r"^dirty: sweep (\d+)$", 30).group(1))
    m = vm.expect(r"^dirty: sweep (\d+)$", 30)
    check(int(m.group(1)) > n, "not sweeping after the failed save")
    check(not os.path.exists("/nonexistent-dir"), "created a directory")
    q.execute("quit")
    check(vm.wait(30) == 0, "quit")


def test_zero_pages_not_saved(env):
    # A 1 GiB guest that touched 64 MiB saves to about 64 MiB.
    vm = env.run("dirty", "mib=64", memory=1024)
    vm.expect(r"^dirty: sweep", 60)
    path = os.path.join(env.tmp, "z.sav")
    save(env, vm, path)
    vm.wait(30)
    size = os.path.getsize(path)
    check(64 << 20 <= size < 72 << 20, "save file is %d bytes" % size)
    vm = env.restore(path)
    vm.expect(r"^dirty: sweep", 30)
    vm.quit()


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

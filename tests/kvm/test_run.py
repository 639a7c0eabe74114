#!/usr/bin/python3
"""kvm suite: every test guest boots under godwit run and keeps its
output contract; poweroff, reset, triple fault and the debug-exit port
end the VM with their own exit status; serial input reaches the guest."""

import subprocess
import time

from lib.gw import check, main


def test_dirty_sweeps_and_exits_0(env):
    vm = env.run("dirty", "mib=32 sweeps=200", memory=128)
    vm.expect(r"^dirty: ready mib=32$", 30)
    vm.expect(r"^dirty: done sweeps=200$", 60)
    check(vm.wait() == 0, "dirty exit status")


def test_dirty_rate_limited(env):
    # 8 MiB at 16 MiB/s: a sweep every half second, about 3 s for 6.
    start = time.time()
    vm = env.run("dirty", "mib=8 rate=16 sweeps=6", memory=64)
    vm.expect(r"^dirty: done sweeps=6$", 60)
    took = time.time() - start
    check(vm.wait() == 0, "dirty exit status")
    check(2.0 < took < 20, "rate=16 for 48 MiB took %.1fs" % took)


def test_dirty_too_big_reports_bad(env):
    vm = env.run("dirty", "mib=512", memory=64)
    rc = vm.proc.wait(timeout=60)
    vm._t_out.join(5)  # not vm.wait(): that fails on the BAD line
    check(rc == 3, "exit status %d, want 3" % rc)
    check(any("does not fit" in l for l in vm.all_lines), "no 'does not fit'")


def test_cpu_digest_ok(env):
    vm = env.run("cpu", "rounds=200")
    m = vm.expect(r"^cpu: digest=([0-9a-f]+) ok$", 120)
    check(vm.wait() == 0, "cpu exit status")
    # Deterministic: a second run gives the same digest.
    vm2 = env.run("cpu", "rounds=200", name="vm2")
    m2 = vm2.expect(r"^cpu: digest=([0-9a-f]+) ok$", 120)
    check(m.group(1) == m2.group(1), "digest differs between runs")
    check(vm2.wait() == 0, "cpu exit status")


def test_timer_ok(env):
    vm = env.run("timer", "seconds=3")
    vm.expect(r"^timer: tick", 30)
    vm.expect(r"^timer: ok$", 60)
    check(vm.wait() == 0, "timer exit status")


def test_timer_stall_in_handler_is_excused(env):
    """A vCPU saved inside its tick handler wakes with ticks expired and
    takes the next one before ring 3 has seen the gap; the guest must
    count that gap, not call the timer slow (a CI failure, reproduced
    by inject=stall: 1.5 s in the handler, 1 s windows)."""
    vm = env.run("timer", "seconds=5 window=1 inject=stall")
    vm.expect(r"^timer: pause 1[45]\d\d ms$", 30)
    vm.expect(r"^timer: ok$", 60)
    check(vm.wait() == 0, "timer exit status")


def test_smp_dirty(env):
    vm = env.run("smp-dirty", "mib=32 sweeps=100", vcpus=2, memory=128)
    vm.expect(r"^dirty: ready .*cpus=2", 60)
    vm.expect(r"^dirty: done sweeps=100$", 120)
    check(vm.wait() == 0, "smp-dirty exit status")


def test_smp_cpu(env):
    vm = env.run("smp-cpu", "rounds=100", vcpus=2)
    vm.expect(r"^cpu: digest=[0-9a-f]+ ok$", 180)
    check(vm.wait() == 0, "smp-cpu exit status")


def lifecycle(env, action):
    vm = env.run("lifecycle", "action=" + action, memory=32)
    vm.expect(r"^lifecycle: start$", 30)
    return vm, vm.wait(60)


def test_poweroff_exits_0(env):
    vm, rc = lifecycle(env, "poweroff")
    check(rc == 0, "poweroff exit status %d" % rc)
    check("guest powered off" in vm.stderr(), "no poweroff line: " + vm.stderr())


def test_reset_exits_120(env):
    vm, rc = lifecycle(env, "reset")
    check(rc == 120, "reset exit status %d" % rc)
    check("reset" in vm.stderr(), "no reset line: " + vm.stderr())


def test_triple_fault_exits_121(env):
    vm, rc = lifecycle(env, "triple-fault")
    check(rc == 121, "triple fault exit status %d" % rc)
    check("triple fault" in vm.stderr(), "no triple fault line")


def test_debug_exit_value_is_status(env):
    for n in (0, 7, 42):
        vm, rc = lifecycle(env, "exit:%d" % n)
        check(rc == n, "exit:%d gave %d" % (n, rc))


def test_serial_input_reaches_guest(env):
    vm = env.run("lifecycle", "action=echo", memory=32,
                 stdin=subprocess.PIPE)
    vm.expect(r"^lifecycle: start$", 30)
    vm.proc.stdin.write(b"hi")
    vm.proc.stdin.flush()
    vm.expect(r"got 68", 30)
    vm.expect(r"got 69", 30)
    vm.proc.stdin.write(b"q")
    vm.proc.stdin.flush()
    check(vm.wait(30) == 0, "echo guest exit status")


def test_sigterm_ends_vm(env):
    vm = env.run("dirty", "mib=8")
    vm.expect(r"^dirty: sweep", 30)
    vm.proc.terminate()
    check(vm.wait(30) == 0, "SIGTERM exit status")
    check("terminated by signal 15" in vm.stderr(), vm.stderr())


def test_qmp_pause_and_status(env):
    vm = env.run("dirty", "mib=8")
    vm.expect(r"^dirty: sweep", 30)
    q = vm.qmp()
    check(q.execute("query-status")["status"] == "running", "not running")
    q.execute("stop")
    check(q.execute("query-status")["status"] == "paused", "not paused")
    env.godwit_cmd("unpause", vm.qmp_path, check_rc=0)
    check(q.execute("query-status")["status"] == "running", "not resumed")
    q.execute("quit")
    q.close()
    check(vm.wait(30) == 0, "quit exit status")


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

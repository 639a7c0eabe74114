#!/usr/bin/python3
"""kvm suite: live migration. Guests move between godwit processes over
TCP and carry on intact; every failure before the handover leaves the
source VM running intact; hosts in network namespaces migrate too."""

import os
import signal
import time

from lib.gw import TestFailure, Vm, check, check_pauses, main, \
    seeded_random, wait_until
from lib.net import FakePeer, Proxy, TwoHosts, free_port, receiver, \
    retag_header
from lib.stream import Stream

rnd = seeded_random()


def migrate(env, vm, dest, *opts, want_rc=0):
    rc, out, err = env.godwit_cmd("migrate", *opts, vm.qmp_path, dest,
                                  timeout=300)
    check(rc == want_rc, "migrate exit %d, want %d: %s" % (rc, want_rc, err))
    return err


def sweeping_source(env, cmdline="mib=16", memory=128, name="src", **kw):
    """A dirty guest that has printed its first sweep line."""
    src = env.run("dirty", cmdline, memory=memory, name=name, **kw)
    src.expect(r"^dirty: sweep", 30)
    return src


def move_dirty(env, cmdline, memory=256, opts=()):
    src = sweeping_source(env, cmdline, memory)
    dst = receiver(env)
    err = migrate(env, src, dst.addr, *opts)
    check(src.wait(30) == 0, "source did not end after migrating")
    check("downtime" in err, "no downtime in: " + err)
    dst.keeps_sweeping()
    dst.quit()
    return err


def test_dirty_unlimited(env):
    move_dirty(env, "mib=64")


def test_dirty_rate_100(env):
    move_dirty(env, "mib=64 rate=100", memory=256)


def test_dirty_rate_20_verbose(env):
    err = move_dirty(env, "mib=8 rate=20", opts=("--verbose",))
    check("round 0:" in err and "MB/s sent" in err, "no round lines: " + err)


def test_no_live(env):
    move_dirty(env, "mib=64", opts=("--no-live",))


def test_bandwidth_limit(env):
    # Round 0 alone is 16 MiB: at 32 MiB/s that takes half a second.
    start = time.time()
    move_dirty(env, "mib=16", opts=("--bandwidth", "32"))
    check(time.time() - start > 0.45, "32 MiB/s limit not applied")


def test_cpu_guest(env):
    ref = env.run("cpu", "rounds=3000", name="ref")
    digest = ref.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300).group(1)
    ref.wait(30)
    src = env.run("cpu", "rounds=3000", name="src")
    src.expect(r"^cpu: progress", 30)
    dst = receiver(env)
    time.sleep(rnd.uniform(0.1, 0.8))
    migrate(env, src, dst.addr)
    src.wait(30)
    if any("digest" in l for l in src.all_lines):
        raise TestFailure("cpu guest finished before the migration")
    got = dst.expect(r"^cpu: digest=([0-9a-f]+) ok$", 300).group(1)
    check(got == digest, "digest %s != undisturbed %s" % (got, digest))
    check(dst.wait(30) == 0, "cpu exit status")


def test_timer_guest(env):
    src = env.run("timer", "seconds=6", name="src")
    src.expect(r"^timer: tick", 30)
    dst = receiver(env)
    time.sleep(1)
    migrate(env, src, dst.addr)
    dst.expect(r"^timer: ok$", 60)
    check(dst.wait(30) == 0, "timer exit status")
    check_pauses(dst, 50)


def test_smp_guests(env):
    for guest, pattern in (("smp-dirty", r"^dirty: sweep"),
                           ("smp-cpu", r"^cpu: progress")):
        args = "mib=64" if guest == "smp-dirty" else "rounds=3000"
        src = env.run(guest, args, vcpus=2, name="src-" + guest)
        src.expect(pattern, 60)
        dst = receiver(env, name="dst-" + guest)
        migrate(env, src, dst.addr)
        if guest == "smp-dirty":
            dst.keeps_sweeping()
            dst.quit()
        else:
            dst.expect(r"^cpu: digest=[0-9a-f]+ ok$", 300)
            check(dst.wait(30) == 0, "smp-cpu exit status")


def test_ping_pong_20(env):
    vm = sweeping_source(env, "mib=32", name="vm0")
    for i in range(20):
        dst = receiver(env, name="vm%d" % (i + 1))
        migrate(env, vm, dst.addr)
        check(vm.wait(30) == 0, "hop %d: source did not end" % i)
        dst.keeps_sweeping(5)
        vm = dst
    vm.keeps_sweeping(30)
    vm.quit()


def source_survives(src, label):
    """The source VM is running, sweeping, uncorrupted."""
    q = src.qmp()
    st = q.execute("query-status")["status"]
    check(st == "running", "%s: source is %s" % (label, st))
    check(q.execute("query-migrate")["status"] == "failed",
          "%s: query-migrate does not say failed" % label)
    src.keeps_sweeping(3)
    q.close()


def killed_at(env, stall=None, when=None, opts=()):
    src = sweeping_source(env, "mib=32 rate=200", memory=256)
    extra = {"GODWIT_TEST_STALL": stall} if stall else None
    dst = receiver(env, env_extra=extra)
    q = src.qmp()
    args = {"uri": dst.addr}
    args.update(opts)
    q.execute("migrate", **args)
    if stall:
        dst.expect_stderr("test: stalled " + stall, 60)
    else:
        when(q)
    dst.proc.send_signal(signal.SIGKILL)
    dst.wait(30)
    q.wait_migration_over(60)
    q.close()
    source_survives(src, stall or "kill")
    src.quit()


def test_dest_killed_before_header(env):
    killed_at(env, stall="after-accept")


def in_round(n):
    def when(q):
        wait_until("round %d" % n,
                   lambda: q.execute("query-migrate").get("round", 0) >= n,
                   60, 0.01)
    return when


def test_dest_killed_in_round_0(env):
    # 16 MiB/s: round 0 of 64 MiB takes seconds.
    killed_at(env, when=lambda q: time.sleep(0.5),
              opts={"bandwidth": 16})


def test_dest_killed_in_later_round(env):
    killed_at(env, when=in_round(2), opts={"bandwidth": 64,
                                            "downtime-ms": 1})


def test_dest_killed_after_received(env):
    """The source sent YOURS; it cannot know whether the destination took
    it before dying: it stays paused, unconfirmed, until the operator
    decides (the destination, dead, answers no QUERY)."""
    src = sweeping_source(env, "mib=32 rate=200", memory=256)
    dst = receiver(env, env_extra={"GODWIT_TEST_STALL": "after-received"})
    q = src.qmp()
    q.execute("migrate", uri=dst.addr)
    dst.expect_stderr("test: stalled after-received", 60)
    dst.proc.send_signal(signal.SIGKILL)
    dst.wait(30)
    q.wait_migration_over(60)
    check(q.execute("query-status")["status"] == "unconfirmed",
          "source is %s" % q.execute("query-status")["status"])
    time.sleep(1)
    check(q.execute("query-status")["status"] == "unconfirmed",
          "resumed without the destination's word")
    q.execute("migrate-resolve", action="resume-here")
    q.close()
    source_survives(src, "killed after RECEIVED, resumed by the operator")
    src.quit()


def test_connection_cut_mid_stream(env):
    src = sweeping_source(env, "mib=64", memory=256)
    dst = receiver(env)
    proxy = Proxy(dst.port, cut_after=20 << 20)
    err = migrate(env, src, "127.0.0.1:%d" % proxy.port, want_rc=1)
    check("resumed" in err, "source did not say it resumed: " + err)
    check(dst.wait(30) == 1, "destination did not fail")
    source_survives(src, "cut")
    src.quit()


def test_closed_port(env):
    src = sweeping_source(env)
    err = migrate(env, src, "127.0.0.1:%d" % free_port(), want_rc=1)
    check("Connection refused" in err, "no 'refused' in: " + err)
    source_survives(src, "closed port")
    src.quit()


def test_peer_not_godwit(env):
    src = sweeping_source(env)
    peer = FakePeer()
    err = migrate(env, src, "127.0.0.1:%d" % peer.port, want_rc=1)
    check("resumed" in err, "no 'resumed' in: " + err)
    source_survives(src, "fake peer")
    src.quit()


def test_destination_refuses_identity(env):
    src = sweeping_source(env)
    dst = receiver(env)
    proxy = Proxy(dst.port, tamper=lambda h: retag_header(h, Stream.DIGEST, 1))
    err = migrate(env, src, "127.0.0.1:%d" % proxy.port, want_rc=1)
    check("refused the VM" in err and "machine identity" in err,
          "source did not relay the refusal: " + err)
    check(dst.wait(30) == 1, "destination did not exit 1")
    source_survives(src, "identity")
    src.quit()


class MemCgroup:
    """A child of this process's memory cgroup (v2 where its memory
    controller is usable, else v1) limited to limit_mib; prefix() runs a
    command in it."""

    def __init__(self, limit_mib):
        v1 = v2 = None
        with open("/proc/self/cgroup") as f:
            for line in f:
                num, ctrls, path = line.rstrip("\n").split(":", 2)
                if num == "0":
                    v2 = path
                elif "memory" in ctrls.split(","):
                    v1 = path
        name = "gwtest-%d" % os.getpid()
        base2 = "/sys/fs/cgroup" + (v2 or "")
        if v2 is not None and os.path.exists(base2 + "/cgroup.controllers") \
                and "memory" in open(base2 + "/cgroup.controllers").read():
            self.path, limit = os.path.join(base2, name), "memory.max"
        else:
            self.path = os.path.join("/sys/fs/cgroup/memory",
                                     (v1 or "/").lstrip("/"), name)
            limit = "memory.limit_in_bytes"
        os.mkdir(self.path)
        with open(os.path.join(self.path, limit), "w") as f:
            f.write(str(limit_mib << 20))

    def prefix(self):
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
                self.path]

    def remove(self):
        """End what still runs in it (a failed check leaves its VMM), and
        remove it."""
        for _ in range(50):
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def test_receiver_without_memory_refuses(env):
    """A receiver whose cgroup cannot hold the VM's RAM refuses it with
    one line and the source resumes (it used to take the VM and be
    killed by the OOM killer, or kill another process of its cgroup);
    --overcommit takes it all the same."""
    src = sweeping_source(env, "mib=16", memory=96)
    # 96 MiB of RAM do not fit in 80; the 16 the guest touches do.
    cg = MemCgroup(80)
    try:
        dst = receiver(env, prefix=cg.prefix())
        err = migrate(env, src, dst.addr, want_rc=1)
        check("refused the VM" in err and "not enough memory" in err,
              "source did not relay the refusal: " + err)
        check(dst.wait(30) == 1, "destination did not exit 1")
        errs = [x for x in dst.stderr_lines if x and "error" in x]
        check(len(errs) == 1 and "--overcommit" in errs[0],
              "receiver's error lines: %s" % errs)
        source_survives(src, "memory")
        dst = receiver(env, prefix=cg.prefix(), extra=["--overcommit"])
        migrate(env, src, dst.addr)
        check(src.wait(30) == 0, "source did not end after migrating")
        dst.keeps_sweeping()
        dst.quit()
    finally:
        cg.remove()


def test_cancel(env):
    src = sweeping_source(env, "mib=32 rate=200", memory=256)
    dst = receiver(env)
    q = src.qmp()
    q.execute("migrate", uri=dst.addr, bandwidth=8)
    time.sleep(0.5)
    q.execute("migrate_cancel")
    q.wait_migration_over(30)
    check(dst.wait(30) == 1, "destination did not discard the VM")
    q.close()
    source_survives(src, "cancel")
    src.quit()


HOOK = """#!/bin/sh
dests=$(tr '\\0' '\\n' < /proc/$$/environ | grep -c '^GODWIT_DEST=')
echo "$1 $2 $4 step=$GODWIT_STEP domain=$GODWIT_DOMAIN dest=$GODWIT_DEST dests=$dests" >> %(log)s
echo "hook says hello at $1"
[ "$1" = "%(fail)s" ] && exit 7
[ "$1" = "%(hang)s" ] && sleep 60
exit 0
"""


def hooks_dir(env, fail="", hang=""):
    d = os.path.join(env.tmp, "hooks")
    os.makedirs(d, exist_ok=True)
    log = os.path.join(env.tmp, "hooks.log")
    path = os.path.join(d, "10-record")
    with open(path, "w") as f:
        f.write(HOOK % {"log": log, "fail": fail or "none",
                        "hang": hang or "none"})
    os.chmod(path, 0o755)
    with open(os.path.join(d, ".ignored"), "w") as f:
        f.write("#!/bin/sh\nexit 1\n")
    os.chmod(os.path.join(d, ".ignored"), 0o755)
    return d, log


def hook_steps(log):
    with open(log) as f:
        return [l.split()[0] for l in f]


def test_hooks_run_at_every_step(env):
    d, log = hooks_dir(env)
    # Values the monitor inherited must not shadow this migration's.
    stale = ("env", "GODWIT_DEST=stale", "GODWIT_DOMAIN=stale",
             "GODWIT_STEP=stale")
    src = sweeping_source(env, extra=["--hooks-dir", d], prefix=stale)
    dst = receiver(env)
    migrate(env, src, dst.addr)
    check(src.wait(30) == 0, "source did not end")
    check(hook_steps(log) == ["check", "pre-suspend", "post-suspend",
                              "sync"], "steps: %s" % hook_steps(log))
    line = open(log).readline()
    check("step=check domain=src dest=%s" % dst.addr in line and
          " src " in line and "stale" not in line and "dests=1" in line,
          "hook arguments/environment: " + line)
    check("hook 10-record check: hook says hello at check" in src.stderr(),
          "hook output not logged: " + src.stderr())
    dst.keeps_sweeping(3)
    dst.quit()


def test_hook_failure_at_each_step_resumes(env):
    for step in ("check", "pre-suspend", "post-suspend", "sync"):
        d, log = hooks_dir(env, fail=step)
        if os.path.exists(log):
            os.unlink(log)
        src = sweeping_source(env, name="src-" + step,
                              extra=["--hooks-dir", d])
        dst = receiver(env, name="dst-" + step)
        err = migrate(env, src, dst.addr, want_rc=1)
        check("hook 10-record failed at step %s (exit 7)" % step in err,
              "%s: %s" % (step, err))
        steps = hook_steps(log)
        check(steps[-1] == "recover" and steps[-2] == step,
              "%s: steps %s" % (step, steps))
        source_survives(src, step)
        src.quit()
        if dst.proc.poll() is None:  # never connected (check): stop it
            dst.kill()


def test_hook_timeout(env):
    d, log = hooks_dir(env, hang="pre-suspend")
    os.environ["GODWIT_HOOK_TIMEOUT_MS"] = "500"
    try:
        src = env.run("dirty", "mib=16", name="src",
                      extra=["--hooks-dir", d])
    finally:
        del os.environ["GODWIT_HOOK_TIMEOUT_MS"]
    src.expect(r"^dirty: sweep", 30)
    dst = receiver(env)
    err = migrate(env, src, dst.addr, want_rc=1)
    check("timed out at step pre-suspend" in err, err)
    source_survives(src, "timeout")
    src.quit()


def test_receiver_rejects_existing_name(env):
    src = sweeping_source(env)
    dst = receiver(env, extra=["--reject-name", "src"])
    err = migrate(env, src, dst.addr, want_rc=1)
    check("a domain named 'src' already exists here" in err, err)
    source_survives(src, "name")
    src.quit()


def test_two_hosts_in_namespaces(env):
    hosts = TwoHosts()
    try:
        a = Vm(env, ["run", "--kernel", env.guest("dirty"), "--cmdline",
                     "mib=64", "--memory", "256", "--serial", "stdio"],
               name="on-a", prefix=hosts.prefix("a"))
        a.expect(r"^dirty: sweep", 30)
        b = receiver(env, "on-b", listen=hosts.addr_b + ":8002",
                     prefix=hosts.prefix("b"))
        rc, out, err = env.godwit_cmd("migrate", a.qmp_path, hosts.addr_b,
                                      timeout=120,
                                      prefix=hosts.prefix("a"))
        check(rc == 0, "migrate A->B: " + err)
        check(a.wait(30) == 0, "A did not end")
        b.keeps_sweeping()
        # And back again.
        a2 = receiver(env, "on-a2", listen=hosts.addr_a + ":8002",
                      prefix=hosts.prefix("a"))
        rc, out, err = env.godwit_cmd("migrate", b.qmp_path, hosts.addr_a,
                                      timeout=120, prefix=hosts.prefix("b"))
        check(rc == 0, "migrate B->A: " + err)
        a2.keeps_sweeping()
        a2.quit()
    finally:
        hosts.remove()


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

#!/usr/bin/python3
"""kvm suite: migration over ssh, as xl does it (`godwit migrate -s`): the
source runs `godwit migrate-receive --stdio` on the other end through a
real ssh to an sshd of the test's own. The dirty guest arrives intact and
runs on after ssh's session has ended; a receiver killed mid-stream and an
ssh killed after YOURS are decided within seconds, as a TCP cut is: the
source resumes, or (after YOURS) stays unconfirmed until migrate-resolve."""

import os
import re
import signal
import time

from lib.gw import Qmp, TestFailure, assert_healthy, check, main, \
    wait_until
from lib.net import free_port
from lib.sshd import Sshd
from test_daemon import daemon_test

DEST = "root@127.0.0.1"


def receive_command(env, env_prefix=""):
    serial = os.path.join(env.tmp, "dst.serial")
    qmp = os.path.join(env.tmp, "dst.qmp")
    return ("%s%s migrate-receive --stdio --serial file:%s --qmp %s"
            % (env_prefix, env.godwit, serial, qmp))


def sweeping_source(env, cmdline="mib=16", memory=128):
    src = env.run("dirty", cmdline, memory=memory, name="src")
    src.expect(r"^dirty: sweep", 30)
    return src


def remote_pid(src, timeout=60):
    """The receiving VMM's pid, from its log line that came back through
    ssh into the source's log."""
    m = src.expect_stderr(r"receiving a migration on stdin \(VMM pid (\d+)\)",
                          timeout)
    return int(m.group(1))


def serial_sweeps(env, more=10, timeout=30):
    """The destination's dirty guest (serial in a file) completes `more`
    sweeps, each checking every page, with no corruption reported."""
    path = os.path.join(env.tmp, "dst.serial")
    deadline = time.time() + timeout
    first = None
    while time.time() < deadline:
        try:
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        sweeps = []
        for line in lines:
            assert_healthy(line, "destination")
            m = re.match(r"^dirty: sweep (\d+)$", line)
            if m:
                sweeps.append(int(m.group(1)))
        if sweeps and first is None:
            first = sweeps[-1]
        if sweeps and sweeps[-1] >= first + more:
            return sweeps[-1]
        time.sleep(0.2)
    raise TestFailure("destination: no %d more sweeps in %s" % (more, path))


def quit_remote(env, pid):
    q = Qmp(os.path.join(env.tmp, "dst.qmp"))
    q.execute("quit")
    q.close()
    wait_until("the remote VMM to exit", lambda: not alive(pid), 30)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill_pid(pid):
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)


def source_survives(src, label):
    q = src.qmp()
    st = q.execute("query-status")["status"]
    check(st == "running", "%s: source is %s" % (label, st))
    check(q.execute("query-migrate")["status"] == "failed",
          "%s: query-migrate does not say failed" % label)
    src.keeps_sweeping(3)
    q.close()


def ssh_children(pid):
    """ssh, which the source VMM started (sh exec'd into it)."""
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            out += [int(p) for p in f.read().split()]
    return out


def test_ssh_live_dirty(env):
    sshd = Sshd(env.tmp)
    pid = None
    try:
        src = sweeping_source(env, "mib=32 rate=200", memory=256)
        rc, out, err = env.godwit_cmd(
            "migrate", "-s", sshd.command(), "--receive-command",
            receive_command(env), "--verbose", src.qmp_path, DEST,
            timeout=120)
        check(rc == 0, "migrate over ssh: exit %d: %s" % (rc, err))
        check("downtime" in err and "round 0:" in err,
              "no outcome or rounds: " + err)
        check(src.wait(30) == 0, "source did not end after migrating")
        pid = remote_pid(src, 5)
        check("leaving ssh's session" in src.stderr(),
              "the receiver did not leave ssh's session: " + src.stderr())
        serial_sweeps(env, 10)
        check(alive(pid), "the remote VMM is gone")
        quit_remote(env, pid)
    finally:
        kill_pid(pid)
        sshd.stop()


@daemon_test
def test_ssh_through_godwitd(env, start):
    """godwitd's domain migrates over ssh: the VM process runs ssh, its
    log (godwitd's) gets the receiver's lines, the domain is gone here."""
    sshd = Sshd(env.tmp)
    pid = None
    try:
        a = start("a")
        a.create("mover", "dirty", "mib=16", memory=64)
        a.sweeping("mover")
        _, err = a.cli("migrate", "-s", sshd.command(), "--receive-command",
                       receive_command(env), "mover", DEST, timeout=120)
        check("migrated mover to root@127.0.0.1" in err, err)
        a.wait_gone("mover")
        m = a.wait_log(r"receiving a migration on stdin \(VMM pid (\d+)\)")
        pid = int(m.group(1))
        serial_sweeps(env, 5)
        quit_remote(env, pid)
    finally:
        kill_pid(pid)
        sshd.stop()


def test_ssh_receiver_killed_mid_stream(env):
    """The receiving VMM dies in round 0: ssh ends, the source sees the
    stream cut within seconds and resumes."""
    sshd = Sshd(env.tmp)
    pid = None
    try:
        src = sweeping_source(env, "mib=64", memory=256)
        q = src.qmp()
        q.execute("migrate", uri=DEST, ssh=sshd.command(), bandwidth=16,
                  **{"receive-command": receive_command(env)})
        pid = remote_pid(src)
        time.sleep(1)  # in round 0: 64 MiB at 16 MiB/s
        t0 = time.time()
        os.kill(pid, signal.SIGKILL)
        q.wait_migration_over(30)
        took = time.time() - t0
        check(took < 5, "the cut was decided after %.1f s" % took)
        m = q.execute("query-migrate")
        check(m["status"] == "failed" and "killed by signal 9" in
              m.get("error", ""),
              "query-migrate: %s" % m)
        q.close()
        source_survives(src, "receiver killed")
        wait_until("ssh to end", lambda: not ssh_children(src.proc.pid), 10)
        src.quit()
    finally:
        kill_pid(pid)
        sshd.stop()


def test_ssh_killed_after_yours(env):
    """ssh dies once YOURS went out: the source cannot know whether the
    destination took the VM, so it stays paused, unconfirmed (there is no
    port to QUERY over ssh); migrate-resolve --discard settles it. The
    destination, which got YOURS, runs the VM."""
    sshd = Sshd(env.tmp)
    pid = None
    try:
        src = sweeping_source(env, "mib=16 rate=200")
        q = src.qmp()
        stall = "env GODWIT_TEST_STALL=after-yours:3000 "
        q.execute("migrate", uri=DEST, ssh=sshd.command(),
                  **{"receive-command": receive_command(env, stall)})
        pid = remote_pid(src)
        src.expect_stderr("test: stalled after-yours", 60)
        ssh = ssh_children(src.proc.pid)
        check(len(ssh) == 1, "ssh children: %s" % ssh)
        t0 = time.time()
        os.kill(ssh[0], signal.SIGKILL)
        wait_until("unconfirmed", lambda: q.execute("query-status")[
            "status"] == "unconfirmed", 10)
        check(time.time() - t0 < 5, "unconfirmed only after %.1f s"
              % (time.time() - t0))
        time.sleep(1)
        check(q.execute("query-status")["status"] == "unconfirmed",
              "settled without anyone's word")
        serial_sweeps(env, 5)  # the destination runs it
        q.execute("migrate-resolve", action="discard")
        q.close()
        check(src.wait(30) == 0, "source did not end after discard")
        quit_remote(env, pid)
    finally:
        kill_pid(pid)
        sshd.stop()


def test_ssh_unreachable(env):
    """ssh cannot connect: one line with ssh's own words, the VM runs on."""
    sshd = Sshd(env.tmp)
    try:
        src = sweeping_source(env)
        rc, out, err = env.godwit_cmd(
            "migrate", "-s", sshd.command(port=free_port()),
            src.qmp_path, DEST, timeout=60)
        check(rc == 1 and "Connection refused" in err and
              "resumed" in err, "migrate: exit %d: %s" % (rc, err))
        check(len(err.strip().splitlines()) == 1, "not one line: " + err)
        source_survives(src, "unreachable")
        src.quit()
    finally:
        sshd.stop()


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

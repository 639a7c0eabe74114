#!/usr/bin/python3
"""kvm suite: leases (src/lease/, the file engine), so a disk is never
written by two running VMs. A VM holds a lease on each writable disk and
named lease exactly while its vCPUs may run: a second VM with the same
disk or lease, or a restore of a save file while the original runs, is
refused with one line naming the disk and the holder; a VMM killed with
SIGKILL frees its leases; save and restore, pause and cont, and live
migration hand the lease on with its generation advancing; and a lease
taken by someone else in between (after a save, during a pause, during
a migration's handover) keeps the VM from running: the restore is
refused, cont is refused, the migration fails and the source stays
paused. A VM with a disk runs the `blk` guest on it (virtio-blk: every
acknowledged write is checked, across save, restore and migration);
one with named leases only runs `dirty`."""

import fcntl
import glob
import os
import signal
import struct

import subprocess

from lib.gw import TestFailure, check, main, wait_until
from lib.net import Proxy, receiver
from test_daemon import daemon_test

MIB = 1 << 20
F_OFD_SETLK = 37
HOST = os.uname().nodename


def image(env, name="disk.img"):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as f:
        f.truncate(4 * MIB)
    return path


def config(env, name, leases=(), more=""):
    """A config file naming the VM and its named leases."""
    path = os.path.join(env.tmp, name + ".cfg")
    with open(path, "w") as f:
        f.write('name = "%s"\n%s' % (name, more))
        if leases:
            f.write("leases = [%s]\n" % ", ".join('"%s"' % l
                                                   for l in leases))
    return path


def vm(env, name, disk=None, leases=()):
    """A VM named name with named leases, and with a disk (rw) the blk
    guest writes and checks, else the dirty guest; once it runs."""
    extra = ["--disk", "%s,raw,xvda,rw" % disk] if disk else []
    # Options come before CONFIG: the control socket too.
    extra += ["--qmp", os.path.join(env.tmp, name + ".qmp")]
    extra += [config(env, name, leases)]
    if disk:
        v = env.run("blk", "qd=32", memory=64, name=name, extra=extra)
        v.expect(r"^blk: pass", 60)
    else:
        v = env.run("dirty", "mib=4", memory=32, name=name, extra=extra)
        v.expect(r"^dirty: sweep", 30)
    return v


def keeps_running(v, n=2):
    """The guest goes on: n more blk passes or dirty sweeps, checked."""
    line = r"^(?:blk: pass|dirty: sweep) (\d+)$"
    first = int(v.expect(line, 60).group(1))
    while int(v.expect(line, 60).group(1)) < first + n:
        pass


def lease(env, resource):
    """(generation, pid, host, held) of resource's lease file."""
    for path in glob.glob(os.path.join(env.tmp, "leases", "*.lease")):
        with open(path, "rb") as f:
            rec = f.read()
        check(len(rec) == 1152 and rec[:8] == b"GDWLEASE",
              "lease file %s: %d bytes" % (path, len(rec)))
        gen, _, pid, n = struct.unpack_from("<QQII", rec, 16)
        if rec[120:120 + n].decode() != resource:
            continue
        host = rec[56:120].rstrip(b"\0").decode()
        return gen, pid, host, held(path)
    raise TestFailure("no lease file for %s" % resource)


def held(path):
    """Does someone hold the OFD lock of the lease file? (Tested by
    taking it for an instant: only while no VMM acquires it.)"""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.fcntl(fd, F_OFD_SETLK,
                    struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def refused(env, args, want):
    """godwit ARGS exits 1 with exactly one error line containing every
    string of want; the guest never ran."""
    rc, out, err = env.godwit_cmd(*args, timeout=60)
    errors = [l for l in err.splitlines() if "error:" in l]
    check(rc == 1, "godwit %s: exit %d: %s" % (args[0], rc, err))
    check(len(errors) == 1 and all(w in errors[0] for w in want),
          "want one error line with %s, got: %s" % (want, err))
    check("dirty:" not in out and "blk:" not in out, "the guest ran: " + out)
    return errors[0]


def run_args(env, name, disk=None, leases=()):
    args = ["run", "--kernel", env.guest("blk" if disk else "dirty"),
            "--memory", "64", "--qmp", "none", "--cmdline",
            "qd=32" if disk else "mib=4", "--name", name]
    if disk:
        args += ["--disk", "%s,raw,xvdb,rw" % disk]
    return args + [config(env, name, leases)]


def holder(pid, gen):
    return "(pid %d on host %s, generation %d)" % (pid, HOST, gen)


def save(env, v, path, *opts):
    rc, _, err = env.godwit_cmd("save", *opts, v.qmp_path, path,
                                timeout=120)
    check(rc == 0, "save: " + err)


def test_double_create_refused(env):
    """A second VM with the same disk, or the same named lease, is
    refused naming the disk (or lease) and the holder."""
    img = image(env)
    a = vm(env, "a", disk=img, leases=["db"])
    check(lease(env, img) == (1, a.proc.pid, HOST, True),
          "a's disk lease: %s" % (lease(env, img),))
    refused(env, run_args(env, "b", disk=img),
            ["disk xvdb: %s is in use by VM " % img, holder(a.proc.pid, 1)])
    refused(env, run_args(env, "c", leases=["db"]),
            ["lease db: db is in use by VM ", holder(a.proc.pid, 1)])
    # The sanlock engine is parsed, but not there to run a VM with.
    args = run_args(env, "d", leases=["db2"])
    args[-1] = config(env, "d", ["db2"], 'lock_manager = "sanlock"\n')
    refused(env, args, ['lock_manager "sanlock": sanlock engine not built '
                        'yet'])
    a.quit()
    check(not lease(env, img)[3], "the lease outlived the VM")
    c = vm(env, "c", leases=["db"])
    check(lease(env, "db")[:2] == (2, c.proc.pid), "c took db")
    c.quit()


def test_crash_frees_the_lease(env):
    """SIGKILL leaves no daemon to clean up: the kernel drops the VMM's
    lock, and the next VM takes the lease (generation 2)."""
    img = image(env)
    a = vm(env, "a", disk=img)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(30)
    b = vm(env, "b", disk=img)
    check(lease(env, img) == (2, b.proc.pid, HOST, True),
          "b's lease: %s" % (lease(env, img),))
    keeps_running(b)
    b.quit()


def test_restore_while_running_refused(env):
    """save -c keeps the VM running: restoring its file then is refused
    naming the disk and the running holder; once that VM ended, the file
    is still refused, since the VM ran on after the save (generation)."""
    img = image(env)
    a = vm(env, "a", disk=img)
    path = os.path.join(env.tmp, "a.save")
    save(env, a, path, "-c")
    keeps_running(a, 1)
    check(lease(env, img)[:2] == (2, a.proc.pid), "a re-took its lease "
          "after save -c: %s" % (lease(env, img),))
    refused(env, ["restore", path, "--qmp", "none"],
            ["disk xvda: %s is in use by VM " % img, holder(a.proc.pid, 2)])
    a.quit()
    refused(env, ["restore", path, "--qmp", "none"],
            ["disk xvda: %s was taken by VM " % img, holder(a.proc.pid, 2),
             "since this VM held it at generation 1; the VM must not run"])


def test_save_restore_and_pause_advance_the_generation(env):
    """save releases the lease with the VM's pause and the restore
    takes it with the recorded generation (1 -> 2); stop releases it,
    cont takes it back (-> 3); the guest keeps its memory throughout."""
    img = image(env)
    a = vm(env, "a", disk=img, leases=["db"])
    path = os.path.join(env.tmp, "a.save")
    save(env, a, path)
    check(a.wait(30) == 0, "saved VM did not end")
    check(lease(env, img)[0::3] == (1, False), "after save: %s"
          % (lease(env, img),))
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "\nleases:\n  file:%s:1\n  file:db:1\n" % img in out,
          "inspect: %s %s" % (out[-300:], err))
    r = env.restore(path, name="r")
    keeps_running(r)
    check(lease(env, img) == (2, r.proc.pid, HOST, True),
          "after restore: %s" % (lease(env, img),))
    check(lease(env, "db")[:2] == (2, r.proc.pid), "db after restore")
    q = r.qmp()
    q.execute("stop")
    check(not lease(env, img)[3] and not lease(env, "db")[3],
          "paused, the VM still holds its leases")
    q.execute("cont")
    check(lease(env, img)[0::3] == (3, True), "after cont: %s"
          % (lease(env, img),))
    q.close()
    keeps_running(r)
    r.quit()


def test_lease_taken_between_save_and_restore(env):
    """A VM that took the lease after the save makes the restore refuse:
    one line, exit 1, the saved guest never runs."""
    a = vm(env, "a", leases=["db"])
    path = os.path.join(env.tmp, "a.save")
    save(env, a, path)
    check(a.wait(30) == 0, "saved VM did not end")
    b = vm(env, "b", leases=["db"])
    b_pid = b.proc.pid
    b.quit()
    refused(env, ["restore", path, "--qmp", "none"],
            ["lease db: db was taken by VM ", holder(b_pid, 2),
             "since this VM held it at generation 1; the VM must not run"])


def test_lease_taken_while_paused_refuses_cont(env):
    """Paused, the VM holds nothing; a VM that took the lease meanwhile
    makes cont refuse, and the VM stays paused."""
    a = vm(env, "a", leases=["db"])
    q = a.qmp()
    q.execute("stop")
    b = vm(env, "b", leases=["db"])
    b_pid = b.proc.pid
    b.quit()
    r = q.execute_raw("cont")
    check("error" in r and "lease db: db was taken by VM " in
          r["error"]["desc"] and holder(b_pid, 2) in r["error"]["desc"],
          "cont: %s" % r)
    check(q.execute("query-status")["status"] == "paused",
          "the VM runs without its lease")
    a.expect_stderr(r"lease db: db was taken by VM .*; the VM stays paused")
    q.close()
    a.quit()


def test_migration_hands_the_lease_on(env):
    """The source lets go at its final pause; the destination takes the
    lease after YOURS with the recorded generation (1 -> 2)."""
    img = image(env)
    src = vm(env, "src", disk=img, leases=["db"])
    dst = receiver(env)
    rc, _, err = env.godwit_cmd("migrate", src.qmp_path, dst.addr,
                                timeout=300)
    check(rc == 0, "migrate: " + err)
    check(src.wait(30) == 0, "source did not end after migrating")
    keeps_running(dst, 3)
    check(lease(env, img) == (2, dst.proc.pid, HOST, True),
          "destination's lease: %s" % (lease(env, img),))
    check(lease(env, "db")[:2] == (2, dst.proc.pid), "db")
    dst.quit()


def test_lease_taken_during_handover_keeps_the_source(env):
    """Someone takes the lease between the source's final pause and the
    destination's claim (after YOURS): the destination refuses the VM
    and discards it, and the source, whose lease is gone too, keeps it
    paused: no one runs it."""
    src = vm(env, "src", leases=["db"])
    dst = receiver(env, env_extra={"GODWIT_TEST_STALL": "got-yours:8000"})
    q = src.qmp()
    q.execute("migrate", uri=dst.addr, **{"stall-timeout-ms": 30000})
    dst.expect_stderr("test: stalled got-yours", 60)
    b = vm(env, "b", leases=["db"])
    b_pid = b.proc.pid
    b.quit()
    dst.expect_stderr(r"lease db: db was taken by VM ", 30)
    q.wait_migration_over(60)
    info = q.execute("query-migrate")
    check(info["status"] == "failed" and
          "the VM stays paused here: lease db: db was taken by VM " in
          info.get("error", "") and holder(b_pid, 2) in info["error"],
          "source: %s" % info)
    check(q.execute("query-status")["status"] == "paused",
          "the source runs without its lease")
    src.expect_stderr(r"migration to .* failed, VM left paused")
    q.close()
    src.quit()
    # It lingers answering DISCARDED to QUERY; a signal ends that.
    dst.expect_stderr(r"answering DISCARDED for arrival", 30)
    dst.proc.send_signal(signal.SIGTERM)
    check(dst.wait(30) != 0, "the destination ran the VM")
    check("dirty:" not in "\n".join(dst.all_lines),
          "the destination's guest ran")


def test_unconfirmed_settled_by_the_generation(env):
    """The relay passes YOURS on and cuts the line: the destination runs
    the VM (it took the lease), the source is unconfirmed and nobody can
    tell it. An operator's migrate-resolve --resume-here there is then
    refused by the lease the destination holds: the VM stays paused at
    the source, and runs once, at the destination."""
    src = vm(env, "src", leases=["db"])
    dst = receiver(env, extra=["--stall-timeout", "2", "--linger", "0"])
    proxy = Proxy(dst.port, after_yours="close", queries=False)
    q = src.qmp()
    try:
        q.execute("migrate", uri="127.0.0.1:%d" % proxy.port,
                  **{"stall-timeout-ms": 2000})
        wait_until("the source to be unconfirmed", lambda: q.execute(
            "query-status")["status"] == "unconfirmed", 30)
        keeps_running(dst)
        check(lease(env, "db")[:2] == (2, dst.proc.pid), "db at the dest")
        env.godwit_cmd("migrate-resolve", src.qmp_path, "--resume-here")
        wait_until("the source to settle", lambda: q.execute(
            "query-status")["status"] != "unconfirmed", 30)
        check(q.execute("query-status")["status"] == "paused",
              "the source runs while the destination holds the lease")
        info = q.execute("query-migrate")
        check("the VM stays paused here: lease db: db is in use by VM " in
              info.get("error", "") and holder(dst.proc.pid, 2) in
              info["error"], "source: %s" % info)
        keeps_running(dst)
    finally:
        q.close()
        proxy.close()
    src.quit()
    dst.quit()


def test_destination_died_after_running_it(env):
    """The destination resumes the VM (taking the lease, generation 2)
    and is killed before it could confirm: the source, unconfirmed,
    cannot ask it anymore. The lease is free again, but its generation
    says the VM ran elsewhere (and may have written its disks): an
    operator's resume-here is refused and the source stays paused, so
    the VM's older state never runs over newer disks."""
    src = vm(env, "src", leases=["db"])
    dst = receiver(env, env_extra={"GODWIT_TEST_STALL": "after-yours"})
    q = src.qmp()
    try:
        q.execute("migrate", uri=dst.addr, **{"stall-timeout-ms": 2000})
        dst.expect_stderr("test: stalled after-yours", 60)
        check(lease(env, "db")[:2] == (2, dst.proc.pid), "db at the dest")
        dst.kill()
        wait_until("the source to be unconfirmed", lambda: q.execute(
            "query-status")["status"] == "unconfirmed", 30)
        check(not lease(env, "db")[3], "the dead destination holds db")
        env.godwit_cmd("migrate-resolve", src.qmp_path, "--resume-here")
        wait_until("the source to settle", lambda: q.execute(
            "query-status")["status"] != "unconfirmed", 30)
        check(q.execute("query-status")["status"] == "paused",
              "the source runs the VM the destination ran")
        err = q.execute("query-migrate").get("error", "")
        check("the VM stays paused here: lease db: db was taken by VM " in
              err and holder(dst.proc.pid, 2) in err and
              "since this VM held it at generation 1" in err,
              "source: %s" % err)
    finally:
        q.close()
    src.quit()


def test_destination_killed_before_it_ran_it(env):
    """The destination is killed before it took the lease: before
    RECEIVED (the source resumes by itself), after it or once YOURS
    arrived, before its claim (the source is unconfirmed; resume-here
    runs it). Each time the source takes the lease back at the
    generation it recorded: the VM runs at exactly one place, here."""
    for phase in ("before-received", "after-received", "got-yours"):
        src = vm(env, "src-" + phase, leases=["db-" + phase])
        dst = receiver(env, name="dst-" + phase,
                       env_extra={"GODWIT_TEST_STALL": phase})
        q = src.qmp()
        try:
            q.execute("migrate", uri=dst.addr,
                      **{"stall-timeout-ms": 2000})
            dst.expect_stderr("test: stalled " + phase, 60)
            check(not lease(env, "db-" + phase)[3], "%s: the lease is "
                  "held during the handover" % phase)
            dst.kill()
            if phase != "before-received":
                wait_until("the source to be unconfirmed", lambda: q.execute(
                    "query-status")["status"] == "unconfirmed", 30)
                env.godwit_cmd("migrate-resolve", src.qmp_path,
                               "--resume-here")
            wait_until("%s: the source to run again" % phase, lambda:
                       q.execute("query-status")["status"] == "running", 30)
            check(lease(env, "db-" + phase) == (2, src.proc.pid, HOST, True),
                  "%s: %s" % (phase, lease(env, "db-" + phase)))
            keeps_running(src)
        finally:
            q.close()
        src.quit()


@daemon_test
def test_daemons_share_a_lease_dir(env, start):
    """Two hosts' godwitd (--lock-manager file, one shared --lease-dir):
    a domain created on the second with the disk the first one's domain
    writes is refused, the reason reaching the user; and godwitd refuses
    the sanlock engine it does not have."""
    leases = os.path.join(env.tmp, "shared-leases")
    opts = ["--lock-manager", "file", "--lease-dir", leases]
    a, b = start("a", extra=opts), start("b", extra=opts)
    img = image(env)
    cfgs = []
    for name in ("web", "web2"):
        cfgs.append(os.path.join(env.tmp, name + ".cfg"))
        with open(cfgs[-1], "w") as f:
            f.write("name = '%s'\nkernel = '%s'\nmemory = 32\n"
                    "cmdline = 'mib=4'\nserial = 'pty'\n"
                    "disk = [ '%s,raw,xvda,rw' ]\n"
                    % (name, env.guest("dirty"), img))
    a.cli("create", cfgs[0])
    a.wait_dom("web", "running")
    pid = a.dom("web")["pid"]
    wait_until("web to take its lease", lambda: glob.glob(
        os.path.join(leases, "*.lease")))
    _, err = b.cli("create", cfgs[1], rc=1)
    check("disk xvda: %s is in use by VM " % img in err and
          holder(pid, 1) in err, "second create: " + err)
    r = subprocess.run([os.path.join(env.build, "godwitd"),
                        "--lock-manager", "sanlock"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 2 and "sanlock engine not built yet" in r.stderr,
          "godwitd --lock-manager sanlock: %d %s" % (r.returncode, r.stderr))


if __name__ == "__main__":
    main([test_double_create_refused,
          test_crash_frees_the_lease,
          test_restore_while_running_refused,
          test_save_restore_and_pause_advance_the_generation,
          test_lease_taken_between_save_and_restore,
          test_lease_taken_while_paused_refuses_cont,
          test_migration_hands_the_lease_on,
          test_lease_taken_during_handover_keeps_the_source,
          test_unconfirmed_settled_by_the_generation,
          test_destination_died_after_running_it,
          test_destination_killed_before_it_ran_it,
          test_daemons_share_a_lease_dir])

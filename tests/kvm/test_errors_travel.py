#!/usr/bin/python3
"""kvm suite: a failure seen by godwitd reaches the user with its reason,
in one line, through the CLI:

- a create whose VMM cannot start says the VMM's own line (a missing
  kernel, a file that is no kernel), and gives its domain id back;
- a create whose guest ends at once is not reported as created: the
  answer says how it ended, the guest's last console line and what
  on_poweroff did (removed: an error, id given back; kept: a warning);
- a restore of a bad file says the record and byte offset, as
  `godwit restore -F` does;
- a migration refused by the destination's allow-list says so, with the
  address the destination saw, and the source VM keeps running;
- a migration reported done is listed on its new host at once;
- a receiver that fails after the stream tells the source why;
- `godwit run --serial pty` prints the pty's path."""

import os

from lib.gw import check, main
from lib.net import receiver
from test_daemon import daemon_test


def cfg(d, name, text):
    path = os.path.join(d.dir, name + ".cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def next_domid(d):
    with open(os.path.join(d.state_dir, "next-domid")) as f:
        return int(f.read())


@daemon_test
def test_create_says_why_the_vmm_did_not_start(env, start):
    d = start("a")
    _, err = d.cli("create", cfg(d, "nokernel",
                                 'name = "nk"\nkernel = "/nonexistent.elf"\n'),
                   rc=1)
    check("domain nk did not start: kernel /nonexistent.elf: No such file "
          "or directory" in err, err)
    check("details in" not in err, err)
    _, err = d.cli("create", cfg(d, "notakernel",
                                 'name = "nak"\nkernel = "%s"\n'
                                 % d.log_file), rc=1)
    check("domain nak did not start: kernel %s: neither an ELF file nor a "
          "bzImage" % d.log_file in err, err)
    check(next_domid(d) == 1, "failed creates took ids: next %d"
          % next_domid(d))
    d.create("ok", "dirty", "mib=4")
    check(d.dom("ok")["domid"] == 1, "first domain: %s" % d.dom("ok"))


@daemon_test
def test_create_of_a_guest_that_ends_at_once(env, start):
    d = start("a")
    # 64 MiB of RAM cannot hold the dirty guest's 64 MiB area.
    _, err = d.cli("create", d.config("tight", "dirty", "", memory=64), rc=1)
    check("domain tight: the guest ended" in err and
          "guest exited with status 3 (debug-exit port); last console "
          "line: dirty: BAD mib=64 does not fit; on_poweroff=destroy: "
          "removed" in err, err)
    check("created" not in err.replace("tight: the guest", ""), err)
    check(d.domains() == [], "listed: %s" % d.domains())
    check(next_domid(d) == 1, "the id was kept: next %d" % next_domid(d))
    # Kept (preserve): created, with a warning that says what happened.
    _, err = d.cli("create", d.config("kept", "dirty", "", memory=64,
                                      on_poweroff="preserve"))
    check("godwit: warning: domain kept: the guest ended" in err and
          "dirty: BAD mib=64 does not fit; on_poweroff=preserve: kept, "
          "stopped" in err and "domain kept created" in err, err)
    check(d.wait_dom("kept", "shutdown"), "kept")
    # A paused one is answered at once and runs on unpause.
    d.cli("create", "-p", d.config("p", "dirty", "mib=4"))
    check(d.dom("p")["state"] == "paused", "%s" % d.dom("p"))


@daemon_test
def test_restore_of_a_bad_file_says_where(env, start):
    d = start("a")
    bad = os.path.join(d.dir, "bad.sav")
    with open(bad, "wb") as f:
        f.write(b"garbage\n")
    _, err = d.cli("restore", bad, rc=1)
    check(err.strip() == "godwit: restore %s: stream header at offset 0: "
          "stream ends in the middle of the stream header (truncated)" % bad,
          err)


@daemon_test
def test_migration_refused_by_the_allow_list(env, start):
    a = start("a")
    b = start("b", allow=r"^10\.9\.9\.9$")
    a.create("web", "dirty", "mib=4")
    _, err = a.cli("migrate", "web", "127.0.0.1:%d" % b.reloc_port, rc=1)
    check("the destination refused the VM: 127.0.0.1 is not allowed by this "
          "host's --relocation-hosts-allow" in err, err)
    check(a.wait_dom("web", "running"), "source runs")
    b.wait_log(r"relocation: refused a connection from 127\.0\.0\.1:")
    check(b.domains() == [], "B lists %s" % b.domains())


@daemon_test
def test_migrated_domain_is_listed_at_once(env, start):
    a = start("a")
    b = start("b")
    for n in range(3):
        src, dst = (a, b) if n % 2 == 0 else (b, a)
        if n == 0:
            a.create("mover", "dirty", "mib=4")
        _, err = src.cli("migrate", "mover",
                         "127.0.0.1:%d" % dst.reloc_port, timeout=60)
        check("migrated mover" in err, err)
        there = [(x["name"], x["state"]) for x in dst.domains()]
        check(there == [("mover", "running")], "round %d: the destination "
              "lists %s right after the migration" % (n, there))


def test_receiver_that_cannot_start_says_why(env):
    """A receiver that fails after the stream (its control socket is
    taken) tells the source why, instead of closing the connection."""
    taken = os.path.join(env.tmp, "taken.qmp")
    vm = env.run("dirty", "mib=4", name="taken")
    vm.expect(r"^dirty: ready")
    dst = receiver(env, extra=["--qmp", taken])
    rc, _, err = env.godwit_cmd("migrate", taken, dst.addr)
    check(rc == 1 and "the destination refused the VM: rpc: a server is "
          "already listening on %s" % taken in err, err)
    vm.keeps_sweeping(2)
    dst.wait(30)
    vm.quit()


def test_run_prints_its_pty(env):
    """godwit run --serial pty says where its console is."""
    vm = env.run("dirty", "mib=4", extra=["--serial", "pty"])
    path = vm.expect_stderr(r"vm vm: console on (/dev/pts/\d+) "
                            r"\('godwit console vm' attaches to it\)").group(1)
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    check(os.isatty(fd), "%s is not a terminal" % path)
    os.close(fd)
    vm.quit()


if __name__ == "__main__":
    main([test_create_says_why_the_vmm_did_not_start,
          test_create_of_a_guest_that_ends_at_once,
          test_restore_of_a_bad_file_says_where,
          test_migration_refused_by_the_allow_list,
          test_migrated_domain_is_listed_at_once,
          test_receiver_that_cannot_start_says_why,
          test_run_prints_its_pty])

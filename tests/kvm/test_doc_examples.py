#!/usr/bin/python3
"""kvm suite: the examples of the man pages and README.md do what they
say, run exactly as written. A marker before each example says how
(lib/docs.py reads them):

  test: disk-list       quoted disk specs: each one parses
  test: disks           spec, then indented its canonical form
  test: disk-errors     spec, then indented the error it gets
  test: config NAME     a config file: godwit create -n accepts it
  test: create NAME     a config file: a daemon creates it and it runs
  test: netns-shell     godwit.cfg(5): as shell, in a network namespace of
                        its own with a bridge br0 (10.0.0.1/24, up)
  test: shell           godwit.cfg(5): commands run by sh -e in a scratch
                        directory holding guests/ and examples/; exit 0,
                        and each following 'expect: REGEX' matches;
                        godwit(1), godwitd(8): the commands run one by one
                        in a machine of their own (lib/docshell.py)
  test: console         the console of a domain, ^] after a few seconds
  test: none (WHY)      not runnable here, and why

Every example of godwit.cfg(5), godwit(1), godwitd(8) and README.md
carries one (README's opening `make demo` / `make check` are what those
targets run). README's "Your first VM" section is followed command by
command by test_readme.py. The block hotplug script examples/block-lvm,
which needs LVM (absent here), runs with stand-ins for lvchange and lvs
that log their arguments."""

import os
import re
import subprocess

from lib.docs import (SRC, commands, md_examples, none_has_reason,
                      roff_examples)
from lib.docshell import DocShell
from lib.gw import check, main

DOCS = os.path.join(SRC, "docs")
MAN = os.path.join(DOCS, "godwit.cfg.5")
PAGES = {name: os.path.join(DOCS, name)
         for name in ("godwit.cfg.5", "godwit.1", "godwitd.8")}
README = os.path.join(SRC, "README.md")
KINDS = ("disk-list", "disks", "disk-errors", "config", "create", "shell",
         "netns-shell",
         "console", "none")


def examples(page="godwit.cfg.5"):
    """Every example of a document: (section, kind, arg, expects, lines,
    line number)."""
    if page == "README.md":
        # The opening block is `make demo` and `make check` themselves.
        return md_examples(README)[1:]
    return roff_examples(PAGES[page])


def of_kind(kind, page="godwit.cfg.5"):
    found = [e for e in examples(page) if e[1] == kind]
    check(found, "no '%s' example in %s" % (kind, page))
    return found


def dry_run(env, *args):
    """godwit create -n in env.tmp: exit status, stdout, stderr."""
    r = subprocess.run([env.godwit, "create", "-n"] + list(args),
                       capture_output=True, timeout=30, cwd=env.tmp)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def with_disk(env, spec):
    base = os.path.join(env.tmp, "base.cfg")
    with open(base, "w") as f:
        f.write("name = 'doc'\n")
    return dry_run(env, base, "disk=['%s']" % spec)


def canonical_disks(out):
    return [l.strip().rstrip(",").strip('"') for l in out.splitlines()
            if l.startswith("    ")]


def test_every_example_says_how_it_is_tested(env):
    for page in list(PAGES) + ["README.md"]:
        for _, kind, arg, _, lines, n in examples(page):
            check(kind in KINDS, "%s:%d: example without a test marker: %s"
                  % (page, n, lines[:1]))
            check(none_has_reason(kind, arg),
                  "%s:%d: 'test: none' without a (reason)" % (page, n))


def test_disk_list_examples_parse(env):
    for _, _, _, _, lines, n in of_kind("disk-list"):
        for line in lines:
            spec = line.strip().strip("'")
            rc, out, err = with_disk(env, spec)
            check(rc == 0, "godwit.cfg.5:%d: %s: %s" % (n, spec, err))


def pairs(lines):
    check(len(lines) % 2 == 0 and
          all(l.startswith("    ") for l in lines[1::2]),
          "examples are not spec / indented result pairs: %s" % lines)
    return [(a, b.strip()) for a, b in zip(lines[::2], lines[1::2])]


def test_disk_examples_read_as_shown(env):
    for _, _, _, _, lines, n in of_kind("disks"):
        for spec, want in pairs(lines):
            rc, out, err = with_disk(env, spec)
            check(rc == 0, "godwit.cfg.5:%d: %s: %s" % (n, spec, err))
            check(canonical_disks(out) == [want],
                  "godwit.cfg.5:%d: %s reads as %s, the page says %s"
                  % (n, spec, canonical_disks(out), want))


def test_disk_error_examples_fail_as_shown(env):
    for _, _, _, _, lines, n in of_kind("disk-errors"):
        for spec, want in pairs(lines):
            rc, _, err = with_disk(env, spec)
            check(rc == 1 and err.strip().endswith(": entry 1: " + want),
                  "godwit.cfg.5:%d: %s: exit %d, %r; the page says %r"
                  % (n, spec, rc, err.strip(), want))


def test_config_examples_are_accepted(env):
    for _, _, name, _, lines, n in of_kind("config"):
        path = os.path.join(env.tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        rc, out, err = dry_run(env, name)
        check(rc == 0 and out.startswith("name = "),
              "godwit.cfg.5:%d: %s: exit %d: %s" % (n, name, rc, err))


def test_created_examples_run(env):
    """A config that the page says runs: a daemon creates it (from the
    top of a source tree: build/, examples/) and it is running."""
    sh = DocShell(env, SRC)
    try:
        rc, out = sh.run("godwitd --detach")
        check(rc == 0, out)
        for _, _, name, _, lines, n in of_kind("create"):
            with open(os.path.join(sh.dir, name), "w") as f:
                f.write("\n".join(lines) + "\n")
            rc, out = sh.run("godwit create " + name)
            check(rc == 0 and "created" in out,
                  "godwit.cfg.5:%d: %s: exit %d: %s" % (n, name, rc, out))
            rc, out = sh.run("godwit list")
            check(re.search(r"\n\S+ +\d+ +\d+ +\d+ +r-----", out),
                  "godwit.cfg.5:%d: not running: %s" % (n, out))
            sh.run("godwit destroy $(godwit list | awk 'NR == 2 {print $1}')")
    finally:
        sh.close()


def run_in_docshell(env, page, blocks):
    """Each example in a machine of its own, command by command."""
    for _, kind, _, expects, lines, n in blocks:
        sh = DocShell(env, SRC)
        said = ""
        try:
            for cmd in commands(lines):
                rc, out = sh.run(cmd, console=kind == "console")
                check(rc == 0, "%s:%d: %s: exit %d: %s"
                      % (page, n, cmd, rc, out[-2000:]))
                said += out
        finally:
            sh.close()
        for rx in expects:
            check(re.search(rx, said, re.M), "%s:%d: no /%s/ in: %s"
                  % (page, n, rx, said[-2000:]))


def test_man_page_shell_examples_run(env):
    for page in ("godwit.1", "godwitd.8"):
        run_in_docshell(env, page, of_kind("shell", page))


def test_readme_examples_are_run_or_say_why(env):
    """Outside "Your first VM" (test_readme.py), README's examples are
    run here too, or say why not."""
    others = [e for e in examples("README.md")
              if e[0] != "Your first VM" and e[1] != "none"]
    run_in_docshell(env, "README.md", others)


def loop_devices_of(directory):
    r = subprocess.run(["losetup", "--list", "--noheadings", "--output",
                        "NAME,BACK-FILE"], capture_output=True, text=True)
    return [l for l in r.stdout.splitlines() if directory in l]


def run_shell_examples(env, kind, prefix=()):
    environ = dict(os.environ,
                   PATH=env.build + ":/usr/sbin:/usr/bin:/sbin:/bin")
    for _, _, _, expects, lines, n in of_kind(kind):
        r = subprocess.run(list(prefix) + ["sh", "-e", "-c",
                                           "\n".join(lines)],
                           capture_output=True, text=True, timeout=120,
                           cwd=env.tmp, env=environ,
                           stdin=subprocess.DEVNULL)
        both = r.stdout + r.stderr
        check(r.returncode == 0, "godwit.cfg.5:%d: exit %d: %s"
              % (n, r.returncode, r.stderr[-2000:]))
        for rx in expects:
            check(re.search(rx, both), "godwit.cfg.5:%d: no /%s/ in: %s"
                  % (n, rx, r.stderr[-2000:]))
        check(not loop_devices_of(env.tmp),
              "godwit.cfg.5:%d: loop devices left: %s"
              % (n, loop_devices_of(env.tmp)))


def scratch_links(env):
    for name, target in (("guests", env.guests),
                         ("examples", os.path.join(SRC, "examples"))):
        if not os.path.exists(os.path.join(env.tmp, name)):
            os.symlink(target, os.path.join(env.tmp, name))


def test_shell_examples_run(env):
    scratch_links(env)
    run_shell_examples(env, "shell")


def test_netns_shell_examples_run(env):
    """In a namespace of their own, with a bridge br0 at 10.0.0.1/24."""
    scratch_links(env)
    ns = "gwdoc-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "br0", "type", "bridge"],
                    ["addr", "add", "10.0.0.1/24", "dev", "br0"],
                    ["link", "set", "br0", "up"]):
            subprocess.run(["ip", "-n", ns] + cmd, check=True)
        run_shell_examples(env, "netns-shell", ["ip", "netns", "exec", ns])
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def lvm_stubs(env, lvs_says="", lvchange_fails=""):
    """A PATH with lvchange and lvs that log their arguments."""
    bin_dir = os.path.join(env.tmp, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    log = os.path.join(env.tmp, "lvm.log")
    complaint = os.path.join(env.tmp, "complaint")
    with open(complaint, "w") as f:
        f.write(lvchange_fails + "\n")
    stubs = {
        "lvchange": 'echo "lvchange $*" >> %s\n%s' % (
            log, "cat %s >&2; exit 5" % complaint
            if lvchange_fails else "echo '  1 logical volume changed'"),
        "lvs": 'echo "lvs $*" >> %s\necho "  %s"' % (log, lvs_says),
    }
    for name, body in stubs.items():
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
    if os.path.exists(log):
        os.unlink(log)
    return bin_dir, log


def block_lvm(env, action, target, bin_dir):
    script = os.path.join(SRC, "examples", "block-lvm")
    environ = {"PATH": bin_dir + ":/usr/bin:/bin", "script": script,
               "GODWIT_ACTION": action, "GODWIT_PARAMS": target,
               "GODWIT_MODE": "w", "GODWIT_VDEV": "xvda",
               "GODWIT_DOMAIN": "web", "GODWIT_UUID": "u"}
    if action not in ("add", "prepare"):
        environ["GODWIT_DEVICE"] = "/dev/" + target
    if action in ("prepare", "activate", "deactivate", "recover"):
        environ["GODWIT_PEER"] = "192.0.2.2:8002"
    return subprocess.run([script, action], capture_output=True, text=True,
                          env=environ, timeout=30)


def read(path):
    with open(path) as f:
        return f.read().splitlines()


def test_block_lvm_example(env):
    bin_dir, log = lvm_stubs(env)
    r = block_lvm(env, "add", "vg0/web-root", bin_dir)
    check(r.returncode == 0 and r.stdout == "/dev/vg0/web-root\n",
          "add: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    check(read(log) == ["lvchange --activate y vg0/web-root"], read(log))
    r = block_lvm(env, "remove", "vg0/web-root", bin_dir)
    check(r.returncode == 0, "remove: " + r.stderr)
    check(read(log)[1:] == ["lvs --noheadings -o lv_device_open "
                            "vg0/web-root",
                            "lvchange --activate n vg0/web-root"],
          read(log))
    # Still open elsewhere (a local migration's destination): left active.
    bin_dir, log = lvm_stubs(env, lvs_says="open")
    r = block_lvm(env, "remove", "vg0/web-root", bin_dir)
    check(r.returncode == 0 and "left active" in r.stderr, r.stderr)
    check(not any(l.startswith("lvchange") for l in read(log)), read(log))
    # LVM's complaint is the script's last line on stderr: godwit quotes it.
    bin_dir, log = lvm_stubs(
        env, lvchange_fails='  Volume group "vg0" not found')
    r = block_lvm(env, "add", "vg0/web-root", bin_dir)
    check(r.returncode != 0 and r.stdout == "" and
          r.stderr.splitlines()[-1] == '  Volume group "vg0" not found',
          "failing add: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    r = block_lvm(env, "add", "web-root", bin_dir)
    check(r.returncode == 1 and "is not VG/LV" in r.stderr, r.stderr)


def test_block_lvm_migration_steps(env):
    """As godwit.cfg(5) says: the destination activates the volume
    (prepare) and reloads it (activate), the source deactivates it once
    handed over and makes sure it is active after a failure."""
    want = {"prepare": ["lvchange --activate y vg0/web-root"],
            "activate": ["lvchange --refresh vg0/web-root"],
            "deactivate": ["lvs --noheadings -o lv_device_open "
                           "vg0/web-root",
                           "lvchange --activate n vg0/web-root"],
            "recover": ["lvchange --activate y vg0/web-root"]}
    for step, calls in want.items():
        bin_dir, log = lvm_stubs(env)
        r = block_lvm(env, step, "vg0/web-root", bin_dir)
        check(r.returncode == 0 and r.stdout == "",
              "%s: %d %r %r" % (step, r.returncode, r.stdout, r.stderr))
        check(read(log) == calls, "%s: %s" % (step, read(log)))
    bin_dir, log = lvm_stubs(env, lvchange_fails="  Cannot refresh")
    r = block_lvm(env, "activate", "vg0/web-root", bin_dir)
    check(r.returncode != 0 and
          r.stderr.splitlines()[-1] == "  Cannot refresh",
          "failing activate: %d %r" % (r.returncode, r.stderr))


if __name__ == "__main__":
    main([test_every_example_says_how_it_is_tested,
          test_disk_list_examples_parse, test_disk_examples_read_as_shown,
          test_disk_error_examples_fail_as_shown,
          test_config_examples_are_accepted, test_created_examples_run,
          test_shell_examples_run, test_netns_shell_examples_run,
          test_man_page_shell_examples_run,
          test_readme_examples_are_run_or_say_why,
          test_block_lvm_example, test_block_lvm_migration_steps])

#!/usr/bin/python3
"""kvm suite: `godwit save DOMAIN -` and `godwit restore -` (xl's
`xl save dom - | ssh host xl restore -`).

The save goes to the CLI's stdout, which the CLI passes to the VM with
the command; restore - reads stdin. A pipe round trip keeps every page
(the dirty guest checks each one on every sweep); stdout a file holds
the stream and nothing else; stdout a FIFO stays a
FIFO; stdout a terminal is refused in one line and the VM runs on; a
reader that goes away mid-save fails the save and the VM runs on."""

import os
import stat
import subprocess
import time

from lib.gw import Vm, check, main


def one_error_line(err, label):
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "%s: want one error line, got: %s" % (label, err))
    return lines[0]


def still_running(vm, label):
    q = vm.qmp()
    check(q.execute("query-status")["status"] == "running",
          "%s: VM not running after a failed save" % label)
    q.close()
    vm.keeps_sweeping(3)


def save_dash(env, vm, stdout, *flags):
    return subprocess.Popen([env.godwit, "save"] + list(flags) +
                            [vm.qmp_path, "-"], stdout=stdout,
                            stderr=subprocess.PIPE)


def test_pipe_round_trip(env):
    """godwit save SRC - | godwit restore -: the guest sweeps on there."""
    src = env.run("dirty", "mib=32", memory=96, name="src")
    src.keeps_sweeping(2)
    save = save_dash(env, src, subprocess.PIPE)
    dst = Vm(env, ["restore", "-", "--serial", "stdio"], name="dst",
             stdin=save.stdout)
    save.stdout.close()
    err = save.communicate(timeout=120)[1].decode()
    check(save.returncode == 0, "save -: exit %d: %s" %
          (save.returncode, err))
    check("saved" in err and " to - (" in err, "save -: " + err)
    check(src.wait(30) == 0, "saved VM did not end")
    dst.keeps_sweeping(10)
    dst.quit()


def test_stdout_a_fifo(env):
    """save - > FIFO: written straight in, the FIFO stays one."""
    path = os.path.join(env.tmp, "pipe")
    os.mkfifo(path, 0o600)
    src = env.run("dirty", "mib=16", memory=64, name="src")
    src.keeps_sweeping(2)
    dst = env.restore(path, name="dst")  # opens the FIFO for reading
    fd = os.open(path, os.O_WRONLY)
    save = save_dash(env, src, fd)
    os.close(fd)
    err = save.communicate(timeout=120)[1].decode()
    check(save.returncode == 0, "save - > FIFO: " + err)
    check(src.wait(30) == 0, "saved VM did not end")
    check(stat.S_ISFIFO(os.lstat(path).st_mode), "the FIFO was replaced")
    dst.keeps_sweeping(10)
    dst.quit()


def test_stdout_a_file(env):
    """save -c - > FILE: the file holds the stream and nothing else (the
    CLI writes no byte of its own to stdout); it restores."""
    path = os.path.join(env.tmp, "out.sav")
    vm = env.run("dirty", "mib=16", memory=64, name="src")
    vm.keeps_sweeping(2)
    with open(path, "wb") as f:
        save = save_dash(env, vm, f, "-c")
    err = save.communicate(timeout=120)[1].decode()
    check(save.returncode == 0, "save -c - > FILE: " + err)
    check("saved" in err and " to - (" in err, "save -c -: " + err)
    q = vm.qmp()
    saved = q.execute("query-save")
    q.close()
    size = os.path.getsize(path)
    check(saved["file"] == "-" and saved["bytes"] == size,
          "file has %d bytes, query-save says %s" % (size, saved))
    rc, out, ierr = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect: %s %s" % (out, ierr))
    vm.keeps_sweeping(2)  # -c: it runs on
    vm.quit()
    dst = env.restore(path, name="dst")
    dst.keeps_sweeping(5)
    dst.quit()


def test_stdout_a_terminal_is_refused(env):
    vm = env.run("dirty", "mib=16", memory=64)
    vm.keeps_sweeping(2)
    master, slave = os.openpty()
    save = save_dash(env, vm, slave)
    os.close(slave)
    err = save.communicate(timeout=60)[1].decode()
    os.close(master)
    line = one_error_line(err, "save - to a terminal")
    check(save.returncode == 1 and "is a terminal" in line,
          "exit %d: %s" % (save.returncode, err))
    still_running(vm, "terminal")
    vm.quit()


def test_restore_from_a_terminal_is_refused(env):
    master, slave = os.openpty()
    r = subprocess.run([env.godwit, "restore", "-"], stdin=slave,
                       capture_output=True, timeout=60)
    os.close(slave)
    os.close(master)
    err = r.stderr.decode()
    line = one_error_line(err, "restore - from a terminal")
    check(r.returncode == 1 and "is a terminal" in line,
          "exit %d: %s" % (r.returncode, err))


def test_reader_goes_away(env):
    """The reader closes the pipe mid-save: the save fails, the VM runs."""
    vm = env.run("dirty", "mib=64", memory=128)
    vm.keeps_sweeping(2)
    r, w = os.pipe()
    save = save_dash(env, vm, w)
    os.close(w)
    got = 0
    while got < 256 << 10:
        b = os.read(r, 65536)
        check(b, "the stream ended after %d bytes" % got)
        got += len(b)
    os.close(r)
    err = save.communicate(timeout=120)[1].decode()
    check(save.returncode == 1, "save - to a closed pipe: exit %d: %s" %
          (save.returncode, err))
    line = [l for l in err.splitlines() if l.startswith("godwit:")]
    check(line and "VM resumed" in line[-1] and "Broken pipe" in line[-1],
          "no reason given: " + err)
    still_running(vm, "closed pipe")
    vm.quit()


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

#!/usr/bin/python3
"""kvm suite: what a save writes to, and what it must never touch.

Two saves racing to one FILE never both succeed: the first to finish
wins, the other fails and its VM keeps running; a VM whose save succeeded
ends only with a valid file at FILE, which restores. Links planted where a
temporary file could go are never followed; a FILE that is a link is
refused; a device node stays a device node; a FIFO is written straight
into (a reader gets a stream that restores; test_save_cancel.py has
the FIFO nobody reads)."""

import os
import re
import stat
import subprocess
import threading
import time

from lib.gw import check, main, wait_until

RUNS = 2  # per order of the racing saves


def saved_name(env, path):
    """The domain name in the config of the stream at path."""
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect %s: %s" % (path, err))
    m = re.search(r"\|\s*name\s*=\s*\"([^\"]+)\"", out)
    check(m, "no name in the saved config: " + out)
    return m.group(1)


def restores(env, path, name="r"):
    vm = env.restore(path, name=name)
    vm.keeps_sweeping(5)
    vm.quit()


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


class Save(threading.Thread):
    def __init__(self, env, vm, path):
        super().__init__(daemon=True)
        self.env, self.vm, self.path = env, vm, path
        self.rc, self.err = None, ""

    def run(self):
        self.rc, _, self.err = self.env.godwit_cmd(
            "save", self.vm.qmp_path, self.path, timeout=120)


def save_active(q):
    s = q.execute("query-save")
    return s.get("status") == "active" and s.get("bytes", 0) > 0


def race(env, first_mib, second_mib, run):
    """Start a save of a, and once it writes, one of b to the same file."""
    path = os.path.join(env.tmp, "race.sav")
    a = env.run("dirty", "mib=%d" % first_mib, memory=first_mib + 64,
                name="a%d" % run)
    b = env.run("dirty", "mib=%d" % second_mib, memory=second_mib + 64,
                name="b%d" % run)
    a.expect(r"^dirty: sweep", 60)
    b.expect(r"^dirty: sweep", 60)
    qa, qb = a.qmp(), b.qmp()
    sa, sb = Save(env, a, path), Save(env, b, path)
    sa.start()
    wait_until("a's save to start writing", lambda: save_active(qa), 30,
               0.002)
    sb.start()
    overlap = False
    while sa.is_alive() or sb.is_alive():
        try:
            overlap = overlap or (save_active(qa) and save_active(qb))
        except Exception:
            pass  # a VM that saved has ended: its socket is gone
        time.sleep(0.002)
    sa.join()
    sb.join()
    qa.close()
    qb.close()
    return path, [(sa, a), (sb, b)], overlap


def check_race(env, path, saves, overlap, label):
    ok = [(s, vm) for s, vm in saves if s.rc == 0]
    check(ok, "%s: neither save succeeded: %s / %s"
          % (label, saves[0][0].err, saves[1][0].err))
    if overlap:
        check(len(ok) == 1, "%s: both overlapping saves succeeded" % label)
    print("%s: overlap %s, %s won" % (label, overlap,
                                     "+".join(vm.name for _, vm in ok)),
          flush=True)
    for s, vm in saves:
        if s.rc == 0:
            check(vm.wait(30) == 0, "%s: %s saved but did not end"
                  % (label, vm.name))
        else:
            line = one_error_line(s.err, label)
            check(re.search(r"race\.sav was (replaced|created) while "
                            r"saving.*not replacing it", line),
                  "%s: %s: %s" % (label, vm.name, line))
            still_running(vm, label)
            vm.quit()
    # The file is the last successful save's, whole, and it restores.
    check(saved_name(env, path) == ok[-1][1].name if len(ok) == 1 else
          saved_name(env, path) in [vm.name for _, vm in ok],
          "%s: the file is not the successful save's" % label)
    restores(env, path, "r")
    return overlap


def test_two_saves_to_one_file(env):
    """Both orders: the later-started save finishes first (it is
    smaller), and the earlier-started one finishes first (same size)."""
    overlaps = {"small second": 0, "same size": 0}
    for run in range(RUNS):
        for label, second in (("small second", 16), ("same size", 128)):
            path, saves, overlap = race(env, 128, second, run)
            if check_race(env, path, saves, overlap,
                          "%s run %d" % (label, run)):
                overlaps[label] += 1
            os.unlink(path)
    for label, n in overlaps.items():
        check(n > 0, "%s: the saves never overlapped" % label)


def plant_links(env, path, victim):
    names = [path + ".tmp", os.path.join(os.path.dirname(path),
                                         "." + os.path.basename(path) +
                                         ".tmp"),
             path + "~", path + ".part", path + ".new",
             os.path.join(os.path.dirname(path), ".godwit-save.tmp")]
    for n in names:
        os.symlink(victim, n)
    return names


def test_planted_links_are_not_followed(env):
    victim = os.path.join(env.tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious")
    path = os.path.join(env.tmp, "s.sav")
    links = plant_links(env, path, victim)
    for label, args in (("first save", ["-c"]), ("replacing it", [])):
        vm = env.run("dirty", "mib=16", memory=64, name=label.split()[0])
        vm.keeps_sweeping(2)
        rc, _, err = env.godwit_cmd("save", *args, vm.qmp_path, path)
        check(rc == 0, "%s: save: %s" % (label, err))
        check(open(victim).read() == "precious",
              "%s: the link's target was written" % label)
        for n in links:
            check(os.path.islink(n), "%s: %s is no longer a link"
                  % (label, n))
        check(stat.S_ISREG(os.lstat(path).st_mode),
              "%s: the save is not a regular file" % label)
        check(os.lstat(path).st_mode & 0o777 == 0o600,
              "%s: the save is readable by others" % label)
        if args:
            vm.quit()
        else:
            check(vm.wait(30) == 0, "saved VM did not end")
    restores(env, path)
    # Nothing of ours is left beside the file.
    left = [n for n in os.listdir(env.tmp) if n.startswith(".godwit")]
    check(left == [".godwit-save.tmp"], "temporary files left: %s" % left)


def test_file_that_is_a_link_is_refused(env):
    target = os.path.join(env.tmp, "elsewhere.sav")
    with open(target, "w") as f:
        f.write("untouched")
    path = os.path.join(env.tmp, "link.sav")
    os.symlink(target, path)
    vm = env.run("dirty", "mib=16", memory=64)
    vm.expect(r"^dirty: sweep", 30)
    rc, _, err = env.godwit_cmd("save", vm.qmp_path, path)
    check(rc == 1, "save to a link: exit %d" % rc)
    line = one_error_line(err, "link")
    check("link.sav is a symbolic link" in line, line)
    check(os.path.islink(path) and open(target).read() == "untouched",
          "the link or its target changed")
    still_running(vm, "link")
    vm.quit()


def test_device_node_stays_a_device(env):
    """A null device (mknod 1:3, like /dev/null; a private node so that
    a broken godwit cannot replace the machine's own /dev/null)."""
    path = os.path.join(env.tmp, "null")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    vm = env.run("dirty", "mib=16", memory=64)
    vm.keeps_sweeping(2)
    rc, _, err = env.godwit_cmd("save", "-c", vm.qmp_path, path)
    check(rc == 0, "save to a null device: " + err)
    st = os.lstat(path)
    check(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3),
          "the device node was replaced")
    vm.keeps_sweeping(2)
    vm.quit()


def test_fifo_with_a_reader(env):
    """godwit restore reads the FIFO while godwit save writes it."""
    path = os.path.join(env.tmp, "pipe")
    os.mkfifo(path, 0o600)
    vm = env.run("dirty", "mib=16", memory=64, name="src")
    vm.keeps_sweeping(2)
    dst = env.restore(path, name="dst")  # blocks in open() until a writer
    time.sleep(0.2)
    rc, _, err = env.godwit_cmd("save", vm.qmp_path, path)
    check(rc == 0, "save to a FIFO: " + err)
    check(vm.wait(30) == 0, "saved VM did not end")
    check(stat.S_ISFIFO(os.lstat(path).st_mode), "the FIFO was replaced")
    dst.keeps_sweeping(10)
    dst.quit()


def test_directory_and_socket_are_refused(env):
    import socket
    sock_path = os.path.join(env.tmp, "sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock_path)
    vm = env.run("dirty", "mib=16", memory=64)
    vm.expect(r"^dirty: sweep", 30)
    for path, want in ((env.tmp, "is a directory"),
                       (sock_path, "is a socket")):
        rc, _, err = env.godwit_cmd("save", vm.qmp_path, path)
        check(rc == 1 and want in one_error_line(err, want),
              "%s: exit %d: %s" % (path, rc, err))
    check(stat.S_ISSOCK(os.lstat(sock_path).st_mode), "socket replaced")
    s.close()
    still_running(vm, "dir")
    vm.quit()


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

"""Running the documentation's examples exactly as written, as a person
would type them: one shell, one command after the other, in a machine of
their own. The shell runs in new mount, network and PID namespaces: a
tmpfs over /run, /var/lib, /var/log and /etc/godwit (so the examples may
use godwit's default paths and ports, and leave nothing behind), the
loopback interface up, and when the shell ends every process it left
(daemons, VMs) ends with it. Its working directory is a scratch directory
holding build/ (the build under test), guests/ (its test guests) and
examples/ (the source tree's).

Each command gets /dev/null as its input, or, for a console, a pipe that
sends ^] after a few seconds; its output (stdout and stderr) is what the
documentation's expectations are matched against. A command sent to the
background (ending in &) is given a second, as the next line would be
typed."""

import os
import select
import subprocess
import tempfile
import time

from lib.gw import TestFailure

SETUP = """set -e
mount --make-rprivate /
for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 tmpfs $d; done
mkdir -p /etc/godwit && mount -t tmpfs -o mode=0755 tmpfs /etc/godwit
ip link set lo up
cd "$1"
exec bash --noprofile --norc 2>&1
"""
MARK = "__godwit_doc_done__"


class DocShell:
    def __init__(self, env, src):
        self.env = env
        self.dir = tempfile.mkdtemp(prefix="doc-", dir=env.tmp)
        for name, target in (("build", env.build), ("guests", env.guests),
                             ("examples", os.path.join(src, "examples"))):
            os.symlink(target, os.path.join(self.dir, name))
        self.fifo = os.path.join(self.dir, ".console-input")
        os.mkfifo(self.fifo)
        environ = dict(os.environ,
                       PATH=self.dir + "/build:/usr/sbin:/usr/bin:/sbin:/bin")
        environ.pop("GODWIT_RUN_DIR", None)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--pid", "--fork",
             "--mount-proc", "--", "sh", "-c", SETUP, "setup", self.dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=environ)
        env.procs.append(self.proc)

    def _read_until_mark(self, timeout):
        out, deadline = b"", time.time() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            i = out.find(MARK.encode())
            if i >= 0 and b"\n" in out[i:]:
                line = out[i:].split(b"\n", 1)[0].decode()
                return out[:i].decode(errors="replace"), int(line.split()[1])
            left = deadline - time.time()
            if left <= 0:
                raise TestFailure("command still running after %ds: %s"
                                  % (timeout, out.decode(errors="replace")))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise TestFailure("the shell ended: %s"
                                      % out.decode(errors="replace"))
                out += chunk

    def run(self, command, timeout=120, console=False):
        """Run one command as written; returns (exit status, output)."""
        stdin = self.fifo if console else "/dev/null"
        command = command.rstrip()
        background = command.endswith("&")
        if background:
            line = "%s < %s &\n" % (command[:-1].rstrip(), stdin)
        else:
            line = "%s < %s\n" % (command, stdin)
        self.proc.stdin.write(line.encode())
        self.proc.stdin.write(("echo %s $?\n" % MARK).encode())
        self.proc.stdin.flush()
        if console:
            # The terminal: a few seconds of the console, then ^].
            with open(self.fifo, "wb") as f:
                time.sleep(3)
                f.write(b"\x1d")
        out, rc = self._read_until_mark(timeout)
        if background:
            time.sleep(1)
        return rc, out

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

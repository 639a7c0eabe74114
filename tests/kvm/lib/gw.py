"""Test harness for the kvm suite: start godwit processes, read their
serial output line by line, talk QMP to their control sockets, and clean
up after themselves. Python 3 standard library only."""

import json
import os
import queue
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77  # meson's "skipped" exit status


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def build_dir():
    if len(sys.argv) < 2:
        sys.exit("usage: %s BUILD_DIR" % sys.argv[0])
    return os.path.abspath(sys.argv[1])


def has_hw_virt():
    """True if the CPU flags list vmx (Intel) or svm (AMD): hardware KVM.
    Without them this host's KVM is the software one (KVM-HERE.md)."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return "vmx" in flags or "svm" in flags
    return False


def wait_until(what, pred, timeout=20, step=0.05):
    """Poll pred until it returns something true, and return that."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise TestFailure("timed out waiting for " + what)
        time.sleep(step)


def check_pauses(vm, limit_ms):
    """Where godwit can freeze guest time, the timer guest must not see a
    pause longer than limit_ms; elsewhere pauses are reported, not failed.
    Hardware KVM offsets the guest TSC, so godwit can hold guest time still
    across a pause; the software KVM of our development machines ignores
    TSC offsets (measured), so guest time runs on there."""
    for line in vm.all_lines:
        m = re.match(r"^timer: pause (\d+) ms$", line)
        if m and has_hw_virt():
            check(int(m.group(1)) <= limit_ms,
                  "%s: guest time jumped %s ms" % (vm.name, m.group(1)))


def require_kvm():
    """The kvm suite must run on our machines; elsewhere it says why."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not available on this host")
        sys.exit(SKIP)


class Qmp:
    """A minimal blocking QMP client (greeting, negotiation, execute)."""

    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise TestFailure("no control socket at %s" % path)
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        greeting = self._recv()
        check("QMP" in greeting, "bad greeting %r" % greeting)
        self.execute("qmp_capabilities")

    def _recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TestFailure("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute_raw(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\r\n")
        while True:
            r = self._recv()
            if "event" in r:
                self.events.append(r)
                continue
            return r

    def execute(self, cmd, **args):
        r = self.execute_raw(cmd, **args)
        if "error" in r:
            raise TestFailure("%s failed: %s" % (cmd, r["error"]["desc"]))
        return r["return"]

    def wait_migration_over(self, timeout):
        """Poll query-migrate until no migration is active."""
        wait_until("the migration to end",
                   lambda: self.execute("query-migrate")["status"] !=
                   "active", timeout)

    def close(self):
        self.sock.close()


class Vm:
    """A godwit process running one VM, its output read by a thread."""

    def __init__(self, env, args, name="vm", stdin=subprocess.DEVNULL,
                 prefix=()):
        self.env = env
        self.name = name
        self.qmp_path = os.path.join(env.tmp, name + ".qmp")
        self.lines = queue.Queue()
        self.all_lines = []
        self.stderr_lines = []
        self.stderr_cond = threading.Condition()
        cmd = list(prefix) + [env.godwit] + args
        if "--qmp" not in args:
            cmd += ["--qmp", self.qmp_path]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=stdin)
        env.procs.append(self.proc)
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _read_out(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.all_lines.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self):
        for raw in self.proc.stderr:
            with self.stderr_cond:
                self.stderr_lines.append(
                    raw.decode(errors="replace").rstrip())
                self.stderr_cond.notify_all()
        with self.stderr_cond:
            self.stderr_lines.append(None)
            self.stderr_cond.notify_all()

    def expect_stderr(self, pattern, timeout=60):
        """Wait for a line on the VM process's stderr matching pattern."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        seen = 0
        with self.stderr_cond:
            while True:
                for line in self.stderr_lines[seen:]:
                    if line is None:
                        raise TestFailure("%s: exited before /%s/ on stderr: %s"
                                          % (self.name, pattern,
                                             self.stderr()))
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.stderr_lines)
                left = deadline - time.time()
                if left <= 0:
                    raise TestFailure("%s: no /%s/ on stderr: %s"
                                      % (self.name, pattern, self.stderr()))
                self.stderr_cond.wait(left)

    def expect(self, pattern, timeout=60):
        """Wait for an output line matching pattern; fail on CORRUPT/BAD."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TestFailure("%s: timeout waiting for /%s/; last lines: %s; stderr: %s"
                                  % (self.name, pattern, self.all_lines[-5:],
                                     self.stderr_lines[-5:]))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise TestFailure("%s: exited (%s) before /%s/; last lines: %s; stderr: %s"
                                  % (self.name, self.proc.wait(), pattern,
                                     self.all_lines[-5:], self.stderr_lines[-5:]))
            assert_healthy(line, self.name)
            m = rx.search(line)
            if m:
                return m

    def qmp(self, timeout=30):
        return Qmp(self.qmp_path, timeout)

    def quit(self):
        """End the VM with QMP quit; it must exit with status 0."""
        q = self.qmp()
        q.execute("quit")
        q.close()
        check(self.wait(30) == 0, "%s: quit" % self.name)

    def keeps_sweeping(self, sweeps=10):
        """The dirty guest completes sweeps more sweeps (each one checks
        every page) after its next sweep line; returns the last sweep."""
        n = int(self.expect(r"^dirty: sweep (\d+)$", 30).group(1))
        while True:
            m = int(self.expect(r"^dirty: sweep (\d+)$", 30).group(1))
            if m >= n + sweeps:
                return m

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s: still running after %ss; last lines: %s"
                              % (self.name, timeout, self.all_lines[-5:]))
        self._t_out.join(5)
        self._t_err.join(5)
        for line in self.all_lines:
            assert_healthy(line, self.name)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr(self):
        return "\n".join(l for l in self.stderr_lines if l is not None)


def assert_healthy(line, who):
    if "CORRUPT" in line or line.endswith(" BAD") or ": BAD" in line:
        raise TestFailure("%s: guest reports a failure: %s" % (who, line))


class Env:
    """Temporary directory and process bookkeeping for one test script."""

    def __init__(self):
        self.build = build_dir()
        self.godwit = os.path.join(self.build, "godwit")
        self.guests = os.path.join(self.build, "guests")
        self.tmp = tempfile.mkdtemp(prefix="godwit-test-")
        self.procs = []
        os.environ["GODWIT_RUN_DIR"] = os.path.join(self.tmp, "run")
        # Every VM's leases (the file engine) in this test's own directory.
        os.environ["GODWIT_LEASE_DIR"] = os.path.join(self.tmp, "leases")

    def guest(self, name):
        return os.path.join(self.guests, name + ".elf")

    def run(self, guest, cmdline="", memory=128, vcpus=1, name="vm",
            extra=(), **kw):
        args = ["run", "--kernel", self.guest(guest), "--memory",
                str(memory), "--vcpus", str(vcpus), "--name", name,
                "--serial", "stdio"]
        if cmdline:
            args += ["--cmdline", cmdline]
        return Vm(self, args + list(extra), name=name, **kw)

    def restore(self, path, name="vm", extra=()):
        return Vm(self, ["restore", path, "--serial", "stdio"] + list(extra),
                  name=name)

    def godwit_cmd(self, *args, timeout=120, check_rc=None, prefix=()):
        r = subprocess.run(list(prefix) + [self.godwit] + list(args),
                           capture_output=True, timeout=timeout)
        out, err = r.stdout.decode(), r.stderr.decode()
        if check_rc is not None and r.returncode != check_rc:
            raise TestFailure("godwit %s: exit %d, expected %d: %s"
                              % (" ".join(args), r.returncode, check_rc, err))
        return r.returncode, out, err

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main(tests):
    """Run each test function with a fresh Env; report and exit."""
    require_kvm()
    only = os.environ.get("GODWIT_TEST_ONLY")
    failed = 0
    for t in tests:
        if only and only not in t.__name__:
            continue
        env = Env()
        start = time.time()
        try:
            t(env)
            print("ok   %-50s %6.2fs" % (t.__name__, time.time() - start),
                  flush=True)
        except Exception as e:  # report every failure, keep going
            failed += 1
            print("FAIL %-50s %s" % (t.__name__, e), flush=True)
        finally:
            env.cleanup()
    sys.exit(1 if failed else 0)


def seeded_random():
    seed = int(os.environ.get("GODWIT_TEST_SEED", time.time_ns() % 100000))
    print("seed %d (set GODWIT_TEST_SEED to repeat)" % seed, flush=True)
    return random.Random(seed)

#!/usr/bin/python3
"""Run every test guest in QEMU (microvm, KVM) and check its output contract.

This proves that the guest ELF files in BUILD/guests are plain PVH guests
that run unchanged outside godwit, and that their self-checks pass and
fail as documented in guests/README.md. Each case starts
  qemu-system-x86_64 -enable-kvm -M microvm -cpu qemu64,-cx16 -m 256
      -kernel X.elf -append ARGS
      -device isa-debug-exit,iobase=0xf4,iosize=0x04
      -nodefaults -no-user-config -nographic -serial stdio [-smp 2]
and checks the serial lines and the exit status (QEMU's isa-debug-exit
exits with value * 2 + 1). Cases run two at a time; every QEMU process is
killed and reaped before the test ends.

Usage: test_qemu_guests.py BUILD_DIR [CASE_NAME...]
Exit status: 0 pass, 1 failure, 77 skipped (no /dev/kvm or no QEMU).
"""

import concurrent.futures
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

QEMU = "qemu-system-x86_64"
WORKERS = 2


def qemu_cmd(elf, append, smp=1, reboot=True):
    cmd = [QEMU, "-enable-kvm", "-M", "microvm", "-cpu", "qemu64,-cx16",
           "-m", "256", "-kernel", elf, "-append", append,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-nodefaults", "-no-user-config", "-nographic",
           "-serial", "stdio"]
    if smp > 1:
        cmd += ["-smp", str(smp)]
    if not reboot:
        cmd += ["-no-reboot"]
    return cmd


def debug_exit(value):
    return value * 2 + 1


class Guest:
    """One QEMU process; serial lines arrive on a queue with timestamps."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.times = []
        self.stderr = b""
        self.q = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err_reader = threading.Thread(target=self._read_err,
                                           daemon=True)
        self.err_reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.q.put((time.monotonic(),
                        raw.decode("ascii", "replace").rstrip("\r\n")))
        self.q.put(None)

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def wait_line(self, pattern, timeout):
        """Collect lines until one matches pattern; return it or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                item = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if item is None:
                self.q.put(None)
                return None
            self.times.append(item[0])
            self.lines.append(item[1])
            if re.fullmatch(pattern, item[1]):
                return item[1]

    def finish(self, timeout):
        """Wait for exit and collect the remaining lines; None on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(5)
        while True:
            item = self.q.get()
            if item is None:
                break
            self.times.append(item[0])
            self.lines.append(item[1])
        return rc

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        self.err_reader.join(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def describe(self):
        return "\n    ".join(["cmd: " + " ".join(self.cmd)] +
                               ["out: " + l for l in self.lines[-12:]] +
                               ["err: " + l for l in self.stderr.decode(
                                   "ascii", "replace").splitlines()[-4:]])


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def only_prefix(g, prefix):
    stray = [l for l in g.lines if not l.startswith(prefix + ": ")]
    expect(not stray, "lines without the %r prefix: %r" % (prefix, stray))


def run_to_exit(g, timeout):
    rc = g.finish(timeout)
    expect(rc is not None, "no exit within %d s" % timeout)
    return rc


# --- lifecycle ---------------------------------------------------------

def case_exit_code(build):
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=exit:5")
    rc = run_to_exit(g, 20)
    expect(g.lines == ["lifecycle: start"], "lines %r" % g.lines)
    expect(rc == debug_exit(5), "exit status %d, want %d" %
           (rc, debug_exit(5)))


def case_poweroff(build):
    # With reboots allowed, only a real ACPI S5 ends QEMU with status 0
    # after a single start line (a reset or triple fault would reboot).
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=poweroff")
    rc = run_to_exit(g, 20)
    expect(g.lines == ["lifecycle: start"], "lines %r" % g.lines)
    expect(rc == 0, "exit status %d, want 0 (ACPI poweroff)" % rc)


def reboots(build, action):
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=" + action)
    for n in (1, 2):
        expect(g.wait_line(r"lifecycle: start", 20),
               "start line %d missing (no reboot after %s)" % (n, action))
    only_prefix(g, "lifecycle")


def case_reset(build):
    yield from reboots(build, "reset")


def case_triple_fault(build):
    yield from reboots(build, "triple-fault")


def case_triple_fault_no_reboot(build):
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=triple-fault",
                       reboot=False)
    rc = run_to_exit(g, 20)
    expect(g.lines == ["lifecycle: start"], "lines %r" % g.lines)
    expect(rc == 0, "exit status %d, want 0 (-no-reboot)" % rc)


def case_echo(build):
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=echo")
    expect(g.wait_line(r"lifecycle: start", 20), "no start line")
    g.send(b"a")
    expect(g.wait_line(r"lifecycle: got 61", 10), "'a' not echoed")
    g.send(b"Zq")
    expect(g.wait_line(r"lifecycle: got 71", 10), "'q' not echoed")
    rc = run_to_exit(g, 10)
    expect(g.lines == ["lifecycle: start", "lifecycle: got 61",
                       "lifecycle: got 5a", "lifecycle: got 71"],
           "lines %r" % g.lines)
    expect(rc == debug_exit(0), "exit status %d after q" % rc)


def case_hang(build):
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=hang")
    expect(g.wait_line(r"lifecycle: start", 20), "no start line")
    time.sleep(1.5)
    expect(g.proc.poll() is None, "guest ended; it should hang")


def case_powerbutton_refused(build):
    # action=powerbutton needs godwit's GED (a status byte in I/O space,
    # guests/README.md). QEMU microvm's GED is memory-mapped with other
    # event bits: the guest finds it in the DSDT and refuses it at once.
    g = yield qemu_cmd(build + "/lifecycle.elf", "action=powerbutton")
    rc = run_to_exit(g, 20)
    expect(len(g.lines) == 2 and g.lines[0] == "lifecycle: start" and
           re.fullmatch(r"lifecycle: BAD power button: GED register 0x[0-9a-f]+"
                        r" in address space 0, not I/O \(not a godwit GED\)",
                        g.lines[1]), "lines %r" % g.lines)
    expect(rc == debug_exit(3), "exit status %d" % rc)


# --- dirty -------------------------------------------------------------

def sweeps_of(g):
    return [int(l.split()[2]) for l in g.lines
            if l.startswith("dirty: sweep ")]


def dirty_done(build, elf, append, smp, ready):
    g = yield qemu_cmd(build + "/" + elf, append, smp=smp)
    rc = run_to_exit(g, 40)
    only_prefix(g, "dirty")
    expect(g.lines[:1] == [ready], "first line %r, want %r" %
           (g.lines[:1], ready))
    expect(g.lines[-1:] == ["dirty: done sweeps=300"], "no done line")
    s = sweeps_of(g)
    expect(s and s == sorted(s) and s[-1] == 300,
           "sweep lines %r not increasing to 300" % s)
    expect(rc == debug_exit(0), "exit status %d" % rc)


def case_dirty(build):
    yield from dirty_done(build, "dirty.elf", "mib=64 sweeps=300", 1,
                          "dirty: ready mib=64")


def case_smp_dirty(build):
    yield from dirty_done(build, "smp-dirty.elf", "mib=64 sweeps=300", 2,
                          "dirty: ready mib=64 cpus=2")


def case_dirty_no_fit(build):
    g = yield qemu_cmd(build + "/dirty.elf", "mib=1024")
    rc = run_to_exit(g, 20)
    expect(g.lines == ["dirty: BAD mib=1024 does not fit"],
           "lines %r" % g.lines)
    expect(rc == debug_exit(3), "exit status %d" % rc)


def dirty_corrupt(build, elf, smp):
    g = yield qemu_cmd(build + "/" + elf, "mib=32 sweeps=50 corrupt=7",
                       smp=smp)
    rc = run_to_exit(g, 20)
    only_prefix(g, "dirty")
    expect(re.fullmatch(r"dirty: CORRUPT pfn=[0-9a-f]+ expected=7 found=6",
                        g.lines[-1] if g.lines else ""),
           "last line %r is not the CORRUPT report" % g.lines[-1:])
    expect(rc == debug_exit(3), "exit status %d" % rc)


def case_dirty_corrupt(build):
    yield from dirty_corrupt(build, "dirty.elf", 1)


def case_smp_dirty_corrupt(build):
    yield from dirty_corrupt(build, "smp-dirty.elf", 2)


def case_dirty_rate(build):
    # 16 MiB x 8 sweeps at 64 MiB/s: the last sweep ends after >= 2 s.
    g = yield qemu_cmd(build + "/dirty.elf", "mib=16 rate=64 sweeps=8")
    expect(g.wait_line(r"dirty: ready mib=16", 20), "no ready line")
    t0 = g.times[-1]
    expect(g.wait_line(r"dirty: done sweeps=8", 30), "no done line")
    took = g.times[-1] - t0
    expect(1.8 <= took <= 12, "8 sweeps of 16 MiB at 64 MiB/s took %.2f s"
           % took)
    expect(run_to_exit(g, 10) == debug_exit(0), "bad exit status")


# --- cpu ---------------------------------------------------------------

def cpu_run(build, elf, append, smp, ready, want_ok=True):
    g = yield qemu_cmd(build + "/" + elf, append, smp=smp)
    rc = run_to_exit(g, 60)
    only_prefix(g, "cpu")
    expect(g.lines[:1] and re.fullmatch(ready, g.lines[0]),
           "first line %r, want %r" % (g.lines[:1], ready))
    last = g.lines[-1] if g.lines else ""
    m = re.fullmatch(r"cpu: digest=([0-9a-f]{16}) (ok|BAD)", last)
    expect(m, "last line %r is not a digest line" % last)
    expect((m.group(2) == "ok") == want_ok, "verdict %s" % m.group(2))
    expect(rc == debug_exit(0 if want_ok else 3), "exit status %d" % rc)
    progress = [int(l.split()[2]) for l in g.lines
                if l.startswith("cpu: progress ")]
    expect(progress == sorted(progress), "progress not increasing")
    return m.group(1)


def case_cpu_twice(build):
    # The digest is a pure function of cmdline, CPU count and AVX use.
    d1 = yield from cpu_run(build, "cpu.elf", "rounds=2000", 1,
                            r"cpu: ready rounds=2000 avx=[01]")
    d2 = yield from cpu_run(build, "cpu.elf", "rounds=2000", 1,
                            r"cpu: ready rounds=2000 avx=[01]")
    expect(d1 == d2, "digests differ between runs: %s %s" % (d1, d2))


def case_cpu_sse_only(build):
    yield from cpu_run(build, "cpu.elf", "rounds=2000 avx=0", 1,
                       r"cpu: ready rounds=2000 avx=0")


def case_cpu_corrupt(build):
    yield from cpu_run(build, "cpu.elf", "rounds=2000 corrupt=10", 1,
                       r"cpu: ready rounds=2000 avx=[01]", want_ok=False)


def case_smp_cpu(build):
    yield from cpu_run(build, "smp-cpu.elf", "rounds=2000", 2,
                       r"cpu: ready rounds=2000 avx=[01] cpus=2")


# --- timer -------------------------------------------------------------

def case_timer(build):
    g = yield qemu_cmd(build + "/timer.elf", "seconds=3")
    rc = run_to_exit(g, 30)
    expect(g.lines == ["timer: ready seconds=3 window=5", "timer: tick 100",
                       "timer: tick 200", "timer: tick 300", "timer: ok"],
           "lines %r" % g.lines)
    expect(rc == debug_exit(0), "exit status %d" % rc)
    took = g.times[-1] - g.times[0]
    expect(2.5 <= took <= 15, "3 s of ticks took %.2f s of host time" % took)


def timer_bad(build, append, reason):
    g = yield qemu_cmd(build + "/timer.elf", append)
    rc = run_to_exit(g, 30)
    only_prefix(g, "timer")
    last = g.lines[-1] if g.lines else ""
    expect(re.fullmatch(r"timer: BAD " + reason + r".*", last),
           "last line %r, want BAD %s" % (last, reason))
    expect(rc == debug_exit(3), "exit status %d" % rc)


def case_timer_stopped(build):
    yield from timer_bad(build, "seconds=10 inject=stop",
                         r"lapic timer stopped")


def case_timer_double(build):
    yield from timer_bad(build, "seconds=10 window=2 inject=double",
                         r"rate too high over window")


def case_timer_back(build):
    yield from timer_bad(build, "seconds=10 inject=back",
                         r"tsc went backwards")


def case_timer_jump(build):
    yield from timer_bad(build, "seconds=10 window=2 inject=jump",
                         r"rate too low over window")


def case_timer_stall(build):
    """Time spent inside the tick handler is excused, not a slow timer."""
    g = yield qemu_cmd(build + "/timer.elf", "seconds=4 window=1 inject=stall")
    rc = run_to_exit(g, 30)
    only_prefix(g, "timer")
    expect(g.lines[-1:] == ["timer: ok"], "lines %r" % g.lines)
    expect(any(re.fullmatch(r"timer: pause 1[45]\d\d ms", l) for l in g.lines),
           "no 1.5 s pause reported: %r" % g.lines)
    expect(rc == debug_exit(0), "exit status %d" % rc)


# Timer cases run one at a time after the rest, so that this test's own
# load does not starve them (a starved vCPU coalesces timer ticks).
CASES = [
    # Longest first, so two workers finish together.
    case_cpu_twice, case_smp_cpu, case_cpu_sse_only, case_dirty_rate,
    case_cpu_corrupt, case_smp_dirty, case_dirty, case_hang, case_echo,
    case_smp_dirty_corrupt, case_dirty_corrupt, case_dirty_no_fit,
    case_reset, case_triple_fault, case_triple_fault_no_reboot,
    case_poweroff, case_exit_code, case_powerbutton_refused,
]
SERIAL_CASES = [
    case_timer, case_timer_stopped, case_timer_double, case_timer_jump,
    case_timer_back, case_timer_stall,
]


def run_case(case, build):
    """Drive a case generator: it yields QEMU commands, gets Guests back."""
    t0 = time.monotonic()
    guests = []
    gen = case(build)
    try:
        cmd = next(gen)
        while True:
            g = Guest(cmd)
            guests.append(g)
            cmd = gen.send(g)
    except StopIteration:
        return (case.__name__, None, time.monotonic() - t0)
    except Failure as e:
        detail = guests[-1].describe() if guests else ""
        return (case.__name__, "%s\n    %s" % (e, detail),
                time.monotonic() - t0)
    finally:
        for g in guests:
            g.kill()


def skip_reason():
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible (read/write)"
    if not shutil.which(QEMU):
        return "%s is not installed (Debian package qemu-system-x86)" % QEMU
    return None


def main(argv):
    if len(argv) < 2:
        print("usage: test_qemu_guests.py BUILD_DIR [CASE...]")
        return 2
    reason = skip_reason()
    if reason:
        print("SKIP: %s" % reason)
        return 77
    build = os.path.join(os.path.abspath(argv[1]), "guests")
    if not os.path.exists(os.path.join(build, "dirty.elf")):
        build = os.path.abspath(argv[1])
    def chosen(cases):
        return [c for c in cases if len(argv) < 3 or c.__name__ in argv[2:]]
    t0 = time.monotonic()
    results = []
    for cases, workers in ((chosen(CASES), WORKERS),
                           (chosen(SERIAL_CASES), 1)):
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for name, err, took in pool.map(lambda c: run_case(c, build),
                                            cases):
                print("%-4s %-32s %5.1f s%s" % (
                    "ok" if not err else "FAIL", name, took,
                    "\n    " + err if err else ""), flush=True)
                results.append(err)
    failed = sum(1 for e in results if e)
    print("%d of %d cases failed, %.1f s" % (failed, len(results),
                                             time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

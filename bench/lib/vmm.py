"""godwit and QEMU running the same PVH guest, side by side.

Both get the same ELF, command line, RAM size and vCPU count, the serial
port on stdout and a QMP socket. QEMU uses -M microvm (QEMU's fastest
PVH path; -M pc spends minutes in SeaBIOS under this machine's emulated
ring 0), -nodefaults and the isa-debug-exit device on godwit's port 0xf4.

QEMU's CPU model is the first of QEMU_CPUS that runs the guest here
(probed once per bench run and recorded in the results): plain `-cpu host`
aborts on some software-KVM hosts (it cannot set MSR 0x10a,
IA32_ARCH_CAPABILITIES), so `host,-arch-capabilities` is next, closest to
godwit's default `--cpu host`.
"""
import os
import time

from . import paths, proc
from .qmp import QMP, QMPError

QEMU_CPUS = ("host", "host,-arch-capabilities", "qemu64,-cx16")
QEMU_MIGRATION_OVER = ("completed", "failed", "cancelled")
_qemu_cpu = None


class VM:
    """One running VMM process plus its QMP socket."""

    def __init__(self, kind, argv, qmp_path, name, wrap=None):
        self.kind = kind
        self.qmp_path = str(qmp_path)
        proc.remove(self.qmp_path)
        self.argv = [str(a) for a in argv]
        self.proc = proc.VMProcess(wrap(self.argv) if wrap else self.argv, name)
        self.qmp = None
        self.t_qmp = None

    @property
    def pid(self):
        return self.proc.pid

    def connect(self, timeout=60):
        """Open the QMP session; returns the perf_counter connect time."""
        if self.qmp is None:
            self.qmp, self.t_qmp = QMP.connect(self.qmp_path, timeout,
                                               alive=self.proc.alive)
        return self.t_qmp

    def check_guest(self, what):
        """Raise if the guest reported a failure on its console (the test
        guests print "CORRUPT ..." or "BAD ..." before exiting)."""
        bad = self.proc.lines_matching(r"CORRUPT|BAD")
        if bad:
            raise RuntimeError("%s: guest reports %s" % (what, bad[0].text))

    def quit(self, timeout=20):
        """Ask the VMM to quit over QMP; kill it if it does not."""
        try:
            self.connect(5)
            self.qmp.execute("quit", timeout=5)
        except (QMPError, proc.ProcessError, OSError):
            pass
        rc = self.proc.wait(timeout)
        self.close()
        return rc

    def close(self):
        if self.qmp:
            self.qmp.close()
            self.qmp = None
        rc = self.proc.stop()
        proc.remove(self.qmp_path)
        return rc


def godwit_run(kernel, cmdline, memory_mib, qmp_path, vcpus=1, name="godwit",
               wrap=None):
    argv = [paths.GODWIT, "run", "--kernel", kernel, "--cmdline", cmdline,
            "--memory", str(memory_mib), "--vcpus", str(vcpus),
            "--serial", "stdio", "--qmp", qmp_path]
    return VM("godwit", argv, qmp_path, name, wrap)


def godwit_restore(save_file, qmp_path, name="godwit-restore", extra=()):
    argv = [paths.GODWIT, "restore", save_file, "--serial", "stdio",
            "--qmp", qmp_path] + list(extra)
    return VM("godwit", argv, qmp_path, name)


def godwit_receive(listen, qmp_path, name="godwit-dst"):
    argv = [paths.GODWIT, "migrate-receive", "--listen", listen,
            "--serial", "stdio", "--qmp", qmp_path]
    return VM("godwit", argv, qmp_path, name)


def qemu_argv(kernel, cmdline, memory_mib, qmp_path, cpu, vcpus=1,
              incoming=None):
    argv = [paths.QEMU, "-enable-kvm", "-M", "microvm", "-cpu", cpu,
            "-m", str(memory_mib), "-smp", str(vcpus),
            "-kernel", kernel, "-append", cmdline,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio", "-qmp", "unix:%s,server=on,wait=off" % qmp_path]
    if incoming:
        argv += ["-incoming", incoming]
    return argv


def qemu_run(kernel, cmdline, memory_mib, qmp_path, vcpus=1, incoming=None,
             name="qemu", wrap=None):
    argv = qemu_argv(kernel, cmdline, memory_mib, qmp_path, qemu_cpu(),
                     vcpus, incoming)
    return VM("qemu", argv, qmp_path, name, wrap)


def start(kind, kernel, cmdline, memory_mib, qmp_path, wrap=None):
    """godwit_run() or qemu_run() of the same guest, by kind."""
    run = godwit_run if kind == "godwit" else qemu_run
    return run(kernel, cmdline, memory_mib, qmp_path, wrap=wrap)


def qemu_wait_migration(vm, poll_s, cap_s=None):
    """Poll QEMU's query-migrate until the migration ends (or cap_s
    seconds have passed); returns the last answer."""
    t0 = proc.now()
    while True:
        q = vm.qmp.execute("query-migrate")
        if q.get("status") in QEMU_MIGRATION_OVER:
            return q
        if cap_s is not None and proc.now() - t0 > cap_s:
            return q
        time.sleep(poll_s)


def qemu_cpu():
    """The first QEMU CPU model that runs the dirty guest to completion."""
    global _qemu_cpu
    if _qemu_cpu is None:
        _qemu_cpu = os.environ.get("BENCH_QEMU_CPU") or _probe_qemu_cpu()
    return _qemu_cpu


def _probe_qemu_cpu():
    kernel = paths.guest("dirty")
    tried = []
    for cpu in QEMU_CPUS:
        argv = qemu_argv(kernel, "mib=1 sweeps=2", 32, "/dev/null", cpu)
        argv = argv[:argv.index("-qmp")]
        try:
            _, cp = proc.run_timed(argv, timeout=60, check=False)
        except Exception as e:  # a hang counts as "does not work"
            tried.append("%s: %s" % (cpu, e))
            continue
        if cp.returncode == 1 and "dirty: done" in cp.stdout:
            return cpu
        tried.append("%s: status %d %s" % (cpu, cp.returncode,
                                          cp.stderr.strip()[-120:]))
    raise SystemExit("bench: no QEMU CPU model runs the guest: " + "; ".join(tried))


def qemu_version():
    try:
        _, cp = proc.run_timed([paths.QEMU, "--version"], timeout=20)
        return cp.stdout.splitlines()[0].strip()
    except Exception as e:
        return "unavailable (%s)" % e

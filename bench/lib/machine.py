"""What machine the numbers come from, for every results file.

"Software KVM" means /dev/kvm exists but the CPU flags in /proc/cpuinfo
have neither vmx nor svm (on our hosts: the kvm_pvm module). There guest
ring 3 runs natively and ring 0 is emulated, which shapes every timing
(about 1.4 million emulated instructions a second); the reports say so.
"""
import datetime
import os
import platform
import subprocess
import threading

from . import disk, paths, vmm


def _cpuinfo():
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = val.strip()
                elif key == "flags" and not flags:
                    flags = set(val.split())
    except OSError:
        pass
    return model, flags


def _kvm_modules():
    """kvm* modules, loaded or built in (both appear in /sys/module)."""
    try:
        return sorted(m for m in os.listdir("/sys/module") if m.startswith("kvm"))
    except OSError:
        return []


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _git(*args):
    try:
        cp = subprocess.run(["git", "-C", str(paths.ROOT)] + list(args),
                            capture_output=True, text=True, timeout=20)
        return cp.stdout.strip() if cp.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def kvm_kind(flags):
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm"
    if "vmx" in flags or "svm" in flags:
        return "hardware KVM (%s)" % ("vmx" if "vmx" in flags else "svm")
    return "software KVM (no VMX/SVM)"


def loadavg():
    """(1-minute load, runnable tasks) from /proc/loadavg."""
    f = (_read("/proc/loadavg") or "0 0 0 0/0").split()
    return float(f[0]), int(f[3].split("/")[0])


class LoadMonitor:
    """Samples the load while a bench runs: other work on the machine
    (builds, fuzzers, tests) competes for the same CPUs and disk, and the
    results must say so. Runnable counts include the bench's own VMM and
    the bench itself (about 2 while a guest runs)."""

    def __init__(self, interval=2.0):
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            self.samples.append(loadavg())
            if self._stop.wait(self.interval):
                break

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def result(self):
        if not self.samples:
            return None
        runnable = [r for _, r in self.samples]
        return {"loadavg1_start": self.samples[0][0],
                "loadavg1_end": self.samples[-1][0],
                "loadavg1_max": max(l for l, _ in self.samples),
                "runnable_mean": sum(runnable) / len(runnable),
                "runnable_max": max(runnable),
                "samples": len(self.samples)}


def describe(workdir=None, load=None):
    model, flags = _cpuinfo()
    mem_kb = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    rev = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat(),
        "cpu_model": model,
        "cpus_online": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_mib": mem_kb // 1024 if mem_kb else None,
        "kernel": "%s %s" % (platform.system(), platform.release()),
        "kvm": kvm_kind(flags),
        "kvm_modules": _kvm_modules(),
        "hypervisor_flag": "hypervisor" in flags,
        "thp_anon": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "thp_shmem": _read("/sys/kernel/mm/transparent_hugepage/shmem_enabled"),
        "qemu": vmm.qemu_version(),
        "godwit": (rev + ("+uncommitted changes" if dirty else "")) if rev else "unknown",
        "godwit_binary": str(paths.GODWIT),
        "python": platform.python_version(),
        "workdir_fs": disk.describe_fs(workdir) if workdir else None,
        "load": load,
    }


def markdown(m):
    """A short bullet list for the results markdown."""
    lines = [
        "- Date: %s" % m["date"],
        "- CPU: %s, %s logical CPUs (%s usable), %s MiB RAM" % (
            m["cpu_model"], m["cpus_online"], m["cpus_usable"], m["memory_mib"]),
        "- Kernel: %s; %s; modules: %s%s" % (
            m["kernel"], m["kvm"], ", ".join(m["kvm_modules"]) or "none listed",
            "; itself a VM (hypervisor flag)" if m["hypervisor_flag"] else ""),
        "- THP: anon `%s`, shmem `%s`" % (m["thp_anon"], m["thp_shmem"]),
        "- QEMU: %s; godwit: %s" % (m["qemu"], m["godwit"]),
    ]
    if m.get("workdir_fs"):
        lines.append("- Files written to: %s" % m["workdir_fs"])
    ld = m.get("load")
    if ld:
        # Runnable tasks, sampled: the load average lags by minutes.
        busy = ld["runnable_mean"] > (m["cpus_online"] or 1) + 1
        lines.append("- Load during the run: 1-min load average %.1f at start, "
                     "%.1f at end, %.1f max; %.1f runnable tasks on average "
                     "(the bench's own guest and driver count for about 2)%s" % (
                         ld["loadavg1_start"], ld["loadavg1_end"], ld["loadavg1_max"],
                         ld["runnable_mean"],
                         ". **The machine was busy with other work: expect noise.**"
                         if busy else ""))
    return "\n".join(lines)

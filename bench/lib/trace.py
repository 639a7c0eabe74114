"""Where start-up time goes, from kernel tracepoints (perf record).

Three events per VMM process, all from the kernel's clock:
  exec        sched:sched_process_exec of the VMM binary
  first run   the first KVM_RUN ioctl (syscalls:sys_enter_ioctl, cmd 0xae80)
  first out   the first write/writev to fd 1 (the serial console on stdout)
so "exec -> first KVM_RUN" is the VMM's own set-up and "first KVM_RUN ->
first output" is the guest booting (plus the VMM's exit handling). Tracing
costs a little per traced syscall, more for a VMM that makes many; the
figures are a breakdown, not the headline timing.
"""
import os
import re
import shutil
import subprocess

KVM_RUN = 0xae80
EVENTS = ["-e", "sched:sched_process_exec",
          "-e", "syscalls:sys_enter_ioctl", "--filter", "cmd == %#x" % KVM_RUN,
          "-e", "syscalls:sys_enter_write", "--filter", "fd == 1",
          "-e", "syscalls:sys_enter_writev", "--filter", "fd == 1"]
_LINE = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$")


def available():
    """True if perf can record the syscall tracepoints here."""
    if not shutil.which("perf") or os.geteuid() != 0:
        return False
    try:
        cp = subprocess.run(["perf", "record", "-q", "-o", "/dev/null"] + EVENTS
                            + ["--", "true"], capture_output=True, timeout=30)
        return cp.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def wrap(argv, data_path):
    """argv run under perf record, writing to data_path."""
    return ["perf", "record", "-q", "-o", str(data_path)] + EVENTS + ["--"] + \
        [str(a) for a in argv]


def phases(data_path, binary):
    """{setup_s, guest_to_first_output_s, kvm_runs_before_output} or None."""
    cp = subprocess.run(["perf", "script", "-i", str(data_path),
                         "-F", "tid,time,event,trace"],
                        capture_output=True, text=True, timeout=120)
    return parse(cp.stdout, binary)


def parse(script_text, binary):
    """phases() from `perf script -F tid,time,event,trace` output."""
    t_exec = t_run = t_out = None
    runs = 0
    base = os.path.basename(str(binary))
    for line in script_text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        t, event, rest = float(m.group(2)), m.group(3), m.group(4)
        if event == "sched:sched_process_exec":
            if t_exec is None and base in rest:
                t_exec = t
        elif t_exec is None:
            continue
        elif event == "syscalls:sys_enter_ioctl":
            if t_out is None:
                runs += 1
            if t_run is None:
                t_run = t
        elif event.startswith("syscalls:sys_enter_write") and t_out is None:
            t_out = t
    if None in (t_exec, t_run, t_out):
        return None
    return {"setup_s": t_run - t_exec, "guest_to_first_output_s": t_out - t_run,
            "kvm_runs_before_output": runs}

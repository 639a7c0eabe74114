#!/usr/bin/env python3
"""Boot Debian's Linux kernel in godwit, both ways it can be booted.

usage: test_linux_boot.py BUILD_DIR

Fetches Debian's current kernel (scripts/fetch-linux.sh) and builds a
busybox initramfs (scripts/mkinitramfs.sh) into BUILD_DIR/linux/, then boots
the vmlinux ELF through its PVH entry and the vmlinuz bzImage through the
64-bit boot protocol. Each boot passes if the initramfs prints
GODWIT-LINUX-BOOTED and powers off (ACPI S5), so `godwit run` exits with 0,
within the time limit.

Linux needs hardware virtualization: under KVM's instruction emulator
(hosts without vmx/svm) the kernel dies at its int3 self-test, so there the
test reports itself skipped (exit 77, meson's skip code).
"""

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time

from lib.gw import SKIP, has_hw_virt

MARKER = "GODWIT-LINUX-BOOTED"
TIMEOUT_S = 120
CMDLINE = "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1"
SKIP_REASON = ("SKIP: Linux boot needs hardware virtualization (no vmx/svm "
               "in /proc/cpuinfo); this host's KVM emulates ring 0 and "
               "Debian's kernel dies at its int3 self-test")

SRC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def prepare(linux_dir):
    """Fetch the kernel and build the initramfs (no-ops when present)."""
    for script in ("fetch-linux.sh", "mkinitramfs.sh"):
        path = os.path.join(SRC_DIR, "scripts", script)
        r = subprocess.run([path, linux_dir])
        if r.returncode != 0:
            print(f"FAIL: {script} {linux_dir} exited with {r.returncode}")
            return False
    return True


def kill_group(proc):
    """End the VMM (and anything it started) that this test started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def boot(godwit, kernel, initrd, name, tmp):
    """Run one guest; True if it printed the marker and powered off."""
    cmd = [godwit, "run", "--kernel", kernel, "--initrd", initrd,
           "--cmdline", CMDLINE, "--memory", "512", "--vcpus", "2",
           "--serial", "stdio", "--name", name,
           "--qmp", os.path.join(tmp, name + ".qmp")]
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + TIMEOUT_S
    output = bytearray()
    seen = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"FAIL: {name}: no poweroff within {TIMEOUT_S} s "
                      f"(marker {'seen' if seen else 'not seen'})")
                return False
            if not sel.select(timeout=left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            output += chunk
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
            # Serial output may end lines with \r\n.
            seen = seen or MARKER.encode() in output
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        print(f"FAIL: {name}: serial closed but godwit did not exit")
        return False
    finally:
        sel.close()
        if proc.poll() is None:
            kill_group(proc)
        proc.stdout.close()
    if not seen:
        print(f"FAIL: {name}: no {MARKER} line (exit status {status})")
        return False
    if status != 0:
        print(f"FAIL: {name}: booted, but exit status {status}, not 0 "
              "(poweroff)")
        return False
    print(f"PASS: {name}: booted and powered off")
    return True


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} BUILD_DIR", file=sys.stderr)
        return 2
    if not has_hw_virt():
        print(SKIP_REASON)
        return SKIP
    build = os.path.abspath(sys.argv[1])
    linux_dir = os.path.join(build, "linux")
    godwit = os.path.join(build, "godwit")
    initrd = os.path.join(linux_dir, "initramfs.cpio.gz")
    if not os.access(godwit, os.X_OK):
        print(f"FAIL: {godwit} is missing; build first")
        return 1
    if not prepare(linux_dir):
        return 1
    with tempfile.TemporaryDirectory(prefix="godwit-linux-") as tmp:
        ok = boot(godwit, os.path.join(linux_dir, "vmlinux"), initrd,
                  "linux-pvh", tmp)
        ok = boot(godwit, os.path.join(linux_dir, "vmlinuz"), initrd,
                  "linux-bzimage", tmp) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

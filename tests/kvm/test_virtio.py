#!/usr/bin/python3
"""kvm suite: the virtio-mmio transport and virtio-console on real KVM,
driven by the probe guest tests/kvm/vprobe (found through the DSDT, kicks
through KVM's ioeventfd, its interrupt through a resampling irqfd). Its
output reaches the console next to the UART's, console input reaches it
once it used the port, a paused VM takes no input until it runs again,
and the device with its queues survives a save and restore and a live
migration (the guest keeps echoing on the new VM). A stream without the
console's record restores with the device reset; a forged console state
is refused by restore and by godwit inspect."""

import os
import re
import select
import struct
import subprocess
import time

from lib.gw import Vm, check, main
from lib.net import free_port
from lib.stream import DEVICE, Stream

READY = r"^vprobe: ready base=0xd0000000 gsi=16$"


def probe_elf(env):
    return os.path.join(env.build, "tests", "kvm", "vprobe", "vprobe.elf")


def run_probe(env, name="vm", serial="stdio"):
    args = ["run", "--kernel", probe_elf(env), "--memory", "32", "--name",
            name, "--serial", serial]
    vm = Vm(env, args, name=name, stdin=subprocess.PIPE)
    vm.expect(READY, 60)
    vm.expect(r"^vprobe: virtio hello$", 30)
    return vm


def type_in(vm, data):
    vm.proc.stdin.write(data)
    vm.proc.stdin.flush()


def echo_and_quit(vm, data=b"hi"):
    type_in(vm, data)
    for b in data:
        vm.expect(r"^vprobe: virtio got %02x$" % b, 30)
    type_in(vm, b"q")
    vm.expect(r"^vprobe: virtio got 71$", 30)
    vm.expect(r"^vprobe: virtio bye$", 30)
    check(vm.wait(30) == 0, "%s: probe did not exit 0" % vm.name)


def no_line_for(vm, text, seconds):
    time.sleep(seconds)
    check(not any(text in l for l in vm.all_lines),
          "%s: %r printed: %s" % (vm.name, text, vm.all_lines[-5:]))


def test_output_and_input(env):
    """Kicks bypass the VMM's exits: with debug lines on, no line says
    a queue fell back to QueueNotify exits."""
    os.environ["GODWIT_DEBUG"] = "1"
    try:
        vm = run_probe(env)
    finally:
        del os.environ["GODWIT_DEBUG"]
    echo_and_quit(vm, b"hi")
    check("ioeventfd" not in vm.stderr(), "slow path: %s" % vm.stderr())


def test_paused_vm_takes_no_input(env):
    vm = run_probe(env)
    q = vm.qmp()
    q.execute("stop")
    type_in(vm, b"a")
    no_line_for(vm, "virtio got 61", 1.0)
    q.execute("cont")
    vm.expect(r"^vprobe: virtio got 61$", 30)
    echo_and_quit(vm, b"b")


def save_probe(env):
    vm = run_probe(env)
    path = os.path.join(env.tmp, "probe.sav")
    rc, out, err = env.godwit_cmd("save", vm.qmp_path, path)
    check(rc == 0, "save failed: %s" % err)
    check(vm.wait(30) == 0, "saved VM did not exit 0")
    return path


def console_record(s):
    recs = [r for r in s.find(DEVICE)
            if r.body[:16].rstrip(b"\0") == b"console0"]
    check(len(recs) == 1, "want one console0 record, got %d" % len(recs))
    return recs[0]


def restore(env, path, name="restored"):
    return Vm(env, ["restore", path, "--serial", "stdio"], name=name,
              stdin=subprocess.PIPE)


def test_save_restore(env):
    path = save_probe(env)
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect: %s %s" % (out, err))
    rec = console_record(Stream(open(path, "rb").read()))
    version, length = struct.unpack_from("<II", rec.body, 16)
    check((version, length) == (1, 648), "console0 %d/%d" % (version, length))
    vm = restore(env, path)
    echo_and_quit(vm, b"xyz")


def test_migration(env):
    src = run_probe(env, name="src")
    addr = "127.0.0.1:%d" % free_port()
    dst = Vm(env, ["migrate-receive", "--listen", addr, "--serial", "stdio"],
             name="dst", stdin=subprocess.PIPE)
    dst.expect_stderr(r"waiting for a migration", 30)
    rc, out, err = env.godwit_cmd("migrate", src.qmp_path, addr, timeout=120)
    check(rc == 0, "migrate failed: %s" % err)
    check(src.wait(30) == 0, "source did not end after the handover")
    echo_and_quit(dst, b"mig")


def test_device_writes_reach_destination(env):
    """Input the device delivers during pre-copy lands in guest pages
    nothing else writes (the probe leaves it untouched until the power
    button, hold=1): the destination must see it, so the device's writes
    were marked dirty and sent again."""
    args = ["run", "--kernel", probe_elf(env), "--memory", "96", "--name",
            "src", "--serial", "stdio", "--cmdline", "fill=48 hold=1"]
    src = Vm(env, args, name="src", stdin=subprocess.PIPE)
    src.expect(READY, 60)
    src.expect(r"^vprobe: virtio hello$", 30)
    time.sleep(1)  # ring 3 has touched the 48 MiB
    addr = "127.0.0.1:%d" % free_port()
    dst = Vm(env, ["migrate-receive", "--listen", addr, "--serial", "stdio"],
             name="dst", stdin=subprocess.PIPE)
    dst.expect_stderr(r"waiting for a migration", 30)
    mig = subprocess.Popen([env.godwit, "migrate", "--bandwidth", "16",
                            src.qmp_path, addr], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    env.procs.append(mig)
    time.sleep(1)  # round 0 sent the probe's own pages by now
    type_in(src, b"abc")
    out, err = mig.communicate(timeout=120)
    check(mig.returncode == 0, "migrate failed: %s" % err.decode())
    check(src.wait(30) == 0, "source did not end after the handover")
    dst.qmp().execute("system_powerdown")  # the probe reads its input
    for b in b"abc":
        dst.expect(r"^vprobe: virtio got %02x$" % b, 30)
    type_in(dst, b"q")
    dst.expect(r"^vprobe: virtio bye$", 30)
    check(dst.wait(30) == 0, "destination did not exit 0")


def rewrite(env, path, edit, name):
    s = Stream(open(path, "rb").read())
    edit(s)
    out = os.path.join(env.tmp, name)
    with open(out, "wb") as f:
        f.write(s.encode())
    return out


def test_stream_without_console_restores(env):
    """Streams from before the device existed lack console0: they
    restore, and the device is reset (the probe's rings are gone, so it
    only shows the VM runs: its UART still answers nothing, it stays up)."""
    path = rewrite(env, save_probe(env),
                   lambda s: s.records.remove(console_record(s)),
                   "nocon.sav")
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect: %s" % err)
    vm = restore(env, path)
    time.sleep(1.0)
    check(vm.proc.poll() is None, "restored VM ended: %s" % vm.stderr())
    vm.qmp().execute("quit")
    check(vm.wait(30) == 0, "quit")


def test_forged_console_state_refused(env):
    def forge(s):
        r = console_record(s)
        body = bytearray(r.body)
        # queue 0's size (state offset 56 + 24): 6, not a power of two
        struct.pack_into("<H", body, 24 + 56 + 24, 6)
        r.body = bytes(body)

    path = rewrite(env, save_probe(env), forge, "badcon.sav")
    rc, out, err = env.godwit_cmd("restore", path, "--serial", "none",
                                  "--qmp", os.path.join(env.tmp, "bad.qmp"))
    check(rc == 1 and re.search(r"DEVICE.*'console0': queue 0: queue size 6 "
                                r"is not a power of two", err),
          "restore of a bad console0 state: exit %d: %s" % (rc, err))
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 1 and "queue size 6" in err, "inspect: %s" % err)


def test_output_to_file(env):
    """--serial file: the UART's and the virtio console's lines, both."""
    path = os.path.join(env.tmp, "console.log")
    args = ["run", "--kernel", probe_elf(env), "--memory", "32", "--name",
            "vm", "--serial", "file:" + path]
    vm = Vm(env, args, name="vm")
    deadline = time.time() + 60
    text = ""
    while time.time() < deadline and "virtio hello" not in text:
        time.sleep(0.2)
        text = open(path).read() if os.path.exists(path) else ""
    check(re.search(READY, text, re.M) and
          "vprobe: virtio hello\n" in text, "console file: %r" % text)
    vm.qmp().execute("quit")
    check(vm.wait(30) == 0, "quit")


def test_console_attach_pv(env):
    """godwit console -t pv (as xl's) on a pty VM reaches the virtio
    console; a bad -t is a usage error."""
    vm = Vm(env, ["run", "--kernel", probe_elf(env), "--memory", "32",
                  "--name", "vm", "--serial", "pty"], name="vm")
    rc, out, err = env.godwit_cmd("console", "-t", "hvc", vm.qmp_path)
    check(rc == 2 and "expected serial or pv" in err, "-t hvc: %s" % err)
    time.sleep(2)  # the probe greets on the virtio console by then
    con = subprocess.Popen([env.godwit, "console", "-t", "pv", vm.qmp_path],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    env.procs.append(con)
    con.stdin.write(b"k")
    con.stdin.flush()
    out = b""
    deadline = time.time() + 30
    while b"vprobe: virtio got 6b" not in out:
        left = deadline - time.time()
        check(left > 0 and select.select([con.stdout], [], [], left)[0],
              "no echo on the console: %r" % out)
        chunk = con.stdout.read1(4096)
        check(chunk, "console ended before the echo: %r" % out)
        out += chunk
    con.stdin.write(b"\x1d")  # ^] detaches
    con.stdin.flush()
    check(con.wait(30) == 0, "console did not detach")
    vm.qmp().execute("quit")
    check(vm.wait(30) == 0, "quit")


if __name__ == "__main__":
    main([test_output_and_input, test_paused_vm_takes_no_input,
          test_save_restore, test_migration,
          test_device_writes_reach_destination,
          test_stream_without_console_restores,
          test_forged_console_state_refused, test_output_to_file,
          test_console_attach_pv])

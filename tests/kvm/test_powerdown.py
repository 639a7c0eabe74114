#!/usr/bin/python3
"""kvm suite: system_powerdown presses the guest's ACPI power button (the
Generic Event Device, src/devices/ged.c). A guest that handles it powers
off with status 0; a guest that ignores it keeps running; a press the
guest has not seen yet survives a save and restore and a live migration;
the press is refused while a save or migration is in flight and works
again once it has failed. Streams without the GED's state (older
godwits) restore with no press pending; a forged GED state is refused."""

import os
import re
import struct
import time

from lib.gw import check, main
from lib.net import receiver
from lib.stream import DEVICE, Stream

POWERBUTTON = "action=powerbutton"


def powerbutton_guest(env, name="vm"):
    vm = env.run("lifecycle", POWERBUTTON, memory=64, name=name)
    vm.expect(r"^lifecycle: start$", 30)
    return vm


def no_line_for(vm, text, seconds):
    time.sleep(seconds)
    check(not any(text in l for l in vm.all_lines),
          "%s: %r printed too early: %s" % (vm.name, text, vm.all_lines))


def test_guest_powers_off(env):
    vm = powerbutton_guest(env)
    no_line_for(vm, "power button", 0.5)
    q = vm.qmp()
    check(q.execute("system_powerdown") == {}, "system_powerdown reply")
    check(any(e["event"] == "POWERDOWN" for e in q.events),
          "no POWERDOWN event: %s" % q.events)
    vm.expect(r"^lifecycle: power button$", 30)
    check(vm.wait(30) == 0, "guest did not power off with status 0")
    check("guest powered off" in vm.stderr(),
          "not an ACPI poweroff: %s" % vm.stderr())
    check(vm.all_lines == ["lifecycle: start", "lifecycle: power button"],
          "lines %s" % vm.all_lines)


def test_ignoring_guest_keeps_running(env):
    vm = env.run("dirty", "mib=16", memory=128)
    vm.expect(r"^dirty: sweep", 30)
    q = vm.qmp()
    q.execute("system_powerdown")
    q.execute("system_powerdown")  # pressed again: still just pending
    vm.keeps_sweeping(20)
    st = q.execute("query-status")
    check(st["status"] == "running", "status %s" % st)
    q.execute("quit")
    check(vm.wait(30) == 0, "quit")


def pressed_save(env):
    """Save a paused powerbutton guest with a press it has not seen."""
    vm = powerbutton_guest(env)
    q = vm.qmp()
    q.execute("stop")
    q.execute("system_powerdown")
    no_line_for(vm, "power button", 0.5)
    path = os.path.join(env.tmp, "pressed.sav")
    rc, out, err = env.godwit_cmd("save", vm.qmp_path, path)
    check(rc == 0, "save failed: %s" % err)
    check(vm.wait(30) == 0, "saved VM did not exit 0")
    check("lifecycle: power button" not in vm.all_lines,
          "the paused guest saw the press")
    return path


def ged_record(s):
    recs = [r for r in s.find(DEVICE) if r.body[:16].rstrip(b"\0") == b"ged0"]
    check(len(recs) == 1, "want one ged0 DEVICE record, got %d" % len(recs))
    return recs[0]


def test_press_while_paused_survives_save_restore(env):
    path = pressed_save(env)
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect: %s" % err)
    ged = ged_record(Stream(open(path, "rb").read()))
    check(struct.unpack("<II", ged.body[24:]) == (1, 0),
          "ged0 state %s, want the power-button event" % ged.body[24:].hex())
    vm = env.restore(path, name="restored")
    vm.expect(r"^lifecycle: power button$", 30)
    check(vm.wait(30) == 0, "restored guest did not power off with 0")


def rewrite(env, path, edit, name):
    s = Stream(open(path, "rb").read())
    edit(s)
    out = os.path.join(env.tmp, name)
    with open(out, "wb") as f:
        f.write(s.encode())
    return out


def test_stream_without_ged_restores_idle(env):
    """Streams from before the GED (godwit 0.1.0) have no ged0 record:
    they restore, and the guest sees no press until a new one."""
    path = rewrite(env, pressed_save(env),
                   lambda s: s.records.remove(ged_record(s)), "noged.sav")
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 0 and "valid" in out, "inspect: %s" % err)
    vm = env.restore(path, name="restored")
    no_line_for(vm, "power button", 1.0)
    check(vm.proc.poll() is None, "restored guest ended: %s" % vm.stderr())
    vm.qmp().execute("system_powerdown")  # the restored VM's GED works
    vm.expect(r"^lifecycle: power button$", 30)
    check(vm.wait(30) == 0, "guest did not power off with status 0")


def test_bad_ged_state_refused(env):
    def forge(s):
        r = ged_record(s)
        r.body = r.body[:24] + struct.pack("<II", 0x2, 0)

    path = rewrite(env, pressed_save(env), forge, "badged.sav")
    rc, out, err = env.godwit_cmd("restore", path, "--serial", "none",
                                  "--qmp", os.path.join(env.tmp, "bad.qmp"))
    check(rc == 1 and re.search(r"DEVICE.*'ged0': events 0x2 sets bits "
                                r"the GED does not have", err),
          "restore of a bad ged0 state: exit %d: %s" % (rc, err))
    rc, out, err = env.godwit_cmd("inspect", path)
    check(rc == 1, "inspect accepted a bad ged0 state")


def test_press_while_paused_survives_migration(env):
    src = powerbutton_guest(env, name="src")
    q = src.qmp()
    q.execute("stop")
    q.execute("system_powerdown")
    dst = receiver(env)
    rc, out, err = env.godwit_cmd("migrate", src.qmp_path, dst.addr,
                                  timeout=120)
    check(rc == 0, "migrate failed: %s" % err)
    check(src.wait(30) == 0, "source did not end after the handover")
    check("lifecycle: power button" not in src.all_lines,
          "the paused source saw the press")
    dst.expect(r"^lifecycle: power button$", 30)
    check(dst.wait(30) == 0, "destination did not power off with 0")


def test_refused_during_migration(env):
    src = env.run("dirty", "mib=32 rate=200", memory=256, name="src")
    src.expect(r"^dirty: sweep", 30)
    dst = receiver(env)
    q = src.qmp()
    q.execute("migrate", uri=dst.addr, bandwidth=8)
    time.sleep(0.3)
    r = q.execute_raw("system_powerdown")
    check("error" in r and "in progress" in r["error"]["desc"],
          "system_powerdown during a migration: %s" % r)
    q.execute("migrate_cancel")
    q.wait_migration_over(30)
    check(dst.wait(30) == 1, "destination did not discard the VM")
    q.execute("system_powerdown")  # the resumed source takes presses
    src.keeps_sweeping(10)
    q.execute("quit")
    check(src.wait(30) == 0, "quit")


if __name__ == "__main__":
    main([test_guest_powers_off, test_ignoring_guest_keeps_running,
          test_press_while_paused_survives_save_restore,
          test_stream_without_ged_restores_idle, test_bad_ged_state_refused,
          test_press_while_paused_survives_migration,
          test_refused_during_migration])

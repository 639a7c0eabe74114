#!/usr/bin/python3
"""kvm suite: shared storage handed from host to host by the disks'
hotplug scripts (godwit.cfg(5), HOTPLUG SCRIPTS, "Migration steps"). Two "hosts" are two
scripts directories ($GODWIT_SCRIPTS_DIR of the source and of the
destination), each with a stand-in block script that records every call
(step, vdev, device) into its own file and fails a step when told to (a
file fail-STEP next to it). After each migration the calls on both
hosts are exactly, and in order, what the handover promises: prepare,
add and activate on the destination, remove and deactivate on the source
once handed over (and remove, deactivate on a destination that gives up);
a failing prepare or activate, or a destination killed after activate,
gives the VM back before YOURS, the source runs recover and its guest
(the dirty guest, checking every page) sweeps on."""

import os
import re

from lib.gw import check, main
from lib.net import receiver

MIB = 1 << 20

STAND_IN = """#!/bin/sh
dir=$(dirname "$0")
echo "$1 $GODWIT_VDEV $GODWIT_DEVICE" >> "$dir/calls"
case "$1" in prepare|activate|deactivate|recover)
	[ -n "$GODWIT_PEER" ] || echo "$1 without GODWIT_PEER" >> "$dir/calls"
esac
if [ -e "$dir/fail-$1" ]; then
	echo "block-steps: the storage cannot $1" >&2
	exit 3
fi
[ "$1" = add ] && echo %(img)s
exit 0
"""


class Host:
    """A scripts directory standing for one host."""

    def __init__(self, env, name, img):
        self.dir = os.path.join(env.tmp, name)
        os.mkdir(self.dir)
        self.script = os.path.join(self.dir, "block-steps")
        with open(self.script, "w") as f:
            f.write(STAND_IN % {"img": img})
        os.chmod(self.script, 0o755)

    def fail(self, step):
        open(os.path.join(self.dir, "fail-" + step), "w").close()

    def calls(self):
        try:
            with open(os.path.join(self.dir, "calls")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def env(self):
        return {"GODWIT_SCRIPTS_DIR": self.dir}


def setup(env, dst_stall=None):
    img = os.path.join(env.tmp, "disk.img")
    with open(img, "wb") as f:
        f.truncate(4 * MIB)
    a, b = Host(env, "host-a", img), Host(env, "host-b", img)
    os.environ.update(a.env())
    try:
        src = env.run("dirty", "mib=4", memory=32, name="src",
                      extra=["--disk", "script=block-steps, vdev=xvda, "
                             "target=vg0/web"])
    finally:
        del os.environ["GODWIT_SCRIPTS_DIR"]
    src.expect(r"^dirty: sweep", 30)
    extra = dict(b.env())
    if dst_stall:
        extra["GODWIT_TEST_STALL"] = dst_stall
    return img, a, b, src, extra


def expect_calls(host, want, who):
    check(host.calls() == want, "%s: calls %s, want %s"
          % (who, host.calls(), want))


def migration_fails(env, src, dst, want):
    """The migration fails with the destination's reason (cut to the
    handover message's text field); the destination logs all of it."""
    rc, _, err = env.godwit_cmd("migrate", src.qmp_path, dst.addr,
                                timeout=300)
    check(rc == 1 and want in err, "migrate: exit %d: %s" % (rc, err))
    check(dst.wait(30) != 0, "the destination did not give up")
    dst.expect_stderr(re.escape(want[len("the destination refused the VM: "):]
                                + ': "block-steps: the storage cannot'), 5)
    src.keeps_sweeping(3)


def test_steps_of_a_migration(env):
    img, a, b, src, extra = setup(env)
    dst = receiver(env, env_extra=extra)
    rc, _, err = env.godwit_cmd("migrate", src.qmp_path, dst.addr,
                                timeout=300)
    check(rc == 0, "migrate: " + err)
    check(src.wait(30) == 0, "source did not end after migrating")
    expect_calls(a, ["add xvda ", "remove xvda " + img,
                     "deactivate xvda " + img], "source")
    expect_calls(b, ["prepare xvda ", "add xvda ", "activate xvda " + img],
                 "destination")
    dst.keeps_sweeping(3)
    dst.quit()
    expect_calls(b, ["prepare xvda ", "add xvda ", "activate xvda " + img,
                     "remove xvda " + img], "destination at its end")


def test_failing_prepare_keeps_the_vm_on_the_source(env):
    img, a, b, src, extra = setup(env)
    b.fail("prepare")
    dst = receiver(env, env_extra=extra)
    migration_fails(env, src, dst, "the destination refused the VM: disk "
                    "xvda: hotplug script %s prepare failed (exit 3)"
                    % b.script)
    expect_calls(b, ["prepare xvda "], "destination")
    expect_calls(a, ["add xvda ", "recover xvda " + img], "source")
    src.quit()
    expect_calls(a, ["add xvda ", "recover xvda " + img,
                     "remove xvda " + img], "source at its end")


def test_failing_activate_keeps_the_vm_on_the_source(env):
    img, a, b, src, extra = setup(env)
    b.fail("activate")
    dst = receiver(env, env_extra=extra)
    migration_fails(env, src, dst, "the destination refused the VM: disk "
                    "xvda: hotplug script %s activate failed (exit 3)"
                    % b.script)
    expect_calls(b, ["prepare xvda ", "add xvda ", "activate xvda " + img,
                     "remove xvda " + img, "deactivate xvda " + img],
                 "destination")
    expect_calls(a, ["add xvda ", "recover xvda " + img], "source")
    src.quit()


def test_destination_killed_source_recovers(env):
    img, a, b, src, extra = setup(env, dst_stall="before-received")
    dst = receiver(env, env_extra=extra)
    q = src.qmp()
    q.execute("migrate", uri=dst.addr)
    dst.expect_stderr("test: stalled before-received", 60)
    dst.kill()
    q.wait_migration_over(60)
    info = q.execute("query-migrate")
    q.close()
    check(info["status"] == "failed", "migration: %s" % info)
    expect_calls(b, ["prepare xvda ", "add xvda ", "activate xvda " + img],
                 "destination")
    expect_calls(a, ["add xvda ", "recover xvda " + img], "source")
    src.keeps_sweeping(3)
    src.quit()


if __name__ == "__main__":
    main([test_steps_of_a_migration,
          test_failing_prepare_keeps_the_vm_on_the_source,
          test_failing_activate_keeps_the_vm_on_the_source,
          test_destination_killed_source_recovers])

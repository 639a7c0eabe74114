#!/usr/bin/python3
"""compat suite: streams written by every earlier format revision
(tests/compat/v*/) must still be valid to `godwit inspect` and restore into
a running guest. The streams use the portable x86-64-v1 CPU model; on a
host of another CPU vendor the restore is refused by design (machine
identity), which the test reports as skipped for that part."""

import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "kvm"))
from lib.gw import Vm, check, main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STREAMS = sorted(glob.glob(os.path.join(HERE, "v*", "*.gdw")))


def test_streams_exist(env):
    check(STREAMS, "no compat streams under tests/compat/v*/")


def test_every_revision_is_there(env):
    """v1/ holds revision 1 streams, v2/ revision 2, and so on, up to
    the revision this godwit writes."""
    seen = set()
    for path in STREAMS:
        rev = int(os.path.basename(os.path.dirname(path))[1:])
        with open(path, "rb") as f:
            version = int.from_bytes(f.read(12)[8:12], "little")
        check(version == rev, "%s is version %d" % (path, version))
        seen.add(rev)
    with open(os.path.join(HERE, "..", "..", "src", "format",
                           "stream_format.h")) as f:
        newest = int(re.search(r"#define STREAM_VERSION (\d+)",
                               f.read()).group(1))
    check(seen == set(range(1, newest + 1)),
          "revisions %s, want 1..%d" % (sorted(seen), newest))


def test_inspect_every_revision(env):
    for path in STREAMS:
        rc, out, err = env.godwit_cmd("inspect", path)
        check(rc == 0 and "valid" in out, "%s: %s" % (path, err))


def test_restore_every_revision(env):
    """The restored echo guest answers on its serial port."""
    for path in STREAMS:
        vm = Vm(env, ["restore", path, "--serial", "stdio"], name="compat",
                stdin=subprocess.PIPE)
        try:
            rc = vm.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is not None:
            vm._t_err.join(5)  # all of stderr read before it is judged
            if "machine identity: CPU vendor" in vm.stderr():
                print("skip restore of %s: %s" % (path, vm.stderr()))
                continue
            check(False, "%s: restore failed: %s" % (path, vm.stderr()))
        vm.proc.stdin.write(b"A")
        vm.proc.stdin.flush()
        vm.expect(r"lifecycle: got 41", 30)
        vm.proc.stdin.write(b"q")
        vm.proc.stdin.flush()
        check(vm.wait(30) == 0, "%s: echo guest exit status" % path)


if __name__ == "__main__":
    main([test_streams_exist, test_every_revision_is_there,
          test_inspect_every_revision, test_restore_every_revision])

"""Exact moments for faults that the relay cannot see.

HookGate: a migration hook (godwit(1), FILES) that, at one step of the
source's migration (pre-suspend, post-suspend, sync: sync runs after
RECEIVED, just before YOURS), tells the campaign where it is and waits
until the fault has been injected. Product behaviour, not a test hook.

StallWatch: GODWIT_TEST_STALL-style fault injection, discovered in the
source tree at run time (discover.py): the process announces the phase
and stops there; the campaign then signals it."""

import os
import re
import threading
import time

from proc import now

HOOK = """#!/bin/sh
# fault campaign gate: stop at one step until the fault is injected
[ "$1" = "%(step)s" ] || exit 0
[ -e %(dir)s/once ] && exit 0
: > %(dir)s/once
: > %(dir)s/at
i=0
while [ ! -e %(dir)s/go ] && [ $i -lt 1500 ]; do sleep 0.01; i=$((i+1)); done
exit 0
"""


class HookGate:
    """Run fn() when the source reaches `step`, then let it go on."""

    def __init__(self, t, step, fn, delay_s=0.0):
        self.dir = t.path("gate")
        os.makedirs(self.dir)
        path = os.path.join(t.hooks_dir, "50-gate")
        with open(path, "w") as f:
            f.write(HOOK % {"step": step, "dir": self.dir})
        os.chmod(path, 0o755)
        self.step, self.fn, self.delay_s = step, fn, delay_s
        self.fired = None
        self.halt = False
        t.on_cleanup(self.release)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        at = os.path.join(self.dir, "at")
        while not self.halt:
            if os.path.exists(at):
                self.fired = now()
                try:
                    self.fn()
                finally:
                    time.sleep(self.delay_s)
                    self.release()
                return
            time.sleep(0.003)

    def release(self):
        self.halt = True
        try:
            open(os.path.join(self.dir, "go"), "w").close()
        except OSError:
            pass


class StallWatch:
    """Wait for `lines` to announce the stall at phase, then fn()."""

    def __init__(self, lines, phase, fn):
        self.rx = re.compile(r"stall.*\b%s\b" % re.escape(phase))
        self.lines, self.fn = lines, fn
        self.fired = None
        self.halt = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.halt:
            lines = self.lines()
            if lines is not None and lines.wait_for(self.rx, 0.2):
                self.fired = now()
                self.fn()
                return
            time.sleep(0.02)

    def stop(self):
        self.halt = True

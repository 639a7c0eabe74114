#!/usr/bin/python3
"""kvm suite: README.md's "Your first VM" section, followed command by
command exactly as written, in a machine of its own (lib/docshell.py:
fresh /run, /var/lib, /var/log and /etc/godwit, its own network and
processes): build/godwit run, godwitd --detach, create, list, console,
save, restore, a second daemon, migrate there and back, the log, destroy
and stopping the daemons. Every command must succeed and its block's
expectations (<!-- expect: REGEX -->) match what it printed; a block
marked none must say why."""

import os
import re

from lib.docs import SRC, commands, md_examples, none_has_reason
from lib.docshell import DocShell
from lib.gw import check, main

README = os.path.join(SRC, "README.md")
SECTION = "Your first VM"


def first_vm_blocks():
    blocks = [e for e in md_examples(README) if e[0] == SECTION]
    check(len(blocks) >= 8, "README.md: no '%s' section with its examples"
          % SECTION)
    return blocks


def test_first_vm_section(env):
    sh = DocShell(env, SRC)
    try:
        for _, kind, arg, expects, lines, n in first_vm_blocks():
            check(kind in ("shell", "console", "none") and
                  none_has_reason(kind, arg),
                  "README.md:%d: unknown or unexplained marker %r %r"
                  % (n, kind, arg))
            if kind == "none":
                continue
            said = ""
            for cmd in commands(lines):
                rc, out = sh.run(cmd, console=kind == "console")
                print("README.md:%d: $ %s (exit %d)\n%s"
                      % (n, cmd, rc, out.rstrip()), flush=True)
                check(rc == 0, "README.md:%d: %s: exit %d: %s"
                      % (n, cmd, rc, out[-2000:]))
                said += out
            for rx in expects:
                check(re.search(rx, said, re.M),
                      "README.md:%d: no /%s/ in what it printed: %s"
                      % (n, rx, said[-2000:]))
    finally:
        sh.close()


if __name__ == "__main__":
    main([test_first_vm_section])

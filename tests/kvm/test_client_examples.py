#!/usr/bin/python3
"""kvm suite: the client library's examples (examples/migrate-poll.c,
examples/migrate-glib.c) build against the installed library and drive a
real live migration, printing its rounds, exactly as
docs/client-library.md shows: its `sh test-build` block runs as written,
each line of its `sh test-run` block with DOMAIN and HOST[:PORT] set to
a running dirty guest and a godwit migrate-receive."""

import os
import re
import subprocess
import sys

from lib.gw import check, main
from lib.net import receiver

SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tests", "unit", "lib"))
from installed import install  # noqa: E402

DOC = os.path.join(SRC, "docs", "client-library.md")


def doc_block(tag):
    """The lines of the doc's code block fenced as ```sh TAG."""
    with open(DOC) as f:
        m = re.search(r"^```sh %s\n(.*?)^```$" % tag, f.read(), re.M | re.S)
    check(m, "no ```sh %s block in %s" % (tag, DOC))
    return [l for l in m.group(1).splitlines() if l.strip()]


def build_examples(env):
    work = os.path.join(env.tmp, "examples-work")
    os.makedirs(work)
    os.symlink(os.path.join(SRC, "examples"), os.path.join(work, "examples"))
    shell_env, _ = install(env.build, os.path.join(env.tmp, "dest"))
    for line in doc_block("test-build"):
        r = subprocess.run(line, shell=True, cwd=work, env=shell_env,
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "%s: %s" % (line, r.stderr))
    return work, shell_env


def test_examples_migrate(env):
    work, shell_env = build_examples(env)
    for i, line in enumerate(doc_block("test-run")):
        src = env.run("dirty", "mib=8", memory=64, name="src%d" % i)
        src.expect(r"^dirty: sweep", 30)
        dst = receiver(env, name="dst%d" % i)
        cmd = line.replace("DOMAIN", src.qmp_path).replace(
            "HOST[:PORT]", dst.addr)
        r = subprocess.run(cmd, shell=True, cwd=work, env=shell_env,
                           capture_output=True, text=True, timeout=180)
        check(r.returncode == 0, "%s: exit %d: %s%s"
              % (cmd, r.returncode, r.stdout, r.stderr))
        check(r.stdout.startswith("migration started\n") and
              re.search(r"^round 0: [1-9]\d* pages sent, \d+ dirtied$",
                        r.stdout, re.M) and
              r.stdout.endswith("migration completed\n"),
              "%s printed: %s" % (cmd, r.stdout))
        check(src.wait(30) == 0, "the source did not end after migrating")
        dst.keeps_sweeping()
        dst.quit()


if __name__ == "__main__":
    main([test_examples_migrate])

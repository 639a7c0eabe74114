#!/usr/bin/python3
"""unit suite: every verb `godwit --help` lists answers --help and -h,
wherever they stand after the verb, with its usage on stdout and exit
status 0 (xl's behaviour), and an unknown verb exits 2."""

import re
import subprocess
import sys

godwit = sys.argv[1]


def run(*args):
    r = subprocess.run([godwit] + list(args), capture_output=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def main():
    rc, out, _ = run("--help")
    verbs = re.findall(r"^  (\S+) ", out.split("verbs:\n", 1)[1], re.M)
    bad = []
    if len(verbs) < 10:
        bad.append("too few verbs in godwit --help: %s" % verbs)
    for v in verbs:
        for args in ([v, "--help"], [v, "-h"], [v, "somedomain", "--help"]):
            rc, out, err = run(*args)
            if rc != 0 or not out.startswith("usage: godwit %s" % v):
                bad.append("%s: exit %d, stdout %r, stderr %r"
                           % (" ".join(args), rc, out[:60], err[:120]))
    rc, _, err = run("no-such-verb")
    if rc != 2 or "unknown verb" not in err:
        bad.append("unknown verb: exit %d %r" % (rc, err))
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


main()

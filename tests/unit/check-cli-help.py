#!/usr/bin/python3
"""unit suite: every verb `godwit --help` lists answers --help and -h,
wherever they stand after the verb, with its usage on stdout and exit
status 0 (xl's behaviour), and an unknown verb exits 2. The bash
completion (`godwit --bash-completion`, generated from the verb table)
is valid bash, offers every verb, and offers for each verb exactly the
options its --help names: neither can drift from the other."""

import re
import subprocess
import sys

godwit = sys.argv[1]


def run(*args):
    r = subprocess.run([godwit] + list(args), capture_output=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


OPT = re.compile(r"(?:^|[ ,\[|(])(-[a-zA-Z]|--[a-z][a-z-]+)", re.M)


def completion_matches_help(verbs):
    rc, script, err = run("--bash-completion")
    if rc != 0:
        return ["--bash-completion: exit %d %s" % (rc, err)]
    bad = []
    r = subprocess.run(["bash", "-n"], input=script, text=True,
                       capture_output=True)
    if r.returncode:
        bad.append("the completion is not valid bash: %s" % r.stderr)
    first = re.search(r'compgen -W "([^"]*)"', script).group(1).split()
    if sorted(first) != sorted(verbs + ["--help", "--version"]):
        bad.append("verbs offered: %s" % first)
    for v in verbs:
        m = re.search(r"^\t%s\)\n\t\tCOMPREPLY=\(\$\(compgen -W \"([^\"]*)\""
                      % re.escape(v), script, re.M)
        if not m:
            bad.append("%s: no completion case" % v)
            continue
        offered = {w for w in m.group(1).split() if w.startswith("-")}
        _, out, _ = run(v, "--help")
        named = set(OPT.findall(out)) | {"--help"}
        if offered != named:
            bad.append("%s: completion offers %s, --help names %s"
                       % (v, sorted(offered - named), sorted(named - offered)))
    return bad


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
    bad += completion_matches_help(verbs)
    rc, _, err = run("no-such-verb")
    if rc != 2 or "unknown verb" not in err:
        bad.append("unknown verb: exit %d %r" % (rc, err))
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


main()

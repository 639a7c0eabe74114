"""What the build under test offers, found at run time so the campaign
keeps up with the code: the binaries, the fault-injection phases in the
source tree (a getenv("GODWIT_TEST_...") in a function that stalls, and
every call of that function with a phase name), and whether the CLI has
`migrate-resolve` (else an operator resumes an unconfirmed VM with
`unpause`, which is what the code before it offered)."""

import os
import re
import subprocess

GETENV = re.compile(r'getenv\(\s*"(GODWIT_TEST_[A-Z0-9_]+)"\s*\)')
FUNC = re.compile(r"^(?:static\s+)?(?:inline\s+)?[\w\s\*]*?\b(\w+)\s*\([^;{)]*"
                  r"\)\s*\{", re.M)


class Phase:
    def __init__(self, var, name, process, path):
        self.var, self.name, self.process, self.path = var, name, process, path

    def side(self):
        """Which end of a migration reaches it: src, dst or daemon."""
        if self.process == "godwitd":
            return "daemon"
        base = os.path.basename(self.path)
        if re.search(r"save", base):
            return "save"
        if re.search(r"incoming|receive|restore", base):
            return "dst"
        return "src"

    def __repr__(self):
        return "%s=%s (%s)" % (self.var, self.name, self.path)


def _c_files(root):
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".c"):
                yield os.path.join(d, f)


def stall_phases(src_root):
    """Every (variable, phase) the source tree can stall at."""
    texts = {}
    for path in _c_files(src_root):
        with open(path, errors="replace") as f:
            texts[path] = f.read()
    phases = []
    for path, text in texts.items():
        for m in GETENV.finditer(text):
            funcs = [f for f in FUNC.finditer(text, 0, m.start())]
            if not funcs:
                continue
            fname = funcs[-1].group(1)
            call = re.compile(r"\b%s\(\s*\"([\w.-]+)\"" % re.escape(fname))
            folder = os.path.dirname(path)
            process = "godwitd" if "toolstack/daemon" in path else "godwit"
            for other, otext in texts.items():
                if os.path.dirname(other) != folder:
                    continue
                for c in call.finditer(otext):
                    phases.append(Phase(m.group(1), c.group(1), process,
                                        other))
    seen, out = set(), []
    for p in phases:
        if (p.var, p.name) not in seen:
            seen.add((p.var, p.name))
            out.append(p)
    return out


class Build:
    def __init__(self, build_dir, src_root):
        self.dir = build_dir
        self.godwit = os.path.join(build_dir, "godwit")
        self.godwitd = os.path.join(build_dir, "godwitd")
        for b in (self.godwit, self.godwitd, self.guest("dirty")):
            if not os.path.exists(b):
                raise SystemExit("faults: %s is missing: build first" % b)
        self.phases = stall_phases(os.path.join(src_root, "src"))
        h = subprocess.run([self.godwit, "--help"], capture_output=True,
                           text=True)
        self.verbs = set(re.findall(r"^\s+([a-z][a-z-]+)\s", h.stdout + h.stderr,
                                    re.M))
        self.resolve_usage = ""
        if "migrate-resolve" in self.verbs:
            r = subprocess.run([self.godwit, "migrate-resolve", "--help"],
                               capture_output=True, text=True)
            self.resolve_usage = r.stdout + r.stderr

    def guest(self, name):
        return os.path.join(self.dir, "guests", name + ".elf")

    def resolve_args(self, target):
        """The operator's command for an unconfirmed VM whose destination
        is dead: resume it here."""
        if "migrate-resolve" not in self.verbs:
            return ["unpause", target]
        u = self.resolve_usage
        m = re.search(r"(--(?:resume|source|here|local|dest(?:ination)?-"
                      r"dead))\b", u)
        if m:
            return ["migrate-resolve", m.group(1), target]
        if re.search(r"\bresume\b", u) and re.search(r"[|{]", u):
            return ["migrate-resolve", target, "resume"]
        return ["migrate-resolve", target]

    def describe(self):
        return {"phases": [repr(p) for p in self.phases],
                "migrate-resolve": "migrate-resolve" in self.verbs}

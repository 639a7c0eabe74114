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

    def op(self):
        """The operation that reaches a daemon phase named after one
        (create-, restore-, receive-), else None (any)."""
        m = re.match(r"(create|restore|receive)-", self.name)
        return m.group(1) if m else None

    def __repr__(self):
        return "%s=%s (%s)" % (self.var, self.name, self.path)


def _c_files(root):
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".c"):
                yield os.path.join(d, f)


def _literal_args(text, fname):
    """String literals passed to fname() anywhere in text (any position),
    and the identifiers passed where no literal is."""
    lits, names = [], []
    for c in re.finditer(r"\b%s\(([^;]*?)\)\s*;" % re.escape(fname), text):
        args = c.group(1)
        found = re.findall(r'"([\w.-]+)"', args)
        lits += found
        if not found:
            names += re.findall(r"\b([a-z_]\w*)\s*$", args)
    return lits, names


def _formatted(text, var):
    """Phases built with snprintf(var, ..., "%s-x", fn(...)): each string
    literal fn returns in place of %s."""
    out = []
    rx = re.compile(r"snprintf\(\s*%s\s*,[^;]*?\"([\w.%%-]+)\"\s*,\s*(\w+)\("
                    % re.escape(var))
    for m in rx.finditer(text):
        fmt, fn = m.group(1), m.group(2)
        body = re.search(r"\b%s\([^;{)]*\)\s*\{(.*?)\n\}" % re.escape(fn),
                         text, re.S)
        if "%s" in fmt and body:
            for w in re.findall(r'"([\w-]+)"', body.group(1)):
                out.append(fmt.replace("%s", w))
    return out


def _forwarded(texts, path, text, fname):
    """Phases reaching fname through a function that passes its own
    argument on and is installed as an ops member (.at = f): every
    literal given to ->at() in the tree."""
    out = []
    for f in FUNC.finditer(text):
        body_end = text.find("\n}", f.end())
        body = text[f.end():body_end]
        if not re.search(r"\b%s\(" % re.escape(fname), body) or \
                f.group(1) == fname:
            continue
        for member in re.findall(r"\.(\w+)\s*=\s*%s\b" % f.group(1), text):
            for other in texts.values():
                out += re.findall(r"->%s\([^;]*?\"([\w.-]+)\"" % member,
                                  other)
    return out


def stall_phases(src_root):
    """Every (variable, phase) the source tree can stall at: the string
    literals given to the function that reads GODWIT_TEST_*, in its
    folder (first or later argument), phases it is given through a
    variable built by snprintf, and those reaching it through an ops
    callback (->at(opaque, "phase"))."""
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
            folder = os.path.dirname(path)
            process = "godwitd" if "toolstack/daemon" in path else "godwit"
            for other, otext in texts.items():
                if os.path.dirname(other) != folder:
                    continue
                lits, names = _literal_args(otext, fname)
                for n in names:
                    lits += _formatted(otext, n)
                lits += _forwarded(texts, other, otext, fname)
                for name in lits:
                    if name.startswith("GODWIT_"):
                        continue  # the getenv itself
                    phases.append(Phase(m.group(1), name, process, other))
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
                      r"dead)[\w-]*)", u)
        if m:
            return ["migrate-resolve", m.group(1), target]
        if re.search(r"\bresume\b", u) and re.search(r"[|{]", u):
            return ["migrate-resolve", target, "resume"]
        return ["migrate-resolve", target]

    def describe(self):
        return {"phases": [repr(p) for p in self.phases],
                "migrate-resolve": "migrate-resolve" in self.verbs}

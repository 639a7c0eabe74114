"""One trial: its directory, its processes and resources (cleaned up in
reverse order whatever happens), and its outcome, which the promise
checks fill in and the report counts."""

import os
import shutil
import signal
import time
import traceback

from proc import kill_pid, now, processes_naming

PROMISE_S = 10.0  # every fault decided within this


class Outcome:
    """What one trial found. A trial breaks a promise if any of twice,
    lost, corrupt, undecided is set; `other` lists crashes, leftovers,
    refusals that are not one line, and harness errors."""

    def __init__(self, index, kind, variant):
        self.index = index
        self.kind = kind
        self.variant = variant
        self.params = {}
        self.twice = []  # evidence lines
        self.lost = []  # why
        self.corrupt = []  # guest lines
        self.decision_s = None  # slowest verdict, seconds after the fault
        self.undecided = []  # which party, how long
        self.other = []
        self.notes = []
        self.duration_s = 0.0
        self.harness_error = None

    def broke_promise(self):
        return bool(self.twice or self.lost or self.corrupt or
                    self.undecided or self.other)

    def decided(self, who, seconds, cap):
        """Record one party's verdict time (None: none within cap)."""
        if seconds is None:
            self.undecided.append("%s: no verdict within %.0f s" % (who, cap))
            self.decision_s = max(self.decision_s or 0.0, cap)
            self.params["undecided_cap"] = True
            return
        seconds = max(0.0, seconds)
        if self.decision_s is None or seconds > self.decision_s:
            self.decision_s = seconds
        if seconds > PROMISE_S:
            self.undecided.append("%s: verdict after %.1f s" % (who, seconds))

    def as_dict(self):
        return {
            "index": self.index, "kind": self.kind, "variant": self.variant,
            "params": self.params, "twice": self.twice, "lost": self.lost,
            "corrupt": self.corrupt, "decision_s": self.decision_s,
            "undecided": self.undecided, "other": self.other,
            "notes": self.notes, "duration_s": round(self.duration_s, 2),
            "harness_error": self.harness_error,
            "broke_promise": self.broke_promise(),
        }


class Trial:
    def __init__(self, camp, index, kind, variant, rng, force=None):
        self.camp = camp
        self.force = force or {}
        self.index = index
        self.rng = rng
        self.dir = os.path.join(camp.root, "t%04d" % index)
        os.makedirs(self.dir)
        self.run_dir = os.path.join(self.dir, "run")
        self.hooks_dir = os.path.join(self.dir, "hooks")
        os.makedirs(self.hooks_dir)
        self.procs = []
        self.signals = {}  # pid -> [signo]
        self.cleanups = []
        self.o = Outcome(index, kind, variant)
        self.started = now()

    # ---- bookkeeping ----

    def note_signal(self, pid, signo):
        self.signals.setdefault(pid, []).append(signo)

    def signalled(self, signo):
        return any(signo in s for s in self.signals.values())

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def pick(self, key, choices):
        """A random choice, unless the trial's schedule fixed it (the
        smoke mix does), recorded in the outcome's parameters."""
        v = self.force[key] if key in self.force else self.rng.choice(
            choices)
        self.o.params[key] = v if isinstance(v, (str, int, float, type(None))
                                             ) else repr(v)
        return v

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def env(self, **extra):
        """The environment of every godwit process of this trial: its
        own run and hooks directories, and the debug lines that show
        the handover's phases (GODWIT_DEBUG=None: without them, for
        commands whose one-line errors are checked)."""
        e = {"GODWIT_RUN_DIR": self.run_dir,
             "GODWIT_HOOKS_DIR": self.hooks_dir,
             "GODWIT_DEBUG": "1"}
        e.update(extra)
        return e

    # ---- the end ----

    def finish(self):
        """Clean up everything, in reverse order of creation. Product
        processes that outlive their trial are found by the trial's own
        checks (check_leftovers); here whatever still names the trial
        directory is killed, so that no trial disturbs the next."""
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning
                self.o.notes.append("cleanup: %s" % e)
        for p in self.procs:
            p.kill()
            crash = p.crash()
            if crash:
                self.o.other.append("crash: " + crash)
        for _ in range(3):
            left = processes_naming(self.dir)
            if not left:
                break
            for pid, argv in left:
                kill_pid(pid, signal.SIGKILL)
            self.o.notes.append("killed at cleanup: %s" % "; ".join(
                "%d %s" % (pid, " ".join(argv)[:120]) for pid, argv in left))
            time.sleep(0.2)
        if os.environ.get("FAULTS_KEEP"):
            self._dump_logs()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.o.duration_s = now() - self.started


    def _dump_logs(self):
        """FAULTS_KEEP: every process's output, timed from the trial's
        start, as NAME-PID.log in the trial directory."""
        for p in self.procs:
            path = os.path.join(self.dir, "%s-%d.log" % (p.name, p.pid))
            with open(path, "w") as f:
                f.write("# %s\n" % " ".join(p.argv))
                items = [(t, "out", x) for t, x, _ in p.out.snapshot()] + \
                    [(t, "err", x) for t, x, _ in p.err.snapshot()]
                for t, which, x in sorted(items, key=lambda i: i[0]):
                    f.write("%8.3f %s %s\n" % (t - self.started, which, x))


def run_trial(camp, index, kind, fn, rng, force=None):
    """Run fn(trial) and always clean up; exceptions become harness
    errors (reported, counted under other failures)."""
    t = Trial(camp, index, kind, kind, rng, force)
    try:
        fn(t)
    except Exception as e:
        t.o.harness_error = "%s: %s" % (type(e).__name__, e)
        t.o.other.append("harness error: %s: %s" % (type(e).__name__, e))
        t.o.notes.append(traceback.format_exc()[-1500:])
    finally:
        t.finish()
    return t.o

#!/usr/bin/python3
"""`make faults`: a randomized fault campaign against godwit's promises:
a VM is never run twice, never lost, and every fault is decided within
10 seconds. Each trial builds real processes (VMMs, godwitd, the CLI),
real sockets, network namespaces and nftables rules, injects one fault,
and checks the promises itself (tests/faults/README.md).

Usage: campaign.py BUILD_DIR
Environment: FAULTS_TRIALS (500), FAULTS_SEED (random, printed),
FAULTS_KINDS (comma-separated; all), FAULTS_ONLY (a trial number to run
alone, with the same seed and trial count), FAULTS_SMOKE=1 (the short
fixed mix of `make faults-smoke`), FAULTS_WAIT (35, smoke 15: seconds to
wait for a verdict; one after 10 s counts as undecided all the same), FAULTS_RESULTS (results file
base name)."""

import os
import random
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import discover  # noqa: E402
import kinds_mig  # noqa: E402
import kinds_other  # noqa: E402
import kinds_save  # noqa: E402
import report  # noqa: E402
from trial import run_trial  # noqa: E402

KINDS = {  # name: (function, share of the trials)
    "signal": (kinds_mig.kind_signal, 22),
    "daemon": (kinds_mig.kind_daemon, 12),
    "relay": (kinds_mig.kind_relay, 20),
    "firewall": (kinds_mig.kind_firewall, 14),
    "save-target": (kinds_save.kind_save_target, 10),
    "save-mutate": (kinds_save.kind_save_mutate, 10),
    "clients": (kinds_other.kind_clients, 6),
    "limits": (kinds_other.kind_limits, 6),
}
# Not in the default mix: FAULTS_KINDS=control runs migrations without a
# fault, which must all pass (a check of the checks).
EXTRA = {"control": (kinds_mig.kind_control, 10),
         "selftest": (kinds_mig.kind_selftest, 10)}

# make faults-smoke: one trial of each of these, the promises the issue
# found broken among them.
SMOKE = [
    ("relay", {"path": "direct", "where": "msg",
               "point": ("fwd", "YOURS", "after"), "action": "close",
               "side": "src"}),
    ("relay", {"path": "daemon", "where": "msg",
               "point": ("fwd", "YOURS", "after"), "action": "reset",
               "side": "src"}),
    ("relay", {"path": "direct", "where": "offset", "action": "reset",
               "side": "both"}),
    ("relay", {"path": "daemon", "where": "msg",
               "point": ("bwd", "CONFIRMED", "before"), "action": "hold",
               "hold_s": 12.0, "then": None}),
    ("signal", {"path": "direct", "role": "dst", "sig": "TERM",
                "moment": "random"}),
    ("signal", {"path": "direct", "role": "dst", "sig": "STOP",
                "moment": "hook", "step": "post-suspend", "stop_s": 12.0}),
    ("signal", {"path": "direct", "role": "dst", "sig": "KILL",
                "moment": "relay", "point": ("bwd", "RECEIVED", "after")}),
    ("signal", {"path": "direct", "role": "src", "sig": "KILL",
                "moment": "relay", "point": ("fwd", "YOURS", "after")}),
    ("signal", {"path": "daemon", "role": "cli", "sig": "KILL",
                "moment": "random"}),
    ("daemon", {"op": "migrate", "role": "srcd", "sig": "KILL",
                "moment": "random"}),
    ("daemon", {"op": "create", "role": "srcd", "sig": "KILL"}),
    ("firewall", {"path": "direct", "fault": "drop", "host": "b",
                  "length": None, "moment": "random"}),
    ("firewall", {"path": "direct", "fault": "loss", "host": "b",
                  "pct": 20, "length": None, "moment": "start"}),
    ("firewall", {"path": "daemon", "fault": "reject", "host": "b",
                  "length": None, "moment": "hook", "step": "sync"}),
    ("save-target", {"target": "two-saves-one-file"}),
    ("save-target", {"target": "tmp-symlink-devnull"}),
    ("save-mutate", {"mutation": "splice"}),
    ("save-mutate", {"mutation": "delete-record"}),
    ("clients", {"against": "godwitd", "attack": "idle"}),
    ("limits", {"limit": "memcg-create"}),
    ("selftest", {"what": "resume-both"}),
    ("selftest", {"what": "end-both"}),
]


class Campaign:
    def __init__(self, build_dir):
        self.smoke = os.environ.get("FAULTS_SMOKE") == "1"
        self.seed = int(os.environ.get("FAULTS_SEED") or
                        random.SystemRandom().randrange(1, 1 << 31))
        self.trials = int(os.environ.get("FAULTS_TRIALS") or
                          (len(SMOKE) if self.smoke else 500))
        default = list(KINDS) + (["selftest"] if self.smoke else [])
        self.kinds = [k.strip() for k in os.environ.get(
            "FAULTS_KINDS", ",".join(default)).split(",") if k.strip()]
        for k in self.kinds:
            if k not in KINDS and k not in EXTRA:
                sys.exit("faults: unknown kind %r (kinds: %s)"
                         % (k, ", ".join(KINDS)))
        self.only = os.environ.get("FAULTS_ONLY")
        # The smoke mix waits less for slow verdicts: still undecided.
        self.cap = float(os.environ.get("FAULTS_WAIT") or
                         (15 if self.smoke else 35))
        src_root = os.path.abspath(os.path.join(HERE, "..", ".."))
        self.build = discover.Build(os.path.abspath(build_dir), src_root)
        self.root = tempfile.mkdtemp(prefix="godwit-faults-")
        self.pool = {}  # shared across trials (save files to mutate)

    def schedule(self):
        """[(kind, forced choices)], the same for the same seed."""
        rng = random.Random(self.seed)
        if self.smoke:
            mix = [s for s in SMOKE if s[0] in self.kinds]
            return [mix[i % len(mix)] for i in range(self.trials)]
        share = {k: v[1] for k, v in list(KINDS.items()) + list(EXTRA.items())}
        total = sum(share[k] for k in self.kinds)
        plan = []
        for k in self.kinds:
            plan += [k] * max(1, round(self.trials * share[k] / total))
        while len(plan) > self.trials:
            plan.remove(max(set(plan), key=plan.count))
        while len(plan) < self.trials:
            plan.append(rng.choice(self.kinds))
        rng.shuffle(plan)
        return [(k, {}) for k in plan]

    def cleanup(self):
        if os.environ.get("FAULTS_KEEP"):
            print("faults: kept %s (FAULTS_KEEP)" % self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def preflight():
    if os.geteuid() != 0:
        sys.exit("faults: must run as root (namespaces, nftables, cgroups, "
                 "mounts)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("faults: /dev/kvm is not available")
    for tool in ("ip", "nft", "mount"):
        if not shutil.which(tool):
            sys.exit("faults: %s is missing (make deps installs it)" % tool)


def _interrupted(signo, frame):
    raise KeyboardInterrupt


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    preflight()
    signal.signal(signal.SIGTERM, _interrupted)
    camp = Campaign(sys.argv[1])
    print("faults: seed %d (FAULTS_SEED=%d repeats this campaign), %d "
          "trials%s, kinds %s" % (camp.seed, camp.seed, camp.trials,
                                  " (smoke mix)" if camp.smoke else "",
                                  ",".join(camp.kinds)), flush=True)
    outcomes = []
    start = time.monotonic()
    try:
        for i, (kind, force) in enumerate(camp.schedule()):
            if camp.only is not None and str(i) != camp.only:
                continue
            rng = random.Random("%d-%d" % (camp.seed, i))
            fn = (KINDS.get(kind) or EXTRA[kind])[0]
            o = run_trial(camp, i, kind, lambda t, fn=fn: fn(t, camp.cap),
                          rng, force)
            outcomes.append(o)
            print("[%4d/%d] %-11s %-4s %5.1fs  %s%s" % (
                i + 1, camp.trials, kind,
                "FAIL" if o.broke_promise() else "ok", o.duration_s,
                o.variant, ("\n          " + report.what(o))
                if o.broke_promise() else ""), flush=True)
    except KeyboardInterrupt:
        print("faults: interrupted; reporting the trials done", flush=True)
    finally:
        camp.cleanup()
    elapsed = time.monotonic() - start
    kinds = [k for k in camp.kinds if any(o.kind == k for o in outcomes)]
    rows = report.table_rows(outcomes, kinds)
    print("\n" + report.text_table(rows))
    print("\nseed %d, %d trials in %.0f s" % (camp.seed, len(outcomes),
                                             elapsed))
    base = os.environ.get("FAULTS_RESULTS") or os.path.join(
        HERE, "results", "smoke" if camp.smoke else "campaign")
    if camp.only is None:
        report.write(base, camp, outcomes, rows, elapsed)
        print("results: %s.md, %s.json" % (base, base))
    broke = sum(1 for o in outcomes if o.broke_promise())
    if broke:
        print("faults: %d trial(s) broke a promise" % broke)
    sys.exit(1 if broke else 0)


if __name__ == "__main__":
    main()

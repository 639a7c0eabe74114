"""The campaign's table of outcomes per kind, the failing variants, and
the results files (tests/faults/results/NAME.json and NAME.md)."""

import datetime
import json
import os
import platform
import subprocess

COLS = ["kind", "trials", "VM ran twice", "VM lost", "guest corruption",
        "undecided > 10 s", "max decision time", "other failures"]


def _row(kind, outs):
    dec = [o.decision_s for o in outs if o.decision_s is not None]
    mx = max(dec) if dec else None
    capped = any(o.params.get("undecided_cap") and o.decision_s == mx
                 for o in outs)
    return [kind, len(outs),
            sum(1 for o in outs if o.twice),
            sum(1 for o in outs if o.lost),
            sum(1 for o in outs if o.corrupt),
            sum(1 for o in outs if o.undecided),
            "-" if mx is None else ("> %.0f s" % mx if capped
                                    else "%.1f s" % mx),
            sum(1 for o in outs if o.other)]


def table_rows(outcomes, kinds):
    rows = [_row(k, [o for o in outcomes if o.kind == k]) for k in kinds]
    rows.append(_row("all", outcomes))
    return rows


def text_table(rows):
    w = [max(len(str(r[i])) for r in [COLS] + rows) for i in range(len(COLS))]
    fmt = "  ".join("%%-%ds" % x if i == 0 else "%%%ds" % x
                    for i, x in enumerate(w))
    return "\n".join([fmt % tuple(COLS)] + [fmt % tuple(r) for r in rows])


def md_table(rows):
    out = ["| " + " | ".join(COLS) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(COLS) - 1)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def failing_variants(outcomes):
    """{variant: [outcome]} of the trials that broke a promise."""
    by = {}
    for o in outcomes:
        if o.broke_promise():
            by.setdefault((o.kind, o.variant), []).append(o)
    return by


def what(o):
    parts = []
    for label, items in (("twice", o.twice), ("lost", o.lost),
                         ("corrupt", o.corrupt), ("undecided", o.undecided),
                         ("other", o.other)):
        if items:
            parts.append("%s: %s" % (label, items[0]))
    return "; ".join(parts)


def machine():
    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""
    cpu = [l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo")
           .splitlines() if l.startswith("model name")]
    flags = " ".join(l for l in read("/proc/cpuinfo").splitlines()
                     if l.startswith("flags"))
    git = subprocess.run(["git", "-C", os.path.dirname(__file__), "log",
                          "-1", "--format=%h %s"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", os.path.dirname(__file__),
                            "status", "--porcelain", "--", "../../src"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu[0] if cpu else "unknown", "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "kvm": "hardware" if (" vmx" in flags or " svm" in flags)
        else "software KVM (no VMX/SVM)",
        "load_avg": read("/proc/loadavg").split()[:3],
        "commit": git + (" (+uncommitted changes in src/)" if dirty else ""),
    }


def write(path_base, camp, outcomes, rows, elapsed_s):
    os.makedirs(os.path.dirname(path_base), exist_ok=True)
    m = machine()
    data = {
        "campaign": "faults", "date": datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": camp.seed, "trials": len(outcomes), "kinds": camp.kinds,
        "smoke": camp.smoke, "elapsed_s": round(elapsed_s, 1),
        "wait_s": camp.cap, "machine": m, "build": camp.build.describe(),
        "table": [dict(zip(COLS, r)) for r in rows],
        "outcomes": [o.as_dict() for o in outcomes],
    }
    with open(path_base + ".json", "w") as f:
        json.dump(data, f, indent=1)
    lines = ["## Fault campaign%s" % (" (smoke)" if camp.smoke else ""), "",
             "Seed %d, %d trials, %.0f s (%.1f s a trial); run %s on %s."
             % (camp.seed, len(outcomes), elapsed_s,
                elapsed_s / max(1, len(outcomes)), data["date"],
                m["commit"]), "",
             md_table(rows), "",
             "A verdict not seen within %.0f s of its clock is counted as "
             "undecided and its time as that wait (\"> N s\")." % camp.cap,
             ""]
    fv = failing_variants(outcomes)
    if fv:
        lines += ["### Variants that broke a promise", "",
                  "| kind | variant | trials | example (trial: what) |",
                  "|---|---|---:|---|"]
        for (kind, var), outs in sorted(fv.items(),
                                        key=lambda x: (x[0][0], -len(x[1]))):
            ex = outs[0]
            lines.append("| %s | %s | %d | %d: %s |" % (
                kind, var, len(outs), ex.index,
                what(ex).replace("|", "/")[:300]))
        lines.append("")
    lines += ["Machine: %s, %s CPUs, Linux %s, %s; load average %s at the "
              "end." % (m["cpu"], m["cpus"], m["kernel"], m["kvm"],
                        " ".join(m["load_avg"])),
              "Build: fault-injection phases found: %s; migrate-resolve: %s."
              % (", ".join(camp.build.describe()["phases"]) or "none",
                 "yes" if camp.build.describe()["migrate-resolve"] else
                 "no (operator resumes with unpause)"), "",
              "Every trial with its parameters and findings: `%s.json`. "
              "Repeat one with FAULTS_SEED=%d FAULTS_ONLY=N."
              % (os.path.basename(path_base), camp.seed), ""]
    with open(path_base + ".md", "w") as f:
        f.write("\n".join(lines))

"""Results files: bench/results/<name>.json and <name>.md.

The JSON holds everything (machine, configuration, every raw sample,
summaries, goals); the markdown is a table plus a method paragraph and the
machine description, ready for the lead to include in README.md.
"""
import json
import os

from . import machine, paths


def fmt(v, digits=1, unit=""):
    """Human number for tables; '-' for missing values."""
    if v is None:
        return "-"
    if isinstance(v, float):
        v = ("%%.%df" % digits) % v
    return "%s%s" % (v, unit)


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def fmt_mmm(s, scale=1.0, digits=1):
    """'median (min-max)' of a stats.summary, scaled."""
    if not s:
        return "-"
    if s["n"] == 1:
        return fmt(s["median"] * scale, digits)
    return "%s (%s-%s)" % (fmt(s["median"] * scale, digits),
                           fmt(s["min"] * scale, digits),
                           fmt(s["max"] * scale, digits))


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def goal_word(met):
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def write(name, data, md_body, outdir=None):
    """Write <outdir>/<name>.json and .md; returns both paths."""
    outdir = outdir or paths.RESULTS
    os.makedirs(outdir, exist_ok=True)
    jpath = os.path.join(outdir, name + ".json")
    mpath = os.path.join(outdir, name + ".md")
    with open(jpath + ".tmp", "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(jpath + ".tmp", jpath)
    md = md_body.rstrip() + "\n\nMachine:\n\n" + machine.markdown(data["machine"]) \
        + "\n\nRaw samples: `bench/results/%s.json`.\n" % name
    with open(mpath + ".tmp", "w") as f:
        f.write(md)
    os.replace(mpath + ".tmp", mpath)
    return jpath, mpath

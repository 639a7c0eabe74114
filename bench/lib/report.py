"""Results files: bench/results/<name>.json and <name>.md.

The JSON holds everything (machine, configuration, every raw sample,
summaries, goals); the markdown is a table plus a method paragraph and the
machine description, ready for the lead to include in README.md.
"""
import json
import os

from . import cli, machine, paths


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


def fmt_tail(s, scale=1.0, digits=1):
    """'p50 / p90 / max' of a stats.summary, scaled: the tail that a
    median hides."""
    if not s:
        return "-"
    return "%s / %s / %s" % (fmt(s["median"] * scale, digits),
                             fmt(s.get("p90", s["max"]) * scale, digits),
                             fmt(s["max"] * scale, digits))


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def goal_word(met):
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def _replace(path, text):
    """Write path whole or not at all (a crashed run leaves the old file)."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def write(name, data, md_body, outdir=None):
    """Write <outdir>/<name>.json and .md (<name>-quick.* for a --quick
    run, so a smoke run never overwrites a full one), print the markdown
    and log where it went."""
    if data["quick"]:
        name += "-quick"
    outdir = outdir or paths.RESULTS
    os.makedirs(outdir, exist_ok=True)
    jpath = os.path.join(outdir, name + ".json")
    mpath = os.path.join(outdir, name + ".md")
    _replace(jpath, json.dumps(data, indent=1) + "\n")
    md = md_body.rstrip() + "\n\nMachine:\n\n" + machine.markdown(data["machine"]) \
        + "\n\nRaw samples: `bench/results/%s.json`.\n" % name
    _replace(mpath, md)
    print(md)
    cli.log("wrote %s and %s" % (jpath, mpath))

#!/usr/bin/python3
"""Check that dependencies point down only (docs/architecture.md): every
#include "dir/..." (or <godwit/...>, the client library's public headers)
in src/, tools/ and include/ must name a layer its own layer may use, and
a public header may include no internal one. Prints each violation as
FILE:LINE and exits 1 if there is any."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Layer of a path (longest prefix wins) -> the layers it may include.
# The table in docs/architecture.md ("Layers": folder | what | may use)
# is the one source: this checker reads it, so the map and the check
# cannot disagree.
DOC = os.path.join(ROOT, "docs", "architecture.md")
ROW = re.compile(r"^\|\s*(`[^|]+`)\s*\|[^|]*\|\s*([^|]*)\|\s*$")


def read_layers(path):
    """({layer: set of layers it may use}, {folder: layer}) from the
    doc's table; a row naming several folders makes them one layer,
    named by the first."""
    allowed, folders = {}, {}
    with open(path) as fh:
        for line in fh:
            m = ROW.match(line)
            if not m:
                continue
            uses = {u.strip() for u in m.group(2).split(",")} - {"-", ""}
            names = [f.strip("/") for f in re.findall(r"`([^`]+)`",
                                                      m.group(1))]
            names = [n[len("src/"):] if n.startswith("src/") else n
                     for n in names]
            allowed[names[0]] = uses
            for n in names:
                folders[n] = names[0]
    return allowed, folders


ALLOWED, FOLDERS = read_layers(DOC)
INCLUDE = re.compile(r'^\s*#\s*include\s+(?:"([^"]+)"|<(godwit/[^>]+)>)')
# The public headers in include/godwit/ belong to the client library.
PUBLIC = "godwit/"


def layer(rel):
    """rel is relative to src/ (or 'tools/...'): its layer, or None."""
    best = None
    for name in FOLDERS:
        if rel == name or rel.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return FOLDERS[best] if best else None


def check_map():
    """Every folder under src/ belongs to a layer of the map, and every
    layer a row may use is itself a row."""
    bad = 0
    for d, subdirs, files in os.walk(os.path.join(ROOT, "src")):
        rel = os.path.relpath(d, os.path.join(ROOT, "src"))
        if rel != "." and any(f.endswith((".c", ".h")) for f in files) \
                and layer(rel) is None:
            print("src/%s: no layer in docs/architecture.md" % rel)
            bad += 1
    for name, uses in ALLOWED.items():
        for u in sorted(uses - set(ALLOWED)):
            print("docs/architecture.md: %s may use unknown layer %s"
                  % (name, u))
            bad += 1
    return bad


def main():
    if not ALLOWED:
        print("no layer table found in docs/architecture.md")
        return 1
    bad = check_map()
    for top in ("src", "tools", "include"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(d, f)
                rel = os.path.relpath(path, os.path.join(ROOT, "src"))
                if top == "tools":
                    rel = os.path.relpath(path, ROOT)
                elif top == "include":
                    rel = "toolstack/lib/public"
                own = layer(rel)
                with open(path) as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        inc = m.group(1) or m.group(2)
                        if top == "include" and m.group(1):
                            # Installed on its own: nothing internal.
                            print("%s:%d: public header includes %s"
                                  % (os.path.relpath(path, ROOT), n, inc))
                            bad += 1
                            continue
                        if inc.startswith(PUBLIC):
                            inc = "toolstack/lib/" + inc[len(PUBLIC):]
                        dep = layer(inc)
                        if dep is None or dep == own or dep in ALLOWED[own]:
                            continue
                        print("%s:%d: %s includes %s (layer %s may not use %s)"
                              % (os.path.relpath(path, ROOT), n, own,
                                 inc, own, dep))
                        bad += 1
    if bad:
        print("%d upward or sideways includes" % bad)
        return 1
    print("layering ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

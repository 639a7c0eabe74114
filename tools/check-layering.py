#!/usr/bin/python3
"""Check that dependencies point down only (ARCHITECTURE.md): every
#include "dir/..." (or <godwit/...>, the client library's public headers)
in src/, tools/ and include/ must name a layer its own layer may use, and
a public header may include no internal one. Prints each violation as
FILE:LINE and exits 1 if there is any."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Layer of a path (longest prefix wins) -> the layers it may include
# (docs/architecture.md draws the same picture). format is data only
# (wire layouts): device models include it for their saved-state structs.
ALLOWED = {
    "common": set(),
    "vmm": {"common"},
    "format": {"common"},
    "migration/transport": {"common"},
    "storage": {"common", "vmm"},
    "devices": {"common", "vmm", "format", "storage"},
    "migration": {"common", "vmm", "devices", "storage", "format",
                  "migration/transport"},
    "rpc": {"common"},
    "config": {"common"},
    "monitor": {"common", "vmm", "devices", "storage", "migration",
                "format", "migration/transport", "rpc", "config"},
    "toolstack/lib": {"common", "rpc", "config"},
    "toolstack/daemon": {"common", "rpc", "config", "toolstack/lib"},
    "toolstack/cli": {"common", "rpc", "config", "toolstack/lib",
                      "monitor", "tools"},
    "tools": {"common", "devices", "migration", "format",
              "migration/transport", "config"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+(?:"([^"]+)"|<(godwit/[^>]+)>)')
# The public headers in include/godwit/ belong to the client library.
PUBLIC = "godwit/"


def layer(rel):
    """rel is relative to src/ (or 'tools/...'): its layer, or None."""
    best = None
    for name in ALLOWED:
        if rel == name or rel.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return best


def main():
    bad = 0
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

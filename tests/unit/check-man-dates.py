#!/usr/bin/python3
"""unit suite: every man page carries one date and version, meson.build's
(godwit_date, project version), stamped at build time from placeholders
in docs/ (tools/man-stamp.py); no page keeps a date of its own.

usage: check-man-dates.py DATE VERSION SRCDIR BUILT_PAGE..."""

import os
import re
import sys

date, version, srcdir, pages = sys.argv[1], sys.argv[2], sys.argv[3], \
    sys.argv[4:]
bad = []
for page in pages:
    with open(page) as f:
        th = next(l for l in f if l.startswith(".TH "))
    fields = re.findall(r'"([^"]*)"|(\S+)', th)
    fields = [a or b for a, b in fields]
    if fields[3:5] != [date, "godwit " + version]:
        bad.append("%s: .TH says %s, meson.build %s, godwit %s"
                   % (page, fields[3:5], date, version))
    with open(os.path.join(srcdir, "docs", os.path.basename(page))) as f:
        src = next(l for l in f if l.startswith(".TH "))
    if "@GODWIT_DATE@" not in src or "@GODWIT_VERSION@" not in src:
        bad.append("docs/%s: .TH has a date of its own: %s"
                   % (os.path.basename(page), src.strip()))
if len(pages) != 3:
    bad.append("expected 3 man pages, got %s" % pages)
print("\n".join(bad) or "ok: %d pages dated %s, godwit %s"
      % (len(pages), date, version))
sys.exit(1 if bad else 0)

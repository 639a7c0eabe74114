#!/usr/bin/python3
"""Stamp a man page with the release it belongs to: the @GODWIT_DATE@
and @GODWIT_VERSION@ of its .TH line become meson.build's date and
version, so every page carries one date, from one place.

usage: man-stamp.py IN OUT DATE VERSION
A page whose .TH line lacks either placeholder is refused: that page
would carry a date of its own."""

import sys


def stamp(text, date, version):
    out, seen = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(".TH ") and not seen:
            seen = True
            if "@GODWIT_DATE@" not in line or "@GODWIT_VERSION@" not in line:
                raise ValueError(".TH line without @GODWIT_DATE@ and "
                                 "@GODWIT_VERSION@: " + line.strip())
            line = line.replace("@GODWIT_DATE@", date).replace(
                "@GODWIT_VERSION@", version)
        out.append(line)
    if not seen:
        raise ValueError("no .TH line")
    return "".join(out)


def main():
    src, dst, date, version = sys.argv[1:5]
    with open(src) as f:
        text = f.read()
    try:
        text = stamp(text, date, version)
    except ValueError as e:
        sys.exit("%s: %s" % (src, e))
    with open(dst, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()

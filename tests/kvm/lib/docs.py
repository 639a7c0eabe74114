"""The examples of godwit's documentation and how each one is tested.

In the man pages (roff) a comment before an .nf/.fi block says how:

  .\\" test: KIND [ARG]
  .\\" expect: REGEX          (any number)

and in README.md an HTML comment before a fenced block:

  <!-- test: KIND [ARG] -->
  <!-- expect: REGEX -->

KIND is what the test that reads the document knows (shell, console,
config, ...), or none followed by the reason in parentheses. An example
is (section, kind, arg, expects, lines, line number)."""

import os
import re

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def unroff(line):
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'),
                 ("\\&", ""), ("\\e", "\\")):
        line = line.replace(a, b)
    return line


def roff_examples(path):
    """Every .nf/.fi block of a man page."""
    out = []
    section, marker, expects, block, start = "", None, [], None, 0
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith(".SH "):
                section = line[4:].strip('"')
            elif line.startswith('.\\" test: '):
                marker = line[len('.\\" test: '):]
                expects = []
            elif line.startswith('.\\" expect: '):
                expects.append(line[len('.\\" expect: '):])
            elif line == ".nf":
                block, start = [], n
            elif line == ".fi" and block is not None:
                kind, _, arg = (marker or "").partition(" ")
                out.append((section, kind, arg, expects,
                            [unroff(l) for l in block], start))
                block, marker, expects = None, None, []
            elif block is not None:
                block.append(line)
    return out


def md_examples(path):
    """Every fenced block of a Markdown file."""
    out = []
    section, marker, expects, block, start = "", None, [], None, 0
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            m = re.match(r"<!-- (test|expect): (.*) -->$", line)
            if block is not None:
                if line.startswith("```"):
                    kind, _, arg = (marker or "").partition(" ")
                    out.append((section, kind, arg, expects, block, start))
                    block, marker, expects = None, None, []
                else:
                    block.append(line)
            elif line.startswith("#"):
                section = line.lstrip("#").strip()
            elif m and m.group(1) == "test":
                marker, expects = m.group(2), []
            elif m:
                expects.append(m.group(2))
            elif line.startswith("```"):
                block, start = [], n
    return out


def commands(lines):
    """The commands of a shell example: continuation lines joined, blank
    lines and comments left out."""
    out, cur = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.strip().startswith("#"):
            out.append(cur.strip())
        cur = ""
    return out


def none_has_reason(kind, arg):
    return kind != "none" or (arg.startswith("(") and arg.endswith(")"))

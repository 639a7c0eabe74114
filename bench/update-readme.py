#!/usr/bin/python3
"""Copy the tables of bench/results/{boot,save-restore,migrate,
migrate-secure,blk,ping-pong-200,net,net-100hz,migrate-link,lease}.md into
README.md,
between the <!-- bench:start --> and <!-- bench:end --> markers, so the
README shows the latest full run. run-all.sh calls it after a full (not
--quick) run."""

import os
import re
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(os.path.dirname(BENCH), "README.md")
SECTIONS = [
    ("Boot", "boot.md"),
    ("Save and restore", "save-restore.md"),
    ("Live migration", "migrate.md"),
    ("Live migration over TLS and ssh", "migrate-secure.md"),
    ("Disk (virtio-blk)", "blk.md"),
    ("Disk through 200 live migrations (make ping-pong-200)",
     "ping-pong-200.md"),
    ("A service through live migration", "net.md"),
    ("A service through live migration, client at 100 Hz", "net-100hz.md"),
    ("Live migration over a 1 Gb/s link", "migrate-link.md"),
    ("Lease hand-off (file engine)", "lease.md"),
]


def tables_of(md):
    """Headings, tables and the Goals line; the method and machine text
    stay in the results file the README points to."""
    out, keep = [], False
    for line in md.splitlines():
        if line.startswith("Method") or line.startswith("Machine:"):
            break
        if line.startswith("## "):
            continue  # the README has its own heading
        if line.startswith("### "):
            out.append("#" + line)
        elif line.startswith("|") or line.startswith("Goals") or \
                re.match(r"^\d+ rep|^\d+ migrations|^Machine limit", line):
            out.append(line)
        elif out and out[-1] != "":
            out.append("")
    return "\n".join(out).strip()


def run_date_of(md):
    date = re.search(r"^- Date: (.*)$", md, re.M)
    return date.group(1) if date else "?"


def main():
    parts = []
    for title, name in SECTIONS:
        path = os.path.join(BENCH, "results", name)
        if not os.path.exists(path):
            continue
        md = open(path).read()
        parts.append("### %s\n\nRun %s; method, machine and raw samples in "
                     "[bench/results/%s](bench/results/%s).\n\n%s"
                     % (title, run_date_of(md), name, name, tables_of(md)))
    text = open(README).read()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in text or end not in text:
        sys.exit("update-readme: README.md has no bench markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(README, "w") as f:
        f.write(head + start + "\n" + "\n\n".join(parts) + "\n" + end + tail)
    print("update-readme: README.md tables updated")


if __name__ == "__main__":
    main()

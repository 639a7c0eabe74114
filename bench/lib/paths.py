"""Where things are: repository root, build tree, binaries, results.

GODWIT_BUILD overrides the build directory (default: <repo>/build), so a
bench can run against another build tree (e.g. a release build).
"""
import os
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("GODWIT_BUILD", ROOT / "build")).resolve()
GODWIT = BUILD / "godwit"
GUESTS = BUILD / "guests"
RESULTS = BENCH / "results"
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")


def guest(name):
    """Path of build/guests/<name>.elf."""
    return GUESTS / (name + ".elf")


def check_built(*guests):
    """Raise SystemExit with a hint if the binaries are missing."""
    missing = [str(p) for p in [GODWIT] + [guest(g) for g in guests]
               if not p.exists()]
    if missing:
        raise SystemExit("bench: not built (run `make`): " + ", ".join(missing))

"""Options every bench shares, and its scratch directory.

--quick   a smoke run (tens of seconds) that proves the script works;
          its results go to <name>-quick.{json,md} so they never
          overwrite a full run's.
--workdir where save files and sockets go (default: a fresh directory
          under $TMPDIR or /tmp, removed afterwards).
--out     results directory (default bench/results).
"""
import argparse
import contextlib
import shutil
import tempfile

from . import paths


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="short smoke run; writes <name>-quick results")
    p.add_argument("--workdir", help="scratch directory (default: new one in /tmp)")
    p.add_argument("--out", default=str(paths.RESULTS), help="results directory")
    return p


@contextlib.contextmanager
def workdir(path=None, prefix="godwit-bench-"):
    """Yield a scratch directory; a fresh one is removed afterwards."""
    if path:
        yield path
        return
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def log(msg):
    print("bench: " + msg, flush=True)

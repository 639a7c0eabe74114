"""Disk references and page-cache hygiene.

dd is the physical reference: writing N bytes of zeros with
conv=fdatasync measures what the disk (through ext4 and the page cache)
sustains for one sequential file with a final flush, the same discipline
godwit's default save follows. Reading a file with dd after dropping the
page cache gives the time a restore needs just to read its data.

A "cold" read is made by evicting just the file in question from the
page cache (fdatasync, then posix_fadvise DONTNEED; checked with
util-linux fincore where present) rather than dropping every cache: a
global drop_caches would also evict the VMM binaries and libraries and so
charge QEMU's ~25 MiB of libraries to its restore time.
"""
import os
import re
import subprocess
import time

from . import proc, stats


def settle(seconds):
    """sync, then wait: let freed blocks be discarded before a timed write.

    On our hosts (ext4 with -o discard on a virtual disk) a write into
    blocks freed moments ago runs ~3x faster than into blocks whose
    discard has gone through (measured 1.1 GB/s vs 0.3 GB/s), and freed
    blocks get there about 2 s after a sync. Settling before every timed
    write puts godwit, QEMU and dd in the same state: writing new blocks.
    """
    os.sync()
    time.sleep(seconds)


def evict(path):
    """Drop path's pages from the page cache; returns bytes still cached.

    None if fincore is unavailable to check.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return cached_bytes(path)


def cached_bytes(path):
    """Bytes of path in the page cache (util-linux fincore), or None."""
    try:
        cp = subprocess.run(["fincore", "--bytes", "--noheadings",
                             "--output", "RES", str(path)],
                            capture_output=True, text=True, timeout=30)
        return int(cp.stdout.split()[0]) if cp.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def _dd(argv):
    dt, cp = proc.run_timed(argv, timeout=3600)
    m = re.search(r"^(\d+) bytes", cp.stderr, re.M)
    return dt, int(m.group(1)) if m else None, cp.stderr.strip().splitlines()[-1]


def dd_write(path, nbytes, fdatasync=True):
    """Write ceil(nbytes/1MiB) MiB of zeros; returns dict with seconds."""
    count = max(1, -(-nbytes // (1 << 20)))
    argv = ["dd", "if=/dev/zero", "of=%s" % path, "bs=1M", "count=%d" % count]
    if fdatasync:
        argv.append("conv=fdatasync")
    dt, written, summary = _dd(argv)
    return {"seconds": dt, "bytes": written, "dd_says": summary,
            "argv": " ".join(argv)}


def dd_read(path):
    argv = ["dd", "if=%s" % path, "of=/dev/null", "bs=1M"]
    dt, read, summary = _dd(argv)
    return {"seconds": dt, "bytes": read, "dd_says": summary,
            "argv": " ".join(argv)}


def fdatasync_file(path):
    """fdatasync an existing file; returns seconds."""
    t0 = proc.now()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)
    return proc.now() - t0


def file_size(path):
    return os.stat(path).st_size


def describe_fs(path):
    """Filesystem and block device a path lives on (for the report)."""
    path = os.path.realpath(path)
    best = None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                dev, mnt, fstype = line.split()[:3]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                        (best is None or len(mnt) > len(best[1])):
                    best = (dev, mnt, fstype)
    except OSError:
        return "unknown"
    if not best:
        return "unknown"
    dev, mnt, fstype = best
    rot = ""
    name = os.path.basename(dev)
    try:
        with open("/sys/class/block/%s/queue/rotational" % name) as f:
            rot = ", rotational" if f.read().strip() == "1" else ", non-rotational"
    except OSError:
        pass
    return "%s on %s (%s%s)" % (mnt, dev, fstype, rot)


def sample(runner, case, nbytes, ops, secs):
    """One timed run of an I/O case: bytes, operations, MB/s and IOPS."""
    return {"runner": runner, "case": case, "bytes": nbytes, "ops": ops,
            "seconds": secs, "mbps": stats.mb_per_s(nbytes, secs),
            "iops": ops / secs if secs else None}


def summarize(samples, cases, runners):
    """min/median/max of MB/s and IOPS per (case, runner) pair."""
    out = {}
    for case in cases:
        for r in runners:
            s = [x for x in samples if x["case"] == case[0] and
                 x["runner"] == r]
            out["%s | %s" % (case[0], r)] = {
                "mbps": stats.summary([x["mbps"] for x in s]),
                "iops": stats.summary([x["iops"] for x in s])}
    return out

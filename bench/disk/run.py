#!/usr/bin/python3
"""bench/disk: the storage layer's two engines next to fio, on one file.

disk-bench (built next to godwit) drives a file through godwit's
storage layer the way the virtio-blk device will: one queue, QD requests
in flight, each completion refilled at once, for a fixed time. fio runs
the same workload on the same file: with ioengine=io_uring at the same
iodepth (the reference for godwit's io_uring engine), and with
ioengine=psync and 16 jobs (synchronous preadv/pwritev on 16 threads,
the reference for godwit's thread pool, which has up to 16 threads per
disk).

The file is written in full first (reads of holes or unwritten extents
never reach the disk). Cases: 4 KiB random reads and writes at QD 128 and
1 MiB sequential reads and writes at QD 32, with direct I/O (the disk's
speed), and 4 KiB random reads at QD 128 through the page cache (the
engines' own cost, the file being cached). Runners alternate order per
repetition; writes start after a sync and a pause (bench/lib/disk.py).
No guest is involved: this measures the host side only.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, disk, machine, paths, report, stats  # noqa: E402

NAME = "disk"
MIB = 1 << 20
BENCH = paths.BUILD / "bench" / "disk" / "disk-bench"
CASES = [  # (label, rw, block size, queue depth, direct I/O)
    ("4k random read, QD128, direct", "randread", 4096, 128, True),
    ("4k random write, QD128, direct", "randwrite", 4096, 128, True),
    ("1M sequential read, QD32, direct", "read", MIB, 32, True),
    ("1M sequential write, QD32, direct", "write", MIB, 32, True),
    ("4k random read, QD128, page cache", "randread", 4096, 128, False),
]
RUNNERS = ["godwit io_uring", "fio io_uring", "godwit threads",
           "fio psync x16"]


def godwit_run(engine, path, case, seconds):
    _, rw, bs, qd, direct = case
    argv = [str(BENCH), path, engine, rw, str(bs), str(qd), str(seconds)]
    if direct:
        argv.append("direct")
    out = subprocess.run(argv, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    r = json.loads(out)
    return r["bytes"], r["ops"], r["seconds"]


def fio_run(engine, path, size, case, seconds):
    _, rw, bs, qd, direct = case
    argv = ["fio", "--name=bench", "--filename=" + path, "--rw=" + rw,
            "--bs=%d" % bs, "--size=%d" % size, "--time_based",
            "--runtime=%g" % seconds, "--direct=%d" % direct,
            "--norandommap", "--randrepeat=0", "--group_reporting",
            "--output-format=json", "--ioengine=" + engine]
    if engine == "io_uring":
        argv.append("--iodepth=%d" % qd)
    else:
        argv.append("--numjobs=16")
    out = subprocess.run(argv, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    job = json.loads(out)["jobs"][0]
    part = job["write" if "write" in rw else "read"]
    secs = part["runtime"] / 1000.0
    return part["io_bytes"], part["total_ios"], secs


def one(runner, path, size, case, seconds):
    if case[1] in ("randwrite", "write"):
        disk.settle(2)
    if not case[4]:
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
    if runner.startswith("godwit"):
        nbytes, ops, secs = godwit_run(runner.split()[1], path, case, seconds)
    else:
        nbytes, ops, secs = fio_run("io_uring" if "io_uring" in runner
                                    else "psync", path, size, case, seconds)
    return disk.sample(runner, case[0], nbytes, ops, secs)


def markdown(summ, args):
    rows = []
    for case in CASES:
        get = {r: summ["%s | %s" % (case[0], r)] for r in RUNNERS}
        unit = "iops" if case[2] == 4096 else "mbps"
        cells = [report.fmt_mmm(get[r][unit], 1 if unit == "mbps" else
                                1e-3, 1) for r in RUNNERS]
        ur = stats.median_ratio(get["godwit io_uring"][unit],
                                get["fio io_uring"][unit])
        th = stats.median_ratio(get["godwit threads"][unit],
                                get["fio psync x16"][unit])
        rows.append([case[0], "kIOPS" if unit == "iops" else "MB/s"] +
                    cells + [report.fmt_ratio(ur), report.fmt_ratio(th)])
    return ("## Disk engines\n\n%d rep(s) of %g s per case; median "
            "(min-max).\n\n" % (args.reps, args.seconds) +
            report.table(["case", "unit"] + RUNNERS +
                         ["io_uring/fio", "threads/fio psync"], rows) +
            "\n\nMethod: " + " ".join(__doc__.split("\n\n")[1:]).replace(
                "\n", " ") + "\n")


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    if args.quick:
        args.size_mib, args.seconds, args.reps = 128, 1, 1
    if not BENCH.exists():
        raise SystemExit("bench: not built (run `make`): %s" % BENCH)
    samples = []
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        path = os.path.join(wd, "disk.img")
        size = args.size_mib * MIB
        subprocess.run(["dd", "if=/dev/zero", "of=" + path, "bs=1M",
                        "count=%d" % args.size_mib, "conv=fsync",
                        "status=none"], check=True)
        for rep in range(args.reps):
            order = RUNNERS if rep % 2 == 0 else list(reversed(RUNNERS))
            for case in CASES:
                for r in order:
                    cli.log("rep %d: %s: %s" % (rep, case[0], r))
                    samples.append(one(r, path, size, case, args.seconds))
        m = machine.describe(wd, load.result())
    summ = disk.summarize(samples, CASES, RUNNERS)
    data = {"name": NAME, "quick": args.quick, "machine": m,
            "config": {"size_mib": args.size_mib, "seconds": args.seconds,
                       "reps": args.reps},
            "samples": samples, "summary": summ}
    report.write(NAME, data, markdown(summ, args), args.out)


if __name__ == "__main__":
    main()

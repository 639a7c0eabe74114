#!/usr/bin/python3
"""bench/blk: the blk guest's disk I/O under godwit and QEMU, fio the limit.

The same guest (guests/blk.elf, its own figures with stats=1) runs under
godwit (virtio-blk over io_uring, and over the thread pool with
GODWIT_IO_ENGINE=threads) and under QEMU microvm (-device
virtio-blk-device, -drive aio=io_uring and aio=threads), on the same
image files in the same run, all with direct I/O (godwit direct-io,
QEMU cache=none, fio --direct=1) so that every runner meets the disk and
none the page cache. fio on the host runs the same pattern on the same
file and area (ioengine=io_uring, the same block size and queue depth):
the host's limit. Cases: 1 MiB sequential write and read at queue depth
32 over 256 MiB; 4 KiB random read and write at queue depth 1 (over
8 MiB), 32 and 128 (over 32 MiB). A guest run does several passes over
its area (each pass of mode=write writes every block, then reads it back
and checks it; mode=read reads and checks every block) and the sample is
the median of its passes after the first; the guest times each step
from its first request to its last completion against its TSC. Runners
alternate order per repetition; writes start after a sync and a pause
(bench/lib/disk.py).

The guest's driver runs in ring 0, which this machine's KVM emulates
(about 1.4 M instructions a second): every request costs emulated
instructions to queue and to complete, so the 4 KiB IOPS figures (most of
all at queue depth 1) are bounded by the guest under both VMMs, while
1 MiB transfers leave the disk as the limit.

Quiesce and downtime (godwit only): live migrations between two
migrate-receive processes (ping-pong, one image in one directory) of
(a) the blk guest at queue depth 128 (4 KiB random, write and check)
on a direct-I/O disk, and (b) the dirty guest with an idle virtio-blk
disk. From the source's debug log: how long quiescing the devices took
at the final pause and how many requests were in flight then; from the
migration: the downtime (source pause to destination resume).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, disk, machine, paths, proc, report, stats, vmm  # noqa

NAME = "blk"
MIB = 1 << 20
MEMORY = 192
# label, guest mode, pattern, block size, queue depth, area MiB, image,
# figure the guest reports for it
CASES = [
    ("1M sequential write, QD32", "write", "seq", MIB, 32, 256, "seqw",
     "write", "mbps"),
    ("1M sequential read, QD32", "read", "seq", MIB, 32, 256, "seqr",
     "read", "mbps"),
    ("4k random read, QD1", "read", "rand", 4096, 1, 8, "randr", "read",
     "iops"),
    ("4k random read, QD32", "read", "rand", 4096, 32, 32, "randr", "read",
     "iops"),
    ("4k random read, QD128", "read", "rand", 4096, 128, 32, "randr", "read",
     "iops"),
    ("4k random write, QD1", "write", "rand", 4096, 1, 8, "randw", "write",
     "iops"),
    ("4k random write, QD32", "write", "rand", 4096, 32, 32, "randw",
     "write", "iops"),
    ("4k random write, QD128", "write", "rand", 4096, 128, 32, "randw",
     "write", "iops"),
]
IMAGES = {"seqw": 256, "seqr": 256, "randr": 32, "randw": 32}
RUNNERS = ["godwit io_uring", "godwit threads", "qemu io_uring",
           "qemu threads", "fio io_uring"]
PASS = re.compile(r"^blk: pass (\d+)(?: write MBps=([\d.]+) iops=(\d+))?"
                  r"(?: read MBps=([\d.]+) iops=(\d+))?$")
QUIESCED = re.compile(r"devices quiesced in (\d+) us")
IN_FLIGHT = re.compile(r"quiesce completed (\d+) requests in flight")
FINAL = re.compile(r"downtime: final \d+ pages sent")
MIGRATED = re.compile(r"downtime ([\d.]+) ms")


def cmdline(case, passes):
    _, mode, pattern, bs, qd, _, _, _, _ = case
    return "mode=%s pattern=%s bs=%d qd=%d passes=%d stats=1" % (
        mode, pattern, bs, qd, passes)


def godwit_argv(img, area_mib, line, qmp="none"):
    return [paths.GODWIT, "run", "--kernel", paths.guest("blk"), "--memory",
            str(MEMORY), "--cmdline", line, "--serial", "stdio", "--qmp", qmp,
            "--disk", "direct-io,size=%dM,%s,raw,xvda,rw" % (area_mib, img)]


def qemu_argv(img, area_mib, line, aio):
    argv = vmm.qemu_argv(paths.guest("blk"), line, MEMORY, "/dev/null",
                         vmm.qemu_cpu())
    argv = argv[:argv.index("-qmp")]
    return argv + ["-global", "virtio-mmio.force-legacy=false",
                   "-drive", "file=%s,if=none,id=d0,format=raw,aio=%s,"
                   "cache=none,size=%d" % (img, aio, area_mib * MIB),
                   "-device", "virtio-blk-device,drive=d0"]


def guest_run(argv, env_extra, case, what):
    """Run the guest to its end; the median of its passes after the first."""
    env = dict(os.environ, **env_extra)
    cp = subprocess.run([str(a) for a in argv], capture_output=True,
                        text=True, timeout=600, env=env,
                        stdin=subprocess.DEVNULL)
    lines = cp.stdout.splitlines()
    bad = [l for l in lines if "CORRUPT" in l or "BAD" in l]
    if bad or not any(l.startswith("blk: done") for l in lines):
        raise RuntimeError("%s: %s (exit %d) %s" % (
            what, bad or lines[-3:], cp.returncode, cp.stderr[-300:]))
    vals = []
    for l in lines:
        m = PASS.match(l)
        if not m or int(m.group(1)) < 2:
            continue
        mbps, iops = (m.group(2), m.group(3)) if case[7] == "write" else \
            (m.group(4), m.group(5))
        if mbps is not None:
            vals.append(float(mbps) if case[8] == "mbps" else float(iops))
    if not vals:
        raise RuntimeError("%s: no pass figures: %s" % (what, lines[-5:]))
    return statistics.median(vals), len(vals)


def fio_run(img, case, seconds):
    _, mode, pattern, bs, qd, area, _, _, unit = case
    rw = ("rand" if pattern == "rand" else "") + mode
    argv = ["fio", "--name=bench", "--filename=" + img, "--rw=" + rw,
            "--bs=%d" % bs, "--size=%dM" % area, "--iodepth=%d" % qd,
            "--ioengine=io_uring", "--direct=1", "--time_based",
            "--runtime=%g" % seconds, "--norandommap", "--randrepeat=0",
            "--output-format=json"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    part = json.loads(out)["jobs"][0]["write" if mode == "write" else "read"]
    secs = part["runtime"] / 1000.0
    if unit == "mbps":
        return stats.mb_per_s(part["io_bytes"], secs), 1
    return part["total_ios"] / secs, 1


def one(runner, images, case, passes, seconds):
    img = images[case[6]]
    if case[1] == "write":
        disk.settle(2)
    line = cmdline(case, passes)
    what = "%s: %s" % (runner, case[0])
    if runner.startswith("godwit"):
        engine = runner.split()[1]
        v, n = guest_run(godwit_argv(img, case[5], line),
                         {"GODWIT_IO_ENGINE": engine}, case, what)
    elif runner.startswith("qemu"):
        v, n = guest_run(qemu_argv(img, case[5], line, runner.split()[1]),
                         {}, case, what)
    else:
        v, n = fio_run(img, case, seconds)
    return {"runner": runner, "case": case[0], "value": v, "unit": case[8],
            "passes": n}


def prepare(wd):
    """Images, fully allocated; the read ones written by the guest (mode
    read checks every sector it reads against what mode=write wrote)."""
    images = {}
    for key, mib in IMAGES.items():
        path = os.path.join(wd, key + ".img")
        subprocess.run(["dd", "if=/dev/zero", "of=" + path, "bs=1M",
                        "count=%d" % mib, "conv=fsync", "status=none"],
                       check=True)
        images[key] = path
        if key.endswith("r"):
            guest_run(godwit_argv(path, mib, "mode=write pattern=seq "
                                  "bs=1048576 qd=32 passes=2 stats=1"),
                      {}, CASES[0], "prepare " + key)
    return images


# ---- quiesce and downtime --------------------------------------------------

def migrate_series(wd, guest, line, extra, hops, tag):
    """hops migrations of one VM between receivers; per hop the source's
    quiesce time at the final pause, requests it completed then, and the
    downtime."""
    out = []
    env = dict(os.environ, GODWIT_DEBUG="1")
    src_argv = [paths.GODWIT, "run", "--kernel", paths.guest(guest),
                "--memory", "64", "--cmdline", line, "--serial", "stdio",
                "--qmp", os.path.join(wd, tag + "0.qmp")] + extra
    src = subprocess.Popen(src_argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, env=env)
    qmp = os.path.join(wd, tag + "0.qmp")
    procs = [src]
    try:
        time.sleep(2)
        for h in range(hops):
            port = free_port()
            dqmp = os.path.join(wd, "%s%d.qmp" % (tag, h + 1))
            dst = subprocess.Popen(
                [paths.GODWIT, "migrate-receive", "--listen",
                 "127.0.0.1:%d" % port, "--serial", "stdio", "--qmp", dqmp],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=env)
            procs.append(dst)
            wait_listening(dst)
            time.sleep(0.5)
            cp = subprocess.run([paths.GODWIT, "migrate", qmp,
                                 "127.0.0.1:%d" % port],
                                capture_output=True, text=True, timeout=300)
            if cp.returncode:
                raise RuntimeError("%s hop %d: %s" % (tag, h, cp.stderr))
            src.wait(30)
            log = src.stderr.read()
            out.append(hop_figures(log, cp.stderr, tag))
            src, qmp = dst, dqmp
            time.sleep(1.0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    lines = src.stdout.read() if src.stdout else ""
    if "CORRUPT" in lines or "BAD" in lines:
        raise RuntimeError("%s: the guest reported a failure" % tag)
    return out


def hop_figures(log, migrate_err, tag):
    """Figures of one hop from the source's log (up to the final pause)."""
    head = log[:FINAL.search(log).start()]
    quiesce = list(QUIESCED.finditer(head))
    # The final pause's drain lines come after the quiesce before it.
    since = quiesce[-2].end() if len(quiesce) > 1 else 0
    flight = IN_FLIGHT.findall(head[since:quiesce[-1].start()])
    m = MIGRATED.search(migrate_err)
    return {"series": tag, "quiesce_us": int(quiesce[-1].group(1)),
            "in_flight": sum(int(x) for x in flight),
            "downtime_ms": float(m.group(1)) if m else None}


def wait_listening(p):
    for _ in range(300):
        line = p.stderr.readline()
        if "waiting for a migration" in line:
            return
    raise RuntimeError("receiver did not listen")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def downtime_part(wd, hops):
    img = os.path.join(wd, "mig.img")
    subprocess.run(["dd", "if=/dev/zero", "of=" + img, "bs=1M", "count=64",
                    "conv=fsync", "status=none"], check=True)
    io = migrate_series(wd, "blk", "qd=128 bs=4096 pattern=rand mix=1",
                        ["--disk", "direct-io,%s,raw,xvda,rw" % img], hops,
                        "io")
    idle = migrate_series(wd, "dirty", "mib=4 rate=1",
                          ["--disk", "%s,raw,xvda,rw" % img], hops, "idle")
    return io + idle


# ---- results ---------------------------------------------------------------

def pct(vals, p):
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def tail(vals):
    if not vals:
        return None
    return {"n": len(vals), "min": min(vals), "median": statistics.median(vals),
            "p90": pct(vals, 90), "max": max(vals)}


def summarize(samples, hops):
    out = {}
    for case in CASES:
        for r in RUNNERS:
            s = [x["value"] for x in samples
                 if x["case"] == case[0] and x["runner"] == r]
            out["%s | %s" % (case[0], r)] = stats.summary(s)
    for tag in ("io", "idle"):
        h = [x for x in hops if x["series"] == tag]
        out["quiesce_us | " + tag] = tail([x["quiesce_us"] for x in h])
        out["in_flight | " + tag] = tail([x["in_flight"] for x in h])
        out["downtime_ms | " + tag] = tail([x["downtime_ms"] for x in h
                                            if x["downtime_ms"] is not None])
    return out


def ratio_mmm(a, b):
    """godwit/other ratio of medians, with min/max over paired reps."""
    if not a or not b:
        return "-"
    return report.fmt_ratio(stats.median_ratio(a, b))


def fmt_tail(t, digits=2):
    if not t:
        return "-"
    return "%s / %s / %s (p90 %s)" % (
        report.fmt(float(t["min"]), digits), report.fmt(float(t["median"]),
                                                        digits),
        report.fmt(float(t["max"]), digits), report.fmt(float(t["p90"]),
                                                        digits))


def goals(summ):
    seq = [stats.median_ratio(summ["%s | godwit io_uring" % c[0]],
                              summ["%s | fio io_uring" % c[0]])
           for c in CASES if c[8] == "mbps"]
    iops = [stats.median_ratio(summ["%s | godwit io_uring" % c[0]],
                               max((summ["%s | qemu %s" % (c[0], a)]
                                    for a in ("io_uring", "threads")),
                                   key=lambda s: s["median"] if s else 0))
            for c in CASES if c[8] == "iops"]
    q = summ.get("quiesce_us | io")
    return {
        "sequential >= 90% of host fio": None if None in seq else
        min(seq) >= 0.9,
        "IOPS >= QEMU's best": None if None in iops else min(iops) >= 1.0,
        "quiesce adds <= 1 ms (p90, 128 in flight)": None if not q else
        q["p90"] <= 1000,
    }


def markdown(summ, args, g):
    rows = []
    for case in CASES:
        get = {r: summ["%s | %s" % (case[0], r)] for r in RUNNERS}
        unit = case[8]
        scale = 1 if unit == "mbps" else 1e-3
        cells = [report.fmt_mmm(get[r], scale, 1) for r in RUNNERS]
        best_q = max((get["qemu io_uring"], get["qemu threads"]),
                     key=lambda s: s["median"] if s else 0)
        rows.append([case[0], "MB/s" if unit == "mbps" else "kIOPS"] +
                    cells + [ratio_mmm(get["godwit io_uring"], best_q),
                             ratio_mmm(get["godwit io_uring"],
                                       get["fio io_uring"])])
    qrows = []
    for tag, what in (("io", "blk guest, QD128 4k random, direct I/O"),
                      ("idle", "dirty guest, idle disk")):
        qrows.append([what, fmt_tail(summ["quiesce_us | " + tag], 0),
                      fmt_tail(summ["in_flight | " + tag], 0),
                      fmt_tail(summ["downtime_ms | " + tag])])
    return ("## Disk (virtio-blk)\n\n%d rep(s); median (min-max) of the "
            "guest's figures.\n\n" % args.reps +
            report.table(["case", "unit"] + RUNNERS +
                         ["godwit/best QEMU", "godwit/fio"], rows) +
            "\n\n### Quiesce and downtime\n\n%d migrations each; min / "
            "median / max (p90).\n\n" % args.hops +
            report.table(["source guest", "quiesce at final pause (us)",
                          "requests completed by it", "downtime (ms)"],
                         qrows) +
            "\n\nGoals: " + "; ".join("%s: %s" % (k, report.goal_word(v))
                                      for k, v in g.items()) +
            "\n\nMethod: " + " ".join(__doc__.split("\n\n")[1:]).replace(
                "\n", " ") + "\n")


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--passes", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5, help="fio run time")
    p.add_argument("--hops", type=int, default=10)
    args = p.parse_args()
    if args.quick:
        args.reps, args.passes, args.seconds, args.hops = 1, 3, 1, 2
    paths.check_built("blk", "dirty")
    samples = []
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        images = prepare(wd)
        for rep in range(args.reps):
            order = RUNNERS if rep % 2 == 0 else list(reversed(RUNNERS))
            for case in CASES:
                for r in order:
                    cli.log("rep %d: %s: %s" % (rep, case[0], r))
                    samples.append(one(r, images, case, args.passes,
                                       args.seconds))
        cli.log("quiesce and downtime: %d hops each" % args.hops)
        hops = downtime_part(wd, args.hops)
        m = machine.describe(wd, load.result())
    summ = summarize(samples, hops)
    g = goals(summ)
    data = {"name": NAME, "quick": args.quick, "machine": m,
            "config": {"reps": args.reps, "passes": args.passes,
                       "fio_seconds": args.seconds, "hops": args.hops,
                       "memory_mib": MEMORY, "qemu_cpu": vmm.qemu_cpu()},
            "samples": samples, "hops": hops, "summary": summ, "goals": g}
    report.write(NAME, data, markdown(summ, args, g), args.out)


if __name__ == "__main__":
    main()

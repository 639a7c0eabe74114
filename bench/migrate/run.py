#!/usr/bin/python3
"""bench/migrate: live migration over loopback, godwit vs. QEMU.

Scenarios (the dirty guest; RAM size, what it does while migrating):
  1g-idle     1 GiB, 900 MiB of it written once, then ~1 MiB/s
  1g-hot      1 GiB, 256 MiB rewritten at full speed
  1g-100      1 GiB, 256 MiB rewritten at about 100 MiB/s
  4g-idle     4 GiB, 3800 MiB written once, then ~1 MiB/s
Both VMMs migrate between two processes on 127.0.0.1 in the same run,
with unlimited bandwidth and the same downtime limit (300 ms, QEMU's
default): godwit run -> godwit migrate-receive (QMP `migrate`, figures
from its MIGRATION event); QEMU -> QEMU -incoming tcp: (max-bandwidth
raised from its 128 MiB/s default as libvirt does, figures from
query-migrate). Each run ends only after the destination's guest
printed a new sweep line without CORRUPT: every migration is checked.

The two VMMs take turns going first, repetition by repetition: on this
host, memory another process just released is cheaper to touch again.
Figures: total time and downtime as each VMM reports them (godwit:
source pause to destination resume, from the handover's timestamps;
QEMU: its source-side downtime), bytes sent, pre-copy rounds. The
machine's own limit is measured in the same run: 1 GiB of memory pushed
through a loopback TCP socket into another 1 GiB buffer.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, machine, paths, proc, report, stats, vmm  # noqa: E402

NAME = "migrate"
MIB = 1 << 20
DOWNTIME_MS = 300
SCENARIOS = {
    "1g-idle": (1024, "mib=900 rate=1 fill=1", 1, 0.0),
    "1g-hot": (1024, "mib=256", 2, 0.5),
    "1g-100": (1024, "mib=256 rate=100 fill=1", 1, 1.0),
    "4g-idle": (4096, "mib=3800 rate=1 fill=1", 1, 0.0),
}
QUICK = ["1g-idle", "1g-hot"]
LONG = 900
QEMU_CAP_S = 120  # QEMU without auto-converge may never finish a hot guest


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def loopback_limit(nbytes=1 << 30, chunk=4 * MIB):
    """MB/s of memory through a loopback socket, memory to memory."""
    src = bytearray(os.urandom(chunk)) * (nbytes // chunk)
    dst = bytearray(nbytes)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def rx():
        c, _ = srv.accept()
        view, got = memoryview(dst), 0
        while got < nbytes:
            n = c.recv_into(view[got:got + chunk])
            if not n:
                break
            got += n
        c.close()

    t = threading.Thread(target=rx)
    t.start()
    s = socket.create_connection(srv.getsockname())
    start = proc.now()
    view = memoryview(src)
    for off in range(0, nbytes, chunk):
        s.sendall(view[off:off + chunk])
    s.close()
    t.join()
    srv.close()
    return stats.mb_per_s(nbytes, proc.now() - start)


def wait_ready(vm, sweep, extra, what):
    """The guest completed sweep `sweep` (it prints only its latest sweep,
    ten times a second, so a fast guest may skip numbers)."""
    start = 0
    while True:
        line = vm.proc.wait_line(r"^dirty: sweep \d+$", LONG, start=start)
        if int(line.text.split()[-1]) >= sweep:
            break
        start = line.index + 1
    time.sleep(extra)
    vm.check_guest(what)


def destination_runs(vm, sc, what):
    """The destination's guest runs, uncorrupted: a new sweep line, or for
    the idle scenarios (a sweep at 1 MiB/s takes minutes) the VM running
    and a second without a CORRUPT line."""
    if sc.endswith("idle"):
        vm.connect()
        deadline = proc.now() + 30  # QEMU's side may still be loading
        while vm.qmp.status() != "running":
            if proc.now() > deadline:
                raise RuntimeError("%s: VM not running" % what)
            time.sleep(0.01)
        time.sleep(1.0)
    else:
        vm.proc.wait_line(r"^dirty: sweep \d+$", 120, start=vm.proc.nlines())
    vm.check_guest(what)


def run_godwit(sc, wd, tag):
    mem, cmdline, sweep, extra = SCENARIOS[sc]
    port = free_port()
    src = vmm.godwit_run(paths.guest("dirty"), cmdline, mem,
                         os.path.join(wd, "gs-%s.qmp" % tag), name="godwit-src")
    dst = vmm.godwit_receive("127.0.0.1:%d" % port,
                             os.path.join(wd, "gd-%s.qmp" % tag))
    try:
        wait_ready(src, sweep, extra, "godwit source")
        dst.proc.wait_line(r"waiting for a migration", 60, stream="err")
        src.connect()
        t0 = proc.now()
        src.qmp.execute("migrate", {"uri": "127.0.0.1:%d" % port,
                                    "downtime-ms": DOWNTIME_MS})
        ev = src.qmp.wait_event("MIGRATION",
                                lambda d: d.get("status") != "active", LONG)
        wall = proc.now() - t0
        d = ev["data"]
        if d.get("status") != "completed":
            raise RuntimeError("godwit migration %s: %s" % (d.get("status"),
                                                            d.get("error")))
        destination_runs(dst, sc, "godwit destination")
        return {"total_s": d["total-time-ms"] / 1e3, "wall_s": wall,
                "downtime_s": d["downtime-ms"] / 1e3, "bytes": d["bytes"],
                "rounds": d["rounds"]}
    finally:
        src.close()
        dst.quit()


def run_qemu(sc, wd, tag):
    mem, cmdline, sweep, extra = SCENARIOS[sc]
    port = free_port()
    kernel = paths.guest("dirty")
    src = vmm.qemu_run(kernel, cmdline, mem, os.path.join(wd, "qs-%s.qmp" % tag),
                       name="qemu-src")
    dst = vmm.qemu_run(kernel, cmdline, mem, os.path.join(wd, "qd-%s.qmp" % tag),
                       incoming="tcp:127.0.0.1:%d" % port, name="qemu-dst")
    try:
        wait_ready(src, sweep, extra, "QEMU source")
        src.connect()
        dst.connect()
        src.qmp.execute("migrate-set-parameters",
                        {"max-bandwidth": 1 << 40, "downtime-limit": DOWNTIME_MS})
        t0 = proc.now()
        src.qmp.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        q = vmm.qemu_wait_migration(src, 0.005, QEMU_CAP_S)
        wall = proc.now() - t0
        ram = q.get("ram", {})
        if q.get("status") not in vmm.QEMU_MIGRATION_OVER:
            src.qmp.execute("migrate_cancel")
            cli.log("%s qemu: not finished after %d s (%d rounds): cancelled"
                    % (sc, QEMU_CAP_S, ram.get("dirty-sync-count", 0)))
            return {"total_s": None, "wall_s": wall,
                    "downtime_s": None, "bytes": ram.get("transferred", 0),
                    "rounds": ram.get("dirty-sync-count", 0),
                    "unfinished": True}
        if q["status"] != "completed":
            raise RuntimeError("QEMU migration %s" % q["status"])
        destination_runs(dst, sc, "QEMU destination")
        return {"total_s": q["total-time"] / 1e3, "wall_s": wall,
                "downtime_s": q.get("downtime", 0) / 1e3,
                "bytes": ram.get("transferred", 0),
                "rounds": ram.get("dirty-sync-count", 0)}
    finally:
        src.close()
        dst.quit()


def summarize(samples):
    out = {}
    for kind in ("godwit", "qemu"):
        runs = samples[kind]
        out[kind] = {k: stats.summary([r[k] for r in runs])
                     for k in ("total_s", "wall_s", "downtime_s", "bytes", "rounds")}
        out[kind]["unfinished"] = sum(1 for r in runs if r.get("unfinished"))
    out["total_ratio"] = stats.median_ratio(out["godwit"]["total_s"],
                                            out["qemu"]["total_s"])
    if out["qemu"]["unfinished"] and not out["godwit"]["unfinished"]:
        # QEMU never finished: godwit at least QEMU_CAP_S / total faster.
        out["total_ratio_bound"] = stats.ratio(
            out["godwit"]["total_s"]["median"], QEMU_CAP_S)
    out["downtime_ratio"] = stats.median_ratio(out["godwit"]["downtime_s"],
                                               out["qemu"]["downtime_s"])
    return out


def cell(s, scale=1.0, digits=1, unfinished=0):
    if unfinished and not s:
        return "not finished in %d s" % QEMU_CAP_S
    return report.fmt_mmm(s, scale, digits)


def ratio_cell(summ):
    if summ.get("total_ratio_bound") is not None:
        return "< %.3f" % summ["total_ratio_bound"]
    return report.fmt_ratio(summ["total_ratio"])


def markdown(data):
    rows = []
    for sc, res in data["scenarios"].items():
        g, q = res["summary"]["godwit"], res["summary"]["qemu"]
        rows.append([sc, cell(g["total_s"], 1e3),
                     cell(q["total_s"], 1e3, 1, q["unfinished"]),
                     ratio_cell(res["summary"]),
                     cell(g["downtime_s"], 1e3, 2),
                     cell(q["downtime_s"], 1e3, 2, q["unfinished"]),
                     cell(g["bytes"], 1 / MIB), cell(q["bytes"], 1 / MIB),
                     cell(g["rounds"], 1, 0), cell(q["rounds"], 1, 0)])
    lim = data["summary"]["loopback_mb_s"]
    body = ["## Live migration over loopback", "",
            "%d rep(s) per scenario; median (min-max). Downtime limit %d ms "
            "for both; bandwidth unlimited." % (data["config"]["reps"], DOWNTIME_MS), "",
            report.table(["scenario", "godwit total ms", "QEMU total ms",
                          "total godwit/QEMU", "godwit downtime ms",
                          "QEMU downtime ms", "godwit MiB sent",
                          "QEMU MiB sent", "godwit rounds", "QEMU rounds"], rows),
            "", "Machine limit, measured in the same run: %s MB/s of memory "
            "through a loopback TCP socket (one sender, one receiver thread)."
            % report.fmt(lim, 0), ""]
    body.append(goals(data))
    body += ["", "Method: " + " ".join(__doc__.split("\n\n")[1:]).replace("\n", " ")]
    return "\n".join(body)


def goals(data):
    words = []
    idle = [v for k, v in data["scenarios"].items() if k.endswith("idle")]
    dirty = [v for k, v in data["scenarios"].items() if not k.endswith("idle")]
    if idle:
        worst = max(v["summary"]["godwit"]["downtime_s"]["median"] for v in idle)
        words.append("downtime under 5 ms for idle guests: **%s** (worst "
                     "median %.2f ms)" % (report.goal_word(worst < 0.005), worst * 1e3))
    if dirty:
        worst = max(v["summary"]["godwit"]["downtime_s"]["median"] for v in dirty)
        words.append("within the %d ms limit for dirty ones: **%s** (worst "
                     "median %.1f ms)" % (DOWNTIME_MS,
                                          report.goal_word(worst <= DOWNTIME_MS / 1e3),
                                          worst * 1e3))
    ratios = [v["summary"]["total_ratio"] if v["summary"].get("total_ratio_bound") is None
              else v["summary"]["total_ratio_bound"]
              for v in data["scenarios"].values()]
    if ratios and None not in ratios:
        words.append("total time at least 2x faster than QEMU everywhere: "
                     "**%s** (ratios %s)" % (report.goal_word(max(ratios) <= 0.5),
                                             ", ".join("%.2f" % r for r in ratios)))
    return "Goals: " + "; ".join(words) + "."


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--scenarios", help="comma list of %s" % ",".join(SCENARIOS))
    p.add_argument("--reps", type=int, default=0, help="repetitions (default 3)")
    args = p.parse_args()
    names = (args.scenarios.split(",") if args.scenarios else
             QUICK if args.quick else list(SCENARIOS))
    reps = args.reps or (1 if args.quick else 3)
    paths.check_built("dirty")
    cpu = vmm.qemu_cpu()
    t_start = proc.now()
    results = {}
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        lim = loopback_limit()
        cli.log("loopback: %.0f MB/s" % lim)
        for sc in names:
            samples = {"godwit": [], "qemu": []}
            for rep in range(reps):
                # Alternate who goes first: memory the host backed for one
                # VMM's run is cheaper for the next one to touch.
                order = [("godwit", run_godwit), ("qemu", run_qemu)]
                for kind, fn in (order if rep % 2 == 0 else order[::-1]):
                    r = fn(sc, wd, "%s-%d" % (sc, rep))
                    if not r.get("unfinished"):
                        cli.log("%s %s rep %d: total %.1f ms, downtime %.2f ms, "
                                "%.0f MiB, %d rounds" % (sc, kind, rep,
                                                         r["total_s"] * 1e3,
                                                         r["downtime_s"] * 1e3,
                                                         r["bytes"] / MIB,
                                                         r["rounds"]))
                    samples[kind].append(r)
            results[sc] = {"samples": samples, "summary": summarize(samples)}
    data = {"bench": NAME, "quick": args.quick,
            "machine": machine.describe(wd, load.result()),
            "config": {"reps": reps, "downtime_limit_ms": DOWNTIME_MS,
                       "qemu_cpu": cpu, "qemu_max_bandwidth": 1 << 40,
                       "scenarios": {k: SCENARIOS[k] for k in names}},
            "scenarios": results,
            "summary": {"loopback_mb_s": lim, "wall_time_s": proc.now() - t_start}}
    report.write(NAME, data, markdown(data), args.out)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""bench/save-restore: save to a file and restore, godwit vs. QEMU vs. dd.

For each case (guest RAM size x share of RAM the dirty guest touches)
and each VMM, in the same run, on the same disk:

  prepare  run dirty.elf (mib = 10% or 95% of RAM, the rest is the
           guest's own), wait for "dirty: sweep 2": every page of the
           area has been written at least once.
  save     godwit: QMP `save` {"file"} (the VM pauses, writes, fdatasyncs,
           renames, then exits); timed from sending the command to its
           reply. godwit -c: `save` {"continue": true}, no sync, the VM
           resumes; done on the warm-restored VM before it quits, so the
           two godwit saves do not follow each other.
           QEMU: max-bandwidth raised to 1 TiB/s (its default caps
           migration at 128 MiB/s), then `stop` + `migrate`
           "exec:cat > FILE", `query-migrate` polled every 2 ms until
           completed; timed from `stop` to the completed reply. QEMU does
           not sync, so the bench then fdatasyncs the file and reports
           both the unsynced time and the time including that sync.
  restore  the save file is evicted from the page cache (cold) or left in
           it (warm). godwit: `godwit restore FILE`; QEMU: `-incoming
           "exec:cat FILE"`, `query-status` polled until it leaves
           "inmigrate", then `cont`. Two times from process start (just
           before fork): until QMP `query-status` first says "running",
           and until the guest's first new serial line. The second
           includes finishing the sweep the guest was in when saved and
           waiting for its next 10 Hz print, so it is up to 100 ms (plus a
           sweep) later than the guest actually runs.
  lazy     godwit restore --lazy (cold and warm): the VM runs once its
           state is in, memory comes from the file as it is touched.
  speed    the guest runs with stats=1 (a sweep line every tick, 100 a
           second); its speed (sweeps/s) is measured for 1 s before the
           save, and after each restore the time from "running" until
           it sweeps at 90% of that again (lib/speed.py), for godwit,
           godwit --lazy and QEMU alike.
  dd       physical reference, same byte count as godwit's file:
           write with conv=fdatasync (and without), cold read.

Goals: godwit's (synced) save >= 80% of dd's MB/s; restore of a 1 GiB
guest under 50 ms plus the cold read of its file (dd read time); lazy
restore of a 1 GiB guest to running in at most 10 ms; the guest back at
90% speed within 50 ms of running.
MB = 10^6 bytes; MiB = 2^20.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, disk, machine, paths, proc, report, speed, stats, vmm  # noqa: E402

NAME = "save-restore"
MIB = 1 << 20
DEFAULT_CASES = "256:10,256:100,1024:10,1024:100,4096:10,4096:100"
QUICK_CASES = "256:10,256:100"
SAVE_GOAL = 0.8
RESTORE_GOAL_S = 0.050
LAZY_GOAL_S = 0.010
BACK_GOAL_S = 0.050
BASELINE_S = 1.0
POLL_S = 0.002
SETTLE_S = 3.0  # see lib/disk.py settle(); --settle overrides
LONG = 900  # seconds: populating 4 GiB under software KVM takes a while


def guest_mib(memory_mib, pct):
    """The dirty area: 10% of RAM, or 95% for "100%" (the guest needs the rest)."""
    return memory_mib * (95 if pct >= 100 else pct) // 100


def last_sweep(vm):
    lines = vm.proc.lines_matching(r"^dirty: sweep \d+")
    return int(lines[-1].text.split()[-1]) if lines else None


def cmdline(case):
    return "mib=%d stats=1" % case["guest_mib"]


def prepare(kind, case, wd, tag):
    vm = vmm.start(kind, paths.guest("dirty"), cmdline(case),
                   case["memory_mib"], os.path.join(wd, "%s-%s.qmp" % (kind, tag)))
    t0 = vm.proc.t_spawn
    try:
        ready = vm.proc.wait_line(r"^dirty: ready", 120)
        vm.proc.wait_line(r"^dirty: sweep ([2-9]|\d\d+)$", LONG)
        vm.connect()
        if kind == "qemu":
            vm.qmp.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
    except Exception:
        vm.close()
        raise
    cli.log("  %s: guest ready in %.2f s, area swept after %.2f s" % (
        kind, ready.t - t0, proc.now() - t0))
    t1 = proc.now()
    time.sleep(BASELINE_S)
    vm.speed_before = speed.rate(speed.points(vm.proc.out, t1, proc.now()))
    return vm


def godwit_save(vm, path, keep_running):
    disk.settle(SETTLE_S)
    args = {"file": path}
    if keep_running:
        args["continue"] = True
    t0 = proc.now()
    ret = vm.qmp.execute("save", args, timeout=LONG)
    dt = proc.now() - t0
    size = disk.file_size(path)
    out = {"seconds": dt, "bytes": size, "synced": not keep_running,
           "godwit_reports": ret}
    if not keep_running:
        out["exit_status"] = vm.proc.wait(60)
    return out


def qemu_save(vm, path):
    disk.settle(SETTLE_S)
    uri = "exec:cat > %s" % path
    t0 = proc.now()
    vm.qmp.execute("stop")
    vm.qmp.execute("migrate", {"uri": uri})
    r = vmm.qemu_wait_migration(vm, POLL_S)
    dt = proc.now() - t0
    if r["status"] != "completed":
        raise RuntimeError("QEMU migrate to file: %s %s" % (r["status"],
                                                            r.get("error-desc")))
    t_sync = disk.fdatasync_file(path)
    return {"seconds": dt, "fdatasync_seconds": t_sync,
            "seconds_synced": dt + t_sync, "bytes": disk.file_size(path),
            "synced": False, "uri": uri, "qemu_reports": {
                k: r.get(k) for k in ("total-time", "downtime", "setup-time")},
            "ram": r.get("ram")}


def timed_restore(kind, case, path, wd, tag, cold, then=None, baseline=None,
                  lazy=False):
    """Restore path; returns the sample dict.

    then: optional callable(vm) run on the restored VM before it quits.
    baseline: the guest's sweeps/s before the save, for back_at_90_s.
    """
    cached = disk.evict(path) if cold else disk.cached_bytes(path)
    sock = os.path.join(wd, "%s-%s.qmp" % (kind, tag))
    if kind == "godwit":
        vm = vmm.godwit_restore(path, sock, extra=["--lazy"] if lazy else [])
    else:
        vm = vmm.qemu_run(paths.guest("dirty"), cmdline(case),
                          case["memory_mib"], sock,
                          incoming="exec:cat %s" % path)
    t0 = vm.proc.t_spawn
    out = {"cold": cold, "file_cached_bytes_before": cached}
    try:
        vm.connect(LONG)
        out["qmp_connect_s"] = vm.t_qmp - t0
        while True:
            st = vm.qmp.status()
            if st != "inmigrate":
                break
            time.sleep(POLL_S)
        out["status_after_load"] = st
        if kind == "qemu":
            out["loaded_s"] = proc.now() - t0
            vm.qmp.execute("cont")
            st = vm.qmp.status()
        if st != "running":
            raise RuntimeError("%s restore: status %s, not running" % (kind, st))
        t_run = proc.now()
        out["running_s"] = t_run - t0
        first = vm.proc.first_line(LONG)
        out["first_line_s"] = first.t - t0
        out["first_line"] = first.text
        second = vm.proc.wait_line(r"^dirty: sweep", LONG, start=first.index + 1)
        out["second_line_s"] = second.t - t0
        if baseline:
            time.sleep(1.5)
            out["speed_before"] = baseline
            out["back_at_90_s"] = speed.time_to_fraction(
                speed.points(vm.proc.out), t_run, baseline)
        vm.check_guest("%s restore" % kind)
        if kind == "godwit" and not lazy:
            m = vm.proc.lines_matching(r"restored .* in \d+ ms", stream="err")
            if m:
                out["godwit_reports"] = m[0].text
                out["godwit_load_s"] = int(
                    re.search(r"in (\d+) ms", m[0].text).group(1)) / 1e3
        if then:
            then(vm)
        out["quit_status"] = vm.quit()
    finally:
        vm.close()
    return out


def run_godwit(case, wd, rep):
    tag = "%d-%d-%d" % (case["memory_mib"], case["pct"], rep)
    path = os.path.join(wd, "godwit-%s.sav" % tag)
    res = {}
    vm = prepare("godwit", case, wd, tag)
    base = vm.speed_before
    try:
        before = last_sweep(vm)
        res["save"] = godwit_save(vm, path, False)
        res["save"]["last_sweep_printed"] = before
    finally:
        vm.close()
    if res["save"].get("exit_status") != 0:
        raise RuntimeError("godwit save: VM exit status %s" %
                           res["save"].get("exit_status"))

    def save_nosync(vm):
        # -c save of the restored guest (all of its area is resident): not
        # right after the synced save, so that neither save follows the
        # other's freshly freed page cache and disk blocks.
        try:
            res["save_nosync"] = godwit_save(vm, path + ".c", True)
        finally:
            proc.remove(path + ".c")

    try:
        res["restore_cold"] = timed_restore("godwit", case, path, wd, tag + "c",
                                            True, baseline=base)
        res["restore_warm"] = timed_restore("godwit", case, path, wd, tag + "w",
                                            False, then=save_nosync,
                                            baseline=base)
        res["restore_lazy_cold"] = timed_restore(
            "godwit", case, path, wd, tag + "lc", True, baseline=base,
            lazy=True)
        res["restore_lazy_warm"] = timed_restore(
            "godwit", case, path, wd, tag + "lw", False, baseline=base,
            lazy=True)
        res["file_bytes"] = disk.file_size(path)
        disk.evict(path)
        res["read_cold"] = disk.dd_read(path)
    finally:
        proc.remove(path)
    return res


def run_qemu(case, wd, rep):
    tag = "%d-%d-%d" % (case["memory_mib"], case["pct"], rep)
    path = os.path.join(wd, "qemu-%s.sav" % tag)
    res = {}
    vm = prepare("qemu", case, wd, tag)
    base = vm.speed_before
    try:
        res["save"] = qemu_save(vm, path)
        res["save"]["last_sweep_printed"] = last_sweep(vm)
        vm.quit()
    finally:
        vm.close()
    try:
        res["restore_cold"] = timed_restore("qemu", case, path, wd, tag + "c",
                                            True, baseline=base)
        res["restore_warm"] = timed_restore("qemu", case, path, wd, tag + "w",
                                            False, baseline=base)
        res["file_bytes"] = disk.file_size(path)
    finally:
        proc.remove(path)
    return res


def run_dd(nbytes, wd, rep):
    path = os.path.join(wd, "dd-%d.bin" % rep)
    res = {}
    try:
        disk.settle(SETTLE_S)
        res["write_sync"] = disk.dd_write(path, nbytes, fdatasync=True)
        proc.remove(path)
        disk.settle(SETTLE_S)
        res["write_nosync"] = disk.dd_write(path, nbytes, fdatasync=False)
        disk.evict(path)
        res["read_cold"] = disk.dd_read(path)
    finally:
        proc.remove(path)
        os.sync()
    return res


def run_case(case, wd, reps, case_no):
    samples = {"godwit": [], "qemu": [], "dd": []}
    for rep in range(reps):
        order = ("godwit", "qemu") if (case_no + rep) % 2 == 0 else ("qemu", "godwit")
        for kind in order:
            cli.log("case %d MiB, %d%% touched (mib=%d): %s, rep %d" % (
                case["memory_mib"], case["pct"], case["guest_mib"], kind, rep))
            s = run_godwit(case, wd, rep) if kind == "godwit" else run_qemu(case, wd, rep)
            samples[kind].append(s)
            log_sample(kind, s)
        nbytes = samples["godwit"][-1]["save"]["bytes"]
        samples["dd"].append(run_dd(nbytes, wd, rep))
        d = samples["dd"][-1]
        cli.log("  dd: write+fdatasync %.0f MB/s, write %.0f MB/s, cold read %.0f MB/s" % (
            stats.mb_per_s(d["write_sync"]["bytes"], d["write_sync"]["seconds"]),
            stats.mb_per_s(d["write_nosync"]["bytes"], d["write_nosync"]["seconds"]),
            stats.mb_per_s(d["read_cold"]["bytes"], d["read_cold"]["seconds"])))
    return samples


def log_sample(kind, s):
    sv = s["save"]
    syn = sv.get("seconds_synced", sv["seconds"])
    cli.log("  %s: save %.0f MiB in %.3f s (synced %.3f s); restore cold running "
            "%.3f s, first line %.3f s; warm running %.3f s" % (
                kind, sv["bytes"] / MIB, sv["seconds"], syn,
                s["restore_cold"]["running_s"], s["restore_cold"]["first_line_s"],
                s["restore_warm"]["running_s"]))


def summarize_case(case, smp):
    g, q, d = smp["godwit"], smp["qemu"], smp["dd"]
    S = stats.summary
    rate = lambda xs, key: S([stats.mb_per_s(x["bytes"], x[key]) for x in xs])
    out = {
        "godwit_file_bytes": S([x["save"]["bytes"] for x in g]),
        "qemu_file_bytes": S([x["save"]["bytes"] for x in q]),
        "godwit_save_s": S([x["save"]["seconds"] for x in g]),
        "godwit_save_mbps": rate([x["save"] for x in g], "seconds"),
        "godwit_save_nosync_s": S([x["save_nosync"]["seconds"] for x in g]),
        "godwit_save_nosync_mbps": rate([x["save_nosync"] for x in g], "seconds"),
        "qemu_save_s": S([x["save"]["seconds"] for x in q]),
        "qemu_save_mbps": rate([x["save"] for x in q], "seconds"),
        "qemu_save_synced_s": S([x["save"]["seconds_synced"] for x in q]),
        "qemu_save_synced_mbps": rate([x["save"] for x in q], "seconds_synced"),
        "dd_write_sync_mbps": rate([x["write_sync"] for x in d], "seconds"),
        "dd_write_nosync_mbps": rate([x["write_nosync"] for x in d], "seconds"),
        "dd_read_cold_s": S([x["read_cold"]["seconds"] for x in d]),
        "godwit_file_read_cold_s": S([x["read_cold"]["seconds"] for x in g]),
        "guest_ram_save_mbps_godwit": S([case["memory_mib"] * MIB / x["save"]["seconds"] / 1e6
                                         for x in g]),
    }
    for kind, xs in (("godwit", g), ("qemu", q), ("godwit_lazy", g)):
        for temp in ("cold", "warm"):
            key = "restore_lazy_" if kind == "godwit_lazy" else "restore_"
            r = [x[key + temp] for x in xs]
            out["%s_restore_%s_running_s" % (kind, temp)] = S([x["running_s"] for x in r])
            out["%s_restore_%s_first_line_s" % (kind, temp)] = S([x["first_line_s"] for x in r])
            out["%s_restore_%s_back90_s" % (kind, temp)] = S(
                [x.get("back_at_90_s") for x in r])
            out["%s_restore_%s_back90_missing" % (kind, temp)] = sum(
                1 for x in r if x.get("speed_before") and
                x.get("back_at_90_s") is None)
    out["godwit_restore_cold_load_s"] = S([x["restore_cold"].get("godwit_load_s") for x in g])
    out["godwit_restore_warm_load_s"] = S([x["restore_warm"].get("godwit_load_s") for x in g])
    mr = stats.median_ratio
    out["ratios_godwit_over_qemu"] = {
        "save_synced_time": mr(out["godwit_save_s"], out["qemu_save_synced_s"]),
        "save_nosync_time": mr(out["godwit_save_nosync_s"], out["qemu_save_s"]),
        "file_size": mr(out["godwit_file_bytes"], out["qemu_file_bytes"]),
    }
    for temp in ("cold", "warm"):
        for what in ("running", "first_line"):
            k = "restore_%s_%s" % (temp, what)
            out["ratios_godwit_over_qemu"][k] = mr(out["godwit_%s_s" % k],
                                                   out["qemu_%s_s" % k])
    gm, dm = out["godwit_save_mbps"], out["dd_write_sync_mbps"]
    share = stats.ratio(gm and gm["median"], dm and dm["median"])
    budget = out["godwit_file_read_cold_s"]["median"] + RESTORE_GOAL_S
    run = out["godwit_restore_cold_running_s"]["median"]
    lazy = out["godwit_lazy_restore_cold_running_s"]
    backs = [out["%s_restore_%s_back90_s" % (k, t)] for k in
             ("godwit", "godwit_lazy") for t in ("cold", "warm")]
    missing = sum(out["%s_restore_%s_back90_missing" % (k, t)] for k in
                  ("godwit", "godwit_lazy") for t in ("cold", "warm"))
    worst = max((b["max"] for b in backs if b), default=None)
    out["goals"] = {
        "lazy_running_s": lazy and lazy["max"],
        "lazy_within_10ms": None if not lazy else lazy["max"] <= LAZY_GOAL_S,
        "back90_worst_s": worst,
        "back90_missing": missing,
        "back90_within_50ms": None if worst is None else
        (worst <= BACK_GOAL_S and not missing),
        "save_share_of_dd": share,
        "save_at_least_80pct_of_dd": None if share is None else share >= SAVE_GOAL,
        "restore_budget_s": budget,
        "restore_within_budget": run <= budget,
        "restore_goal_applies": case["memory_mib"] == 1024,
    }
    return out


def markdown(data):
    cfg = data["config"]
    rows_save, rows_nosync, rows_restore, rows_warm = [], [], [], []
    rows_speed = []
    mmm = report.fmt_mmm
    for c in data["cases"]:
        s, r = c["summary"], c["summary"]["ratios_godwit_over_qemu"]
        label = "%d MiB, %d%% (%d MiB)" % (c["memory_mib"], c["pct"], c["guest_mib"])
        rows_save.append((
            label, mmm(s["godwit_file_bytes"], 1 / MIB, 0),
            mmm(s["qemu_file_bytes"], 1 / MIB, 0),
            mmm(s["godwit_save_s"], 1e3, 0), mmm(s["godwit_save_mbps"], 1, 0),
            mmm(s["qemu_save_synced_s"], 1e3, 0), mmm(s["qemu_save_synced_mbps"], 1, 0),
            mmm(s["dd_write_sync_mbps"], 1, 0),
            report.fmt(100 * s["goals"]["save_share_of_dd"], 0, "%")
            if s["goals"]["save_share_of_dd"] is not None else "-",
            report.fmt_ratio(r["save_synced_time"])))
        rows_nosync.append((
            label, mmm(s["godwit_save_nosync_s"], 1e3, 0),
            mmm(s["godwit_save_nosync_mbps"], 1, 0),
            mmm(s["qemu_save_s"], 1e3, 0), mmm(s["qemu_save_mbps"], 1, 0),
            mmm(s["dd_write_nosync_mbps"], 1, 0), report.fmt_ratio(r["save_nosync_time"])))
        g = s["goals"]
        rows_restore.append((
            label, mmm(s["godwit_restore_cold_running_s"], 1e3, 0),
            mmm(s["godwit_restore_cold_load_s"], 1e3, 0),
            mmm(s["qemu_restore_cold_running_s"], 1e3, 0),
            report.fmt_ratio(r["restore_cold_running"]),
            mmm(s["godwit_restore_cold_first_line_s"], 1e3, 0),
            mmm(s["qemu_restore_cold_first_line_s"], 1e3, 0),
            report.fmt_ratio(r["restore_cold_first_line"]),
            mmm(s["godwit_file_read_cold_s"], 1e3, 0),
            "%s (%s ms)" % ("yes" if g["restore_within_budget"] else "**no**",
                            report.fmt(g["restore_budget_s"] * 1e3, 0))))
        rows_warm.append((
            label, mmm(s["godwit_restore_warm_running_s"], 1e3, 0),
            mmm(s["godwit_restore_warm_load_s"], 1e3, 0),
            mmm(s["qemu_restore_warm_running_s"], 1e3, 0),
            report.fmt_ratio(r["restore_warm_running"]),
            mmm(s["godwit_restore_warm_first_line_s"], 1e3, 0),
            mmm(s["qemu_restore_warm_first_line_s"], 1e3, 0)))
        for temp in ("cold", "warm"):
            row = [label, temp]
            for kind in ("godwit", "godwit_lazy", "qemu"):
                k = "%s_restore_%s_" % (kind, temp)
                miss = s.get(k + "back90_missing", 0)
                row += [mmm(s[k + "running_s"], 1e3, 0),
                        mmm(s[k + "back90_s"], 1e3, 0) +
                        (" (%d never)" % miss if miss else "")]
            rows_speed.append(row)
    t_save = report.table(
        ["Guest RAM, touched (dirty mib)", "godwit file MiB", "QEMU file MiB",
         "godwit save ms", "godwit MB/s", "QEMU save+sync ms", "QEMU MB/s",
         "dd fdatasync MB/s", "godwit % of dd", "godwit/QEMU time"], rows_save)
    t_nosync = report.table(
        ["Guest RAM, touched", "godwit -c ms", "godwit -c MB/s", "QEMU ms",
         "QEMU MB/s", "dd (no sync) MB/s", "godwit/QEMU time"], rows_nosync)
    t_restore = report.table(
        ["Guest RAM, touched", "godwit -> running ms", "godwit's own load ms",
         "QEMU -> running ms", "godwit/QEMU", "godwit -> first line ms",
         "QEMU -> first line ms", "godwit/QEMU", "dd cold read of file ms",
         "godwit within 50 ms + read?"], rows_restore)
    t_warm = report.table(
        ["Guest RAM, touched", "godwit -> running ms", "godwit's own load ms",
         "QEMU -> running ms", "godwit/QEMU", "godwit -> first line ms",
         "QEMU -> first line ms"], rows_warm)
    t_speed = report.table(
        ["Guest RAM, touched", "page cache", "godwit -> running ms",
         "then 90% speed after ms", "godwit --lazy -> running ms",
         "then 90% speed after ms", "QEMU -> running ms",
         "then 90% speed after ms"], rows_speed)
    goals = []
    for c in data["cases"]:
        g = c["summary"]["goals"]
        goals.append("%d MiB/%d%%: save %s of dd (%s)%s" % (
            c["memory_mib"], c["pct"],
            report.fmt(100 * g["save_share_of_dd"], 0, "%") if g["save_share_of_dd"] else "-",
            report.goal_word(g["save_at_least_80pct_of_dd"]),
            "; restore within 50 ms + cold read: %s" %
            report.goal_word(g["restore_within_budget"]) if g["restore_goal_applies"] else ""))
        if g["restore_goal_applies"]:
            goals.append("%d MiB/%d%%: lazy restore to running in at most "
                         "10 ms: %s (max %s ms)" % (
                             c["memory_mib"], c["pct"],
                             report.goal_word(g["lazy_within_10ms"]),
                             report.fmt(g["lazy_running_s"] and
                                        g["lazy_running_s"] * 1e3, 1)))
        goals.append("%d MiB/%d%%: back at 90%% speed within 50 ms of "
                     "running (godwit, eager and lazy): %s (worst %s ms%s)" % (
                         c["memory_mib"], c["pct"],
                         report.goal_word(g["back90_within_50ms"]),
                         report.fmt(g["back90_worst_s"] and
                                    g["back90_worst_s"] * 1e3, 0),
                         ", %d never within 1.5 s" % g["back90_missing"]
                         if g["back90_missing"] else ""))
    method = (
        "Method: %s. Each case runs godwit, QEMU (`-M microvm -cpu %s`, "
        "max-bandwidth raised to 1 TiB/s, `migrate exec:cat > FILE`, "
        "`-incoming exec:cat FILE` + `cont`) and dd one after the other in "
        "the same run (repetitions per case: %s; medians shown, min-max in "
        "parentheses), alternating which VMM goes first. "
        "The guest is `dirty.elf` with mib = 10%% or 95%% of RAM (\"100%%\") "
        "and stats=1 (a sweep line every tick), saved once it has swept its "
        "area twice and its speed was measured for 1 s. Speed after a "
        "restore: the time from \"running\" until the first 40 ms in which "
        "it sweeps at 90%% of that speed again. Save time: godwit from the "
        "QMP `save` command to its reply (pause, write, fdatasync, rename); "
        "QEMU from `stop` to `query-migrate` completed (polled every 2 ms) "
        "plus an fdatasync of the file by the bench; dd writes the same "
        "number of bytes as godwit's file with conv=fdatasync. MB/s = file "
        "bytes / time. Restore time: process start (just before fork) to the "
        "first QMP `query-status` answering \"running\" (godwit resumes by "
        "itself; QEMU needs `cont` after leaving \"inmigrate\"), and to the "
        "guest's first new serial line (printed every tick: within ~10 ms of "
        "the guest running). \"godwit's "
        "own load\" is what godwit logs for reading the stream. Cold: the "
        "file was evicted from the page cache (fdatasync + "
        "posix_fadvise DONTNEED, checked with fincore; no global "
        "drop_caches, so both VMMs' binaries stay cached); warm: the file "
        "was just read by the cold restore. Every timed write (each save, "
        "each dd) starts after `sync` and a %.0f s settle, so that all of "
        "them write into blocks whose discard has gone through (ext4 "
        "`-o discard` on a virtual disk here: rewriting just-freed blocks "
        "is ~3x faster, which would otherwise favour whoever writes right "
        "after a delete). Files live in %s." % (
            data["summary"]["cases_note"], cfg["qemu_cpu"], cfg["reps"],
            cfg["settle_before_timed_writes_s"], data["machine"].get("workdir_fs")))
    return (
        "## Save and restore\n\n### Save (synced: godwit's default)\n\n%s\n\n"
        "### Save without sync (godwit -c; QEMU's plain migrate)\n\n%s\n\n"
        "### Restore, save file not in page cache (cold)\n\n%s\n\n"
        "### Restore, save file in page cache (warm)\n\n%s\n\n"
        "### Back at full speed after a restore\n\n%s\n\n"
        "Goals (save >= 80%% of dd; 1 GiB restore under 50 ms + cold read; "
        "1 GiB lazy restore to running in at most 10 ms; back at 90%% speed "
        "within 50 ms of running): %s.\n\n%s"
        % (t_save, t_nosync, t_restore, t_warm, t_speed, "; ".join(goals),
           method))


def main():
    global SETTLE_S
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--cases", help="MiB:percent list (default %s; quick %s)"
                   % (DEFAULT_CASES, QUICK_CASES))
    p.add_argument("--reps", type=int, default=0,
                   help="repetitions per case (default: 3 up to 1 GiB, 1 above)")
    p.add_argument("--settle", type=float, default=SETTLE_S,
                   help="seconds to wait after sync before each timed write")
    args = p.parse_args()
    SETTLE_S = args.settle
    if args.quick and not args.reps:
        args.reps = 1
    spec = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    cases = []
    for item in spec.split(","):
        mem, pct = (int(x) for x in item.split(":"))
        cases.append({"memory_mib": mem, "pct": pct, "guest_mib": guest_mib(mem, pct)})
    paths.check_built("dirty")
    cpu = vmm.qemu_cpu()
    t_start = proc.now()
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        for i, case in enumerate(cases):
            case["reps"] = args.reps or (1 if case["memory_mib"] > 1024 else 3)
            case["samples"] = run_case(case, wd, case["reps"], i)
            case["summary"] = summarize_case(case, case["samples"])
    mach = machine.describe(wd, load.result())
    data = {
        "bench": NAME, "quick": args.quick, "machine": mach,
        "config": {"guest": "dirty.elf", "cases": spec,
                   "reps": args.reps or "3 up to 1 GiB, 1 above",
                   "qemu_cpu": cpu, "qemu_max_bandwidth": 1 << 40,
                   "cold_cache_method": "fdatasync + posix_fadvise(DONTNEED) on the save file",
                   "drop_caches_used": False, "poll_interval_s": POLL_S,
                   "settle_before_timed_writes_s": SETTLE_S,
                   "units": "seconds, bytes; MB/s = 10^6 bytes/s"},
        "cases": cases,
        "summary": {"cases_note": "cases %s (RAM MiB:touched %%)" % spec,
                    "wall_time_s": proc.now() - t_start},
    }
    report.write(NAME, data, markdown(data), args.out)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""bench/boot: start-up time and VMM memory, godwit vs. QEMU microvm.

Both VMMs run build/guests/dirty.elf with the same RAM, vCPU count and
command line. Per repetition and VMM:
  1. t0 = just before fork; the VMM runs with the serial port on a pipe.
  2. Start-up time = t0 -> the guest's first serial line is read
     ("dirty: ready mib=N", printed by the guest's ring-0 setup).
  3. After the first "dirty: sweep" line (the guest's area is touched)
     and a short settle, /proc/PID/smaps is read: guest RAM's mapping
     and everything else are reported apart (bench/lib/rss.py).
  4. QMP quit.
One unmeasured warm-up run of each VMM comes first (page cache, binary
loading); the repetitions then alternate which VMM goes first.

Breakdown (if perf can trace syscalls here; separate runs, not timed
above): exec -> first KVM_RUN (the VMM's own set-up) and first KVM_RUN ->
first serial output (the guest's boot, identical code on both VMMs:
emulated ring 0 here, including ~50 ms of TSC calibration against the
PIT). See bench/lib/trace.py.

Goals of the project: start-up under half of QEMU's; VMM RSS beyond
guest memory under 10 MiB.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, machine, paths, report, rss, stats, trace, vmm  # noqa: E402

NAME = "boot"
MIB = 1 << 20
RSS_GOAL_MIB = 10
START_GOAL_RATIO = 0.5


def start(kind, args, sock, wrap=None):
    """The dirty guest as args configure it, under godwit or QEMU."""
    return vmm.start(kind, paths.guest("dirty"), "mib=%d" % args.guest_mib,
                     args.memory, sock, wrap)


def one_run(kind, args, workdir, rep):
    vm = start(kind, args, os.path.join(workdir, "%s-%d.qmp" % (kind, rep)))
    try:
        first = vm.proc.first_line(60)
        vm.proc.wait_line(r"^dirty: sweep", 60)
        time.sleep(args.settle)
        mem = rss.measure(vm.pid, args.memory * MIB)
        rc = vm.quit()
    finally:
        vm.close()
    return {"vmm": kind, "rep": rep,
            "start_to_first_line_s": first.t - vm.proc.t_spawn,
            "first_line": first.text, "rss": mem, "quit_status": rc}


def traced_run(kind, args, workdir, rep):
    """One run under perf record; returns the trace.phases() dict."""
    data = os.path.join(workdir, "perf-%s-%d.data" % (kind, rep))
    vm = start(kind, args, os.path.join(workdir, "t%s-%d.qmp" % (kind, rep)),
               wrap=lambda argv: trace.wrap(argv, data))
    try:
        vm.proc.first_line(60)
        vm.quit()
    finally:
        vm.close()
    ph = trace.phases(data, vm.argv[0])
    os.unlink(data)
    if ph is None:
        raise RuntimeError("perf trace of %s has no exec/KVM_RUN/output" % kind)
    ph.update({"vmm": kind, "rep": rep})
    return ph


def summarize_breakdown(samples):
    out = {}
    for kind in ("godwit", "qemu"):
        s = [x for x in samples if x["vmm"] == kind]
        out[kind] = {k: stats.summary([x[k] for x in s])
                     for k in ("setup_s", "guest_to_first_output_s",
                               "kvm_runs_before_output")}
    out["ratio_godwit_over_qemu"] = {
        k: stats.median_ratio(out["godwit"][k], out["qemu"][k])
        for k in ("setup_s", "guest_to_first_output_s")}
    return out


def summarize(samples):
    out = {}
    for kind in ("godwit", "qemu"):
        s = [x for x in samples if x["vmm"] == kind]
        out[kind] = {
            "start_to_first_line_s": stats.summary(
                [x["start_to_first_line_s"] for x in s]),
        }
        for key in ("total_rss", "total_pss", "guest_ram_rss", "beyond_rss",
                    "beyond_pss", "beyond_anon", "beyond_file", "beyond_shmem"):
            out[kind][key] = stats.summary([x["rss"][key] for x in s])
    g, q = out["godwit"], out["qemu"]
    out["ratio_godwit_over_qemu"] = {
        k: stats.median_ratio(g[k], q[k])
        for k in ("start_to_first_line_s", "beyond_rss", "total_rss")}
    return out


def goals(summ):
    r = summ["ratio_godwit_over_qemu"]["start_to_first_line_s"]
    b = summ["godwit"]["beyond_rss"]
    return {
        "startup_under_half_of_qemu": None if r is None else r < START_GOAL_RATIO,
        "startup_ratio": r,
        "vmm_rss_beyond_guest_under_10mib": None if not b else
        b["median"] < RSS_GOAL_MIB * MIB,
        "vmm_rss_beyond_guest_mib": b["median"] / MIB if b else None,
    }


def markdown(data):
    s, cfg, g = data["summary"], data["config"], data["goals"]
    gw, qm, ra = s["godwit"], s["qemu"], s["ratio_godwit_over_qemu"]
    ms = lambda k: (report.fmt_mmm(gw[k], 1e3), report.fmt_mmm(qm[k], 1e3))
    mib = lambda k: (report.fmt_mmm(gw[k], 1 / MIB), report.fmt_mmm(qm[k], 1 / MIB))
    rows = [
        ("Process start -> first serial line (ms)",) + ms("start_to_first_line_s")
        + (report.fmt_ratio(ra["start_to_first_line_s"]),),
        ("VMM RSS beyond guest RAM (MiB)",) + mib("beyond_rss")
        + (report.fmt_ratio(ra["beyond_rss"]),),
        ("- of it anonymous (MiB)",) + mib("beyond_anon") + ("",),
        ("- of it file-backed: binary, libraries (MiB)",) + mib("beyond_file") + ("",),
        ("- of it shmem (MiB)",) + mib("beyond_shmem") + ("",),
        ("VMM PSS beyond guest RAM (MiB)",) + mib("beyond_pss") + ("",),
        ("Guest RAM resident (MiB)",) + mib("guest_ram_rss") + ("",),
        ("Total RSS (MiB)",) + mib("total_rss") + (report.fmt_ratio(ra["total_rss"]),),
    ]
    tbl = report.table(["%s rep(s); median (min-max)" % cfg["reps"], "godwit",
                        "QEMU -M microvm", "godwit/QEMU"], rows)
    method = (
        "Method: both VMMs run `dirty.elf` (`%s`) with %d MiB RAM and 1 vCPU "
        "in the same run, %d alternating repetitions after one unmeasured "
        "warm-up each. Start-up is the time from just before fork/exec to "
        "the bench reading the guest's first serial line from the VMM's "
        "stdout pipe (`%s`). Memory is read from /proc/PID/smaps once the "
        "guest has swept its area (+%.1f s): the guest RAM mapping (godwit's "
        "memfd, QEMU's anonymous RAM block of exactly the RAM size) is "
        "taken apart from everything else; \"beyond guest RAM\" is the Rss "
        "of all other mappings, including shared libraries (their PSS is "
        "lower). QEMU runs `-M microvm -cpu %s -nodefaults -no-user-config "
        "-nographic`; godwit `run --cpu host` (default). QEMU's guest RAM "
        "uses transparent huge pages (anon THP `madvise`), godwit's memfd "
        "does not (shmem THP `never` here), so guest RAM resident differs; "
        "it is excluded from the VMM figures." % (
            cfg["cmdline"], cfg["memory_mib"], cfg["reps"],
            data["samples"][0]["first_line"] if data["samples"] else "?",
            cfg["settle_s"], cfg["qemu_cpu"]))
    goals_md = (
        "Goals: start-up under half of QEMU's: **%s** (ratio %s). VMM RSS "
        "beyond guest memory under %d MiB: **%s** (%s MiB)." % (
            report.goal_word(g["startup_under_half_of_qemu"]),
            report.fmt_ratio(g["startup_ratio"]), RSS_GOAL_MIB,
            report.goal_word(g["vmm_rss_beyond_guest_under_10mib"]),
            report.fmt(g["vmm_rss_beyond_guest_mib"], 2)))
    md = "## Boot: start-up time and VMM memory\n\n%s\n\n%s\n\n%s" % (
        tbl, goals_md, method)
    b = data.get("breakdown")
    if b:
        bg, bq, br = b["godwit"], b["qemu"], b["ratio_godwit_over_qemu"]
        rows = [
            ("exec -> first KVM_RUN: VMM set-up (ms)",
             report.fmt_mmm(bg["setup_s"], 1e3), report.fmt_mmm(bq["setup_s"], 1e3),
             report.fmt_ratio(br["setup_s"])),
            ("first KVM_RUN -> first serial output: guest boot (ms)",
             report.fmt_mmm(bg["guest_to_first_output_s"], 1e3),
             report.fmt_mmm(bq["guest_to_first_output_s"], 1e3),
             report.fmt_ratio(br["guest_to_first_output_s"])),
            ("KVM_RUN calls before first output",
             report.fmt_mmm(bg["kvm_runs_before_output"], 1, 0),
             report.fmt_mmm(bq["kvm_runs_before_output"], 1, 0), ""),
        ]
        md += ("\n\n### Where start-up time goes (%d traced run(s) each)\n\n%s\n\n"
               "Separate runs under `perf record` (kernel tracepoints "
               "sched_process_exec, sys_enter_ioctl KVM_RUN, sys_enter_write/"
               "writev on fd 1); tracing slows syscall-heavy start-up, QEMU's "
               "more than godwit's, so use these for the split, not as "
               "headline times. The guest part is the same guest code on both "
               "VMMs and bounds the end-to-end ratio." % (
                   cfg["breakdown_reps"], report.table(
                       ["", "godwit", "QEMU -M microvm", "godwit/QEMU"], rows)))
    return md


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--memory", type=int, default=128, help="guest RAM, MiB")
    p.add_argument("--guest-mib", type=int, default=8,
                   help="MiB the dirty guest sweeps")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds between the first sweep line and reading smaps")
    p.add_argument("--breakdown-reps", type=int, default=3,
                   help="traced runs per VMM for the breakdown (0: none)")
    args = p.parse_args()
    if args.quick:
        args.reps = min(args.reps, 2)
        args.breakdown_reps = min(args.breakdown_reps, 1)
    paths.check_built("dirty")
    cpu = vmm.qemu_cpu()
    samples = []
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        cli.log("boot: warm-up")
        for kind in ("godwit", "qemu"):
            one_run(kind, args, wd, -1)
        for rep in range(args.reps):
            order = ("godwit", "qemu") if rep % 2 == 0 else ("qemu", "godwit")
            for kind in order:
                s = one_run(kind, args, wd, rep)
                cli.log("boot: rep %d %-6s first line %.1f ms, beyond-guest RSS %.2f MiB"
                        % (rep, kind, s["start_to_first_line_s"] * 1e3,
                           s["rss"]["beyond_rss"] / MIB))
                samples.append(s)
        traced = []
        if args.breakdown_reps and trace.available():
            for rep in range(args.breakdown_reps):
                for kind in ("godwit", "qemu"):
                    traced.append(traced_run(kind, args, wd, rep))
                    cli.log("boot: traced %-6s set-up %.1f ms, guest %.1f ms" % (
                        kind, traced[-1]["setup_s"] * 1e3,
                        traced[-1]["guest_to_first_output_s"] * 1e3))
        elif args.breakdown_reps:
            cli.log("boot: perf cannot trace syscalls here; no breakdown")
    mach = machine.describe(wd, load.result())
    summ = summarize(samples)
    data = {
        "bench": NAME, "quick": args.quick, "machine": mach,
        "config": {"guest": "dirty.elf", "cmdline": "mib=%d" % args.guest_mib,
                   "memory_mib": args.memory, "vcpus": 1, "reps": args.reps,
                   "settle_s": args.settle, "qemu_cpu": cpu,
                   "breakdown_reps": args.breakdown_reps if traced else 0,
                   "units": "seconds and bytes"},
        "samples": samples, "summary": summ, "goals": goals(summ),
        "breakdown_samples": traced,
        "breakdown": summarize_breakdown(traced) if traced else None,
    }
    report.write(NAME, data, markdown(data), args.out)


if __name__ == "__main__":
    main()

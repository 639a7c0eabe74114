#!/usr/bin/python3
"""bench/net: a service on a VM's NIC, godwit vs. QEMU, as its client sees it.

The net test guest (guests/README.md: UDP echo with its own numbering)
runs on a tap in a bridge in host namespace a; a client namespace on the
segment both hosts' bridges share sends numbered UDP requests at 1 kHz
(gw-net-client, tests/kvm/netclient.c) -- the topology of
tests/kvm/test_net_migrate.py (tests/kvm/lib/netns.py). godwit: `godwit
run --vif mac=M,bridge=br0`, its destination `godwit migrate-receive` in
host b, migration by QMP `migrate` (its downtime from its MIGRATION
event: source pause to destination resume). QEMU: -M microvm with
kernel-irqchip=on,ioapic2=off (its virtio on the in-kernel IOAPIC, as
godwit's; the fastest microvm setup here, guests/README.md) and
`-device virtio-net-device` on a tap in the same bridge, the destination
`-incoming tcp:` in host b with its own tap there, migration by QMP
`migrate` with QEMU's default bandwidth limit and with max-bandwidth
raised to 1 TiB/s (its downtime from query-migrate). Same guest, same
namespaces, same run; the VMMs take turns going first.

Figures: round-trip time (median, p99) over a steady 1 kHz run; during one
live migration from host a to host b, the blackout (the longest gap
between answers the client received), the downtime the VMM reports,
requests lost (and how many of them were sent outside the blackout),
duplicated and reordered; the first RARP from host b on the segment,
relative to the VMM's resume (godwit: its own log line; QEMU: its RESUME
event's timestamp), and relative to the blackout's start.

What bounds the figures: the guest's driver runs in emulated ring 0 on
these hosts (KVM-HERE.md; about 0.5 ms of a core per request, so 1 kHz
takes half a core), every virtio register access is an emulated exit, and
the machine is shared: the load during the run is recorded, and at high
load both VMMs' guests fall behind (RTT in the hundreds of ms) for the
same reason.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import importlib.util

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH)

from lib import cli, machine, paths, proc, report, stats, vmm  # noqa: E402


def _netns():
    """The kvm tests' namespaces (tests/kvm/lib/netns.py): the same
    topology for the bench as for the tests (their lib is not ours)."""
    path = os.path.join(os.path.dirname(BENCH), "tests", "kvm", "lib",
                        "netns.py")
    spec = importlib.util.spec_from_file_location("gw_netns", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_ns = _netns()
GUEST_IP, MIG_ADDR, Segment = _ns.GUEST_IP, _ns.MIG_ADDR, _ns.Segment

NAME = "net"
MAC = "00:16:3e:77:00:02"
MEM = 64
HZ = 1000
RARP = 0x8035
QEMU_MACHINE = "microvm,kernel-irqchip=on,ioapic2=off"
KINDS_RTT = ("godwit", "qemu")
KINDS_MIG = ("godwit", "qemu-default", "qemu-raised")
CLIENT = paths.BUILD / "tests" / "kvm" / "gw-net-client"
SNIFF = os.path.join(os.path.dirname(BENCH), "tests", "kvm", "netsniff.py")


def wrap_in(seg, host):
    return lambda argv: seg.prefix(host) + argv


def qemu_argv(seg, host, tap, qmp, incoming=None):
    argv = vmm.qemu_argv(paths.guest("net"), "ip=" + GUEST_IP, MEM, qmp,
                         vmm.qemu_cpu(), incoming=incoming)
    argv[argv.index("microvm")] = QEMU_MACHINE
    return argv + ["-global", "virtio-mmio.force-legacy=false",
                   "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no"
                   % tap, "-device",
                   "virtio-net-device,netdev=n0,mac=%s" % MAC]


def qemu_tap(seg, host, tap):
    for cmd in (["ip", "tuntap", "add", "dev", tap, "mode", "tap"],
                ["ip", "link", "set", tap, "master", "br0"],
                ["ip", "link", "set", tap, "up"]):
        seg.run(host, cmd)


def godwit_vm(seg, wd, tag):
    qmp = os.path.join(wd, "godwit-%s.qmp" % tag)
    argv = [paths.GODWIT, "run", "--kernel", paths.guest("net"), "--cmdline",
            "ip=" + GUEST_IP, "--memory", str(MEM), "--serial", "stdio",
            "--qmp", qmp, "--vif", "mac=%s, bridge=br0" % MAC]
    return vmm.VM("godwit", argv, qmp, "godwit-a", wrap=wrap_in(seg, "a"))


def source(kind, seg, wd, tag):
    seg.forget(MAC)  # the last run's VM may have ended on host b
    if kind == "godwit":
        vm = godwit_vm(seg, wd, tag)
    else:
        qemu_tap(seg, "a", "qtapa")
        qmp = os.path.join(wd, "qemu-%s.qmp" % tag)
        vm = vmm.VM("qemu", qemu_argv(seg, "a", "qtapa", qmp), qmp,
                    "qemu-a", wrap=wrap_in(seg, "a"))
    vm.proc.wait_line(r"^net: ready ip=", 60)
    r = seg.run("c", ["ping", "-c", "2", "-i", "0.2", "-W", "2", GUEST_IP])
    if " 2 received" not in r.stdout:
        raise RuntimeError("%s: the guest does not answer ping" % kind)
    return vm


def client(seg, seconds, until=None, log=None):
    argv = [str(CLIENT), GUEST_IP, "7", "--hz", str(HZ), "--seconds",
            str(seconds)]
    if until:
        argv += ["--until", until]
    if log:
        argv += ["--log", log]
    return subprocess.Popen(seg.prefix("c") + argv, stdout=subprocess.PIPE,
                            text=True)


def run_rtt(kind, seg, wd, tag, seconds):
    vm = source(kind, seg, wd, tag)
    try:
        c = client(seg, seconds)
        out, _ = c.communicate(timeout=seconds + 60)
        s = json.loads(out)
        vm.check_guest(kind)
        return {"rtt_median_ms": s["rtt_median_ms"],
                "rtt_p99_ms": s["rtt_p99_ms"], "sent": s["sent"],
                "lost": s["lost"]}
    finally:
        vm.quit()
        seg.run("a", ["ip", "link", "del", "qtapa"])


def destination(kind, seg, wd, tag, port):
    qmp = os.path.join(wd, "%s-%s-dst.qmp" % (kind, tag))
    listen = "%s:%d" % (MIG_ADDR["b"], port)
    if kind == "godwit":
        argv = [paths.GODWIT, "migrate-receive", "--listen", listen,
                "--serial", "stdio", "--qmp", qmp]
        vm = vmm.VM("godwit", argv, qmp, "godwit-b", wrap=wrap_in(seg, "b"))
        vm.proc.wait_line(r"waiting for a migration", 60, stream="err")
        return vm
    qemu_tap(seg, "b", "qtapb")
    vm = vmm.VM("qemu", qemu_argv(seg, "b", "qtapb", qmp,
                                  "tcp:%s" % listen), qmp, "qemu-b",
                wrap=wrap_in(seg, "b"))
    vm.connect()
    return vm


def migrate(kind, src, dst, port):
    uri = "%s:%d" % (MIG_ADDR["b"], port)
    src.connect()
    if kind == "godwit":
        src.qmp.execute("migrate", {"uri": uri})
        ev = src.qmp.wait_event("MIGRATION",
                                lambda d: d.get("status") != "active", 120)
        d = ev["data"]
        if d.get("status") != "completed":
            raise RuntimeError("godwit migration: %s" % d)
        return d["downtime-ms"]
    if kind == "qemu-raised":
        src.qmp.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
    src.qmp.execute("migrate", {"uri": "tcp:" + uri})
    q = vmm.qemu_wait_migration(src, 0.005, 120)
    if q.get("status") != "completed":
        raise RuntimeError("QEMU migration: %s" % q.get("status"))
    return q.get("downtime")


def sniffer(seg, out):
    p = subprocess.Popen(seg.prefix("c") + [sys.executable, SNIFF,
                                            "sega,segb", MAC],
                         stdout=open(out, "w"), text=True)
    deadline = time.monotonic() + 30
    while not os.path.getsize(out):
        if time.monotonic() > deadline:
            raise RuntimeError("sniffer")
        time.sleep(0.02)
    return p


def replies(log):
    out = []
    for line in open(log):
        if not line.startswith("#"):
            req, _, sent, recv = (int(x) for x in line.split())
            out.append((req, sent / 1e9, recv / 1e9))
    return out


def blackout(rep, t0):
    """Longest gap between answers arriving after t0: (ms, start, end)."""
    best, prev = (0.0, t0, t0), None
    for _, _, r in rep:
        if prev is not None and r >= t0 and (r - prev) * 1000 > best[0]:
            best = ((r - prev) * 1000, prev, r)
        prev = r
    return best


def qemu_resume_mono(dst):
    """QEMU's RESUME event (realtime stamp) on the monotonic clock."""
    ev = dst.qmp.wait_event("RESUME", timeout=30)
    ts = ev["timestamp"]
    real = ts["seconds"] + ts["microseconds"] / 1e6
    return real - (time.time() - time.monotonic())


def run_mig(kind, seg, wd, tag):
    port = 8100 + int(time.time() * 1000) % 800
    src = source("godwit" if kind == "godwit" else "qemu", seg, wd, tag)
    dst = None
    stop = os.path.join(wd, "stop-%s" % tag)
    log = os.path.join(wd, "client-%s.log" % tag)
    try:
        dst = destination("godwit" if kind == "godwit" else "qemu", seg, wd,
                          tag, port)
        sniffed = os.path.join(wd, "sniff-%s.json" % tag)
        sn = sniffer(seg, sniffed)
        c = client(seg, 120, until=stop, log=log)
        time.sleep(2)
        t0 = time.monotonic()
        downtime = migrate(kind, src, dst, port)
        resumed = qemu_resume_mono(dst) if kind != "godwit" else None
        time.sleep(2)
        open(stop, "w").close()
        s = json.loads(c.communicate(timeout=60)[0])
        sn.send_signal(signal.SIGTERM)
        sn.wait(timeout=30)
        frames = [json.loads(l) for l in open(sniffed)][1:]
        if [f["drops"] for f in frames if "drops" in f] != [0]:
            raise RuntimeError("the sniffer missed frames")
        frames = [f for f in frames if "drops" not in f]
        dst.check_guest(kind + " destination")
        return mig_figures(kind, s, replies(log), frames, t0, downtime,
                           resumed, dst)
    finally:
        src.close()
        if dst:
            dst.quit()
        for host, tap in (("a", "qtapa"), ("b", "qtapb")):
            seg.run(host, ["ip", "link", "del", tap])


def mig_figures(kind, s, rep, frames, t0, downtime, resumed, dst):
    gap, g0, g1 = blackout(rep, t0)
    rarp = [f["t"] for f in frames if f["dev"] == "segb" and
            f["type"] == RARP and f["t"] >= t0]
    if kind == "godwit":
        m = [l for l in dst.proc.err if "RARP sent in" in l.text]
        us = re.search(r"(\d+) us before the vCPUs started", m[0].text) \
            if m else None
        rarp_vs_resume = -int(us.group(1)) / 1e3 if us else None
    else:
        rarp_vs_resume = (rarp[0] - resumed) * 1e3 if rarp and resumed \
            else None
    return {"downtime_ms": downtime, "blackout_ms": gap,
            "blackout_minus_downtime_ms": gap - downtime if downtime is not
            None else None,
            "sent": s["sent"], "lost": s["lost"],
            "lost_outside_blackout": s["lost_outside_blackout"],
            "duplicated": s["duplicated"], "reordered": s["reordered"],
            "rarp_rounds_seen": len(rarp),
            "first_rarp_vs_resume_ms": rarp_vs_resume,
            "first_rarp_after_blackout_start_ms":
                (rarp[0] - g0) * 1e3 if rarp else None,
            "rtt_median_ms": s["rtt_median_ms"], "rtt_p99_ms": s["rtt_p99_ms"]}


def summarize(samples, keys):
    return {k: stats.summary([r.get(k) for r in samples]) for k in keys}


RTT_KEYS = ("rtt_median_ms", "rtt_p99_ms", "lost")
MIG_KEYS = ("downtime_ms", "blackout_ms", "blackout_minus_downtime_ms",
            "lost", "lost_outside_blackout", "duplicated", "reordered",
            "first_rarp_vs_resume_ms", "first_rarp_after_blackout_start_ms",
            "rarp_rounds_seen")


def markdown(data):
    r, m = data["summary"]["rtt"], data["summary"]["migration"]
    cell = lambda s, d=2: report.fmt_mmm(s, 1, d)  # noqa: E731
    rows = [["RTT median ms (1 kHz)", cell(r["godwit"]["rtt_median_ms"]),
             cell(r["qemu"]["rtt_median_ms"]), "-",
             report.fmt_ratio(data["summary"]["rtt_ratio"])],
            ["RTT p99 ms (1 kHz)", cell(r["godwit"]["rtt_p99_ms"]),
             cell(r["qemu"]["rtt_p99_ms"]), "-",
             report.fmt_ratio(data["summary"]["p99_ratio"])]]
    for key, label, d in (
            ("downtime_ms", "migration: downtime ms (VMM's own)", 2),
            ("blackout_ms", "migration: blackout ms (client)", 2),
            ("blackout_minus_downtime_ms", "blackout - downtime ms", 2),
            ("lost", "requests lost", 0),
            ("lost_outside_blackout", "lost outside the blackout", 0),
            ("duplicated", "duplicated", 0), ("reordered", "reordered", 0),
            ("first_rarp_vs_resume_ms", "first RARP vs resume ms", 3),
            ("rarp_rounds_seen", "RARP frames seen from b", 0)):
        rows.append([label, cell(m["godwit"][key], d),
                     cell(m["qemu-default"][key], d),
                     cell(m["qemu-raised"][key], d),
                     report.fmt_ratio(stats.median_ratio(
                         m["godwit"][key], m["qemu-raised"][key]))
                     if key in ("blackout_ms",) else "-"])
    load = data["machine"].get("load") or {}
    body = ["## A service on the VM's NIC, through live migration", "",
            "%d rep(s); median (min-max). Client at %d Hz in its own "
            "namespace; guest on a tap in a bridge; load average during "
            "the run %s to %s (max %s) on %s CPUs." % (
                data["config"]["reps"], HZ, load.get("loadavg1_start"),
                load.get("loadavg1_end"), load.get("loadavg1_max"),
                data["machine"].get("cpus_online")), "",
            report.table(["", "godwit", "QEMU (default bandwidth)",
                          "QEMU (max-bandwidth 1 TiB/s)",
                          "godwit/QEMU"], rows), ""]
    body.append(goals(data))
    body += ["", "Method: " + " ".join(__doc__.split("\n\n")[1:])
             .replace("\n", " ")]
    return "\n".join(body)


def goals(data):
    m, r = data["summary"]["migration"]["godwit"], data["summary"]["rtt"]
    words = []
    bd = m["blackout_minus_downtime_ms"]
    if bd:
        words.append("blackout at most the downtime + 2 ms: **%s** (median "
                     "%.2f ms over, max %.2f)" % (report.goal_word(
                         bd["max"] <= 2.0), bd["median"], bd["max"]))
    lo, du = m["lost_outside_blackout"], m["duplicated"]
    if lo and du:
        words.append("no request lost beyond those sent during the "
                     "blackout, none duplicated: **%s** (%d, %d at most)"
                     % (report.goal_word(lo["max"] == 0 and du["max"] == 0),
                        lo["max"], du["max"]))
    fr = m["first_rarp_vs_resume_ms"]
    if fr:
        words.append("first announcement within 1 ms of resume: **%s** "
                     "(%.3f ms at worst; negative: before the vCPUs start)"
                     % (report.goal_word(fr["max"] <= 1.0), fr["max"]))
    ratio = data["summary"]["rtt_ratio"]
    if ratio is not None:
        words.append("RTT at least as good as QEMU's: **%s** (median ratio "
                     "%.2f)" % (report.goal_word(ratio <= 1.0), ratio))
    return "Goals: " + "; ".join(words) + "."


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=0, help="repetitions (default 3)")
    p.add_argument("--seconds", type=int, default=0,
                   help="seconds of the steady RTT run (default 10)")
    args = p.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    seconds = args.seconds or (3 if args.quick else 10)
    paths.check_built("net")
    if not CLIENT.exists():
        raise SystemExit("bench: %s is not built (run `make`)" % CLIENT)
    cpu = vmm.qemu_cpu()
    t_start = proc.now()
    rtt = {k: [] for k in KINDS_RTT}
    mig = {k: [] for k in KINDS_MIG}
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        seg = Segment(hosts=2)
        try:
            for rep in range(reps):
                order = list(KINDS_RTT) if rep % 2 == 0 else \
                    list(KINDS_RTT)[::-1]
                for kind in order:
                    r = run_rtt(kind, seg, wd, "rtt%d" % rep, seconds)
                    cli.log("rtt %s rep %d: median %.3f ms, p99 %.3f ms, "
                            "%d lost" % (kind, rep, r["rtt_median_ms"],
                                         r["rtt_p99_ms"], r["lost"]))
                    rtt[kind].append(r)
                order = list(KINDS_MIG) if rep % 2 == 0 else \
                    list(KINDS_MIG)[::-1]
                for kind in order:
                    r = run_mig(kind, seg, wd, "mig%d-%s" % (rep, kind))
                    cli.log("migration %s rep %d: downtime %.2f ms, blackout "
                            "%.2f ms, lost %d (%d outside), first RARP %s ms "
                            "from resume" % (
                                kind, rep, r["downtime_ms"] or -1,
                                r["blackout_ms"], r["lost"],
                                r["lost_outside_blackout"],
                                r["first_rarp_vs_resume_ms"]))
                    mig[kind].append(r)
        finally:
            seg.remove()
    summ = {"rtt": {k: summarize(v, RTT_KEYS) for k, v in rtt.items()},
            "migration": {k: summarize(v, MIG_KEYS) for k, v in mig.items()}}
    summ["rtt_ratio"] = stats.median_ratio(summ["rtt"]["godwit"]["rtt_median_ms"],
                                           summ["rtt"]["qemu"]["rtt_median_ms"])
    summ["p99_ratio"] = stats.median_ratio(summ["rtt"]["godwit"]["rtt_p99_ms"],
                                           summ["rtt"]["qemu"]["rtt_p99_ms"])
    summ["wall_time_s"] = proc.now() - t_start
    data = {"bench": NAME, "quick": args.quick,
            "machine": machine.describe(wd, load.result()),
            "config": {"reps": reps, "hz": HZ, "rtt_seconds": seconds,
                       "memory_mib": MEM, "qemu_cpu": cpu,
                       "qemu_machine": QEMU_MACHINE,
                       "qemu_raised_max_bandwidth": 1 << 40},
            "samples": {"rtt": rtt, "migration": mig},
            "summary": summ}
    report.write(NAME, data, markdown(data), args.out)


if __name__ == "__main__":
    if os.geteuid() != 0:
        raise SystemExit("bench/net: network namespaces and taps need root")
    main()

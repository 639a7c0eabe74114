#!/usr/bin/python3
"""bench/migrate-secure: live migration over TLS and ssh next to plain TCP, godwit vs. QEMU.

The dirty guest (1 GiB, 256 MiB rewritten at about 100 MiB/s) migrates
over loopback five ways in the same run: godwit over plain TCP, over TLS
(`migrate --tls`, GnuTLS, x509 both ways) and over ssh (`migrate -s`, to
an sshd of the bench's own on 127.0.0.1, OpenSSH's default cipher); QEMU
over plain TCP and over TLS (`tls-creds-x509` objects on both sides,
`-incoming defer`, verify-peer on). Same downtime limit (300 ms),
unlimited bandwidth (QEMU's max-bandwidth raised as libvirt does). The
x509 credentials are made with certtool for the run (ECDSA keys), the
same directories for both VMMs. Each run ends only after the
destination's guest printed a new sweep line without CORRUPT. The ways
take turns going first, repetition by repetition. Figures: total time
and downtime as each VMM reports them, bytes sent, rounds; the ratio of
each way's median total time to its own VMM's plain TCP.
"""
import importlib.util
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, machine, paths, proc, report, stats, vmm  # noqa: E402
from lib.qmp import QMP, QMPError  # noqa: E402

NAME = "migrate-secure"
MIB = 1 << 20
DOWNTIME_MS = 300
MEMORY, CMDLINE, SWEEP, EXTRA = 1024, "mib=256 rate=100 fill=1", 1, 1.0
LONG = 600
WAYS = ["godwit-tcp", "godwit-tls", "godwit-ssh", "qemu-tcp", "qemu-tls"]


def _load(name):
    """A helper of the kvm tests (standalone modules), by path."""
    path = paths.ROOT / "tests" / "kvm" / "lib" / (name + ".py")
    spec = importlib.util.spec_from_file_location("gw_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


certs = _load("certs")
sshd_mod = _load("sshd")


def free_port():
    return sshd_mod.free_port()


def wait_ready(vm):
    start = 0
    while True:
        line = vm.proc.wait_line(r"^dirty: sweep \d+$", LONG, start=start)
        if int(line.text.split()[-1]) >= SWEEP:
            break
        start = line.index + 1
    time.sleep(EXTRA)
    vm.check_guest("source")


def serial_runs(path, timeout=120):
    """The detached ssh receiver's guest: a new sweep line in its serial
    file, no CORRUPT/BAD."""
    deadline, first = proc.now() + timeout, None
    while proc.now() < deadline:
        try:
            text = open(path, errors="replace").read()
        except FileNotFoundError:
            text = ""
        if "CORRUPT" in text or re.search(r"\bBAD\b", text):
            raise RuntimeError("ssh destination: guest reports a failure")
        n = len(re.findall(r"^dirty: sweep \d+$", text, re.M))
        if first is None:
            first = n
        elif n > first:
            return
        time.sleep(0.2)
    raise RuntimeError("ssh destination: no new sweep in %s" % path)


def quit_detached(qmp_path):
    """The ssh receiver runs on detached: quit it on its QMP socket."""
    if not os.path.exists(qmp_path):
        return
    q, _ = QMP.connect(qmp_path, 10)
    try:
        q.execute("quit", timeout=5)
    except (QMPError, OSError):
        pass
    q.close()
    deadline = proc.now() + 10
    while os.path.exists(qmp_path) and proc.now() < deadline:
        time.sleep(0.05)


def godwit_migrate(src, args):
    src.connect()
    t0 = proc.now()
    src.qmp.execute("migrate", dict(args, **{"downtime-ms": DOWNTIME_MS}))
    ev = src.qmp.wait_event("MIGRATION", lambda d: d.get("status") != "active",
                            LONG)
    wall = proc.now() - t0
    d = ev["data"]
    if d.get("status") != "completed":
        raise RuntimeError("godwit migration %s: %s" % (d.get("status"),
                                                        d.get("error")))
    return {"total_s": d["total-time-ms"] / 1e3, "wall_s": wall,
            "downtime_s": d["downtime-ms"] / 1e3, "bytes": d["bytes"],
            "rounds": d["rounds"]}


def run_godwit(way, wd, tag, ctx):
    src = vmm.godwit_run(paths.guest("dirty"), CMDLINE, MEMORY,
                         os.path.join(wd, "gs-%s.qmp" % tag), name="godwit-src")
    dst = None
    try:
        if way == "godwit-ssh":
            serial = os.path.join(wd, "gd-%s.serial" % tag)
            qmp = os.path.join(wd, "gd-%s.qmp" % tag)
            args = {"uri": "root@127.0.0.1", "ssh": ctx["sshd"].command(),
                    "receive-command": "%s migrate-receive --stdio --serial "
                    "file:%s --qmp %s" % (paths.GODWIT, serial, qmp)}
        else:
            port = free_port()
            qmp = os.path.join(wd, "gd-%s.qmp" % tag)
            argv = [paths.GODWIT, "migrate-receive", "--listen",
                    "127.0.0.1:%d" % port, "--serial", "stdio", "--qmp", qmp]
            args = {"uri": "127.0.0.1:%d" % port}
            if way == "godwit-tls":
                argv += ["--tls", "--tls-dir", ctx["creds"]["dst"]]
                args.update({"tls": True, "tls-dir": ctx["creds"]["src"]})
            dst = vmm.VM("godwit", argv, qmp, "godwit-dst")
            dst.proc.wait_line(r"waiting for a migration", 60, stream="err")
        wait_ready(src)
        r = godwit_migrate(src, args)
        if dst:
            dst.proc.wait_line(r"^dirty: sweep \d+$", 120,
                               start=dst.proc.nlines())
            dst.check_guest("godwit destination")
        else:
            serial_runs(serial)
        return r
    finally:
        src.close()
        if dst:
            dst.quit()
        elif way == "godwit-ssh":
            quit_detached(qmp)


def qemu_tls_object(creds, endpoint):
    return ["-object", "tls-creds-x509,id=tls0,dir=%s,endpoint=%s,"
            "verify-peer=on" % (creds, endpoint)]


def run_qemu(way, wd, tag, ctx):
    port = free_port()
    kernel, cpu = paths.guest("dirty"), vmm.qemu_cpu()
    tls = way == "qemu-tls"
    sq, dq = (os.path.join(wd, "q%s-%s.qmp" % (c, tag)) for c in "sd")
    sargv = vmm.qemu_argv(kernel, CMDLINE, MEMORY, sq, cpu)
    dargv = vmm.qemu_argv(kernel, CMDLINE, MEMORY, dq, cpu, incoming="defer")
    if tls:
        sargv += qemu_tls_object(ctx["creds"]["src"], "client")
        dargv += qemu_tls_object(ctx["creds"]["dst"], "server")
    src = vmm.VM("qemu", sargv, sq, "qemu-src")
    dst = vmm.VM("qemu", dargv, dq, "qemu-dst")
    try:
        wait_ready(src)
        src.connect()
        dst.connect()
        params = {"max-bandwidth": 1 << 40, "downtime-limit": DOWNTIME_MS}
        if tls:
            dst.qmp.execute("migrate-set-parameters", {"tls-creds": "tls0"})
            params.update({"tls-creds": "tls0", "tls-hostname": "127.0.0.1"})
        dst.qmp.execute("migrate-incoming",
                        {"uri": "tcp:127.0.0.1:%d" % port})
        src.qmp.execute("migrate-set-parameters", params)
        t0 = proc.now()
        src.qmp.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        q = vmm.qemu_wait_migration(src, 0.005, 120)
        wall = proc.now() - t0
        ram = q.get("ram", {})
        if q.get("status") != "completed":
            raise RuntimeError("QEMU %s migration: %s" % (way, q.get("status")))
        dst.proc.wait_line(r"^dirty: sweep \d+$", 120, start=dst.proc.nlines())
        dst.check_guest("QEMU destination")
        return {"total_s": q["total-time"] / 1e3, "wall_s": wall,
                "downtime_s": q.get("downtime", 0) / 1e3,
                "bytes": ram.get("transferred", 0),
                "rounds": ram.get("dirty-sync-count", 0)}
    finally:
        src.close()
        dst.quit()


def summarize(samples):
    out = {w: {k: stats.summary([r[k] for r in samples[w]])
               for k in ("total_s", "wall_s", "downtime_s", "bytes", "rounds")}
           for w in samples}
    for w in samples:
        base = "godwit-tcp" if w.startswith("godwit") else "qemu-tcp"
        out[w]["ratio_to_tcp"] = stats.median_ratio(out[w]["total_s"],
                                                    out[base]["total_s"])
    return out


def markdown(data):
    s = data["summary"]
    rows = [[w, report.fmt_mmm(s[w]["total_s"], 1e3),
             report.fmt_ratio(s[w]["ratio_to_tcp"]),
             report.fmt_mmm(s[w]["downtime_s"], 1e3, 2),
             report.fmt_mmm(s[w]["bytes"], 1 / MIB),
             report.fmt_mmm(s[w]["rounds"], 1, 0)] for w in s]
    g = s["godwit-tls"]["ratio_to_tcp"]
    body = ["## Live migration over TLS and ssh", "",
            "%d rep(s); median (min-max). 1 GiB guest, 256 MiB rewritten at "
            "about 100 MiB/s; downtime limit %d ms; loopback."
            % (data["config"]["reps"], DOWNTIME_MS), "",
            report.table(["way", "total ms", "total / own TCP",
                          "downtime ms", "MiB sent", "rounds"], rows), "",
            "Goals: TLS total time at most 1.3x plain TCP: **%s** (%.2f)."
            % (report.goal_word(g is not None and g <= 1.3), g or 0), "",
            "Method: " + " ".join(__doc__.split("\n\n")[1:]).replace("\n", " ")]
    return "\n".join(body)


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=0, help="repetitions (default 3)")
    p.add_argument("--ways", help="comma list of %s" % ",".join(WAYS))
    args = p.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    ways = args.ways.split(",") if args.ways else WAYS
    paths.check_built("dirty")
    t_start = proc.now()
    samples = {w: [] for w in ways}
    with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
        ctx = {"creds": certs.make_creds(wd)}
        if "godwit-ssh" in ways:
            ctx["sshd"] = sshd_mod.Sshd(wd)
        try:
            for rep in range(reps):
                order = ways if rep % 2 == 0 else ways[::-1]
                for w in order:
                    fn = run_godwit if w.startswith("godwit") else run_qemu
                    r = fn(w, wd, "%s-%d" % (w, rep), ctx)
                    cli.log("%s rep %d: total %.1f ms, downtime %.2f ms, "
                            "%.0f MiB, %d rounds" % (w, rep, r["total_s"] * 1e3,
                                                     r["downtime_s"] * 1e3,
                                                     r["bytes"] / MIB,
                                                     r["rounds"]))
                    samples[w].append(r)
        finally:
            if "sshd" in ctx:
                ctx["sshd"].stop()
    data = {"bench": NAME, "quick": args.quick,
            "machine": machine.describe(wd, load.result()),
            "config": {"reps": reps, "downtime_limit_ms": DOWNTIME_MS,
                       "memory_mib": MEMORY, "cmdline": CMDLINE,
                       "qemu_cpu": vmm.qemu_cpu(), "ways": ways},
            "samples": samples, "summary": summarize(samples),
            "wall_time_s": proc.now() - t_start}
    report.write(NAME, data, markdown(data), args.out)


if __name__ == "__main__":
    main()

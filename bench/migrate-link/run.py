#!/usr/bin/python3
"""bench/migrate-link: live migration over a 1 Gb/s link, compressed and
over several connections, godwit vs. QEMU.

Two network namespaces joined by a veth pair whose sending end (source
to destination) is shaped by tc tbf to 1 Gbit/s stand in for two hosts
on a 1 Gb/s link; the link's rate is measured in the same run (one TCP
stream, 2 s). Every source runs in the first namespace, every
destination in the second. The guest is the dirty guest with 512 MiB of
RAM and a 448 MiB area written once at full speed and then at 1 MiB/s
(fill=1 rate=1); data=N fills each page's body with N bytes of noise:
  2to1     data=2048: memory compresses about 2:1 (zstd level 1)
  random   data=4064: memory does not compress
Rows, all on the same guest in the same run: godwit plain TCP
(--compress none, one connection), --compress zstd, --compress auto,
--connections 4, --connections 4 with zstd; QEMU plain TCP and QEMU
multifd with 4 channels and multifd-compression zstd. Downtime limit
300 ms, no bandwidth limit (QEMU's max-bandwidth raised from its
default). Figures as each VMM reports them: total time, downtime, bytes
(godwit: stream bytes on all connections; QEMU: query-migrate's ram
"transferred", multifd-bytes kept in the raw samples). Each run ends once the destination's guest runs without
reporting a CORRUPT page.
"""
import os
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib import cli, machine, paths, proc, report, stats, vmm  # noqa: E402

NAME = "migrate-link"
MIB = 1 << 20
MEM = 512
DOWNTIME_MS = 300
RATE = "1gbit"
GUESTS = {
    "2to1": "mib=448 fill=1 rate=1 data=2048",
    "random": "mib=448 fill=1 rate=1 data=4064",
}
# name: (VMM, QMP migrate arguments or QEMU setup)
ROWS = [
    ("godwit none", "godwit", {}),
    ("godwit zstd", "godwit", {"compress": "zstd"}),
    ("godwit auto", "godwit", {"compress": "auto"}),
    ("godwit 4 conns", "godwit", {"connections": 4}),
    ("godwit 4 conns zstd", "godwit", {"connections": 4, "compress": "zstd"}),
    ("QEMU plain", "qemu", {}),
    ("QEMU multifd 4 zstd", "qemu", {"multifd": 4, "compression": "zstd"}),
]
LONG = 600


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


class Link:
    """Namespaces A and B, veth ends 10.232.0.1 and .2, A's end shaped."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = "gwlA-" + tag, "gwlB-" + tag
        va, vb = "gla" + tag, "glb" + tag
        self.addr_b = "10.232.0.2"
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", self.a)
        sh("ip", "link", "set", vb, "netns", self.b)
        for ns, dev, addr in ((self.a, va, "10.232.0.1"),
                              (self.b, vb, self.addr_b)):
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # 1 Gb/s from A to B: a token bucket of 1 MB (tbf needs at least
        # rate / HZ), packets waiting at most 50 ms.
        sh("ip", "netns", "exec", self.a, "tc", "qdisc", "add", "dev", va,
           "root", "tbf", "rate", RATE, "burst", "1mb", "latency", "50ms")

    def wrap(self, host):
        ns = self.a if host == "a" else self.b
        return lambda argv: ["ip", "netns", "exec", ns] + list(argv)

    def remove(self):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


SINK = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept()
while c.recv(1 << 20): pass
"""
SOURCE = """
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
buf, n, t0 = b"\\0" * (1 << 20), 0, time.perf_counter()
while time.perf_counter() - t0 < 2.0:
    c.sendall(buf); n += len(buf)
c.shutdown(socket.SHUT_WR); c.recv(1)
print(n / (time.perf_counter() - t0) / 1e6)
"""


def link_rate(link):
    """MB/s one TCP stream gets from A to B."""
    port = free_port()
    sink = subprocess.Popen(link.wrap("b")([sys.executable, "-c", SINK,
                                            link.addr_b, str(port)]),
                            stdout=subprocess.PIPE, text=True)
    try:
        sink.stdout.readline()
        out = subprocess.run(link.wrap("a")([sys.executable, "-c", SOURCE,
                                             link.addr_b, str(port)]),
                             capture_output=True, text=True, timeout=60,
                             check=True)
        return float(out.stdout.strip())
    finally:
        sink.kill()
        sink.wait()


def wait_filled(vm, what):
    """The first sweep (the fill) is done: memory holds its data."""
    vm.proc.wait_line(r"^dirty: sweep ([1-9]\d*)$", LONG)
    time.sleep(0.5)
    vm.check_guest(what)


def destination_runs(vm, what):
    vm.connect()
    deadline = proc.now() + 60
    while vm.qmp.status() != "running":
        if proc.now() > deadline:
            raise RuntimeError("%s: VM not running" % what)
        time.sleep(0.01)
    time.sleep(1.0)
    vm.check_guest(what)


def run_godwit(link, guest, opts, wd, tag):
    port = free_port()
    addr = "%s:%d" % (link.addr_b, port)
    src = vmm.godwit_run(paths.guest("dirty"), GUESTS[guest], MEM,
                         os.path.join(wd, "gs-%s.qmp" % tag),
                         name="godwit-src", wrap=link.wrap("a"))
    dst = vmm.VM("godwit", [paths.GODWIT, "migrate-receive", "--listen",
                            addr, "--serial", "stdio", "--qmp",
                            os.path.join(wd, "gd-%s.qmp" % tag)],
                 os.path.join(wd, "gd-%s.qmp" % tag), "godwit-dst",
                 wrap=link.wrap("b"))
    try:
        wait_filled(src, "godwit source")
        dst.proc.wait_line(r"waiting for a migration", 60, stream="err")
        src.connect()
        args = {"uri": addr, "downtime-ms": DOWNTIME_MS}
        args.update(opts)
        src.qmp.execute("migrate", args)
        ev = src.qmp.wait_event("MIGRATION",
                                lambda d: d.get("status") != "active", LONG)
        d = ev["data"]
        if d.get("status") != "completed":
            raise RuntimeError("godwit migration %s: %s"
                               % (d.get("status"), d.get("error")))
        destination_runs(dst, "godwit destination")
        return {"total_s": d["total-time-ms"] / 1e3,
                "downtime_s": d["downtime-ms"] / 1e3, "bytes": d["bytes"],
                "rounds": d["rounds"]}
    finally:
        src.close()
        dst.quit()


def qemu_setup(vm, opts, source):
    caps = []
    if opts.get("multifd"):
        caps.append({"capability": "multifd", "state": True})
    if caps:
        vm.qmp.execute("migrate-set-capabilities", {"capabilities": caps})
    params = {}
    if opts.get("multifd"):
        params["multifd-channels"] = opts["multifd"]
        params["multifd-compression"] = opts.get("compression", "none")
    if source:
        params.update({"max-bandwidth": 1 << 40,
                       "downtime-limit": DOWNTIME_MS})
    if params:
        vm.qmp.execute("migrate-set-parameters", params)


def run_qemu(link, guest, opts, wd, tag):
    port = free_port()
    uri = "tcp:%s:%d" % (link.addr_b, port)
    kernel = paths.guest("dirty")
    src = vmm.qemu_run(kernel, GUESTS[guest], MEM,
                       os.path.join(wd, "qs-%s.qmp" % tag), name="qemu-src",
                       wrap=link.wrap("a"))
    dst = vmm.qemu_run(kernel, GUESTS[guest], MEM,
                       os.path.join(wd, "qd-%s.qmp" % tag), incoming="defer",
                       name="qemu-dst", wrap=link.wrap("b"))
    try:
        wait_filled(src, "QEMU source")
        src.connect()
        dst.connect()
        qemu_setup(dst, opts, False)
        dst.qmp.execute("migrate-incoming", {"uri": uri})
        qemu_setup(src, opts, True)
        src.qmp.execute("migrate", {"uri": uri})
        q = vmm.qemu_wait_migration(src, 0.005, LONG)
        if q.get("status") != "completed":
            raise RuntimeError("QEMU migration %s" % q.get("status"))
        destination_runs(dst, "QEMU destination")
        ram = q.get("ram", {})
        return {"total_s": q["total-time"] / 1e3,
                "downtime_s": q.get("downtime", 0) / 1e3,
                "bytes": ram.get("transferred", 0),
                "multifd_bytes": ram.get("multifd-bytes", 0),
                "rounds": ram.get("dirty-sync-count", 0)}
    finally:
        src.close()
        dst.quit()


def summarize(runs):
    return {k: stats.summary([r[k] for r in runs])
            for k in ("total_s", "downtime_s", "bytes", "rounds")}


def markdown(data):
    body = ["## Live migration over a 1 Gb/s link", "",
            "%d rep(s) per row; median (min-max). Link: veth shaped by tc "
            "tbf to %s, measured %s MB/s (one TCP stream). Downtime limit "
            "%d ms." % (data["config"]["reps"], RATE,
                        report.fmt(data["summary"]["link_mb_s"], 0),
                        DOWNTIME_MS), ""]
    for guest, rows in data["guests"].items():
        base = rows["godwit none"]["summary"]["total_s"]
        table = []
        for name, _, _ in ROWS:
            if name not in rows:
                continue
            s = rows[name]["summary"]
            table.append([name, report.fmt_mmm(s["total_s"], 1e3, 0),
                          report.fmt_ratio(stats.median_ratio(s["total_s"],
                                                              base)),
                          report.fmt_mmm(s["downtime_s"], 1e3, 1),
                          report.fmt_mmm(s["bytes"], 1 / MIB, 0)])
        body += ["### %s (%s)" % (guest, GUESTS[guest]), "",
                 report.table(["row", "total ms", "vs godwit none",
                               "downtime ms", "MiB on the wire"], table), ""]
    body.append(goals(data))
    body += ["", "Method: " + " ".join(__doc__.split("\n\n")[1:]).replace("\n", " ")]
    return "\n".join(body)


def goals(data):
    g = data["guests"]
    words = []
    if "2to1" in g:
        r = stats.median_ratio(g["2to1"]["godwit auto"]["summary"]["total_s"],
                               g["2to1"]["godwit none"]["summary"]["total_s"])
        words.append("compression (auto) at least halves the total time for "
                     "memory that compresses 2:1: **%s** (%.2fx of none)"
                     % (report.goal_word(r is not None and r <= 0.5), r or 0))
    if "random" in g:
        r = stats.median_ratio(g["random"]["godwit auto"]["summary"]["total_s"],
                               g["random"]["godwit none"]["summary"]["total_s"])
        words.append("never slower than none for incompressible memory: "
                     "**%s** (auto %.2fx of none)"
                     % (report.goal_word(r is not None and r <= 1.05), r or 0))
    return "Goals: " + "; ".join(words) + "."


def main():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--guests", help="comma list of %s" % ",".join(GUESTS))
    p.add_argument("--reps", type=int, default=0, help="repetitions (default 2)")
    p.add_argument("--rows", help="comma list of row names (default: all)")
    args = p.parse_args()
    rows_run = [r for r in ROWS if not args.rows or r[0] in args.rows.split(",")]
    names = args.guests.split(",") if args.guests else list(GUESTS)
    reps = args.reps or (1 if args.quick else 2)
    paths.check_built("dirty")
    cpu = vmm.qemu_cpu()
    t_start = proc.now()
    results = {}
    link = Link()
    try:
        with cli.workdir(args.workdir) as wd, machine.LoadMonitor() as load:
            rate = link_rate(link)
            cli.log("link: %.0f MB/s" % rate)
            for guest in names:
                rows = {name: {"samples": []} for name, _, _ in rows_run}
                for rep in range(reps):
                    order = rows_run if rep % 2 == 0 else rows_run[::-1]
                    for name, kind, opts in order:
                        fn = run_godwit if kind == "godwit" else run_qemu
                        tag = "%s-%d-%s" % (guest, rep, name.replace(" ", "_"))
                        r = fn(link, guest, opts, wd, tag)
                        cli.log("%s %s rep %d: total %.0f ms, downtime %.1f ms, "
                                "%.0f MiB" % (guest, name, rep, r["total_s"] * 1e3,
                                              r["downtime_s"] * 1e3,
                                              r["bytes"] / MIB))
                        rows[name]["samples"].append(r)
                for name in rows:
                    rows[name]["summary"] = summarize(rows[name]["samples"])
                results[guest] = rows
            mach = machine.describe(wd, load.result())
    finally:
        link.remove()
    data = {"bench": NAME, "quick": args.quick, "machine": mach,
            "config": {"reps": reps, "downtime_limit_ms": DOWNTIME_MS,
                       "memory_mib": MEM, "link": RATE, "qemu_cpu": cpu,
                       "guests": {k: GUESTS[k] for k in names},
                       "rows": [[n, k, o] for n, k, o in rows_run]},
            "guests": results,
            "summary": {"link_mb_s": rate, "wall_time_s": proc.now() - t_start}}
    report.write(NAME, data, markdown(data), args.out)


if __name__ == "__main__":
    main()

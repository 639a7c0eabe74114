#!/usr/bin/python3
"""kvm suite: godwit's CLI with xl's options and verbs (issue 11), each
against a real godwitd and guest:

- migrate: xl's --live, -e and --debug are accepted, -p leaves the
  domain paused on the destination, -s and -C are refused with the
  reason (exit 1); a progress line by default (fed by
  job-info figures that move within a round), none with -q;
- job-info during the first pre-copy round: processed grows and
  remaining shrinks within round 0;
- save's -D and CONFIG, restore's CONFIG FILE refused with the reason;
  save's progress line each second (none with -q);
  restore's -e and -d accepted;
- save DOMAIN - through godwitd (which passes the CLI's stdout on to the
  VMM) into `godwit restore -`: the guest sweeps on there; a reader that
  goes away fails the save and the domain runs on;
- console: -t, -n 0 and -e (another escape character);
- create: -f FILE and -F (in the foreground until the VMM ends);
- shutdown: --wait, -F, and -a (every live domain, -w waiting for all);
- list: -l as xl's JSON (the running configuration), -v the old long
  form, a DOMAIN that is not there an error (exit 1);
- reboot: the domain is reset and on_reboot builds it again;
- domid, domname, uptime, vcpu-list, top (one snapshot) and info."""

import json
import os
import re
import subprocess
import threading
import time

from lib.gw import Vm, check, main, wait_until
from test_daemon import daemon_test


def popen_cli(d, *args, stdin=None):
    environ = dict(os.environ, GODWIT_RUN_DIR=d.run_dir)
    p = subprocess.Popen([d.env.godwit] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=stdin, env=environ)
    d.env.procs.append(p)
    return p


# ---- migrate ----

@daemon_test
def test_migrate_xl_options(env, start):
    a = start("a")
    b = start("b")
    a.create("mv", "dirty", "mib=4")
    dest = "127.0.0.1:%d" % b.reloc_port
    # -s is ssh's command (test_ssh.py); -C is refused with the reason.
    for opt, why in ((["-C", "/etc/other.cfg"], "cannot be sent"),):
        _, err = a.cli("migrate", *opt, "mv", dest, rc=1)
        check("godwit: migrate: %s:" % opt[0] in err and why in err,
              "%s: %s" % (opt, err))
    check(a.dom("mv")["state"] == "running", "refusals touched the domain")
    # xm's --live, xl's -e and --debug: accepted; --debug prints rounds.
    _, err = a.cli("migrate", "--live", "-e", "--debug", "mv", dest,
                   timeout=60)
    check("migrated mv" in err and re.search(r"^round 0: ", err, re.M),
          err)
    # Done means gone here, as in xl: a migration back may follow at once.
    check(a.dom("mv") is None, "still listed at the source: %s"
          % a.dom("mv"))
    b.wait_dom("mv", "running")
    # -q: the outcome only; -p: paused on arrival, until unpaused.
    _, err = b.cli("migrate", "-q", "-p", "mv",
                   "127.0.0.1:%d" % a.reloc_port, timeout=60)
    check(err.startswith("godwit: migrated mv") and
          "MiB sent, round" not in err, err)
    a.wait_dom("mv", "paused")
    time.sleep(0.5)
    check(a.dom("mv")["state"] == "paused", "%s" % a.dom("mv"))
    a.cli("unpause", "mv")
    a.sweeping("mv")
    # Without -p it runs on arrival.
    a.cli("migrate", "-q", "mv", dest, timeout=60)
    b.wait_dom("mv", "running")
    out, _ = a.cli("migrate", "--help")
    check("--debug" in out and "-q, --quiet" in out, out)


@daemon_test
def test_migrate_progress_within_a_round(env, start):
    a = start("a")
    b = start("b")
    a.create("slow", "dirty", "mib=16", memory=32)
    a.console("slow", seconds=5, until=r"^dirty: sweep")  # data to move
    # About 16 MiB at 4 MiB/s: a first round of about 4 s.
    mig = popen_cli(a, "migrate", "--bandwidth", "4", "slow",
                    "127.0.0.1:%d" % b.reloc_port)
    samples = []

    def two_in_round_0():
        j = json.loads(a.cli("job-info", "--json", "slow")[0])
        if j.get("type") == "unbounded" and j.get("iteration") == 0 and \
                j.get("memory-processed", 0) > 0:
            samples.append(j)
        return len(samples) >= 2 and \
            samples[-1]["memory-processed"] > samples[0]["memory-processed"]
    wait_until("two job-info samples in round 0", two_in_round_0, 20, 0.3)
    first, last = samples[0], samples[-1]
    check(last["iteration"] == 0 and
          0 < last["memory-remaining"] < first["memory-remaining"],
          "remaining does not move within round 0: %s then %s"
          % (first, last))
    rc = mig.wait(60)
    err = mig.stderr.read().decode()
    check(rc == 0 and "migrated slow" in err, "migrate: %d %s" % (rc, err))
    # Not a terminal: plain lines, each second, the figures moving.
    sent = [float(m.group(1)) for m in
            re.finditer(r"^migrate: ([\d.]+) MiB sent, round \d+ \d+% of 32 "
                        r"MiB, [\d.]+ MB/s$", err, re.M)]
    check(len(sent) >= 2 and sent[-1] > sent[0], "progress lines: %s" % err)
    b.wait_dom("slow", "running")



# ---- save, restore ----

@daemon_test
def test_save_restore_xl_options(env, start):
    a = start("a")
    a.create("sv", "dirty", "mib=4")
    img = os.path.join(a.dir, "sv.save")
    _, err = a.cli("save", "-D", "sv", img, rc=1)
    check("godwit: save: -D: godwitd gives a restored domain the next free "
          "id" in err, err)
    _, err = a.cli("save", "sv", img, a.config("other", "dirty"), rc=1)
    check("godwit: save: CONFIG: the file carries the configuration" in err,
          err)
    check(not os.path.exists(img) and a.dom("sv")["state"] == "running",
          "a refused save did something")
    a.cli("save", "sv", img)
    a.wait_gone("sv")
    for args in (["cfg", img], ["-p", "cfg", img]):
        _, err = a.cli("restore", *args, rc=1)
        check("godwit: restore: CONFIG FILE: a saved domain is restored "
              "with the configuration in its file" in err, err)
    # xl's -e and -d: accepted; godwitd restores it.
    _, err = a.cli("restore", "-e", "-d", img)
    check("domain sv restored from" in err, err)
    a.wait_dom("sv", "running")
    for verb in ("save", "restore"):
        out, _ = a.cli(verb, "--help")
        check(out.startswith("usage: godwit %s" % verb), out)



@daemon_test
def test_save_dash_through_godwitd(env, start):
    a = start("a")
    a.create("sd", "dirty", "mib=32", memory=96)
    a.console("sd", seconds=5, until=r"^dirty: sweep")
    # The reader goes away after 256 KiB: the save fails, sd runs on.
    save = popen_cli(a, "save", "sd", "-")
    got = save.stdout.read(256 << 10)
    save.stdout.close()
    err = save.communicate(timeout=60)[1].decode()
    check(len(got) == 256 << 10 and save.returncode == 1 and
          "Broken pipe" in err, "save - to a closed pipe: %r" % err)
    a.wait_dom("sd", "running")
    a.console("sd", seconds=5, until=r"^dirty: sweep")
    # save sd - | godwit restore -
    save = popen_cli(a, "save", "sd", "-")
    dst = Vm(env, ["restore", "-", "--serial", "stdio"], name="dst",
             stdin=save.stdout)
    save.stdout.close()
    err = save.communicate(timeout=120)[1].decode()
    check(save.returncode == 0 and "saved sd to -" in err,
          "save sd -: %s" % err)
    a.wait_gone("sd")
    dst.keeps_sweeping(10)
    dst.quit()


def slow_reader(fifo, out, rate):
    """Copy fifo into out at about rate bytes/s, in a thread."""
    def run():
        with open(fifo, "rb") as f, open(out, "wb") as o:
            while True:
                b = f.read(rate // 20)
                if not b:
                    return
                o.write(b)
                time.sleep(0.05)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@daemon_test
def test_save_progress(env, start):
    a = start("a")
    a.create("sp", "dirty", "mib=16", memory=32)
    a.console("sp", seconds=5, until=r"^dirty: sweep")  # data to write
    fifo = os.path.join(a.dir, "sp.fifo")
    img = os.path.join(a.dir, "sp.img")
    os.mkfifo(fifo)
    # About 16 MiB at 6 MiB/s: a save of nearly 3 s, a line each second.
    reader = slow_reader(fifo, img, 6 << 20)
    _, err = a.cli("save", "-c", "sp", fifo, timeout=60)
    reader.join(10)
    written = [float(m.group(1)) for m in
               re.finditer(r"^save: ([\d.]+) MiB written, guest RAM 32 MiB,"
                           r" [\d.]+ MB/s$", err, re.M)]
    check(len(written) >= 2 and written[-1] > written[0] and
          "saved sp to" in err, "save progress: %s" % err)
    reader = slow_reader(fifo, img, 6 << 20)
    _, err = a.cli("save", "-q", "sp", fifo, timeout=60)
    reader.join(10)
    check("MiB written" not in err and "saved sp to" in err, err)
    a.wait_gone("sp")
    a.cli("restore", img)
    a.wait_dom("sp", "running")


# ---- console ----

def attach(d, args, send, wait=0.5):
    """godwit console ARGS..., type send after a moment; (rc, stdout,
    stderr) once it ends (within 10 s)."""
    p = popen_cli(d, "console", *args, stdin=subprocess.PIPE)
    time.sleep(wait)
    try:
        out, err = p.communicate(send, timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode(errors="replace"), err.decode()
    return p.returncode, out.decode(errors="replace"), err.decode()


@daemon_test
def test_console_xl_options(env, start):
    a = start("a")
    a.create("con", "dirty", "mib=4")
    # -e ^a: ^] goes to the guest as any byte, ^A detaches.
    rc, out, err = attach(a, ["-t", "pv", "-n", "0", "-e", "^a", "con"],
                          b"\x1d\x01")
    check(rc == 0 and "^A detaches" in err and "detached" in err,
          "console -e ^a: %s %s" % (rc, err))
    rc, out, err = attach(a, ["-e", "q", "con"], b"q")
    check(rc == 0 and "q detaches" in err and "detached" in err,
          "console -e q: %s %s" % (rc, err))
    _, err = a.cli("console", "-n", "1", "con", rc=1)
    check("a domain has one console, number 0" in err, err)
    for bad in (["-e", "^1"], ["-e", "ab"], ["-t", "vga"]):
        a.cli("console", *bad, "con", rc=2)
    check(a.dom("con")["state"] == "running", "%s" % a.dom("con"))



# ---- create ----

@daemon_test
def test_create_xl_options(env, start):
    a = start("a")
    cfg = a.config("fg", "dirty", "mib=4")
    # -f FILE, a key=value after it, -F: here until the VMM ends.
    p = popen_cli(a, "create", "-F", "-f", cfg, "memory=64")
    dom = a.wait_dom("fg", "running")
    check(dom["memory-mib"] == 64, "key=value after -f: %s" % dom)
    time.sleep(0.5)
    check(p.poll() is None, "create -F ended while the domain runs")
    a.cli("destroy", "fg")
    rc = p.wait(20)
    err = p.stderr.read().decode()
    check(rc == 0 and "domain fg created" in err and
          re.search(r"^godwit: domain fg ended: \w+", err, re.M),
          "create -F: %d %s" % (rc, err))
    _, err = a.cli("create", "-f", rc=2)
    check("usage: godwit create" in err, err)



# ---- shutdown ----

@daemon_test
def test_shutdown_xl_options(env, start):
    a = start("a")
    for n in ("pb1", "pb2", "pb3"):
        a.create(n, "lifecycle", "action=powerbutton", on_poweroff="preserve")
        a.wait_dom(n, "running")
    time.sleep(0.3)
    _, err = a.cli("shutdown", "--wait", "-F", "pb1", timeout=30)
    check("pb1 has shut down" in err, err)
    check(a.dom("pb1")["state"] == "shutdown", "%s" % a.dom("pb1"))
    # -a: every live domain (pb1 is shut down already), -w waits for all.
    _, err = a.cli("shutdown", "-a", "-w", timeout=30)
    check("pb2 has shut down" in err and "pb3 has shut down" in err and
          "pb1" not in err, err)
    check([d["state"] for d in a.domains()] == ["shutdown"] * 3,
          "%s" % a.domains())
    a.cli("shutdown", "-a", "pb2", rc=2)



# ---- list ----

@daemon_test
def test_list_xl_forms(env, start):
    a = start("a")
    a.create("l1", "dirty", "mib=4", memory=64)
    a.create("l2", "dirty", "mib=4", on_crash="preserve")
    uuid = a.dom("l1")["uuid"]
    # -l: xl's JSON, the configuration the VM runs with.
    doms = json.loads(a.cli("list", "-l")[0])
    check([d["domid"] for d in doms] == [a.dom("l1")["domid"],
                                        a.dom("l2")["domid"]], "%s" % doms)
    c = doms[0]["config"]
    check(c["c_info"] == {"type": "pvh", "name": "l1", "uuid": uuid} and
          c["b_info"]["target_memkb"] == 64 << 10 and
          c["b_info"]["max_vcpus"] == 1 and
          c["b_info"]["avail_vcpus"] == [0] and
          c["b_info"]["kernel"] == env.guest("dirty") and
          c["b_info"]["cmdline"] == "mib=4" and
          c["on_poweroff"] == "destroy" and c["disks"] == [], "%s" % c)
    check(doms[1]["config"]["on_crash"] == "preserve", "%s" % doms[1])
    one = json.loads(a.cli("list", "-l", "l2")[0])
    check(len(one) == 1 and one[0]["config"]["c_info"]["name"] == "l2",
          "%s" % one)
    # -v: the old long form; and a DOMAIN that is not there is an error.
    out, _ = a.cli("list", "-v", "l1")
    check(uuid in out and len(out.splitlines()) == 2, out)
    out, err = a.cli("list", "NOSUCH", rc=1)
    check(out == "" and err == "godwit: list: no domain 'NOSUCH'\n",
          "%r %r" % (out, err))
    out, err = a.cli("list", "l1", "NOSUCH", rc=1)
    check(len(out.splitlines()) == 2 and "l1" in out and
          "no domain 'NOSUCH'" in err, "%r %r" % (out, err))
    out, _ = a.cli("list", "-l", "NOSUCH", rc=1)
    check(out == "", "list -l NOSUCH: %r" % out)



# ---- verbs ----

@daemon_test
def test_reboot(env, start):
    a = start("a")
    before = a.create("rb", "dirty", "mib=4")
    _, err = a.cli("reboot", "rb")
    check("godwit: rb is rebooting" in err, err)
    a.wait_log(r"domain rb: restarted as id")
    after = a.wait_dom("rb", "running")
    check(after["domid"] != before["domid"] and
          after["uuid"] == before["uuid"], "%s -> %s" % (before, after))
    # preserve: it stays, shut down by the reset.
    a.create("rk", "dirty", "mib=4", on_reboot="preserve")
    a.cli("reboot", "rk")
    a.wait_dom("rk", "shutdown")
    _, err = a.cli("reboot", "rk", rc=1)
    check("rk" in err, err)



@daemon_test
def test_query_verbs(env, start):
    a = start("a")
    one = a.create("q1", "dirty", "mib=4")
    two = a.create("q2", "dirty", "mib=4", vcpus="2", memory=64)
    # domid and domname, as xl prints them; unknown ones fail.
    check(a.cli("domid", "q2")[0] == "%d\n" % two["domid"], "domid")
    check(a.cli("domname", str(one["domid"]))[0] == "q1\n", "domname")
    _, err = a.cli("domid", "nosuch", rc=1)
    check("no domain named 'nosuch'" in err, err)
    a.cli("domname", "999", rc=1)
    time.sleep(1.1)
    out, _ = a.cli("uptime", "q1")
    rows = out.splitlines()
    check(rows[0] == "Name                                ID Uptime" and
          len(rows) == 2 and re.match(r"^q1 +%d +0:00:0[1-9]$"
                                      % one["domid"], rows[1]),
          "uptime: %r" % out)
    a.cli("uptime", "nosuch", rc=1)
    # vcpu-list: one row per vCPU thread, from the VM process.
    a.cli("pause", "q1")
    out, _ = a.cli("vcpu-list")
    rows = out.splitlines()
    check(rows[0].startswith("Name") and "VCPU" in rows[0] and
          len(rows) == 4, "vcpu-list: %r" % out)
    q1 = [r.split() for r in rows if r.startswith("q1 ")]
    q2 = [r.split() for r in rows if r.startswith("q2 ")]
    check([r[2] for r in q2] == ["0", "1"] and
          all(r[4] in ("r--", "-b-") and r[3].isdigit() for r in q2),
          "q2's vCPUs: %s" % q2)
    check(q1[0][3:5] == ["-", "--p"], "paused q1: %s" % q1)
    check(float(q2[0][5]) > 0 and q2[0][6] in ("all", "0-1"),
          "q2's vCPU 0: %s" % q2)
    a.cli("unpause", "q1")
    # top: one snapshot (not a terminal) with xentop's columns.
    out, _ = a.cli("top", "-b", "-d", "0.5")
    rows = out.splitlines()
    check(rows[0].split()[:4] == ["NAME", "STATE", "CPU(sec)", "CPU(%)"] and
          len(rows) == 3, "top: %r" % out)
    r2 = [r.split() for r in rows if r.split()[0] == "q2"][0]
    check(r2[1] == "r-----" and float(r2[3]) > 1 and r2[4] == "65536" and
          r2[8] == "2", "top's q2 (the dirty guest keeps a CPU busy): %s"
          % r2)
    out, _ = a.cli("top", "-b", "-d", "0.2", "-i", "2")
    check(out.count("NAME  STATE") == 2, "top -i 2: %r" % out)
    # info: the host, and godwitd's domains.
    out, _ = a.cli("info")
    info = dict(re.match(r"^(\S+) +: (.*)$", l).groups()
                for l in out.splitlines())
    check(int(info["nr_cpus"]) == os.cpu_count() and
          int(info["total_memory"]) > 0 and info["nr_domains"] == "2" and
          info["domains_memory"] == "96", "info: %s" % info)


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

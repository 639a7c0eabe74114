#!/usr/bin/python3
"""kvm suite: virtio-net on a tap in a bridge, on one host. The net test
guest (guests/README.md) runs under godwit with `--vif ...,bridge=br0` in
a host namespace whose bridge reaches a client namespace
(tests/kvm/lib/netns.py); the client pings it and sends numbered UDP
requests at 1 kHz (gw-net-client). Proves: the guest answers through the
tap with nothing lost, duplicated or reordered; a generated MAC is in
Xen's range and survives save and restore (and the restored VM announces
itself); vif scripts run with Xen's calling convention (the example
examples/vif-bridge, as godwit.cfg(5) documents it) and a failing one
stops the start with one line quoting it; `godwit announce` sends RARP
rounds on QEMU's schedule and the guest's own announcement; rate= limits
what the guest transmits."""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

from lib.gw import SKIP, TestFailure, Vm, check, main, wait_until
from lib.netns import GUEST_IP, Segment, skip_reason
from lib.stream import DEVICE, Stream
from test_daemon import daemon_test

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
MAC = "00:16:3e:77:00:02"


def client_bin(env):
    return os.path.join(env.build, "tests", "kvm", "gw-net-client")


def net_vm(env, seg, vif, name="vm", host="a", extra=(), memory=32):
    vm = env.run("net", "ip=" + GUEST_IP, memory=memory, name=name,
                 extra=["--vif", vif] + list(extra), prefix=seg.prefix(host))
    vm.mac = vm.expect(r"^net: ready ip=\S+ mac=(\S+)$", 30).group(1)
    return vm


def client(env, seg, *args, timeout=60):
    """gw-net-client in the client namespace; its JSON summary."""
    r = seg.run("c", [client_bin(env), GUEST_IP, "7"] + [str(a) for a in args],
                timeout=timeout)
    check(r.returncode == 0, "client: %s %s" % (r.stdout, r.stderr))
    return json.loads(r.stdout)


def clean_run(s, what):
    check(s["duplicated"] == 0 and s["reordered"] == 0 and
          s["guest_gaps"] == 0, "%s: %s" % (what, s))


def test_answers_through_a_bridge(env):
    seg = Segment(hosts=1)
    try:
        vm = net_vm(env, seg, "mac=%s, bridge=br0" % MAC)
        check(vm.mac == MAC, "guest MAC %s, want %s" % (vm.mac, MAC))
        vm.expect_stderr(r"vif 0: tap gw\d+\.0, bridge br0", 10)
        taps = seg.taps("a")
        check(list(taps.values()) == ["br0"], "taps in a: %s" % taps)
        r = seg.run("c", ["ping", "-c", "5", "-i", "0.2", "-W", "2",
                          GUEST_IP])
        check(" 5 received" in r.stdout, "ping: " + r.stdout)
        # 200 Hz: well within what the guest's emulated ring 0 serves on
        # a loaded host (test_net_migrate.py runs at 1 kHz).
        s = client(env, seg, "--seconds", "2", "--hz", "200")
        clean_run(s, "udp")
        check(s["sent"] >= 398 and s["lost"] == 0, "2 s at 200 Hz: %s" % s)
        print("    rtt median %.3f ms, p99 %.3f ms" % (s["rtt_median_ms"],
                                                      s["rtt_p99_ms"]))
        check(seg.fdb_port(MAC) == "a", "segment does not know the guest")
        vm.quit()
        check(not seg.taps("a"), "tap left behind: %s" % seg.taps("a"))
    finally:
        seg.remove()


def device_mac(path):
    """vif-0's MAC in a stream (its state: 376 bytes of virtio-mmio)."""
    recs = [r for r in Stream(open(path, "rb").read()).find(DEVICE)
            if r.body[:16].rstrip(b"\0") == b"vif-0"]
    check(len(recs) == 1, "want one vif-0 record, got %d" % len(recs))
    return recs[0].body[24 + 376:24 + 382].hex(":")


def test_generated_mac_survives_save_restore(env):
    seg = Segment(hosts=1)
    try:
        vm = net_vm(env, seg, "bridge=br0")
        check(re.match(r"^00:16:3e:[0-7][0-9a-f](:[0-9a-f]{2}){2}$", vm.mac),
              "generated MAC %s is not in Xen's range" % vm.mac)
        s = client(env, seg, "--seconds", "1", "--hz", "200")
        check(s["lost"] == 0, "before save: %s" % s)
        path = os.path.join(env.tmp, "net.sav")
        rc, _, err = env.godwit_cmd("save", vm.qmp_path, path)
        check(rc == 0, "save: " + err)
        check(vm.wait(30) == 0, "saved VM did not end")
        check(device_mac(path) == vm.mac, "saved device MAC %s, guest %s"
              % (device_mac(path), vm.mac))
        rc, out, err = env.godwit_cmd("inspect", path)
        check(rc == 0 and "valid" in out, "inspect: %s %s" % (out, err))
        vm2 = Vm(env, ["restore", path, "--serial", "stdio"], name="restored",
                 prefix=seg.prefix("a"))
        vm2.expect_stderr(r"announced 1 NIC \(RARP; 1 guest asked\): RARP "
                          r"sent in \d+ us", 30)
        cfg = vm2.qmp().execute("query-config")["config"]
        check(("mac=%s" % vm.mac) in cfg, "restored config: " + cfg)
        s = client(env, seg, "--seconds", "1", "--hz", "200")
        clean_run(s, "after restore")
        check(s["lost"] == 0, "after restore: %s" % s)
        vm2.quit()
    finally:
        seg.remove()


def script_env(env):
    """GODWIT_SCRIPTS_DIR with a logging copy of examples/vif-bridge."""
    d = os.path.join(env.tmp, "scripts")
    os.makedirs(d, exist_ok=True)
    log = os.path.join(env.tmp, "vif.log")
    with open(os.path.join(d, "vif-logged"), "w") as f:
        f.write("#!/bin/sh\necho \"$* vif=$vif netdev=[$netdev] "
                "bridge=$GODWIT_BRIDGE mac=$GODWIT_MAC ip=$GODWIT_IP "
                "devid=$GODWIT_DEVID\" >> %s\nexec %s/examples/vif-bridge "
                "\"$@\"\n" % (log, SRC))
    os.chmod(os.path.join(d, "vif-logged"), 0o755)
    with open(os.path.join(d, "vif-broken"), "w") as f:
        f.write("#!/bin/sh\necho 'looking for br9'\n"
                "echo 'bridge br9 does not exist' >&2\nexit 4\n")
    os.chmod(os.path.join(d, "vif-broken"), 0o755)
    os.environ["GODWIT_SCRIPTS_DIR"] = d
    return log


def test_vif_script(env):
    seg = Segment(hosts=1)
    log = script_env(env)
    try:
        vm = net_vm(env, seg, "mac=%s, bridge=br0, script=vif-logged, "
                    "ip=10.77.0.2" % MAC)
        tap = vm.expect_stderr(r"vif 0: tap (gw\d+\.0), set up by "
                               r"vif-logged", 10).group(1)
        vm.expect_stderr(r"vif-bridge: .*%s.* online" % re.escape(tap), 10)
        check(seg.taps("a") == {tap: "br0"}, "taps: %s" % seg.taps("a"))
        s = client(env, seg, "--seconds", "1", "--hz", "200")
        check(s["lost"] == 0, "through the script's setup: %s" % s)
        vm.quit()
        lines = open(log).read().splitlines()
        want = ["%s type_if=vif vif=%s netdev=[] bridge=br0 mac=%s "
                "ip=10.77.0.2 devid=0" % (a, tap, MAC)
                for a in ("online", "offline")]
        check(lines == want, "script calls %s, want %s" % (lines, want))
        # A failing script: no VM, one line quoting it, nothing left.
        rc, out, err = env.godwit_cmd(
            "run", "--kernel", env.guest("net"), "--cmdline",
            "ip=" + GUEST_IP, "--memory", "32", "--qmp", "none", "--vif",
            "bridge=br0, script=vif-broken", prefix=seg.prefix("a"))
        line = [l for l in err.splitlines() if "vif-broken" in l and
                "failed" in l]
        check(rc == 1 and len(line) == 1 and re.search(
            r"^godwit: error: vif gw\d+\.0: hotplug script \S+/vif-broken "
            r"online "
            r"failed \(exit 4\): \"bridge br9 does not exist\"$", line[0]),
              "failing script: rc %d: %s" % (rc, err))
        check(not seg.taps("a"), "tap left: %s" % seg.taps("a"))
    finally:
        del os.environ["GODWIT_SCRIPTS_DIR"]
        seg.remove()


def sniffer(env, seg, devs, mac):
    out = os.path.join(env.tmp, "sniffer.json")
    p = subprocess.Popen(seg.prefix("c") + [sys.executable, os.path.join(
        HERE, "netsniff.py"), devs, mac], stdout=open(out, "w"), text=True)
    env.procs.append(p)
    wait_until("the sniffer", lambda: os.path.getsize(out))
    p.out = out
    return p


def sniffed(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    frames = [json.loads(l) for l in open(p.out)][1:]
    check(frames[-1:] == [{"drops": 0}], "the sniffer missed frames: %s"
          % frames[-1:])
    return frames[:-1]


RARP, ARP = 0x8035, 0x0806


def test_announce_verb(env):
    seg = Segment(hosts=1)
    try:
        vm = net_vm(env, seg, "mac=%s, bridge=br0" % MAC)
        sn = sniffer(env, seg, "sega", MAC)
        rc, out, err = env.godwit_cmd("announce", vm.qmp_path)
        check(rc == 0 and "announced" in err, "announce: %d %s" % (rc, err))
        time.sleep(1.2)
        frames = sniffed(sn)
        rarp = [f["t"] for f in frames if f["type"] == RARP]
        garp = [f for f in frames if f["type"] == ARP and
                f["dst"] == "ff:ff:ff:ff:ff:ff"]
        check(len(rarp) == 5, "RARP frames: %s" % frames)
        gaps = [round((b - a) * 1000) for a, b in zip(rarp, rarp[1:])]
        # QEMU's schedule: 50, 150, 250, 350 ms (a loaded host is late).
        check(all(w - 5 <= g <= w + 60 for g, w in
                  zip(gaps, (50, 150, 250, 350))), "round gaps %s ms" % gaps)
        check(len(garp) >= 1, "the guest did not announce itself: %s"
              % frames)
        # QMP announce-self with QEMU's arguments; bad ones refused.
        q = vm.qmp()
        r = q.execute_raw("announce-self", rounds=-1)
        check("error" in r and "'rounds' must be an integer from 0 to 1000"
              in r["error"]["desc"],
              "announce-self rounds=-1: %s" % r)
        sn = sniffer(env, seg, "sega", MAC)
        q.execute("announce-self", initial=10, max=20, rounds=2, step=10)
        time.sleep(0.5)
        rarp = [f for f in sniffed(sn) if f["type"] == RARP]
        check(len(rarp) == 2, "rounds=2: %d RARP frames" % len(rarp))
        q.close()
        vm.quit()
    finally:
        seg.remove()


def test_every_nic_announces(env):
    """Two NICs: each round has a RARP from both MACs, at once."""
    seg = Segment(hosts=1)
    other = "00:16:3e:77:00:03"
    try:
        vm = net_vm(env, seg, "mac=%s, bridge=br0" % MAC,
                    extra=["--vif", "mac=%s, bridge=br0" % other])
        sn = sniffer(env, seg, "sega", MAC + "," + other)
        env.godwit_cmd("announce", vm.qmp_path, check_rc=0)
        time.sleep(1.2)
        rarp = [f for f in sniffed(sn) if f["type"] == RARP]
        by = {m: [f["t"] for f in rarp if f["src"] == m]
              for m in (MAC, other)}
        check(len(by[MAC]) == 5 and len(by[other]) == 5,
              "RARP frames per MAC: %s" % {m: len(t) for m, t in by.items()})
        skew = max(abs(a - b) for a, b in zip(by[MAC], by[other]))
        check(skew < 0.02, "the NICs' rounds %.1f ms apart" % (skew * 1000))
        vm.quit()
    finally:
        seg.remove()


def test_rate_limit(env):
    """rate=40KB/s@20ms: 200 requests of 1400 bytes a second (280 KB/s)
    get 40 KB/s of answers, after a burst of at most 128 KiB; the guest's
    answers wait in its ring (the requests it has no room for are lost)."""
    seg = Segment(hosts=1)
    try:
        vm = net_vm(env, seg, "mac=%s, bridge=br0, rate=40KB/s@20ms" % MAC)
        s = client(env, seg, "--seconds", "3", "--hz", "200", "--size",
                   "1400", "--drain-ms", "500")
        # What the limit counts: each answer's chain, virtio-net header
        # (12), Ethernet, IPv4 and UDP headers (42), payload and number;
        # answers keep coming while the client drains (3.5 s in all).
        got = s["answered"] * (12 + 42 + 1400 + 8)
        rate = (got - 131072) / 3.5
        print("    %d of %d answered: %.0f bytes/s beyond the burst"
              % (s["answered"], s["sent"], rate))
        check(34000 <= rate <= 44000, "rate %.0f B/s: %s" % (rate, s))
        vm.quit()
        vm = net_vm(env, seg, "mac=%s, bridge=br0" % MAC, name="free")
        s = client(env, seg, "--seconds", "1", "--hz", "200", "--size",
                   "1400")
        check(s["lost"] == 0, "without a limit: %s" % s)
        vm.quit()
    finally:
        seg.remove()


@daemon_test
def test_daemon_domain_with_a_vif(env, start):
    """A domain godwitd creates with a vif: its tap in the bridge, `list
    -l` shows the vif, `godwit announce NAME` goes through the daemon."""
    seg = Segment(hosts=1)
    try:
        d = start("a", prefix=seg.prefix("a"))
        d.create("web", "net", "ip=" + GUEST_IP,
                 vif=["mac=%s, bridge=br0" % MAC])
        wait_until("the guest to answer", lambda: " 1 received" in seg.run(
            "c", ["ping", "-c", "1", "-W", "1", GUEST_IP]).stdout, 30)
        out, _ = d.cli("list", "-v")
        row = [l for l in out.splitlines() if l.startswith("web ")][0]
        check(out.splitlines()[0].endswith("\tDisks\tVifs") and
              row.endswith("\t-\t%s@br0" % MAC), "list -l: %r" % out)
        check(d.dom("web")["vifs"] == [{"mac": MAC, "bridge": "br0"}],
              "json: %s" % d.dom("web")["vifs"])
        sn = sniffer(env, seg, "sega", MAC)
        _, err = d.cli("announce", "web")
        check("web announced" in err, err)
        time.sleep(1)
        check(len([f for f in sniffed(sn) if f["type"] == RARP]) == 5,
              "announce through godwitd")
        d.cli("destroy", "web")
        d.wait_gone("web")
    finally:
        seg.remove()


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print("SKIP: " + why)
        sys.exit(SKIP)
    main([test_answers_through_a_bridge,
          test_generated_mac_survives_save_restore, test_vif_script,
          test_announce_verb, test_every_nic_announces, test_rate_limit,
          test_daemon_domain_with_a_vif])

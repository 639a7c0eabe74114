#!/usr/bin/python3
"""kvm suite: a service that keeps answering through live migration.
Two hosts and a client in network namespaces (tests/kvm/lib/netns.py):
each host's bridge is joined to the client's segment by a veth; the net
test guest runs on host a with `--vif mac=M,bridge=br0` and moves between
the hosts (godwit run / migrate-receive in `ip netns exec`, over their own
migration link) while the client sends numbered UDP requests at 1 kHz
(gw-net-client) and a sniffer on the segment notes every frame the VM's
MAC sends and from which host.

Per move, measured and checked: the blackout (the gap between answers
that holds the destination's RARP) against the downtime godwit reports
(within ANSWER_SLACK_MS: the announcement took effect; how close it comes
is bench/net's figure); requests lost only while
the service was dark, none duplicated or reordered (the guest's own
numbering has no gap either); the segment's forwarding table has the MAC
on the destination's port afterwards, and the first frame from the MAC
on that port is godwit's RARP announcement (sent as the vCPUs start:
just before, so frames for the VM queue in its new tap while they do),
not the guest's next packet; after it, the source's tap sends nothing. Also: 20 moves back and forth, and a destination killed in
the middle of a migration (the guest goes on answering from host a).

The guest's driver runs in emulated ring 0 here (KVM-HERE.md): about 0.5
ms of a core per request, so a loaded host cannot serve 1 kHz. A 2 s
baseline measures that first; if the guest is saturated (p99 round trip
over 20 ms, or losses) the run uses 250 Hz, else 100 Hz, and says so;
the checks stay as strict, only the spacing changes. If even 100 Hz is
too much for the host at that moment, the blackout and the losses are
not judged (queueing in the saturated guest, not the move, would decide
them; the run says so loudly); every other check still is. Load changes
by the second, so it is measured again before each move: a move whose
guest answered slower than that mark in the second before it is not
judged either (said per move); a loss while the guest kept up always
fails."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from lib.gw import SKIP, check, main, wait_until
from lib.net import receiver
from lib.netns import GUEST_IP, MIG_ADDR, Segment, skip_reason

HERE = os.path.dirname(os.path.abspath(__file__))
MAC = "00:16:3e:77:00:02"
RARP = 0x8035


class Service:
    """The client (and sniffer) for the whole run, and its analysis."""

    def __init__(self, env, seg, hz):
        self.env, self.seg, self.hz = env, seg, hz
        self.stop = os.path.join(env.tmp, "client.stop")
        self.log = os.path.join(env.tmp, "client.log")
        client = os.path.join(env.build, "tests", "kvm", "gw-net-client")
        self.client = subprocess.Popen(seg.prefix("c") + [
            client, GUEST_IP, "7", "--hz", str(hz), "--seconds", "900",
            "--until", self.stop, "--log", self.log],
            stdout=subprocess.PIPE, text=True)
        env.procs.append(self.client)
        self.sniff_out = os.path.join(env.tmp, "sniffer.json")
        self.sniff = subprocess.Popen(seg.prefix("c") + [
            sys.executable, os.path.join(HERE, "netsniff.py"), "sega,segb",
            MAC], stdout=open(self.sniff_out, "w"), text=True)
        env.procs.append(self.sniff)
        wait_until("the sniffer", lambda: os.path.getsize(self.sniff_out))

    def finish(self):
        open(self.stop, "w").close()
        out, _ = self.client.communicate(timeout=30)
        self.summary = json.loads(out)
        self.sniff.send_signal(signal.SIGTERM)
        self.sniff.wait(timeout=30)
        self.frames = [json.loads(l) for l in open(self.sniff_out)][1:]
        drops = [f["drops"] for f in self.frames if "drops" in f]
        check(drops == [0], "the sniffer missed frames: %s" % drops)
        self.frames = [f for f in self.frames if "drops" not in f]
        self.replies = []
        for line in open(self.log):
            if not line.startswith("#"):
                req, gseq, sent, recv = (int(x) for x in line.split())
                self.replies.append((req, gseq, sent / 1e9, recv / 1e9))
        return self.summary

    def gap(self, t0, t1):
        """The longest gap between consecutive answers, of those that end
        in [t0, t1]: its length in ms, start and end (monotonic s)."""
        best = (0.0, t0, t0)
        prev = None
        for _, _, _, r in self.replies:
            if prev is not None and t0 <= r <= t1 and \
                    (r - prev) * 1000 > best[0]:
                best = ((r - prev) * 1000, prev, r)
            prev = r
        return best

    def gap_around(self, t):
        """The gap between consecutive answers that holds t (ms, start,
        end), or None."""
        for a, b in zip(self.replies, self.replies[1:]):
            if a[3] <= t < b[3]:
                return ((b[3] - a[3]) * 1000, a[3], b[3])
        return None

    def steady(self, t0, seconds=1.0):
        """The guest just before t0 (requests sent in the last seconds
        before it, but 50 ms): p99 round trip (ms) and requests lost. The
        load here changes by the second; the baseline was before the run."""
        lo, hi = t0 - seconds, t0 - 0.05
        first = self.replies[0][2] - (self.replies[0][0] - 1) / self.hz
        rtts = sorted((r - s) * 1000 for _, _, s, r in self.replies
                      if lo <= s < hi)
        answered = {q for q, _, s, _ in self.replies if lo <= s < hi}
        lost = [q for q in range(1, self.summary["sent"] + 1)
                if lo <= first + (q - 1) / self.hz < hi and
                q not in answered]
        p99 = rtts[min(len(rtts) - 1, int(0.99 * len(rtts)))] \
            if rtts else float("inf")
        return p99, len(lost)

    def lost_outside(self, windows, slack):
        """Requests never answered whose sending falls in no window."""
        answered = {req for req, _, _, _ in self.replies}
        sent_at = {req: s for req, _, s, _ in self.replies}
        n = self.summary["sent"]
        # A lost request's send time: the schedule's, from its number.
        t0 = self.replies[0][2] - (self.replies[0][0] - 1) / self.hz
        out = []
        for req in range(1, n + 1):
            if req in answered:
                continue
            s = sent_at.get(req, t0 + (req - 1) / self.hz)
            if not any(a - slack <= s <= b for a, b in windows):
                out.append(req)
        return out


RATES = (1000, 250, 100)
SATURATED_P99_MS = 20
# The destination guest's first answers after resume, on this emulated host
# (bench/net: 2-100 ms): the blackout's closeness to the downtime is
# bench/net's figure; this test checks the announcement took effect.
ANSWER_SLACK_MS = 250


def baseline_rate(env, seg):
    """The highest of RATES the guest serves here (2 s, p99 round trip
    within 20 ms, nothing lost), and that baseline. If even the lowest is
    too much for this host now, timing cannot be judged: the baseline
    says so ("timing": False) and only the checks that do not depend on
    it are made."""
    client = os.path.join(env.build, "tests", "kvm", "gw-net-client")
    load = open("/proc/loadavg").read().split()[0]
    for hz in RATES:
        r = seg.run("c", [client, GUEST_IP, "7", "--hz", str(hz),
                          "--seconds", "2"])
        s = json.loads(r.stdout)
        s["timing"] = s["rtt_p99_ms"] <= SATURATED_P99_MS and not s["lost"]
        if s["timing"]:
            break
        print("    the guest is saturated at %d Hz on this host (p99 %.1f "
              "ms, %d lost, load %s)" % (hz, s["rtt_p99_ms"], s["lost"],
                                         load), flush=True)
        drained(seg)
    print("    running at %d Hz: baseline rtt median %.3f ms, p99 %.3f ms%s"
          % (hz, s["rtt_median_ms"], s["rtt_p99_ms"], "" if s["timing"] else
             "; TIMING NOT JUDGED (the host is too busy for the guest)"),
          flush=True)
    return hz, s


def drained(seg):
    """Until the guest answers a ping within SATURATED_P99_MS (10 s at
    most): a saturated run leaves requests queued in the tap and the
    guest, and the next, slower rate would measure that backlog (after
    1 kHz, 250 Hz once lost all its 500 and 100 Hz saw a median of 669
    ms)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = seg.run("c", ["ping", "-c", "1", "-W", "2", GUEST_IP])
        m = re.search(r"time=([\d.]+) ms", r.stdout)
        if m and float(m.group(1)) <= SATURATED_P99_MS:
            return
        time.sleep(0.2)


def start(env, seg, name="on-a"):
    vm = env.run("net", "ip=" + GUEST_IP, memory=32, name=name,
                 extra=["--vif", "mac=%s, bridge=br0" % MAC],
                 prefix=seg.prefix("a"))
    vm.expect(r"^net: ready ip=\S+ mac=%s$" % MAC, 30)
    r = seg.run("c", ["ping", "-c", "2", "-i", "0.2", "-W", "2", GUEST_IP])
    check(" 2 received" in r.stdout, "ping: " + r.stdout)
    return vm


def hop(env, seg, vm, src, dst, k, env_extra=None):
    """Move the VM from host src to dst; the destination's process and
    what the move measured."""
    dest = receiver(env, "hop%d-%s" % (k, dst),
                    listen="%s:%d" % (MIG_ADDR[dst], 8002 + k),
                    prefix=seg.prefix(dst), env_extra=env_extra)
    t0 = time.monotonic()
    rc, out, err = env.godwit_cmd("migrate", vm.qmp_path,
                                  "%s:%d" % (MIG_ADDR[dst], 8002 + k),
                                  prefix=seg.prefix(src), timeout=120)
    t1 = time.monotonic()
    check(rc == 0, "move %d %s->%s: %s" % (k, src, dst, err))
    m = re.search(r"downtime ([\d.]+) ms", err)
    check(m, "no downtime in: " + err)
    check(vm.wait(30) == 0, "move %d: the source did not end" % k)
    a = dest.expect_stderr(r"announced 1 NIC \(RARP; (\d) guest asked\): "
                           r"RARP sent in (\d+) us, (\d+) us before the "
                           r"vCPUs started", 10)
    return dest, {"hop": k, "from": src, "to": dst, "t0": t0, "t1": t1,
                  "downtime_ms": float(m.group(1)),
                  "guest_asked": int(a.group(1)),
                  "rarp_us": int(a.group(2)), "dest": dest,
                  "before_resume_us": int(a.group(3))}


def judge(svc, hops, base, seg):
    """Every check on a finished run; returns the per-move figures."""
    try:
        return judge_all(svc, hops, base, seg)
    finally:
        report(hops, svc, svc.hz)


def judge_all(svc, hops, base, seg):
    s = svc.summary
    check(s["duplicated"] == 0 and s["reordered"] == 0 and
          s["guest_gaps"] == 0, "client: %s" % s)
    slack = base["rtt_p99_ms"] / 1000 + 0.002
    windows, excused = [], []
    for i, h in enumerate(hops):
        end = hops[i + 1]["t0"] if i + 1 < len(hops) else h["t1"] + 1
        rarp = moved(svc, h, end)
        # The move's blackout: the gap between answers that holds the
        # destination's RARP (sent just before its vCPUs start, inside
        # the dark time), not the longest gap near it: on a loaded host
        # that is often a stall of the guest a second later.
        g = svc.gap_around(rarp)
        check(g, "move %d: no answers on both sides of the RARP" % h["hop"])
        h["blackout_ms"], a, b = g
        h["worst_gap_ms"] = svc.gap(h["t0"], min(h["t1"] + 1, end))[0]
        windows.append((a, b))
        # The RARP goes out before the vCPUs start (the log line says by
        # how much; moved() sees it first on the new port): the network
        # never waits for the guest. The guest is asked to announce too.
        check(h["guest_asked"] == 1, "move %d: %d guest asked"
              % (h["hop"], h["guest_asked"]))
        # The move may add its downtime to the gaps the client sees anyway
        # on this host just then (the worst in the 250 ms before it, or
        # the baseline's p99), plus two request periods and 20 ms for the
        # destination's guest to start. Without the announcement the
        # segment would send requests to the old host until its entry
        # aged out (300 s), or until the guest next spoke.
        h["before_ms"] = svc.gap(h["t0"] - 0.25, h["t0"])[0]
        # Load changes by the second: a guest that answered slower than
        # the saturation mark in the second before this move is
        # queueing, and its queue, not the move, decides the gap and
        # its losses; that move is not judged (said in the report). A
        # loss while the guest kept up is never excused.
        since = windows[-2][1] + 0.05 if i else h["t0"] - 1.0
        p99, lost = svc.steady(h["t0"], min(1.0, h["t0"] - since))
        h["judged"] = base["timing"] and p99 <= SATURATED_P99_MS
        if not h["judged"]:
            excused.append((since, end))
        # What the announcement must achieve, checked here: the segment
        # sends the requests to the new host from its resume on, so the
        # blackout ends within a fraction of a second, not at the 300 s
        # aging. How close it comes to the downtime is a speed figure:
        # bench/net measures it (the guest's answer latency after resume
        # on this emulated host still adds tens of ms there).
        allow = h["downtime_ms"] + max(h["before_ms"], base["rtt_p99_ms"]) \
            + 2 * 1000 / svc.hz + 20 + ANSWER_SLACK_MS
        check(not h["judged"] or h["blackout_ms"] <= allow,
              "move %d: blackout %.1f ms, downtime %.2f ms, worst gap "
              "just before %.1f ms" % (h["hop"], h["blackout_ms"],
                                       h["downtime_ms"], h["before_ms"]))
        if base["timing"] and not h["judged"]:
            print("    move %d: TIMING NOT JUDGED: the guest fell behind in "
                  "the second before it (p99 %.1f ms, %d lost)"
                  % (h["hop"], p99, lost), flush=True)
    lost = svc.lost_outside(windows + excused, slack)
    check(not base["timing"] or not lost,
          "%d requests lost outside the blackouts: %s" %
          (len(lost), lost[:10]))
    check(seg.fdb_port(MAC) == hops[-1]["to"], "the segment has the MAC on "
          "%s, not %s" % (seg.fdb_port(MAC), hops[-1]["to"]))
    return hops


def moved(svc, h, end):
    """On the segment: the first frame from the MAC on the destination's
    port is the RARP, and the source's port carries nothing after it."""
    on = [f for f in svc.frames if h["t0"] <= f["t"] <= end]
    dst = [f for f in on if f["dev"] == "seg" + h["to"]]
    check(dst and dst[0]["type"] == RARP, "move %d: first frame from the "
          "MAC on %s: %s" % (h["hop"], h["to"], dst[:1]))
    late = [f for f in on if f["dev"] == "seg" + h["from"] and
            f["t"] > dst[0]["t"]]
    before = [f["t"] for f in on if f["dev"] == "seg" + h["from"] and
              f["t"] < dst[0]["t"]]
    reply = [f["t"] for f in dst if f["type"] == 0x0800]
    h["src_last_to_rarp_ms"] = (dst[0]["t"] - before[-1]) * 1000 \
        if before else None
    h["rarp_to_reply_ms"] = (reply[0] - dst[0]["t"]) * 1000 \
        if reply else None
    check(not late, "move %d: host %s sent %s after the RARP from %s" %
          (h["hop"], h["from"], late[:3], h["to"]))
    return dst[0]["t"]


def ms(v):
    return "%6.1f" % v if v is not None else "     -"


def report(hops, svc, hz):
    for h in hops:
        print("    move %2d %s->%s: downtime %6.2f ms, blackout %s ms "
              "(worst gap near it %s; source's last frame to RARP %s, RARP "
              "to first answer %s); RARP %d us before the vCPUs started" % (
                  h["hop"], h["from"], h["to"], h["downtime_ms"],
                  ms(h.get("blackout_ms")), ms(h.get("worst_gap_ms")),
                  ms(h.get("src_last_to_rarp_ms")),
                  ms(h.get("rarp_to_reply_ms")), h["before_resume_us"]),
              flush=True)
    s = svc.summary
    print("    %d Hz: %d sent, %d lost (all while dark), 0 duplicated, 0 "
          "reordered; rtt median %.3f ms, p99 %.3f ms"
          % (hz, s["sent"], s["lost"], s["rtt_median_ms"], s["rtt_p99_ms"]),
          flush=True)


def run_moves(env, nr):
    seg = Segment(hosts=2)
    try:
        vm = start(env, seg)
        hz, base = baseline_rate(env, seg)
        svc = Service(env, seg, hz)
        time.sleep(0.5)
        hops, here = [], "a"
        for k in range(nr):
            there = "b" if here == "a" else "a"
            vm, h = hop(env, seg, vm, here, there, k)
            hops.append(h)
            here = there
            time.sleep(0.3)  # answers from the new host before the next
        svc.finish()
        judge(svc, hops, base, seg)
        vm.quit()
    finally:
        seg.remove()


def test_there_and_back(env):
    run_moves(env, 2)


def test_ping_pong_20(env):
    run_moves(env, 20)


def test_destination_killed_mid_migration(env):
    """The destination dies after the final copy, before RECEIVED: the
    source resumes and the guest goes on answering from host a."""
    seg = Segment(hosts=2)
    try:
        vm = start(env, seg)
        hz, base = baseline_rate(env, seg)
        svc = Service(env, seg, hz)
        time.sleep(0.5)
        dest = receiver(env, "doomed", listen="%s:8002" % MIG_ADDR["b"],
                        prefix=seg.prefix("b"),
                        env_extra={"GODWIT_TEST_STALL": "before-received"})
        t0 = time.monotonic()
        mig = subprocess.Popen(seg.prefix("a") + [
            env.godwit, "migrate", vm.qmp_path, MIG_ADDR["b"]],
            stderr=subprocess.PIPE, text=True)
        env.procs.append(mig)
        dest.expect_stderr(r"test: stalled before-received", 60)
        check(list(seg.taps("b").values()) == ["br0"],
              "the destination's tap is not in place before RECEIVED")
        dest.kill()
        _, err = mig.communicate(timeout=60)
        check(mig.returncode == 1, "migrate: %d %s" % (mig.returncode, err))
        time.sleep(1)
        svc.finish()
        s = svc.summary
        check(s["duplicated"] == 0 and s["reordered"] == 0 and
              s["guest_gaps"] == 0, "client: %s" % s)
        after = [r for r in svc.replies if r[3] > t0 + 0.2]
        check(len(after) > 0.5 * hz, "the guest stopped answering: %d "
              "answers after the failed move" % len(after))
        check(seg.fdb_port(MAC) == "a", "MAC on %s" % seg.fdb_port(MAC))
        check(not [f for f in svc.frames if f["dev"] == "segb"],
              "frames from the MAC came from host b")
        gap, _, _ = svc.gap(t0, time.monotonic())
        print("    source paused and resumed: blackout %.1f ms, %d lost"
              % (gap, s["lost"]), flush=True)
        check(not base["timing"] or
              not svc.lost_outside([(t0, time.monotonic())], 0),
              "requests lost before the move")
        vm.quit()
    finally:
        seg.remove()


QUIESCE_MS = 300


def test_downtime_counts_quiesce(env):
    """The downtime godwit reports starts when the vCPUs are asked to
    stop, not after the devices went quiet: with every quiesce made 300
    ms slower (as a busy host's I/O thread is slow to park; once 32 ms
    here), the client's blackout is that long, and so is the downtime
    (it was not: 1-13 ms against blackouts of 12-119 ms)."""
    seg = Segment(hosts=2)
    try:
        os.environ["GODWIT_TEST_QUIESCE_MS"] = str(QUIESCE_MS)
        try:
            vm = start(env, seg)
        finally:
            del os.environ["GODWIT_TEST_QUIESCE_MS"]
        svc = Service(env, seg, 100)
        time.sleep(0.5)
        vm, h = hop(env, seg, vm, "a", "b", 0)
        time.sleep(0.5)
        svc.finish()
        h["blackout_ms"] = svc.gap_around(moved(svc, h, time.monotonic()))[0]
        print("    quiesce %d ms slower: downtime %.1f ms, blackout %.1f ms"
              % (QUIESCE_MS, h["downtime_ms"], h["blackout_ms"]), flush=True)
        check(h["blackout_ms"] >= QUIESCE_MS, "the slow quiesce did not "
              "stop the service: blackout %.1f ms" % h["blackout_ms"])
        check(h["downtime_ms"] >= QUIESCE_MS, "downtime %.2f ms, but the "
              "devices alone took %d ms to go quiet while the VM was "
              "paused" % (h["downtime_ms"], QUIESCE_MS))
        vm.quit()
    finally:
        seg.remove()


def test_old_host_stays_quiet(env):
    """Announcement rounds the source had going stop at the final pause:
    with the source still there after the handover (waiting 1.5 s for a
    confirmation the destination holds back), nothing from the VM's MAC
    comes from host a after host b's first RARP."""
    seg = Segment(hosts=2)
    try:
        vm = start(env, seg)
        svc = Service(env, seg, 100)
        rc, _, err = env.godwit_cmd("announce", vm.qmp_path)
        check(rc == 0, "announce: " + err)  # rounds until +800 ms
        vm, h = hop(env, seg, vm, "a", "b", 0,
                    env_extra={"GODWIT_TEST_STALL": "after-yours:1500"})
        time.sleep(1)
        svc.finish()
        moved(svc, h, time.monotonic())
        early = [f for f in svc.frames if f["dev"] == "sega" and
                 f["type"] == RARP and f["t"] < h["t0"]]
        check(early, "the source's announcement did not start")
        vm.quit()
    finally:
        seg.remove()


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print("SKIP: " + why)
        sys.exit(SKIP)
    main([test_there_and_back, test_destination_killed_mid_migration,
          test_downtime_counts_quiesce, test_old_host_stays_quiet,
          test_ping_pong_20])

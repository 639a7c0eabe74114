"""One live migration with a fault in it, and the promise checks.

Parties: the source VMM, the destination VMM (a `godwit migrate-receive`
we start, or the receiver a destination godwitd spawns), the CLI running
`godwit migrate`, and on the daemon path the two godwitd. The fault is
injected by the caller (a signal at a random moment, through the relay
at an exact message, by the firewall, at a hook or a stall phase);
this module then waits for every party's verdict, settles the trial as
an operator would, and checks: never twice, never lost, every verdict
within 10 s, guest intact, nothing crashed, no process left behind.

Ownership, for faults that end a VMM on purpose: killing (or SIGTERM to)
the process that owns the VM at that moment may end the VM; that is
not a loss. The source owns it until the destination has received
YOURS; the destination owns it once it has confirmed. Any other fault
(a signal to anything else, a network fault, a SIGSTOP) must leave the
VM running in exactly one place."""

import os
import re
import signal
import time

from hosts import (Daemon, NetPair, free_port, godwit_cmd, start_receiver,
                   start_vm)
import threading

from proc import (Lines, Proc, PtyTap, kill_pid, now, pid_alive,
                  processes_naming)
from relay import Relay
import qmpc
import watch

RESOLVE_WAIT_S = 1.0
# The CLI's report of a handover without confirmation (a verdict).
CLI_UNCONFIRMED = re.compile(r"no confirmation.*asking the destination|"
                             r": unconfirmed: ")
# A destination's report that it gave up the incoming VM.
DST_GAVE_UP = re.compile(r"discarding the VM|answering DISCARDED for "
                         r"arrival|error: (?:restore )?migration from")


class Vmm:
    """A VMM party: one we started (proc) or one godwitd started (pid).
    lines: its serial output; log: its stderr lines (ours) or its
    daemon's log."""

    def __init__(self, t, role, proc=None, pid=None, qmp=None, lines=None,
                 log=None):
        self.t, self.role, self.proc = t, role, proc
        self.pid = proc.pid if proc else pid
        self.qmp = qmp or (proc.qmp if proc else None)
        self.lines = lines if lines is not None else (
            proc.out if proc else None)
        self.log = log if log is not None else (proc.err if proc else None)
        self.signals = []
        self.gone_at = None
        self.tap = None

    def alive(self):
        a = self.proc.alive() if self.proc else pid_alive(self.pid)
        if not a and self.gone_at is None:
            self.gone_at = (self.proc.ended_at if self.proc and
                            self.proc.ended_at else now())
        return a

    def send(self, signo):
        self.signals.append((now(), signo))
        if self.proc:
            self.proc.send(signo)
        else:
            self.t.note_signal(self.pid, signo)
            kill_pid(self.pid, signo)

    def stopped(self):
        st = [s for _, s in self.signals
              if s in (signal.SIGSTOP, signal.SIGCONT)]
        return bool(st) and st[-1] == signal.SIGSTOP


class Migration:
    """path: "direct" or "daemon"; net: "loop" (with a relay) or "ns"
    (two namespaces, no relay). plan: the relay's Plan (loop only)."""

    def __init__(self, t, path="direct", net="loop", plan=None, mib=16,
                 memory=64, rate=0, bandwidth=0, dst_env=None, dst_wrap=(),
                 src_env=None, cli_args=()):
        self.t, self.path, self.net, self.plan = t, path, net, plan
        self.mib, self.memory, self.rate = mib, memory, rate
        self.bandwidth = bandwidth
        self.dst_env, self.dst_wrap = dst_env or {}, dst_wrap
        self.src_env = src_env or {}
        self.cli_args = list(cli_args)
        self.np = self.relay = self.a = self.b = None
        self.src = self.dst = self.cli = None
        self.fault_at = None
        self.fault_what = None
        self.fault_target = None
        self.later = []  # (when, fn, role): SIGCONTs, healing the network
        self.cont_at = {}  # role -> when continued
        self.find_lock = threading.Lock()
        self.t_start = None
        p = t.o.params
        p.update(path=path, net=net, mib=mib, memory=memory, rate=rate,
                 bandwidth=bandwidth)

    # ---- set-up ----

    def setup(self):
        t = self.t
        if self.net == "ns":
            self.np = NetPair(t)
        if self.path == "direct":
            self._setup_direct()
        else:
            self._setup_daemons()
        if self.src.lines.wait_for(r"^dirty: sweep", 20) is None:
            raise RuntimeError("source guest did not start: %s"
                               % self.src.lines.tail())
        self.src_probe = watch.Probe("src", lambda: self.src.qmp)
        self.dst_probe = watch.Probe("dst", self._dst_socket)
        t.on_cleanup(self._stop_probes)

    def _prefix(self, h):
        return self.np.prefix(h) if self.np else []

    def _setup_direct(self):
        t = self.t
        p = start_vm(t, "vm", self.mib, self.memory, self.rate,
                     prefix=self._prefix("a"), env=self.src_env)
        self.src = Vmm(t, "src", proc=p)
        host = self.np.addr["b"] if self.np else "127.0.0.1"
        port = 8002 if self.np else free_port()
        d = start_receiver(t, "dst", "%s:%d" % (host, port),
                           prefix=self._prefix("b"), env=self.dst_env,
                           wrap=self.dst_wrap)
        self.dst = Vmm(t, "dst", proc=d)
        self.dest = self._via_relay(host, port)
        t.on_cleanup(self._end_direct)

    def _setup_daemons(self):
        t = self.t
        if self.np:
            self.a = Daemon(t, "a", prefix=self._prefix("a"),
                            reloc_addr="0.0.0.0", reloc_port=8002,
                            allow=r"^10\.232\.0\.2$", env=self.src_env)
            self.b = Daemon(t, "b", prefix=self._prefix("b"),
                            reloc_addr="0.0.0.0", reloc_port=8002,
                            allow=r"^10\.232\.0\.1$", env=self.dst_env,
                            wrap=self.dst_wrap)
            host, port = self.np.addr["b"], 8002
        else:
            self.a = Daemon(t, "a", env=self.src_env)
            self.b = Daemon(t, "b", env=self.dst_env, wrap=self.dst_wrap)
            host, port = "127.0.0.1", self.b.reloc_port
        rc, out, err, _ = self.a.cli("create", self.a.config(
            "vm", self.mib, self.memory, self.rate), timeout=20)
        if rc != 0:
            raise RuntimeError("create: %s" % err.strip())
        dom = [d for d in (self.a.domains() or []) if d["name"] == "vm"]
        if not dom:
            raise RuntimeError("created domain not listed")
        self.src = self._daemon_vmm("src", self.a, dom[0]["pid"],
                                    dom[0]["qmp"])
        self.dest = self._via_relay(host, port)

    def _daemon_vmm(self, role, d, pid, qmp):
        v = Vmm(self.t, role, pid=pid, qmp=d.socket_of(pid, qmp),
                log=d.log.lines)
        self._open_tap(v)
        return v

    def _open_tap(self, v):
        """The serial port of a godwitd VMM, from query-console."""
        if v.tap is not None or not v.qmp:
            return v.tap is not None
        try:
            r = qmpc.query(v.qmp, "query-console", timeout=2.0)
            path = r.get("return", {}).get("path")
        except qmpc.QmpError:
            return False
        if not path:
            return False
        v.tap = PtyTap(path)
        v.lines = v.tap.lines
        self.t.on_cleanup(v.tap.close)
        return True

    def _via_relay(self, host, port):
        if self.net == "ns":
            return "%s:%d" % (host, port)
        self.relay = Relay((host, port), self.plan)
        self.t.on_cleanup(self.relay.close)
        return "127.0.0.1:%d" % self.relay.port

    def _dst_socket(self):
        if self.path == "direct":
            return self.dst.qmp if os.path.exists(self.dst.qmp) else None
        self._find_daemon_dst()
        return self.dst.qmp if self.dst else None

    def _find_daemon_dst(self):
        with self.find_lock:
            return self._find_daemon_dst_locked()

    def _find_daemon_dst_locked(self):
        if self.dst is not None:
            if not self.dst.qmp or not os.path.exists(self.dst.qmp):
                self.dst.qmp = self.b.socket_of(self.dst.pid,
                                                self.dst.qmp_hint)
            return self.dst
        for v in self.b.vmms():
            if v["verb"] == "migrate-receive":
                self.dst = Vmm(self.t, "dst", pid=v["pid"],
                               qmp=self.b.socket_of(v["pid"], v["qmp"]),
                               log=self.b.log.lines)
                self.dst.qmp_hint = v["qmp"]  # until godwitd renames it
                self.dst.lines = Lines()
                return self.dst
        return None

    def _stop_probes(self):
        self.src_probe.stop()
        self.dst_probe.stop()

    def _end_direct(self):
        for v in (self.src, self.dst):
            if v and v.alive():
                if v.stopped():
                    v.send(signal.SIGCONT)
                try:
                    qmpc.query(v.qmp, "quit", timeout=1.0)
                except qmpc.QmpError:
                    pass
                if v.proc.wait(3) is None:
                    v.proc.kill()

    # ---- the migration and the fault ----

    def start(self):
        args = ["migrate"]
        if self.bandwidth:
            args += ["--bandwidth", str(self.bandwidth)]
        args += self.cli_args
        if self.path == "direct":
            args += [self.src.qmp, self.dest]
            env = self.t.env()
        else:
            args += ["vm", self.dest]
            env = self.t.env(GODWIT_RUN_DIR=self.a.run_dir)
        self.cli = Proc(self.t, "cli", [self.t.camp.build.godwit] + args,
                        env=env)
        self.t_start = now()

    def party(self, role):
        if role == "src":
            return self.src
        if role == "dst":
            return self.dst if self.path == "direct" else \
                self._find_daemon_dst()
        if role == "cli":
            return self.cli
        if role in ("srcd", "dstd"):
            d = self.a if role == "srcd" else self.b
            return d.proc if d else None
        raise ValueError(role)

    def alive(self, role):
        p = self.party(role)
        return p is not None and p.alive()

    def signal(self, role, signo, stop_s=0.0):
        """Signal a party now (the fault); SIGSTOP is followed by a
        SIGCONT stop_s later."""
        p = self.party(role)
        self.mark_fault("SIG%s to %s" % (signal.Signals(signo).name[3:],
                                        role), role)
        if p is None or not p.alive():
            self.t.o.notes.append("%s not there at the fault" % role)
            return
        p.send(signo)
        if signo == signal.SIGSTOP:
            self.at(None if stop_s is None else now() + stop_s,
                    lambda: p.send(signal.SIGCONT), role)

    def at(self, when, fn, role=None):
        """Run fn at `when` while waiting for the verdicts; a role marks
        a SIGCONT (that party's 10 s start then). when None: once every
        party that does not wait on `role` has its verdict (or the wait
        is over), so a stopped process shows how long the others take."""
        self.later.append((when, fn, role))

    def mark_fault(self, what, target=None):
        if self.fault_at is None:
            self.fault_at = now()
            self.fault_what = what
            self.fault_target = target
            self.t.o.params["fault"] = what

    def expected_s(self):
        """Rough length of the migration, for random fault moments
        (measured here: 8 MiB flat out in 50 ms, 32 MiB in 300 ms)."""
        extra = 0.05 if self.path == "daemon" else 0.0
        if not self.bandwidth:
            return 0.03 + extra + self.mib * 0.009
        return 0.05 + extra + 1.2 * self.mib / max(1, self.bandwidth -
                                                   self.rate)

    def migration_over(self):
        return (not self.cli.alive() and self._src_verdict() is not None)

    def wait_point(self, timeout):
        """Wait until the fault happened (relay, hook, stall) or the
        migration is over without it; True if it happened."""
        deadline = now() + timeout
        while now() < deadline:
            if self.relay and self.relay.fault_at and not self.fault_at:
                self.mark_fault("relay: " + self.plan.describe())
                self.fault_at = self.relay.fault_at
            if self.fault_at:
                return True
            if self.migration_over():
                return False
            time.sleep(0.01)
        return False

    # ---- verdicts ----

    def _src_verdict(self):
        t = self.src_probe.first_time(
            lambda st, mig: mig not in ("none", "active", None))
        self.src.alive()
        cands = [x for x in (t, self.src.gone_at) if x is not None]
        if cands:
            return min(cands)
        # The CLI died before asking for the migration: nothing to decide.
        last = self.src_probe.last()
        if not self.cli.alive() and last and last[2] and \
                last[3] == "none" and last[0] > self.cli.ended_at + 0.5 \
                and self.src_probe.first_time(
                    lambda st, mig: mig == "active") is None:
            return 0.0
        return None

    def _cli_verdict(self):
        """The CLI decides by ending, or by reporting the VM unconfirmed
        (handed over, no confirmation: it stays paused until the
        destination answers or an operator settles it; the CLI may
        follow it a while longer, GODWIT_UNCONFIRMED_WAIT_MS)."""
        if not self.cli.alive():
            return self.cli.ended_at
        return self.cli.err.first_time(CLI_UNCONFIRMED)

    def _dst_involved(self):
        if self.path == "direct":
            return self.dst.log.first_time(r"receiving a migration") \
                is not None
        return self._find_daemon_dst() is not None

    def _dst_verdict(self):
        """The destination decides by running the VM or by ending; one
        the migration never reached has nothing to decide (0)."""
        if not self._dst_involved():
            return 0.0 if self._src_verdict() is not None and \
                not self.cli.alive() else None
        d = self.dst
        t = self.dst_probe.first_time(lambda st, mig: st == "running")
        d.alive()
        # A receiver that gave the VM up may stay a while to answer a
        # source's QUERY with DISCARDED: its log line is its verdict.
        gave_up = d.log.first_time(DST_GAVE_UP) if d.log is not None \
            else None
        cands = [x for x in (t, d.gone_at, gave_up) if x is not None]
        return min(cands) if cands else None

    def _due(self, when, role, got, cap):
        if when is not None:
            return now() >= when
        waiting = {"src": {"src", "cli"}, "srcd": {"cli"}, "dst": {"dst"},
                   "dstd": set(), "cli": {"cli"}}[role]
        others = [r for r in ("cli", "src", "dst") if r not in waiting]
        return all(r in got for r in others) or \
            now() >= self.fault_at + cap

    def _do_later(self, got, cap):
        for item in list(self.later):
            when, fn, role = item
            if self._due(when, role, got, cap):
                fn()
                if role:
                    self.cont_at[role] = now()
                self.later.remove(item)

    def _clock(self, role):
        """When a party's 10 s start: the fault, or the end of a SIGSTOP
        of itself or of the processes it waits on."""
        deps = {"cli": ["cli", "src"] + (["srcd"] if self.path == "daemon"
                                         else []),
                "src": ["src"], "dst": ["dst"]}[role]
        return max([self.fault_at] + [self.cont_at.get(r, 0) for r in deps])

    def wait_verdicts(self, cap):
        """Wait for every party's verdict (or cap seconds past its clock)
        and record the slowest in the outcome."""
        if self.fault_at is None:
            self.fault_at = self.t_start
            self.t.o.notes.append("the fault point was not reached")
        verdict = {"cli": self._cli_verdict,
                   "src": self._src_verdict, "dst": self._dst_verdict}
        got = {}
        while True:
            self._do_later(got, cap)
            self._watch_dst()
            for role, fn in verdict.items():
                if role not in got:
                    v = fn()
                    if v is not None:
                        got[role] = v
            pending = [r for r in verdict if r not in got]
            if not pending and not self.later:
                break
            if self.later:
                continue_wait = True
            else:
                continue_wait = any(now() < self._clock(r) + cap
                                    for r in pending)
            if not continue_wait:
                break
            time.sleep(0.05)
        for role in verdict:
            if role in got:
                self.t.o.decided(role, got[role] - self._clock(role), cap)
            else:
                self.t.o.decided(role, None, cap)
        self.verdicts = got

    def _watch_dst(self):
        """On the daemon path, read the destination's serial port as
        soon as it runs the guest."""
        if self.path != "daemon" or self.dst is None or self.dst.tap:
            return
        last = self.dst_probe.last()
        if last and last[2] == "running":
            self._open_tap(self.dst)

    # ---- settling and checking ----

    def settle_and_check(self, excusable=True):
        """Operator steps, then every promise."""
        o = self.t.o
        self._restart_daemons()
        self._operator_steps()
        time.sleep(RESOLVE_WAIT_S)
        self._check_twice_during()
        holders, paused, stalled = self._holders()
        names = ", ".join(v.role for v in holders)
        if len(holders) > 1:
            o.twice.append("after settling, %s all run the guest" % names)
        if not holders:
            if excusable and self._owner_ended():
                o.notes.append("the VM ended with its owner (%s)"
                               % self.fault_what)
            elif any(s == "still migrating" for _, s in paused):
                # Undecided (counted as such): it may still resume.
                o.notes.append("outcome unknown: the source was still "
                               "migrating when the trial settled")
            else:
                o.lost.append("nobody runs the VM after settling%s" % (
                    "; held paused by " + ", ".join(
                        "%s (%s)" % (v.role, s) for v, s in paused)
                    if paused else ""))
        for v, why in stalled:
            o.other.append("%s says running but its guest is stuck: %s"
                           % (v.role, why))
        self._check_guests()
        self._check_leftovers(holders, paused)
        self._check_daemons(holders)
        self._check_cli(holders)

    def _restart_daemons(self):
        for d in (self.a, self.b):
            if d is not None and not d.alive():
                d.start()
                self.t.o.notes.append("restarted godwitd %s" % d.name)

    def _operator_steps(self):
        """What the docs tell an operator to do: resolve a VM reported
        unconfirmed when its destination is known dead. On the daemon
        path an operator also unpauses what `godwit list` shows paused:
        that is what paused means."""
        if self.src.alive():
            st, mig = qmpc.status_of(self.src.qmp, timeout=3.0)
            if mig == "unconfirmed" and self._dst_out():
                self._resolve()
        if self.path == "daemon":
            for d in (self.a, self.b):
                for dom in d.domains() or []:
                    if dom.get("state") == "paused":
                        rc, _, err, _ = d.cli("unpause", dom["name"])
                        self.t.o.notes.append(
                            "operator: `godwit unpause` of %s on %s "
                            "(listed paused): exit %s" % (dom["name"],
                                                           d.name, rc))

    def _dst_out(self):
        """The destination does not run the VM, as an operator can tell:
        its process is gone, or it says it gave the VM up and does not
        say running."""
        d = self.dst
        if d is None or not d.alive():
            return True
        if d.log is None or d.log.first_time(DST_GAVE_UP) is None:
            return False
        last = self.dst_probe.last()
        return not (last and last[2] == "running")

    def _resolve(self):
        t = self.t
        sock = self.src.qmp
        env = {"GODWIT_RUN_DIR": self.a.run_dir} if self.a else None
        target = "vm" if self.path == "daemon" else sock
        how = t.camp.build.resolve_args(target)
        rc, out, err, _ = godwit_cmd(t, *how, env=env)
        t.o.notes.append("operator: `godwit %s` (unconfirmed, destination "
                         "dead or gave up): exit %s %s" % (" ".join(how[:1]), rc,
                                                err.strip()[:120]))

    def _check_twice_during(self):
        o = self.t.o
        ev = watch.twice_by_probes(self.src_probe, self.dst_probe,
                                   self.t_start)
        if ev:
            o.twice.append(ev)
        if self.dst is not None and self.dst.lines is not None:
            ev, note = watch.twice_by_sweeps(self.src.lines.sweeps(),
                                             self.dst.lines.sweeps())
            if ev:
                o.twice.append(ev)
            if note:
                o.notes.append(note)

    def _all_vmms(self):
        vs = [v for v in (self.src, self.dst) if v is not None]
        known = {v.pid for v in vs}
        for pid, argv in processes_naming(self.t.dir):
            if argv[0].endswith("/godwit") and len(argv) > 1 and \
                    argv[1] in ("run", "restore", "migrate-receive") and \
                    pid not in known:
                d = self.b if self.b and any(self.b.dir in a for a in argv) \
                    else self.a
                if d is None:
                    continue
                qmp = d.socket_of(pid, None)
                vs.append(Vmm(self.t, "vmm%d" % pid, pid=pid, qmp=qmp,
                              log=d.log.lines))
        return vs

    def _holders(self):
        """(running, [(paused, state)], [(stuck, why)]) after settling."""
        running, paused, stalled = [], [], []
        since = now()
        for v in self._all_vmms():
            if v.qmp is None or not os.path.exists(v.qmp):
                d = self.b if v.role == "dst" else self.a
                if d is not None:  # godwitd may have renamed it since
                    v.qmp = d.socket_of(v.pid, None)
            if not v.alive() or not v.qmp:
                continue
            st, mig = qmpc.status_of(v.qmp, timeout=3.0)
            if st is None:
                if self._dst_involved() or v.role != "dst":
                    paused.append((v, "no answer on its control socket"))
                continue
            if st != "running":
                if st not in ("shutdown",):
                    paused.append((v, st + ("/" + mig if mig else "")))
                continue
            if mig == "active":
                paused.append((v, "still migrating"))
                continue
            if self.path == "daemon" and v.tap is None:
                self._open_tap(v)
            if v.lines is None:
                running.append(v)
                continue
            ok, why = watch.advancing(v.lines, since, need=2, timeout=3.0)
            (running if ok else stalled).append(v if ok else (v, why))
        return running, paused, stalled

    def _owner_ended(self):
        """The fault ended the VM's owner of that moment on purpose."""
        if self.fault_target not in ("src", "dst"):
            return False
        v = self.src if self.fault_target == "src" else self.dst
        if v is None or not any(s in (signal.SIGKILL, signal.SIGTERM)
                                for _, s in v.signals):
            return False
        if self.fault_target == "src":
            got = self._dst_got_yours()
            self.t.o.notes.append("the destination %s YOURS" % (
                "got" if got else "never got"))
            return not got
        # The destination owns the VM from YOURS on (godwit(1): once
        # YOURS came it runs, even if the confirmation cannot be sent;
        # its godwitd answers RUNNING from then on).
        owned = [x for x in (self._dst_yours_at(), self._dst_confirmed_at())
                 if x is not None]
        owned = min(owned) if owned else None
        self.t.o.notes.append(
            "the destination got YOURS %s" % (
                "never" if owned is None else
                "at %+.3f s from the fault" % (owned - self.fault_at)))
        return owned is not None and owned < self.fault_at + 0.05

    def _dst_yours_at(self):
        log = self.dst.log if self.path == "direct" else (
            self.b.log.lines if self.b else None)
        return log.first_time(r"downtime: YOURS at") if log is not None \
            else None

    def _dst_got_yours(self):
        if self.dst is None:
            return False
        if self.dst_probe.first_time(lambda st, mig: st == "running"):
            return True
        if self.path == "direct":
            return self.dst.log.first_time(r"YOURS at|migration from .* "
                                           r"complete") is not None
        return self.b.log.lines.first_time(r"YOURS at|migration from .* "
                                           r"complete") is not None

    def _dst_confirmed_at(self):
        cands = []
        if self.relay:
            cands.append(self.relay.first("bwd CONFIRMED"))
        log = self.dst.log if self.path == "direct" else (
            self.b.log.lines if self.b else None)
        if log is not None:
            cands.append(log.first_time(r"migration from .* complete"))
        cands = [c for c in cands if c is not None]
        return min(cands) if cands else None

    def _check_guests(self):
        o = self.t.o
        for v in self._vmm_lines():
            for line in v.lines.bad_lines():
                o.corrupt.append("%s: %s" % (v.role, line))
            back = watch.went_back(v.lines.sweeps())
            if back:
                o.corrupt.append("%s: %s" % (v.role, back))
            if back or v.lines.bad_lines():
                o.notes.append("%s's serial output: %s" % (
                    v.role, " | ".join("%.3f %s" % (t - self.t_start, x)
                                       for t, x, _ in
                                       v.lines.snapshot()[-40:])))

    def _vmm_lines(self):
        return [v for v in (self.src, self.dst)
                if v is not None and v.lines is not None]

    def _check_leftovers(self, holders, paused):
        o = self.t.o
        if self.src.alive() and self.src not in holders:
            st, mig = qmpc.status_of(self.src.qmp, timeout=2.0)
            if mig == "completed":
                o.other.append("left behind: the source VMM still runs "
                               "after a completed migration")

    def _check_daemons(self, holders):
        o = self.t.o
        for d in (self.a, self.b):
            if d is None:
                continue
            for line in d.killed_by_signal_lines():
                m = re.search(r"killed by signal (\d+)", line)
                if m and not self.t.signalled(int(m.group(1))):
                    o.other.append("crash: %s: %s" % (d.name, line))
            if not d.alive():
                continue
            doms = d.domains()
            if doms is None:
                o.other.append("godwitd %s: `godwit list` does not "
                               "answer after settling" % d.name)
                continue
            mine = [x for x in doms if x["name"] == "vm"]
            for x in mine:
                held = [v for v in holders if v.pid == x.get("pid")]
                if x.get("state") == "running" and not held:
                    o.other.append("godwitd %s lists vm running (pid %s) "
                                   "but that VMM does not run it"
                                   % (d.name, x.get("pid")))
        for v in holders:
            owner = self.a if v.role == "src" else self.b
            if self.path != "daemon" or owner is None or not owner.alive():
                continue
            pids = [x.get("pid") for x in owner.domains() or []]
            if v.pid not in pids:
                o.lost.append("the VM runs in pid %d but godwitd %s does "
                              "not know it" % (v.pid, owner.name))

    def _check_cli(self, holders):
        o = self.t.o
        rc = self.cli.returncode()
        errs = " ".join(x[1] for x in self.cli.err.snapshot())[-300:]
        o.params["cli"] = "exit %s: %s" % (rc, errs)
        if rc == 0 and self.src in holders:
            o.other.append("the CLI said migrated, but the source runs "
                           "the VM")
        if rc == 1 and "VM resumed" in errs and self.dst in holders and \
                self.src not in holders:
            o.other.append("the CLI said the VM resumed here, but it runs "
                           "on the destination")

"""Hostile control clients and resource limits.

clients: garbage, half-sent requests, many idle connections, huge
messages, disconnects in the middle of a command, clients that never
read their replies, slow senders, against godwitd's control socket or
a VMM's. While they hold their connections, and after they let go,
`godwit list` and QMP query-status must answer within 10 s and the
guest must keep running.

limits: godwitd creates in a small memory cgroup, an incoming migration
into one, and a small RLIMIT_NOFILE for godwitd or a receiver. Each
create or migration is refused with one line or runs; nothing is killed
by the OOM killer later."""

import os
import json
import socket
import threading
import time

from hosts import Daemon, MemCgroup, start_vm
from kinds_mig import pick_params
from migration import Migration
from proc import PtyTap, now
import qmpc
import watch

ATTACKS = ["garbage", "half", "idle", "huge", "disconnect", "noread", "slow",
           "mix"]
SAFE_CMDS = {"godwitd": ["list", "query-version", "job-info"],
             "vmm": ["query-status", "query-migrate", "query-config",
                     "query-domain", "cont"]}


class Attack:
    """Hostile connections to one unix socket, held until release()."""

    def __init__(self, path, rng, kind, against):
        self.path, self.rng, self.against = path, rng, kind
        self.socks, self.threads = [], []
        self.halt = False
        self.refused = 0
        self.failed_in_row = 0
        self.idle = 0
        self.kinds = (rng.sample(ATTACKS[:-1], 3) if kind == "mix"
                      else [kind])
        for k in self.kinds:
            getattr(self, "_" + k)(against)

    def _conn(self):
        """A connection, or None (after three failures in a row, none is
        tried: a server that stopped accepting would make each wait)."""
        if self.failed_in_row >= 3:
            self.refused += 1
            return None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(self.path)
        except OSError:
            self.refused += 1
            self.failed_in_row += 1
            s.close()
            return None
        self.failed_in_row = 0
        self.socks.append(s)
        return s

    def _send(self, s, data):
        try:
            s.sendall(data)
        except OSError:
            pass

    def _garbage(self, against):
        for _ in range(self.rng.randrange(1, 20)):
            s = self._conn()
            if s:
                self._send(s, os.urandom(self.rng.randrange(1, 65536)))

    def _half(self, against):
        for _ in range(self.rng.randrange(1, 20)):
            s = self._conn()
            if s:
                self._send(s, b'{"execute": "qmp_capabilities"}'
                           b'{"execute": "li')

    def _idle(self, against):
        self.idle = self.rng.choice([16, 63, 64, 65, 100, 200])
        for _ in range(self.idle):
            self._conn()

    def _huge(self, against):
        for _ in range(self.rng.randrange(1, 3)):
            s = self._conn()
            if s:
                size = self.rng.choice([2, 16, 64]) << 20
                th = threading.Thread(target=self._flood, args=(
                    s, b'{"execute": "list", "arguments": {"x": "', size),
                    daemon=True)
                th.start()
                self.threads.append(th)

    def _flood(self, s, head, size):
        s.settimeout(5)
        try:
            s.sendall(head)
            chunk = b"a" * (1 << 16)
            sent = 0
            while sent < size and not self.halt:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass

    def _disconnect(self, against):
        for _ in range(self.rng.randrange(1, 30)):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                cmd = self.rng.choice(SAFE_CMDS[against])
                s.sendall(b'{"execute": "qmp_capabilities"}' +
                          json.dumps({"execute": cmd}).encode())
            except OSError:
                pass
            s.close()

    def _noread(self, against):
        for _ in range(self.rng.randrange(1, 4)):
            s = self._conn()
            if s:
                cmd = json.dumps({"execute": SAFE_CMDS[against][0]}).encode()
                th = threading.Thread(target=self._pile, args=(s, cmd),
                                      daemon=True)
                th.start()
                self.threads.append(th)

    def _pile(self, s, cmd):
        s.settimeout(5)
        try:
            s.sendall(b'{"execute": "qmp_capabilities"}')
            for _ in range(20000):
                if self.halt:
                    break
                s.sendall(cmd)
        except OSError:
            pass

    def _slow(self, against):
        for _ in range(self.rng.randrange(1, 8)):
            s = self._conn()
            if s:
                th = threading.Thread(target=self._drip, args=(s,),
                                      daemon=True)
                th.start()
                self.threads.append(th)

    def _drip(self, s):
        msg = b'{"execute": "qmp_capabilities"}{"execute": "query-status"}'
        for i in range(len(msg) * 100):
            if self.halt:
                return
            try:
                s.send(msg[i % len(msg):i % len(msg) + 1])
            except OSError:
                return
            time.sleep(0.05)

    def release(self):
        self.halt = True
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        for th in self.threads:
            th.join(2)


def kind_clients(t, cap):
    rng = t.rng
    against = t.pick("against", ["godwitd", "vmm"])
    attack = t.pick("attack", ATTACKS)
    t.o.variant = "%s against %s" % (attack, against)
    if against == "godwitd":
        d = Daemon(t, "a")
        rc, _, err, _ = d.cli("create", d.config("vm", 8, 64, 16))
        if rc != 0:
            raise RuntimeError("create: " + err)
        dom = [x for x in d.domains() if x["name"] == "vm"][0]
        vm_qmp, sock = dom["qmp"], os.path.join(d.run_dir, "godwitd.sock")
        tap = PtyTap(dom["console"])
        t.on_cleanup(tap.close)
        lines = tap.lines
    else:
        d = None
        vm = start_vm(t, "vm", 8, 64, 16)
        vm_qmp, sock, lines = vm.qmp, vm.qmp, vm.out
    if lines.wait_for(r"^dirty: sweep", 20) is None:
        raise RuntimeError("guest did not start")
    a = Attack(sock, rng, attack, against)
    t.on_cleanup(a.release)
    t.o.params.update(kinds=a.kinds, idle=a.idle, refused=a.refused)
    time.sleep(0.5)
    _answers(t, d, vm_qmp, cap, "while attacked")
    a.release()
    time.sleep(0.3)
    _answers(t, d, vm_qmp, cap, "afterwards")
    ok, why = watch.advancing(lines, now(), need=2, timeout=4.0)
    if not ok:
        t.o.lost.append("the guest stopped running: %s" % why)
    for line in lines.bad_lines():
        t.o.corrupt.append(line)
    if d is not None:
        for line in d.killed_by_signal_lines():
            t.o.other.append("crash: " + line)


def _answers(t, d, vm_qmp, cap, when):
    """`godwit list` (godwitd) and query-status (VMM) answer in time."""
    if d is not None:
        rc, out, err, secs = d.cli("list", timeout=cap)
        t.o.decided("godwit list " + when, secs if rc is not None
                    else None, cap)
        if rc is not None and (rc != 0 or "vm" not in out):
            t.o.other.append("godwit list %s: exit %s: %s"
                             % (when, rc, err.strip()[:200]))
    start = now()
    try:
        r = qmpc.query(vm_qmp, "query-status", timeout=cap)
        t.o.decided("query-status " + when, now() - start, cap)
        if r.get("return", {}).get("status") != "running":
            t.o.other.append("query-status %s: %s" % (when, r))
    except qmpc.QmpTimeout:
        t.o.decided("query-status " + when, None, cap)
    except qmpc.QmpError as e:
        t.o.decided("query-status " + when, now() - start, cap)
        t.o.other.append("query-status %s: refused: %s" % (when, e))


# ---- resource limits ----

def kind_limits(t, cap):
    which = t.pick("limit", ["memcg-create", "memcg-incoming",
                             "nofile-create", "nofile-incoming"])
    {"memcg-create": _memcg_create, "memcg-incoming": _memcg_incoming,
     "nofile-create": _nofile_create,
     "nofile-incoming": _nofile_incoming}[which](t, cap)


def _creates(t, d, n, memory, mib, cap, wrapper_note):
    """n creates one after the other; returns names that said yes."""
    yes = []
    for i in range(n):
        name = "vm%d" % i
        rc, out, err, secs = d.cli("create", d.config(name, mib, memory),
                                   timeout=cap)
        t.o.decided("create " + name, secs if rc is not None else None,
                    cap)
        lines = [x for x in err.splitlines() if x.strip() and
                 not x.startswith("Parsing config")]
        t.o.params.setdefault("creates", []).append(
            "%s: exit %s: %s" % (name, rc, " / ".join(lines)[:160]))
        if rc == 0:
            yes.append(name)
        elif rc is not None and len(lines) != 1:
            t.o.other.append("create %s refused with %d lines%s"
                             % (name, len(lines), wrapper_note))
    return yes


def _running_domains(t, d, names, settle_s):
    time.sleep(settle_s)
    doms = {x["name"]: x for x in d.domains() or []} if d.alive() else {}
    for n in names:
        x = doms.get(n)
        if x is None or x.get("state") != "running" or \
                qmpc.status_of(x["qmp"], 3.0)[0] != "running":
            t.o.lost.append("%s was created but does not run %.0f s later "
                            "(%s)" % (n, settle_s, x and x.get("state")))


def _memcg_create(t, cap):
    rng = t.rng
    limit = rng.choice([192, 256, 384])
    memory = rng.choice([64, 96, 128])
    n = rng.randrange(3, 7)
    t.o.variant = "creates in a memory cgroup"
    t.o.params.update(limit_mib=limit, memory=memory, vms=n)
    cg = MemCgroup(t, limit)
    d = Daemon(t, "a", wrap=cg.wrap())
    yes = _creates(t, d, n, memory, memory - 24, cap, "")
    if not d.alive():
        t.o.other.append("godwitd died in its cgroup")
        d.start()
    _running_domains(t, d, yes, 3.0)
    _oom(t, cg)


def _oom(t, cg):
    kills = cg.oom_kills()
    if kills:
        t.o.other.append("the OOM killer killed %d process(es) in the "
                         "%d MiB cgroup" % (kills, cg.limit_mib))


def _memcg_incoming(t, cap):
    rng = t.rng
    memory = rng.choice([96, 128])
    mib = memory - 24
    limit = rng.choice([48, 64, memory - 16])
    path = t.pick("path", ["direct", "daemon"])
    t.o.variant = "incoming migration into a memory cgroup (%s)" % path
    t.o.params.update(limit_mib=limit)
    cg = MemCgroup(t, limit)
    m = Migration(t, path=path, mib=mib, memory=memory, rate=0, bandwidth=0,
                  dst_wrap=cg.wrap())
    m.setup()
    m.start()
    m.mark_fault("incoming into %d MiB" % limit)
    m.wait_verdicts(cap)
    m.settle_and_check()
    _oom(t, cg)


def _nofile_create(t, cap):
    rng = t.rng
    n = rng.choice([12, 16, 24, 32])
    t.o.variant = "creates with RLIMIT_NOFILE"
    t.o.params["nofile"] = n
    try:
        d = Daemon(t, "a", wrap=["prlimit", "--nofile=%d:%d" % (n, n),
                                 "--"])
    except RuntimeError as e:
        # Not starting at all is fine, if it says so on one line.
        p = t.procs[-1]
        lines = [x[1] for x in p.err.snapshot() if x[1].strip()]
        t.o.params["start"] = "%s: %s" % (e, lines)
        if p.alive() or p.returncode() != 1 or not any(
                "error" in x for x in lines):
            t.o.other.append("godwitd with RLIMIT_NOFILE %d neither runs "
                             "nor refuses on one line: %s" % (n, e))
        return
    clients = []
    for _ in range(rng.randrange(0, 40)):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(1)
        clients.append(c)
        try:
            c.connect(os.path.join(d.run_dir, "godwitd.sock"))
        except OSError:
            pass
    yes = _creates(t, d, rng.randrange(2, 6), 64, 8, cap, "")
    for c in clients:
        c.close()
    if not d.alive():
        t.o.other.append("godwitd died with RLIMIT_NOFILE %d" % n)
        return
    rc, _, err, secs = d.cli("list", timeout=cap)
    t.o.decided("godwit list afterwards", secs if rc is not None else None,
                cap)
    _running_domains(t, d, yes, 1.0)


def _nofile_incoming(t, cap):
    """A `godwit migrate-receive` with few file descriptors (on the
    daemon path the limit would stop godwitd itself first)."""
    n = t.rng.choice([8, 12, 16, 24])
    path = "direct"
    t.o.variant = "incoming migration with RLIMIT_NOFILE (%s)" % path
    t.o.params["nofile"] = n
    m = Migration(t, path=path, dst_wrap=["prlimit", "--nofile=%d:%d"
                                          % (n, n), "--"],
                  **pick_params(t.rng))
    m.setup()
    m.start()
    m.mark_fault("receiver with RLIMIT_NOFILE %d" % n)
    m.wait_verdicts(cap)
    m.settle_and_check()

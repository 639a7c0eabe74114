"""Save-file faults.

save-target: `godwit save` (on the VM's socket or through godwitd) to a
hostile target: a symlink or FIFO or device node at FILE or at the
temporary name beside it, a directory, a full or read-only filesystem,
two saves to one file. A save that says yes must have ended the VM and
left a FILE that restores it intact; a save that says no must leave the
VM running, say why on one line and leave no partial file; either way
within 10 s.

save-mutate: damaged save files (bit flips, truncation, records deleted,
duplicated, reordered, spliced from another save of the same VM, ...)
restored: refused with one line and exit 1, or, if accepted, the guest
runs intact (its own checks see every page)."""

import os
import re
import signal
import stat
import struct
import sys
import threading
import time

from hosts import Daemon, Tmpfs, godwit_cmd, start_vm
from proc import Proc, PtyTap, now
import qmpc
import watch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "kvm"))
from lib.stream import Stream  # noqa: E402

NODEBUG = {"GODWIT_DEBUG": None}
# What godwit says once a stream is loaded and the guest set going.
ACCEPTED = re.compile(r"restored \d+ pages|guest exited|triple fault|"
                      r"KVM cannot run")
TARGETS = ["symlink-file", "symlink-dangling", "symlink-devnull",
           "tmp-symlink-devnull", "tmp-symlink-file", "fifo-noreader",
           "tmp-fifo-noreader", "fifo-reader", "tmp-fifo-reader",
           "tmp-fifo-reader-closes", "devnode-null", "tmp-devnode-null",
           "tmp-devnode-full", "dir", "tmp-dir", "two-saves-one-file",
           "same-vm-twice", "full-fs", "readonly", "missing-dir"]


class SaveVm:
    """A VM to save: ours (direct) or a godwitd domain."""

    def __init__(self, t, name, via, daemon, mib, memory, rate):
        self.t, self.name, self.via = t, name, via
        if via == "direct":
            self.proc = start_vm(t, name, mib, memory, rate)
            self.qmp, self.lines, self.target = (self.proc.qmp,
                                                 self.proc.out,
                                                 self.proc.qmp)
        else:
            self.proc = None
            rc, _, err, _ = daemon.cli("create", daemon.config(
                name, mib, memory, rate), timeout=20)
            if rc != 0:
                raise RuntimeError("create %s: %s" % (name, err.strip()))
            dom = [d for d in daemon.domains() or [] if d["name"] == name][0]
            self.pid, self.qmp = dom["pid"], dom["qmp"]
            tap = PtyTap(dom["console"])
            t.on_cleanup(tap.close)
            self.lines, self.target = tap.lines, name
        self.daemon = daemon

    def alive(self):
        if self.proc:
            return self.proc.alive()
        return os.path.exists("/proc/%d" % self.pid) and \
            qmpc.status_of(self.qmp, 1.0)[0] is not None

    def save_proc(self, path):
        env = dict(NODEBUG)
        if self.daemon:
            env["GODWIT_RUN_DIR"] = self.daemon.run_dir
        return Proc(self.t, "save-" + self.name, [
            self.t.camp.build.godwit, "save", self.target, path],
            env=self.t.env(**env))


def kind_save_target(t, cap):
    rng = t.rng
    target = t.pick("target", TARGETS)
    via = t.pick("via", ["direct", "direct", "daemon"])
    t.o.variant = "%s (%s)" % (target, via)
    mib = rng.choice([8, 16, 24])
    daemon = Daemon(t, "a") if via == "daemon" else None
    names = ["vm1", "vm2"] if target == "two-saves-one-file" else ["vm"]
    vms = [SaveVm(t, n, via, daemon, mib, 64, 0) for n in names]
    for v in vms:
        if v.lines.wait_for(r"^dirty: sweep", 20) is None:
            raise RuntimeError("guest did not start")
    out = t.path("out")
    os.makedirs(out)
    ctx = _prepare(t, target, out, mib)
    path = ctx["path"]
    before = _listing(ctx["dir"])
    saves = [(v, v.save_proc(path)) for v in vms]
    if target == "same-vm-twice":
        saves.append((vms[0], vms[0].save_proc(path)))
    t_fault = now()
    t.o.params.update(mib=mib, path=path)
    for v, p in saves:
        rc = p.wait(max(0.1, t_fault + cap - now()))
        t.o.decided("save " + v.name, p.ended_at - t_fault
                    if rc is not None else None, cap)
    for cleanup in ctx.get("unblock", []):
        cleanup()
    for _, p in saves:
        p.wait(5)
    _check_saves(t, vms, saves, ctx, before)


def _listing(d):
    try:
        return sorted(os.listdir(d))
    except OSError:
        return None


def _prepare(t, target, out, mib):
    """Build the hostile target; ctx: path (FILE), dir, unrelated file
    (must stay as it was), reader (FIFO data), unblock (cleanups)."""
    path = os.path.join(out, "vm.sav")
    tmp = path + ".tmp"
    ctx = {"path": path, "dir": out, "unblock": []}
    at = tmp if target.startswith("tmp-") else path
    kind = target[4:] if target.startswith("tmp-") else target
    other = os.path.join(out, "unrelated.dat")
    if kind in ("symlink-file", "symlink-dangling", "symlink-devnull"):
        dest = {"symlink-file": other,
                "symlink-dangling": os.path.join(out, "dangling.dat"),
                "symlink-devnull": "/dev/null"}[kind]
        if kind == "symlink-file":
            with open(other, "wb") as f:
                f.write(b"precious data\n")
            ctx["unrelated"] = (other, b"precious data\n",
                                at == tmp)
        os.symlink(dest, at)
    elif kind.startswith("fifo"):
        os.mkfifo(at)
        if "reader" in kind and "noreader" not in kind:
            ctx["reader"] = _FifoReader(at, limit=(1 << 20) if kind.endswith(
                "closes") else None)
            ctx["unblock"].append(ctx["reader"].stop)
        else:
            ctx["unblock"].append(lambda: _FifoReader(at, 0).stop())
    elif kind.startswith("devnode"):
        minor = {"devnode-null": 3, "devnode-full": 7}[kind]
        os.mknod(at, 0o600 | stat.S_IFCHR, os.makedev(1, minor))
    elif kind == "dir":
        os.makedirs(at)
    elif kind == "full-fs":
        fs = Tmpfs(t, "small", size_kib=mib * 1024 // 2)
        ctx.update(path=os.path.join(fs.path, "vm.sav"), dir=fs.path)
    elif kind == "readonly":
        fs = Tmpfs(t, "ro", size_kib=64 << 10, ro=True)
        ctx.update(path=os.path.join(fs.path, "vm.sav"), dir=fs.path)
    elif kind == "missing-dir":
        ctx.update(path=os.path.join(out, "missing", "vm.sav"),
                   dir=os.path.join(out, "missing"))
    return ctx


class _FifoReader:
    """Opens a FIFO for reading (so writers do not block) and reads it,
    keeping the data; with a limit it closes after that many bytes."""

    def __init__(self, path, limit=None):
        self.path, self.limit = path, limit
        self.data = bytearray()
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.halt = False
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        """Read until stopped, and then what is left in the pipe."""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                chunk = b""
            except OSError:
                break
            if not chunk:
                if self.halt:
                    break
                time.sleep(0.01)
                continue
            self.data += chunk
            if self.limit is not None and len(self.data) >= self.limit:
                break
        os.close(self.fd)
        self.fd = None

    def stop(self):
        self.halt = True
        self.th.join(2)


def _check_saves(t, vms, saves, ctx, before):
    o = t.o
    done = {}
    for v, p in saves:
        rc = p.returncode()
        lines = [x[1] for x in p.err.snapshot() if x[1].strip()]
        o.params.setdefault("saves", []).append("%s: exit %s: %s" % (
            v.name, rc, " / ".join(lines)[-200:]))
        if rc is None:
            continue
        if rc == 0:
            done.setdefault(v.name, v)
        elif rc != 1 or len(lines) != 1:
            o.other.append("failed save of %s: exit %s, %d lines (want "
                           "exit 1 and one line)" % (v.name, rc, len(lines)))
    time.sleep(0.5)
    for v in vms:
        if v.name in done:
            _ended(t, v)
        else:
            _runs(t, v, "after its save failed")
    if done:
        _restorable(t, ctx, list(done.values()))
    else:
        new = set(_listing(ctx["dir"]) or []) - set(before or [])
        if new:
            o.other.append("a failed save left files behind: %s"
                           % sorted(new))
    if "unrelated" in ctx:
        path, content, planted = ctx["unrelated"]
        try:
            now_content = open(path, "rb").read(len(content) + 1)
        except OSError:
            now_content = None
        if planted and now_content != content:
            o.other.append("the save wrote through a symlink planted at "
                           "its temporary name into an unrelated file")
    for v in vms:
        for line in v.lines.bad_lines():
            o.corrupt.append("%s: %s" % (v.name, line))


def _ended(t, v):
    deadline = now() + 5
    while v.alive() and now() < deadline:
        time.sleep(0.1)
    if v.alive():
        t.o.other.append("%s: the save said done but the VM runs on"
                         % v.name)


def _runs(t, v, why):
    st, _ = qmpc.status_of(v.qmp, 3.0)
    if st != "running":
        t.o.lost.append("%s %s: not running (%s)" % (v.name, why, st))
        return
    ok, detail = watch.advancing(v.lines, now(), need=2, timeout=4.0)
    if not ok:
        t.o.lost.append("%s %s: its guest does not run: %s"
                        % (v.name, why, detail))


def _restorable(t, ctx, saved):
    """The file a save said yes to brings back one of those VMs intact;
    any other VM the saves said yes to is lost. A FIFO or a device node
    is written straight into (godwit(1)): a FIFO's reader must have a
    stream that restores; /dev/null's data is gone as asked, but the node
    must still be a device node."""
    o = t.o
    path = ctx["path"]
    st = os.lstat(path) if os.path.lexists(path) else None
    if st is not None and stat.S_ISCHR(st.st_mode):
        o.notes.append("saved into the device node %s as asked: the "
                       "stream went there" % path)
        return
    if st is not None and stat.S_ISFIFO(st.st_mode) and ctx.get("reader"):
        ctx["reader"].stop()
        path = t.path("from-fifo.sav")
        with open(path, "wb") as f:
            f.write(ctx["reader"].data)
        o.notes.append("the FIFO's reader got %d bytes" % len(
            ctx["reader"].data))
    real = os.path.realpath(path)
    if not os.path.exists(real) or not stat.S_ISREG(os.stat(real).st_mode):
        for v in saved:
            o.lost.append("%s: saved \"successfully\" but %s is %s" % (
                v.name, path, _kind_of(path)))
        return
    name, why = restore_and_watch(t, real, "check")
    for v in saved:
        later = [w for w in saved if w.name == name and w is not v]
        if name != v.name and later and _before(v, later[0]):
            # Not at the same time: v's save was over before the other
            # began, and the other replaced FILE as a save is asked to
            # (`godwit save vm1 F; godwit save vm2 F`).
            o.notes.append("%s's save ended before %s's began; the later "
                           "one replaced %s, as asked" % (v.name, name, path))
        elif name != v.name:
            o.lost.append("%s: saved \"successfully\" but %s %s" % (
                v.name, path, why or "holds %s" % name))
    if name is not None and name not in [v.name for v in saved]:
        o.other.append("%s holds %s, whose save failed and which runs on: "
                       "restoring it would run it twice" % (path, name))


SAVED = re.compile(r"vm (\S+): saved to .* in (\d+) ms")


def _save_span(v):
    """(began, ended) of v's save on the VMM's clock as its log line
    ("saved to FILE (N MiB) in MS ms") tells, in campaign time."""
    lines = v.proc.err if v.proc else v.daemon.log.lines
    for t, text, _ in lines.snapshot():
        m = SAVED.search(text)
        if m and m.group(1) == v.name:
            return t - int(m.group(2)) / 1000.0, t
    return None


def _before(a, b, margin=0.1):
    """a's save was over before b's began (by more than the time our
    readers may take to see a line)."""
    sa, sb = _save_span(a), _save_span(b)
    return bool(sa and sb and sa[1] + margin < sb[0])


def _kind_of(path):
    try:
        st = os.lstat(path)
    except OSError:
        return "missing"
    if stat.S_ISLNK(st.st_mode):
        return "a symlink to %s" % os.readlink(path)
    for test, word in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR,
                       "a device node"), (stat.S_ISDIR, "a directory")):
        if test(st.st_mode):
            return word
    return "not restorable"


def restore_and_watch(t, path, tag, cap=10.0):
    """Restore path and watch the guest: (name, None) when it runs
    intact, (None, why) when refused or broken. Corruption and crashes
    go to the outcome."""
    qmp = t.path("restored-%s.qmp" % tag)
    p = Proc(t, "restore-" + tag, [t.camp.build.godwit, "restore", path,
                                   "--serial", "stdio", "--qmp", qmp],
             env=t.env(**NODEBUG))
    start = now()
    first = p.out.wait_for(r"^dirty: sweep", cap)
    if first is None:
        rc = p.wait(max(0.1, start + cap - now()))
        lines = [x[1] for x in p.err.snapshot() if x[1].strip()]
        return None, "is refused (exit %s): %s" % (rc, " / ".join(lines)
                                                   [:200])
    try:
        name = qmpc.query(qmp, "query-domain", timeout=3.0)["return"]["name"]
    except (qmpc.QmpError, KeyError):
        name = None
    ok, detail = watch.advancing(p.out, now(), need=3, timeout=5.0)
    for line in p.out.bad_lines():
        t.o.corrupt.append("restored %s: %s" % (tag, line))
    try:
        qmpc.query(qmp, "quit", timeout=2.0)
    except qmpc.QmpError:
        pass
    if p.wait(5) is None:
        p.kill()
    if p.out.bad_lines():
        return None, "restores a corrupt guest"
    if not ok:
        return None, "restores a guest that does not run (%s)" % detail
    return name, None


# ---- mutated save files ----

MUTATIONS = ["bitflip", "bitflips", "truncate", "truncate-boundary",
             "delete-record", "delete-page-record", "duplicate-record",
             "swap-records", "splice", "splice-page", "trailing-garbage",
             "empty", "header-only"]


def _pool(t):
    """Three saves of one VM, a moment apart: A and B with save -c,
    C the final one (shared by every save-mutate trial)."""
    pool = t.camp.pool
    if "saves" in pool:
        return pool["saves"]
    d = os.path.join(t.camp.root, "pool")
    os.makedirs(d, exist_ok=True)
    vm = start_vm(t, "pool", 8, 64, 16)
    if vm.out.wait_for(r"^dirty: sweep", 20) is None:
        raise RuntimeError("pool guest did not start")
    saves = []
    for i, flags in enumerate((["-c"], ["-c"], [])):
        path = os.path.join(d, "s%d.sav" % i)
        rc, _, err, _ = godwit_cmd(t, "save", *flags, vm.qmp, path,
                                   env=NODEBUG, timeout=30)
        if rc != 0:
            raise RuntimeError("pool save: %s" % err)
        with open(path, "rb") as f:
            saves.append(f.read())
        time.sleep(0.6)
    vm.wait(10)
    pool["saves"] = saves
    return saves


def _raw(s, records):
    """The stream with these records as they were written (a damaged or
    mixed-up file), nothing re-sealed: Stream.encode() would make every
    check value right again, a forgery no checksum can tell."""
    return s.raw_header + b"".join(r.raw for r in records)


def mutate(rng, how, saves):
    a, b = saves[0], saves[1]
    try:
        sa, sb = Stream(a), Stream(b)
        if sa.encode() != a:
            raise ValueError("re-encoding differs")
    except (struct.error, IndexError, ValueError) as e:
        # A stream layout tests/kvm/lib/stream.py cannot read: only the
        # byte-level mutations remain, and the trial says so.
        sa = sb = None
        why = "%s: %s" % (type(e).__name__, e)
    recs = sa.records if sa else []
    if how == "bitflip" or (how not in ("empty", "truncate",
                                        "trailing-garbage") and sa is None):
        bad = bytearray(a)
        at = rng.randrange(len(bad))
        bad[at] ^= 1 << rng.randrange(8)
        return bytes(bad), "flip at %d%s" % (at, "" if sa else (
            " (instead of %s: stream not parsed: %s)" % (how, why)))
    if how == "bitflips":
        bad = bytearray(a)
        for _ in range(rng.randrange(2, 9)):
            bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        return bytes(bad), "several flips"
    if how == "truncate":
        n = rng.randrange(1, len(a))
        return a[:n], "cut at %d" % n
    if how == "truncate-boundary":
        n = rng.choice(sa.boundaries()[:-1])
        return a[:n], "cut at record boundary %d" % n
    if how == "trailing-garbage":
        return a + bytes(rng.randrange(256) for _ in range(
            rng.randrange(1, 5000))), "garbage after END"
    if how == "empty":
        return b"", "empty file"
    if how == "header-only":
        return a[:sa.header_end], "header only"
    i = rng.randrange(len(recs) - 1)  # not END
    if how == "delete-page-record":
        pages = [k for k, r in enumerate(recs) if r.type == 1]
        i = rng.choice(pages) if pages else i
    if how in ("delete-record", "delete-page-record"):
        return _raw(sa, recs[:i] + recs[i + 1:]), "record %d (type 0x%x) deleted" % (i, recs[i].type)
    if how == "duplicate-record":
        return _raw(sa, recs[:i + 1] + [recs[i]] + recs[i + 1:]), "record %d (type 0x%x) twice" % (i, recs[i].type)
    if how == "swap-records":
        j = rng.randrange(len(recs) - 1)
        recs = list(recs)
        recs[i], recs[j] = recs[j], recs[i]
        return _raw(sa, recs), "records %d and %d swapped" % (i, j)
    if how == "splice":
        # A's records up to a cut between two page batches, B's after it:
        # both saves give some of the pages.
        pages = [k for k, r in enumerate(recs) if r.type == 1]
        k = rng.randrange(pages[0] + 1, pages[-1] + 1) if len(pages) > 1 \
            else 1
        return _raw(sa, recs[:k] + sb.records[k:]), "first %d records of save A, rest of B" % k
    # splice-page: one page batch of A replaced by B's batch for the same
    # pages (same position), both with valid checksums.
    pages = [k for k, r in enumerate(recs) if r.type == 1 and k <
             len(sb.records) and sb.records[k].type == 1 and
             sb.records[k].body[:8] == r.body[:8]]
    if not pages:
        return mutate(rng, "splice", saves)
    k = rng.choice(pages)
    return _raw(sa, recs[:k] + [sb.records[k]] + recs[k + 1:]), "page record %d from save B" % k


def kind_save_mutate(t, cap):
    saves = _pool(t)
    how = t.pick("mutation", MUTATIONS)
    data, what = mutate(t.rng, how, saves)
    t.o.variant = how
    t.o.params["mutation"] = what
    path = t.path("mutated.sav")
    with open(path, "wb") as f:
        f.write(data)
    qmp = t.path("m.qmp")
    start = now()
    p = Proc(t, "restore", [t.camp.build.godwit, "restore", path, "--serial",
                            "stdio", "--qmp", qmp], env=t.env(**NODEBUG))
    while now() < start + cap and p.alive() and not p.out.sweeps() and \
            not p.out.bad_lines():
        time.sleep(0.02)
    if p.alive() and not p.out.sweeps() and not p.out.bad_lines():
        t.o.decided("restore", None, cap)
        return
    if p.out.bad_lines():
        p.wait(5)  # the guest ends itself after reporting
    if not p.alive():
        rc = p.wait(5)
        first = p.out.snapshot()
        t.o.decided("restore", (first[0][0] if first else p.ended_at) -
                    start, cap)
        lines = [x[1] for x in p.err.snapshot() if x[1].strip()]
        t.o.params["restore"] = "exit %s: %s" % (rc, " / ".join(lines)[:300])
        if p.out.snapshot() or ACCEPTED.search(" ".join(lines)):
            # The stream was accepted and the guest ran, or tried to.
            for line in p.out.bad_lines():
                t.o.corrupt.append("accepted and the guest found: %s"
                                   % line)
            if not p.out.bad_lines():
                t.o.corrupt.append("accepted, then the guest died: exit "
                                   "%s: %s" % (rc, lines[-1] if lines
                                               else ""))
            return
        if rc is not None and rc < 0:
            return  # a crash: finish() reports it
        if rc != 1 or len(lines) != 1:
            t.o.other.append("refused with exit %s and %d lines (want "
                             "exit 1 and one line)" % (rc, len(lines)))
        if os.path.exists(qmp):
            t.o.other.append("a refused restore left its control socket")
        return
    t.o.decided("restore", p.out.sweeps()[0][0] - start, cap)
    t.o.params["restore"] = "accepted"
    ok, detail = watch.advancing(p.out, now(), need=3, timeout=5.0)
    for line in p.out.bad_lines():
        t.o.corrupt.append("accepted and the guest found: %s" % line)
    if not ok and not t.o.corrupt:
        t.o.other.append("accepted but the guest does not run: %s" % detail)
    try:
        qmpc.query(qmp, "quit", timeout=2.0)
    except qmpc.QmpError:
        p.send(signal.SIGKILL)
    p.wait(5)


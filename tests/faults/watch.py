"""Watching the two ends of a migration: a probe per VMM polls
query-status and query-migrate on its control socket, and the guests'
sweep lines say which VMM really runs the guest. From both come the
verdicts 'ran twice' (two VMMs running the same guest at one moment)
and 'keeps running' (a VMM whose guest completes new, checked sweeps).

Why the probes cannot be fooled by the handover itself: while a
migration is active the source's query-status may still say "running"
although its vCPUs are paused for the final copy, so a source only
counts as running once its migration is no longer active (it resumed
after a failure); a destination counts from the moment it says
"running" (a destination waiting for YOURS holds the VM paused and
does not answer, or says something else). A paused unconfirmed source
says "postmigrate". The sweep lines tell the same story independently:
a source whose guest printed sweeps beyond the destination's first one
resumed from the handed-over state, and if both printed advancing
sweeps in overlapping periods both ran it."""

import threading
import time

from proc import now
import qmpc


class Probe(threading.Thread):
    """Polls one VMM; samples are (t_sent, t_answered, status, mig)."""

    def __init__(self, name, path_fn, period=0.05):
        super().__init__(daemon=True)
        self.name = name
        self.path_fn = path_fn
        self.period = period
        self.samples = []
        self.halt = False
        self.lock = threading.Lock()
        self.start()

    def run(self):
        q = None
        while not self.halt:
            if q is None:
                path = self.path_fn()
                if not path:
                    time.sleep(self.period)
                    continue
                try:
                    q = qmpc.Qmp(path, timeout=3.0)
                except qmpc.QmpError:
                    time.sleep(self.period)
                    continue
            t0 = now()
            try:
                # query-migrate first: a migration that ends between the
                # two answers then shows as (active, postmigrate), never
                # as a resumed source (running, completed/unconfirmed).
                mig = q.cmd("query-migrate", timeout=3.0).get("return", {})
                st = q.cmd("query-status", timeout=3.0).get("return", {})
            except qmpc.QmpError:
                q.close()
                q = None
                continue
            with self.lock:
                self.samples.append((t0, now(), st.get("status"),
                                     mig.get("status")))
            time.sleep(self.period)
        if q is not None:
            q.close()

    def snapshot(self):
        with self.lock:
            return list(self.samples)

    def last(self):
        with self.lock:
            return self.samples[-1] if self.samples else None

    def first_time(self, pred):
        """When pred(status, mig) first held, giving the VMM the benefit
        of the doubt: the answer time of the sample before the first one
        for which it holds (or that sample's sending time)."""
        prev = None
        for t0, t1, st, mig in self.snapshot():
            if pred(st, mig):
                return prev if prev is not None else t0
            prev = t1
        return None

    def stop(self):
        self.halt = True
        self.join(4)


def src_resumed(st, mig):
    return st == "running" and mig not in ("none", "active", None)


def dst_running(st, mig):
    return st == "running"


def _bracketed(outer, inner):
    """Some inner sample lies strictly between two outer samples:
    (outer before, inner, outer after) as times, or None."""
    if not outer or not inner:
        return None
    for t0, t1, _, _ in inner:
        before = [o for o in outer if o[1] <= t0]
        after = [o for o in outer if o[0] >= t1]
        if before and after:
            return before[-1][1], t0, after[0][0]
    return None


def twice_by_probes(src, dst, t_from=0.0):
    """Evidence (a line) that both VMMs ran the guest at one moment."""
    s = [x for x in src.snapshot() if src_resumed(x[2], x[3])
         and x[0] >= t_from]
    d = [x for x in dst.snapshot() if dst_running(x[2], x[3])
         and x[0] >= t_from]
    for outer, inner, what in ((d, s, "destination running before and "
                                "after a sample of the resumed source"),
                               (s, d, "resumed source running before and "
                                "after a sample of the running "
                                "destination")):
        hit = _bracketed(outer, inner)
        if hit:
            return "query-status: %s (at +%.2f s)" % (what, hit[1] - t_from)
    return None


def _spacing(sweeps):
    """The guest's usual time between two sweep lines."""
    gaps = sorted(b[0] - a[0] for a, b in zip(sweeps, sweeps[1:])
                  if not a[2] and not b[2] and b[1] > a[1])
    return gaps[len(gaps) // 2] if gaps else 0.1


def twice_by_sweeps(src_sweeps, dst_sweeps):
    """Evidence from the guests' own lines, or None; and a note when the
    source resumed only after the destination had run (one after the
    other, which the handover allows when the destination died).

    The destination's guest starts at the handed-over sweep (fork_n):
    a source line beyond it means the source resumed that state. Both
    ran at once where a destination line falls between two such source
    lines no further apart than the guest's usual spacing allows."""
    live_dst = [x for x in dst_sweeps if not x[2]]
    if not dst_sweeps:
        return None, None
    fork_n = dst_sweeps[0][1]
    post = [x for x in src_sweeps if x[1] > fork_n and not x[2]]
    if not post:
        return None, None
    g = max(0.3, 2.5 * _spacing([x for x in src_sweeps if x[1] <= fork_n]))
    both = [t for t, n, _ in live_dst
            if any(t - g <= p[0] <= t for p in post) and
            any(t <= p[0] <= t + g for p in post)]
    if len(both) >= 3:
        return ("sweep lines: both guests advanced at once (%d destination "
                "lines between source lines, %.1f s; source reached sweep "
                "%d, destination started at %d)" % (
                    len(both), both[-1] - both[0], post[-1][1], fork_n)), \
            None
    return None, ("source resumed from the handed-over state after the "
                  "destination ran (sweeps %d..%d)" % (fork_n, post[-1][1]))


def advancing(lines, since, need=2, timeout=3.0):
    """The guest printed `need` new sweeps after `since`, going up:
    (True, last sweep) or (False, why)."""
    deadline = now() + timeout
    while True:
        sw = [(t, n) for t, n, b in lines.sweeps() if t >= since and not b]
        ups = sum(1 for a, b in zip(sw, sw[1:]) if b[1] > a[1])
        if ups >= need:
            return True, sw[-1][1]
        if now() > deadline:
            return False, "%d new sweep line(s) in %.1f s" % (len(sw),
                                                               timeout)
        time.sleep(0.05)


def went_back(sweeps):
    """A sweep number lower than an earlier one in the same VMM: the
    guest's own counter went backwards."""
    hi = None
    for _, n, _ in sweeps:
        if hi is not None and n < hi:
            return "sweep %d after %d" % (n, hi)
        hi = n if hi is None else max(hi, n)
    return None

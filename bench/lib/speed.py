"""The dirty guest's speed, from its serial lines.

With `stats=1` the dirty guest prints `dirty: sweep N` on every timer
tick (100 a second), whether N moved or not; proc.py stamps each line
as it is read. The guest's speed is sweeps per second: N's growth over a
window of lines. "Back at full speed" after a restore or migration is
the time from when the VM runs until the first window (WINDOW_S long,
ending then) in which the guest swept at least FRACTION of what it did
before the save, measured the same way. A window is a few ticks long:
one tick holds a handful of sweeps of a large area, so shorter windows
would count quantisation, not speed.
"""
import re

WINDOW_S = 0.04
FRACTION = 0.9
_SWEEP = re.compile(r"^dirty: sweep (\d+)$")


def points(lines, t_from=None, t_to=None):
    """(time, sweep) of every sweep line in [t_from, t_to]."""
    out = []
    for ln in lines:
        m = _SWEEP.match(ln.text)
        if not m:
            continue
        if t_from is not None and ln.t < t_from:
            continue
        if t_to is not None and ln.t > t_to:
            continue
        out.append((ln.t, int(m.group(1))))
    return out


def rate(pts):
    """Sweeps per second over the whole series (None if too short)."""
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def time_to_fraction(pts, t_run, baseline, fraction=FRACTION,
                     window=WINDOW_S):
    """Seconds from t_run to the end of the first window of at least
    `window` seconds whose rate is >= fraction * baseline; None if the
    series never gets there."""
    if not baseline:
        return None
    pts = [p for p in pts if p[0] >= t_run]
    j = 0
    for i in range(len(pts)):
        while j + 1 < i and pts[i][0] - pts[j + 1][0] >= window:
            j += 1
        if pts[i][0] - pts[j][0] < window:
            continue
        r = (pts[i][1] - pts[j][1]) / (pts[i][0] - pts[j][0])
        if r >= fraction * baseline:
            return pts[i][0] - t_run
    return None

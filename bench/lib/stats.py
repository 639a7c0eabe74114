"""Summaries of repeated measurements and godwit/QEMU ratios."""
import statistics


def summary(values):
    """{n, min, median, max, mean} of a list of numbers (None if empty)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"n": len(vals), "min": min(vals), "median": statistics.median(vals),
            "max": max(vals), "mean": statistics.fmean(vals)}


def ratio(a, b):
    """a / b, or None if either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def median_ratio(a, b):
    """Ratio of the medians of two summaries."""
    if not a or not b:
        return None
    return ratio(a["median"], b["median"])


def mb_per_s(nbytes, seconds):
    """Throughput in MB/s (10^6 bytes per second), as dd prints it."""
    if not seconds:
        return None
    return nbytes / seconds / 1e6

"""Summaries of repeated measurements and godwit/QEMU ratios."""
import statistics


def summary(values):
    """{n, min, median, p90, max, mean} of a list of numbers (None if
    empty). p90: the 90th percentile (inclusive method: between samples,
    never beyond the largest)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    p90 = statistics.quantiles(vals, n=10, method="inclusive")[8] \
        if len(vals) > 1 else vals[0]
    return {"n": len(vals), "min": min(vals), "median": statistics.median(vals),
            "p90": p90, "max": max(vals), "mean": statistics.fmean(vals)}


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

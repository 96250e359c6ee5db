"""Steady-state timing of a zero-argument callable that synchronises with its device.

Warm-up, then rounds sized so each takes at least ``min_round_s``; reports median, IQR, mean,
stddev and coefficient of variation, as pytest-benchmark does, so a reader can judge the noise.
"""
from __future__ import annotations

import statistics
import time


def measure(run, *, warmup: int = 3, rounds: int = 15, min_round_s: float = 2e-2, max_total_s: float = 5.0) -> dict:
    """``run(n)`` executes the workload n times and synchronises once (see Backend.timer)."""
    run(warmup)
    t0 = time.perf_counter()
    run(1)
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_round_s / once))
    samples = []
    start = time.perf_counter()
    for _ in range(rounds):
        t0 = time.perf_counter()
        run(inner)
        samples.append((time.perf_counter() - t0) / inner)
        if time.perf_counter() - start > max_total_s and len(samples) >= 5:
            break
    samples.sort()
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    mean = statistics.fmean(samples)
    stdev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return {"median_s": statistics.median(samples), "iqr_s": q[2] - q[0], "mean_s": mean, "stddev_s": stdev,
            "cv": stdev / mean if mean else 0.0, "rounds": len(samples), "iterations": inner,
            "min_s": samples[0], "max_s": samples[-1]}

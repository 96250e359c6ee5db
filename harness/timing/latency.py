"""Host-inclusive latency per call: what an application calling the backend sees.

``run(n)`` executes the workload n times back to back and synchronises with the device once (see
``Backend.timer``).  After a warm-up, rounds are sized so each takes at least ``min_round_s``, and
each round gives one sample: its wall time divided by n.  The summary carries the median, IQR,
mean, standard deviation and coefficient of variation, as pytest-benchmark does, so a reader can
judge the noise.  This is wall-clock time on the host: launch overhead, the VM's own work and the
device's time all count, and so does anything else the machine is doing at the time.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


def summarise(samples: Sequence[float]) -> dict:
    """Median, IQR, mean, stddev, CV, min, max and the count of ``samples`` (seconds)."""
    if not samples:
        raise ValueError("no samples to summarise")
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0]] * 3
    mean = statistics.fmean(s)
    stdev = statistics.stdev(s) if len(s) > 1 else 0.0
    return {"median_s": statistics.median(s), "iqr_s": q[2] - q[0], "mean_s": mean, "stddev_s": stdev,
            "cv": stdev / mean if mean else 0.0, "min_s": s[0], "max_s": s[-1], "rounds": len(s)}


def calibrate(run: Callable[[int], object], *, warmup: int = 3, min_round_s: float = 2e-2,
              clock: Callable[[], float] = time.perf_counter) -> int:
    """Warm up, then the number of calls per round so one round lasts at least ``min_round_s``."""
    run(warmup)
    t0 = clock()
    run(1)
    once = max(clock() - t0, 1e-7)
    return max(1, int(min_round_s / once))


def measure(run, *, warmup: int = 3, rounds: int = 15, min_round_s: float = 2e-2, max_total_s: float = 5.0,
            clock: Callable[[], float] = time.perf_counter) -> dict:
    """``run(n)`` executes the workload n times and synchronises once (see Backend.timer).

    Returns seconds per call: median_s, iqr_s, mean_s, stddev_s, cv, min_s, max_s, plus rounds
    (samples taken) and iterations (calls per round).  Stops early after ``max_total_s`` (wall
    time) once it has at least 5 rounds.  ``clock`` is the host's wall clock; the harness's own
    tests pass ``time.process_time`` to time CPU-bound doubles whatever the machine's load."""
    inner = calibrate(run, warmup=warmup, min_round_s=min_round_s, clock=clock)
    samples = []
    start = time.perf_counter()
    for _ in range(rounds):
        t0 = clock()
        run(inner)
        samples.append((clock() - t0) / inner)
        if time.perf_counter() - start > max_total_s and len(samples) >= 5:
            break
    return {**summarise(samples), "iterations": inner}

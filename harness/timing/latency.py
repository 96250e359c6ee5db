"""Host-inclusive latency per call: what an application calling the backend sees.

``run(n)`` executes the workload n times back to back and synchronises with the device once (see
``Backend.timer``).  After a warm-up, rounds are sized so each takes at least ``min_round_s``, and
each round gives one sample: its wall time divided by n.  The summary carries the median, IQR,
mean, standard deviation and coefficient of variation, as pytest-benchmark does, so a reader can
judge the noise.  This is wall-clock time on the host: launch overhead, the VM's own work and the
device's time all count, and so does anything else the machine is doing at the time.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Sequence

#: fewest rounds an adaptive timing takes before it may stop
MIN_ROUNDS = 5
#: confidence of the interval an adaptive timing stops on
CONFIDENCE = 0.95


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(low, high, coverage): the distribution-free confidence interval of the median from order
    statistics (the binomial ranks; no assumption on the distribution of the samples).  With too few
    samples for ``confidence`` the widest interval (min, max) is returned with its real coverage."""
    s = sorted(samples)
    n = len(s)
    if n == 0:
        raise ValueError("no samples")
    # cdf[k] = P(X <= k) for X ~ Binomial(n, 1/2); the interval [s[r], s[n-1-r]] covers the median
    # with probability 1 - 2 P(X <= r)
    cdf, acc = [], 0.0
    for k in range(n + 1):
        acc += math.comb(n, k) / 2.0**n
        cdf.append(acc)
    r = 0
    while r + 1 < n - 1 - (r + 1) and 1 - 2 * cdf[r + 1] >= confidence:
        r += 1
    return s[r], s[n - 1 - r], 1 - 2 * cdf[r]


def ci_half_width(samples: Sequence[float], confidence: float = CONFIDENCE) -> float:
    """Half the width of the median's confidence interval, relative to the median."""
    lo, hi, _ = median_ci(samples, confidence)
    med = statistics.median(samples)
    return (hi - lo) / 2 / med if med > 0 else math.inf


class Stopper:
    """When an adaptive timing stops: once the median is known to ``target`` (relative half width
    of its confidence interval) after at least ``min_rounds``; else after ``max_rounds``; else when
    ``max_total_s`` is spent (and ``min_rounds`` are taken).  ``why`` says which, for the record."""

    def __init__(self, *, target: float | None, min_rounds: int = MIN_ROUNDS, max_rounds: int = 15,
                 max_total_s: float = 5.0) -> None:
        self.target, self.min_rounds, self.max_rounds, self.max_total_s = target, min_rounds, max_rounds, max_total_s
        self.why = ""

    def done(self, samples: Sequence[float], spent_s: float) -> bool:
        n = len(samples)
        if self.target is not None and n >= self.min_rounds:
            hw = ci_half_width(samples)
            if hw <= self.target:
                self.why = (f"median known to +-{hw * 100:.2f} % ({CONFIDENCE:.0%} CI) after {n} rounds "
                            f"(target +-{self.target * 100:g} %)")
                return True
        if n >= self.max_rounds:
            self.why = f"{n} rounds: the most asked for" + (self._ci(samples) if self.target is not None else "")
            return True
        if spent_s > self.max_total_s and n >= min(self.min_rounds, self.max_rounds):
            self.why = f"time budget of {self.max_total_s:g} s spent after {n} rounds" + self._ci(samples)
            return True
        return False

    @staticmethod
    def _ci(samples) -> str:
        return f" (median known to +-{ci_half_width(samples) * 100:.2f} %)" if len(samples) >= 2 else ""


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
            clock: Callable[[], float] = time.perf_counter, target_ci: float | None = None,
            min_rounds: int = MIN_ROUNDS) -> dict:
    """``run(n)`` executes the workload n times and synchronises once (see Backend.timer).

    Returns seconds per call: median_s, iqr_s, mean_s, stddev_s, cv, min_s, max_s, plus rounds
    (samples taken) and iterations (calls per round).  Stops early after ``max_total_s`` (wall
    time) once it has at least 5 rounds.  ``clock`` is the host's wall clock; the harness's own
    tests pass ``time.process_time`` to time CPU-bound doubles whatever the machine's load.

    Adaptive (``target_ci``, e.g. 0.005): ``rounds`` is the most taken, and timing stops as soon as
    the median is known to +-``target_ci`` (see :class:`Stopper`); ``stopped`` says why it stopped
    and ``ci_rel`` the relative half width of the median's 95 % interval."""
    inner = calibrate(run, warmup=warmup, min_round_s=min_round_s, clock=clock)
    samples: list[float] = []
    stop = Stopper(target=target_ci, min_rounds=min_rounds, max_rounds=rounds, max_total_s=max_total_s)
    start = time.perf_counter()
    while True:
        t0 = clock()
        run(inner)
        samples.append((clock() - t0) / inner)
        if stop.done(samples, time.perf_counter() - start):
            break
    return {**summarise(samples), "iterations": inner, "stopped": stop.why,
            "ci_rel": ci_half_width(samples) if len(samples) >= 2 else None}

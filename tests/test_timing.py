"""The timing layer (harness/timing/): latency statistics, CUPTI device time and its fallback,
the per-GPU lock across processes, the peak table and the roofline arithmetic.  CPU only."""
from __future__ import annotations

import pytest

from harness.timing import measure
from harness.timing.latency import summarise


def spin(units: int) -> int:
    """CPU work proportional to ``units`` (no sleeping: the cost is CPU time)."""
    acc = 0
    for i in range(units * 2000):
        acc = (acc * 31 + i) % 1000003
    return acc


def workload(units: int):
    calls = []

    def run(n: int = 1):
        calls.append(n)
        for _ in range(n):
            spin(units)
    return run, calls


def test_summarise_exact():
    s = summarise([4.0, 1.0, 3.0, 2.0, 5.0])
    assert s["median_s"] == 3.0 and s["min_s"] == 1.0 and s["max_s"] == 5.0 and s["rounds"] == 5
    assert s["mean_s"] == 3.0
    assert s["stddev_s"] == pytest.approx(1.5811388, rel=1e-6)
    assert s["cv"] == pytest.approx(1.5811388 / 3.0, rel=1e-6)
    assert s["iqr_s"] == pytest.approx(3.0)          # exclusive quartiles of 1..5: 1.5 and 4.5
    with pytest.raises(ValueError):
        summarise([])


def test_measure_counts_calls_and_orders_stats():
    run, calls = workload(1)
    stats = measure(run, warmup=2, rounds=7, min_round_s=5e-3, max_total_s=10.0)
    assert calls[0] == 2 and calls[1] == 1                      # warm-up, then one calibration call
    assert calls[2:] == [stats["iterations"]] * stats["rounds"]  # every round runs the same n
    assert stats["rounds"] == 7
    assert 0 < stats["min_s"] <= stats["median_s"] <= stats["max_s"]
    assert stats["iqr_s"] >= 0 and stats["cv"] >= 0


def test_measure_tells_heavier_work_apart():
    light = measure(workload(1)[0], warmup=1, rounds=5, min_round_s=5e-3)
    heavy = measure(workload(8)[0], warmup=1, rounds=5, min_round_s=5e-3)
    assert heavy["median_s"] > 2 * light["median_s"]

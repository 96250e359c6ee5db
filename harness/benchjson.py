"""Timings of a results file as pytest-benchmark JSON.

One benchmark per (case, check, backend, figure): ``...-device`` is the GPU kernels' time per call
(CUPTI), ``...-latency`` the host-inclusive time per call, so ``pytest-benchmark compare`` and
anything that reads its JSON can compare either.  Build time and how the timing was taken go to
``extra_info``.

The output is a contract with pytest-benchmark (``pytest-benchmark compare`` reads it; a test runs
it on the output of every checked-in results file): no statistic is ever null.  A timing that
lacks a figure ``compare`` shows (min, max, mean, stddev, median, IQR, rounds, iterations) is left
out, and ``machine_info["harness_notes"]`` says how many and why; quartiles are not recorded, so
``q1``/``q3`` are absent (``compare --histogram`` needs them).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from collections import Counter

from .errors import InputError


#: What pytest-benchmark compare shows of every benchmark: a timing without one of them is left out.
REQUIRED = ("min_s", "max_s", "mean_s", "stddev_s", "median_s", "iqr_s", "rounds", "iterations")


def _missing(s) -> list[str]:
    out = []
    for k in REQUIRED:
        v = getattr(s, k)
        if v is None or (isinstance(v, float) and not math.isfinite(v)) or (k == "median_s" and not v > 0):
            out.append(k)
    return out


def _stats(s) -> dict:
    """pytest-benchmark's statistics of one timing with every REQUIRED figure (none is null)."""
    return {"min": s.min_s, "max": s.max_s, "mean": s.mean_s, "stddev": s.stddev_s, "rounds": s.rounds,
            "median": s.median_s, "iqr": s.iqr_s, "iqr_outliers": 0, "stddev_outliers": 0,
            "outliers": "n/a", "ld15iqr": s.min_s, "hd15iqr": s.max_s, "ops": 1.0 / s.mean_s if s.mean_s > 0 else 1.0 / s.median_s,
            "total": s.mean_s * s.rounds * s.iterations, "iterations": s.iterations}


def to_benchmark_json(run) -> dict:
    benches = []
    left_out: Counter = Counter()
    for rec in run.records:
        for backend, t in (rec.timings or {}).items():
            for figure, stats in (("device", t.device), ("latency", t.latency)):
                if stats is None:
                    continue
                missing = _missing(stats)
                if missing:
                    left_out[", ".join(m.removesuffix("_s") for m in missing)] += 1
                    continue
                name = f"{rec.op}[{rec.case_id}]-{rec.check}-{backend}-{figure}"
                benches.append({
                    "group": f"{rec.op} {backend} {figure}", "name": name,
                    "fullname": f"{rec.nodeid or rec.op}::{name}",
                    "params": {"case_id": rec.case_id, "backend": backend, "dtype": rec.dtype, "figure": figure},
                    "param": rec.case_id,
                    "extra_info": {k: v for k, v in {
                        "build_s": t.build_s, "method": t.method, "exclusive": t.exclusive, "gpu": t.gpu,
                        "kernels_per_call": t.kernels_per_call, "speedup": rec.speedup}.items() if v is not None},
                    "options": {"timer": "cupti" if figure == "device" else "perf_counter",
                                "min_rounds": stats.rounds, "warmup": True},
                    "stats": _stats(stats),
                })
    env = run.env
    return {
        "machine_info": {k: v for k, v in {
            "node": env.get("hostname"), "processor": platform.processor(), "machine": env.get("machine"),
            "python_version": env.get("python"), "gpu": env.get("gpu"), "tvm_version": env.get("tvm_version"),
            "harness_notes": [f"{n} timing(s) left out: no {what} recorded" for what, n in sorted(left_out.items())]
            + ([] if benches or left_out else ["no timings in this run (timings come from a GPU run)"])}.items()
            if v is not None},
        "commit_info": {}, "benchmarks": benches, "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": "5.1.0",
    }


def write(results: str, out: str) -> int:
    from .reader import load_results

    data = to_benchmark_json(load_results(results))
    try:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return len(data["benchmarks"]), data["machine_info"]["harness_notes"]

"""Timings of a results file as pytest-benchmark JSON.

One benchmark per (case, check, backend, figure): ``...-device`` is the GPU kernels' time per call
(CUPTI), ``...-latency`` the host-inclusive time per call, so ``pytest-benchmark compare`` and
anything that reads its JSON can compare either.  Build time and how the timing was taken go to
``extra_info``.
"""
from __future__ import annotations

import datetime as _dt
import json
import platform

from .errors import InputError


def _stats(s) -> dict:
    return {"min": s.min_s, "max": s.max_s, "mean": s.mean_s, "stddev": s.stddev_s, "rounds": s.rounds,
            "median": s.median_s, "iqr": s.iqr_s, "q1": None, "q3": None, "iqr_outliers": 0, "stddev_outliers": 0,
            "outliers": "0;0", "ld15iqr": s.min_s, "hd15iqr": s.max_s,
            "ops": 1.0 / s.median_s if s.median_s else None, "total": (s.mean_s or 0) * (s.rounds or 0),
            "iterations": s.iterations or 1}


def to_benchmark_json(run) -> dict:
    benches = []
    for rec in run.records:
        for backend, t in (rec.timings or {}).items():
            for figure, stats in (("device", t.device), ("latency", t.latency)):
                if stats is None:
                    continue
                name = f"{rec.op}[{rec.case_id}]-{rec.check}-{backend}-{figure}"
                benches.append({
                    "group": f"{rec.op} {backend} {figure}", "name": name,
                    "fullname": f"{rec.nodeid or rec.op}::{name}",
                    "params": {"case_id": rec.case_id, "backend": backend, "dtype": rec.dtype, "figure": figure},
                    "param": rec.case_id,
                    "extra_info": {"build_s": t.build_s, "method": t.method, "exclusive": t.exclusive,
                                   "gpu": t.gpu, "kernels_per_call": t.kernels_per_call, "speedup": rec.speedup},
                    "options": {"timer": "cupti" if figure == "device" else "perf_counter",
                                "min_rounds": stats.rounds, "warmup": True},
                    "stats": _stats(stats),
                })
    env = run.env
    return {
        "machine_info": {"node": env.get("hostname"), "processor": platform.processor(), "machine": env.get("machine"),
                         "python_version": env.get("python"), "gpu": env.get("gpu"),
                         "tvm_version": env.get("tvm_version")},
        "commit_info": {}, "benchmarks": benches, "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": "5.1.0",
    }


def write(results: str, out: str) -> int:
    from .reader import load_results

    data = to_benchmark_json(load_results(results))
    if not data["benchmarks"]:
        raise InputError(f"{results}: no timings in this run (timings come from a GPU run)")
    try:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return len(data["benchmarks"])

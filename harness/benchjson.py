"""Timings of a results file as a pytest-benchmark JSON file.

The records' timings (per backend: median, IQR, mean, stddev, rounds, min, max, build time) are
written in pytest-benchmark's storage format, so ``pytest-benchmark compare`` and anything that
reads its JSON can use them.  One benchmark per (case, check, backend), plus one per build.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform

from .errors import InputError


def to_benchmark_json(run) -> dict:
    env = run.env if hasattr(run, "env") else {}
    benches = []
    for rec in run.records:
        timings = rec.get("timings") or {}
        for backend, stats in timings.items():
            if not isinstance(stats, dict) or "median_s" not in stats:
                continue
            name = f"{rec['op']}[{rec['case_id']}]-{rec['check']}-{backend}"
            benches.append({
                "group": f"{rec['op']} {backend}",
                "name": name,
                "fullname": f"{rec.get('nodeid') or rec['op']}::{name}",
                "params": {"case_id": rec["case_id"], "backend": backend, "dtype": rec.get("dtype")},
                "param": rec["case_id"],
                "extra_info": {"build_s": stats.get("build_s"), "cv": stats.get("cv"),
                               "iterations": stats.get("iterations"), "speedup": timings.get("speedup")},
                "options": {"timer": "perf_counter", "min_rounds": stats.get("rounds"), "warmup": True},
                "stats": {
                    "min": stats.get("min_s"), "max": stats.get("max_s"), "mean": stats.get("mean_s"),
                    "stddev": stats.get("stddev_s"), "rounds": stats.get("rounds"), "median": stats.get("median_s"),
                    "iqr": stats.get("iqr_s"), "q1": None, "q3": None, "iqr_outliers": 0, "stddev_outliers": 0,
                    "outliers": "0;0", "ld15iqr": stats.get("min_s"), "hd15iqr": stats.get("max_s"),
                    "ops": 1.0 / stats["median_s"] if stats.get("median_s") else None,
                    "total": (stats.get("mean_s") or 0) * (stats.get("rounds") or 0),
                    "iterations": stats.get("iterations", 1),
                },
            })
    return {
        "machine_info": {"node": env.get("hostname"), "processor": platform.processor(),
                         "machine": env.get("machine"), "python_version": env.get("python"),
                         "gpu": env.get("gpu"), "tvm_version": env.get("tvm_version")},
        "commit_info": {},
        "benchmarks": benches,
        "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": "5.1.0",
    }


def benchjson_main(argv: list[str]) -> int:
    from . import reader

    p = argparse.ArgumentParser(prog="trt-harness benchjson",
                                description="Write a results file's timings as pytest-benchmark JSON.")
    p.add_argument("results")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    run = reader.load_results(args.results)
    data = to_benchmark_json(run)
    if not data["benchmarks"]:
        raise InputError(f"{args.results}: no timings in this run (timings come from a GPU run)")
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    print(f"wrote {args.output}: {len(data['benchmarks'])} benchmarks")
    return 0

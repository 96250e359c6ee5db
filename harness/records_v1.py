"""Schema version 1 of results files, read by converting each line to a schema-2 object
(:func:`from_v1`; :func:`harness.records.convert` then types it)."""
from __future__ import annotations

from typing import Any

from .records import SCHEMA_VERSION


def from_v1(obj: dict) -> dict:
    """A schema-1 line as a schema-2 object (records: offload, timings, weights moved)."""
    obj = dict(obj)
    if obj.get("kind") == "header":
        obj["schema_version"] = SCHEMA_VERSION
        return obj
    if obj.get("kind") != "record":
        return obj
    attrs = dict(obj.get("attrs") or {})
    weights = attrs.pop("_weights", None)
    if weights:
        obj["weights"] = weights
    exp, act, verdict = obj.pop("expected_offload", None), obj.pop("actual_offload", None), obj.pop(
        "offload_verdict", None)
    if verdict is not None or exp is not None or act is not None:
        obj["offload"] = _offload_v1(exp, act, verdict, attrs)
    if str(obj.get("op", "")).startswith("model:"):   # v1 model records kept their stats in attrs
        obj["details"] = attrs
        attrs = {}
    obj["attrs"] = attrs
    timings = obj.get("timings")
    if isinstance(timings, dict):
        obj["speedup"] = timings.get("speedup")
        obj["timings"] = {b: _timing_v1(t) for b, t in timings.items() if isinstance(t, dict)}
    for key in ("tolerance", "min_tolerance"):
        if isinstance(obj.get(key), dict):
            obj[key] = {k: obj[key][k] for k in ("atol", "rtol") if k in obj[key]}
    return obj


def _offload_v1(exp, act, verdict, attrs) -> dict:
    out: dict[str, Any] = {"verdict": verdict or "match"}
    if isinstance(exp, list):   # op suites: one decision per call
        out["decisions"] = [{k: d[k] for k in ("op", "offload", "rule", "reason", "source") if k in d}
                            for d in exp if isinstance(d, dict)]
        out["expected"] = {}
        out["total"] = {}
        for d in out["decisions"]:
            out["total"][d["op"]] = out["total"].get(d["op"], 0) + 1
            if d.get("offload"):
                out["expected"][d["op"]] = out["expected"].get(d["op"], 0) + 1
    elif isinstance(exp, dict):  # models: op -> count
        out["expected"] = {k: int(v) for k, v in exp.items()}
    if isinstance(act, dict) and "ops" in act and isinstance(act["ops"], list):
        counts: dict[str, int] = {}
        for op in act["ops"]:
            counts[op] = counts.get(op, 0) + 1
        out["actual"] = counts
        out["regions"] = int(act.get("regions") or 0)
    elif isinstance(act, dict):
        out["actual"] = {k: int(v) for k, v in act.items()}
        out["regions"] = int(attrs.get("trt_subgraphs") or 0)
    return out


def _timing_v1(t: dict) -> dict:
    lat = {k: t[k] for k in ("median_s", "iqr_s", "mean_s", "stddev_s", "cv", "rounds", "iterations", "min_s",
                             "max_s") if k in t}
    return {"build_s": t.get("build_s"), "latency": lat if "median_s" in lat else None,
            "method": "latency (schema 1: host clock around the calls; GPU possibly shared)"}

"""Timing view models: the points of the roofline and device-vs-latency plots, and the side-by-side
table of backends over the benchmark set.  Read from :class:`harness.records.Timing`: ``latency``
(host-inclusive) and ``device`` (CUPTI kernel time, None where ``method`` says why) per call, and
the ``roofline`` placed by :mod:`harness.timing.roofline`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

from ..reader import Run
from ..records import Record
from .view import finite, fmt_pct, fmt_s, fmt_si


@dataclass(frozen=True)
class RoofPoint:
    label: str          # bench layer, or the op
    backend: str
    dtype: str
    intensity: float    # FLOP per byte
    flop_s: float       # achieved
    peak_flop_s: float | None
    peak_byte_s: float | None
    fraction: float | None
    roof: str
    case_id: str


@dataclass(frozen=True)
class TimePoint:
    run: int
    backend: str
    device_s: float
    latency_s: float
    case_id: str


@functools.lru_cache(maxsize=1)
def bench_layers() -> tuple[str, ...]:
    """The benchmark set's layer names, longest first (so the longest prefix matches)."""
    from ..bench import BENCH

    return tuple(sorted({name for name, _case in BENCH}, key=len, reverse=True))


def bench_layer(r: Record) -> str | None:
    """The bench layer of a record: its case id's prefix, ``details['layer']``, or, for records of
    the bench suite, the case id itself; None for records outside the benchmark set."""
    names = bench_layers()
    if names and r.case_id.startswith(names):
        return next(name for name in names if r.case_id.startswith(name))
    layer = r.details.get("layer") if isinstance(r.details, dict) else None
    if isinstance(layer, str) and layer:
        return layer
    return r.case_id if r.suite == "bench" else None


def point_label(r: Record) -> str:
    return bench_layer(r) or r.op


def roofline_points(run: Run) -> tuple[list[RoofPoint], list[str], int]:
    """(points, notes, cases timed but not placed) of one run: every (record, backend) whose roofline
    has an intensity and an achieved FLOP/s."""
    points, notes, unplaced = [], {}, 0
    for r in run.records:
        for backend, t in (r.timings or {}).items():
            rf = t.roofline
            if rf is None:
                continue
            if rf.note:
                notes[rf.note] = None
            if not (finite(rf.intensity) and finite(rf.achieved_flop_s)) or rf.intensity <= 0 or rf.achieved_flop_s <= 0:
                unplaced += 1
                continue
            points.append(RoofPoint(point_label(r), backend, r.dtype or "", rf.intensity, rf.achieved_flop_s,
                                    rf.peak_flop_s if finite(rf.peak_flop_s) and rf.peak_flop_s > 0 else None,
                                    rf.peak_byte_s if finite(rf.peak_byte_s) and rf.peak_byte_s > 0 else None,
                                    rf.fraction, rf.roof or "", r.case_id))
    return points, list(notes), unplaced


def has_roofline(run: Run) -> bool:
    return any(t.roofline is not None for r in run.records for t in (r.timings or {}).values())


def device_latency_points(runs: Sequence[Run]) -> dict[str, list[TimePoint]]:
    """op -> every timed (case, backend) with both a device time and a latency, over all runs."""
    out: dict[str, list[TimePoint]] = {}
    for ri, run in enumerate(runs):
        for r in run.records:
            for backend, t in (r.timings or {}).items():
                if t.device is None or t.latency is None:
                    continue
                d, lat = t.device.median_s, t.latency.median_s
                if finite(d) and finite(lat) and d > 0 and lat > 0:
                    out.setdefault(r.op, []).append(TimePoint(ri, backend, d, lat, r.case_id))
    return out


def latency_only(runs: Sequence[Run]) -> dict[str, int]:
    """method -> how many timings have a latency but no device time (said under the plot)."""
    out: dict[str, int] = {}
    for run in runs:
        for r in run.records:
            for t in (r.timings or {}).values():
                if t.device is None and t.latency is not None:
                    key = t.method or "no method recorded"
                    out[key] = out.get(key, 0) + 1
    return out


def backends_of(runs: Sequence[Run]) -> list[str]:
    return list(dict.fromkeys(b for run in runs for r in run.records for b in (r.timings or {})))


def bench_table(run: Run) -> dict | None:
    """One row per (bench layer, dtype), per backend: device time, latency, fraction of peak."""
    rows: dict[tuple[str, str], dict] = {}
    for r in run.records:
        if not r.timings:
            continue
        layer = bench_layer(r)
        if layer is None:
            continue
        row = rows.setdefault((layer, r.dtype or ""), {"layer": layer, "dtype": r.dtype or "", "op": r.op,
                                                       "timings": {}, "speedup": None})
        for backend, t in r.timings.items():
            row["timings"].setdefault(backend, t)
        if finite(r.speedup) and row["speedup"] is None:
            row["speedup"] = r.speedup
    if not rows:
        return None
    backends = list(dict.fromkeys(b for row in rows.values() for b in row["timings"]))
    out = []
    for row in rows.values():
        cells = []
        for b in backends:
            t = row["timings"].get(b)
            if t is None:
                cells.append({"device": "", "latency": "", "fraction": "", "title": "not timed"})
                continue
            rf = t.roofline
            frac = ""
            title = t.method or ""
            if rf is not None:
                frac = f"{fmt_pct(rf.fraction)} {rf.roof or ''}".strip() if finite(rf.fraction) else "n/a"
                extra = [x for x in (fmt_si(rf.achieved_flop_s, "FLOP/s"), fmt_si(rf.achieved_byte_s, "B/s"),
                                     f"intensity {rf.intensity:.3g} FLOP/B" if finite(rf.intensity) else "",
                                     rf.note) if x]
                title = "; ".join([title, *extra]) if title else "; ".join(extra)
            if t.exclusive is False:
                title += "; GPU shared" + (f": {t.exclusive_note}" if t.exclusive_note else "")
            cells.append({"device": fmt_s(t.device.median_s) if t.device else "",
                          "latency": fmt_s(t.latency.median_s) if t.latency else "",
                          "fraction": frac, "title": title, "shared": t.exclusive is False,
                          "no_device": t.device is None})
        out.append({"layer": row["layer"], "dtype": row["dtype"], "op": row["op"], "cells": cells,
                    "speedup": f"x{row['speedup']:.3g}" if row["speedup"] is not None else ""})
    out.sort(key=lambda x: (x["layer"], x["dtype"]))
    return {"label": run.label, "backends": backends, "rows": out}

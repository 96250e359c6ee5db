"""View models of the report: plain dicts and lists built from typed records (:mod:`harness.records`),
which the templates only lay out.  Nothing here escapes HTML: the templates autoescape every value.

What a maintainer asks first comes first: is this a regression (the gate's verdict), what departs
from the table that nobody knew about (new departures: fail, error, strict XPASS), and what known
departures there are, grouped by root cause (the expectation that matched; for offload also the
rule).  Then the op x check matrix drawn against each run's own support table.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any, Sequence

from ..reader import Run
from ..records import CHECKS, OUTCOMES, Record, Timing

NEW = ("error", "fail", "xpass")
#: A matrix cell counts each outcome apart (pass, xfail, fail, error, xpass); a check that did not run reads "skip".
CELL_ORDER = ("pass", "xfail", "fail", "error", "xpass")
CELL_MARK = {"pass": "p", "xfail": "x", "fail": "f", "error": "e", "xpass": "X"}
WORST_FIRST = ("error", "fail", "xpass", "xfail", "pass", "skip")
MAX_NEW_CASES = 10          # cases listed under one group of new departures
MAX_NEW_GROUPS = 150        # groups of new departures listed (the matrix shows them all)
MAX_VARIANTS = 6            # distinct case-level reasons shown under one known group
MAX_TEXT = 1000
ENV_ORDER = ("harness_version", "tvm_version", "trt_version", "tensorrt_version", "tvm_has_tensorrt_codegen",
             "tvm_has_tensorrt_runtime", "tensorrt_absent_reason", "cuda_available", "gpu", "gpu_compute_version",
             "backend", "reference", "hypothesis_profile", "hypothesis_seed", "python", "numpy", "platform",
             "machine", "hostname")
_KNOWN = re.compile(r"^known departure \(expectations? ([^)]*)\):\s*", re.S)


# -- formatting ------------------------------------------------------------------------------------
def cap(text: Any, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def finite(x: Any) -> bool:
    t = type(x)
    return (t is float and math.isfinite(x)) or t is int


def fmt_s(x: float | None) -> str:
    """Seconds with an SI prefix and 3 significant digits: 12.3 µs, 1.05 ms."""
    if not finite(x):
        return "" if x is None else str(x)
    a = abs(x)
    if a >= 1.0:
        return f"{x:.3g} s"
    if a >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    if a >= 1e-6:
        return f"{x * 1e6:.3g} µs"
    return f"{x * 1e9:.3g} ns"


def fmt_si(x: float | None, unit: str) -> str:
    """1.23e13 FLOP/s -> '12.3 TFLOP/s'."""
    if not finite(x):
        return ""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def fmt_pct(x: float | None) -> str:
    return f"{100 * x:.3g}%" if finite(x) else ""


def fmt_shapes(shapes: list) -> str:
    return ", ".join("x".join(map(str, s)) if s else ("scalar" if s == [] else "?") for s in shapes)


def fmt_tol(t) -> str:
    if t is None:
        return ""
    return f"atol={t.atol:g} rtol={t.rtol:g}" + (" (normwise)" if t.mode == "normwise" else "")


def split_known(reason: str) -> tuple[str | None, str, str]:
    """(expectation id, the expectation's reason, the case's own detail) of an xfail/xpass reason
    ``known departure (expectations #2): <expectation reason> | <detail>``."""
    m = _KNOWN.match(reason or "")
    if not m:
        return None, reason or "", ""
    rest = reason[m.end():]
    why, _, detail = rest.partition(" | ")
    return m.group(1), why.strip(), detail.strip()


# -- the verdict: harness/report/banner.py ------------------------------------------------------------
def new_departures(runs: Sequence[Run], row_of: dict[str, int]) -> list[dict]:
    """fail / error / xpass records, grouped by (run, op, check, outcome, error kind); the current
    (last) run first, the worst outcome first."""
    groups: dict[tuple, dict] = {}
    for ri in reversed(range(len(runs))):
        for r in runs[ri].records:
            if r.outcome not in NEW:
                continue
            key = (ri, r.op, r.check, r.outcome, r.error_kind or "")
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"run": runs[ri].label, "ri": ri, "op": r.op, "row": row_of.get(r.op),
                                   "check": r.check, "outcome": r.outcome, "error_kind": r.error_kind or "",
                                   "n": 0, "cases": [], "reproducer": None}
            g["n"] += 1
            if g["reproducer"] is None and r.reproducer:
                g["reproducer"] = r.reproducer
            if len(g["cases"]) < MAX_NEW_CASES:
                g["cases"].append({"case_id": r.case_id, "reason": cap(r.reason), "reproducer": r.reproducer or "",
                                   "dtype": r.dtype or "", "shapes": fmt_shapes(r.input_shapes),
                                   "expectation": r.expectation or ""})
    order = {o: i for i, o in enumerate(WORST_FIRST)}
    out = sorted(groups.values(), key=lambda g: (-g["ri"], order[g["outcome"]], row_of.get(g["op"], 1 << 30),
                                                 g["op"], CHECKS.index(g["check"])))
    for g in out:
        g["reason"] = g["cases"][0]["reason"]
        g["more"] = g["n"] - len(g["cases"])
    return out


def _variants_of(r: Record, detail: str) -> list[str]:
    if r.check == "offload" and r.offload is not None:
        deps = [d for d in (*r.offload.over, *r.offload.under) if not r.rule or d.rule == r.rule]
        if deps:
            return [f"{d.op}: {d.reason}" for d in deps]
    return [detail] if detail else []


def known_departures(runs: Sequence[Run], row_of: dict[str, int]) -> list[dict]:
    """xfail records grouped by root cause: the expectation that matched (offload: and the rule),
    each with counts per (op, check) and run, the expectation's reason, a reproducer."""
    groups: dict[tuple, dict] = {}
    for ri, run in enumerate(runs):
        known = run.expectations
        for r in run.records:
            if r.outcome != "xfail":
                continue
            eid, why, detail = split_known(r.reason)
            eid = r.expectation or eid or "(no expectation id)"
            entry = known.get(eid)
            if entry is not None:     # the header says it once: its reason, where it holds, its reproducer
                why = entry.reason + (f" [{entry.where}]" if entry.where else "")
            rule = r.rule if r.check == "offload" else None
            key = (eid, rule or "")
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"id": eid, "rule": rule or "", "reason": cap(why), "cells": {},
                                   "totals": [0] * len(runs), "variants": Counter(), "reproducer": None,
                                   "example": None}
            cell = g["cells"].setdefault((r.op, r.check), [0] * len(runs))
            cell[ri] += 1
            g["totals"][ri] += 1
            g["variants"].update(cap(v, 300) for v in _variants_of(r, detail))
            if g["reproducer"] is None and (r.reproducer or (entry is not None and entry.reproducer)):
                g["reproducer"] = r.reproducer or entry.reproducer
            if g["example"] is None:
                g["example"] = {"run": run.label, "op": r.op, "case_id": r.case_id, "row": row_of.get(r.op)}
    out = []
    for g in groups.values():
        rows = [{"op": op, "check": check, "row": row_of.get(op), "counts": counts}
                for (op, check), counts in g.pop("cells").items()]
        rows.sort(key=lambda x: (row_of.get(x["op"], 1 << 30), x["op"], CHECKS.index(x["check"])))
        variants = g.pop("variants")
        g["rows"] = rows
        g["variants"] = variants.most_common(MAX_VARIANTS)
        g["more_variants"] = max(0, len(variants) - MAX_VARIANTS)
        g["ops"] = len({x["op"] for x in rows})
        out.append(g)
    out.sort(key=lambda g: (-sum(g["totals"]), g["id"], g["rule"]))
    return out


# -- the matrix ------------------------------------------------------------------------------------
def table_rows(runs: Sequence[Run]) -> tuple[list[dict], str]:
    """One row per op of the runs' own support tables (the header's ``ops``), then ops with records
    that no table lists.  Returns (rows, a note when the tables are missing or differ)."""
    rows: list[dict] = []
    index: dict[str, dict] = {}
    for ri, run in enumerate(runs):
        for t in run.table:
            row = index.get(t.name)
            if row is None:
                row = index[t.name] = {"name": t.name, "tvm_op": t.tvm_op or "", "no_equivalent": t.no_equivalent or "",
                                       "min_trt": t.min_trt or "", "in_table": True, "tables": [False] * len(runs)}
                rows.append(row)
            row["tables"][ri] = True
    have = [bool(run.table) for run in runs]
    for run in runs:
        for op in run.ops():
            if op not in index:
                tvm_op = next((r.tvm_op for r in run.records if r.op == op and r.tvm_op), "")
                row = index[op] = {"name": op, "tvm_op": tvm_op or "", "no_equivalent": "", "min_trt": "",
                                   "in_table": not any(have), "tables": [False] * len(runs)}
                rows.append(row)
    notes = []
    if not any(have):
        notes.append("These results carry no support table (schema 1, or written without one): the rows are "
                     "the ops that have records.")
    elif not all(have):
        notes.append("Some runs carry no support table: " + ", ".join(r.label for r, h in zip(runs, have) if not h)
                     + ". Rows follow the tables of the others.")
    elif any(row["tables"] != [True] * len(runs) for row in rows if row["in_table"]):
        notes.append("The runs' support tables differ: a row marked 'not in this run's table' was not in that "
                     "run's header.")
    present = {op for run in runs for op in run.ops()}
    for i, row in enumerate(rows):
        row["i"] = i
        row["empty"] = row["name"] not in present and not row["no_equivalent"]
    return rows, " ".join(notes)


def _cell(counts: Counter | None, in_table: bool) -> dict:
    if not counts:
        return {"cls": "none", "text": "" if in_table else "n/t", "title": "no records" if in_table else
                "not in this run's support table"}
    worst = next(o for o in WORST_FIRST if counts[o])
    title = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
    ran = [f"{counts[o]}{CELL_MARK[o]}" for o in CELL_ORDER if counts[o]]
    return {"cls": worst, "text": " ".join(ran) if ran else "skip",
            "title": title if ran else f"{title}: the check did not run (why: the banner at the top)"}


def matrix(runs: Sequence[Run], rows: list[dict], checks: list[str]) -> list[list[list[dict]]]:
    """rows x runs x checks cells."""
    per_op = [run.per_op() for run in runs]
    return [[[_cell(p.get(row["name"], {}).get(c), row["tables"][ri] or not row["in_table"] or not runs[ri].table)
              for c in checks] for ri, p in enumerate(per_op)] for row in rows]


# -- environment -----------------------------------------------------------------------------------
def env_table(runs: Sequence[Run]) -> list[dict]:
    keys = [k for k in ENV_ORDER if any(k in r.env for r in runs)]
    keys += sorted({k for r in runs for k in r.env} - set(keys))
    out = []
    for k in keys:
        shown = [_env_value(r.env.get(k)) for r in runs]
        out.append({"key": k, "values": shown, "differs": len(set(shown)) > 1})
    return out


def _env_value(v: Any) -> str:
    if v is None:
        return ""
    return cap(v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str), 2000)


def run_facts(run: Run) -> dict:
    h = run.headers[0]
    return {"label": run.label, "run_id": run.run_id, "created": h.created, "suite": h.suite,
            "parts": len(run.headers), "paths": ", ".join(run.paths), "shard": h.shard or "",
            "placement": ", ".join(f"{k}: {v}" for k, v in sorted(h.placement.items())),
            "table": f"{len(run.table)} ops" if run.table else "none in the header"}


# -- one case's details, as text for the drill-down --------------------------------------------------
def offload_text(r: Record) -> str:
    o = r.offload
    if o is None:
        return ""
    total, actual, expected = sum(o.total.values()), sum(o.actual.values()), sum(o.expected.values())
    text = (f"{o.verdict}: {actual} of {total or '?'} call{'s' if total != 1 else ''} offloaded, {expected} "
            f"expected; {o.regions} region{'s' if o.regions != 1 else ''}")
    for name, deps in (("over", o.over), ("under", o.under)):
        for d in deps:
            text += f"; {name}: {d.op} [{d.rule}] {d.reason}"
    return text


def timing_text(timings: dict[str, Timing] | None, speedup: float | None = None) -> str:
    if not timings:
        return ""
    parts = []
    for backend, t in timings.items():
        bits = []
        if t.device is not None:
            bits.append(f"device {fmt_s(t.device.median_s)}")
        if t.latency is not None:
            bits.append(f"latency {fmt_s(t.latency.median_s)}"
                        + (f" (IQR {fmt_s(t.latency.iqr_s)})" if finite(t.latency.iqr_s) else ""))
        if t.build_s is not None:
            bits.append(f"build {fmt_s(t.build_s)}")
        rf = t.roofline
        if rf is not None:
            if finite(rf.fraction):
                bits.append(f"{fmt_pct(rf.fraction)} of the {rf.roof or '?'} roof")
            elif rf.note:
                bits.append(rf.note)
        if t.method:
            bits.append(f"[{t.method}]")
        if t.exclusive is False:
            bits.append("GPU shared" + (f": {t.exclusive_note}" if t.exclusive_note else ""))
        parts.append(f"{backend}: " + ", ".join(bits))
    if finite(speedup):
        parts.append(f"speedup x{speedup:.3g}")
    return "; ".join(parts)


class _Strings:
    """Interns strings so the embedded data repeats none."""

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def __call__(self, value: Any) -> int:
        if value is None or value == "" or value == {} or value == []:
            return 0
        s = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def _num(x: Any) -> Any:
    return float(f"{x:.4g}") if finite(x) else (None if x is None else str(x))


def _trim(row: list) -> list:
    while row and row[-1] in (0, None, ""):
        row.pop()
    return row


def case_data(runs: Sequence[Run], rows: list[dict]) -> dict:
    """Compact per-op case data for the page's script: a string table and arrays of indices.

    ops[row] = [[run, case_id, dtype, inputs (shapes and weights), attrs, [check...]], ...]; a check
    is [check, outcome, reason, error_kind, max_abs, max_rel, tolerance, min_tolerance, reproducer,
    offload, timings]."""
    s = _Strings()
    row_of = {r["name"]: r["i"] for r in rows}
    per_row: list[list] = [[] for _ in rows]
    check_i = {c: i for i, c in enumerate(CHECKS)}
    outcome_i = {o: i for i, o in enumerate(OUTCOMES)}
    for ri, run in enumerate(runs):
        cases: dict[tuple[str, str], list] = {}
        for r in run.records:
            key = (r.op, r.case_id)
            case = cases.get(key)
            if case is None:
                inputs = fmt_shapes(r.input_shapes)
                if r.weights:
                    inputs += "; weights " + ", ".join(f"{n} {'x'.join(map(str, sh))}" for n, sh in r.weights)
                case = cases[key] = [ri, s(r.case_id), s(r.dtype), s(inputs), s(r.attrs), []]
                per_row[row_of[r.op]].append(case)
            case[5].append(_trim([
                check_i[r.check], outcome_i[r.outcome], s(cap(r.reason)), s(r.error_kind), _num(r.max_abs_err),
                _num(r.max_rel_err), s(fmt_tol(r.tolerance)), s(fmt_tol(r.min_tolerance)), s(r.reproducer),
                s(offload_text(r)), s(timing_text(r.timings, r.speedup))]))
    return {"s": s.table, "runs": [r.label for r in runs], "checks": list(CHECKS), "outcomes": list(OUTCOMES),
            "ops": per_row}

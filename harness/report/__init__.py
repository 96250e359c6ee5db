"""One self-contained HTML report of one or more runs (and a gate verdict when comparing two).

Every value reaches the page through Jinja2 autoescaping or through one JSON block whose ``<``,
``>`` and ``&`` are \\u-escaped; the page's script builds the per-case tables with textContent.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from typing import Any, Sequence

from markupsafe import Markup

from ..errors import HarnessError, InputError
from ..reader import Run, load_many, load_results, summary_line
from ..results import CHECKS, OUTCOMES

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
WORST_FIRST = ("error", "fail", "xpass", "xfail", "pass", "skip")
ENV_ORDER = ("harness_version", "tvm_version", "trt_version", "tensorrt_version", "tvm_has_tensorrt_codegen",
             "tvm_has_tensorrt_runtime", "tensorrt_absent_reason", "cuda_available", "gpu", "gpu_compute_version",
             "backend", "reference", "hypothesis_profile", "hypothesis_seed", "python", "numpy", "platform",
             "machine", "hostname")
MAX_FINDINGS = 500
MAX_REASON = 1000


def table_ops() -> Sequence | None:
    """The support table's OPS, or None while ``harness.table`` does not exist yet."""
    try:
        from ..table import OPS
    except ModuleNotFoundError as exc:
        if exc.name in ("harness.table", f"{__package__.rsplit('.', 1)[0]}.table"):
            return None
        raise
    return OPS


def _rows(runs: Sequence[Run], ops: Sequence | None) -> list[dict]:
    rows = [{"name": e.name, "tvm_op": getattr(e, "tvm_op", None),
             "no_equivalent": getattr(e, "no_equivalent", None), "in_table": True} for e in ops or ()]
    known = {r["name"] for r in rows}
    for run in runs:
        for op in run.ops():
            if op not in known:
                known.add(op)
                tvm_op = next((r.get("tvm_op") for r in run.records if r["op"] == op), None)
                rows.append({"name": op, "tvm_op": tvm_op, "no_equivalent": None, "in_table": ops is None})
    return rows


def _cell(counts: Counter | None) -> dict:
    if not counts:
        return {"cls": "none", "text": "", "title": "no records"}
    worst = next(o for o in WORST_FIRST if counts[o])
    total = sum(counts.values())
    title = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
    return {"cls": worst, "text": f"{counts['pass'] + counts['xfail']}/{total}", "title": title}


def _short_num(x: Any) -> Any:
    if isinstance(x, float) and math.isfinite(x):
        return float(f"{x:.4g}")
    return x


class _Strings:
    """Interns strings so the embedded data repeats none."""

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def __call__(self, value: Any) -> int:
        if value is None or value == "" or value == {} or value == []:
            return 0
        s = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def _tol(t: Any) -> str:
    if not isinstance(t, dict):
        return ""
    return f"atol={t.get('atol')} rtol={t.get('rtol')}"


def _offload(r: dict) -> str:
    if r["check"] != "offload" and r.get("actual_offload") is None:
        return ""
    return f"expected {json.dumps(r.get('expected_offload'))}, actual {json.dumps(r.get('actual_offload'))}" + (
        f" ({r['offload_verdict']})" if r.get("offload_verdict") else "")


def _timing_row(t: Any, s: _Strings) -> list:
    if not isinstance(t, dict):
        return []
    out: list = [_short_num(t.get("speedup"))]
    for backend, v in t.items():
        if isinstance(v, dict):
            out.append([s(backend), _short_num(v.get("median_s")), _short_num(v.get("iqr_s")),
                        _short_num(v.get("build_s"))])
    return out


def _cap(text: Any) -> Any:
    if isinstance(text, str) and len(text) > MAX_REASON:
        return text[:MAX_REASON] + f"... ({len(text) - MAX_REASON} more characters)"
    return text


def _trim(row: list) -> list:
    while row and row[-1] in (0, None, [], ""):
        row.pop()
    return row


def _case_data(runs: Sequence[Run], rows: list[dict]) -> dict:
    """Compact per-op case data for the page's script (string table + arrays)."""
    s = _Strings()
    row_of = {r["name"]: i for i, r in enumerate(rows)}
    per_row: list[list] = [[] for _ in rows]
    check_i = {c: i for i, c in enumerate(CHECKS)}
    outcome_i = {o: i for i, o in enumerate(OUTCOMES)}
    for ri, run in enumerate(runs):
        cases: dict[tuple[str, str], list] = {}
        for r in run.records:
            key = (r["op"], r["case_id"])
            case = cases.get(key)
            if case is None:
                case = cases[key] = [ri, s(r["case_id"]), s(r.get("dtype")), s(r.get("input_shapes")),
                                     s(r.get("attrs")), []]
                per_row[row_of[r["op"]]].append(case)
            case[5].append(_trim([
                check_i[r["check"]], outcome_i[r["outcome"]], s(_cap(r.get("reason"))), s(r.get("error_kind")),
                _short_num(r.get("max_abs_err")), _short_num(r.get("max_rel_err")), s(_tol(r.get("tolerance"))),
                s(_tol(r.get("min_tolerance"))), s(r.get("reproducer")), s(_offload(r)),
                _timing_row(r.get("timings"), s)]))
    return {"s": s.table, "runs": [r.label for r in runs], "checks": list(CHECKS), "outcomes": list(OUTCOMES),
            "ops": per_row}


def _json_for_script(data: Any) -> Markup:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _env_table(runs: Sequence[Run]) -> list[dict]:
    keys = [k for k in ENV_ORDER if any(k in r.env for r in runs)]
    keys += sorted({k for r in runs for k in r.env} - set(keys))
    out = []
    for k in keys:
        values = [r.env.get(k) for r in runs]
        shown = ["" if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
        out.append({"key": k, "values": shown, "differs": len(set(shown)) > 1})
    return out


def _coverage(runs: Sequence[Run], rows: list[dict], have_table: bool) -> dict:
    with_eq = [r["name"] for r in rows if r["in_table"] and not r["no_equivalent"]]
    per_run = []
    for run in runs:
        present = set(run.ops())
        per_run.append({
            "label": run.label,
            "covered": sum(1 for n in with_eq if n in present),
            "missing": [n for n in with_eq if n not in present],
            "extra": [r["name"] for r in rows if not r["in_table"] and r["name"] in present] if have_table else [],
        })
    return {"table_ops": sum(1 for r in rows if r["in_table"]) if have_table else None,
            "with_equivalent": len(with_eq),
            "no_equivalent": sum(1 for r in rows if r["no_equivalent"]), "runs": per_run}


def _verdict_view(verdict) -> dict | None:
    if verdict is None:
        return None
    findings = sorted(verdict.findings, key=lambda f: (not f.regression, f.kind, f.op))
    return {"v": verdict, "findings": findings[:MAX_FINDINGS], "hidden": max(0, len(findings) - MAX_FINDINGS),
            "counts": verdict.counts()}


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_LABEL_W, _PANEL_W, _GAP, _SPEED_W, _BOX_H, _TOP = 190, 320, 64, 80, 5, 34


def _quantiles(xs: list[float]) -> tuple[float, float, float, float, float]:
    xs = sorted(xs)

    def q(p: float) -> float:
        k = (len(xs) - 1) * p
        lo = math.floor(k)
        return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (k - lo)

    return xs[0], q(0.25), q(0.5), q(0.75), xs[-1]


def _pos(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
        return float(v)
    return None


def _collect_timings(runs: Sequence[Run]) -> tuple[dict, list[str]]:
    """op -> run index -> backend -> {"steady": [...], "build": [...]}, plus speedups under "speedup"."""
    data: dict[str, dict[int, dict[str, Any]]] = {}
    backends: dict[str, None] = {}
    for ri, run in enumerate(runs):
        for r in run.records:
            t = r.get("timings")
            if not isinstance(t, dict):
                continue
            slot = data.setdefault(r["op"], {}).setdefault(ri, {})
            for b, v in t.items():
                if b == "speedup":
                    if _pos(v):
                        slot.setdefault("speedup", []).append(float(v))
                    continue
                if not isinstance(v, dict):
                    continue
                backends.setdefault(b)
                series = slot.setdefault(b, {"steady": [], "build": []})
                for kind, key in (("steady", "median_s"), ("build", "build_s")):
                    x = _pos(v.get(key))
                    if x is not None:
                        series[kind].append(x)
    return data, list(backends)


def _decades(values: list[float]) -> tuple[int, int]:
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return lo, max(hi, lo + 1)


def timing_plot(runs: Sequence[Run], rows: list[dict]) -> dict | None:
    """Geometry of the timing SVG: per op and run, a box per backend for steady state and build."""
    data, backends = _collect_timings(runs)
    if not backends:
        return None
    panels = []
    for i, kind in enumerate(("steady", "build")):
        vals = [x for op in data.values() for slot in op.values() for b in backends
                for x in slot.get(b, {}).get(kind, [])]
        x0 = _LABEL_W + i * (_PANEL_W + _GAP)
        lo, hi = _decades(vals) if vals else (-6, 0)
        ticks = [{"x": x0 + (d - lo) / (hi - lo) * _PANEL_W, "label": f"1e{d} s"} for d in range(lo, hi + 1)]
        panels.append({"kind": kind, "x0": x0, "lo": lo, "hi": hi, "ticks": ticks,
                       "title": "steady state (median per case)" if kind == "steady" else "build (per case)"})
    sub_h = _BOX_H * len(backends) + 6
    y = _TOP
    groups = []
    for row in rows:
        op = row["name"]
        if op not in data:
            continue
        subs = []
        for ri in sorted(data[op]):
            slot = data[op][ri]
            boxes = []
            for bi, b in enumerate(backends):
                for p in panels:
                    xs = slot.get(b, {}).get(p["kind"], [])
                    if not xs:
                        continue
                    qs = _quantiles(xs)

                    def sx(v: float, p=p) -> float:
                        return round(p["x0"] + (math.log10(v) - p["lo"]) / (p["hi"] - p["lo"]) * _PANEL_W, 1)

                    boxes.append({"y": y + 3 + bi * _BOX_H, "xs": [sx(v) for v in qs], "color": PALETTE[bi % len(PALETTE)],
                                  "title": f"{op} | {runs[ri].label} | {b} {p['kind']}: median {qs[2]:.3g} s, "
                                           f"IQR {qs[1]:.3g}-{qs[3]:.3g} s, range {qs[0]:.3g}-{qs[4]:.3g} s, n={len(xs)}"})
            speed = slot.get("speedup")
            subs.append({"y": y, "run": ri + 1, "boxes": boxes,
                         "speedup": f"x{_quantiles(speed)[2]:.2g}" if speed else ""})
            y += sub_h
        groups.append({"op": op, "y0": subs[0]["y"], "y1": y, "subs": subs})
        y += 6
    width = _LABEL_W + 2 * _PANEL_W + _GAP + _SPEED_W + 10
    return {"width": width, "height": y + 10, "panels": panels, "groups": groups, "box_h": _BOX_H - 1,
            "legend": [{"name": b, "color": PALETTE[i % len(PALETTE)]} for i, b in enumerate(backends)],
            "speed_x": _LABEL_W + 2 * _PANEL_W + _GAP + 10, "panel_w": _PANEL_W}


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env


def render(runs: Sequence[Run], gate_verdict=None, *, ops: Sequence | None = None,
           title: str = "tvm-trt-harness report") -> str:
    """The report as one HTML string.  ``ops`` overrides the support table (tests)."""
    if ops is None:
        ops = table_ops()
    have_table = ops is not None
    rows = _rows(runs, ops)
    checks = [c for c in CHECKS if any(r["check"] == c for run in runs for r in run.records)] or list(CHECKS)
    per_op = [run.per_op() for run in runs]
    matrix = [[[_cell(p.get(row["name"], {}).get(c)) for c in checks] for p in per_op] for row in rows]
    return _env().get_template("report.html.j2").render(
        title=title, runs=runs, summaries=[summary_line(r) for r in runs], rows=rows, checks=checks,
        matrix=matrix, env_rows=_env_table(runs), coverage=_coverage(runs, rows, have_table),
        have_table=have_table, gate=_verdict_view(gate_verdict), plot=timing_plot(runs, rows),
        data=_json_for_script(_case_data(runs, rows)), outcomes=OUTCOMES,
    )


def _parser() -> argparse.ArgumentParser:
    from ..gate import _Parser

    p = _Parser(prog="trt-harness report", description="Write one self-contained HTML report of results files.")
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files (shards of one run are merged)")
    p.add_argument("-o", "--output", default=os.path.join("reports", "index.html"), metavar="HTML",
                   help="where to write the report (default reports/index.html)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--baseline", metavar="FILE", help="baseline results file: adds it as the first run and a gate verdict")
    return p


def report_main(argv: list[str] | None = None) -> int:
    """``trt-harness report RESULTS... -o reports/index.html [--baseline FILE]``: 0 written, 2 bad input."""
    from ..gate import Gate

    try:
        args = _parser().parse_args(argv)
        runs = load_many(args.results)
        verdict = None
        if args.baseline:
            base = load_results(args.baseline)
            runs = [base] + [r for r in runs if r.run_id != base.run_id]
            if len(runs) < 2:
                raise InputError(f"{args.baseline}: the baseline is the same run as RESULTS")
        if len(runs) == 2 or (args.baseline and len(runs) > 1):
            verdict = Gate().compare(runs[0], runs[-1])
        for run in runs:
            for w in run.warnings:
                print(f"trt-harness: warning: {w}", file=sys.stderr)
        html = render(runs, verdict)
        out_dir = os.path.dirname(os.path.abspath(args.output))
        try:
            os.makedirs(out_dir, exist_ok=True)
            tmp = args.output + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(html)
            os.replace(tmp, args.output)
        except OSError as exc:
            raise InputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    except HarnessError as exc:
        print(f"trt-harness: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    size = len(html.encode("utf-8"))
    if not args.quiet:
        print(f"wrote {args.output} ({size / 1e6:.2f} MB, {len(runs)} run(s))")
    return 0

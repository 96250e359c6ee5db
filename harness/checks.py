"""The four checks on one generated case.

A :class:`CaseRun` builds each artefact of a case once (program, partition, TVM builds and their
outputs, oracle) and the checks share them, so a case is built once however many checks run.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import offload, program, rules
from .case import Case
from .errors import EnvironmentProblem
from .table import OpEntry


@dataclass
class CheckResult:
    outcome: str                 # pass | fail | skip | error
    reason: str = ""
    fields: dict = field(default_factory=dict)
    error_kind: str | None = None


@dataclass
class Comparison:
    ok: bool
    max_abs_err: float
    max_rel_err: float
    min_tolerance: dict
    nan_inf_agree: bool
    reason: str = ""

    def fields(self, atol: float, rtol: float) -> dict:
        return {"max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err,
                "min_tolerance": self.min_tolerance, "nan_inf_agree": self.nan_inf_agree,
                "tolerance": {"atol": atol, "rtol": rtol}}


def compare(actual: list, expected: list, *, atol: float, rtol: float) -> Comparison:
    """Compare output lists the way numpy.testing.assert_allclose does (|a-e| <= atol + rtol*|e|),
    with NaN/Inf required to agree in place, and the smallest tolerance that would have passed."""
    if len(actual) != len(expected):
        return Comparison(False, math.inf, math.inf, {}, False, f"{len(actual)} outputs, expected {len(expected)}")
    max_abs = max_rel = 0.0
    need_atol = need_rtol = 0.0
    agree = True
    reasons = []
    for i, (a, e) in enumerate(zip(actual, expected)):
        a = np.asarray(a)
        e = np.asarray(e)
        if a.shape != e.shape:
            return Comparison(False, math.inf, math.inf, {}, False,
                              f"output {i}: shape {a.shape}, expected {e.shape}")
        a64 = a.astype(np.float64)
        e64 = e.astype(np.float64)
        nan_a, nan_e = np.isnan(a64), np.isnan(e64)
        inf_a, inf_e = np.isinf(a64), np.isinf(e64)
        same_special = np.array_equal(nan_a, nan_e) and np.array_equal(inf_a, inf_e) and np.array_equal(
            a64[inf_a], e64[inf_e])
        if not same_special:
            agree = False
            reasons.append(f"output {i}: NaN/Inf positions differ "
                           f"({int(nan_a.sum())} NaN/{int(inf_a.sum())} Inf vs {int(nan_e.sum())}/{int(inf_e.sum())})")
        finite = np.isfinite(a64) & np.isfinite(e64)
        if finite.any():
            diff = np.abs(a64[finite] - e64[finite])
            mag = np.abs(e64[finite])
            max_abs = max(max_abs, float(diff.max()))
            rel = diff / np.maximum(mag, np.finfo(np.float64).tiny)
            max_rel = max(max_rel, float(np.where(diff == 0, 0.0, rel).max()))
            need_atol = max(need_atol, float(np.max(np.maximum(diff - rtol * mag, 0.0))))
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(diff <= atol, 0.0, (diff - atol) / mag)
            need_rtol = max(need_rtol, float(np.max(r)))
    ok = agree and need_atol <= atol
    if not ok and not reasons:
        reasons.append(f"max abs error {max_abs:.3g} > atol {atol:g} + rtol {rtol:g} * |expected| "
                       f"(max rel error {max_rel:.3g})")
    return Comparison(ok, max_abs, max_rel, {"atol": need_atol, "rtol": need_rtol}, agree, "; ".join(reasons))


class TVMFailure(Exception):
    """TVM raised while building or running a program it had accepted."""


def _guard(stage: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except EnvironmentProblem:
        raise
    except Exception as exc:  # TVM raises many kinds: all mean "TVM could not do it"
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        # TVM appends the module dump after the message: prefer the line that states the error.
        informative = [line for line in lines if not line.startswith("#") and ("Error" in line or "Check failed" in line)]
        first = lines[0] if lines else type(exc).__name__
        text = informative[-1] if informative else first
        raise TVMFailure(f"{stage}: {type(exc).__name__}: {text[:300]}") from exc


class CaseRun:
    """Lazily built artefacts of one case, shared by its checks."""

    def __init__(self, entry: OpEntry, case: Case, *, trt_version, implicit_batch: bool) -> None:
        self.entry = entry
        self.case = case
        self.trt_version = tuple(trt_version)
        self.implicit_batch = implicit_batch
        self._memo: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            t0 = time.perf_counter()
            try:
                self._memo[key] = ("ok", make())
            except (TVMFailure, EnvironmentProblem) as exc:
                self._memo[key] = ("err", exc)
            self.timings[key] = time.perf_counter() - t0
        status, value = self._memo[key]
        if status == "err":
            raise value
        return value

    # -- artefacts ---------------------------------------------------------------------------
    @property
    def program(self) -> program.Program:
        return self._get("build", lambda: _guard("build the Relax program", lambda: program.build(self.entry, self.case)))

    @property
    def partitioned(self):
        return self._get("partition", lambda: _guard("partition_for_tensorrt",
                                                      lambda: program.partition(self.program.mod)))

    @property
    def original_outputs(self) -> list:
        def make():
            ex = _guard("tvm.compile(original, llvm)", lambda: program.compile_module(self.program.mod))
            return _guard("run original", lambda: program.run(ex, self.program.inputs))
        return self._get("llvm-original", make)

    @property
    def partitioned_outputs(self) -> list:
        def make():
            stripped = _guard("lower the partitioned module for TVM",
                              lambda: program.strip_codegen(self.partitioned))
            ex = _guard("tvm.compile(partitioned, llvm)", lambda: program.compile_module(stripped))
            return _guard("run partitioned", lambda: program.run(ex, self.program.inputs))
        return self._get("llvm-partitioned", make)

    @property
    def oracle(self) -> list:
        def make():
            out = self.entry.family.oracle(self.case, self.program.inputs, self.program.weights)
            out = list(out) if isinstance(out, tuple) else [out]
            if self.case.dtype.startswith("int"):   # integer ops produce integers (C-style truncation)
                out = [np.trunc(np.asarray(o, np.float64)).astype(self.case.dtype) for o in out]
            return out
        return self._get("oracle", make)

    def offload_comparison(self) -> offload.OffloadComparison:
        return self._get("offload", lambda: offload.compare(self.program.mod, self.partitioned,
                                                            trt_version=self.trt_version,
                                                            implicit_batch=self.implicit_batch))

    def decisions(self) -> list:
        return [(offload.op_name(c), rules.decide(c, trt_version=self.trt_version, implicit_batch=self.implicit_batch))
                for c in offload.all_calls(self.program.mod)]

    def main_rule(self) -> str:
        """The rule that decided this case's operator (the op the table entry maps to)."""
        decisions = self.decisions()
        for name, d in decisions:
            if name == self.entry.tvm_op:
                return d.rule
        return decisions[-1][1].rule if decisions else "supported"


# -- the checks ---------------------------------------------------------------------------------------
def check_offload(run: CaseRun) -> CheckResult:
    cmp = run.offload_comparison()
    expected = [{"op": name, **d.to_json()} for name, d in run.decisions()]
    actual = sorted(offload.op_name(c) for c in offload.trt_calls(run.partitioned))
    fields = {"expected_offload": expected, "actual_offload": {"ops": actual, "regions": cmp.regions},
              "offload_verdict": cmp.verdict}
    if cmp.verdict == "match":
        return CheckResult("pass", "offload as expected", fields)
    parts = []
    if cmp.over:
        parts.append("over-offload: " + "; ".join(f"{op} offloaded though {why}" for op, why in cmp.over))
    if cmp.under:
        parts.append("under-offload: " + "; ".join(f"{op} kept on TVM though {why}" for op, why in cmp.under))
    return CheckResult("fail", " | ".join(parts), fields)


def _numeric(actual: list, expected: list, atol: float, rtol: float, what: str) -> CheckResult:
    cmp = compare(actual, expected, atol=atol, rtol=rtol)
    fields = cmp.fields(atol, rtol)
    if cmp.ok:
        return CheckResult("pass", f"{what} within atol={atol:g} rtol={rtol:g}", fields)
    return CheckResult("fail", f"{what}: {cmp.reason}", fields)


def check_preserve(run: CaseRun) -> CheckResult:
    atol, rtol = run.entry.tolerance(run.case.dtype)
    return _numeric(run.partitioned_outputs, run.original_outputs, atol, rtol,
                    "partitioned vs original (TVM LLVM)")


def check_reference(run: CaseRun) -> CheckResult:
    """TVM's LLVM build against the oracle; on a GPU, TVM's CUDA build too (with its timings),
    so the CUDA reference of the tensorrt check is not trusted blindly."""
    atol, rtol = run.entry.tolerance(run.case.dtype)
    result = _numeric(run.original_outputs, run.oracle, atol, rtol, "TVM LLVM vs NumPy oracle")
    from .backends import get_backend
    from .timing import measure

    cuda = get_backend("tvm-cuda")
    if cuda.unavailable_reason() is not None or result.outcome != "pass":
        return result
    built = run._get("built:tvm-cuda", lambda: _guard("build with tvm-cuda", lambda: cuda.build(run.program.mod)))
    outputs = _guard("run tvm-cuda", lambda: cuda.run(built, run.program.inputs))
    on_gpu = _numeric(outputs, run.oracle, atol, rtol, "TVM CUDA vs NumPy oracle")
    on_gpu.fields = {**result.fields, **on_gpu.fields,
                     "timings": {"tvm-cuda": {**measure(cuda.timer(built, run.program.inputs)),
                                              "build_s": built.build_s}}}
    on_gpu.fields["reference"] = "numpy-oracle (tvm-llvm and tvm-cuda)"
    on_gpu.reason = (f"{result.reason} (LLVM max abs error {result.fields['max_abs_err']:.3g}); "
                     f"{on_gpu.reason} (CUDA max abs error {on_gpu.fields['max_abs_err']:.3g})")
    return on_gpu


CHECK_FUNCS: dict[str, Callable[[CaseRun], CheckResult]] = {
    "offload": check_offload,
    "preserve": check_preserve,
    "reference": check_reference,
}


def run_check(run: CaseRun, check: str, tensorrt_check: Callable[[CaseRun], CheckResult] | None = None) -> CheckResult:
    """Run one check; TVM failing on a program it accepted is a ``fail`` with the stage named."""
    fn = CHECK_FUNCS.get(check) or tensorrt_check
    try:
        return fn(run)
    except TVMFailure as exc:
        return CheckResult("fail", f"TVM failed: {exc}")
    except EnvironmentProblem as exc:
        return CheckResult("skip", str(exc))

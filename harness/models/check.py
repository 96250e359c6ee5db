"""Check a whole ONNX model: what TVM's TensorRT partitioner offloads, and whether it still computes.

:func:`check_model` takes a zoo model or a user's ``.onnx`` file through the steps

1. **load** the file and run ``onnx.checker`` (a missing, truncated or invalid file is an
   :class:`~harness.errors.InputError`);
2. **inputs**: generate seeded inputs from the declared input types (a dynamic dimension takes
   ``dim_value``; an input still without a fixed shape is an ``InputError``);
3. **import** with ``from_onnx(model, shape_dict, dtype_dict, keep_params_in_input=False)``
   (weights become constants; an op the frontend cannot import is an ``InputError``), bind any
   remaining parameters, **partition** with ``partition_for_tensorrt``;
4. **offload**: partition statistics (TensorRT subgraphs = functions with ``Codegen ==
   "tensorrt"``, ops offloaded and kept per op type) and, per op type, the expected offload of
   :mod:`harness.rules` against the actual one (:func:`harness.offload.compare`);
5. **preserve**: the partitioned program (Codegen attributes stripped, composites lambda-lifted)
   and the original, both built by TVM for LLVM, agree; the partitioned build survives
   ``export_library`` / ``load_module`` with bit-identical outputs;
6. **reference**: TVM's LLVM build agrees with ``onnx.reference.ReferenceEvaluator`` (an executor
   that shares no code with TVM) and, where the model came from a framework (MXNet ResNet-18), with
   that framework's own output.

One :class:`~harness.results.Record` per check (``op="model:<name>"``) is written to a temporary
file that is renamed onto the results path only at the end, so an error never leaves a half file.

Errors are normwise: ``max_abs_err = max|actual - expected|``, ``max_rel_err = max_abs_err /
max(|expected|)``.  A comparison passes when ``|actual - expected| <= atol + rtol * |expected|``
elementwise with ``atol = atol_scale * max|expected|`` (normwise, so a model whose outputs are tiny
is held to the same relative accuracy; the recorded ``tolerance`` holds the effective ``atol``); integer and boolean outputs must be equal; NaN/Inf positions must agree.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import HarnessError, InputError

# Whole-model tolerances (float32).  preserve compares two LLVM builds of the same ops, so it is
# tight; reference compares TVM against an independent executor over a deep model.
PRESERVE_TOL = {"rtol": 1e-5, "atol_scale": 1e-5}
REFERENCE_TOL = {"rtol": 1e-4, "atol_scale": 1e-4}
SOURCE_TOL = {"rtol": 1e-4, "atol_scale": 1e-4}

VERDICT_CHECKS = ("offload", "preserve", "roundtrip", "reference", "source")


def default_trt_version() -> tuple[int, int, int]:
    """The harness-wide default target (:data:`harness.versions.DEFAULT_TRT_VERSION`)."""
    from .. import rules, versions

    return tuple(versions.DEFAULT_TRT_VERSION)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

@dataclass
class CheckResult:
    """One check of one model.  ``outcome`` is pass, fail, skip or error."""

    check: str
    outcome: str
    reason: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tolerance: dict | None = None
    min_tolerance: dict | None = None
    nan_inf_agree: bool | None = None
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in ("pass", "skip", "xfail")


@dataclass
class PartitionStats:
    trt_subgraphs: int
    offloaded: dict[str, int]
    kept: dict[str, int]

    @property
    def n_offloaded(self) -> int:
        return sum(self.offloaded.values())

    @property
    def n_kept(self) -> int:
        return sum(self.kept.values())

    def as_dict(self) -> dict:
        return {"trt_subgraphs": self.trt_subgraphs, "ops_offloaded": self.n_offloaded,
                "ops_kept": self.n_kept, "offloaded_by_op": dict(sorted(self.offloaded.items())),
                "kept_by_op": dict(sorted(self.kept.items()))}


@dataclass
class OpVerdict:
    """Expected against actual offload of one op type."""

    op: str
    total: int
    expected: int
    offloaded: int
    kept: int
    over: list[str]
    under: list[str]

    @property
    def verdict(self) -> str:
        if self.over:
            return "over-offload"
        if self.under:
            return "under-offload"
        return "match"


@dataclass
class ModelVerdict:
    name: str
    source: str
    trt_version: tuple[int, int, int]
    inputs: dict[str, tuple[list[int], str]]
    implicit_batch: bool | None = None
    stats: PartitionStats | None = None
    original_ops: dict[str, int] = field(default_factory=dict)
    ops: list[OpVerdict] = field(default_factory=list)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    records: list = field(default_factory=list)
    results_path: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks.values() if not c.ok]

    @property
    def over(self) -> list[tuple[str, str]]:
        return [(o.op, r) for o in self.ops for r in o.over]

    @property
    def under(self) -> list[tuple[str, str]]:
        return [(o.op, r) for o in self.ops for r in o.under]


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------

class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line: a TVM traceback's last line, else the whole text."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[-1] if "Traceback" in text else " ".join(lines)
    if len(line) > 300:
        line = line[:297] + "..."
    return line


def load_model(model_or_path) -> tuple[Any, str]:
    """The ModelProto and a label for it; every problem is an InputError naming the file."""
    import onnx

    if isinstance(model_or_path, onnx.ModelProto):
        model, label = model_or_path, (model_or_path.graph.name or "<model>")
    else:
        path = os.fspath(model_or_path)
        label = path
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not an ONNX file")
        if os.path.getsize(path) == 0:
            raise InputError(f"{path}: empty file, not an ONNX model")
        try:
            model = onnx.load(path)
        except Exception as exc:  # DecodeError, external-data errors, ...
            raise InputError(f"{path}: not a readable ONNX model (truncated or corrupt?): "
                             f"{_one_line(exc)}") from None
    if not model.graph.node:
        raise InputError(f"{label}: the ONNX graph has no nodes (truncated or not an ONNX model?)")
    if not model.graph.output:
        raise InputError(f"{label}: the ONNX graph declares no outputs")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise InputError(f"{label}: invalid ONNX model: {_one_line(exc)}") from None
    return model, label


def _np_dtype(elem_type: int) -> np.dtype:
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:
        raise InputError(f"unsupported input element type {elem_type}") from None


def input_specs(model, *, dim_value: int) -> dict[str, tuple[list[int], str]]:
    """{input name: (shape, dtype)} for the graph inputs that are not initializers."""
    if dim_value < 1:
        raise InputError(f"--dim-value must be a positive integer, got {dim_value}")
    inits = {t.name for t in model.graph.initializer}
    specs: dict[str, tuple[list[int], str]] = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        if not vi.type.HasField("tensor_type"):
            raise InputError(f"input {vi.name!r} is not a tensor ({vi.type.WhichOneof('value')})")
        tt = vi.type.tensor_type
        dtype = _np_dtype(tt.elem_type)
        if not tt.HasField("shape"):
            raise InputError(f"input {vi.name!r} declares no shape, so it has no fixed shape even "
                             f"with --dim-value {dim_value}")
        shape = []
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(int(d.dim_value))
            else:  # dim_param, unknown, or 0/-1: dynamic
                shape.append(int(dim_value))
        specs[vi.name] = (shape, str(dtype))
    if not specs:
        raise InputError("the model has no runtime inputs (every input is an initializer)")
    return specs


def generate_inputs(specs: dict[str, tuple[list[int], str]], *, seed: int) -> dict[str, np.ndarray]:
    """Seeded data: floats uniform in [-1, 1), integers in [0, 4) (safe as indices), random bools."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, dtype) in specs.items():
        dt = np.dtype(dtype)
        if dt.kind == "f":
            out[name] = rng.uniform(-1.0, 1.0, shape).astype(dt)
        elif dt.kind in "iu":
            out[name] = rng.integers(0, 4, shape).astype(dt)
        elif dt.kind == "b":
            out[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            raise InputError(f"input {name!r}: cannot generate data of dtype {dtype}")
    return out


def import_model(model, specs: dict[str, tuple[list[int], str]]):
    """TVM's Relax module for ``model``, weights bound as constants, input shapes fixed."""
    from tvm.relax.frontend.onnx import from_onnx

    try:
        from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

        known = set(_get_convert_map())
    except Exception:  # pragma: no cover - older/newer frontends
        known = None
    if known is not None:
        missing = sorted({n.op_type for n in model.graph.node
                          if n.domain in ("", "ai.onnx") and n.op_type not in known})
        if missing:
            raise InputError(f"TVM's ONNX frontend cannot import op(s): {', '.join(missing)}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mod = from_onnx(model, shape_dict={k: v[0] for k, v in specs.items()},
                            dtype_dict={k: v[1] for k, v in specs.items()},
                            keep_params_in_input=False)
        except Exception as exc:
            raise InputError(f"TVM's ONNX frontend cannot import the model: {_one_line(exc)}") from None
    main = mod["main"]
    num_input = int(main.attrs["num_input"]) if main.attrs is not None and "num_input" in main.attrs \
        else len(main.params)
    if len(main.params) > num_input:  # parameters kept as inputs: bind them (none expected)
        raise InputError("the frontend left weights as parameters; cannot bind them")
    if len(main.params) != len(specs):
        raise InputError(f"the imported model takes {len(main.params)} inputs, the ONNX graph "
                         f"declares {len(specs)}")
    for p, name in zip(main.params, specs):
        ty = p.ty if hasattr(p, "ty") else p.struct_info
        got = getattr(ty, "shape", None)
        dims = list(got.values) if got is not None and hasattr(got, "values") else None
        if dims is None or not all(type(d).__name__ == "IntImm" for d in dims):
            raise InputError(f"input {name!r} has no fixed shape after import ({ty})")
    return mod


# Partitioning, building and running are harness.program's: the model checks use the very same
# steps as the op suites.
def partition(mod):
    from .. import program

    return program.partition(mod)


def strip_codegen(mod):
    from .. import program

    return program.strip_codegen(mod)


def build(mod):
    from .. import program

    return program.compile_module(mod, "llvm")


def run(ex_or_lib, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    from .. import program

    return program.run(ex_or_lib, [np.ascontiguousarray(x) for x in inputs])


def reference_outputs(model, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    return [np.asarray(o) for o in ReferenceEvaluator(model).run(None, inputs)]


def compare(actual: list[np.ndarray], expected: list[np.ndarray], *, check: str, against: str,
            rtol: float, atol_scale: float) -> CheckResult:
    """Elementwise tolerance check of output lists; see the module docstring."""
    if len(actual) != len(expected):
        return CheckResult(check, "fail", f"{len(actual)} outputs, {against} has {len(expected)}")
    worst_abs = worst_rel = 0.0
    min_atol = 0.0
    agree = True
    atols = []
    bad = []
    for i, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        if a.shape != e.shape:
            bad.append(f"output {i}: shape {a.shape} vs {against} {e.shape}")
            continue
        if e.dtype.kind not in "fc":
            if a.dtype.kind in "fc" or not np.array_equal(a, e):
                diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
                worst_abs = max(worst_abs, float(diff.max(initial=0.0)))
                bad.append(f"output {i} ({e.dtype}): not equal to {against}")
            continue
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        fa, fe = np.isfinite(a64), np.isfinite(e64)
        same_special = np.array_equal(fa, fe) and np.array_equal(a64[~fa], e64[~fe], equal_nan=True)
        if not same_special:
            agree = False
            bad.append(f"output {i}: NaN/Inf positions differ from {against}")
        mask = fa & fe
        diff = np.abs(a64[mask] - e64[mask])
        scale = float(np.abs(e64[mask]).max(initial=0.0))
        atol = atol_scale * (scale if scale > 0 else 1.0)  # normwise: scale-invariant
        atols.append(atol)
        err = float(diff.max(initial=0.0))
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, err / scale if scale > 0 else (0.0 if err == 0 else float("inf")))
        excess = diff - rtol * np.abs(e64[mask])
        min_atol = max(min_atol, float(excess.max(initial=0.0)))
        if (excess > atol).any():
            n = int((excess > atol).sum())
            bad.append(f"output {i}: {n}/{e.size} elements beyond atol={atol:.3g} rtol={rtol:g} "
                       f"(max abs err {err:.3g})")
    tol = {"rtol": rtol, "atol": max(atols) if atols else 0.0}
    res = CheckResult(check, "fail" if bad else "pass",
                      "; ".join(bad) if bad else f"within tolerance of {against}",
                      max_abs_err=worst_abs, max_rel_err=worst_rel, tolerance=tol,
                      min_tolerance={"rtol": rtol, "atol": min_atol}, nan_inf_agree=agree,
                      details={"against": against})
    return res


# ---------------------------------------------------------------------------------------------
# Offload conformance
# ---------------------------------------------------------------------------------------------

def _offload_api():
    from .. import offload

    return offload


def trt_call_sites(partitioned) -> Counter:
    """Op calls that run in TensorRT, counted per call site (harness.offload.trt_calls)."""
    off = _offload_api()
    return Counter(off.op_name(c) for c in off.trt_calls(partitioned))


def _op_names(expr) -> list[str]:
    """Names of the op calls (not function calls) in ``expr``, each node once."""
    import tvm
    from tvm import relax

    names: list[str] = []

    def visit(node):
        if isinstance(node, relax.Call) and isinstance(node.op, tvm.ir.Op):
            names.append(str(node.op.name))

    relax.analysis.post_order_visit(expr, visit)
    return names


def partition_stats(partitioned) -> PartitionStats:
    off = _offload_api()
    trt = trt_call_sites(partitioned)
    kept = Counter(off.op_name(c) for c in off.all_calls(partitioned))
    return PartitionStats(len(off.trt_functions(partitioned)), dict(trt), dict(kept))


def offload_conformance(original, partitioned, *, trt_version, implicit_batch: bool | None = None,
                        stats: PartitionStats | None = None) -> tuple[list[OpVerdict], CheckResult]:
    """Per-op expected against actual offload (:func:`harness.offload.compare`).

    With ``stats``, the per-op offloaded counts of ``compare`` are cross-checked against the
    call-site counts; a disagreement is named in the reason (the comparison then undercounts)."""
    off = _offload_api()
    comp = off.compare(original, partitioned, trt_version=trt_version, implicit_batch=implicit_batch)
    ops = []
    for name in sorted(comp.by_op):
        slot = comp.by_op[name]
        ops.append(OpVerdict(
            op=name, total=int(slot.get("total", slot["offloaded"] + slot["kept"])),
            expected=int(slot["expected"]), offloaded=int(slot["offloaded"]), kept=int(slot["kept"]),
            over=[r for n, r in comp.over if n == name], under=[r for n, r in comp.under if n == name]))
    problems = []
    for o in ops:
        if o.over:
            problems.append(f"over-offload {o.op} x{len(o.over)}: {_uniq(o.over)}")
        if o.under:
            problems.append(f"under-offload {o.op} x{len(o.under)}: {_uniq(o.under)}")
    verdict = "over-offload" if comp.over else ("under-offload" if comp.under else "match")
    mismatch = {}
    if stats is not None:
        for name in sorted(set(stats.offloaded) | {o.op for o in ops}):
            seen = next((o.offloaded for o in ops if o.op == name), 0)
            sites = stats.offloaded.get(name, 0)
            if seen != sites:
                mismatch[name] = {"harness.offload": seen, "call_sites": sites}
    reason = "; ".join(problems) if problems else "offload matches the rules for every op"
    details = {"verdict": verdict, "over": [list(x) for x in comp.over],
               "under": [list(x) for x in comp.under], "count_mismatch": mismatch}
    if mismatch:
        # The comparison itself is wrong (it sees fewer offloaded calls than run in TensorRT), so
        # its over/under lists cannot be trusted: an error of the harness, not a verdict.
        details["error_kind"] = "harness"
        why = ("harness.offload.compare counts fewer offloaded calls than the TensorRT functions "
               "make (a composite function called at several sites is counted once): " + ", ".join(
                   f"{k} {v['harness.offload']} vs {v['call_sites']} call sites"
                   for k, v in mismatch.items()))
        return ops, CheckResult("offload", "error", f"{why}; its findings: {reason}", details=details)
    from .. import expectations as exp_mod

    known, new = exp_mod.classify_offload(comp, exp_mod.load_default())
    details["known"] = [[n, w, v, f"expectations #{e.index}"] for n, w, v, e in known]
    details["new"] = [list(x) for x in new]
    if problems and not new:
        reason = ("known departures (harness/data/expectations.toml): " +
                  "; ".join(sorted({f"{n} {v}: expectations #{e.index}: {e.reason}" for n, _, v, e in known})) +
                  f" | {reason}")
        return ops, CheckResult("offload", "xfail", reason, details=details)
    res = CheckResult("offload", "fail" if problems else "pass", reason, details=details)
    return ops, res


def _uniq(reasons: list[str], limit: int | None = None) -> str:
    """Distinct reasons joined by " | "; with ``limit``, the first ``limit`` and a count of the rest."""
    seen: list[str] = []
    for r in reasons:
        if r not in seen:
            seen.append(r)
    if limit is not None and len(seen) > limit:
        return " | ".join(seen[:limit]) + f" | ... (+{len(seen) - limit} more distinct reasons)"
    return " | ".join(seen)


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------

def _parse_version(v) -> tuple[int, int, int]:
    from .. import rules, versions

    if v is None:
        return default_trt_version()
    text = v if isinstance(v, str) else ".".join(str(int(p)) for p in v)
    try:
        return tuple(versions.parse_version(text))  # type: ignore[return-value]
    except InputError as exc:
        raise InputError(f"--trt-version: {exc}") from None


def check_model(model_or_path, *, trt_version=None, dim_value: int = 1,
                seed: int = 0, name: str | None = None, implicit_batch: bool | None = None,
                inputs: dict[str, np.ndarray] | None = None,
                source_outputs: list[np.ndarray] | None = None, source: str | None = None,
                results: str | os.PathLike | None = None) -> ModelVerdict:
    """Check one ONNX model (a ``ModelProto`` or a path); see the module docstring.

    ``trt_version`` (``"8.6.1"`` or a tuple; default :data:`harness.versions.DEFAULT_TRT_VERSION`)
    and ``implicit_batch`` (default: the version's) choose the converter rules.
    ``inputs`` overrides the generated inputs (the zoo passes its own); ``source_outputs`` are the
    source framework's outputs for those inputs, ``source`` its name.  ``results``: write records
    there (atomically).  Raises :class:`InputError` for a model that cannot be checked at all.
    """
    import onnx

    version = _parse_version(trt_version)
    timer = _Timer()
    with timer.step("load"):
        model, label = load_model(model_or_path)
    if not name:  # a file is named by its stem, a ModelProto by its graph
        is_path = not isinstance(model_or_path, onnx.ModelProto)
        name = (os.path.splitext(os.path.basename(label))[0] if is_path else model.graph.name)
        name = name or "model"
    try:
        specs = input_specs(model, dim_value=dim_value)
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None
    if inputs is None:
        data = generate_inputs(specs, seed=seed)
    else:
        missing = set(specs) - set(inputs)
        if missing:
            raise InputError(f"{label}: no data given for input(s) {sorted(missing)}")
        data = {k: np.asarray(inputs[k]) for k in specs}
        specs = {k: (list(v.shape), str(v.dtype)) for k, v in data.items()}
    if implicit_batch is None:
        from .. import rules, versions

        implicit_batch = versions.implicit_batch_default(version)
    verdict = ModelVerdict(name=name, source=label, trt_version=version, inputs=specs,
                           implicit_batch=implicit_batch)
    verdict.timings = timer.timings

    with timer.step("import"):
        try:
            original = import_model(model, specs)
        except InputError as exc:
            raise InputError(f"{label}: {exc}") from None
    with timer.step("partition"):
        partitioned = partition(original)
    verdict.original_ops = dict(Counter(_op_names(original["main"])))

    # 1. offload -------------------------------------------------------------------------------
    with timer.step("offload_rules"):
        try:
            verdict.stats = partition_stats(partitioned)
            verdict.ops, res = offload_conformance(original, partitioned, trt_version=version,
                                                   implicit_batch=implicit_batch,
                                                   stats=verdict.stats)
        except Exception as exc:  # a harness/rules crash is reported, not hidden
            res = CheckResult("offload", "error", f"{type(exc).__name__}: {_one_line(exc)}",
                              details={"error_kind": "crash"})
    verdict.checks["offload"] = res

    ordered = [data[k] for k in specs]
    # 2. preserve --------------------------------------------------------------------------------
    orig_out = part_out = None
    ex_part = None
    try:
        with timer.step("build_original"):
            ex_orig = build(original)
        with timer.step("run_original"):
            orig_out = run(ex_orig, ordered)
    except Exception as exc:
        msg = f"TVM could not build/run the original model for LLVM: {_one_line(exc)}"
        verdict.checks["preserve"] = CheckResult("preserve", "error", msg, details={"error_kind": "crash"})
    try:
        with timer.step("build_partitioned"):
            ex_part = build(strip_codegen(partitioned))
        with timer.step("run_partitioned"):
            part_out = run(ex_part, ordered)
    except Exception as exc:
        msg = f"TVM could not build/run the partitioned model for LLVM: {_one_line(exc)}"
        verdict.checks.setdefault("preserve", CheckResult("preserve", "error", msg,
                                                          details={"error_kind": "crash"}))
    if orig_out is not None and part_out is not None:
        verdict.checks["preserve"] = compare(part_out, orig_out, check="preserve",
                                             against="the unpartitioned build", **PRESERVE_TOL)
    # roundtrip
    if ex_part is not None and part_out is not None:
        with timer.step("export_reload"):
            verdict.checks["roundtrip"] = _roundtrip(ex_part, ordered, part_out)
    else:
        verdict.checks["roundtrip"] = CheckResult("roundtrip", "skip",
                                                  "no partitioned build to export")

    # 3. reference -------------------------------------------------------------------------------
    tvm_out = orig_out if orig_out is not None else part_out
    try:
        with timer.step("reference_eval"):
            ref_out = reference_outputs(model, data)
    except Exception as exc:
        ref_out = None
        verdict.checks["reference"] = CheckResult(
            "reference", "error",
            f"onnx.reference.ReferenceEvaluator failed: {type(exc).__name__}: {_one_line(exc)}",
            details={"error_kind": "crash"})
    if ref_out is not None:
        if tvm_out is None:
            verdict.checks["reference"] = CheckResult("reference", "error",
                                                      "no TVM output to compare (build failed)",
                                                      details={"error_kind": "crash"})
        else:
            verdict.checks["reference"] = compare(
                tvm_out, ref_out, check="reference",
                against="onnx.reference.ReferenceEvaluator", **REFERENCE_TOL)
    if source_outputs is not None:
        src = source or "source framework"
        if tvm_out is None:
            verdict.checks["source"] = CheckResult("source", "error",
                                                   "no TVM output to compare (build failed)")
        else:
            verdict.checks["source"] = compare(tvm_out, [np.asarray(o) for o in source_outputs],
                                               check="source", against=f"{src} itself",
                                               **SOURCE_TOL)
        if ref_out is not None:  # how far the ONNX export itself is from the framework
            exp = compare(ref_out, [np.asarray(o) for o in source_outputs], check="source",
                          against=src, **SOURCE_TOL)
            verdict.checks["source"].details["onnx_export_vs_source_max_abs_err"] = exp.max_abs_err
    verdict.timings["total"] = round(sum(v for k, v in verdict.timings.items() if k != "total"), 4)

    verdict.records = _records(verdict, seed=seed, dim_value=dim_value, source=source)
    if results is not None:
        verdict.results_path = write_results(verdict.records, results, trt_version=version,
                                             seed=seed, label=f"model check {name}")
    return verdict


def _roundtrip(ex, inputs, expected) -> CheckResult:
    import tvm

    with tempfile.TemporaryDirectory(prefix="trt-harness-lib-") as tmp:
        path = os.path.join(tmp, "model.so")
        try:
            ex.export_library(path)
            lib = tvm.runtime.load_module(path)
            got = run(lib, inputs)
        except Exception as exc:
            return CheckResult("roundtrip", "fail",
                               f"export_library/load_module failed: {_one_line(exc)}")
        size = os.path.getsize(path)
    same = len(got) == len(expected) and all(
        g.shape == e.shape and g.dtype == e.dtype and np.array_equal(g, e, equal_nan=e.dtype.kind in "fc")
        for g, e in zip(got, expected))
    if not same:
        diffs = [float(np.abs(g.astype(np.float64) - e.astype(np.float64)).max(initial=0.0))
                 for g, e in zip(got, expected) if g.shape == e.shape]
        return CheckResult("roundtrip", "fail",
                           "the reloaded library's outputs differ from the built module's",
                           max_abs_err=max(diffs, default=None), details={"library_bytes": size})
    return CheckResult("roundtrip", "pass", "export_library/load_module: identical outputs",
                       max_abs_err=0.0, details={"library_bytes": size})


# ---------------------------------------------------------------------------------------------
# Records and results file
# ---------------------------------------------------------------------------------------------

def _records(v: ModelVerdict, *, seed: int, dim_value: int, source: str | None) -> list:
    from ..results import Record

    tv = ".".join(map(str, v.trt_version))
    case_id = f"{v.name}-seed{seed}-dim{dim_value}"
    stats = v.stats.as_dict() if v.stats else {}
    shapes = [s for s, _ in v.inputs.values()]
    dtypes = sorted({d for _, d in v.inputs.values()})
    common = dict(op=f"model:{v.name}", case_id=case_id, trt_version=tv, input_shapes=shapes,
                  dtype=",".join(dtypes), backend="tvm-llvm")
    stats = {**stats, "implicit_batch": v.implicit_batch, "step_timings_s": dict(v.timings)}

    def outcome_fields(c: CheckResult) -> dict:
        kind = c.details.get("error_kind", "crash") if c.outcome == "error" else None
        return dict(outcome=c.outcome, reason=c.reason, error_kind=kind)

    recs = []
    off = v.checks["offload"]
    recs.append(Record(check="offload", **common, **outcome_fields(off),
                       attrs={**stats, "over_offload": off.details.get("over", []),
                              "under_offload": off.details.get("under", []),
                              "source": v.source},
                       expected_offload={o.op: o.expected for o in v.ops},
                       actual_offload={o.op: o.offloaded for o in v.ops},
                       offload_verdict=off.details.get("verdict"),
                       duration_s=v.timings.get("offload_rules"),
                       timings=None))

    pres, rt = v.checks.get("preserve"), v.checks.get("roundtrip")
    if pres is not None:
        merged = pres
        reason = pres.reason
        outcome = pres.outcome
        if rt is not None and rt.outcome in ("fail", "error") and outcome == "pass":
            outcome, reason = rt.outcome, f"{pres.reason}; but {rt.reason}"
        elif rt is not None:
            reason = f"{reason}; {rt.reason}"
        recs.append(Record(check="preserve", **common, outcome=outcome, reason=reason,
                           error_kind=("crash" if outcome == "error" else None),
                           attrs={**stats, "roundtrip": {"outcome": rt.outcome, "reason": rt.reason,
                                                         **rt.details} if rt else None},
                           max_abs_err=merged.max_abs_err, max_rel_err=merged.max_rel_err,
                           tolerance=merged.tolerance, min_tolerance=merged.min_tolerance,
                           nan_inf_agree=merged.nan_inf_agree,
                           reference="tvm-llvm (unpartitioned)",
                           duration_s=_sum(v.timings, "build_original", "run_original",
                                           "build_partitioned", "run_partitioned", "export_reload")))

    ref, src = v.checks.get("reference"), v.checks.get("source")
    if ref is not None:
        outcome, reason = ref.outcome, ref.reason
        attrs: dict[str, Any] = {**stats}
        refname = "onnx.reference.ReferenceEvaluator"
        if src is not None:
            attrs["source_framework"] = {"name": source, "outcome": src.outcome, "reason": src.reason,
                                         "max_abs_err": src.max_abs_err,
                                         "max_rel_err": src.max_rel_err, **src.details}
            refname += f" + {source}"
            if src.outcome in ("fail", "error") and outcome == "pass":
                outcome, reason = src.outcome, f"{ref.reason}; but vs {source}: {src.reason}"
            else:
                reason = f"{reason}; vs {source}: {src.reason}"
        recs.append(Record(check="reference", **common, outcome=outcome, reason=reason,
                           error_kind=("crash" if outcome == "error" else None), attrs=attrs,
                           max_abs_err=ref.max_abs_err, max_rel_err=ref.max_rel_err,
                           tolerance=ref.tolerance, min_tolerance=ref.min_tolerance,
                           nan_inf_agree=ref.nan_inf_agree, reference=refname,
                           duration_s=_sum(v.timings, "reference_eval")))
    return recs


def _sum(t: dict, *keys: str) -> float:
    return round(sum(t.get(k, 0.0) for k in keys), 4)


def write_results(records: list, path, *, trt_version, seed: int, label: str) -> str:
    """Write a header and ``records`` to a temp file beside ``path``, then rename it onto ``path``."""
    from ..results import ResultsWriter, environment

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=directory)
    os.close(fd)
    os.unlink(tmp)  # ResultsWriter refuses to append to an existing non-empty file; start fresh
    writer = None
    try:
        tv = ".".join(map(str, trt_version))
        writer = ResultsWriter(tmp, {"env": environment(trt_version=tv, backend="tvm-llvm",
                                                        reference="onnx.reference.ReferenceEvaluator",
                                                        seed=seed),
                                     "label": label, "suite": "models"})
        for r in records:
            writer.write(r)
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ---------------------------------------------------------------------------------------------
# CLI: trt-harness check MODEL.onnx
# ---------------------------------------------------------------------------------------------

def format_verdict(v: ModelVerdict) -> str:
    mode = {True: "implicit batch", False: "explicit batch", None: "default batch mode"}
    lines = [f"model {v.name} ({v.source}); TensorRT {'.'.join(map(str, v.trt_version))}, "
             f"{mode[v.implicit_batch]}",
             "inputs: " + ", ".join(f"{k} {tuple(s)} {d}" for k, (s, d) in v.inputs.items())]
    if v.stats:
        s = v.stats
        lines.append(f"partition: {s.trt_subgraphs} TensorRT subgraph(s), {s.n_offloaded} op call(s) "
                     f"offloaded, {s.n_kept} kept on TVM")
    if v.ops:
        w = max(len(o.op) for o in v.ops)
        lines.append(f"  {'op'.ljust(w)}  total expected offloaded kept  verdict")
        for o in v.ops:
            why = _uniq(o.over or o.under, limit=2)
            lines.append(f"  {o.op.ljust(w)}  {o.total:5d} {o.expected:8d} {o.offloaded:9d} "
                         f"{o.kept:4d}  {o.verdict}{'  (' + why + ')' if why else ''}")
    for name in VERDICT_CHECKS:
        c = v.checks.get(name)
        if c is None:
            continue
        err = f" max_abs_err={c.max_abs_err:.3g}" if c.max_abs_err is not None else ""
        reason = c.reason if len(c.reason) <= 700 else c.reason[:700] + " ... (full reason in --results)"
        lines.append(f"{name:9s} {c.outcome.upper():5s}{err}  {reason}")
    t = v.timings
    lines.append("timings (s): " + ", ".join(f"{k}={t[k]:.2f}" for k in t))
    return "\n".join(lines)


def check_main(argv: Sequence[str] | None = None) -> int:
    """``trt-harness check MODEL.onnx``: exit 0 all checks pass, 1 one failed, 2 bad input.

    A departure already listed in the expectations file (outcome xfail) still fails a user's model
    -- TensorRT will still get it wrong -- unless ``--known-ok`` is given."""
    p = argparse.ArgumentParser(prog="trt-harness check",
                                description="Check TVM's TensorRT partitioning of an ONNX model.")
    p.add_argument("model", help="path of an .onnx file")
    p.add_argument("--trt-version", default=None,
                   help="TensorRT version whose rules apply, e.g. 8.6.1 (default: the harness "
                        "default, harness.versions.DEFAULT_TRT_VERSION)")
    p.add_argument("--implicit-batch", choices=("auto", "on", "off"), default="auto",
                   help="TensorRT implicit batch mode (default: the version's default)")
    p.add_argument("--dim-value", type=int, default=1,
                   help="value given to every dynamic input dimension (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    p.add_argument("--results", help="write a results file (JSON Lines) here")
    p.add_argument("--report", help="write an HTML report here (needs harness.report)")
    p.add_argument("--known-ok", action="store_true",
                   help="exit 0 when every departure found is a known one (harness/data/expectations.toml)")
    try:
        args = p.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse already printed its message
        return 0 if exc.code == 0 else 2
    try:
        version = _parse_version(args.trt_version)
    except InputError as exc:
        print(f"trt-harness: error: {exc}", file=sys.stderr)
        return 2
    try:
        verdict = check_model(args.model, trt_version=version, dim_value=args.dim_value,
                              seed=args.seed, results=args.results,
                              implicit_batch={"auto": None, "on": True, "off": False}[args.implicit_batch])
    except HarnessError as exc:
        msg = str(exc)
        if not msg.startswith(args.model):
            msg = f"{args.model}: {msg}"
        print(f"trt-harness: error: {msg}", file=sys.stderr)
        return 2
    print(format_verdict(verdict))
    if verdict.results_path:
        print(f"results: {verdict.results_path}")
    if args.report:
        _write_report(args, verdict)
    known = [c for c in verdict.checks.values() if c.outcome == "xfail"]
    if known and not args.known_ok:
        return 1
    return 0 if verdict.ok else 1


def _write_report(args, verdict: ModelVerdict) -> None:
    """Render the HTML report from the results file (written to a temp file without --results)."""
    try:
        from ..reader import load_results
        from ..report import render  # type: ignore[attr-defined]
    except Exception as exc:
        print(f"report: skipped, harness.report.render is not available ({_one_line(exc)})")
        return
    with tempfile.TemporaryDirectory(prefix="trt-harness-report-") as tmp:
        results = args.results
        if not results:
            results = write_results(verdict.records, os.path.join(tmp, "results.jsonl"),
                                    trt_version=verdict.trt_version, seed=args.seed,
                                    label=f"model check {verdict.name}")
        try:
            html = render([load_results(results)], title=f"trt-harness check {verdict.name}")
        except Exception as exc:
            print(f"report: not written, harness.report.render failed: {type(exc).__name__}: "
                  f"{_one_line(exc)}", file=sys.stderr)
            return
    out = os.path.abspath(args.report)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp_out = out + ".tmp"
    with open(tmp_out, "w", encoding="utf-8") as fh:
        fh.write(html)
    os.replace(tmp_out, out)
    print(f"report: {args.report}")

"""The four checks, one signature: ``check(art, target, opts) -> CheckResult``.

* ``offload``   what ``partition_for_tensorrt`` put in TensorRT functions against what the table
                and the converter rules say it should (over- and under-offload apart);
* ``preserve``  the partitioned program, built by TVM, computes what the original does;
* ``reference`` TVM's build agrees with an independent reference (NumPy oracle for table cases,
                ONNX references for models); on a GPU, TVM's CUDA build too;
* ``tensorrt``  the system under test (TensorRT) agrees with the reference backend (TVM's CUDA
                build), and both are timed.

:data:`NEEDS` says which builds each check needs, so the pipeline builds each once.  A check never
reads session state: what it needs comes in :class:`CheckOptions`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .compare import Comparison, compare, for_sum
from .errors import EnvironmentProblem
from .pipeline import ORIGINAL, PARTITIONED, Artifacts, DeviceFailure, RunnerFailure, StageFailure
from .records import CHECKS, Offload, Timing, Tolerance

FP16_ENV = "TVM_TENSORRT_USE_FP16"


@dataclass(frozen=True)
class CheckOptions:
    trt_version: tuple
    implicit_batch: bool
    sut: str = "tensorrt"                  # system under test of the tensorrt check
    reference: str = "tvm-cuda"            # its reference backend
    cuda_reference: bool = False           # the reference check also checks TVM's CUDA build
    fp16_mode: bool = False                # TVM_TENSORRT_USE_FP16: the tensorrt check is looser
    fp16_tolerance: Tolerance | None = None
    timed: bool = False                    # the tensorrt check reports the builds' timings


@dataclass
class CheckTarget:
    """What a check needs to know about the program beyond its artefacts."""

    tolerance: Tolerance                               # preserve / reference / tensorrt
    oracle: Callable[[object], list] | None = None     # Program -> independent reference outputs
    reference_name: str = "numpy-oracle"
    main_op: str | None = None                         # the Relax op whose rule names the case
    terms: int | None = None                           # products summed into one output (Family.terms)


@dataclass
class CheckResult:
    outcome: str                        # pass | fail | skip | error
    reason: str = ""
    comparison: Comparison | None = None
    offload: Offload | None = None
    timings: dict[str, Timing] | None = None
    speedup: float | None = None
    backend: str | None = None
    reference: str | None = None
    error_kind: str | None = None
    details: dict = field(default_factory=dict)


def needs(check: str, opts: CheckOptions) -> set[tuple[str, str]]:
    """The (variant, backend) builds ``check`` compares."""
    from .backends import get_backend

    if check == "preserve":
        return {(ORIGINAL, "tvm-llvm"), (PARTITIONED, "tvm-llvm")}
    if check == "reference":
        return {(ORIGINAL, "tvm-llvm")} | ({(ORIGINAL, "tvm-cuda")} if opts.cuda_reference else set())
    if check == "tensorrt":
        sut, ref = get_backend(opts.sut), get_backend(opts.reference)
        return {(sut.variant, sut.name), (ref.variant, ref.name)}
    return set()


def partitions(check: str, opts: CheckOptions) -> bool:
    """Whether ``check`` needs the partitioned program (the reference check does not, so a
    partitioner that crashes cannot take it down)."""
    return check != "reference" and (check != "tensorrt" or PARTITIONED in {v for v, _ in needs(check, opts)})


def numeric(actual: list, expected: list, tol: Tolerance, what: str) -> CheckResult:
    """A CheckResult from comparing two output lists (:func:`harness.compare.compare`)."""
    cmp = compare(actual, expected, tol)
    return CheckResult("pass" if cmp.ok else "fail", f"{what}: {cmp.reason}", comparison=cmp)


def check_offload(art: Artifacts, target: CheckTarget, opts: CheckOptions) -> CheckResult:
    art.need("partition")
    off = art.offload
    if off.verdict == "match":
        return CheckResult("pass", "offload as expected", offload=off)
    parts = []
    for title, items, verb in (("over-offload", off.over, "offloaded though"),
                               ("under-offload", off.under, "kept on TVM though")):
        if items:
            parts.append(f"{title}: " + "; ".join(
                f"{d.op}{f' x{d.count}' if d.count > 1 else ''} {verb} {d.reason}" for d in items))
    return CheckResult("fail", " | ".join(parts), offload=off)


def check_preserve(art: Artifacts, target: CheckTarget, opts: CheckOptions) -> CheckResult:
    res = numeric(art.output(PARTITIONED, "tvm-llvm"), art.output(ORIGINAL, "tvm-llvm"), target.tolerance,
                   "partitioned vs original (TVM LLVM)")
    res.backend, res.reference = "tvm-llvm", "tvm-llvm (original)"
    return res


def check_reference(art: Artifacts, target: CheckTarget, opts: CheckOptions) -> CheckResult:
    if target.oracle is None:
        return CheckResult("skip", "no independent reference for this program")
    program = art.need("build")
    expected = target.oracle(program)
    res = numeric(art.output(ORIGINAL, "tvm-llvm"), expected, target.tolerance,
                   f"TVM LLVM vs {target.reference_name}")
    res.backend, res.reference = "tvm-llvm", target.reference_name
    if not opts.cuda_reference or res.outcome != "pass":
        return res
    on_gpu = numeric(art.output(ORIGINAL, "tvm-cuda"), expected, target.tolerance,
                      f"TVM CUDA vs {target.reference_name}")
    on_gpu.backend, on_gpu.reference = "tvm-llvm,tvm-cuda", target.reference_name
    on_gpu.reason = f"{res.reason}; {on_gpu.reason}"
    return on_gpu


def blames_cuda(reason: str) -> bool:
    """Whether a failure reason written by these checks blames TVM's CUDA build rather than its LLVM
    build.  check_reference compares the CUDA build only once the LLVM build agreed, so a reason with
    a "TVM CUDA vs" part is the CUDA build's even though it starts with the LLVM side's "within"."""
    if "; TVM CUDA vs " in reason:
        return True
    return "TVM LLVM" not in reason and "tvm.compile(llvm)" not in reason


def check_tensorrt(art: Artifacts, target: CheckTarget, opts: CheckOptions) -> CheckResult:
    from .backends import get_backend

    sut, ref = get_backend(opts.sut), get_backend(opts.reference)
    got = art.output(sut.variant, sut.name)
    want = art.output(ref.variant, ref.name)
    tol = target.tolerance
    if opts.fp16_mode and opts.fp16_tolerance:      # TensorRT computes in float16: its rounding, its sums
        tol = for_sum(opts.fp16_tolerance, target.terms, "float16")
    res = numeric(got, want, tol, f"{sut.name} vs {ref.name}")
    res.backend, res.reference = sut.name, ref.name
    res.details["fp16_mode"] = opts.fp16_mode
    if opts.timed:
        res.timings = {b.name: art.timings[(b.variant, b.name)] for b in (sut, ref)
                       if (b.variant, b.name) in art.timings}
        if sut.name in res.timings and ref.name in res.timings:
            a, b = res.timings[ref.name].figure(), res.timings[sut.name].figure()
            res.speedup = a / b if a and b else None
    return res


CHECK_FUNCS: dict[str, Callable[[Artifacts, CheckTarget, CheckOptions], CheckResult]] = {
    "offload": check_offload,
    "preserve": check_preserve,
    "reference": check_reference,
    "tensorrt": check_tensorrt,
}
assert tuple(CHECK_FUNCS) == CHECKS


def run_check(check: str, art: Artifacts, target: CheckTarget, opts: CheckOptions) -> CheckResult:
    """One check; TVM failing on a program it accepted is a ``fail`` that names the stage."""
    try:
        return CHECK_FUNCS[check](art, target, opts)
    except DeviceFailure as exc:
        return CheckResult("error", f"the GPU failed (not judged as a departure of TVM): {exc}", error_kind="device")
    except RunnerFailure as exc:
        return CheckResult("error", str(exc), error_kind=exc.kind)
    except StageFailure as exc:
        return CheckResult("fail", f"TVM failed: {exc}")
    except EnvironmentProblem as exc:
        return CheckResult("skip", str(exc))

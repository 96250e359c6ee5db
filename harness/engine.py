"""Computing checks for a unit of table cases: what the (isolated) worker does.

How one op-suite case flows, in one place:

1. :mod:`harness.plan` drew the case (Hypothesis) and put it in a unit (a chunk of one op's cases);
2. the session (:mod:`harness.session`) sends the unit to the worker (:mod:`harness.isolate`);
3. here, :func:`run_unit` takes every case of the unit through the pipeline
   (:mod:`harness.pipeline`: build -> partition -> compile per backend, batched -> run) and runs
   the requested checks (:mod:`harness.checks`: compare);
4. the session judges each result against the known departures (:func:`harness.expectations.judge`),
   writes one record per (case, check) (:mod:`harness.results`), shrinks an unexpected failure
   with Hypothesis, and asks the worker for a reproducer (:func:`write_reproducer`).

The worker keeps the artefacts of recent cases (so shrinking and reproducers reuse the builds)
and the on-disk build cache.
"""
from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field

import numpy as np

from . import checks as C
from . import trace
from .builds import BuildCache
from .case import Case
from .checks import CheckOptions, CheckResult, CheckTarget
from .compare import for_sum
from .pipeline import Artifacts, execute, partition, prepare, time_builds
from .timing.roofline import roofline_of

ARTIFACTS_KEPT = 256


@dataclass(frozen=True)
class UnitRequest:
    """What the session asks of the worker (picklable)."""

    op: str
    cases: tuple                          # Case, ...
    checks: dict                          # case_id -> tuple of checks to compute
    opts: CheckOptions
    cache_dir: str | None = None
    timing: dict | None = None            # keyword arguments of the timing function, or None
    expect_crash: bool = False            # confirming a known crash: one death of the runner says it


@dataclass
class Computed:
    """One (case, check) computed by the worker."""

    case_id: str
    check: str
    result: CheckResult
    rule: str | None = None
    stage_s: dict = field(default_factory=dict)
    device: str | None = None             # the runner's device where a runner ran it (harness.runner)


@dataclass(frozen=True)
class Lost:
    """The unit's runs found no runner left (:class:`harness.runner.CardLost`): nothing of it is
    computed, and its pairs get no record."""

    reason: str


class _Worker:
    """State that lives as long as the worker process."""

    def __init__(self) -> None:
        self.arts: collections.OrderedDict[tuple, Artifacts] = collections.OrderedDict()
        self.caches: dict[str | None, BuildCache] = {}

    def cache(self, directory: str | None) -> BuildCache:
        if directory not in self.caches:
            self.caches[directory] = BuildCache(directory)
        return self.caches[directory]

    def artifacts(self, entry, case: Case, opts: CheckOptions) -> Artifacts:
        key = (case.case_id, opts.trt_version, opts.implicit_batch)
        if key in self.arts:
            self.arts.move_to_end(key)
            return self.arts[key]
        from . import program

        art = prepare(case.case_id, lambda: program.build_case(entry, case))
        self.arts[key] = art
        while len(self.arts) > ARTIFACTS_KEPT:
            self.arts.popitem(last=False)
        return art


WORKER = _Worker()


def target_for(entry, case: Case) -> CheckTarget:
    """What the checks need to know about a table case: its tolerance and its NumPy oracle."""

    def oracle(program):
        out = entry.family.oracle(entry, case, program.inputs, program.weights)
        out = list(out) if isinstance(out, tuple) else [out]
        if case.dtype.startswith("int"):   # integer ops produce integers (C-style truncation)
            out = [np.trunc(np.asarray(o, np.float64)).astype(case.dtype) for o in out]
        return out

    terms = entry.family.terms(entry, case)
    return CheckTarget(tolerance=for_sum(entry.tolerance(case.dtype), terms, case.dtype), terms=terms,
                       oracle=oracle, reference_name="numpy-oracle",
                       main_op=entry.tvm_op)


def run_unit(req: UnitRequest) -> list[Computed] | Lost:
    """Every requested check of every case of the unit; builds batched per backend."""
    from .runner import CardLost

    try:
        return _run_unit(req)
    except CardLost as exc:
        return Lost(str(exc))


def _run_unit(req: UnitRequest) -> list[Computed]:
    from .table import BY_NAME

    entry = BY_NAME[req.op]
    opts = req.opts
    if req.timing is not None:
        opts = CheckOptions(**{**opts.__dict__, "timed": True})
    with trace.span("programs"):
        arts = {c.case_id: WORKER.artifacts(entry, c, opts) for c in req.cases}
    needs = {cid: set().union(*(C.needs(k, opts) for k in req.checks.get(cid, ()))) for cid in arts}
    with trace.span("partition"):
        for cid, art in arts.items():
            if any(C.partitions(k, opts) for k in req.checks.get(cid, ())):
                partition(art, trt_version=opts.trt_version, implicit_batch=opts.implicit_batch)
    execute(list(arts.values()), needs, WORKER.cache(req.cache_dir), retry=not req.expect_crash)
    if req.timing is not None:      # the builds the tensorrt check compares, timed together
        with trace.span("timing"):
            time_builds([(arts[cid], v, b) for cid in arts if "tensorrt" in req.checks.get(cid, ())
                         for v, b in C.needs("tensorrt", opts)], **req.timing)
        for case in req.cases:      # each timing placed on its card's roofline
            art = arts[case.case_id]
            for key, t in art.timings.items():
                if t.roofline is None:
                    t.roofline = roofline_of(case, t)
    out = []
    for case in req.cases:
        art = arts[case.case_id]
        target = target_for(entry, case)
        for check in req.checks.get(case.case_id, ()):
            result = C.run_check(check, art, target, opts)
            rule = art.rule(entry.tvm_op, trt_version=opts.trt_version, implicit_batch=opts.implicit_batch)
            out.append(Computed(case.case_id, check, result, rule, dict(art.stage_s), _ran_on(art, check)))
    return out


def _ran_on(art: Artifacts, check: str) -> str | None:
    """The GPU runner's device that ran the check's GPU builds (None where no runner did)."""
    if check not in ("reference", "tensorrt"):
        return None
    devices = sorted({d for d in art.ran_on.values() if d.startswith("cuda")})
    return ", ".join(devices) or None


def write_reproducer(op: str, case: Case, check: str, outcome: str, reason: str, opts: CheckOptions,
                     directory: str) -> str:
    """A standalone script (TVM and NumPy only) that shows the departure of ``case``."""
    from . import repro
    from .table import BY_NAME

    entry = BY_NAME[op]
    art = WORKER.artifacts(entry, case, opts)
    if check != "reference":
        partition(art, trt_version=opts.trt_version, implicit_batch=opts.implicit_batch)
    program = art.need("build")
    target = target_for(entry, case)
    try:
        oracle = target.oracle(program)
    except Exception:
        oracle = None
    off = art.offload
    # A departure of TVM's CUDA build (the reference check's CUDA side, or tvm-cuda in the tensorrt
    # check) is reproduced on CUDA; one of its LLVM build on LLVM.
    on_cuda = check in ("reference", "tensorrt") and C.blames_cuda(reason) and (
        (check == "reference" and opts.cuda_reference) or (check == "tensorrt" and "tvm-cuda" in (opts.sut, opts.reference)))
    return repro.write(directory, stem=f"{case.case_id}-{check}", check="reference" if check == "tensorrt" else check,
                       outcome=outcome, reason=reason, program=program, oracle=oracle, tolerance=target.tolerance,
                       expected_offload={op: n for op, n in off.expected.items() if n} if off else None,
                       target="cuda" if on_cuda else "llvm")


def clear() -> None:
    """Forget cached artefacts (between unrelated runs in one process, e.g. tests)."""
    WORKER.arts.clear()


def pid() -> int:
    return os.getpid()

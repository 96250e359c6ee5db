"""The benchmark set on the shared pipeline: realistic layers (:mod:`harness.bench.shapes`) built,
compiled (batched, cached) and run on every GPU backend that can run here, each checked against the
NumPy reference on the same run, then timed exclusively on its GPU (latency and CUPTI device
time) and placed on the card's roofline (:mod:`harness.timing.roofline`).

:func:`measure_layers` runs in the isolated worker; :func:`run_chunk` is the parent side, which
judges and records one record (check ``reference``, suite ``bench``) per layer and dtype.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..checks import CheckResult, numeric
from ..records import Record
from ..timing.roofline import roofline_of

TIMING = {"min_round_s": 2e-2, "rounds": 15, "max_total_s": 5.0}


@dataclass(frozen=True)
class BenchRequest:
    layers: tuple                 # (layer name, Case), ...
    backends: tuple               # GPU backends that can run here
    cache_dir: str | None = None
    trt_version: tuple = (10, 0, 1)
    implicit_batch: bool = False
    timing: dict | None = None    # time_many keywords (default TIMING)


@dataclass
class Measured:
    layer: str
    case: object
    result: CheckResult
    timings: dict = field(default_factory=dict)


def measure_layers(req: BenchRequest) -> list[Measured]:
    """Worker side: every layer on every backend (one batched build per backend), checked, timed."""
    from .. import engine, program
    from ..backends import get_backend
    from ..engine import target_for
    from ..pipeline import DeviceFailure, StageFailure, execute, partition, prepare, time_builds
    from ..table import BY_NAME

    arts = {}                      # keyed by layer and dtype: a layer is listed in float32 and float16
    for name, case in req.layers:
        entry, key = BY_NAME[case.op], f"{name}:{case.dtype}"
        arts[key] = prepare(key, lambda e=entry, c=case: program.build_case(e, c))
        if any(get_backend(b).variant == "partitioned" for b in req.backends):
            partition(arts[key], trt_version=req.trt_version, implicit_batch=req.implicit_batch)
    needs = {key: {(get_backend(b).variant, b) for b in req.backends} for key in arts}
    execute(list(arts.values()), needs, engine.WORKER.cache(req.cache_dir))
    time_builds([(art, get_backend(b).variant, b) for art in arts.values() for b in req.backends],
                **(req.timing or TIMING))
    out = []
    for name, case in req.layers:
        art, target = arts[f"{name}:{case.dtype}"], target_for(BY_NAME[case.op], case)
        try:
            expected = target.oracle(art.need("build"))
        except StageFailure as exc:
            out.append(Measured(name, case, CheckResult("fail", f"TVM failed: {exc}")))
            continue
        results, timings = [], {}
        for b in req.backends:
            variant = get_backend(b).variant
            try:
                res = numeric(art.output(variant, b), expected, target.tolerance, f"{b} vs numpy-oracle")
            except DeviceFailure as exc:
                res = CheckResult("error", f"the GPU failed: {exc}", error_kind="device")
            except StageFailure as exc:
                res = CheckResult("fail", f"TVM failed: {exc}")
            results.append(res)
            t = art.timings.get((variant, b))
            if res.outcome == "pass" and t is not None:
                t.roofline = roofline_of(case, t)
                timings[b] = t
        worst = next((r for r in results if r.outcome != "pass"), results[0])
        worst.reason = "; ".join(r.reason for r in results)
        worst.backend, worst.reference = ",".join(req.backends), "numpy-oracle"
        out.append(Measured(name, case, worst, timings))
    return out


def run_chunk(session, layers: list, nodeid: str | None = None) -> list[str]:
    """Parent side: measure ``layers`` in the worker, judge and record them; the unexpected ones."""
    from ..backends import get_backend
    from ..expectations import Subject, judge
    from ..suite import make_record
    from ..table import BY_NAME

    s = session.settings
    backends = tuple(b for b in dict.fromkeys((s.backend, s.reference, "tvm-cuda"))
                     if get_backend(b).device_kind == "cuda" and get_backend(b).unavailable_reason() is None)
    if not backends:
        return []
    req = BenchRequest(layers=tuple(layers), backends=backends, cache_dir=s.build_cache,
                       trt_version=tuple(s.trt_version), implicit_batch=s.implicit_batch)
    answer = session.isolator.call("harness.bench.run:measure_layers", req, timeout=s.timeout * len(layers))
    if not answer.ok:
        measured = [Measured(n, c, CheckResult("error", answer.reason, error_kind=answer.error_kind))
                    for n, c in layers]
    else:
        measured = answer.value
    unexpected = []
    for m in measured:
        entry = BY_NAME[m.case.op]
        ctx = session.context("reference", True)
        judged = judge(m.result.outcome, m.result.reason,
                       Subject(op=entry.name, check="reference", dtype=m.case.dtype, attrs=m.case.attrs, case=m.case),
                       ctx, s.expectations, error_kind=m.result.error_kind)
        m.result.timings = m.timings or None
        rec: Record = make_record(session, entry, m.case, "reference", m.result, judged, rule=None, nodeid=nodeid,
                                  duration_s=None)
        rec.case_id, rec.suite = f"{m.layer}:{m.case.dtype}", "bench"
        rec.details = {**rec.details, "layer": m.layer}
        session.record(rec)
        if judged.unexpected:
            unexpected.append(f"{m.layer} {m.case.dtype}: {judged.outcome}: {judged.reason[:300]}")
    return unexpected


def gpu_backends_reason(session) -> str | None:
    """Why the benchmark set cannot run here (no GPU backend can), or None."""
    from ..backends import get_backend

    names = list(dict.fromkeys(("tvm-cuda", session.settings.backend)))
    reasons = [get_backend(b).unavailable_reason() for b in names]
    if any(r is None for r in reasons):
        return None
    return "no GPU backend can run here: " + "; ".join(f"{b}: {r}" for b, r in zip(names, reasons))

"""Checking a whole ONNX model through the shared pipeline.

:func:`check_model` takes a model (a user's file or a zoo model) through the same stages as a
table case (:mod:`harness.pipeline`): **build** (import with TVM's ONNX frontend, weights bound as
constants), **partition**, **compile** per backend (the original and the partitioned program in
one batch, cached across runs), **run**, **compare**.  The worker (:mod:`harness.isolate`) does
the TVM work, so a TVM crash, a partitioner exception or a signal becomes a finding with a
reproducer, never a traceback; meanwhile this process computes the references (onnx's evaluator,
ONNX Runtime, the source framework: :mod:`harness.models.references`).

The checks, each judged with :func:`harness.expectations.judge` like the op suites':

* ``offload``   per op type, the rules' expected offload against the partitioner's; each departure
                is matched against the known ones by its table op, rule and verdict;
* ``preserve``  the partitioned program against the original, both on TVM's LLVM build;
* ``reference`` TVM's build against the references' consensus (named in the verdict); references
                that disagree among themselves are reported as such, not blamed on TVM;
* ``tensorrt``  the system under test against its reference backend, where both can run.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..checks import CheckOptions, CheckResult, numeric
from ..errors import InputError, describe
from ..pipeline import ORIGINAL
from ..records import Tolerance

PRESERVE_TOL = Tolerance(atol=1e-5, rtol=1e-5, mode="normwise")
REFERENCE_TOL = Tolerance(atol=1e-4, rtol=1e-4, mode="normwise")
STEPS = ("offload", "preserve", "reference", "tensorrt")


@dataclass(frozen=True)
class ModelRequest:
    """What the worker needs (picklable): the model's bytes, its inputs, what to compute."""

    name: str
    model: bytes
    specs: dict                     # input name -> (shape, dtype), in graph order
    inputs: dict                    # input name -> ndarray
    steps: tuple
    opts: CheckOptions
    cache_dir: str | None = None
    dynamic: bool = False           # the model declares dynamic dimensions: judge the symbolic module too


@dataclass
class Computed:
    """What the worker computed for one model."""

    failures: dict = field(default_factory=dict)       # stage -> reason
    skip: str | None = None
    offload: object | None = None                       # records.Offload
    stats: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)         # (variant, backend) -> list | reason str
    results: dict = field(default_factory=dict)         # check -> CheckResult (preserve, tensorrt)
    stage_s: dict = field(default_factory=dict)
    symbolic: object | None = None                      # symbolic.Symbolic


def import_model(model, specs: dict):
    """TVM's Relax module for ``model``: weights bound as constants, input shapes fixed."""
    import warnings

    from tvm.relax.frontend.onnx import from_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = from_onnx(model, shape_dict={k: list(v[0]) for k, v in specs.items()},
                        dtype_dict={k: v[1] for k, v in specs.items()}, keep_params_in_input=False)
    main = mod["main"]
    if len(main.params) != len(specs):
        raise ValueError(f"the imported model takes {len(main.params)} inputs, the ONNX graph declares "
                         f"{len(specs)} (weights left as parameters?)")
    return mod


def partition_stats(art) -> dict:
    from collections import Counter

    from ..offload import all_calls, op_name, trt_calls, trt_functions

    offloaded = Counter(op_name(c) for c in trt_calls(art.partitioned))
    total = Counter(op_name(c) for c in all_calls(art.program.mod))
    kept = {op: n - offloaded.get(op, 0) for op, n in total.items() if n - offloaded.get(op, 0) > 0}
    return {"trt_subgraphs": len(trt_functions(art.partitioned)), "ops_offloaded": sum(offloaded.values()),
            "ops_kept": sum(kept.values()), "offloaded_by_op": dict(sorted(offloaded.items())),
            "kept_by_op": dict(sorted(kept.items())), "original_by_op": dict(sorted(total.items()))}


def compute(req: ModelRequest) -> Computed:
    """Worker side: import, partition, compile (one batch per backend), run, preserve/tensorrt."""
    import onnx

    from .. import checks as C
    from .. import engine
    from ..pipeline import Artifacts, execute, partition, prepare
    from ..program import Program

    model = onnx.load_from_string(req.model)
    opts = req.opts
    names = list(req.specs)

    def make():
        mod = import_model(model, req.specs)
        return Program(source=mod, mod=mod, inputs=[np.asarray(req.inputs[n]) for n in names], weights={})

    art: Artifacts = prepare(req.name, make)
    if any(C.partitions(s, opts) for s in req.steps if s != "offload") or "offload" in req.steps:
        partition(art, trt_version=opts.trt_version, implicit_batch=opts.implicit_batch)
    needs = set()
    for s in req.steps:
        needs |= C.needs(s, opts)
    execute([art], {art.key: needs}, engine.WORKER.cache(req.cache_dir))
    out = Computed(failures=dict(art.failures), skip=art.skip, offload=art.offload, stage_s=dict(art.stage_s))
    if art.partitioned is not None:
        out.stats = partition_stats(art)
    for slot, got in art.outputs.items():
        out.outputs[slot] = str(got) if isinstance(got, Exception) else got
    from ..checks import CheckTarget

    target = CheckTarget(tolerance=PRESERVE_TOL, reference_name="tvm-llvm (original)")
    for s in ("preserve", "tensorrt"):
        if s in req.steps:
            out.results[s] = C.run_check(s, art, target, opts)
    if req.dynamic and "offload" in req.steps and art.offload is not None:
        from .symbolic import symbolic_offload

        out.symbolic = symbolic_offload(model, req.specs, trt_version=opts.trt_version,
                                        implicit_batch=opts.implicit_batch)
    return out


# ---------------------------------------------------------------------------------------------------
@dataclass
class ModelVerdict:
    name: str
    source: str
    specs: dict
    trt_version: tuple
    implicit_batch: bool
    computed: Computed | None = None
    results: dict = field(default_factory=dict)      # check -> CheckResult
    judged: dict = field(default_factory=dict)       # check -> expectations.Judgement
    references: object | None = None                 # references.ReferenceSet
    timings: dict = field(default_factory=dict)
    reproducers: dict = field(default_factory=dict)
    error: str | None = None                         # the worker crashed or hung: why

    @property
    def new(self) -> list[str]:
        return [c for c, j in self.judged.items() if j.unexpected]

    @property
    def known(self) -> list[str]:
        return [c for c, j in self.judged.items() if j.outcome == "xfail"]


def _references_in_background(model, inputs, source, runners=None):
    """The references in a thread of this process, each in a child process (isolated_refs)."""
    from ..isolate import Isolator
    from . import references as R
    from .isolated_refs import isolated_runners

    box: dict = {}

    def work():
        t0 = time.perf_counter()
        iso = Isolator(method="fork")
        try:
            box["refs"] = R.run_references(model, inputs, source=source, runners=isolated_runners(iso, runners))
        except Exception as exc:    # a reference that cannot run is a finding about it, not a crash
            box["error"] = describe(exc)
        finally:
            iso.close()
        box["seconds"] = time.perf_counter() - t0

    th = threading.Thread(target=work, name="trt-harness-references", daemon=True)
    th.start()
    return th, box


def check_model(model, label: str, *, name: str, specs: dict, inputs: dict, session_like, steps=STEPS,
                source_outputs=None, source: str | None = None, model_path: str | None = None,
                reproduce: str | None = "new", min_references: int = 1, dynamic: bool = False) -> ModelVerdict:
    """Check one model (see the module docstring).  ``session_like`` supplies settings
    (trt_version, implicit_batch, expectations, backend, reference, build_cache, repro_dir), the
    isolator and ``context(check, cuda)``: a :class:`harness.session.Session`.  ``reproduce``:
    write reproducers for new departures ("new"), known ones too ("all"), or none (None)."""
    from ..suite import check_options, tensorrt_skip_reason

    s = session_like.settings
    opts = check_options(session_like)
    steps = tuple(x for x in STEPS if x in steps)
    t0 = time.perf_counter()
    v = ModelVerdict(name=name, source=label, specs=specs, trt_version=tuple(s.trt_version),
                     implicit_batch=s.implicit_batch)
    if "tensorrt" in steps:     # only what this machine can run
        why = tensorrt_skip_reason(session_like)
        if why:
            v.results["tensorrt"] = CheckResult("skip", why)
            steps = tuple(x for x in steps if x != "tensorrt")
    want_refs = "reference" in steps
    thread = box = None
    if want_refs:
        thread, box = _references_in_background(model, inputs, (source, source_outputs) if source_outputs else None)
    req = ModelRequest(name=name, model=model.SerializeToString(), specs=specs, inputs=inputs, steps=steps, opts=opts,
                       cache_dir=s.build_cache, dynamic=dynamic)
    answer = session_like.isolator.call("harness.models.verify:compute", req, timeout=s.timeout * 10)
    v.timings["tvm_s"] = round(time.perf_counter() - t0, 3)
    if not answer.ok:
        v.error = answer.reason
        for check in steps:
            v.results[check] = CheckResult("error", f"{answer.error_kind}: {answer.reason}", error_kind=answer.error_kind)
    else:
        v.computed = c = answer.value
        v.timings.update({f"{k}_s": round(x, 3) for k, x in c.stage_s.items()})
        if c.skip:
            for check in steps:
                v.results[check] = CheckResult("skip", c.skip)
            steps = ()
        else:
            if "offload" in steps:
                v.results["offload"] = _offload_result(c)
            for check in ("preserve", "tensorrt"):
                if check in steps:
                    v.results[check] = c.results[check]
    if want_refs:
        thread.join()
        v.timings["references_s"] = round(box.get("seconds", 0.0), 3)
        v.references = box.get("refs")
        if v.computed is not None and not v.computed.skip:
            v.results["reference"] = _reference_result(v, box, opts, min_references)
    v.timings["total_s"] = round(time.perf_counter() - t0, 3)
    _judge(v, session_like, opts)
    if reproduce:     # "new": for new departures; "all": known ones too; None: none (reduce's candidates)
        _reproduce(v, session_like, model, model_path, inputs, known=reproduce == "all")
    return v


def _offload_result(c: Computed) -> CheckResult:
    from .symbolic import merge

    if "build" in c.failures or "partition" in c.failures:
        return CheckResult("fail", f"TVM failed: {c.failures.get('build') or c.failures.get('partition')}")
    sym = c.symbolic
    if sym is not None and (sym.failure or "").startswith("partition"):
        return CheckResult("fail", f"TVM failed on the symbolic module: {sym.failure}", offload=c.offload,
                           details=c.stats)
    off = merge(c.offload, sym)
    if off.verdict == "match":
        return CheckResult("pass", "offload matches the rules for every op", offload=off, details=c.stats)
    parts = [f"{kind} {d.op} x{d.count}: {d.reason}" for kind, items in (("over-offload", off.over),
                                                                          ("under-offload", off.under))
             for d in items]
    return CheckResult("fail", "; ".join(parts), offload=off, details=c.stats)


def _reference_result(v: ModelVerdict, box: dict, opts: CheckOptions, min_references: int = 1) -> CheckResult:
    from . import references as R

    c = v.computed
    refs = box.get("refs")
    if refs is None:
        return CheckResult("error", f"the references could not run: {box.get('error')}", error_kind="harness")
    results = []
    backends = ["tvm-llvm"] + (["tvm-cuda"] if opts.cuda_reference else [])
    for b in backends:
        got = c.outputs.get((ORIGINAL, b))
        if got is None or isinstance(got, str):
            results.append(CheckResult("fail", f"TVM failed: {got or c.failures}"))
            continue
        j = R.judge(got, refs, name=f"TVM {b}")
        outcome = {"pass": "pass", "fail": "fail", "inconclusive": "skip", "skip": "skip"}[j.outcome]
        reason, n = j.reason, len(j.rests_on)
        if j.outcome in ("pass", "fail"):
            missing = [r.line() for r in refs.references if not r.ok and r.status != "not run"]
            reason += (f" [rests on {n} independent references]" if n > 1 else
                       f" [rests on one reference: {j.rests_on[0]}" + (f"; {'; '.join(missing)}" if missing else "")
                       + "]")
            if n < min_references:
                outcome, reason = "skip", (f"inconclusive: {j.outcome} on {n} reference(s), fewer than "
                                           f"--min-references {min_references}: {reason}")
        res = CheckResult(outcome, reason, backend=b, reference=j.against or "references",
                          details={"references": refs.lines(), "rests_on": j.rests_on, "references_count": n,
                                   "inconclusive": outcome == "skip"})
        if j.against is not None:
            consensus = next(r for r in refs.available if r.name == j.against)
            res.comparison = numeric(got, consensus.outputs, REFERENCE_TOL, f"TVM {b} vs {j.against}").comparison
        results.append(res)
    worst = next((r for r in results if r.outcome != "pass"), results[0])
    worst.reason = "; ".join(r.reason for r in results)
    return worst


def _judge(v: ModelVerdict, session, opts: CheckOptions) -> None:
    """Each check's outcome against the known departures; offload per departure (table op, rule)."""
    from ..expectations import Judgement, Subject, judge
    from ..table import entries_for_tvm_op

    exps = session.settings.expectations
    for check, res in v.results.items():
        ctx = session.context(check, opts.cuda_reference)
        if check == "offload" and res.offload is not None and res.outcome == "fail":
            known, new = [], []
            for verdict, items in (("over-offload", res.offload.over), ("under-offload", res.offload.under)):
                for d in items:
                    seeds = [e.name for e in entries_for_tvm_op(d.op)] or [d.op]
                    hit = None
                    for seed in seeds:
                        j = judge("fail", d.reason, Subject(op=seed, check="offload", rule=d.rule, verdict=verdict),
                                  ctx, exps)
                        if j.outcome == "xfail":
                            hit = j
                            break
                    (known if hit else new).append((d, verdict, hit))
            if new:
                v.judged[check] = Judgement("fail", res.reason)
            else:
                ids = sorted({h.expectation.id for _, _, h in known})
                v.judged[check] = Judgement("xfail", f"known departures (expectations {', '.join(ids)}): " + "; ".join(
                    sorted({f'{d.op} {vd}: {h.expectation.reason}' for d, vd, h in known})) + f" | {res.reason}",
                    known[0][2].expectation)
            res.details = {**res.details, "known": [f"{d.op} {vd} x{d.count}" for d, vd, _ in known],
                           "new": [f"{d.op} {vd} x{d.count}: {d.reason}" for d, vd, _ in new]}
            continue
        v.judged[check] = judge(res.outcome, res.reason, Subject(op=f"model:{v.name}", check=check), ctx, exps,
                                error_kind=res.error_kind)


def _reproduce(v: ModelVerdict, session, model, model_path, inputs, known: bool = False) -> None:
    """A reproducer for each new departure of TVM (the ONNX file and inputs beside a script);
    ``known``: for known departures (xfail) too."""
    import tempfile

    from .. import repro
    from ..program import Program

    s = session.settings
    for check, j in v.judged.items():
        if j.outcome not in ("fail", "error") and not (known and j.outcome == "xfail"):
            continue
        outcome = j.outcome if j.outcome != "xfail" else v.results[check].outcome
        stage = check
        failures = v.computed.failures if v.computed else {}
        if "partition" in failures or (v.error and check == "offload"):
            stage = "partition"
        path = model_path
        tmp = None
        if path is None:
            fd, tmp = tempfile.mkstemp(suffix=".onnx")
            os.close(fd)
            with open(tmp, "wb") as fh:
                fh.write(model.SerializeToString())
            path = tmp
        try:
            ref = None
            if check == "reference" and v.references is not None and v.references.consensus is not None:
                ref = v.references.consensus.outputs
            prog = Program(source=None, mod=None, inputs=[inputs[n] for n in v.specs], weights={})
            target = "cuda" if "tvm-cuda" in (v.results[check].backend or "") and check == "reference" else "llvm"
            shapes, off = v.specs, v.computed.offload if v.computed else None
            sym = v.computed.symbolic if v.computed else None
            if check == "offload" and off is not None and off.verdict == "match" and sym is not None and \
                    sym.offload is not None:    # only the symbolic module departs: reproduce on it
                shapes, off = {}, sym.offload
            v.reproducers[check] = repro.write(
                s.repro_dir, stem=f"model-{v.name.replace('/', '_')}-{check}", check=stage, outcome=outcome,
                reason=j.reason, program=prog, oracle=ref, tolerance=REFERENCE_TOL if check == "reference" else
                PRESERVE_TOL, expected_offload=({o: n for o, n in off.expected.items() if n} if off else {}),
                target=target, model=path, shapes=shapes)
        except Exception as exc:   # a reproducer that cannot be written must not hide the departure
            v.reproducers[check] = f"(not written: {describe(exc)})"
        finally:
            if tmp:
                os.unlink(tmp)


def model_name(label: str, model) -> str:
    """A file is named by its stem, or by its folder when the stem says nothing (``model.onnx``)."""
    if label.endswith(".onnx") or os.path.sep in label:
        stem = os.path.splitext(os.path.basename(label))[0]
        if stem in ("model", "model_opt", "") and os.path.dirname(os.path.abspath(label)):
            return os.path.basename(os.path.dirname(os.path.abspath(label))) or stem
        return stem
    return model.graph.name or "model"


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except Exception as exc:
        raise InputError(f"onnx is not importable ({type(exc).__name__}: {exc}); install the models extra: "
                         "pip install 'tvm-trt-harness[models]'") from None

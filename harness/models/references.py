"""References for a whole model's outputs, cross-checked before TVM is judged against them.

A *reference* computes the model's outputs on given inputs without TVM:

* ``onnx-reference <version>``: :class:`onnx.reference.ReferenceEvaluator`, NumPy code that
  shares nothing with TVM or ONNX Runtime;
* ``onnxruntime <version>``: ONNX Runtime's CPU execution provider, graph optimisations off;
* the source framework's stored outputs, when the model came from one (``mxnet 1.9.1``).

:func:`run_references` runs the available ones.  A reference that is not installed or that raises
becomes a named one-line ``unavailable``/``failed`` entry, never an exception.  The references
are then compared pairwise; the largest group that agree with each other, when it is a strict
majority, is the *consensus*, and the first of that group the reference TVM is measured against.

:func:`judge` gives TVM's verdict:

* TVM **fails** only when it disagrees with every reference of the consensus group;
* when the references disagree among themselves and no strict majority agrees, the outcome is
  ``inconclusive`` with ``references disagree: A vs B (max abs err ...)``, not a failure of TVM;
* when a majority agrees and one reference is out (``A`` against ``B`` and ``C``), TVM is judged
  against the majority and the disagreement is reported beside the verdict;
* when no majority agrees but the model's own stored outputs are among the references (a source
  framework's, or onnx's test data), they settle it: the consensus is the largest group that
  agrees with them (``ReferenceSet.settled_by`` names them);
* every verdict names the independent references it rests on (``Judgement.rests_on``): those of
  the consensus that TVM agrees with (pass), or the whole consensus (fail).

Known bug worked around: onnx's ``ReferenceEvaluator`` computes ``BatchNormalization`` of
opsets 7–13 in training mode (running statistics blended with the batch's, ``momentum``'s schema
default 0.9 taken as "training").  Every onnx release from 1.15.0 to 1.23.2 has it; the fix,
onnx/onnx#8442 ("fix(reference): handle BatchNormalization opset 9 modes"), is not merged.  When a
probe finds the installed evaluator affected, ``onnx-reference`` runs a one-output
BatchNormalization of those opsets in inference mode (the spec's formula) and its name says so.

Errors are normwise (see :func:`compare_outputs`).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

REFERENCE_TOL = {"rtol": 1e-4, "atol_scale": 1e-4}

from .evaluator_bn import BN_BUG, _bn_inference_op, evaluator_bn_broken  # noqa: F401


def _one_line(exc: BaseException | str, limit: int = 300) -> str:
    from .onnx_io import one_line

    return one_line(exc, limit)


def _failure(exc: BaseException) -> str:
    """``Type: message``; a bare exception (an ``assert``) names where it was raised."""
    from ..errors import describe

    return describe(exc, _one_line(exc) if str(exc).strip() else "")


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

@dataclass
class Reference:
    """One reference's outputs (``status == "ok"``) or why there are none."""

    name: str
    status: str                      # ok | unavailable | failed | not run
    outputs: list[np.ndarray] | None = None
    reason: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    stored: bool = False             # the model's own stored outputs (they settle a disagreement)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.outputs is not None

    def line(self) -> str:
        if self.ok:
            extra = f" [{'; '.join(self.notes)}]" if self.notes else ""
            return f"{self.name}: ok ({self.seconds:.2f} s){extra}"
        return f"{self.name}: {self.status}: {self.reason}"


@dataclass
class Agreement:
    """The comparison of two output lists (``a`` against ``b``)."""

    a: str
    b: str
    agree: bool
    max_abs_err: float
    max_rel_err: float
    reason: str = ""

    def describe(self) -> str:
        return f"{self.a} vs {self.b} (max abs err {self.max_abs_err:.3g}, " \
               f"max rel err {self.max_rel_err:.3g})"


# ---------------------------------------------------------------------------------------------
# The numeric comparison (one function: it becomes harness.compare's comparator)
# ---------------------------------------------------------------------------------------------

def compare_outputs(actual: Sequence[np.ndarray], expected: Sequence[np.ndarray], *,
                    a: str = "actual", b: str = "expected", rtol: float = REFERENCE_TOL["rtol"],
                    atol_scale: float = REFERENCE_TOL["atol_scale"]) -> Agreement:
    """Normwise comparison of two output lists with the harness's one comparator
    (:func:`harness.compare.compare`, ``mode="normwise"``: ``atol`` is scaled by ``max|expected|``,
    so a model with tiny outputs is held to the same relative accuracy; NaN/Inf must agree in
    place; integer and boolean outputs must be equal)."""
    from ..compare import compare
    from ..records import Tolerance

    cmp = compare(actual, expected, Tolerance(atol=atol_scale, rtol=rtol, mode="normwise"))
    return Agreement(a, b, cmp.ok, cmp.max_abs_err, cmp.max_rel_err, "agree" if cmp.ok else cmp.reason)


# ---------------------------------------------------------------------------------------------
# The references
# ---------------------------------------------------------------------------------------------

def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def onnx_reference(model, inputs: Mapping[str, np.ndarray], *, workaround: bool = True) -> Reference:
    """``onnx.reference.ReferenceEvaluator`` (with the BatchNormalization workaround where the
    installed version needs it, unless ``workaround=False``)."""
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator
    except Exception as exc:
        return Reference("onnx-reference", "unavailable", reason=f"import onnx.reference failed: "
                                                                f"{_one_line(exc)}")
    name = f"onnx-reference {onnx.__version__}"
    notes: list[str] = []
    new_ops = None
    opset = _opset(model)
    if workaround and 7 <= opset <= 13 and any(n.op_type == "BatchNormalization" and n.domain in ("", "ai.onnx")
                                               for n in model.graph.node) and evaluator_bn_broken(opset):
        new_ops = [_bn_inference_op()]
        name += " (BatchNormalization fixed)"
        notes.append("BatchNormalization run in inference mode: " + BN_BUG)
    t0 = time.perf_counter()
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sess = ReferenceEvaluator(model, new_ops=new_ops)
            outs = sess.run(None, dict(inputs))
    except Exception as exc:
        return Reference(name, "failed", reason=_failure(exc),
                         seconds=time.perf_counter() - t0, notes=notes)
    return Reference(name, "ok", [np.asarray(o) for o in outs], seconds=time.perf_counter() - t0,
                     notes=notes)


onnx_reference.reference_name = "onnx-reference"  # type: ignore[attr-defined]


def onnxruntime_reference(model, inputs: Mapping[str, np.ndarray]) -> Reference:
    """ONNX Runtime, CPU execution provider, graph optimisations disabled."""
    try:
        import onnxruntime as ort
    except Exception as exc:
        return Reference("onnxruntime", "unavailable",
                         reason=f"onnxruntime is not installed ({type(exc).__name__}: "
                                f"{_one_line(exc)}); pip install 'onnxruntime>=1.17'")
    name = f"onnxruntime {ort.__version__}"
    t0 = time.perf_counter()
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        outs = sess.run(None, dict(inputs))
    except Exception as exc:
        return Reference(name, "failed", reason=_failure(exc),
                         seconds=time.perf_counter() - t0)
    return Reference(name, "ok", [np.asarray(o) for o in outs], seconds=time.perf_counter() - t0)


onnxruntime_reference.reference_name = "onnxruntime"  # type: ignore[attr-defined]


def stored_reference(name: str, outputs: Sequence[np.ndarray] | None, reason: str = "") -> Reference:
    """A source framework's (or the model's own) stored outputs (``name`` such as ``"mxnet 1.9.1"``)."""
    if outputs is None:
        return Reference(name, "unavailable", reason=reason or "no stored outputs", stored=True)
    return Reference(name, "ok", [np.asarray(o) for o in outputs], stored=True)


# Cheapest first: ONNX Runtime takes well under a second on ResNet-18, onnx's evaluator (NumPy, one
# node at a time) several seconds; the evaluator runs when fewer than ``enough`` references agree.
DEFAULT_RUNNERS: tuple[Callable[..., Reference], ...] = (onnxruntime_reference, onnx_reference)


# ---------------------------------------------------------------------------------------------
# Running them and finding the consensus
# ---------------------------------------------------------------------------------------------

@dataclass
class ReferenceSet:
    """The references of one model on one set of inputs."""

    references: list[Reference]
    comparisons: list[Agreement]
    group: list[str]                 # the consensus group (names), [] when there is none
    consensus: Reference | None
    settled_by: str | None = None    # the stored outputs that settled a disagreement without a majority

    @property
    def available(self) -> list[Reference]:
        return [r for r in self.references if r.ok]

    @property
    def agree(self) -> bool:
        """At least one reference ran and every pair of those that ran agrees."""
        return bool(self.available) and all(c.agree for c in self.comparisons)

    @property
    def disagreement(self) -> str | None:
        """``references disagree: A vs B (max abs err ...)`` for each disagreeing pair, or None."""
        bad = [c for c in self.comparisons if not c.agree]
        if not bad:
            return None
        return "references disagree: " + "; ".join(f"{c.describe()}: {c.reason}" for c in bad)

    def lines(self) -> list[str]:
        out = [r.line() for r in self.references]
        if self.disagreement:
            out.append(self.disagreement)
        if self.consensus is not None:
            out.append(f"consensus: {', '.join(self.group)}" +
                       (f" (settled by the stored outputs of {self.settled_by})" if self.settled_by else ""))
        return out


def _runner_name(fn) -> str:
    return getattr(fn, "reference_name", None) or getattr(fn, "name", None) or \
        getattr(fn, "__name__", None) or type(fn).__name__


def _agreeing(refs: list[Reference], rtol: float, atol_scale: float) -> list[str]:
    """Names of the references that ran, when every pair of them agrees; [] otherwise."""
    ok = [r for r in refs if r.ok]
    if all(compare_outputs(x.outputs, y.outputs, rtol=rtol, atol_scale=atol_scale).agree
           for x, y in itertools.combinations(ok, 2)):
        return [r.name for r in ok]
    return []


def run_references(model, inputs: Mapping[str, np.ndarray], *,
                   runners: Sequence[Callable[..., Reference]] | None = None,
                   source: Reference | tuple[str, Sequence[np.ndarray]] | None = None,
                   enough: int | None = 2,
                   rtol: float = REFERENCE_TOL["rtol"],
                   atol_scale: float = REFERENCE_TOL["atol_scale"]) -> ReferenceSet:
    """The ``source`` framework's stored outputs (``(name, outputs)`` or a :class:`Reference`),
    then ``runners`` (default: onnxruntime, onnx-reference) in order on ``inputs``; every pair is
    compared and the consensus found.  Once ``enough`` references agree with each other (None:
    run them all), the remaining runners are listed as ``not run`` with that reason.  Never raises
    for a reference's failure: a runner that raises becomes a ``failed`` entry named after it."""
    refs: list[Reference] = []
    if source is not None:
        refs.append(source if isinstance(source, Reference) else stored_reference(*source))
    for fn in (DEFAULT_RUNNERS if runners is None else runners):
        agreeing = _agreeing(refs, rtol, atol_scale) if enough else []
        if enough and len(agreeing) >= enough:
            refs.append(Reference(_runner_name(fn), "not run",
                                  reason=f"not needed: {' and '.join(agreeing)} already agree"))
            continue
        t0 = time.perf_counter()
        try:
            r = fn(model, inputs)
            if not isinstance(r, Reference):
                r = Reference(_runner_name(fn), "ok", [np.asarray(o) for o in r])
        except Exception as exc:
            r = Reference(_runner_name(fn), "failed", reason=_failure(exc))
        r.seconds = r.seconds or (time.perf_counter() - t0)
        refs.append(r)
    ok = [r for r in refs if r.ok]
    comps: dict[tuple[str, str], Agreement] = {}
    for x, y in itertools.combinations(ok, 2):
        comps[(x.name, y.name)] = compare_outputs(x.outputs, y.outputs, a=x.name, b=y.name,
                                                  rtol=rtol, atol_scale=atol_scale)
    group: list[Reference] = []
    for size in range(len(ok), 0, -1):
        cliques = [c for c in itertools.combinations(ok, size)
                   if all(comps[(p.name, q.name)].agree for p, q in itertools.combinations(c, 2))]
        if cliques:
            # A consensus needs a unique largest group that is a strict majority (one reference
            # alone is its own consensus; two that disagree have none).
            if len(cliques) == 1 and (size * 2 > len(ok)):
                group = list(cliques[0])
            break
    settled = None
    stored = next((r for r in ok if r.stored), None)
    if not group and stored is not None:
        # No majority, but the model's own stored outputs exist: they settle it, with the
        # references that agree with them (the largest such group; the stored outputs first).
        for size in range(len(ok), 0, -1):
            cliques = [c for c in itertools.combinations(ok, size) if stored in c and
                       all(comps[(p.name, q.name)].agree for p, q in itertools.combinations(c, 2))]
            if cliques:
                group, settled = list(cliques[0]), stored.name
                break
    return ReferenceSet(refs, list(comps.values()), [r.name for r in group],
                        group[0] if group else None, settled)


# ---------------------------------------------------------------------------------------------
# The verdict on TVM
# ---------------------------------------------------------------------------------------------

@dataclass
class Judgement:
    """TVM's outputs against the references: pass | fail | inconclusive | skip."""

    outcome: str
    reason: str
    against: str | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    versus: list[Agreement] = field(default_factory=list)
    rests_on: list[str] = field(default_factory=list)   # the independent references the verdict rests on


def judge(actual: Sequence[np.ndarray], refs: ReferenceSet, *, name: str = "tvm",
          rtol: float = REFERENCE_TOL["rtol"],
          atol_scale: float = REFERENCE_TOL["atol_scale"]) -> Judgement:
    """TVM (``name``) fails only when it disagrees with every reference of the consensus group;
    references that disagree with no majority make the outcome ``inconclusive``."""
    ok = refs.available
    if not ok:
        why = "; ".join(r.line() for r in refs.references) or "no reference was run"
        return Judgement("skip", f"no reference available: {why}")
    versus = [compare_outputs(actual, r.outputs, a=name, b=r.name, rtol=rtol, atol_scale=atol_scale)
              for r in ok]
    by = {v.b: v for v in versus}
    agrees_with = [v.b for v in versus if v.agree]
    note = f"; {refs.disagreement}" if refs.disagreement else ""
    if refs.consensus is None:
        side = f"{name} agrees with {', '.join(agrees_with)}" if agrees_with else \
            f"{name} agrees with none of them"
        best = min(versus, key=lambda v: v.max_abs_err)
        return Judgement("inconclusive", f"{refs.disagreement}; {side}; not blamed on {name}",
                         against=None, max_abs_err=best.max_abs_err, max_rel_err=best.max_rel_err,
                         versus=versus)
    first = by[refs.consensus.name]
    in_group = [by[g] for g in refs.group]
    if any(v.agree for v in in_group):
        which = [v.b for v in in_group if v.agree]
        return Judgement("pass", f"{name} agrees with {', '.join(which)}{note}",
                         against=refs.consensus.name, max_abs_err=first.max_abs_err,
                         max_rel_err=first.max_rel_err, versus=versus, rests_on=which)
    also = [v.b for v in versus if v.agree]
    tail = f" (it agrees only with {', '.join(also)}, which the others outvote)" if also else ""
    return Judgement("fail", f"{name} disagrees with every reference that agrees with the others: "
                     + "; ".join(f"{v.b}: {v.reason}" for v in in_group) + tail + note,
                     against=refs.consensus.name, max_abs_err=first.max_abs_err,
                     max_rel_err=first.max_rel_err, versus=versus, rests_on=list(refs.group))

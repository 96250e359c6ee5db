"""Offload judged on the symbolic module: where a model declares dynamic dimensions (``N``) and
TVM's ONNX frontend keeps them symbolic, ``trt-harness check`` partitions that module too, since
a user who deploys the dynamic model gets its partition, not the one of the fixed shapes the
other checks run on.  The rules (:func:`harness.rules.decide`) judge each call as for a fixed
module (a tensor whose shape is not known is rule ``dynamic-shape``); the departures join the
offload check's, each reason prefixed with ``on the symbolic module (N kept symbolic)``.

:func:`symbolic_offload` runs in the worker; :func:`merge` in the parent."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Symbolic:
    """What the worker found: the dimensions TVM kept symbolic and the offload on that module."""

    kept: list[str] = field(default_factory=list)
    offload: object | None = None          # records.Offload
    failure: str | None = None             # TVM could not import or partition the symbolic module


def _symbolic_dims(mod) -> list[str]:
    from ..tvmcompat import type_of

    names: list[str] = []
    for p in mod["main"].params:
        ty = type_of(p)
        for d in (getattr(getattr(ty, "shape", None), "values", None) or ()):
            if not hasattr(d, "value") and str(d) not in names:
                names.append(str(d))
    return names


def symbolic_offload(model, specs: dict, *, trt_version, implicit_batch: bool) -> Symbolic:
    """Import ``model`` with its declared (dynamic) shapes, partition it, compare with the rules."""
    import warnings

    from tvm.relax.frontend.onnx import from_onnx

    from .. import program
    from ..builds import one_line
    from ..offload import compare_offload

    out = Symbolic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = from_onnx(model, dtype_dict={k: v[1] for k, v in specs.items()}, keep_params_in_input=False)
        out.kept = _symbolic_dims(mod)
    except Exception as exc:     # TVM cannot keep the dimensions symbolic: nothing to judge there
        out.failure = f"import: {one_line(exc)}"
        return out
    if not out.kept:
        return out
    try:
        part = program.partition(mod)
    except Exception as exc:     # the partitioner failing on the symbolic module is a finding
        out.failure = f"partition_for_tensorrt: {one_line(exc)}"
        return out
    out.offload = compare_offload(mod, part, trt_version=trt_version, implicit_batch=implicit_batch)
    return out


def merge(off, sym: Symbolic):
    """The offload of the fixed-shape module with the symbolic module's departures added."""
    import msgspec

    from ..records import Departure

    if sym is None or sym.offload is None or sym.offload.verdict == "match" or off is None:
        return off
    tag = f"on the symbolic module ({', '.join(sym.kept)} kept symbolic): "
    over = list(off.over) + [Departure(op=d.op, reason=tag + d.reason, rule=d.rule, count=d.count)
                             for d in sym.offload.over]
    under = list(off.under) + [Departure(op=d.op, reason=tag + d.reason, rule=d.rule, count=d.count)
                               for d in sym.offload.under]
    verdict = "over-offload" if over else "under-offload" if under else "match"
    return msgspec.structs.replace(off, over=over, under=under, verdict=verdict)


def line(sym: Symbolic | None) -> str | None:
    """The line ``check`` prints about the symbolic module, or None when nothing was kept symbolic."""
    if sym is None or (not sym.kept and sym.failure is None):
        return None
    if sym.failure is not None:
        return f"symbolic: TVM could not import or partition the module with its dynamic dimensions: {sym.failure}"
    off = sym.offload
    what = "offload matches the rules" if off.verdict == "match" else "; ".join(
        f"{kind} {d.op} x{d.count}: {d.reason}" for kind, items in (("over-offload", off.over),
                                                                  ("under-offload", off.under)) for d in items)
    return f"symbolic: TVM keeps {', '.join(sym.kept)} symbolic; on that module: {what}"

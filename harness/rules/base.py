"""The parts every rule uses: the :class:`Decision` value, readers of a Relax call, and the
registry of per-op rules (:func:`rule`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..tvmcompat import constant_class, is_tensor, is_tuple, type_of


@dataclass(frozen=True)
class Decision:
    offload: bool
    rule: str
    reason: str
    source: str

    def to_json(self) -> dict:
        return {"offload": self.offload, "rule": self.rule, "reason": self.reason, "source": self.source}


def _yes(reason="supported by the table and the converter rules", source="seed table") -> Decision:
    return Decision(True, "supported", reason, source)


def _no(rule: str, reason: str, source: str) -> Decision:
    return Decision(False, rule, reason, source)


# -- helpers reading a call ------------------------------------------------------------------------
def _ty(expr):
    return type_of(expr)


def _tensor_types(call) -> list:
    """Types of the tensor arguments (tuple arguments such as concat's are expanded)."""
    out = []
    for arg in call.args:
        ty = _ty(arg)
        if is_tensor(ty):
            out.append(ty)
        elif is_tuple(ty):
            out.extend(f for f in ty.fields if is_tensor(f))
    return out


def _out_types(call) -> list:
    ty = _ty(call)
    if is_tensor(ty):
        return [ty]
    if is_tuple(ty):
        return [f for f in ty.fields if is_tensor(f)]
    return []


def _shape(ty) -> list[int] | None:
    if ty is None or ty.shape is None:
        return None
    dims = []
    for d in ty.shape.values:
        if not hasattr(d, "value"):
            return None
        dims.append(int(d.value))
    return dims


def _ints(tup) -> list[int]:
    """The integers of a Tuple argument (strided_slice's axes/begin/end/strides): IntImm fields on
    TVM 0.26+, PrimValue(IntImm) on 0.25."""
    out = []
    for v in tup.fields:
        while not isinstance(v, int):
            v = v.value
        out.append(v)
    return out


def _attr(call, name, default=None):
    attrs = call.attrs
    if attrs is None or not hasattr(attrs, name):
        return default
    return getattr(attrs, name)


def _is_const(expr) -> bool:
    return isinstance(expr, constant_class())


def _norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


# -- per-op rules ------------------------------------------------------------------------------------
Rule = Callable[..., "Decision | None"]
_RULES: dict[str, list[Rule]] = {}


def rule(*ops: str):
    def deco(fn):
        for op in ops:
            _RULES.setdefault(op, []).append(fn)
        return fn
    return deco



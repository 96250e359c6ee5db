"""The base of the families: :class:`Family`, :class:`Sample`, :class:`Domain` and helpers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


def _relax():
    from tvm import relax

    return relax


def relax_op(path: str) -> Callable:
    """'relax.nn.conv2d' -> tvm.relax.op.nn.conv2d."""
    fn: Any = _relax().op
    for part in path.split(".")[1:]:
        fn = getattr(fn, part)
    return fn


@dataclass(frozen=True)
class Sample:
    """One case without its dtype and data seed."""

    shapes: tuple
    attrs: dict = field(default_factory=dict)
    weights: tuple = ()          # (name, shape) of weights bound as constants


@dataclass(frozen=True)
class Domain:
    """Where an input's values are drawn: uniform in [lo, hi] (integers in [3 lo, 3 hi]); ``away``
    moves values away from zero by that much (divisors); ``squash`` maps float values after
    drawing (e.g. to keep products finite), ``int_squash`` integer values (e.g. to keep products
    inside the dtype: an overflow is undefined behaviour in TVM's integer arithmetic, not a
    departure to report)."""

    lo: float = -2.0
    hi: float = 2.0
    away: float | None = None
    squash: Callable | None = None
    int_squash: Callable | None = None

    def draw(self, rng, shape, dtype: str) -> np.ndarray:
        x = uniform(rng, shape, dtype, self.lo, self.hi)
        if self.away is not None:
            x = ((np.sign(x) + (x == 0)) * (np.abs(x) + self.away)).astype(dtype)
        if self.squash is not None and x.dtype.kind == "f":
            x = self.squash(x).astype(dtype)
        if self.int_squash is not None and x.dtype.kind in "iu":
            x = self.int_squash(x).astype(dtype)
        return x


def few_large(x: np.ndarray, keep: int = 11) -> np.ndarray:
    """Integers whose product fits int32 whatever the reduction: the first ``keep`` values (|x| <= 6,
    6**11 < 2**31) as drawn, every other one its sign (-1, 0 or 1)."""
    flat = np.sign(x).reshape(-1)
    flat[:keep] = x.reshape(-1)[:keep]
    return flat.reshape(x.shape)


def uniform(rng, shape, dtype, lo=-2.0, hi=2.0):
    if dtype.startswith("int"):
        return rng.integers(int(math.floor(lo * 3)), int(math.ceil(hi * 3)) + 1, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def f64(x: np.ndarray) -> np.ndarray:
    """Floats computed in float64; integers stay integers (C semantics are applied by the caller)."""
    return x.astype(np.float64) if x.dtype.kind == "f" else x


class Family:
    """How the cases of one kind of operator look and how its op is called (see the module doc)."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def sample(self, draw) -> Sample:
        raise NotImplementedError

    def late(self, draw, sample: Sample) -> Sample:
        """Completes ``sample`` with what is drawn after the dtype (default: nothing)."""
        return sample

    def data(self, entry, case) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        rng = np.random.default_rng(case.seed)
        domains = entry.domain if isinstance(entry.domain, tuple) else (entry.domain,)
        xs = [domains[min(i, len(domains) - 1)].draw(rng, s, case.dtype) for i, s in enumerate(case.shapes)]
        ws = {n: uniform(rng, s, case.dtype, -1.0, 1.0) for n, s in case.weights}
        return xs, ws

    def body(self, entry, case, xs: list, ws: dict):
        return relax_op(entry.tvm_op)(*xs, *ws.values(), **case.attrs)

    def oracle(self, entry, case, xs: list[np.ndarray], ws: dict[str, np.ndarray]):
        return entry.ref(*[f64(x) for x in xs], *[f64(w) for w in ws.values()], **case.attrs)

    def terms(self, entry, case) -> int | None:
        """How many products are summed into one output element, for the rounding its comparison
        allows (:func:`harness.compare.accumulation`); None when the output is not such a sum."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def to_layout(shape_cf: tuple, layout: str, canonical: str) -> tuple:
    """Shape given in ``canonical`` order (e.g. OIHW) rearranged into ``layout`` (e.g. HWIO)."""
    return tuple(shape_cf[canonical.index(ch)] for ch in layout)


def canonical(nsp: int, kind: str) -> str:
    sp = "DHW"[3 - nsp:] if nsp > 1 else "W"
    return {"data": "NC", "kernel": "OI", "tkernel": "IO"}[kind] + sp

"""The one comparator: actual outputs against expected ones, within a tolerance.

Elementwise mode is numpy's ``assert_allclose`` rule, ``|a - e| <= atol + rtol * |e|`` for every
element.  Normwise mode scales ``atol`` by ``max|e|`` of each output, so a model whose outputs are
tiny is held to the same relative accuracy as one whose outputs are large.  In both modes:

* NaN and Inf must agree in place (and infinities in sign);
* integer and boolean outputs must be equal;
* a different number of outputs, shape or kind of dtype (integer vs floating) is a failure;
* an output that is a sum of K products (convolution, dense, matmul) is allowed the rounding of
  that sum, ``acc * max|e|`` with ``acc = accumulation(K, dtype)`` (see there);
* the smallest tolerance that would have passed is reported (``min_tolerance``: the atol needed at
  the given rtol, and the rtol needed at the given atol), as Polygraphy reports max abs/rel diff.

Every caller (op suites, models, fuzz) uses :func:`compare`; the standalone reproducers spell out
the same rule in their own text (see ``harness/repro.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import msgspec
import numpy as np

from .records import Tolerance

__all__ = ["Tolerance", "Comparison", "compare", "accumulation", "for_sum"]

#: Unit roundoff u of each floating dtype: half the gap between 1.0 and the next number.
UNIT_ROUNDOFF = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8, "float32": 2.0 ** -24, "float64": 2.0 ** -53}
#: How many "standard deviations" of rounding error an output may show (lambda below).
ACC_LAMBDA = 2.0


def accumulation(terms: int | None, dtype: str) -> float:
    """The rounding allowed for outputs that are sums of ``terms`` products computed in ``dtype``,
    relative to the output's largest magnitude: ``ACC_LAMBDA * sqrt(terms) * u``.

    A sum of K terms rounded at each step has an error that grows like sqrt(K) * u times the size of
    its partial sums (Higham and Mary, "A new approach to probabilistic rounding error analysis",
    SIAM J. Sci. Comput. 2019); the largest output stands for that size.  A table tolerance fixed
    per dtype cannot hold both a 3x3 conv of 9 terms and a 3-D conv of 13,824: on an H200, TVM's
    CUDA build of the benchmark set's layers was off by 0.08 to 0.96 sqrt(K) * u * max|e|, in
    float32 and float16 alike (1e-4 elementwise failed a 13,824-term conv3d in float32 with an
    error of 3.7e-6 of its largest output).  0 for anything that is not a floating dtype or not a
    sum (``terms`` None or below 2)."""
    u = UNIT_ROUNDOFF.get(str(dtype))
    if u is None or not terms or terms < 2:
        return 0.0
    return ACC_LAMBDA * math.sqrt(terms) * u


def for_sum(tol: Tolerance, terms: int | None, dtype: str) -> Tolerance:
    """``tol`` with the allowance of :func:`accumulation` (unchanged when there is none)."""
    acc = accumulation(terms, dtype)
    if not acc:
        return tol
    return msgspec.structs.replace(tol, acc=acc)


@dataclass
class Comparison:
    ok: bool
    max_abs_err: float
    max_rel_err: float
    tolerance: Tolerance
    min_tolerance: Tolerance | None
    nan_inf_agree: bool
    reason: str = ""
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


def compare(actual: Sequence, expected: Sequence, tol: Tolerance) -> Comparison:
    """Compare two lists of outputs (see the module docstring)."""
    if len(actual) != len(expected):
        return _fail(tol, f"{len(actual)} outputs, expected {len(expected)}")
    max_abs = max_rel = need_atol = need_rtol = 0.0
    agree = True
    problems: list[str] = []
    for i, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        if a.shape != e.shape:
            return _fail(tol, f"output {i}: shape {a.shape}, expected {e.shape}")
        exact_a, exact_e = a.dtype.kind in "biu", e.dtype.kind in "biu"
        if exact_a != exact_e:
            return _fail(tol, f"output {i}: dtype {a.dtype}, expected {e.dtype}")
        if a.size == 0:
            continue
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        if exact_e:
            diff = np.abs(a64 - e64)
            err = float(diff.max())
            max_abs = max(max_abs, err)
            if err:
                max_rel = max(max_rel, float((diff / np.maximum(np.abs(e64), 1.0)).max()))
                need_atol = max(need_atol, err)
                problems.append(f"output {i} ({e.dtype}): {int((diff > 0).sum())}/{e.size} elements differ "
                                f"(max abs error {err:.3g})")
            continue
        fa, fe = np.isfinite(a64), np.isfinite(e64)
        if not (np.array_equal(fa, fe) and np.array_equal(np.isnan(a64), np.isnan(e64))
                and np.array_equal(a64[np.isinf(a64)], e64[np.isinf(e64)])):
            agree = False
            problems.append(f"output {i}: NaN/Inf positions differ ({int(np.isnan(a64).sum())} NaN/"
                            f"{int(np.isinf(a64).sum())} Inf vs {int(np.isnan(e64).sum())}/"
                            f"{int(np.isinf(e64).sum())})")
        both = fa & fe
        if not both.any():
            continue
        diff = np.abs(a64[both] - e64[both])
        mag = np.abs(e64[both])
        top = float(mag.max())
        scale = top if tol.mode == "normwise" else 1.0
        atol = tol.atol * (scale if scale > 0 else 1.0)
        slack = tol.acc * top              # the rounding a long sum is allowed (accumulation())
        err = float(diff.max())
        max_abs = max(max_abs, err)
        if tol.mode == "normwise":
            max_rel = max(max_rel, err / scale if scale > 0 else (0.0 if err == 0 else math.inf))
        else:
            rel = np.where(diff == 0, 0.0, diff / np.maximum(mag, np.finfo(np.float64).tiny))
            max_rel = max(max_rel, float(rel.max()))
        excess = diff - tol.rtol * mag - slack
        needed = float(excess.max(initial=0.0))
        unit = scale if scale > 0 else 1.0
        need_atol = max(need_atol, _up_to(needed / unit, lambda t: not (excess > t * unit).any()))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(diff <= atol + slack, 0.0, (diff - atol - slack) / mag)
            need_rtol = max(need_rtol, _up_to(float(np.max(r)), lambda t: not (diff - t * mag - slack > atol).any()))
        bad = excess > atol
        if bad.any():
            acc = f" + {slack:.3g} for rounding in the sum (acc={tol.acc:.3g})" if slack else ""
            problems.append(f"output {i}: {int(bad.sum())}/{e.size} elements beyond atol={atol:.3g} "
                            f"rtol={tol.rtol:g}{acc} (max abs error {err:.3g}, max rel error {max_rel:.3g})")
    ok = not problems
    reason = "; ".join(problems) if problems else (
        f"within atol={tol.atol:g} rtol={tol.rtol:g}{f' acc={tol.acc:.3g}' if tol.acc else ''}"
        f"{' (normwise)' if tol.mode == 'normwise' else ''}")
    return Comparison(ok, max_abs, max_rel, tol, Tolerance(atol=need_atol, rtol=need_rtol, mode=tol.mode, acc=tol.acc),
                      agree, reason, problems)


def _up_to(value: float, passes) -> float:
    """``value``, raised by the few ulps that rounding in the quotient that gave it may have lost,
    so that the comparison it is reported for does pass with it."""
    while math.isfinite(value) and not passes(value):
        value = float(np.nextafter(value, math.inf))
    return value


def _fail(tol: Tolerance, why: str) -> Comparison:
    return Comparison(False, math.inf, math.inf, tol, None, False, why, [why])

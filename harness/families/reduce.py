"""Reductions: sum, prod, max, min, mean over an axis list or all axes (axis=None)."""
from __future__ import annotations

from hypothesis import strategies as st

from .. import strategies as S
from .base import Family, Sample, f64, relax_op


class Reduce(Family):
    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=5))
        axis = draw(st.one_of(st.none(), S.axis_subset(len(shape))))
        if axis is not None and draw(st.booleans()):
            axis = [a - len(shape) for a in axis]
        return Sample((shape,), {"axis": axis})

    def late(self, draw, sample):
        return Sample(sample.shapes, {**sample.attrs, "keepdims": draw(st.booleans())})

    def body(self, entry, case, xs, ws):
        return relax_op(entry.tvm_op)(xs[0], axis=case.attrs["axis"], keepdims=case.attrs["keepdims"])

    def oracle(self, entry, case, xs, ws):
        ax = case.attrs["axis"]
        return entry.ref(f64(xs[0]), axis=None if ax is None else tuple(ax), keepdims=case.attrs["keepdims"])

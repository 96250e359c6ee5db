"""Shape manipulation: batch_flatten, expand_dims, squeeze, concatenate, transpose,
layout_transform, reshape, pad, split, strided_slice."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from .. import oracle as O
from .. import strategies as S
from .base import Family, Sample, relax_op


class BatchFlatten(Family):
    def sample(self, draw):
        return Sample((draw(S.shapes(min_rank=2, max_rank=5)),))


class ExpandDims(Family):
    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=4))
        out_rank = len(shape) + draw(st.integers(1, 2))
        axes = draw(st.lists(st.integers(0, out_rank - 1), min_size=out_rank - len(shape),
                             max_size=out_rank - len(shape), unique=True))
        if draw(st.booleans()):
            axes = [a - out_rank for a in axes]
        return Sample((shape,), {"axis": axes})


class Squeeze(Family):
    def sample(self, draw):
        shape = list(draw(S.shapes(min_rank=1, max_rank=5, max_side=4)))
        ones = draw(S.axis_subset(len(shape)))
        for a in ones:
            shape[a] = 1
        axis = draw(st.one_of(st.none(), st.just(ones), st.just([a - len(shape) for a in ones])))
        return Sample((tuple(shape),), {"axis": axis})


class Concat(Family):
    """Runtime operands, and sometimes a constant one (first or last): the converter takes only
    runtime tensors (``constant_operand`` is its position among the operands)."""

    def sample(self, draw):
        base = list(draw(S.shapes(min_rank=1, max_rank=4, max_side=4)))
        axis = draw(S.signed_axis(len(base)))
        shapes = []
        for _ in range(draw(st.integers(1, 4))):
            s = list(base)
            s[axis] = draw(st.integers(1, 4))
            shapes.append(tuple(s))
        where = draw(st.sampled_from([None, None, None, 0, len(shapes)]))
        if where is None:
            return Sample(tuple(shapes), {"axis": axis})
        s = list(base)
        s[axis] = draw(st.integers(1, 4))
        return Sample(tuple(shapes), {"axis": axis, "constant_operand": where}, (("constant", tuple(s)),))

    @staticmethod
    def _operands(case, xs, ws):
        ops = list(xs)
        if "constant_operand" in case.attrs:
            ops.insert(case.attrs["constant_operand"], ws["constant"])
        return ops

    def body(self, entry, case, xs, ws):
        from tvm import relax

        return relax_op(entry.tvm_op)(relax.Tuple(self._operands(case, xs, ws)), axis=case.attrs["axis"])

    def oracle(self, entry, case, xs, ws):
        return entry.ref(self._operands(case, xs, ws), axis=case.attrs["axis"])


class Transpose(Family):
    """axes a permutation, sometimes written with negative axes, or None (reverse)."""

    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=5, max_side=4))
        axes = draw(st.one_of(st.none(), st.permutations(list(range(len(shape))))))
        if axes is not None and draw(st.integers(0, 3)) == 0:
            axes = [a - len(shape) for a in axes]
        return Sample((shape,), {"axes": axes})


class LayoutTransform(Family):
    """Permutations (NCHW<->NHWC and friends) and a packing map (NCHW -> NCHW{c}c) that is not a
    permutation (the converter takes only pure permutations: tensorrt_ops.cc LayoutTransform)."""

    def sample(self, draw):
        kind = draw(st.sampled_from(["perm", "perm", "pack"]))
        if kind == "perm":
            shape = draw(S.shapes(min_rank=2, max_rank=5, max_side=4))
            return Sample((shape,), {"perm": draw(st.permutations(list(range(len(shape)))))})
        c_block = draw(st.sampled_from([2, 4]))
        shape = (draw(st.integers(1, 2)), c_block * draw(st.integers(1, 2)), draw(st.integers(1, 4)),
                 draw(st.integers(1, 4)))
        return Sample((shape,), {"pack": c_block})

    def body(self, entry, case, xs, ws):
        from ..tvmcompat import index_map_class

        IndexMap = index_map_class()
        a = case.attrs
        if "perm" in a:
            perm = a["perm"]
            index_map = IndexMap.from_func(lambda *i: [i[p] for p in perm], ndim=len(perm))
        else:
            c = a["pack"]
            index_map = IndexMap.from_func(lambda n, ch, h, w: [n, ch // c, h, w, ch % c], ndim=4)
        return relax_op(entry.tvm_op)(xs[0], index_map=index_map)


class Reshape(Family):
    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=4))
        size = math.prod(shape)
        dims, rest = [], size        # factor the size into a random new shape
        for _ in range(draw(st.integers(0, 3))):
            divisors = [d for d in range(1, rest + 1) if rest % d == 0]
            d = draw(st.sampled_from(divisors))
            dims.append(d)
            rest //= d
        dims.append(rest)
        if draw(st.booleans()):
            dims[draw(st.integers(0, len(dims) - 1))] = -1
        return Sample((shape,), {"newshape": dims})

    def body(self, entry, case, xs, ws):
        return relax_op(entry.tvm_op)(xs[0], case.attrs["newshape"])


class Pad(Family):
    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=5, max_side=4))
        widths = []
        for _ in shape:
            widths += [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
        mode = draw(st.sampled_from(["constant", "constant", "reflect", "edge"]))
        if mode == "reflect":
            for i, s in enumerate(shape):
                assume(widths[2 * i] < s and widths[2 * i + 1] < s)
        value = draw(st.sampled_from([0.0, 1.5])) if mode == "constant" else 0.0
        return Sample((shape,), {"pad_width": widths, "pad_mode": mode, "pad_value": value})

    def body(self, entry, case, xs, ws):
        a = case.attrs
        return relax_op(entry.tvm_op)(xs[0], a["pad_width"], pad_mode=a["pad_mode"], pad_value=a["pad_value"])

    def oracle(self, entry, case, xs, ws):
        return entry.ref(xs[0], **case.attrs)


class Split(Family):
    def sample(self, draw):
        shape = list(draw(S.shapes(min_rank=1, max_rank=4, max_side=6)))
        axis = draw(S.signed_axis(len(shape)))
        if draw(st.booleans()):
            sections = draw(st.integers(1, 3))
            shape[axis] = sections * draw(st.integers(1, 3))
            ios: Any = sections
        else:
            ios = sorted(draw(st.lists(st.integers(1, max(1, shape[axis] - 1)), min_size=1, max_size=3,
                                       unique=True)))
        return Sample((tuple(shape),), {"indices_or_sections": ios, "axis": axis})

    def body(self, entry, case, xs, ws):
        a = case.attrs
        return relax_op(entry.tvm_op)(xs[0], a["indices_or_sections"], axis=a["axis"])

    def oracle(self, entry, case, xs, ws):
        a = case.attrs
        return tuple(entry.ref(xs[0], a["indices_or_sections"], axis=a["axis"]))


class StridedSlice(Family):
    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=6))
        axes = draw(S.axis_subset(len(shape)))
        begin, end, strides = [], [], []
        for a in axes:
            n = shape[a]
            s = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
            begin.append(draw(st.integers(-n, n - 1)))
            end.append(draw(st.integers(-n - 1, n)))
            strides.append(s)
        assume(O.strided_slice(np.empty(shape), axes, begin, end, strides).size > 0)
        return Sample((shape,), {"axes": axes, "begin": begin, "end": end, "strides": strides})

    def body(self, entry, case, xs, ws):
        a = case.attrs
        return relax_op(entry.tvm_op)(xs[0], a["axes"], a["begin"], a["end"], a["strides"])

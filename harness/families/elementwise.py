"""Element-wise operators and activations: unary, binary (broadcasting), bias_add, leaky_relu,
clip, softmax."""
from __future__ import annotations

import math

from hypothesis import strategies as st

from .. import strategies as S
from .base import Family, Sample, f64, relax_op


class Unary(Family):
    """y = ref(x), one input of rank 1-5."""

    def sample(self, draw):
        return Sample((draw(S.shapes(min_rank=1, max_rank=5)),))


class Binary(Family):
    """y = ref(a, b) with NumPy broadcasting between the two runtime inputs."""

    def sample(self, draw):
        return Sample(tuple(draw(S.broadcast_pair())))


class BiasAdd(Family):
    """nn.bias_add: Relax has no bias_add; frontends emit add with the bias reshaped to broadcast
    along ``axis``.  The bias is a constant, as in a real network."""

    def sample(self, draw):
        shape = draw(S.shapes(min_rank=2, max_rank=5))
        axis = draw(st.sampled_from([1, -1, len(shape) - 1]))
        return Sample((shape,), {"axis": axis}, (("bias", (shape[axis],)),))

    @staticmethod
    def _bshape(case):
        shape = case.shapes[0]
        axis = case.attrs["axis"] % len(shape)
        return [shape[axis] if i == axis else 1 for i in range(len(shape))]

    def body(self, entry, case, xs, ws):
        from tvm import relax

        return relax_op(entry.tvm_op)(xs[0], relax.op.reshape(ws["bias"], self._bshape(case)))

    def oracle(self, entry, case, xs, ws):
        return entry.ref(f64(xs[0]), f64(ws["bias"]).reshape(self._bshape(case)))


class LeakyRelu(Family):
    def sample(self, draw):
        return Sample((draw(S.shapes()),))

    def late(self, draw, sample):
        return Sample(sample.shapes, {"alpha": draw(st.sampled_from([0.01, 0.1, 0.2, 0.5, 1.5]))})

    def body(self, entry, case, xs, ws):
        return relax_op(entry.tvm_op)(xs[0], case.attrs["alpha"])


class Clip(Family):
    """clip(x, min, max); integer cases clip to the integers inside [min, max]."""

    def sample(self, draw):
        lo = draw(st.sampled_from([-1.0, 0.0, 0.5, -3.0]))
        hi = lo + draw(st.sampled_from([0.5, 1.0, 6.0]))
        return Sample((), {"min": lo, "max": hi})

    def late(self, draw, sample):
        return Sample((draw(S.shapes()),), sample.attrs)

    @staticmethod
    def _bounds(case):
        a = case.attrs
        if case.dtype.startswith("int"):
            return int(math.ceil(a["min"])), int(math.floor(a["max"]))
        return a["min"], a["max"]

    def body(self, entry, case, xs, ws):
        return relax_op(entry.tvm_op)(xs[0], *self._bounds(case))

    def oracle(self, entry, case, xs, ws):
        lo, hi = self._bounds(case)
        return entry.ref(f64(xs[0]), lo, hi)


class Softmax(Family):
    def sample(self, draw):
        return Sample((draw(S.shapes(min_rank=1, max_rank=4)),))

    def late(self, draw, sample):
        return Sample(sample.shapes, {"axis": draw(S.signed_axis(len(sample.shapes[0])))})

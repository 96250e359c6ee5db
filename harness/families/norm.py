"""Normalisations: layer_norm and batch_norm (inference), with constant weights."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import strategies as S
from .base import Family, Sample, f64, relax_op


class LayerNorm(Family):
    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=6))
        k = draw(st.integers(1, len(shape)))
        axes = list(range(len(shape) - k, len(shape)))
        if draw(st.booleans()):
            axes = [a - len(shape) for a in axes]
        wshape = tuple(shape[a] for a in axes)
        attrs = {"axes": axes, "epsilon": draw(st.sampled_from([1e-5, 1e-3])),
                 "center": draw(st.booleans()), "scale": draw(st.booleans())}
        return Sample((shape,), attrs, (("gamma", wshape), ("beta", wshape)))


class BatchNorm(Family):
    """relax.nn.batch_norm in inference mode (training=False); the program returns output 0."""

    def sample(self, draw):
        shape = draw(S.shapes(min_rank=2, max_rank=5, max_side=5))
        axis = draw(st.sampled_from([1, len(shape) - 1]))
        c = (shape[axis],)
        attrs = {"axis": axis, "epsilon": draw(st.sampled_from([1e-5, 1e-3])),
                 "center": draw(st.booleans()), "scale": draw(st.booleans())}
        return Sample((shape,), attrs, (("gamma", c), ("beta", c), ("mean", c), ("var", c)))

    def data(self, entry, case):
        xs, ws = super().data(entry, case)
        ws["var"] = np.abs(ws["var"]).astype(case.dtype) + np.array(0.5, case.dtype)
        return xs, ws

    def body(self, entry, case, xs, ws):
        from tvm import relax

        bn = relax_op(entry.tvm_op)(xs[0], *ws.values(), **case.attrs, training=False)
        return relax.TupleGetItem(bn, 0)

    def oracle(self, entry, case, xs, ws):
        return entry.ref(f64(xs[0]), *[f64(w) for w in ws.values()], **case.attrs)

"""Operator families: for each kind of operator, a Hypothesis strategy of cases, a builder of the
one-op Relax program, input data, and a NumPy oracle (from :mod:`harness.oracle`).

A family is parameterised by the table entry that uses it; the table (:mod:`harness.table`) is the
only list of operators.  TVM is imported lazily, so the table loads without it.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from . import oracle as O
from . import strategies as S
from .case import Case


def _relax():
    from tvm import relax

    return relax


def _op(path: str) -> Callable:
    """'relax.nn.conv2d' -> tvm.relax.op.nn.conv2d."""
    fn: Any = _relax().op
    for part in path.split(".")[1:]:
        fn = getattr(fn, part)
    return fn


def _np_dtype(dtype: str):
    return np.dtype(dtype)


def _uniform(rng, shape, dtype, lo=-2.0, hi=2.0):
    if dtype.startswith("int"):
        return rng.integers(int(math.floor(lo * 3)), int(math.ceil(hi * 3)) + 1, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


class Family:
    """Base: one runtime input of ``case.shapes[0]``; subclasses override what differs."""

    #: dtype strategy options (overridden per family)
    ints = True
    float64 = True
    domain = (-2.0, 2.0)

    def __init__(self, tvm_op: str, **params: Any) -> None:
        self.tvm_op = tvm_op
        self.params = params

    # -- strategy -------------------------------------------------------------------------
    def dtypes(self):
        return S.dtypes(ints=self.params.get("ints", self.ints), float64=self.float64)

    def strategy(self, name: str):
        raise NotImplementedError

    # -- data, program, oracle ----------------------------------------------------------------
    def data(self, case: Case) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        rng = np.random.default_rng(case.seed)
        lo, hi = self.params.get("domain", self.domain)
        xs = [_uniform(rng, s, case.dtype, lo, hi) for s in case.shapes]
        ws = {n: _uniform(rng, s, case.dtype, -1.0, 1.0) for n, s in case.weights}
        return xs, ws

    def body(self, case: Case, xs: list, ws: dict):
        raise NotImplementedError

    def oracle(self, case: Case, xs: list[np.ndarray], ws: dict[str, np.ndarray]):
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Element-wise
# ---------------------------------------------------------------------------------------------
_UNARY = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": O.sigmoid,
    "tanh": np.tanh,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "negative": np.negative,
    "sin": np.sin,
    "cos": np.cos,
    "atan": np.arctan,
    "ceil": np.ceil,
    "floor": np.floor,
    "erf": O.erf,
}


class Unary(Family):
    """y = f(x).  ``fn`` names the NumPy function; ``domain`` keeps inputs where f is defined."""

    ints = False

    def strategy(self, name):
        return st.builds(
            lambda shape, dtype, seed: Case(name, dtype, (shape,), {}, (), seed),
            S.shapes(min_rank=1, max_rank=5), self.dtypes(), S.seeds(),
        )

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0])

    def oracle(self, case, xs, ws):
        return _UNARY[self.params["fn"]](xs[0].astype(np.float64) if xs[0].dtype.kind == "f" else xs[0])


_BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "power": np.power, "maximum": np.maximum, "minimum": np.minimum,
}


class Binary(Family):
    """y = f(a, b) with NumPy broadcasting between the two runtime inputs."""

    def strategy(self, name):
        return st.builds(
            lambda shapes, dtype, seed: Case(name, dtype, shapes, {}, (), seed),
            S.broadcast_pair(), self.dtypes(), S.seeds(),
        )

    def data(self, case):
        rng = np.random.default_rng(case.seed)
        fn = self.params["fn"]
        a = _uniform(rng, case.shapes[0], case.dtype, *(0.5, 2.0) if fn == "power" else (-2.0, 2.0))
        b = _uniform(rng, case.shapes[1], case.dtype, *(-2.0, 2.0))
        if fn == "divide":   # keep the divisor away from zero
            b = (np.sign(b) + (b == 0)) * (np.abs(b) + 0.5)
            b = b.astype(case.dtype)
        return [a, b], {}

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], xs[1])

    def oracle(self, case, xs, ws):
        a, b = (x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs)
        return _BINARY[self.params["fn"]](a, b)


class BiasAdd(Family):
    """nn.bias_add: Relax has no bias_add; frontends emit add with the bias reshaped to broadcast
    along ``axis``.  The bias is a constant, as in a real network."""

    ints = False

    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=2, max_rank=5))
            axis = draw(st.sampled_from([1, -1, len(shape) - 1]))
            dtype = draw(self.dtypes())
            return Case(name, dtype, (shape,), {"axis": axis}, (("bias", (shape[axis],)),), draw(S.seeds()))
        return gen()

    def _bshape(self, case):
        shape = case.shapes[0]
        axis = case.attrs["axis"] % len(shape)
        return [shape[axis] if i == axis else 1 for i in range(len(shape))]

    def body(self, case, xs, ws):
        relax = _relax()
        return relax.op.add(xs[0], relax.op.reshape(ws["bias"], self._bshape(case)))

    def oracle(self, case, xs, ws):
        return xs[0].astype(np.float64) + ws["bias"].astype(np.float64).reshape(self._bshape(case))


# ---------------------------------------------------------------------------------------------
# Activations and normalisations with attributes
# ---------------------------------------------------------------------------------------------
class LeakyRelu(Family):
    ints = False

    def strategy(self, name):
        return st.builds(
            lambda shape, dtype, alpha, seed: Case(name, dtype, (shape,), {"alpha": alpha}, (), seed),
            S.shapes(), self.dtypes(), st.sampled_from([0.01, 0.1, 0.2, 0.5, 1.5]), S.seeds(),
        )

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], case.attrs["alpha"])

    def oracle(self, case, xs, ws):
        return O.leaky_relu(xs[0], case.attrs["alpha"])


class Clip(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            lo = draw(st.sampled_from([-1.0, 0.0, 0.5, -3.0]))
            hi = lo + draw(st.sampled_from([0.5, 1.0, 6.0]))
            return Case(name, draw(self.dtypes()), (draw(S.shapes()),), {"min": lo, "max": hi}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        a = case.attrs
        if case.dtype.startswith("int"):
            return _op(self.tvm_op)(xs[0], int(math.ceil(a["min"])), int(math.floor(a["max"])))
        return _op(self.tvm_op)(xs[0], a["min"], a["max"])

    def oracle(self, case, xs, ws):
        a = case.attrs
        if case.dtype.startswith("int"):
            return np.clip(xs[0], int(math.ceil(a["min"])), int(math.floor(a["max"])))
        return np.clip(xs[0].astype(np.float64), a["min"], a["max"])


class Softmax(Family):
    ints = False

    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=4))
            return Case(name, draw(self.dtypes()), (shape,), {"axis": draw(S.signed_axis(len(shape)))}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], axis=case.attrs["axis"])

    def oracle(self, case, xs, ws):
        return O.softmax(xs[0], case.attrs["axis"])


class BatchFlatten(Family):
    def strategy(self, name):
        return st.builds(
            lambda shape, dtype, seed: Case(name, dtype, (shape,), {}, (), seed),
            S.shapes(min_rank=2, max_rank=5), self.dtypes(), S.seeds(),
        )

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0])

    def oracle(self, case, xs, ws):
        return xs[0].reshape(xs[0].shape[0], -1)


class LayerNorm(Family):
    ints = False
    float64 = False

    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=6))
            k = draw(st.integers(1, len(shape)))
            axes = list(range(len(shape) - k, len(shape)))
            if draw(st.booleans()):
                axes = [a - len(shape) for a in axes]
            wshape = tuple(shape[a] for a in axes)
            attrs = {"axes": axes, "epsilon": draw(st.sampled_from([1e-5, 1e-3])),
                     "center": draw(st.booleans()), "scale": draw(st.booleans())}
            return Case(name, draw(self.dtypes()), (shape,), attrs,
                        (("gamma", wshape), ("beta", wshape)), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        a = case.attrs
        return _op(self.tvm_op)(xs[0], ws["gamma"], ws["beta"], axes=a["axes"], epsilon=a["epsilon"],
                                center=a["center"], scale=a["scale"])

    def oracle(self, case, xs, ws):
        a = case.attrs
        return O.layer_norm(xs[0], ws["gamma"], ws["beta"], a["axes"], a["epsilon"], a["scale"], a["center"])


class BatchNorm(Family):
    """relax.nn.batch_norm in inference mode (training=False); the program returns output 0."""

    ints = False
    float64 = False

    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=2, max_rank=5, max_side=5))
            axis = draw(st.sampled_from([1, len(shape) - 1]))
            c = (shape[axis],)
            attrs = {"axis": axis, "epsilon": draw(st.sampled_from([1e-5, 1e-3])),
                     "center": draw(st.booleans()), "scale": draw(st.booleans())}
            return Case(name, draw(self.dtypes()), (shape,), attrs,
                        (("gamma", c), ("beta", c), ("mean", c), ("var", c)), draw(S.seeds()))
        return gen()

    def data(self, case):
        xs, ws = super().data(case)
        ws["var"] = np.abs(ws["var"]).astype(case.dtype) + np.array(0.5, case.dtype)
        return xs, ws

    def body(self, case, xs, ws):
        a = case.attrs
        relax = _relax()
        bn = _op(self.tvm_op)(xs[0], ws["gamma"], ws["beta"], ws["mean"], ws["var"], axis=a["axis"],
                              epsilon=a["epsilon"], center=a["center"], scale=a["scale"], training=False)
        return relax.TupleGetItem(bn, 0)

    def oracle(self, case, xs, ws):
        a = case.attrs
        return O.batch_norm(xs[0], ws["gamma"], ws["beta"], ws["mean"], ws["var"], a["axis"], a["epsilon"],
                            a["scale"], a["center"])


# ---------------------------------------------------------------------------------------------
# Convolutions, dense, matmul
# ---------------------------------------------------------------------------------------------
_LAYOUTS = {
    1: (("NCW", "OIW"), ("NWC", "WIO")),
    2: (("NCHW", "OIHW"), ("NHWC", "OHWI"), ("NHWC", "HWIO")),
    3: (("NCDHW", "OIDHW"), ("NDHWC", "DHWIO")),
}
_T_LAYOUTS = {
    2: (("NCHW", "IOHW"), ("NHWC", "IOHW"), ("NCHW", "OIHW")),
    3: (("NCDHW", "IODHW"), ("NDHWC", "IODHW")),
}


def _to_layout(shape_cf: tuple, layout: str, canonical: str) -> tuple:
    """Shape given in ``canonical`` order (e.g. OIHW) rearranged into ``layout`` (e.g. HWIO)."""
    return tuple(shape_cf[canonical.index(ch)] for ch in layout)


def _canonical(nsp: int, kind: str) -> str:
    sp = "DHW"[3 - nsp:] if nsp > 1 else "W"
    return {"data": "NC", "kernel": "OI", "tkernel": "IO"}[kind] + sp


class Conv(Family):
    """conv1d/2d/3d and conv2d/3d_transpose, with layouts, strides, padding, dilation, groups."""

    ints = False

    def strategy(self, name):
        nsp, transpose = self.params["nsp"], self.params.get("transpose", False)

        @st.composite
        def gen(draw):
            sp = draw(S.spatial_params(nsp=nsp, max_kernel=3, max_pad=2))
            groups = draw(st.sampled_from([1, 1, 2, 3]))
            cin = groups * draw(st.integers(1, 2))
            cout = groups * draw(st.integers(1, 2))
            n = draw(st.integers(1, 2))
            min_side = max(d * (k - 1) + 1 for d, k in zip(sp["dilation"], sp["kernel"]))
            sides = draw(st.lists(st.integers(min_side, min_side + 4), min_size=nsp, max_size=nsp))
            layouts = draw(st.sampled_from((_T_LAYOUTS if transpose else _LAYOUTS)[nsp]))
            attrs = {"strides": sp["strides"], "padding": sp["padding"], "dilation": sp["dilation"],
                     "groups": groups, "data_layout": layouts[0], "kernel_layout": layouts[1]}
            dcf = (n, cin, *sides)
            if transpose:
                attrs["output_padding"] = [draw(st.integers(0, max(0, min(s, d) - 1)))
                                           for s, d in zip(sp["strides"], sp["dilation"])]
                before, after = O.split_padding(sp["padding"], nsp)
                # Relax requires the transposed output to be non-empty.
                for i in range(nsp):
                    full = (sides[i] - 1) * sp["strides"][i] + sp["dilation"][i] * (sp["kernel"][i] - 1) + 1
                    assume(full + attrs["output_padding"][i] - before[i] - after[i] > 0)
                wcf = (cin, cout // groups, *sp["kernel"])
                wcanon = _canonical(nsp, "tkernel")
            else:
                before, after = O.split_padding(sp["padding"], nsp)
                for i in range(nsp):
                    assume(sides[i] + before[i] + after[i] >= sp["dilation"][i] * (sp["kernel"][i] - 1) + 1)
                wcf = (cout, cin // groups, *sp["kernel"])
                wcanon = _canonical(nsp, "kernel")
            dshape = _to_layout(dcf, layouts[0], _canonical(nsp, "data"))
            wshape = _to_layout(wcf, layouts[1], wcanon)
            return Case(name, draw(self.dtypes()), (dshape,), attrs, (("weight", wshape),), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        a = dict(case.attrs)
        return _op(self.tvm_op)(xs[0], ws["weight"], **a)

    def oracle(self, case, xs, ws):
        nsp, a = self.params["nsp"], case.attrs
        x, order = O.to_channels_first(xs[0], a["data_layout"])
        klayout = a["kernel_layout"]
        canon = _canonical(nsp, "tkernel" if self.params.get("transpose") else "kernel")
        w = np.transpose(ws["weight"], [klayout.index(ch) for ch in canon])
        if self.params.get("transpose"):
            y = O.conv_transpose(x, w, strides=a["strides"], padding=a["padding"],
                                 output_padding=a["output_padding"], dilation=a["dilation"], groups=a["groups"])
        else:
            y = O.conv(x, w, strides=a["strides"], padding=a["padding"], dilation=a["dilation"], groups=a["groups"])
        return O.from_channels_first(y, order)


class Dense(Family):
    """nn.dense (y = x W^T with a constant weight): in Relax, matmul by the transposed constant."""

    ints = False

    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=3, max_side=8))
            units = draw(st.integers(1, 8))
            return Case(name, draw(self.dtypes()), (shape,), {"units": units},
                        (("weight_t", (shape[-1], units)),), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], ws["weight_t"])

    def oracle(self, case, xs, ws):
        return np.matmul(xs[0].astype(np.float64), ws["weight_t"].astype(np.float64))


class BatchMatmul(Family):
    """nn.batch_matmul: two runtime tensors, batch dims broadcast (Relax matmul)."""

    def strategy(self, name):
        @st.composite
        def gen(draw):
            m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
            batch = draw(st.sampled_from([(), (1,), (2,), (3,), (2, 2)]))
            rhs_batch = draw(st.sampled_from([batch, batch[1:], tuple(1 for _ in batch)]))
            return Case(name, draw(self.dtypes()), ((*batch, m, k), (*rhs_batch, k, n)), {}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], xs[1])

    def oracle(self, case, xs, ws):
        a, b = (x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs)
        return np.matmul(a, b)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
class Pool(Family):
    ints = False
    float64 = False

    def strategy(self, name):
        nsp, kind = self.params["nsp"], self.params["kind"]

        @st.composite
        def gen(draw):
            sp = draw(S.spatial_params(nsp=nsp, max_kernel=3, max_stride=3, max_pad=1))
            layout = draw(st.sampled_from(("NCHW", "NHWC") if nsp == 2 else ("NCDHW", "NDHWC")))
            before, after = O.split_padding(sp["padding"], nsp)
            # Relax requires padding smaller than the window it pads.
            for i in range(nsp):
                assume(before[i] < sp["kernel"][i] and after[i] < sp["kernel"][i])
            min_side = max(d * (k - 1) + 1 for d, k in zip(sp["dilation"], sp["kernel"]))
            sides = draw(st.lists(st.integers(min_side, min_side + 4), min_size=nsp, max_size=nsp))
            cf = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sides)
            attrs = {"pool_size": sp["kernel"], "strides": sp["strides"], "padding": sp["padding"],
                     "dilation": sp["dilation"], "ceil_mode": draw(st.booleans()), "layout": layout}
            if kind == "avg":
                attrs["count_include_pad"] = draw(st.booleans())
            shape = _to_layout(cf, layout, _canonical(nsp, "data"))
            return Case(name, draw(self.dtypes()), (shape,), attrs, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], **case.attrs)

    def oracle(self, case, xs, ws):
        a = case.attrs
        x, order = O.to_channels_first(xs[0], a["layout"])
        y = O.pool(x, self.params["kind"], pool_size=a["pool_size"], strides=a["strides"], padding=a["padding"],
                   dilation=a["dilation"], ceil_mode=a["ceil_mode"],
                   count_include_pad=a.get("count_include_pad", False))
        return O.from_channels_first(y, order)


class AdaptiveAvgPool(Family):
    """adaptive_avg_pool2d; with ``global_=True`` the output is 1x1 (nn.global_avg_pool2d)."""

    ints = False
    float64 = False

    def strategy(self, name):
        @st.composite
        def gen(draw):
            layout = draw(st.sampled_from(("NCHW", "NHWC")))
            h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
            cf = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
            out = [1, 1] if self.params.get("global_") else [draw(st.integers(1, h)), draw(st.integers(1, w))]
            return Case(name, draw(self.dtypes()), (_to_layout(cf, layout, "NCHW"),),
                        {"output_size": out, "layout": layout}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], output_size=case.attrs["output_size"], layout=case.attrs["layout"])

    def oracle(self, case, xs, ws):
        x, order = O.to_channels_first(xs[0], case.attrs["layout"])
        return O.from_channels_first(O.adaptive_avg_pool(x, case.attrs["output_size"]), order)


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------
_REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean}


class Reduce(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=5))
            axis = draw(st.one_of(st.none(), S.axis_subset(len(shape))))
            if axis is not None and draw(st.booleans()):
                axis = [a - len(shape) for a in axis]
            return Case(name, draw(self.dtypes()), (shape,), {"axis": axis, "keepdims": draw(st.booleans())},
                        (), draw(S.seeds()))
        return gen()

    def data(self, case):
        xs, ws = super().data(case)
        if self.params["fn"] == "prod" and xs[0].dtype.kind == "f":  # keep products finite and exact-ish
            xs[0] = (np.sign(xs[0]) * (0.75 + np.abs(xs[0]) / 4)).astype(case.dtype)
        return xs, ws

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], axis=case.attrs["axis"], keepdims=case.attrs["keepdims"])

    def oracle(self, case, xs, ws):
        ax = case.attrs["axis"]
        x = xs[0].astype(np.float64) if xs[0].dtype.kind == "f" else xs[0]
        return _REDUCE[self.params["fn"]](x, axis=None if ax is None else tuple(ax), keepdims=case.attrs["keepdims"])


# ---------------------------------------------------------------------------------------------
# Shape manipulation
# ---------------------------------------------------------------------------------------------
class ExpandDims(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=4))
            out_rank = len(shape) + draw(st.integers(1, 2))
            axes = draw(st.lists(st.integers(0, out_rank - 1), min_size=out_rank - len(shape),
                                 max_size=out_rank - len(shape), unique=True))
            if draw(st.booleans()):
                axes = [a - out_rank for a in axes]
            return Case(name, draw(self.dtypes()), (shape,), {"axis": axes}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], axis=case.attrs["axis"])

    def oracle(self, case, xs, ws):
        return np.expand_dims(xs[0], tuple(case.attrs["axis"]))


class Squeeze(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = list(draw(S.shapes(min_rank=1, max_rank=5, max_side=4)))
            ones = draw(S.axis_subset(len(shape)))
            for a in ones:
                shape[a] = 1
            axis = draw(st.one_of(st.none(), st.just(ones), st.just([a - len(shape) for a in ones])))
            return Case(name, draw(self.dtypes()), (tuple(shape),), {"axis": axis}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], axis=case.attrs["axis"])

    def oracle(self, case, xs, ws):
        ax = case.attrs["axis"]
        return np.squeeze(xs[0], axis=None if ax is None else tuple(ax))


class Concat(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            base = list(draw(S.shapes(min_rank=1, max_rank=4, max_side=4)))
            axis = draw(S.signed_axis(len(base)))
            shapes = []
            for _ in range(draw(st.integers(1, 4))):
                s = list(base)
                s[axis] = draw(st.integers(1, 4))
                shapes.append(tuple(s))
            return Case(name, draw(self.dtypes()), tuple(shapes), {"axis": axis}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(_relax().Tuple(xs), axis=case.attrs["axis"])

    def oracle(self, case, xs, ws):
        return np.concatenate(xs, axis=case.attrs["axis"])


class Transpose(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=5, max_side=4))
            axes = draw(st.one_of(st.none(), st.permutations(list(range(len(shape))))))
            return Case(name, draw(self.dtypes()), (shape,), {"axes": axes}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], axes=case.attrs["axes"])

    def oracle(self, case, xs, ws):
        return np.transpose(xs[0], case.attrs["axes"])


class LayoutTransform(Family):
    """Permutations (NCHW<->NHWC and friends) and a packing map (NCHW -> NCHW{c}c) that is not a
    permutation (the converter takes only pure permutations: tensorrt_ops.cc LayoutTransform)."""

    def strategy(self, name):
        @st.composite
        def gen(draw):
            kind = draw(st.sampled_from(["perm", "perm", "pack"]))
            if kind == "perm":
                shape = draw(S.shapes(min_rank=2, max_rank=5, max_side=4))
                perm = draw(st.permutations(list(range(len(shape)))))
                attrs = {"perm": perm}
            else:
                c_block = draw(st.sampled_from([2, 4]))
                shape = (draw(st.integers(1, 2)), c_block * draw(st.integers(1, 2)), draw(st.integers(1, 4)),
                         draw(st.integers(1, 4)))
                attrs = {"pack": c_block}
            return Case(name, draw(self.dtypes()), (shape,), attrs, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        from .tvmcompat import index_map_class

        IndexMap = index_map_class()
        a = case.attrs
        if "perm" in a:
            perm = a["perm"]
            index_map = IndexMap.from_func(lambda *i: [i[p] for p in perm], ndim=len(perm))
        else:
            c = a["pack"]
            index_map = IndexMap.from_func(lambda n, ch, h, w: [n, ch // c, h, w, ch % c], ndim=4)
        return _op(self.tvm_op)(xs[0], index_map=index_map)

    def oracle(self, case, xs, ws):
        a = case.attrs
        if "perm" in a:
            return np.transpose(xs[0], a["perm"])
        n, ch, h, w = xs[0].shape
        c = a["pack"]
        return xs[0].reshape(n, ch // c, c, h, w).transpose(0, 1, 3, 4, 2)


class Reshape(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=4))
            size = math.prod(shape)
            # factor the size into a random new shape
            dims, rest = [], size
            for _ in range(draw(st.integers(0, 3))):
                divisors = [d for d in range(1, rest + 1) if rest % d == 0]
                d = draw(st.sampled_from(divisors))
                dims.append(d)
                rest //= d
            dims.append(rest)
            if draw(st.booleans()):
                dims[draw(st.integers(0, len(dims) - 1))] = -1
            return Case(name, draw(self.dtypes()), (shape,), {"newshape": dims}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        return _op(self.tvm_op)(xs[0], case.attrs["newshape"])

    def oracle(self, case, xs, ws):
        return xs[0].reshape(case.attrs["newshape"])


class Pad(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=5, max_side=4))
            widths = []
            for _ in shape:
                widths += [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
            mode = draw(st.sampled_from(["constant", "constant", "reflect", "edge"]))
            if mode == "reflect":
                for i, s in enumerate(shape):
                    assume(widths[2 * i] < s and widths[2 * i + 1] < s)
            value = draw(st.sampled_from([0.0, 1.5])) if mode == "constant" else 0.0
            return Case(name, draw(self.dtypes()), (shape,), {"pad_width": widths, "pad_mode": mode,
                                                              "pad_value": value}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        a = case.attrs
        return _op(self.tvm_op)(xs[0], a["pad_width"], pad_mode=a["pad_mode"], pad_value=a["pad_value"])

    def oracle(self, case, xs, ws):
        a = case.attrs
        w = list(zip(a["pad_width"][0::2], a["pad_width"][1::2]))
        if a["pad_mode"] == "constant":
            return np.pad(xs[0], w, mode="constant", constant_values=np.array(a["pad_value"]).astype(xs[0].dtype))
        return np.pad(xs[0], w, mode=a["pad_mode"])


class Split(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = list(draw(S.shapes(min_rank=1, max_rank=4, max_side=6)))
            axis = draw(S.signed_axis(len(shape)))
            if draw(st.booleans()):
                sections = draw(st.integers(1, 3))
                shape[axis] = sections * draw(st.integers(1, 3))
                ios: Any = sections
            else:
                ios = sorted(draw(st.lists(st.integers(1, max(1, shape[axis] - 1)), min_size=1, max_size=3,
                                           unique=True)))
            return Case(name, draw(self.dtypes()), (tuple(shape),), {"indices_or_sections": ios, "axis": axis},
                        (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        a = case.attrs
        return _op(self.tvm_op)(xs[0], a["indices_or_sections"], axis=a["axis"])

    def oracle(self, case, xs, ws):
        a = case.attrs
        return tuple(np.split(xs[0], a["indices_or_sections"], axis=a["axis"]))


class StridedSlice(Family):
    def strategy(self, name):
        @st.composite
        def gen(draw):
            shape = draw(S.shapes(min_rank=1, max_rank=4, max_side=6))
            axes = draw(S.axis_subset(len(shape)))
            begin, end, strides = [], [], []
            for a in axes:
                n = shape[a]
                s = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
                b = draw(st.integers(-n, n - 1))
                e = draw(st.integers(-n - 1, n))
                begin.append(b)
                end.append(e)
                strides.append(s)
            assume(O.strided_slice(np.empty(shape), axes, begin, end, strides).size > 0)
            return Case(name, draw(self.dtypes()), (shape,), {"axes": axes, "begin": begin, "end": end,
                                                              "strides": strides}, (), draw(S.seeds()))
        return gen()

    def body(self, case, xs, ws):
        a = case.attrs
        return _op(self.tvm_op)(xs[0], a["axes"], a["begin"], a["end"], a["strides"])

    def oracle(self, case, xs, ws):
        a = case.attrs
        return O.strided_slice(xs[0], a["axes"], a["begin"], a["end"], a["strides"])

"""Generated inputs that respect each op's domain, for ``trt-harness check MODEL.onnx``.

:func:`generate_inputs` walks the graph from each input to its consumers (through ops that pass
values on unchanged) and draws seeded data that each consumer can take: non-zero divisors,
valid indices, positive values for Log/Sqrt/Pow bases, shape inputs that give the shape the model
declares, and so on (the full list is in the function's docstring).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InputError
from .onnx_io import SUPPORTED_DTYPES, Shape, Spec
from .shape_params import Params


# ---------------------------------------------------------------------------------------------
# Generated inputs that respect each op's domain
# ---------------------------------------------------------------------------------------------

# Ops whose listed inputs pass values through unchanged (a subset, a permutation or a copy):
# a constraint found past them holds for the input before them.  ``None``: every input.
_PASS = {
    "Identity": (0,), "Cast": (0,), "CastLike": (0,), "Reshape": (0,), "Flatten": (0,),
    "Squeeze": (0,), "Unsqueeze": (0,), "Transpose": (0,), "Expand": (0,), "Tile": (0,),
    "Concat": None, "Slice": (0,), "Gather": (0,), "GatherElements": (0,), "GatherND": (0,),
    "Split": (0,), "Dropout": (0,), "DepthToSpace": (0,), "SpaceToDepth": (0,),
    "ReduceMax": (0,), "ReduceMin": (0,), "Max": None, "Min": None, "Compress": (0,),
}
# Ops (input slots) where any value is fine: integers there can be negative.
_VALUE_OPS = {
    "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Sum", "Mean", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "Sign", "MatMul", "MatMulInteger", "Gemm", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor", "BitwiseNot", "Where", "Clip", "ReduceSum", "ReduceMean",
    "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "CumSum", "ArgMax", "ArgMin",
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Erf", "Softmax", "LogSoftmax", "Round",
    "Floor", "Ceil", "IsNaN", "IsInf", "Pow", "Einsum", "Det", "Conv", "ConvInteger",
    "QLinearMatMul", "DequantizeLinear", "QuantizeLinear", "Trilu", "Hardmax", "Shrink",
}
_AXIS_DEFAULT = {"Gather": 0, "GatherElements": 0, "ScatterElements": 0, "Scatter": 0,
                 "TopK": -1, "Split": 0, "OneHot": -1}


@dataclass(frozen=True)
class _Need:
    kind: str          # positive | nonzero | ge_one | open_unit | unit | small | index | param
    high: int = 0      # index: exclusive upper bound (0: unknown -> indices 0)
    negative: bool = False   # index: negative indices are allowed
    node: int = -1     # param: the node, slot and op that need exact values
    slot: int = -1


class _Context:
    """Shapes and small constant values of the graph's tensors, and who consumes what."""

    def __init__(self, model, specs: Mapping[str, Spec], given: Mapping[str, np.ndarray]):
        from onnx import numpy_helper

        self.model = model
        self.nodes = list(model.graph.node)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consumers: dict[str, list[tuple[int, int]]] = {}
        for i, n in enumerate(self.nodes):
            for j, name in enumerate(n.input):
                if name:
                    self.consumers.setdefault(name, []).append((i, j))
        self.values: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        for t in model.graph.initializer:
            self.shapes[t.name] = tuple(int(d) for d in t.dims)
            if int(np.prod(t.dims or [1])) <= 64:
                try:
                    self.values[t.name] = numpy_helper.to_array(t)
                except Exception:
                    pass
        for n in self.nodes:
            if n.op_type == "Constant" and n.output:
                for a in n.attribute:
                    if a.name == "value":
                        try:
                            v = numpy_helper.to_array(a.t)
                        except Exception:
                            continue
                        self.values[n.output[0]] = v
                        self.shapes[n.output[0]] = tuple(v.shape)
        # Output shapes the model declares (all dimensions fixed): what a shape input should make.
        self.declared: dict[str, tuple[int, ...]] = {}
        for v in list(model.graph.output) + list(model.graph.value_info):
            tt = v.type.tensor_type if v.type.HasField("tensor_type") else None
            if tt is not None and tt.HasField("shape") and \
                    all(d.HasField("dim_value") for d in tt.shape.dim):
                self.declared[v.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
        for name, arr in given.items():
            self.shapes[name] = tuple(np.shape(arr))
        for name, (shape, _) in specs.items():
            self.shapes[name] = tuple(shape)
        self._infer(specs, given)

    def _infer(self, specs, given) -> None:
        """Shapes of intermediate tensors from ONNX shape inference on concrete input shapes."""
        import onnx

        try:
            m = onnx.ModelProto()
            m.CopyFrom(self.model)
            fixed = {**{k: tuple(np.shape(v)) for k, v in given.items()},
                     **{k: tuple(s) for k, (s, _) in specs.items()}}
            for vi in m.graph.input:
                if vi.name in fixed and vi.type.HasField("tensor_type"):
                    shp = vi.type.tensor_type.shape
                    shp.Clear()
                    for d in fixed[vi.name]:
                        shp.dim.add().dim_value = int(d)
            if m.ir_version > onnx.IR_VERSION:
                m.ir_version = onnx.IR_VERSION
            inferred = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False,
                                                         data_prop=True)
        except Exception:
            return
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
            if tt is None or not tt.HasField("shape") or vi.name in self.shapes:
                continue
            self.shapes[vi.name] = tuple(int(d.dim_value) if d.HasField("dim_value") else None
                                         for d in tt.shape.dim)

    def attr(self, node, name: str, default=None):
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def dim(self, tensor: str, axis: int) -> int | None:
        shape = self.shapes.get(tensor)
        if shape is None or not shape:
            return None
        if axis < 0:
            axis += len(shape)
        if not 0 <= axis < len(shape):
            return None
        return shape[axis]

    def rank(self, tensor: str) -> int | None:
        shape = self.shapes.get(tensor)
        return None if shape is None else len(shape)

    def uses(self, name: str) -> list[tuple[int, int]]:
        """(node, slot) pairs that consume ``name``, looking through value-preserving ops."""
        seen, todo, out = {name}, [name], []
        while todo:
            t = todo.pop()
            for i, j in self.consumers.get(t, ()):
                node = self.nodes[i]
                out.append((i, j))
                passes = _PASS.get(node.op_type, ())
                if node.domain in ("", "ai.onnx") and (passes is None or j in passes):
                    for o in node.output:
                        if o and o not in seen:
                            seen.add(o)
                            todo.append(o)
        return out


def _need(ctx: _Context, i: int, j: int, dtype: np.dtype) -> _Need | None:
    """What input slot ``j`` of node ``i`` needs of the values it receives."""
    node = ctx.nodes[i]
    if node.domain not in ("", "ai.onnx"):
        return None
    op = node.op_type
    if (op in ("Div", "Mod") and j == 1) or (op == "Reciprocal" and j == 0):
        return _Need("nonzero")
    if (op in ("Log", "Sqrt", "ReduceLogSum") and j == 0) or (op == "Pow" and j == 0) or \
            (op == "BatchNormalization" and j == 4) or (op == "Loop" and j == 0):
        return _Need("positive")
    if (op in ("BlackmanWindow", "HannWindow", "HammingWindow") and j == 0) or \
            (op == "Loop" and j == 1):
        return _Need("param", node=i, slot=j)
    if op == "Pow" and j == 1 and dtype.kind in "iu":
        return _Need("small")          # integer powers must be non-negative
    if op == "Acosh" and j == 0:
        return _Need("ge_one")
    if op == "Atanh" and j == 0:
        return _Need("open_unit")
    if (op == "Bernoulli" and j == 0) or (op == "NonMaxSuppression" and j in (3, 4)):
        return _Need("unit")
    if op == "BitShift" and j == 1:
        return _Need("small")
    if op == "NonMaxSuppression" and j == 2:
        return _Need("small")
    if op in ("Gather", "GatherElements", "ScatterElements", "Scatter") and j == 1:
        axis = int(ctx.attr(node, "axis", 0))
        high = ctx.dim(node.input[0], axis) or 0
        neg = op in ("Gather", "GatherElements") and ctx.opset >= 11
        if op in ("ScatterElements", "Scatter"):
            return _Need("param", node=i, slot=j)   # unique along the axis
        return _Need("index", high=high, negative=neg)
    if op in ("GatherND", "ScatterND") and j == 1:
        return _Need("param", node=i, slot=j)
    if op == "RoiAlign" and j == 2:
        return _Need("index", high=ctx.dim(node.input[0], 0) or 0)
    if op == "OneHot" and j == 0:
        depth = ctx.values.get(node.input[1]) if len(node.input) > 1 else None
        high = int(np.asarray(depth).reshape(-1)[0]) if depth is not None and np.size(depth) else 4
        return _Need("index", high=max(high, 0))
    if op == "OneHot" and j == 1:
        return _Need("param", node=i, slot=j)
    if (op == "Slice" and 1 <= j <= 4) or (op in ("Reshape", "Expand", "Tile", "TopK",
                                                   "ConstantOfShape", "Split", "SplitToSequence") and j == 1) \
            or (op == "ConstantOfShape" and j == 0) or (op == "Range") \
            or (op == "Pad" and j in (1, 3)) or (op == "Resize" and j in (2, 3)) \
            or (op == "Resize" and j == 1 and ctx.opset < 11) \
            or (op == "Upsample" and j == 1) or (op in ("Squeeze", "Unsqueeze") and j == 1) \
            or (op.startswith("Reduce") and j == 1) or (op == "CumSum" and j == 1):
        return _Need("param", node=i, slot=j)
    return None


def _default(rng, shape: Shape, dt: np.dtype, *, signed_ok: bool) -> np.ndarray:
    if dt.kind == "f":
        return rng.uniform(-1.0, 1.0, shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "i" and signed_ok:
        return rng.integers(-4, 5, shape).astype(dt)
    return rng.integers(0, 4, shape).astype(dt)


def _draw(rng, shape: Shape, dt: np.dtype, need: _Need) -> np.ndarray:
    k = need.kind
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "f":
        if k in ("positive", "ge_one"):
            return rng.uniform(1.0, 3.0, shape).astype(dt)
        if k == "nonzero":
            return (rng.choice([-1.0, 1.0], shape) * rng.uniform(1.0, 3.0, shape)).astype(dt)
        if k == "open_unit":
            return rng.uniform(-0.9, 0.9, shape).astype(dt)
        if k == "unit":
            return rng.uniform(0.0, 1.0, shape).astype(dt)
        if k == "small":
            return rng.integers(0, 4, shape).astype(dt)
        if k == "index":
            return rng.integers(0, max(need.high, 1), shape).astype(dt)
        return rng.uniform(-1.0, 1.0, shape).astype(dt)
    # integers
    if k in ("positive", "ge_one"):
        return rng.integers(1, 5, shape).astype(dt)
    if k == "nonzero":
        if dt.kind == "u":
            return rng.integers(1, 5, shape).astype(dt)
        return (rng.choice([-1, 1], shape) * rng.integers(1, 5, shape)).astype(dt)
    if k in ("small", "unit"):
        return rng.integers(0, 4 if k == "small" else 2, shape).astype(dt)
    if k == "index":
        if need.high <= 0:
            return np.zeros(shape, dt)
        low = -need.high if (need.negative and dt.kind == "i") else 0
        return rng.integers(low, need.high, shape).astype(dt)
    return rng.integers(-4, 5, shape).astype(dt) if dt.kind == "i" else \
        rng.integers(0, 5, shape).astype(dt)


_RANK = {"param": 0, "index": 1, "ge_one": 2, "positive": 3, "nonzero": 4, "open_unit": 5,
         "unit": 6, "small": 7}


def generate_inputs(model, specs: Mapping[str, Spec], *, seed: int,
                    given: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Seeded data for the inputs in ``specs`` (``{name: (shape, dtype)}``), inside each op's
    domain.

    Each input's consumers are found by walking the graph from it, through ops that pass values
    on unchanged (Identity, Cast, CastLike, Reshape, Flatten, (Un)Squeeze, Transpose, Expand,
    Tile, Concat, Slice, Gather*, Split, Dropout, DepthToSpace, SpaceToDepth, ReduceMax/Min,
    Max, Min, Compress).  The domains handled:

    * **non-zero**: divisors of Div and Mod (integer and float), Reciprocal's input:
      ``±[1, 3)`` for floats, ``±{1..4}`` for integers (``{1..4}`` unsigned);
    * **positive**: Log, Sqrt, ReduceLogSum, Pow's base, BatchNormalization's variance, Loop's
      trip count: ``[1, 3)`` / ``{1..4}``;
      ``>= 1`` for Acosh, ``(-0.9, 0.9)`` for Atanh, ``[0, 1)`` for Bernoulli's probabilities
      and NonMaxSuppression's thresholds; integer Pow exponents and BitShift amounts in ``[0, 4)``;
    * **indices in range** of the data's dimension (its shape from the specs, the initializers or
      ONNX shape inference): Gather and GatherElements (negative ones too from opset 11),
      GatherND (per column of the last axis, after ``batch_dims``), ScatterND (distinct index
      tuples, as duplicates make the result order-dependent), ScatterElements/Scatter (distinct
      along the axis), OneHot's indices below the depth, RoiAlign's batch indices;
    * **shape-like inputs** chosen from the data's shape: Slice's starts/ends/axes/steps (distinct
      axes, start < end inside the dimension, steps 1 or 2; slots that are constants are kept and
      the others fit them), Reshape's shape (the same element count), Expand's shape
      (broadcast-compatible: size-1 axes really expanded, and 1 where the data is larger), Tile's repeats (1 or 2); for
      Reshape, Expand and Tile the output shape the model declares, when it declares one;
      TopK's k (1..dim), Split's and SplitToSequence's sizes (summing to
      the dimension; a rank-0 ``split`` of SplitToSequence is one chunk length, 1..dim), Squeeze/Unsqueeze/Reduce* axes (distinct, valid), Pad's pads (0..2),
      Resize's scales/sizes, Upsample's scales, ConstantOfShape's shape (1..3), Range
      (0, 2..6, 1), CumSum's axis, OneHot's depth (4), window ops' size (4..10), Loop's
      initial condition (true);
    * **booleans** for bool inputs.

    Otherwise floats are uniform in ``[-1, 1)`` and integers in ``[-4, 5)``, or in ``[0, 4)``
    when the integer reaches an op outside the value-only ones (where it may be an index).  The
    generated data stays clear of NaN/Inf: to test an op's NaN behaviour, give the inputs with
    :func:`harness.models.input_files.load_inputs`.  Each input has its own stream, seeded by ``seed`` and its name, so
    adding an input does not change the data of the others.  ``given``: the user's data for the
    other inputs (their shapes and values inform the domains).
    """
    given = dict(given or {})
    ctx = _Context(model, specs, given)
    params = Params(ctx, seed)
    out: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in specs.items():
        shape = tuple(int(s) for s in shape)
        dt = np.dtype(dtype)
        if dt.name not in SUPPORTED_DTYPES:
            raise InputError(f"input {name!r}: cannot generate data of dtype {dtype}")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        needs = []
        value_only = True
        for i, j in ctx.uses(name):
            node = ctx.nodes[i]
            nd = _need(ctx, i, j, dt)
            if nd is not None:
                needs.append(nd)
            elif node.op_type not in _VALUE_OPS and node.op_type not in _PASS:
                value_only = False
        needs.sort(key=lambda nd: _RANK[nd.kind])
        arr = None
        for nd in needs:
            if nd.kind != "param":
                break
            v = params.get(nd.node, nd.slot, shape)
            if v is not None and v.size == int(np.prod(shape)):
                arr = v.reshape(shape).astype(dt)
                break
        if arr is None:
            rest = [nd for nd in needs if nd.kind != "param"]
            if rest:
                first = rest[0]
                if first.kind == "index":   # the tightest bound over every index use
                    idx = [nd for nd in rest if nd.kind == "index"]
                    first = _Need("index", high=min(nd.high for nd in idx),
                                  negative=all(nd.negative for nd in idx))
                    if any(nd.kind in ("nonzero", "positive") for nd in rest) and first.high > 1:
                        arr = _draw(rng, shape, dt, _Need("index", high=first.high - 1)) + 1
                        arr = arr.astype(dt)
                if arr is None:
                    arr = _draw(rng, shape, dt, first)
            elif needs:   # a param slot we could not fill: stay small and non-negative
                arr = _draw(rng, shape, dt, _Need("small"))
            else:
                arr = _default(rng, shape, dt, signed_ok=value_only)
        out[name] = np.asarray(arr).reshape(shape)
    return out

"""Small real-world-shaped ONNX models, generated at test time with seeded weights.

Every builder returns ``(onnx.ModelProto, {input_name: np.ndarray})`` and is deterministic for a
given ``seed``.  The models are small on purpose (the whole model suite must run in minutes on two
cores) but each exercises a different family of operators:

=====================  ============================================================================
``mobilenet_like``     depthwise-separable CNN: Conv (group=C), 1x1 Conv, BatchNormalization,
                       Relu, Clip (relu6), GlobalAveragePool, Flatten, Gemm
``transformer_block``  encoder block: LayerNormalization, MatMul, Softmax, Transpose, Reshape, Add,
                       Mul, Div, Erf-GELU
``cnn3d``              3D CNN: Conv 3D, MaxPool 3D, AveragePool 3D, Relu, LeakyRelu
``pad_split_resize``   Pad, Split, Slice (strided), Resize (nearest and linear), Concat; two outputs
``int_arith``          integer arithmetic between float layers: Cast, Add/Mul on int32, Gemm
``resnet18_v1``        the seed document's MXNet ResNet-18 exported through ``mxnet.onnx`` in
                       MXNet's own environment, read from the model cache (``make mxnet-model``;
                       see :mod:`harness.models.mxnet_resnet`)
=====================  ============================================================================

:data:`ZOO` is the single list of models; the suites and the CLI read nothing else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization needs 17; everything else here is older.


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """He-normal weights so activations stay O(1) through the layers."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


class _Graph:
    """A tiny builder over onnx.helper that keeps node, initializer and name bookkeeping."""

    def __init__(self, name: str, rng: np.random.Generator) -> None:
        self.name = name
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh(op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    # -- layers ---------------------------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, k: int | tuple, *, stride=1, pad=0, group=1,
             bias=True, dims=2) -> str:
        ks = (k,) * dims if isinstance(k, int) else tuple(k)
        w = _he(self.rng, (cout, cin // group, *ks), fan_in=(cin // group) * int(np.prod(ks)))
        ins = [x, self.const("w", w)]
        if bias:
            ins.append(self.const("b", (self.rng.standard_normal(cout) * 0.1).astype(np.float32)))
        return self.op("Conv", ins, kernel_shape=list(ks), strides=[stride] * dims,
                       pads=[pad] * (2 * dims), group=group)

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        scale = r.uniform(0.5, 1.5, c).astype(np.float32)
        shift = (r.standard_normal(c) * 0.1).astype(np.float32)
        mean = (r.standard_normal(c) * 0.1).astype(np.float32)
        var = r.uniform(0.5, 1.5, c).astype(np.float32)
        return self.op("BatchNormalization",
                       [x, self.const("gamma", scale), self.const("beta", shift),
                        self.const("mean", mean), self.const("var", var)], epsilon=1e-5)

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.const("min", np.float32(0.0)),
                                self.const("max", np.float32(6.0))])

    def linear(self, x: str, fin: int, fout: int) -> str:
        """MatMul + Add (the way PyTorch exports nn.Linear on 3-D inputs)."""
        w = (self.rng.standard_normal((fin, fout)) / math.sqrt(fin)).astype(np.float32)
        b = (self.rng.standard_normal(fout) * 0.1).astype(np.float32)
        return self.op("Add", [self.op("MatMul", [x, self.const("w", w)]), self.const("b", b)])

    def model(self, inputs: list[onnx.ValueInfoProto],
              outputs: list[tuple[str, int, list | None]]) -> onnx.ModelProto:
        outs = []
        for name, elem, shape in outputs:
            outs.append(helper.make_tensor_value_info(name, elem, shape))
        graph = helper.make_graph(self.nodes, self.name, inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="tvm-trt-harness.zoo")
        model.ir_version = 8  # readable by onnx>=1.10 / onnxruntime>=1.10
        onnx.checker.check_model(model, full_check=True)
        return model

    def rename_last(self, new: str) -> str:
        """Give the last node's first output a stable public name."""
        node = self.nodes[-1]
        old = node.output[0]
        node.output[0] = new
        for n in self.nodes:
            for i, name in enumerate(n.input):
                if name == old:
                    n.input[i] = new
        return new


def _input(name: str, shape: list[int], elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------

def mobilenet_like(seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """MobileNet-v1/v2-shaped depthwise-separable CNN on a 1x3x32x32 image, 10 classes."""
    g = _Graph("mobilenet_like", _rng(seed))
    x = g.relu6(g.bn(g.conv("image", 3, 8, 3, stride=2, pad=1, bias=False), 8))   # 8x16x16
    for cin, cout, stride in [(8, 16, 1), (16, 32, 2)]:
        x = g.op("Relu", [g.bn(g.conv(x, cin, cin, 3, stride=stride, pad=1, group=cin, bias=False), cin)])
        x = g.relu6(g.bn(g.conv(x, cin, cout, 1, bias=False), cout))
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)                  # 1x32
    w = (g.rng.standard_normal((10, 32)) / math.sqrt(32)).astype(np.float32)
    b = (g.rng.standard_normal(10) * 0.1).astype(np.float32)
    g.op("Gemm", [x, g.const("fc_w", w), g.const("fc_b", b)], transB=1)
    g.rename_last("logits")
    model = g.model([_input("image", [1, 3, 32, 32])], [("logits", TensorProto.FLOAT, [1, 10])])
    data = _rng(seed + 1).uniform(0, 1, (1, 3, 32, 32)).astype(np.float32)
    return model, {"image": data}


def transformer_block(seed: int = 0, *, seq: int = 8, hidden: int = 16, heads: int = 2,
                      ffn: int = 32) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Pre-LN transformer encoder block: MHSA + Erf-GELU feed-forward, both with residuals."""
    g = _Graph("transformer_block", _rng(seed))
    dh = hidden // heads

    def layer_norm(x: str) -> str:
        gamma = g.rng.uniform(0.5, 1.5, hidden).astype(np.float32)
        beta = (g.rng.standard_normal(hidden) * 0.1).astype(np.float32)
        return g.op("LayerNormalization", [x, g.const("ln_g", gamma), g.const("ln_b", beta)],
                    axis=-1, epsilon=1e-5)

    def heads_first(x: str) -> str:   # [1, S, H] -> [1, heads, S, dh]
        r = g.op("Reshape", [x, g.const("shape", np.array([1, seq, heads, dh], np.int64))])
        return g.op("Transpose", [r], perm=[0, 2, 1, 3])

    h = layer_norm("tokens")
    q, k, v = (heads_first(g.linear(h, hidden, hidden)) for _ in range(3))
    kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])
    scores = g.op("Div", [g.op("MatMul", [q, kt]), g.const("sqrt_dh", np.float32(math.sqrt(dh)))])
    attn = g.op("Softmax", [scores], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [attn, v])], perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, g.const("shape", np.array([1, seq, hidden], np.int64))])
    x1 = g.op("Add", ["tokens", g.linear(ctx, hidden, hidden)])

    h2 = layer_norm(x1)
    f = g.linear(h2, hidden, ffn)
    erf = g.op("Erf", [g.op("Div", [f, g.const("sqrt2", np.float32(math.sqrt(2.0)))])])
    gelu = g.op("Mul", [g.op("Mul", [f, g.op("Add", [erf, g.const("one", np.float32(1.0))])]),
                        g.const("half", np.float32(0.5))])
    g.op("Add", [x1, g.linear(gelu, ffn, hidden)])
    g.rename_last("encoded")
    model = g.model([_input("tokens", [1, seq, hidden])],
                    [("encoded", TensorProto.FLOAT, [1, seq, hidden])])
    data = _rng(seed + 1).standard_normal((1, seq, hidden)).astype(np.float32)
    return model, {"tokens": data}


def cnn3d(seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Video/volume CNN: two 3D conv stages with 3D max and average pooling."""
    g = _Graph("cnn3d", _rng(seed))
    x = g.op("Relu", [g.conv("clip", 2, 4, 3, pad=1, dims=3)])                      # 4x8x16x16
    x = g.op("MaxPool", [x], kernel_shape=[2, 2, 2], strides=[2, 2, 2])             # 4x4x8x8
    x = g.op("LeakyRelu", [g.conv(x, 4, 8, 3, pad=1, dims=3)], alpha=0.1)           # 8x4x8x8
    g.op("AveragePool", [x], kernel_shape=[2, 2, 2], strides=[2, 2, 2])             # 8x2x4x4
    g.rename_last("features")
    model = g.model([_input("clip", [1, 2, 8, 16, 16])],
                    [("features", TensorProto.FLOAT, [1, 8, 2, 4, 4])])
    data = _rng(seed + 1).uniform(-1, 1, (1, 2, 8, 16, 16)).astype(np.float32)
    return model, {"clip": data}


def pad_split_resize(seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Data movement: Pad, Split, strided Slice, Resize (nearest + linear), Concat; two outputs."""
    g = _Graph("pad_split_resize", _rng(seed))
    x = g.op("Relu", [g.conv("image", 4, 8, 3, pad=1)])                              # 8x8x8
    x = g.op("Pad", [x, g.const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
                     g.const("pad_value", np.float32(0.5))], mode="constant")        # 8x10x10
    a, b = g.op("Split", [x, g.const("split", np.array([4, 4], np.int64))], n_out=2, axis=1)
    s = g.op("Slice", [a, g.const("starts", np.array([0, 1], np.int64)),
                       g.const("ends", np.array([10, 10], np.int64)),
                       g.const("axes", np.array([2, 3], np.int64)),
                       g.const("steps", np.array([2, 3], np.int64))])                # 4x5x3
    empty = ""  # omitted optional input (roi / scales)
    up_nn = g.op("Resize", [s, empty, g.const("scales", np.array([1, 1, 2, 2], np.float32))],
                 mode="nearest", coordinate_transformation_mode="asymmetric",
                 nearest_mode="floor")                                               # 4x10x6
    up_lin = g.op("Resize", [b, empty, empty, g.const("sizes", np.array([1, 4, 10, 6], np.int64))],
                  mode="linear", coordinate_transformation_mode="half_pixel")        # 4x10x6
    g.op("Concat", [up_nn, up_lin], axis=1)                                           # 8x10x6
    g.rename_last("merged")
    g.op("Sigmoid", [s])
    g.rename_last("sliced")
    model = g.model([_input("image", [1, 4, 8, 8])],
                    [("merged", TensorProto.FLOAT, [1, 8, 10, 6]),
                     ("sliced", TensorProto.FLOAT, [1, 4, 5, 3])])
    data = _rng(seed + 1).uniform(-1, 1, (1, 4, 8, 8)).astype(np.float32)
    return model, {"image": data}


def int_arith(seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Integer arithmetic between float layers (quantisation-style bucketing of a feature).

    TensorRT's elementwise layers do not take int32 inputs in the versions the seed targets, so
    this is where an over-offload by dtype shows up.
    """
    g = _Graph("int_arith", _rng(seed))
    w = (g.rng.standard_normal((8, 16)) / math.sqrt(16)).astype(np.float32)
    h = g.op("Gemm", ["features", g.const("w", w)], transB=1)                       # 1x8
    q = g.op("Cast", [g.op("Floor", [g.op("Mul", [h, g.const("s", np.float32(4.0))])])],
             to=TensorProto.INT32)
    q = g.op("Add", [g.op("Mul", [q, g.const("k", np.int32(3))]), "offsets"])
    q = g.op("Cast", [q], to=TensorProto.FLOAT)
    g.op("Tanh", [g.op("Mul", [q, g.const("t", np.float32(0.05))])])
    g.rename_last("scores")
    model = g.model([_input("features", [1, 16]), _input("offsets", [1, 8], TensorProto.INT32)],
                    [("scores", TensorProto.FLOAT, [1, 8])])
    r = _rng(seed + 1)
    return model, {"features": r.standard_normal((1, 16)).astype(np.float32),
                   "offsets": r.integers(-5, 5, (1, 8)).astype(np.int32)}


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZooModel:
    """One model of the zoo.

    ``build(seed)`` returns ``(model, inputs)``.  ``source_outputs(seed)``, where present, returns
    the source framework's own outputs for those inputs (the ResNet-18 from MXNet), and
    ``source`` names that framework.  ``missing`` says why the model cannot be built here (None
    when it can).
    """

    name: str
    kind: str
    build: Callable[[int], tuple[onnx.ModelProto, dict[str, np.ndarray]]]
    source: str | None = None
    source_outputs: Callable[[int], list[np.ndarray]] | None = None
    missing: Callable[[], str | None] = lambda: None


def _resnet18(seed: int = 0):
    from . import mxnet_resnet

    return mxnet_resnet.resnet18_v1(seed)


def _resnet18_missing():
    from . import mxnet_resnet

    return mxnet_resnet.missing_reason(0)


def _resnet18_outputs(seed: int = 0):
    from . import mxnet_resnet

    return mxnet_resnet.resnet18_v1_reference(seed)


ZOO: tuple[ZooModel, ...] = (
    ZooModel("resnet18_v1", "residual CNN (seed worked example, MXNet)", _resnet18,
             source="mxnet", source_outputs=_resnet18_outputs, missing=lambda: _resnet18_missing()),
    ZooModel("mobilenet_like", "depthwise-separable CNN", mobilenet_like),
    ZooModel("transformer_block", "transformer encoder block", transformer_block),
    ZooModel("cnn3d", "3D CNN", cnn3d),
    ZooModel("pad_split_resize", "data movement and resampling", pad_split_resize),
    ZooModel("int_arith", "integer arithmetic between float layers", int_arith),
)

_names = [m.name for m in ZOO]
if len(set(_names)) != len(_names):  # pragma: no cover - a table bug, caught at import
    raise RuntimeError(f"duplicate zoo model names: {sorted(n for n in _names if _names.count(n) > 1)}")


def get(name: str) -> ZooModel:
    for m in ZOO:
        if m.name == name:
            return m
    raise KeyError(f"no zoo model {name!r}; known: {', '.join(_names)}")

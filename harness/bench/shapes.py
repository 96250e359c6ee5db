"""The benchmark set: realistic shapes, each taken from a layer of a real network.

Every entry is ``(layer name, Case)``: the name says the model and the layer (torchvision / Hugging
Face module paths, e.g. ``resnet50.layer1.0.conv2``; a parenthesis names a step that has no module
of its own, such as a residual add), and the :class:`harness.case.Case` uses exactly the attrs and
weights conventions of the op's family in ``harness/families.py``, so the harness builds it like any
generated case (``harness.program.build(harness.table.BY_NAME[case.op], case)``).  Each layer is
listed in float32 and float16, with seed 0.

Models (batch 1 unless the name says ``b8``):

- ``resnet50``: torchvision ResNet-50 (v1.5: stride on the 3x3), 1x3x224x224, NCHW;
- ``mobilenet_v2``: torchvision MobileNetV2, 1x3x224x224;
- ``bert_base``: bert-base-uncased (hidden 768, 12 heads of 64, intermediate 3072), sequence 128,
  batch 1 (``b1``) and 8 (``b8``);
- ``r3d_18``: torchvision video ResNet3D-18 on a 16x112x112 clip (1x3x16x112x112);
- ``c3d``: C3D (Tran et al., ICCV 2015) on a 16x112x112 clip, for its 3-D max pooling;
- ``efficientnet_b0``: torchvision EfficientNet-B0, 1x3x224x224, for sigmoid (SiLU, squeeze-excite),
  which none of the networks above uses;
- ``inception_v3`` (1x3x299x299) and ``densenet121`` (1x3x224x224), torchvision, for
  concatenation and non-global average pooling, which none of the networks above uses.
"""
from __future__ import annotations

from ..case import Case

MODELS = {
    "resnet50": "torchvision ResNet-50 v1.5, input 1x3x224x224 (NCHW)",
    "mobilenet_v2": "torchvision MobileNetV2, input 1x3x224x224",
    "bert_base": "bert-base-uncased, sequence 128, batch 1 (b1) and 8 (b8)",
    "r3d_18": "torchvision video r3d_18, clip 1x3x16x112x112",
    "c3d": "C3D (Tran et al. 2015), clip 1x3x16x112x112",
    "efficientnet_b0": "torchvision EfficientNet-B0, input 1x3x224x224",
    "inception_v3": "torchvision Inception-v3, input 1x3x299x299",
    "densenet121": "torchvision DenseNet-121, input 1x3x224x224",
}

DTYPES = ("float32", "float16")
_LAYERS: list[tuple[str, str, tuple, dict, tuple]] = []      # (name, op, shapes, attrs, weights)


def _add(name, op, shapes, attrs=None, weights=()):
    _LAYERS.append((name, op, tuple(tuple(s) for s in shapes), dict(attrs or {}), tuple(weights)))


def _conv(name, x, w_oi_k, *, stride=1, pad=0, groups=1):
    """x in NC(D)HW, weight given as (O, I/groups, *kernel) in O I (D)HW."""
    nsp = len(x) - 2
    sp = "DHW"[3 - nsp:]
    vec = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * nsp  # noqa: E731
    _add(name, f"nn.conv{nsp}d", [x],
         {"strides": vec(stride), "padding": vec(pad), "dilation": [1] * nsp, "groups": groups,
          "data_layout": "NC" + sp, "kernel_layout": "OI" + sp},
         (("weight", tuple(w_oi_k)),))


def _pool(name, op, x, k, *, stride=None, pad=0, ceil_mode=False, count_include_pad=None):
    nsp = len(x) - 2
    vec = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * nsp  # noqa: E731
    attrs = {"pool_size": vec(k), "strides": vec(stride if stride is not None else k), "padding": vec(pad),
             "dilation": [1] * nsp, "ceil_mode": ceil_mode, "layout": "NC" + "DHW"[3 - nsp:]}
    if count_include_pad is not None:
        attrs["count_include_pad"] = count_include_pad
    _add(name, op, [x], attrs)


def _dense(name, x, units):
    _add(name, "nn.dense", [x], {"units": units}, (("weight_t", (x[-1], units)),))


def _layer_norm(name, x, eps=1e-12):
    _add(name, "nn.layer_norm", [x], {"axes": [-1], "epsilon": eps, "center": True, "scale": True},
         (("gamma", (x[-1],)), ("beta", (x[-1],))))


def _batch_norm(name, x, eps=1e-5):
    c = (x[1],)
    _add(name, "nn.batch_norm", [x], {"axis": 1, "epsilon": eps, "center": True, "scale": True},
         (("gamma", c), ("beta", c), ("mean", c), ("var", c)))


# -- convolutions ---------------------------------------------------------------------------------
_conv("resnet50.conv1", (1, 3, 224, 224), (64, 3, 7, 7), stride=2, pad=3)
_conv("resnet50.layer1.0.conv2", (1, 64, 56, 56), (64, 64, 3, 3), pad=1)
_conv("resnet50.layer4.0.conv3", (1, 512, 7, 7), (2048, 512, 1, 1))
_conv("mobilenet_v2.features.2.conv.1.0", (1, 96, 112, 112), (96, 1, 3, 3), stride=2, pad=1, groups=96)
_conv("r3d_18.stem.0", (1, 3, 16, 112, 112), (64, 3, 3, 7, 7), stride=(1, 2, 2), pad=(1, 3, 3))
_conv("r3d_18.layer1.0.conv1.0", (1, 64, 16, 56, 56), (64, 64, 3, 3, 3), pad=1)
_conv("r3d_18.layer3.0.conv1.0", (1, 128, 8, 28, 28), (256, 128, 3, 3, 3), stride=2, pad=1)
_conv("r3d_18.layer4.1.conv2.0", (1, 512, 2, 7, 7), (512, 512, 3, 3, 3), pad=1)

# -- dense and batched matmul ---------------------------------------------------------------------
_dense("bert_base.b1.encoder.layer.0.attention.self.query", (1, 128, 768), 768)
_dense("bert_base.b8.encoder.layer.0.intermediate.dense", (8, 128, 768), 3072)
_dense("bert_base.b8.encoder.layer.0.output.dense", (8, 128, 3072), 768)
_dense("resnet50.fc", (1, 2048), 1000)
_add("bert_base.b1.encoder.layer.0.attention.self (query @ key^T)", "nn.batch_matmul",
     [(1, 12, 128, 64), (1, 12, 64, 128)])
_add("bert_base.b8.encoder.layer.0.attention.self (query @ key^T)", "nn.batch_matmul",
     [(8, 12, 128, 64), (8, 12, 64, 128)])
_add("bert_base.b8.encoder.layer.0.attention.self (probs @ value)", "nn.batch_matmul",
     [(8, 12, 128, 128), (8, 12, 128, 64)])

# -- element-wise ---------------------------------------------------------------------------------
_add("resnet50.layer1.0 (residual add)", "add", [(1, 256, 56, 56), (1, 256, 56, 56)])
_add("mobilenet_v2.features.3 (residual add)", "add", [(1, 24, 56, 56), (1, 24, 56, 56)])
_add("bert_base.b8.encoder.layer.0.attention.self (scores + mask)", "add", [(8, 12, 128, 128), (8, 1, 1, 128)])
_add("r3d_18.layer1.0 (residual add)", "add", [(1, 64, 16, 56, 56), (1, 64, 16, 56, 56)])
_add("bert_base.b8.encoder.layer.0.intermediate (GELU: x * 0.5(1 + erf))", "multiply",
     [(8, 128, 3072), (8, 128, 3072)])
_add("bert_base.b8.encoder.layer.0.attention.self (scores / sqrt(64))", "multiply", [(8, 12, 128, 128), (1,)])
_add("efficientnet_b0.features.2.0.block.2 (squeeze-excite scale)", "multiply", [(1, 96, 56, 56), (1, 96, 1, 1)])
_add("resnet50.relu", "nn.relu", [(1, 64, 112, 112)])
_add("resnet50.layer1.0.relu", "nn.relu", [(1, 256, 56, 56)])
_add("r3d_18.layer1.0.relu", "nn.relu", [(1, 64, 16, 56, 56)])
_add("efficientnet_b0.features.0.2 (SiLU: sigmoid)", "sigmoid", [(1, 32, 112, 112)])
_add("efficientnet_b0.features.2.0.block.0.2 (SiLU: sigmoid)", "sigmoid", [(1, 96, 112, 112)])
_add("efficientnet_b0.features.2.0.block.2.scale_activation", "sigmoid", [(1, 96, 1, 1)])
_add("bert_base.b1.pooler.activation", "tanh", [(1, 768)])
_add("bert_base.b8.pooler.activation", "tanh", [(8, 768)])
_add("bert_base.b1.encoder.layer.0.intermediate (GELU: erf)", "erf", [(1, 128, 3072)])
_add("bert_base.b8.encoder.layer.0.intermediate (GELU: erf)", "erf", [(8, 128, 3072)])
_add("mobilenet_v2.features.0.2", "clip", [(1, 32, 112, 112)], {"min": 0.0, "max": 6.0})
_add("mobilenet_v2.features.2.conv.0.2", "clip", [(1, 96, 112, 112)], {"min": 0.0, "max": 6.0})
_add("mobilenet_v2.features.18.2", "clip", [(1, 1280, 7, 7)], {"min": 0.0, "max": 6.0})
_add("bert_base.b8.encoder.layer.0.intermediate.dense (bias)", "nn.bias_add", [(8, 128, 3072)], {"axis": -1},
     (("bias", (3072,)),))
_add("resnet50.fc (bias)", "nn.bias_add", [(1, 1000)], {"axis": -1}, (("bias", (1000,)),))

# -- normalisation and softmax --------------------------------------------------------------------
_add("bert_base.b1.encoder.layer.0.attention.self (softmax)", "nn.softmax", [(1, 12, 128, 128)], {"axis": -1})
_add("bert_base.b8.encoder.layer.0.attention.self (softmax)", "nn.softmax", [(8, 12, 128, 128)], {"axis": -1})
_add("resnet50 (softmax over the 1000 logits)", "nn.softmax", [(1, 1000)], {"axis": -1})
_layer_norm("bert_base.b1.encoder.layer.0.output.LayerNorm", (1, 128, 768))
_layer_norm("bert_base.b8.encoder.layer.0.output.LayerNorm", (8, 128, 768))
_batch_norm("resnet50.bn1", (1, 64, 112, 112))
_batch_norm("mobilenet_v2.features.0.1", (1, 32, 112, 112))
_batch_norm("r3d_18.stem.1", (1, 64, 16, 56, 56))

# -- pooling --------------------------------------------------------------------------------------
_pool("resnet50.maxpool", "nn.max_pool2d", (1, 64, 112, 112), 3, stride=2, pad=1)
_pool("inception_v3.maxpool1", "nn.max_pool2d", (1, 64, 147, 147), 3, stride=2)
_pool("inception_v3.Mixed_5b.branch_pool (avg_pool2d 3x3)", "nn.avg_pool2d", (1, 192, 35, 35), 3, stride=1, pad=1,
      count_include_pad=True)
_pool("densenet121.features.transition1.pool", "nn.avg_pool2d", (1, 128, 56, 56), 2, stride=2,
      count_include_pad=True)
_add("resnet50.avgpool", "nn.global_avg_pool2d", [(1, 2048, 7, 7)], {"output_size": [1, 1], "layout": "NCHW"})
_add("mobilenet_v2 (adaptive_avg_pool2d before the classifier)", "nn.global_avg_pool2d", [(1, 1280, 7, 7)],
     {"output_size": [1, 1], "layout": "NCHW"})
_pool("c3d.pool1", "nn.max_pool3d", (1, 64, 16, 112, 112), (1, 2, 2))
_pool("c3d.pool2", "nn.max_pool3d", (1, 128, 16, 56, 56), 2)
_pool("c3d.pool5", "nn.max_pool3d", (1, 512, 2, 7, 7), 2, pad=(0, 1, 1))
_pool("r3d_18.avgpool (as avg_pool3d 2x7x7)", "nn.avg_pool3d", (1, 512, 2, 7, 7), (2, 7, 7), count_include_pad=True)
_add("resnet50.avgpool (as mean over H, W)", "mean", [(1, 2048, 7, 7)], {"axis": [2, 3], "keepdims": True})
_add("bert_base.b8.encoder.layer.0.output.LayerNorm (mean over hidden)", "mean", [(8, 128, 768)],
     {"axis": [-1], "keepdims": True})

# -- data movement --------------------------------------------------------------------------------
_add("bert_base.b8.encoder.layer.0.attention.self (transpose_for_scores)", "transpose", [(8, 128, 12, 64)],
     {"axes": [0, 2, 1, 3]})
_add("bert_base.b8.encoder.layer.0.attention.self (key^T)", "transpose", [(8, 12, 128, 64)],
     {"axes": [0, 1, 3, 2]})
_add("bert_base.b1.encoder.layer.0.attention.self (context transpose)", "transpose", [(1, 12, 128, 64)],
     {"axes": [0, 2, 1, 3]})
_add("bert_base.b8.encoder.layer.0.attention.self (split heads)", "reshape", [(8, 128, 768)],
     {"newshape": [8, 128, 12, 64]})
_add("bert_base.b8.encoder.layer.0.attention.self (merge heads)", "reshape", [(8, 128, 12, 64)],
     {"newshape": [8, 128, 768]})
_add("resnet50 (flatten before fc, as reshape)", "reshape", [(1, 2048, 1, 1)], {"newshape": [1, 2048]})
_add("resnet50 (flatten before fc)", "nn.batch_flatten", [(1, 2048, 1, 1)])
_add("densenet121.features.denseblock1 (concatenate)", "concatenate",
     [(1, 64, 56, 56)] + [(1, 32, 56, 56)] * 6, {"axis": 1})
_add("inception_v3.Mixed_5b (concatenate)", "concatenate",
     [(1, 64, 35, 35), (1, 64, 35, 35), (1, 96, 35, 35), (1, 32, 35, 35)], {"axis": 1})
_add("bert_base.b8.pooler (first token)", "strided_slice", [(8, 128, 768)],
     {"axes": [1], "begin": [0], "end": [1], "strides": [1]})

BENCH: list[tuple[str, Case]] = [
    (name, Case(op, dtype, shapes, dict(attrs), weights, 0))
    for dtype in DTYPES for name, op, shapes, attrs, weights in _LAYERS
]


def bench_cases(ops=None, dtypes=DTYPES) -> list[tuple[str, Case]]:
    """``(layer name, Case)`` of the benchmark set, for the given ops (table names; all when None)
    and dtypes, in the set's order."""
    wanted = None if ops is None else set([ops] if isinstance(ops, str) else ops)
    if wanted is not None:
        unknown = wanted - {c.op for _n, c in BENCH}
        if unknown:
            raise ValueError(f"no benchmark shapes for {sorted(unknown)}")
    return [(n, c) for n, c in BENCH if (wanted is None or c.op in wanted) and c.dtype in dtypes]

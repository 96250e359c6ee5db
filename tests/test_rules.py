"""Unit tests of harness.rules.decide: one Relax call at a time, built with a BlockBuilder.

Every case names the source it comes from (``ops.cc:<Converter>`` = tensorrt_ops.cc in the TVM
wheel, ``builder.cc`` / ``runtime.cc`` beside it, ``codegen.cc`` = the Relax TensorRT codegen in
apache/tvm, ``relay:`` = the Relay annotation rules digested in docs/relay-annotation-rules.md), and
asserts both the offload flag and the rule id, so a changed rule fails here.
"""
from __future__ import annotations

import numpy as np
import pytest
from tvm import relax

from harness import rules
from harness.tvmcompat import tensor_type

TRT10 = (10, 0, 1)           # explicit batch only (implicit_batch_default -> False)
TRT8 = (8, 6, 1)             # implicit batch by default
EXPLICIT = {"trt_version": TRT10}
IMPLICIT = {"trt_version": TRT8, "implicit_batch": True}

_BB = relax.BlockBuilder()


def var(shape, dtype="float32", name="x"):
    return relax.Var(name, tensor_type(list(shape), dtype))


def const(shape, dtype="float32"):
    return relax.const(np.ones(shape, dtype=dtype))


def call(expr):
    """The normalised call (types filled in), as the partitioner sees it."""
    return _BB.normalize(expr)


def decide(expr, **kw):
    return rules.decide(call(expr), **(kw or EXPLICIT))


def check(expr, offload, rule, **kw):
    d = decide(expr, **kw)
    assert (d.offload, d.rule) == (offload, rule), d
    assert d.reason and d.source
    return d


X4 = var((2, 3, 4, 4))
op = relax.op
nn = relax.op.nn


# -- reductions: ops.cc:ReduceOpConverter, codegen.cc:MaybeFillReduceAxes ---------------------------
REDUCES = [op.sum, op.prod, op.max, op.min, op.mean]


@pytest.mark.parametrize("fn", REDUCES, ids=lambda f: f.__name__)
def test_reduce_axis_none_explicit_batch_offloads(fn):
    # codegen.cc MaybeFillReduceAxes fills axis = [0, rank) before ReduceOpConverter reads "axis"
    check(fn(X4), True, "supported", **EXPLICIT)
    check(fn(X4, keepdims=True), True, "supported", trt_version=TRT8, implicit_batch=False)


@pytest.mark.parametrize("fn", REDUCES, ids=lambda f: f.__name__)
def test_reduce_axis_none_implicit_batch_rejected(fn):
    # filled axes include 0; ConvertAxis ICHECK_NE(axis, 0) under implicit batch; relay:reduce_checker
    # keepdims=True: a rank-0 result would be rejected earlier, by the generic rank-0 rule
    d = check(fn(X4, keepdims=True), False, "implicit-batch", **IMPLICIT)
    assert "under implicit batch" in d.reason and "MaybeFillReduceAxes" in d.source


def test_reduce_axes_and_batch_axis():
    # ops.cc:ReduceOpConverter -> ConvertAxis: axis 0 only fails under implicit batch
    check(op.sum(X4, axis=[1, 2]), True, "supported", **IMPLICIT)
    check(op.mean(X4, axis=[0]), False, "implicit-batch", **IMPLICIT)
    check(op.mean(X4, axis=[-4]), False, "implicit-batch", **IMPLICIT)   # negative axis normalised
    check(op.max(X4, axis=[-1]), True, "supported", **IMPLICIT)
    check(op.mean(X4, axis=[0]), True, "supported", **EXPLICIT)


# -- squeeze / permute_dims with None: not filled by the codegen ----------------------------------
def test_squeeze_axis_none_rejected_in_both_modes():
    # ops.cc:SqueezeOpConverter GetAttr<Array<int64_t>>("axis"); MaybeFillReduceAxes reads StatisticalAttrs only
    x = var((2, 1, 4, 1))
    for kw in (EXPLICIT, IMPLICIT):
        d = check(op.squeeze(x), False, "attr", **kw)
        assert "SqueezeOpConverter" in d.source
    check(op.squeeze(x, axis=[1]), True, "supported", **IMPLICIT)
    check(op.squeeze(x, axis=[-1]), True, "supported", **IMPLICIT)
    check(op.squeeze(var((1, 3)), axis=[0]), False, "implicit-batch", **IMPLICIT)
    check(op.squeeze(var((1, 3)), axis=[0]), True, "supported", **EXPLICIT)


def test_permute_dims_axes_none_rejected_in_both_modes():
    # ops.cc:TransposeOpConverter GetAttr<Array<int64_t>>("axes"); PermuteDimsAttrs are not filled
    for kw in (EXPLICIT, IMPLICIT):
        d = check(op.permute_dims(X4), False, "attr", **kw)
        assert "TransposeOpConverter" in d.source
    # ops.cc:Transpose ICHECK_EQ(order[0], 0) under implicit batch
    check(op.permute_dims(X4, [0, 2, 3, 1]), True, "supported", **IMPLICIT)
    d = check(op.permute_dims(X4, [1, 0, 2, 3]), False, "implicit-batch", **IMPLICIT)
    assert "under implicit batch" in d.reason
    check(op.permute_dims(X4, [1, 0, 2, 3]), True, "supported", **EXPLICIT)
    # a constant carries no batch dimension
    check(op.permute_dims(const((2, 3)), [1, 0]), True, "supported", **IMPLICIT)


# -- concat: ops.cc:ConcatOpConverter ----------------------------------------------------------------
def test_concat_constant_operand_rejected():
    # ICHECK_EQ(input.type, kTensor) for every input (variable_input_count: builder.cc turns no
    # constant into a tensor); relay:concatenate_checker rejected constant fields too
    c = const((2, 3, 4, 4))
    for kw in (EXPLICIT, IMPLICIT):
        check(op.concat([X4, c], axis=1), False, "constant-input", **kw)
        check(op.concat([c, X4], axis=1), False, "constant-input", **kw)
    check(op.concat([X4, var((2, 3, 4, 4), name="y")], axis=1), True, "supported", **EXPLICIT)


def test_concat_batch_axis():
    # ConvertAxis ICHECK_NE(axis, 0) under implicit batch
    y = var((2, 3, 4, 4), name="y")
    check(op.concat([X4, y], axis=0), False, "implicit-batch", **IMPLICIT)
    check(op.concat([X4, y], axis=-4), False, "implicit-batch", **IMPLICIT)
    check(op.concat([X4, y], axis=-1), True, "supported", **IMPLICIT)
    check(op.concat([X4, y], axis=0), True, "supported", **EXPLICIT)


# -- adaptive_avg_pool2d: ops.cc:AdaptivePoolingOpConverter (output_size = DimsHW(1, 1)) -----------------
def test_adaptive_avg_pool_output_size():
    check(nn.adaptive_avg_pool2d(X4, (1, 1)), True, "supported")
    check(nn.adaptive_avg_pool2d(X4, 1), True, "supported")
    check(nn.adaptive_avg_pool2d(X4, (2, 2)), False, "attr")
    check(nn.adaptive_avg_pool2d(X4, (1, 2)), False, "attr")
    # output_size=None keeps the input size (4x4 here) but the converter pools to 1x1
    d = check(nn.adaptive_avg_pool2d(X4), False, "attr")
    assert "None" in d.reason
    # ... which is right only when the input is 1x1 already
    check(nn.adaptive_avg_pool2d(var((2, 3, 1, 1))), True, "supported")
    check(nn.adaptive_avg_pool2d(var((2, 3, 1, 4))), False, "attr")
    # ICHECK_EQ(layout, "NCHW")
    check(nn.adaptive_avg_pool2d(var((2, 4, 4, 3)), (1, 1), layout="NHWC"), False, "layout")


# -- transposed convolutions: ops.cc:Conv2D/Conv3DTransposeOpConverter -----------------------------------
def test_grouped_conv_transpose_rejected():
    # num_outputs = weight_shape[1] (C_out/groups of the IOHW kernel) with setNbGroups(groups)
    x = var((1, 4, 5, 5))
    check(nn.conv2d_transpose(x, const((4, 2, 3, 3))), True, "supported")
    d = check(nn.conv2d_transpose(x, const((4, 1, 3, 3)), groups=2), False, "attr")
    assert "groups=2" in d.reason and "weight_shape[1]" in d.source
    x3 = var((1, 4, 3, 3, 3))
    check(nn.conv3d_transpose(x3, const((4, 2, 2, 2, 2))), True, "supported")
    check(nn.conv3d_transpose(x3, const((4, 1, 2, 2, 2)), groups=4), False, "attr")


def test_grouped_conv_forward_still_offloads():
    # ops.cc:Conv2DOpConverter: channels = weight_shape[0] (C_out of OIHW) is right for any groups
    check(nn.conv2d(var((1, 4, 5, 5)), const((6, 2, 3, 3)), groups=2), True, "supported")


# -- image.resize2d: ops.cc:Resize2DOpConverter (TRT_VERSION_GE(8, 0, 0)) ------------------------------
def resize(x=X4, size=(8, 8), **kw):
    return op.image.resize2d(x, size, **kw)


@pytest.mark.parametrize("method,coord,rounding", [
    ("linear", "half_pixel", "round"),                 # rounding only matters for nearest_neighbor
    ("linear", "align_corners", ""),
    ("cubic", "asymmetric", "round"),
    ("linear", "pytorch_half_pixel", "round"),
    ("nearest_neighbor", "asymmetric", "floor"),
    ("nearest_neighbor", "half_pixel", "ceil"),
    ("nearest_neighbor", "align_corners", "round_prefer_ceil"),
    ("nearest_neighbor", "asymmetric", "round_prefer_floor"),
])
def test_resize2d_modes_the_converter_maps(method, coord, rounding):
    # method_map / coordinate_transformation_map / rounding_map of Resize2DOpConverter
    check(resize(method=method, coordinate_transformation_mode=coord, rounding_method=rounding), True,
          "supported")


@pytest.mark.parametrize("kw", [
    {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "method": "nearest_neighbor",
     "rounding_method": "floor"},
    {"coordinate_transformation_mode": "tf_crop_and_resize"},
    {"method": "nearest_neighbor", "rounding_method": "round"},   # ties to even: no ResizeRoundMode
    {"method": "nearest_neighbor", "rounding_method": ""},
], ids=["tf_half_pixel_for_nn", "tf_crop_and_resize", "nearest-round", "nearest-empty"])
def test_resize2d_modes_kept_on_tvm(kw):
    # each map ICHECKs; the installed pattern's check keeps the same subset on TVM
    check(resize(**kw), False, "attr")


def test_resize2d_layout_dtype_version():
    check(resize(var((2, 4, 4, 3)), layout="NHWC"), False, "layout")          # ICHECK_EQ(layout, "NCHW")
    check(resize(out_dtype="float16"), False, "attr")                          # out_dtype ignored
    check(resize(out_dtype="float32"), True, "supported")
    check(resize(var((2, 3, 4, 4), "float16"), out_dtype="float16"), True, "supported")
    check(resize(), True, "supported", trt_version=(8, 0, 1))                  # TRT_VERSION_GE(8, 0, 0)
    check(resize(), False, "version", trt_version=(7, 2, 3))
    check(resize(var((2, 3, 4, 4), "int32")), False, "dtype")


# -- nn.pad: ops.cc:PadOpConverter is Relay's ---------------------------------------------------------
@pytest.mark.parametrize("kw", [EXPLICIT, IMPLICIT, {"trt_version": (5, 0, 2)}])
def test_pad_has_no_converter(kw):
    # {kTensor, kIgnored} inputs and GetAttr("padding"): Relax's pad has one tensor and pad_width
    d = check(nn.pad(X4, [0, 0, 0, 0, 1, 1, 1, 1]), False, "no-converter", **kw)
    assert "PadOpConverter" in d.source
    # no-converter comes first, whatever else the call has
    check(nn.pad(var((2, 3), "int32"), [1, 1, 1, 1], pad_mode="edge"), False, "no-converter", **kw)


# -- pooling dilation: ops.cc:PoolingOpConverter / Pooling3DOpConverter set no dilation ------------------
def test_pool_dilation_only_where_the_window_is_wider_than_one():
    check(nn.max_pool2d(X4, (2, 2), dilation=(2, 1)), False, "attr")
    check(nn.avg_pool2d(X4, (1, 2), dilation=(1, 2)), False, "attr")
    check(nn.max_pool2d(X4, (1, 3), dilation=(2, 1)), True, "supported")     # window 1 on the dilated axis
    check(nn.max_pool2d(X4, (1, 1), dilation=(2, 2)), True, "supported")
    check(nn.max_pool2d(X4, (2, 2)), True, "supported")
    x5 = var((1, 2, 4, 4, 4))
    check(nn.max_pool3d(x5, (1, 2, 2), dilation=(3, 1, 1)), True, "supported")
    check(nn.avg_pool3d(x5, (2, 1, 2), dilation=(1, 1, 2)), False, "attr")

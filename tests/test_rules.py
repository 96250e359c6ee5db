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

import tvm
from harness import rules
from harness.tvmcompat import tensor_type, uses_struct_info

tir = getattr(tvm, "tirx", None) or tvm.tir          # tvm.tir before 0.27

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


def test_permute_dims_negative_axes():
    # ops.cc:TransposeOpConverter copies axes into nvinfer1::Permutation without normalising them
    x = var((2, 3, 4))
    for kw in (EXPLICIT, IMPLICIT):
        check(op.permute_dims(x, [-3, 2, 1]), False, "attr", **kw)
        check(op.permute_dims(x, [0, -1, 1]), False, "attr", **kw)
    check(op.permute_dims(x, [0, 2, 1]), True, "supported", **IMPLICIT)


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


# -- nn.pad: a table claim the partitioner never honours (and ops.cc:PadOpConverter is Relay's) --------------
@pytest.mark.parametrize("kw", [EXPLICIT, IMPLICIT, {"trt_version": (5, 0, 2)}])
def test_pad_is_a_table_claim_that_does_not_hold(kw):
    # the table claims it (expected offload), so the partitioner's refusal is an under-offload, never a match;
    # the reason says the converter ({kTensor, kIgnored} inputs, GetAttr("padding")) could not take it anyway
    d = check(nn.pad(X4, [0, 0, 0, 0, 1, 1, 1, 1]), True, "table-claim", **kw)
    assert "PadOpConverter" in d.source and "no pattern" in d.reason
    assert "the converter could not take Relax's attributes anyway" in d.reason
    # table-claim comes first, whatever else the call has
    check(nn.pad(var((2, 3), "int32"), [1, 1, 1, 1], pad_mode="edge"), True, "table-claim", **kw)


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


# -- decide(): table, versions, dtypes, shapes -----------------------------------------------------------
def test_not_in_table():
    check(nn.gelu(X4), False, "not-in-table")
    check(nn.relu(X4), True, "supported")


@pytest.mark.parametrize("expr,minimum,below", [
    (lambda: op.clip(X4, 0, 1), (5, 1, 5), (5, 0, 2)),                        # seed table: clip 5.1.5
    (lambda: nn.leakyrelu(X4, 0.1), (5, 1, 5), (5, 0, 2)),
    (lambda: nn.conv3d(var((1, 2, 4, 4, 4)), const((3, 2, 1, 1, 1))), (6, 0, 1), (5, 1, 5)),  # 6.0.1
    (lambda: nn.max_pool3d(var((1, 2, 4, 4, 4)), (2, 2, 2)), (6, 0, 1), (5, 1, 5)),
    (lambda: op.erf(X4), (7, 0, 0), (6, 0, 1)),                               # UnaryOpConverter erf 7.0.0
    (lambda: resize(), (8, 0, 0), (7, 2, 3)),                                 # Resize2DOpConverter 8.0.0
], ids=["clip", "leaky_relu", "conv3d", "max_pool3d", "erf", "resize2d"])
def test_version_boundaries(expr, minimum, below):
    check(expr(), True, "supported", trt_version=minimum, implicit_batch=False)
    d = check(expr(), False, "version", trt_version=below, implicit_batch=False)
    assert ".".join(map(str, minimum)) in d.reason or "8, 0, 0" in d.source


def test_ops_without_minimum_and_extra_converters():
    check(nn.relu(X4), True, "supported", trt_version=(5, 0, 2))
    d = check(nn.silu(X4), True, "supported", trt_version=(5, 0, 2))       # ops.cc:SiluOpConverter, no guard
    assert "not in the seed's table" in d.source
    assert "seed table (nn.relu)" == decide(nn.relu(X4)).source


@pytest.mark.parametrize("dtype,offload", [("float32", True), ("float16", True), ("int32", False),
                                           ("float64", False), ("int8", False), ("bool", False)])
def test_dtype(dtype, offload):
    # builder.cc DLDataType2NVDataType ICHECK(kDLFloat, 16/32 bits) for inputs and layer outputs
    d = check(op.add(var((2, 3), dtype), var((2, 3), dtype, "y")), offload, "supported" if offload else "dtype")
    if not offload:
        assert "builder" in d.reason and "int32 layers" in d.reason
        assert "DLDataType2NVDataType" in d.source and "runtime.cc" in d.source
        assert "runtime takes only" not in d.reason            # TensorRT 10's runtime is not the limit


def test_dtype_of_outputs_and_tuple_fields():
    # AddLayer calls out->setType(DLDataType2NVDataType(dtype)) on every output
    mm = op.matmul(var((2, 3)), const((3, 4)), out_dtype="float64")
    check(mm, False, "dtype")
    check(op.concat([var((2, 3), "int32"), var((2, 3), "int32", "y")], axis=1), False, "dtype")


def test_dynamic_shape_and_rank():
    n = tir.Var("n", "int64")
    check(nn.relu(var((n, 3))), False, "dynamic-shape")
    unknown = (relax.TensorStructInfo if uses_struct_info() else relax.TensorType)(ndim=2, dtype="float32")
    check(nn.relu(relax.Var("u", unknown)), False, "dynamic-shape")
    check(nn.relu(var((1,) * 8)), True, "supported")                         # Dims::MAX_DIMS = 8
    check(nn.relu(var((1,) * 9)), False, "rank")


def test_rank0_only_under_implicit_batch():
    check(nn.relu(var(())), True, "supported", **EXPLICIT)
    d = check(nn.relu(var(())), False, "implicit-batch", **IMPLICIT)
    assert d.reason.startswith("under implicit batch")


def test_implicit_batch_default_follows_the_version():
    # versions.implicit_batch_default: implicit batch before TensorRT 10
    check(op.sum(X4, axis=[0]), False, "implicit-batch", trt_version=TRT8)
    check(op.sum(X4, axis=[0]), True, "supported", trt_version=TRT10)
    check(op.sum(X4, axis=[0]), True, "supported", trt_version=TRT8, implicit_batch=False)


# -- convolutions: ops.cc:Conv1D/2D/3D/Conv2DTranspose/Conv3DTransposeOpConverter ------------------------
def test_conv_layouts():
    # ICHECK_EQ(data_layout, "NCHW") / ICHECK_EQ(kernel_layout, "OIHW")
    check(nn.conv1d(var((1, 2, 5)), const((3, 2, 3))), True, "supported")
    check(nn.conv2d(var((1, 2, 5, 5)), const((3, 2, 3, 3))), True, "supported")
    check(nn.conv2d(var((1, 5, 5, 2)), const((3, 3, 3, 2)), data_layout="NHWC", kernel_layout="OHWI"),
          False, "layout")
    check(nn.conv2d(var((1, 2, 5, 5)), const((3, 3, 2, 3)), kernel_layout="HWIO"), False, "layout")
    check(nn.conv1d(var((1, 5, 2)), const((3, 2, 3)), data_layout="NWC"), False, "layout")
    # ICHECK(out_layout == "" || out_layout == "NCHW")
    d = check(nn.conv2d(var((1, 2, 5, 5)), const((3, 2, 3, 3)), out_layout="NHWC"), False, "layout")
    assert "out_layout" in d.reason
    check(nn.conv2d(var((1, 2, 5, 5)), const((3, 2, 3, 3)), out_layout="NCHW"), True, "supported")
    check(nn.conv2d_transpose(var((1, 2, 5, 5)), const((3, 2, 3, 3)), kernel_layout="OIHW"), False, "layout")


def test_conv_weight_must_be_constant():
    # input kinds {kTensor, kWeight}: builder.cc AddLayer "Input 1 must be a constant"
    check(nn.conv2d(var((1, 2, 5, 5)), var((3, 2, 3, 3), name="w")), False, "weight-not-constant")
    check(nn.conv2d_transpose(var((1, 2, 5, 5)), var((2, 3, 3, 3), name="w")), False, "weight-not-constant")


def test_conv_transpose_dilation_and_output_padding():
    x = var((1, 2, 5, 5))
    # ICHECK(dilation[0] == 1 && dilation[1] == 1)
    check(nn.conv2d_transpose(x, const((2, 3, 3, 3)), dilation=(1, 2)), False, "attr")
    # 2-D output padding becomes a padding layer: fine
    check(nn.conv2d_transpose(x, const((2, 3, 3, 3)), strides=2, output_padding=1), True, "supported")
    # Conv3DTransposeOpConverter: "TRT does not support padding on 3 dimensions"
    x3 = var((1, 2, 3, 3, 3))
    check(nn.conv3d_transpose(x3, const((2, 3, 2, 2, 2)), strides=2, output_padding=(0, 0, 1)), False, "attr")
    check(nn.conv3d_transpose(x3, const((2, 3, 2, 2, 2)), strides=2), True, "supported")
    check(nn.conv3d_transpose(x3, const((2, 3, 2, 2, 2)), dilation=(2, 1, 1)), False, "attr")
    # forward convolutions take dilation (setDilationNd)
    check(nn.conv2d(var((1, 2, 7, 7)), const((3, 2, 3, 3)), dilation=2), True, "supported")


# -- pooling: ops.cc:PoolingOpConverter / Pooling3DOpConverter -----------------------------------------
def test_pool_layout():
    check(nn.max_pool2d(var((2, 4, 4, 3)), (2, 2), layout="NHWC"), False, "layout")
    check(nn.avg_pool3d(var((1, 4, 4, 4, 2)), (2, 2, 2), layout="NDHWC"), False, "layout")
    d = check(nn.max_pool2d(X4, (2, 2), out_layout="NHWC"), False, "layout")
    assert "out_layout" in d.reason
    check(nn.max_pool2d(X4, (2, 2), out_layout="NCHW"), True, "supported")


def test_pool_ceil_mode_version():
    # PoolingOpConverter: TRT_VERSION_GE(5, 1, 5) kEXPLICIT_ROUND_UP, else ICHECK(!ceil_mode)
    check(nn.max_pool2d(X4, (3, 3), ceil_mode=True), True, "supported", trt_version=(5, 1, 5))
    d = check(nn.max_pool2d(X4, (3, 3), ceil_mode=True), False, "version", trt_version=(5, 0, 2))
    assert "5.1.5" in d.reason
    check(nn.max_pool2d(X4, (3, 3)), True, "supported", trt_version=(5, 0, 2))


def test_avg_pool_count_include_pad_asymmetric():
    # relay:avg_pool2d annotation: count_include_pad with asymmetric padding rejected
    check(nn.avg_pool2d(X4, (2, 2), padding=(1, 1, 0, 0), count_include_pad=True), False, "attr")
    check(nn.avg_pool2d(X4, (2, 2), padding=(0, 1, 0, 0), count_include_pad=True), False, "attr")
    check(nn.avg_pool2d(X4, (2, 2), padding=(1, 1, 1, 1), count_include_pad=True), True, "supported")
    check(nn.avg_pool2d(X4, (2, 2), padding=(1, 1, 0, 0), count_include_pad=False), True, "supported")
    check(nn.max_pool2d(X4, (2, 2), padding=(1, 1, 0, 0)), True, "supported")
    x5 = var((1, 2, 4, 4, 4))
    check(nn.avg_pool3d(x5, (2, 2, 2), padding=(1, 0, 0, 0, 0, 0), count_include_pad=True), False, "attr")
    check(nn.avg_pool3d(x5, (2, 2, 2), padding=(1, 1, 1, 1, 1, 1), count_include_pad=True), True, "supported")


# -- matmul: ops.cc:BatchMatmulOpConverter / DenseOpConverter -------------------------------------------
def test_matmul_ranks():
    # addMatrixMultiply(kNONE, kNONE): equal ranks >= 2
    check(op.matmul(var((2, 3)), const((3, 4))), True, "supported")
    check(op.matmul(var((2, 2, 3)), var((2, 3, 4), name="y")), True, "supported")
    check(op.matmul(var((3,)), var((3, 4), name="y")), False, "rank")
    check(op.matmul(var((2, 3)), var((3,), name="y")), False, "rank")
    d = check(op.matmul(var((2, 2, 3)), var((3, 4), name="y")), False, "rank")
    assert "equal ranks" in d.reason


def test_matmul_batch_broadcast_under_implicit_batch():
    # relay:batch_matmul annotation
    a, b = var((2, 2, 3)), var((1, 3, 4), name="y")
    d = check(op.matmul(a, b), False, "implicit-batch", **IMPLICIT)
    assert d.reason.startswith("under implicit batch")
    check(op.matmul(a, b), True, "supported", **EXPLICIT)
    check(op.matmul(a, var((2, 3, 4), name="y")), True, "supported", **IMPLICIT)
    check(op.matmul(var((2, 3)), var((3, 4), name="y")), True, "supported", **IMPLICIT)


# -- element-wise: ops.cc:ElementWiseBinaryOpConverter ---------------------------------------------------
@pytest.mark.parametrize("fn", [op.add, op.subtract, op.multiply, op.divide, op.power, op.maximum, op.minimum],
                         ids=lambda f: f.__name__)
def test_elementwise_batch_broadcast(fn):
    x = var((2, 3))
    check(fn(x, var((2, 3), name="y")), True, "supported", **IMPLICIT)
    d = check(fn(x, var((3,), name="y")), False, "implicit-batch", **IMPLICIT)       # rank differs
    assert d.reason.startswith("under implicit batch")
    check(fn(x, var((1, 3), name="y")), False, "implicit-batch", **IMPLICIT)         # batch 1 vs 2
    check(fn(var((1, 3), name="y"), x), False, "implicit-batch", **IMPLICIT)
    check(fn(x, const((3,))), True, "supported", **IMPLICIT)                         # constant: no batch
    check(fn(const((1, 3)), x), True, "supported", **IMPLICIT)
    check(fn(x, var((3,), name="y")), True, "supported", **EXPLICIT)


# -- layer_norm / batch_norm: ops.cc:LayerNormOpConverter / BatchNormOpConverter -------------------------
def test_layer_norm():
    # input kinds {kTensor, kWeight, kWeight}; ConvertAxis per normalised axis
    check(nn.layer_norm(X4, const((4,)), const((4,)), axes=[-1]), True, "supported", **IMPLICIT)
    check(nn.layer_norm(X4, var((4,), name="g"), const((4,)), axes=[-1]), False, "weight-not-constant")
    check(nn.layer_norm(X4, const((4,)), var((4,), name="b"), axes=[-1]), False, "weight-not-constant")
    check(nn.layer_norm(X4, const((2,)), const((2,)), axes=[0]), False, "implicit-batch", **IMPLICIT)
    check(nn.layer_norm(X4, const((2,)), const((2,)), axes=[0]), True, "supported", **EXPLICIT)


def batch_norm(x, c=3, training=False):
    # Relax's batch_norm defaults to training=True; the converter computes inference only
    return nn.batch_norm(x, const((c,)), const((c,)), const((c,)), const((c,)), axis=1, training=training)


def test_batch_norm():
    check(batch_norm(X4), True, "supported", **IMPLICIT)
    check(nn.batch_norm(X4, var((3,), name="g"), const((3,)), const((3,)), const((3,)), axis=1, training=False),
          False, "weight-not-constant")
    check(nn.batch_norm(X4, const((3,)), const((3,)), const((3,)), var((3,), name="v"), axis=1, training=False),
          False, "weight-not-constant")
    # ICHECK_LE(rank, max_rank): 5 counting the batch, in either mode
    for kw in (EXPLICIT, IMPLICIT):
        check(batch_norm(var((1, 3, 2, 2, 2))), True, "supported", **kw)
        check(batch_norm(var((1, 3, 2, 2, 2, 2))), False, "rank", **kw)
    # addScaleNd needs 6.0.1 for 5-D; 4-D goes through addScale before
    check(batch_norm(var((1, 3, 2, 2, 2))), False, "version", trt_version=(5, 1, 5))
    check(batch_norm(var((1, 3, 2, 2, 2))), True, "supported", trt_version=(6, 0, 1))
    check(batch_norm(X4), True, "supported", trt_version=(5, 1, 5))
    check(batch_norm(X4, training=True), False, "attr")


# -- layout_transform / reshape / strided_slice / expand_dims / softmax / split / batch_flatten -------------
def test_layout_transform_pure_permutation():
    # LayoutTransformOpConverter ICHECK HasAttr("arg_axes"): pure permutations only
    check(op.layout_transform(X4, index_map=lambda n, c, h, w: (n, h, w, c)), True, "supported")
    check(op.layout_transform(X4, index_map=lambda n, c, h, w: (n, c // 3, h, w, c % 3)), False, "attr")


def test_reshape_batch_dimension():
    check(op.reshape(X4, (2, 48)), True, "supported", **IMPLICIT)
    d = check(op.reshape(X4, (4, 24)), False, "implicit-batch", **IMPLICIT)
    assert d.reason.startswith("under implicit batch")
    check(op.reshape(X4, (4, 24)), True, "supported", **EXPLICIT)
    check(op.reshape(const((2, 6)), (3, 4)), True, "supported", **IMPLICIT)        # a constant has no batch


def test_strided_slice():
    # StridedSliceOpConverter ICHECK_GT(stride, 0)
    check(op.strided_slice(X4, [1], [0], [2], [1]), True, "supported")
    d = check(op.strided_slice(X4, [1], [2], [0], [-1]), False, "attr")
    assert "strides [-1]" in d.reason                                          # plain ints in the reason
    check(op.strided_slice(X4, [1], [0], [2]), True, "supported")                # no strides argument
    # every listed axis goes through ConvertAxis: ICHECK_NE(axis, 0) under implicit batch
    d = check(op.strided_slice(X4, [0], [0], [1]), False, "implicit-batch", **IMPLICIT)
    assert d.reason.startswith("under implicit batch") and "StridedSliceOpConverter" in d.source
    check(op.strided_slice(X4, [-4], [0], [1]), False, "implicit-batch", **IMPLICIT)
    # ... even when the batch is kept whole (Relay's checker allowed this; the Relax converter does not)
    check(op.strided_slice(X4, [0], [0], [2]), False, "implicit-batch", **IMPLICIT)
    check(op.strided_slice(X4, [1, 0], [0, 0], [1, 2]), False, "implicit-batch", **IMPLICIT)
    check(op.strided_slice(X4, [1], [0], [1]), True, "supported", **IMPLICIT)
    check(op.strided_slice(X4, [1, -1], [0, 1], [1, 3], [1, 2]), True, "supported", **IMPLICIT)
    check(op.strided_slice(X4, [0], [0], [1]), True, "supported", **EXPLICIT)


def test_expand_dims():
    # ExpandDimsOpConverter -> ConvertAxis ICHECK_NE(axis, 0) under implicit batch
    d = check(op.expand_dims(X4, [0]), False, "implicit-batch", **IMPLICIT)
    assert d.reason.startswith("under implicit batch")
    check(op.expand_dims(X4, [-5]), False, "implicit-batch", **IMPLICIT)
    check(op.expand_dims(X4, [1]), True, "supported", **IMPLICIT)
    check(op.expand_dims(X4, [-1]), True, "supported", **IMPLICIT)
    check(op.expand_dims(X4, [0]), True, "supported", **EXPLICIT)


def test_softmax_and_split_axis():
    # SoftmaxOpConverter / SplitOpConverter -> ConvertAxis
    d = check(nn.softmax(X4, axis=0), False, "implicit-batch", **IMPLICIT)
    assert "SoftmaxOpConverter" in d.source and d.reason.startswith("under implicit batch")
    check(nn.softmax(X4, axis=-1), True, "supported", **IMPLICIT)
    check(nn.softmax(X4, axis=0), True, "supported", **EXPLICIT)
    d = check(op.split(X4, 2, axis=0), False, "implicit-batch", **IMPLICIT)
    assert "SplitOpConverter" in d.source
    check(op.split(X4, 2, axis=2), True, "supported", **IMPLICIT)
    check(op.split(X4, 2, axis=0), True, "supported", **EXPLICIT)


def test_batch_flatten_any_mode():
    # BatchFlattenOpConverter handles both modes
    check(nn.batch_flatten(X4), True, "supported", **IMPLICIT)
    check(nn.batch_flatten(X4), True, "supported", **EXPLICIT)


# -- item 5: every implicit-batch decision says so -----------------------------------------------------------
@pytest.mark.parametrize("expr", [
    lambda: op.sum(X4, keepdims=True), lambda: op.sum(X4, axis=[0]), lambda: op.permute_dims(X4, [1, 0, 2, 3]),
    lambda: op.expand_dims(X4, [0]), lambda: op.reshape(X4, (4, 24)), lambda: op.strided_slice(X4, [0], [0], [1]),
    lambda: op.add(X4, var((4,), name="y")), lambda: op.matmul(var((2, 2, 3)), var((1, 3, 4), name="y")),
    lambda: nn.relu(var(())), lambda: op.concat([X4, var((2, 3, 4, 4), name="y")], axis=0),
], ids=["reduce-none", "reduce-axis0", "transpose", "expand_dims", "reshape", "strided_slice", "elementwise",
        "matmul", "rank0", "concat"])
def test_implicit_batch_reasons_say_so(expr):
    d = check(expr(), False, "implicit-batch", **IMPLICIT)
    assert d.reason.startswith("under implicit batch"), d.reason
    assert decide(expr(), trt_version=TRT8, implicit_batch=False).offload


# -- the public interface ------------------------------------------------------------------------------------
def test_decision_to_json():
    d = decide(nn.pad(X4, [0, 0, 0, 0, 1, 1, 1, 1]))
    assert d.to_json() == {"offload": True, "rule": "table-claim", "reason": d.reason, "source": d.source}
    assert rules.Decision(True, "supported", "r", "s").to_json() == {
        "offload": True, "rule": "supported", "reason": "r", "source": "s"}


def test_signature_tells_calls_apart():
    a = rules.signature(call(op.sum(X4, axis=[1])))
    assert a[0] == "relax.sum" and a[1] == (("float32", (2, 3, 4, 4)),) and "axis" in a[2]
    assert a == rules.signature(call(op.sum(X4, axis=[1])))
    assert a != rules.signature(call(op.sum(X4, axis=[2])))
    assert rules.signature(call(op.concat([X4, var((2, 1, 4, 4), name="y")], axis=1)))[1] == (
        ("float32", (2, 3, 4, 4)), ("float32", (2, 1, 4, 4)))
    assert rules.signature(call(op.sum(var((2, 3), "float16"), axis=[1])))[1] == (("float16", (2, 3)),)
    assert rules.signature(call(op.add(X4, X4)))[2] == ""


def test_rule_decorator_registers_a_check(monkeypatch):
    monkeypatch.setattr(rules.base, "_RULES", {k: list(v) for k, v in rules.base._RULES.items()})
    seen = []

    @rules.rule("relax.nn.relu", "relax.abs")
    def _veto(c, o, ctx):
        seen.append((o, ctx.version, ctx.implicit_batch))
        with pytest.raises(AttributeError):       # a rule cannot change the context of the others
            ctx.implicit_batch = not ctx.implicit_batch
        return rules.Decision(False, "attr", "test veto", "test") if o == "relax.abs" else None

    check(nn.relu(X4), True, "supported", trt_version=TRT8)
    check(op.abs(X4), False, "attr")
    assert seen == [("relax.nn.relu", TRT8, True), ("relax.abs", TRT10, False)]


# -- cases that pin each comparison (found by mutation testing, docs/mutation-testing.md) ---------------------
CHWN = var((4, 5, 5, 1))        # a layout that sorts before "NCHW"


def test_layout_checks_are_equality_not_order():
    # conv / pool / adaptive pool / resize: ICHECK_EQ(layout, "NCHW"); out_layout NCHW does not save it
    cases = [
        nn.conv2d(CHWN, const((3, 4, 3, 3)), data_layout="CHWN", out_layout="NCHW"),
        nn.conv2d(var((1, 5, 5, 2)), const((3, 2, 3, 3)), data_layout="NHWC", out_layout="NCHW"),
        nn.max_pool2d(CHWN, (2, 2), layout="CHWN", out_layout="NCHW"),
        nn.max_pool2d(var((2, 4, 4, 3)), (2, 2), layout="NHWC", out_layout="NCHW"),
        nn.max_pool3d(var((4, 5, 5, 5, 1)), (2, 2, 2), layout="CDHWN", out_layout="NCDHW"),
        nn.adaptive_avg_pool2d(CHWN, (1, 1), layout="CHWN", out_layout="NCHW"),
        resize(CHWN, layout="CHWN"),
    ]
    for expr in cases:
        d = check(expr, False, "layout")
        assert "out_layout" not in d.reason, d.reason


def test_dilation_must_be_exactly_one():
    # Relax type-checks dilation 0; the converters take exactly 1 (Conv2DTranspose ICHECK dilation == 1)
    check(nn.max_pool2d(X4, (2, 2), dilation=(0, 1)), False, "attr")
    check(nn.conv2d_transpose(var((1, 2, 5, 5)), const((2, 3, 3, 3)), dilation=(0, 1)), False, "attr")


def test_asymmetric_padding_either_way():
    # count_include_pad with padding before < after as well as before > after
    check(nn.avg_pool2d(X4, (2, 2), padding=(0, 0, 1, 1), count_include_pad=True), False, "attr")


def test_resize2d_out_dtype_either_way():
    check(resize(var((2, 3, 4, 4), "float16"), out_dtype="float32"), False, "attr")


def test_matmul_rank_reasons():
    # rank < 2 is its own reason (MatrixOperation::kNONE), before the equal-rank one
    for a, b in [((3,), (3, 4)), ((2, 3), (3,))]:
        d = check(op.matmul(var(a), var(b, name="y")), False, "rank")
        assert ">= 2" in d.reason, d.reason
    check(op.matmul(var((2, 3)), var((2, 3, 4), name="y")), False, "rank")


def test_batch_compared_by_value():
    # batch sizes above 256 are distinct int objects in CPython: the rules must compare values
    b = 300
    check(op.add(var((b, 3)), var((b, 3), name="y")), True, "supported", **IMPLICIT)
    check(op.matmul(var((b, 2, 3)), var((b, 3, 4), name="y")), True, "supported", **IMPLICIT)
    check(op.reshape(var((b, 4)), (b, 2, 2)), True, "supported", **IMPLICIT)
    # matmul compares the batch (dim 0) of both operands, not another dim
    check(op.matmul(var((2, 3, 4)), var((2, 4, 5), name="y")), True, "supported", **IMPLICIT)


def test_elementwise_rank_differs_with_equal_leading_dim():
    check(op.add(var((3, 3)), var((3,), name="y")), False, "implicit-batch", **IMPLICIT)
    check(op.add(var((3,)), var((3, 3), name="y")), False, "implicit-batch", **IMPLICIT)


def test_negative_axis_of_a_rank1_tensor_is_the_batch_axis():
    check(nn.softmax(var((5,)), axis=-1), False, "implicit-batch", **IMPLICIT)
    check(nn.softmax(var((5,)), axis=-1), True, "supported", **EXPLICIT)


def test_decision_is_a_frozen_value():
    import dataclasses

    d = rules.Decision(True, "supported", "r", "s")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.offload = False
    assert d == rules.Decision(True, "supported", "r", "s") and hash(d) == hash(rules.Decision(True, "supported",
                                                                                               "r", "s"))


def test_decide_takes_the_version_by_keyword_only():
    with pytest.raises(TypeError):
        rules.decide(call(nn.relu(X4)), TRT10)


def test_ceil_mode_on_later_versions():
    check(nn.max_pool2d(X4, (3, 3), ceil_mode=True), True, "supported", **EXPLICIT)
    check(nn.avg_pool3d(var((1, 2, 4, 4, 4)), (3, 3, 3), ceil_mode=True), True, "supported", **EXPLICIT)


def test_matmul_batch_either_way_and_any_rank():
    check(op.matmul(var((1, 2, 3)), var((2, 3, 4), name="y")), False, "implicit-batch", **IMPLICIT)
    check(op.matmul(var((1, 2, 2, 3)), var((2, 2, 3, 4), name="y")), False, "implicit-batch", **IMPLICIT)


def test_batch_norm_low_rank_before_6():
    check(batch_norm(var((2, 3, 4))), True, "supported", trt_version=(5, 1, 5))


def test_reshape_batch_shrinks():
    check(op.reshape(var((4, 6)), (2, 12)), False, "implicit-batch", **IMPLICIT)


def test_strided_slice_strides_not_ends():
    # the stride check reads the strides argument only: a negative end is fine
    check(op.strided_slice(X4, [1], [0], [-1], [1]), True, "supported")


def test_layout_transform_non_permutations():
    check(op.layout_transform(X4, index_map=lambda n, c, h, w: (n, c, h * 4 + w)), False, "attr")
    check(op.layout_transform(X4, index_map=lambda n, c, h, w: (tir.const(0, "int64"), n, c, h * 4 + w)),
          False, "attr")


def test_degenerate_attrs_relax_accepts():
    # Relax type-checks these; the converters compute something else or fail
    x3 = var((1, 2, 3, 3, 3))
    check(nn.conv3d_transpose(x3, const((2, 3, 2, 2, 2)), strides=2, output_padding=(-1, 0, 0)), False, "attr")
    check(nn.max_pool2d(X4, (0, 2), dilation=(2, 1)), False, "attr")       # window extent d * (k - 1) + 1
    check(nn.adaptive_avg_pool2d(X4, (1, 0)), False, "attr")

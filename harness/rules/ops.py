"""The per-op rules: what each TensorRT converter in the wheel takes, with its source cited."""
from __future__ import annotations

from .base import _attr, _ints, _is_const, _no, _norm_axis, _shape, _tensor_types, _ty, rule


_CONV_LAYOUTS = {
    "relax.nn.conv1d": ("NCW", "OIW", "ops.cc:Conv1DOpConverter"),
    "relax.nn.conv2d": ("NCHW", "OIHW", "ops.cc:Conv2DOpConverter"),
    "relax.nn.conv3d": ("NCDHW", "OIDHW", "ops.cc:Conv3DOpConverter"),
    "relax.nn.conv2d_transpose": ("NCHW", "IOHW", "ops.cc:Conv2DTransposeOpConverter"),
    "relax.nn.conv3d_transpose": ("NCDHW", "IODHW", "ops.cc:Conv3DTransposeOpConverter"),
}


@rule(*_CONV_LAYOUTS)
def _conv(call, op, ctx):
    data_layout, kernel_layout, src = _CONV_LAYOUTS[op]
    if str(_attr(call, "data_layout")) != data_layout or str(_attr(call, "kernel_layout")) != kernel_layout:
        return _no("layout", f"layout {_attr(call, 'data_layout')}/{_attr(call, 'kernel_layout')}; "
                   f"the converter takes only {data_layout}/{kernel_layout}", f"{src} ICHECK_EQ data_layout; "
                   f"relay:conv annotation")
    out_layout = _attr(call, "out_layout")
    if out_layout is not None and str(out_layout) not in ("", data_layout):
        return _no("layout", f"out_layout {out_layout}", f"{src} ICHECK out_layout")
    if not _is_const(call.args[1]):
        return _no("weight-not-constant", "the weight is not a constant", f"{src} input kinds {{kTensor, kWeight}}")
    if "transpose" in op:
        groups = int(_attr(call, "groups"))
        if groups != 1:
            return _no("attr", f"grouped transposed convolution (groups={groups}): the converter passes "
                       "weight_shape[1] (C_out/groups: Relax's kernel is [C_in, C_out/groups, k...]) to "
                       "addDeconvolutionNd as the total number of output maps, so TensorRT builds another layer",
                       f"{src} num_outputs = weight_shape[1]; setNbGroups(groups)")
        if any(int(d) != 1 for d in _attr(call, "dilation")):
            return _no("attr", "transposed convolution with dilation != 1", f"{src} ICHECK dilation == 1")
        if op.endswith("conv3d_transpose") and any(int(p) != 0 for p in _attr(call, "output_padding")):
            return _no("attr", "conv3d_transpose with output_padding != 0",
                       f"{src} ICHECK 'TRT does not support padding on 3 dimensions'")
    return None


_POOLS = {
    "relax.nn.max_pool2d": ("NCHW", "ops.cc:PoolingOpConverter"),
    "relax.nn.avg_pool2d": ("NCHW", "ops.cc:PoolingOpConverter"),
    "relax.nn.max_pool3d": ("NCDHW", "ops.cc:Pooling3DOpConverter"),
    "relax.nn.avg_pool3d": ("NCDHW", "ops.cc:Pooling3DOpConverter"),
}


@rule(*_POOLS)
def _pool(call, op, ctx):
    layout, src = _POOLS[op]
    if str(_attr(call, "layout")) != layout:
        return _no("layout", f"layout {_attr(call, 'layout')}; the converter takes only {layout}",
                   f"{src} ICHECK_EQ layout; relay:pool annotation")
    out_layout = _attr(call, "out_layout")
    if out_layout is not None and str(out_layout) not in ("", layout):
        return _no("layout", f"out_layout {out_layout}", f"{src}")
    # A window spans d * (k - 1) + 1 elements: dilation changes nothing along an axis whose window is 1.
    pool_size = [int(k) for k in _attr(call, "pool_size")]
    dilation = [int(d) for d in _attr(call, "dilation")]
    if any(d != 1 and k != 1 for k, d in zip(pool_size, dilation)):
        return _no("attr", f"pooling window {pool_size} with dilation {dilation}: the converter never sets a "
                   "dilation, so TensorRT would pool a dense window", f"{src} (no dilation handling)")
    if bool(_attr(call, "ceil_mode")) and ctx.version < (5, 1, 5):
        return _no("version", "ceil_mode needs TensorRT 5.1.5", f"{src} TRT_VERSION_GE(5, 1, 5); relay:pool")
    if op.startswith("relax.nn.avg_pool") and bool(_attr(call, "count_include_pad")):
        pad = [int(p) for p in _attr(call, "padding")]
        n = len(pad) // 2
        if pad[:n] != pad[n:]:
            return _no("attr", "avg pooling with count_include_pad and asymmetric padding",
                       "relay:avg_pool2d annotation (TensorRT cannot count asymmetric padding)")
    return None


@rule("relax.nn.adaptive_avg_pool2d")
def _adaptive(call, op, ctx):
    if str(_attr(call, "layout")) != "NCHW":
        return _no("layout", f"layout {_attr(call, 'layout')}; the converter takes only NCHW",
                   "ops.cc:AdaptivePoolingOpConverter ICHECK_EQ layout")
    out = _attr(call, "output_size")
    if out is None:   # Relax: the output keeps the input's spatial size
        out = _shape(_ty(call.args[0]))[2:4]   # static: decide() rejected unknown shapes already
        what = f"output_size=None (keeps the input size {out})"
    else:
        out = [int(v) for v in out]
        what = f"output_size {out}"
    if out != [1, 1]:
        return _no("attr", f"{what}: the converter always pools to 1x1 "
                   "(output_size = DimsHW(1, 1)), so any other size computes the wrong result",
                   "ops.cc:AdaptivePoolingOpConverter; relay:adaptive_pool2d annotation (output_size (1,1) only)")
    return None


@rule("relax.matmul")
def _matmul(call, op, ctx):
    a, b = (_shape(_ty(x)) for x in call.args[:2])   # static: decide() rejected unknown shapes
    if len(a) < 2 or len(b) < 2:
        return _no("rank", f"matmul of ranks {len(a)} and {len(b)}: the converter passes MatrixOperation::kNONE, "
                   "which needs both inputs of rank >= 2", "ops.cc:BatchMatmulOpConverter; trt-docs:IMatrixMultiplyLayer")
    if len(a) != len(b):
        return _no("rank", f"matmul of ranks {len(a)} and {len(b)}: TensorRT needs equal ranks and the converter "
                   "does not reshape", "ops.cc:BatchMatmulOpConverter; trt-docs:IMatrixMultiplyLayer")
    if ctx.implicit_batch and len(a) >= 3 and (a[0] != b[0]):  # relay: same rank, batch not broadcast
        return _no("implicit-batch", f"under implicit batch, matmul of {a} and {b} broadcasts the batch dimension",
                   "relay:batch_matmul annotation")
    return None


_ELEMWISE = ("relax.add", "relax.subtract", "relax.multiply", "relax.divide", "relax.power",
             "relax.maximum", "relax.minimum")


@rule(*_ELEMWISE)
def _elemwise(call, op, ctx):
    shapes = [_shape(_ty(x)) for x in call.args[:2]]
    if ctx.implicit_batch and all(s is not None for s in shapes):
        a, b = shapes
        consts = [_is_const(x) for x in call.args[:2]]
        if not any(consts) and (len(a) != len(b) or (a and b and a[0] != b[0])):
            return _no("implicit-batch", f"under implicit batch, element-wise op of shapes {a} and {b} broadcasts "
                       "over the batch dimension, which that mode cannot express", "relay:elementwise annotation")
    return None


@rule("relax.nn.layer_norm")
def _layer_norm(call, op, ctx):
    if not (_is_const(call.args[1]) and _is_const(call.args[2])):
        return _no("weight-not-constant", "gamma/beta are not constants",
                   "ops.cc:LayerNormOpConverter input kinds {kTensor, kWeight, kWeight}")
    return _batch_axes(call, [int(a) for a in _attr(call, "axes")], ctx, "LayerNormOpConverter")


@rule("relax.nn.batch_norm")
def _batch_norm(call, op, ctx):
    if not all(_is_const(a) for a in call.args[1:5]):
        return _no("weight-not-constant", "batch_norm statistics are not constants",
                   "ops.cc:BatchNormOpConverter input kinds {kTensor, kWeight x4}")
    # ICHECK_LE(input_dims.size(), max_rank): 4 dims without the batch under implicit batch, 5 with it in
    # explicit batch, so 5 counting the batch in either mode.
    rank = len(_shape(_ty(call.args[0])))
    if rank > 5:
        return _no("rank", f"batch_norm of rank {rank}", "ops.cc:BatchNormOpConverter ICHECK_LE(rank, max_rank)")
    if ctx.version < (6, 0, 1) and rank > 4:
        return _no("version", "5-D batch_norm needs TensorRT 6.0.1", "ops.cc:BatchNormOpConverter addScaleNd")
    if bool(_attr(call, "training", False)):
        return _no("attr", "batch_norm in training mode", "relay:batch_norm (inference only)")
    return None


@rule("relax.layout_transform")
def _layout_transform(call, op, ctx):
    # A pure permutation's final indices are its initial variables, reordered (codegen.cc
    # TrySetLayoutTransformAttributes emits arg_axes only then); equal sorted lists imply equal lengths.
    index_map = _attr(call, "index_map")
    src = [str(v) for v in index_map.initial_indices]
    dst = [str(e) for e in index_map.final_indices]
    if sorted(src) != sorted(dst):
        return _no("attr", f"index map {index_map} is not a pure permutation",
                   "ops.cc:LayoutTransformOpConverter ICHECK HasAttr(arg_axes) 'only pure-permutation index maps'")
    return None


@rule("relax.reshape")
def _reshape(call, op, ctx):
    # A target shape that is not static leaves the output shape unknown, which decide() rejects as
    # dynamic-shape (ReshapeOpConverter ICHECK HasAttr("arg_shape")); the shape is static here.
    if ctx.implicit_batch and not _is_const(call.args[0]):   # a constant carries no batch dimension
        old = _shape(_ty(call.args[0]))
        out = _shape(_ty(call))
        if old[0] != out[0]:   # ReshapeOpConverter drops newshape[0] under implicit batch
            return _no("implicit-batch", f"under implicit batch, reshape {old} -> {out} changes the batch dimension",
                       "relay:reshape annotation; ops.cc:ReshapeOpConverter")
    return None


@rule("relax.strided_slice")
def _strided_slice(call, op, ctx):
    strides = _ints(call.args[4]) if len(call.args) > 4 else None
    if strides and any(s <= 0 for s in strides):
        return _no("attr", f"strided_slice with strides {strides}",
                   "ops.cc:StridedSliceOpConverter ICHECK_GT(stride, 0) 'only positive strides'")
    # Every listed axis goes through ConvertAxis, so under implicit batch axis 0 fails even when the
    # slice keeps the whole batch (Relay's checker allowed a slice that keeps the whole batch).
    return _batch_axes(call, _ints(call.args[1]), ctx, "StridedSliceOpConverter")


@rule("relax.sum", "relax.prod", "relax.max", "relax.min", "relax.mean")
def _reduce(call, op, ctx):
    axis = _attr(call, "axis")
    if axis is None:
        # The codegen materialises axis=None as every axis (MaybeFillReduceAxes, for StatisticalAttrs),
        # so the converter always finds a list; only the batch axis among them can fail.
        if ctx.implicit_batch:
            return _no("implicit-batch", "under implicit batch, axis=None reduces every axis, the batch axis "
                       "included: the codegen fills axis = [0, rank) and ConvertAxis rejects axis 0",
                       "codegen.cc:MaybeFillReduceAxes; ops.cc:ReduceOpConverter -> ConvertAxis ICHECK_NE(axis, 0) "
                       "under implicit batch; relay:reduce_checker (IB: axis None rejected)")
        return None
    return _batch_axes(call, [int(a) for a in axis], ctx, "ReduceOpConverter")


# squeeze and permute_dims carry SqueezeAttrs / PermuteDimsAttrs, which MaybeFillReduceAxes leaves alone
# (it fills StatisticalAttrs only); OpAttrExtractor serialises their None as the empty string "", and
# the converters' GetAttr<Array<int64_t>> on it throws a type error: the engine build fails.
_NONE_ATTR_SOURCE = ("codegen.cc:MaybeFillReduceAxes (StatisticalAttrs only); codegen_json.h:OpAttrExtractor "
                     "(None -> \"\"); json_node.h GetAttr throws on a type mismatch")


@rule("relax.squeeze")
def _squeeze(call, op, ctx):
    axis = _attr(call, "axis")
    if axis is None:
        return _no("attr", "squeeze with axis=None: the codegen does not fill squeeze's axis, so the converter's "
                   "GetAttr<Array>(\"axis\") finds the empty-string None and throws",
                   f"ops.cc:SqueezeOpConverter GetAttr<Array<int64_t>>(\"axis\") unconditionally; {_NONE_ATTR_SOURCE}")
    return _batch_axes(call, [int(a) for a in axis], ctx, "SqueezeOpConverter")


@rule("relax.permute_dims")
def _transpose(call, op, ctx):
    axes = _attr(call, "axes")
    if axes is None:
        return _no("attr", "permute_dims with axes=None (reverse): the codegen does not fill axes, so the "
                   "converter's GetAttr<Array>(\"axes\") finds the empty-string None and throws",
                   f"ops.cc:TransposeOpConverter GetAttr<Array<int64_t>>(\"axes\") unconditionally; "
                   f"{_NONE_ATTR_SOURCE}")
    if any(int(a) < 0 for a in axes):
        return _no("attr", f"permute_dims with negative axes {[int(a) for a in axes]}: the converter copies them "
                   "into nvinfer1::Permutation without normalising them",
                   "ops.cc:TransposeOpConverter -> Transpose (perm.order[i] = order[i])")
    if ctx.implicit_batch and int(axes[0]) != 0 and not _is_const(call.args[0]):
        return _no("implicit-batch", "under implicit batch, transpose moves the batch dimension",
                   "ops.cc:Transpose ICHECK_EQ(order[0], 0) under implicit batch; relay:transpose annotation")
    return None


@rule("relax.expand_dims")
def _expand_dims(call, op, ctx):
    if not ctx.implicit_batch:
        return None
    out_rank = len(_shape(_ty(call)) or [])
    if any(_norm_axis(int(a), out_rank) == 0 for a in _attr(call, "axis")):
        return _no("implicit-batch", "under implicit batch, expand_dims inserts an axis before the batch dimension",
                   "ops.cc:ConvertAxis ICHECK_NE(axis, 0) under implicit batch")
    return None


@rule("relax.concat")
def _concat(call, op, ctx):
    # ConcatOpConverter has variable_input_count, so builder.cc AddLayer turns no constant (kWeight) into
    # a tensor; the converter then ICHECKs every input is a kTensor (a constant first operand is even
    # dereferenced as a null tensor before that ICHECK).
    fields = getattr(call.args[0], "fields", ())
    if any(_is_const(f) for f in fields):
        return _no("constant-input", "concat with a constant operand: the converter takes only runtime tensors "
                   "(variable input count, so the builder does not turn the constant into a tensor)",
                   "ops.cc:ConcatOpConverter ICHECK_EQ(input.type, kTensor); builder.cc AddLayer "
                   "(no kWeight->kTensor for variable_input_count); relay:concatenate_checker (constant rejected)")
    return _batch_axes(call, [int(_attr(call, "axis"))], ctx, "ConcatOpConverter")


_AXIS_CONVERTERS = {"relax.nn.softmax": "SoftmaxOpConverter", "relax.split": "SplitOpConverter"}


@rule(*_AXIS_CONVERTERS)
def _axis_attr(call, op, ctx):
    return _batch_axes(call, [int(_attr(call, "axis"))], ctx, _AXIS_CONVERTERS[op])


def _batch_axes(call, axes, ctx, conv):
    if not ctx.implicit_batch:
        return None
    rank = len(_shape(_tensor_types(call)[0]) or [])
    if any(_norm_axis(a, rank) == 0 for a in axes):
        return _no("implicit-batch", f"under implicit batch, acts on the batch axis (axes {axes})",
                   f"ops.cc:{conv} -> ConvertAxis ICHECK_NE(axis, 0) under implicit batch; relay annotation")
    return None


# What Resize2DOpConverter maps exactly (its method / coordinate / rounding maps, each ICHECKed); the
# installed pattern (_resize2d_pattern's check) keeps the same subset.
_RESIZE_METHODS = ("nearest_neighbor", "linear", "cubic")
_RESIZE_COORDS = ("asymmetric", "align_corners", "half_pixel", "pytorch_half_pixel")
_RESIZE_ROUNDING = ("floor", "ceil", "round_prefer_ceil", "round_prefer_floor")


@rule("relax.image.resize2d")
def _resize2d(call, op, ctx):
    src = "ops.cc:Resize2DOpConverter"
    layout = str(_attr(call, "layout"))
    if layout != "NCHW":
        return _no("layout", f"layout {layout}; the converter takes only NCHW", f"{src} ICHECK_EQ(layout, \"NCHW\")")
    method = str(_attr(call, "method"))
    if method not in _RESIZE_METHODS:
        return _no("attr", f"method {method!r} has no TensorRT InterpolationMode", f"{src} method_map ICHECK")
    coord = str(_attr(call, "coordinate_transformation_mode"))
    if coord not in _RESIZE_COORDS:
        return _no("attr", f"coordinate_transformation_mode {coord!r} has no TensorRT ResizeCoordinateTransformation",
                   f"{src} coordinate_transformation_map ICHECK")
    rounding = str(_attr(call, "rounding_method"))
    if method == "nearest_neighbor" and rounding not in _RESIZE_ROUNDING:
        return _no("attr", f"nearest_neighbor with rounding_method {rounding!r}: no TensorRT ResizeRoundMode "
                   "rounds like it (Relax's 'round' breaks ties to even)", f"{src} rounding_map ICHECK")
    in_dtype, out_dtype = str(_ty(call.args[0]).dtype), str(_ty(call).dtype)
    if out_dtype != in_dtype:
        return _no("attr", f"out_dtype {out_dtype} differs from the input's {in_dtype}: the converter ignores "
                   "out_dtype and TensorRT's resize keeps its input type", f"{src} (no out_dtype); "
                   "pattern:_resize2d_pattern")
    return None


# relax.nn.batch_flatten has no rule: BatchFlattenOpConverter handles both batch modes.



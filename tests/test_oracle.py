"""Every NumPy reference of harness/oracle.py against an independent one: onnx's
``ReferenceEvaluator`` on a one-node model, or a formula written out here.  The inputs are chosen
so that a wrong epsilon, axis, broadcast, padding side or dilation shows (non-square shapes, large
epsilons, small variances, asymmetric pads); tolerances are float64-tight."""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from harness import oracle as O

RNG = np.random.default_rng(20261206)


def onnx_ref(op, inputs, opset=19, n_out=1, **attrs):
    """One ``op`` node on float64 ``inputs`` (a list of arrays), run by onnx's evaluator."""
    names = [f"i{k}" for k in range(len(inputs))]
    outs = [f"o{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info(n, TensorProto.DOUBLE, None) for n in names],
                          [helper.make_tensor_value_info(o, TensorProto.DOUBLE, None) for o in outs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    res = ReferenceEvaluator(m).run(None, dict(zip(names, inputs)))
    return res if n_out > 1 else res[0]


def close(a, b, rtol=1e-10):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


F32 = 2e-5   # onnx's evaluator computes Erf, Sigmoid, LayerNormalization, BatchNormalization in float32


def r(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, shape)


# -- elementwise --------------------------------------------------------------------------------------
def test_erf_sigmoid_relu_leaky_relu():
    x = r(3, 5)
    close(O.erf(x), [[math.erf(v) for v in row] for row in x])
    close(O.erf(x), onnx_ref("Erf", [x]), F32)
    close(O.sigmoid(x), onnx_ref("Sigmoid", [x]), F32)
    close(O.sigmoid(x), np.exp(x) / (np.exp(x) + 1.0))
    close(O.relu(x), onnx_ref("Relu", [x]))
    close(O.leaky_relu(x, alpha=0.25), onnx_ref("LeakyRelu", [x], alpha=0.25))   # 0.25: exact in float32
    close(O.leaky_relu(x, alpha=0.3), [[v if v > 0 else 0.3 * v for v in row] for row in x])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_axis(axis):
    x = r(3, 4, 5) * 4
    close(O.softmax(x, axis=axis), onnx_ref("Softmax", [x], axis=axis))


# -- normalisations: wrong epsilon, axis or broadcast show ------------------------------------------------
@pytest.mark.parametrize("axes,onnx_axis", [((-1,), -1), ((1, 2), 1), ((2,), 2)])
def test_layer_norm(axes, onnx_axis):
    x = r(2, 3, 4) * 0.05                     # small variance: epsilon matters
    shape = x.shape[onnx_axis:]
    g, b = r(*shape), r(*shape)
    close(O.layer_norm(x, g, b, axes=axes, epsilon=0.01),
          onnx_ref("LayerNormalization", [x, g, b], axis=onnx_axis, epsilon=0.01), F32)
    close(O.layer_norm(x, g, b, axes=axes, epsilon=0.01, scale=False, center=False),
          onnx_ref("LayerNormalization", [x, np.ones(shape), np.zeros(shape)], axis=onnx_axis, epsilon=0.01), F32)
    # and by the formula, in float64
    ax = tuple(a % 3 for a in axes)
    mu, var = x.mean(axis=ax, keepdims=True), x.var(axis=ax, keepdims=True)
    close(O.layer_norm(x, np.ones(shape), np.zeros(shape), axes=axes, epsilon=0.01), (x - mu) / np.sqrt(var + 0.01))


def test_batch_norm_channels_first_and_last():
    x = r(2, 3, 4, 5)
    g, b, m = r(3), r(3), r(3)
    v = r(3, low=0.01, high=0.2)              # small variances: epsilon matters
    want = onnx_ref("BatchNormalization", [x, g, b, m, v], opset=15, epsilon=0.3)
    close(O.batch_norm(x, g, b, m, v, axis=1, epsilon=0.3), want, F32)
    c = (slice(None), None, None)
    close(O.batch_norm(x, g, b, m, v, axis=1, epsilon=0.3), (x - m[c]) / np.sqrt(v[c] + 0.3) * g[c] + b[c])
    xl = np.moveaxis(x, 1, -1)                # channels last: the same numbers along axis -1
    close(np.moveaxis(O.batch_norm(xl, g, b, m, v, axis=-1, epsilon=0.3), -1, 1), want, F32)
    # scale/center off: gamma 1, beta 0
    close(O.batch_norm(x, g, b, m, v, axis=1, epsilon=0.3, scale=False, center=False),
          onnx_ref("BatchNormalization", [x, np.ones(3), np.zeros(3), m, v], opset=15, epsilon=0.3), F32)


# -- convolutions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("nsp,groups,strides,pads,dil", [
    (1, 1, [2], [1, 0], [1]),
    (2, 1, [1, 2], [1, 0, 0, 2], [2, 1]),
    (2, 3, [2, 1], [0, 1, 1, 0], [1, 2]),
    (3, 1, [1, 1, 2], [1, 0, 0, 0, 1, 1], [1, 1, 1]),
])
def test_conv(nsp, groups, strides, pads, dil):
    x = r(2, 6, *([7, 6, 5][:nsp]))
    w = r(9, 6 // groups, *([3, 2, 2][:nsp]))
    close(O.conv(x, w, strides=strides, padding=pads, dilation=dil, groups=groups),
          onnx_ref("Conv", [x, w], strides=strides, pads=pads, dilations=dil, group=groups))


@pytest.mark.parametrize("groups,strides,pads,outpad,dil", [
    (1, [2, 1], [1, 0, 0, 1], [1, 0], [1, 1]),
    (2, [2, 2], [0, 1, 1, 0], [0, 1], [1, 1]),
    (1, [1, 2], [0, 0, 0, 0], [0, 0], [2, 1]),
])
def test_conv_transpose(groups, strides, pads, outpad, dil):
    x = r(2, 4, 5, 4)
    w = r(4, 6 // groups, 3, 2)
    # onnx's evaluator takes group=1 only: a grouped one is the groups' outputs side by side
    ig = 4 // groups
    want = np.concatenate([onnx_ref("ConvTranspose", [x[:, k * ig:(k + 1) * ig], w[k * ig:(k + 1) * ig]],
                                    strides=strides, pads=pads, output_padding=outpad, dilations=dil)
                           for k in range(groups)], axis=1)
    close(O.conv_transpose(x, w, strides=strides, padding=pads, output_padding=outpad, dilation=dil, groups=groups),
          want)


# -- pooling --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k,s,pads,dil,ceil,cip", [
    ([3, 2], [2, 1], [1, 0, 1, 1], [1, 1], 0, 0),
    ([3, 2], [2, 1], [1, 0, 1, 1], [1, 1], 0, 1),
    ([2, 2], [2, 2], [0, 0, 0, 0], [1, 1], 1, 0),   # ceil mode: a last, partial window
    ([2, 3], [1, 2], [0, 1, 0, 1], [2, 1], 0, 0),   # dilation
])
def test_pool(kind, k, s, pads, dil, ceil, cip):
    x = r(2, 3, 7, 6)
    got = O.pool(x, kind, pool_size=k, strides=s, padding=pads, dilation=dil, ceil_mode=bool(ceil),
                 count_include_pad=bool(cip))
    if kind == "max":
        want = onnx_ref("MaxPool", [x], kernel_shape=k, strides=s, pads=pads, dilations=dil, ceil_mode=ceil)
    else:
        want = onnx_ref("AveragePool", [x], kernel_shape=k, strides=s, pads=pads, dilations=dil, ceil_mode=ceil,
                        count_include_pad=cip)
    close(got, want)


def test_avg_pool_counts_by_hand():
    x = np.arange(1.0, 5.0).reshape(1, 1, 1, 4)          # 1 2 3 4, window 2, stride 2, pad 1 each side
    kw = dict(pool_size=[1, 2], strides=[1, 2], padding=[0, 1, 0, 1], dilation=[1, 1], ceil_mode=False)
    close(O.pool(x, "avg", count_include_pad=False, **kw), [[[[1.0, 2.5, 4.0]]]])
    close(O.pool(x, "avg", count_include_pad=True, **kw), [[[[0.5, 2.5, 2.0]]]])
    close(O.pool(x, "max", count_include_pad=False, **kw), [[[[1.0, 3.0, 4.0]]]])


def test_adaptive_avg_pool_windows_by_hand():
    x = np.arange(5.0).reshape(1, 1, 5)                  # 5 -> 3: windows [0,2) [1,4) [3,5)
    close(O.adaptive_avg_pool(x, [3]), [[[0.5, 2.0, 3.5]]])
    x2 = r(2, 3, 6, 4)
    close(O.adaptive_avg_pool(x2, [1, 1]), onnx_ref("GlobalAveragePool", [x2]))
    close(O.adaptive_avg_pool(x2, [3, 2]), onnx_ref("AveragePool", [x2], kernel_shape=[2, 2], strides=[2, 2]))


# -- shape ops ------------------------------------------------------------------------------------------
def test_shape_ops():
    x = r(2, 3, 4, 5)
    close(O.strided_slice(x, [1, 3], [2, 4], [0, 0], [-1, -2]),
          onnx_ref("Slice", [x, np.array([2, 4]), np.array([0, 0]), np.array([1, 3]), np.array([-1, -2])]))
    close(O.strided_slice(x, [2], [1], [4], [2]), x[:, :, 1:4:2])
    close(O.expand_dims(x, axis=[0, -1]), onnx_ref("Unsqueeze", [x, np.array([0, -1])]))
    y = r(3, 1, 4, 1)
    close(O.squeeze(y, axis=[3]), onnx_ref("Squeeze", [y, np.array([3])]))
    close(O.squeeze(y, axis=None), onnx_ref("Squeeze", [y]))
    close(O.transpose(x, axes=[2, 0, 3, 1]), onnx_ref("Transpose", [x], perm=[2, 0, 3, 1]))
    close(O.batch_flatten(x), onnx_ref("Flatten", [x], axis=1))
    close(O.reshape(x, newshape=(4, 30)), onnx_ref("Reshape", [x, np.array([4, 30])]))
    close(O.concatenate([x, x[:, :1] * 2], axis=1), onnx_ref("Concat", [x, x[:, :1] * 2], axis=1))
    parts = O.split(r(6, 4), [1, 4], axis=0)
    assert [p.shape for p in parts] == [(1, 4), (3, 4), (2, 4)]
    z = r(7, 4)
    for got, want in zip(O.split(z, [2, 5], axis=0), onnx_ref("Split", [z, np.array([2, 3, 2])], n_out=3, axis=0)):
        close(got, want)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad(mode):
    x = r(2, 3, 4)
    pw = [0, 1, 2, 0, 1, 2]                                # (before, after) per axis, relax's order
    onnx_pads = np.array(pw[0::2] + pw[1::2])
    inputs = [x, onnx_pads] + ([np.array(0.75)] if mode == "constant" else [])
    close(O.pad(x, pad_width=pw, pad_mode=mode, pad_value=0.75), onnx_ref("Pad", inputs, mode=mode))


def test_layouts_round_trip_and_pack():
    x = r(2, 5, 6, 3)                                     # NHWC
    cf, order = O.to_channels_first(x, "NHWC")
    close(cf, np.transpose(x, (0, 3, 1, 2)))
    close(O.from_channels_first(cf, order), x)
    y = r(1, 8, 2, 3)
    packed = O.layout_transform(y, pack=4)                # NCHW -> NCHW4c: [n, c//4, h, w, c%4]
    assert packed.shape == (1, 2, 2, 3, 4)
    assert packed[0, 1, 1, 2, 3] == y[0, 7, 1, 2]
    close(O.layout_transform(y, perm=[0, 2, 3, 1]), np.transpose(y, (0, 2, 3, 1)))
    assert O.split_padding([1], 2) == ([1, 1], [1, 1])
    assert O.split_padding([1, 2, 3, 4], 2) == ([1, 2], [3, 4])


# -- written for the mutants of oracle.py that the tests above left alive (docs/mutation-testing.md) ----
def test_softmax_of_large_values_does_not_overflow():
    close(O.softmax(np.array([[1000.0, 0.0, -1000.0]]), axis=-1), [[1.0, 0.0, 0.0]])   # exp(x - max), not + max


def test_conv_transpose_3d_with_distinct_sizes():
    # 3 spatial axes of different sizes and channels unlike any of them: an axis read from the wrong
    # index, or nsp taken as ndim // 2, changes the shape or the values
    x = r(1, 2, 3, 4, 5)
    w = r(2, 3, 2, 2, 3)
    kw = dict(strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1], output_padding=[1, 0, 0], dilations=[1, 2, 1])
    close(O.conv_transpose(x, w, strides=kw["strides"], padding=kw["pads"], output_padding=kw["output_padding"],
                           dilation=kw["dilations"], groups=1), onnx_ref("ConvTranspose", [x, w], **kw))


@pytest.mark.parametrize("kind,cip", [("max", 0), ("avg", 0), ("avg", 1)])
def test_pool_3d_with_distinct_sizes(kind, cip):
    x = r(1, 2, 4, 5, 6)
    kw = dict(kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 0, 0, 0, 1, 1], dilations=[1, 1, 2])
    got = O.pool(x, kind, pool_size=kw["kernel_shape"], strides=kw["strides"], padding=kw["pads"],
                 dilation=kw["dilations"], ceil_mode=False, count_include_pad=bool(cip))
    close(got, onnx_ref("MaxPool", [x], **kw) if kind == "max" else
          onnx_ref("AveragePool", [x], count_include_pad=cip, **kw))


@pytest.mark.parametrize("size,k,s,d,pb,pa,ceil,out", [
    (6, 3, 2, 1, 0, 0, False, 2), (6, 3, 2, 1, 0, 0, True, 3),    # ceil: a last window of 2
    (5, 3, 2, 1, 0, 0, True, 2),                                   # divides: no extra window
    (5, 3, 2, 1, 1, 0, True, 3),                                   # the last window starts at 4 < 5 + 1
    (4, 2, 2, 1, 0, 1, True, 2),                                   # it would start at 4 = 4 + 0: dropped
    (1, 1, 3, 1, 0, 2, True, 1),                                   # it would start at 3 > 1 + 0: dropped
    (7, 2, 2, 3, 0, 0, True, 3),                                   # dilation 3: windows of extent 4
    (2, 1, 3, 1, 1, 1, True, 1),                                   # it would start at 3 = 2 + 1: dropped
    (3, 1, 3, 1, 1, 0, True, 2),                                   # it starts at 3 < 3 + 1: kept
])
def test_pool_out_size_in_ceil_mode(size, k, s, d, pb, pa, ceil, out):
    assert O._pool_out_size(size, k, s, d, pb, pa, ceil) == out


def test_ceil_mode_window_past_the_padded_extent_counts_what_is_inside():
    x = np.arange(1.0, 7.0).reshape(1, 1, 6)             # 1..6, window 3, stride 2, ceil: [1 2 3] [3 4 5] [5 6]
    kw = dict(pool_size=[3], strides=[2], padding=[0], dilation=[1], ceil_mode=True)
    close(O.pool(x, "avg", count_include_pad=True, **kw), [[[2.0, 4.0, 5.5]]])
    close(O.pool(x, "max", count_include_pad=True, **kw), [[[3.0, 5.0, 6.0]]])
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)             # 1..5, window 4, stride 3: [1 2 3 4] [4 5], 2 past the end
    kw = dict(pool_size=[4], strides=[3], padding=[0], dilation=[1], ceil_mode=True)
    close(O.pool(x, "avg", count_include_pad=True, **kw), [[[2.5, 4.5]]])
    close(O.pool(x, "max", count_include_pad=False, **kw), [[[4.0, 5.0]]])
    kw["padding"] = [0, 1]                               # [4 5 pad]: the padding counts, what lies past it not
    close(O.pool(x, "avg", count_include_pad=True, **kw), [[[2.5, 3.0]]])


def test_a_window_entirely_in_the_padding():
    x = np.array([[[3.0, 5.0]]])                         # window 1 over padding 1 before: nothing inside
    kw = dict(pool_size=[1], strides=[1], padding=[1, 0], dilation=[1], ceil_mode=False)
    close(O.pool(x, "avg", count_include_pad=False, **kw), [[[0.0, 3.0, 5.0]]])
    got = O.pool(x, "max", count_include_pad=False, **kw)
    assert got[0, 0, 0] == -np.inf and got[0, 0, 1:].tolist() == [3.0, 5.0]


def test_pad_mode_read_from_a_file_is_the_same_mode():
    mode = "".join(["con", "stant"])                     # equal, not the same object (a plan read from JSON)
    x = r(2, 3)
    close(O.pad(x, pad_width=[1, 0, 0, 2], pad_mode=mode, pad_value=0.75),
          np.pad(x, [(1, 0), (0, 2)], mode="constant", constant_values=0.75))

"""NumPy reference implementations, written independently of TVM.

Everything computes in float64 and is cast to the requested dtype by the caller.  Layouts other
than channels-first are handled by transposing to channels-first and back.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(np.asarray(x, dtype=np.float64))


def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, *, axis):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def leaky_relu(x, *, alpha):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * x)


def relu(x):
    return np.maximum(x, 0)


def layer_norm(x, gamma, beta, *, axes, epsilon, scale=True, center=True):
    eps = epsilon
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(a % x.ndim for a in axes)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    out = (x - mean) / np.sqrt(var + eps)
    if scale:
        out = out * np.asarray(gamma, np.float64).reshape(shape)
    if center:
        out = out + np.asarray(beta, np.float64).reshape(shape)
    return out


def batch_norm(x, gamma, beta, mean, var, *, axis, epsilon, scale=True, center=True):
    eps = epsilon
    x = np.asarray(x, dtype=np.float64)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = x.shape[axis]
    out = (x - np.reshape(mean, shape)) / np.sqrt(np.reshape(var, shape).astype(np.float64) + eps)
    if scale:
        out = out * np.reshape(gamma, shape)
    if center:
        out = out + np.reshape(beta, shape)
    return out


def to_channels_first(x, layout: str):
    """Transpose ``x`` in ``layout`` (e.g. "NHWC") to N, C, spatial...; returns (array, perm)."""
    order = [layout.index("N"), layout.index("C")] + [
        i for i, ch in enumerate(layout) if ch not in "NC"
    ]
    return np.transpose(x, order), order


def from_channels_first(x, order):
    return np.transpose(x, np.argsort(order))


def _pad_spatial(x, pads_before, pads_after, value=0.0):
    widths = [(0, 0), (0, 0)] + list(zip(pads_before, pads_after))
    return np.pad(x, widths, mode="constant", constant_values=value)


def split_padding(padding, nsp):
    """Relax padding: nsp values (symmetric) or 2*nsp (before..., after...)."""
    padding = list(padding)
    if len(padding) == 1:
        padding = padding * nsp
    if len(padding) == nsp:
        return padding, padding
    return padding[:nsp], padding[nsp:]


def conv(x, w, *, strides, padding, dilation, groups):
    """N-d convolution, x in N C spatial..., w in O I/groups kernel..."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nsp = x.ndim - 2
    before, after = split_padding(padding, nsp)
    xp = _pad_spatial(x, before, after)
    n, c = x.shape[:2]
    o, ig = w.shape[:2]
    ksz = w.shape[2:]
    out_sp = [
        (xp.shape[2 + i] - dilation[i] * (ksz[i] - 1) - 1) // strides[i] + 1 for i in range(nsp)
    ]
    out = np.zeros((n, o, *out_sp), dtype=np.float64)
    og = o // groups
    for g in range(groups):
        xg = xp[:, g * ig:(g + 1) * ig]
        wg = w[g * og:(g + 1) * og]
        for k in itertools.product(*[range(s) for s in ksz]):
            sl = tuple(
                slice(k[i] * dilation[i], k[i] * dilation[i] + strides[i] * (out_sp[i] - 1) + 1, strides[i])
                for i in range(nsp)
            )
            patch = xg[(slice(None), slice(None)) + sl]
            out[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", patch, wg[(slice(None), slice(None)) + k])
    return out


def conv_transpose(x, w, *, strides, padding, output_padding, dilation, groups):
    """N-d transposed convolution, x in N C spatial..., w in I O/groups kernel...

    Computed directly by scattering each input element, not via the conv identity.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nsp = x.ndim - 2
    before, after = split_padding(padding, nsp)
    n, c = x.shape[:2]
    og = w.shape[1]
    ksz = w.shape[2:]
    ig = c // groups
    full = [(x.shape[2 + i] - 1) * strides[i] + dilation[i] * (ksz[i] - 1) + 1 for i in range(nsp)]
    out = np.zeros((n, og * groups, *[full[i] + output_padding[i] for i in range(nsp)]), np.float64)
    for g in range(groups):
        xg = x[:, g * ig:(g + 1) * ig]
        wg = w[g * ig:(g + 1) * ig]
        for k in itertools.product(*[range(s) for s in ksz]):
            contrib = np.einsum("nc...,co->no...", xg, wg[(slice(None), slice(None)) + k])
            sl = tuple(
                slice(k[i] * dilation[i], k[i] * dilation[i] + strides[i] * (x.shape[2 + i] - 1) + 1, strides[i])
                for i in range(nsp)
            )
            out[(slice(None), slice(g * og, (g + 1) * og)) + sl] += contrib
    crop = tuple(
        slice(before[i], out.shape[2 + i] - after[i]) for i in range(nsp)
    )
    return out[(slice(None), slice(None)) + crop]


def _pool_out_size(size, k, s, d, pb, pa, ceil_mode):
    eff = d * (k - 1) + 1
    num = size + pb + pa - eff
    if ceil_mode:
        out = -(-num // s) + 1
        # The last window must start inside the input or the leading padding.
        if (out - 1) * s >= size + pb:
            out -= 1
        return out
    return num // s + 1


def pool(x, kind, *, pool_size, strides, padding, dilation, ceil_mode, count_include_pad):
    """Max or average pooling over the spatial axes of N C spatial..."""
    x = np.asarray(x, np.float64)
    nsp = x.ndim - 2
    before, after = split_padding(padding, nsp)
    outs = [
        _pool_out_size(x.shape[2 + i], pool_size[i], strides[i], dilation[i], before[i], after[i], ceil_mode)
        for i in range(nsp)
    ]
    out = np.zeros(x.shape[:2] + tuple(outs), np.float64)
    for pos in itertools.product(*[range(o) for o in outs]):
        vals, padded_count = [], 0
        idx_lists = []
        for i in range(nsp):
            start = pos[i] * strides[i] - before[i]
            idx = [start + j * dilation[i] for j in range(pool_size[i])]
            idx_lists.append(idx)
        inside = [
            [j for j in idx if 0 <= j < x.shape[2 + i]] for i, idx in enumerate(idx_lists)
        ]
        # Positions inside the padded extent (input + explicit padding) count for averages.
        in_padded = [
            [j for j in idx if -before[i] <= j < x.shape[2 + i] + after[i]]
            for i, idx in enumerate(idx_lists)
        ]
        if any(len(v) == 0 for v in inside):
            out[(slice(None), slice(None)) + pos] = 0.0 if kind == "avg" else -np.inf
            continue
        window = x[(slice(None), slice(None)) + np.ix_(*inside)]
        if kind == "max":
            out[(slice(None), slice(None)) + pos] = window.reshape(*x.shape[:2], -1).max(axis=-1)
        else:
            total = window.reshape(*x.shape[:2], -1).sum(axis=-1)
            count = math.prod(len(v) for v in (in_padded if count_include_pad else inside))
            out[(slice(None), slice(None)) + pos] = total / count
        del vals, padded_count
    return out


def adaptive_avg_pool(x, output_size):
    x = np.asarray(x, np.float64)
    nsp = x.ndim - 2
    out = np.zeros(x.shape[:2] + tuple(output_size), np.float64)
    for pos in itertools.product(*[range(o) for o in output_size]):
        sl = []
        for i in range(nsp):
            size, o = x.shape[2 + i], output_size[i]
            start = (pos[i] * size) // o
            end = -(-((pos[i] + 1) * size) // o)
            sl.append(slice(start, end))
        out[(slice(None), slice(None)) + pos] = x[(slice(None), slice(None)) + tuple(sl)].mean(
            axis=tuple(range(2, 2 + nsp))
        )
    return out


def strided_slice(x, axes, begin, end, strides):
    sl = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes, begin, end, strides):
        sl[a] = slice(b, e, s)
    return x[tuple(sl)]


def expand_dims(x, *, axis):
    return np.expand_dims(x, tuple(axis))


def squeeze(x, *, axis):
    return np.squeeze(x, axis=None if axis is None else tuple(axis))


def transpose(x, *, axes):
    return np.transpose(x, axes)


def batch_flatten(x):
    return x.reshape(x.shape[0], -1)


def reshape(x, *, newshape):
    return x.reshape(newshape)


def layout_transform(x, *, perm=None, pack=None):
    """A permutation of the axes, or NCHW -> NCHW{pack}c packing."""
    if perm is not None:
        return np.transpose(x, perm)
    n, ch, h, w = x.shape
    return x.reshape(n, ch // pack, pack, h, w).transpose(0, 1, 3, 4, 2)


def pad(x, *, pad_width, pad_mode, pad_value):
    w = list(zip(pad_width[0::2], pad_width[1::2]))
    if pad_mode == "constant":
        return np.pad(x, w, mode="constant", constant_values=np.array(pad_value).astype(x.dtype))
    return np.pad(x, w, mode=pad_mode)


def split(x, indices_or_sections, *, axis):
    return np.split(x, indices_or_sections, axis=axis)


def concatenate(xs, *, axis):
    return np.concatenate(xs, axis=axis)

"""Cost of one case: its output shapes, FLOPs and the minimum bytes it moves.

A case is described as in :class:`harness.case.Case`: the op's name in the support table
(``harness/table.py``), the dtype, the runtime input shapes, the attrs dict with the keys the op's
family in ``harness/families.py`` uses, and the weights as (name, shape) pairs.  Nothing here needs
NumPy or TVM: output shapes are computed by hand (and checked against TVM's own shape inference in
the tests).

FLOPs (one multiply-add = 2 FLOPs; P = product of output spatial sizes, R = product of kernel sizes):

- conv (1-3D, groups): ``2 * N * K * (C / groups) * R * P`` (K output channels, C input channels);
  transposed conv: ``2 * N * C * (K / groups) * R * Pin`` (every input element meets every tap);
- dense ``x[..., k] @ W[k, units]``: ``2 * prod(x[:-1]) * k * units``;
  batch_matmul ``[..., m, k] @ [..., k, n]``: ``2 * prod(broadcast batch) * m * k * n``;
- elementwise: one operation per output element (after broadcasting); clip and leaky_relu 2;
  transcendental functions (exp, erf, sigmoid, ...) also count 1, so their compute fraction is a
  lower bound -- they are memory-bound on every card in the table anyway;
- pooling: ``out elements * window size``; adaptive pooling: the exact sum of its window sizes
  plus one divide per output;
- reductions (sum, mean, max, min, prod): one operation per input element;
- softmax: 5 per element (max, subtract, exp, sum, divide);
- layer_norm: 5 per element (mean, subtract, square, variance sum, normalise) + 1 for scale + 1
  for center; batch_norm (inference): 2 per element (mean, variance, gamma and beta fold into one
  multiply-add);
- everything else (transpose, reshape, concatenate, pad, slices, ...): FLOPs None, bytes only.

Bytes (the minimum traffic): every runtime input, weight and output read or written once, at the
dtype's size.  A real kernel moves at least this much through DRAM on a cold cache.  The harness
times back-to-back calls on the same buffers, so a working set that fits in L2 (50 MB on H100 and
H200) can be served from cache: achieved bytes/s can then exceed the DRAM bandwidth, and
the roofline (:func:`harness.timing.roofline.analyse`) says so in ``note`` (seen on an H200: a 29 MB max_pool3d at 1.2x of 4.8 TB/s).
"""
from __future__ import annotations

import math


DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
               "int16": 2, "int8": 1, "uint8": 1, "bool": 1}

CONV = {"nn.conv1d": 1, "nn.conv2d": 2, "nn.conv3d": 3, "nn.conv2d_transpose": 2, "nn.conv3d_transpose": 3}
MATMUL = {"nn.dense", "nn.batch_matmul"}
TENSOR_CORE_OPS = set(CONV) | MATMUL
UNARY = {"nn.relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "negative", "sin", "cos", "atan",
         "ceil", "floor", "erf"}
BINARY = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum"}
POOL = {"nn.max_pool2d": 2, "nn.avg_pool2d": 2, "nn.max_pool3d": 3, "nn.avg_pool3d": 3}
ADAPTIVE = {"nn.global_avg_pool2d", "nn.adaptive_avg_pool2d"}
REDUCE = {"sum", "prod", "max", "min", "mean"}


def _prod(xs) -> int:
    return math.prod(int(x) for x in xs)


def _canon_sp(nsp: int) -> str:
    return "DHW"[3 - nsp:] if nsp > 1 else "W"


def _split_padding(padding, nsp: int) -> tuple[list[int], list[int]]:
    """Relax padding: 1 value, nsp values (symmetric) or 2*nsp (before..., after...)."""
    p = [int(v) for v in (padding if isinstance(padding, (list, tuple)) else [padding])]
    if len(p) == 1:
        p = p * nsp
    if len(p) == nsp:
        return p, p
    if len(p) == 2 * nsp:
        return p[:nsp], p[nsp:]
    raise ValueError(f"padding {padding!r} does not fit {nsp} spatial dims")


def _vec(v, nsp: int) -> list[int]:
    v = [int(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
    return v * nsp if len(v) == 1 else v


def _broadcast(a: tuple, b: tuple) -> tuple:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes {a} and {b} do not broadcast")
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(reversed(out))


def _weights(weights) -> dict[str, tuple]:
    return {n: tuple(int(d) for d in s) for n, s in weights}


def _conv(op, shape, attrs, w) -> tuple[tuple, dict]:
    nsp, transpose = CONV[op], op.endswith("_transpose")
    sp = _canon_sp(nsp)
    dl = attrs.get("data_layout", "NC" + sp)
    kl = attrs.get("kernel_layout", ("IO" if transpose else "OI") + sp)
    n, c = shape[dl.index("N")], shape[dl.index("C")]
    ins = [shape[dl.index(ch)] for ch in sp]
    ks = [w[kl.index(ch)] for ch in sp]
    groups = int(attrs.get("groups", 1))
    strides, dil = _vec(attrs.get("strides", 1), nsp), _vec(attrs.get("dilation", 1), nsp)
    before, after = _split_padding(attrs.get("padding", 0), nsp)
    if transpose:
        if w[kl.index("I")] != c:
            raise ValueError(f"{op}: data has {c} channels, weight I is {w[kl.index('I')]}")
        k_out = w[kl.index("O")] * groups
        op_pad = _vec(attrs.get("output_padding", 0), nsp)
        outs = [(ins[i] - 1) * strides[i] - before[i] - after[i] + dil[i] * (ks[i] - 1) + op_pad[i] + 1
                for i in range(nsp)]
    else:
        if w[kl.index("I")] * groups != c:
            raise ValueError(f"{op}: data has {c} channels, weight I x groups is {w[kl.index('I')] * groups}")
        k_out = w[kl.index("O")]
        if k_out % groups:
            raise ValueError(f"{op}: {k_out} output channels not divisible by groups={groups}")
        outs = [(ins[i] + before[i] + after[i] - dil[i] * (ks[i] - 1) - 1) // strides[i] + 1 for i in range(nsp)]
    dims = {"N": n, "C": k_out, **dict(zip(sp, outs))}
    return tuple(dims[ch] for ch in dl), {"n": n, "c": c, "k": k_out, "groups": groups, "r": _prod(ks),
                                         "p_out": _prod(outs), "p_in": _prod(ins)}


def _pool_size(size, k, s, d, pb, pa, ceil_mode) -> int:
    eff = d * (k - 1) + 1
    num = size + pb + pa - eff
    if ceil_mode:
        out = -(-num // s) + 1
        if (out - 1) * s >= size + pb:      # the last window must start inside the input or leading padding
            out -= 1
        return out
    return num // s + 1


def _pool(op, shape, attrs) -> tuple:
    nsp = POOL[op]
    sp = _canon_sp(nsp)
    layout = attrs.get("layout", "NC" + sp)
    k = _vec(attrs["pool_size"], nsp)
    s = _vec(attrs.get("strides", k), nsp)
    d = _vec(attrs.get("dilation", 1), nsp)
    before, after = _split_padding(attrs.get("padding", 0), nsp)
    dims = {ch: shape[layout.index(ch)] for ch in layout}
    for i, ch in enumerate(sp):
        dims[ch] = _pool_size(dims[ch], k[i], s[i], d[i], before[i], after[i], bool(attrs.get("ceil_mode", False)))
    return tuple(dims[ch] for ch in layout)


def _adaptive(op, shape, attrs) -> tuple[tuple, list[tuple[int, int]]]:
    layout = attrs.get("layout", "NCHW")
    size = attrs.get("output_size") or [1, 1]
    size = _vec(size, 2)
    dims = {ch: shape[layout.index(ch)] for ch in layout}
    pairs = []
    for ch, o in zip("HW", size):
        pairs.append((dims[ch], int(o)))
        dims[ch] = int(o)
    return tuple(dims[ch] for ch in layout), pairs


def _reduce_axes(rank: int, axis) -> list[int]:
    if axis is None:
        return list(range(rank))
    axis = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted({int(a) % rank for a in axis})


def _matmul(a: tuple, b: tuple) -> tuple:
    a2, b2 = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul {a} @ {b}: inner dims differ")
    out = (*_broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def output_shapes(op: str, shapes, attrs: dict | None = None, weights=()) -> list[tuple]:
    """Output shape(s) of ``op`` on runtime inputs ``shapes``; ValueError when they do not fit."""
    attrs = attrs or {}
    shapes = [tuple(int(d) for d in s) for s in shapes]
    w = _weights(weights)
    x = shapes[0] if shapes else ()
    if op in UNARY or op in ("clip", "nn.leaky_relu", "nn.bias_add", "nn.softmax", "nn.layer_norm",
                             "nn.batch_norm"):
        return [x]
    if op in BINARY:
        return [_broadcast(shapes[0], shapes[1])]
    if op in CONV:
        return [_conv(op, x, attrs, w["weight"])[0]]
    if op == "nn.dense":
        wt = w["weight_t"]
        if wt[0] != x[-1]:
            raise ValueError(f"nn.dense: x has {x[-1]} features, weight_t has {wt[0]}")
        return [(*x[:-1], wt[1])]
    if op == "nn.batch_matmul":
        return [_matmul(shapes[0], shapes[1])]
    if op in POOL:
        return [_pool(op, x, attrs)]
    if op in ADAPTIVE:
        return [_adaptive(op, x, attrs)[0]]
    if op in REDUCE:
        axes = _reduce_axes(len(x), attrs.get("axis"))
        if attrs.get("keepdims", False):
            return [tuple(1 if i in axes else d for i, d in enumerate(x))]
        return [tuple(d for i, d in enumerate(x) if i not in axes)]
    if op == "nn.batch_flatten":
        return [(x[0], _prod(x[1:]))]
    if op == "expand_dims":
        axes = attrs["axis"] if isinstance(attrs["axis"], (list, tuple)) else [attrs["axis"]]
        rank = len(x) + len(axes)
        pos = sorted(int(a) % rank for a in axes)
        it = iter(x)
        return [tuple(1 if i in pos else next(it) for i in range(rank))]
    if op == "squeeze":
        ax = attrs.get("axis")
        drop = [i for i, d in enumerate(x) if d == 1] if ax is None else _reduce_axes(len(x), ax)
        return [tuple(d for i, d in enumerate(x) if i not in drop)]
    if op == "concatenate":
        axis = int(attrs.get("axis", 0)) % len(x)
        for s in shapes[1:]:
            if len(s) != len(x) or any(a != b for i, (a, b) in enumerate(zip(s, x)) if i != axis):
                raise ValueError(f"concatenate: {s} does not match {x} off axis {axis}")
        return [tuple(sum(s[axis] for s in shapes) if i == axis else d for i, d in enumerate(x))]
    if op == "transpose":
        axes = attrs.get("axes")
        axes = list(range(len(x)))[::-1] if axes is None else [int(a) % len(x) for a in axes]
        if sorted(axes) != list(range(len(x))):
            raise ValueError(f"transpose: axes {attrs.get('axes')} are not a permutation of rank {len(x)}")
        return [tuple(x[a] for a in axes)]
    if op == "layout_transform":
        if "perm" in attrs:
            return [tuple(x[p] for p in attrs["perm"])]
        c = int(attrs["pack"])
        return [(x[0], x[1] // c, x[2], x[3], c)]
    if op == "reshape":
        new = [int(d) for d in attrs["newshape"]]
        if new.count(-1) > 1:
            raise ValueError("reshape: more than one -1")
        known = _prod(d for d in new if d != -1)
        total = _prod(x)
        if -1 in new:
            if known == 0 or total % known:
                raise ValueError(f"reshape: {x} cannot become {new}")
            new[new.index(-1)] = total // known
        if _prod(new) != total:
            raise ValueError(f"reshape: {x} ({total} elements) cannot become {new}")
        return [tuple(new)]
    if op == "nn.pad":
        pw = [int(v) for v in attrs["pad_width"]]
        return [tuple(d + pw[2 * i] + pw[2 * i + 1] for i, d in enumerate(x))]
    if op == "split":
        axis = int(attrs.get("axis", 0)) % len(x)
        ios = attrs["indices_or_sections"]
        if isinstance(ios, int):
            if x[axis] % ios:
                raise ValueError(f"split: {x[axis]} not divisible into {ios} sections")
            sizes = [x[axis] // ios] * ios
        else:
            bounds = [0, *[min(int(i), x[axis]) for i in ios], x[axis]]
            sizes = [max(0, b - a) for a, b in zip(bounds, bounds[1:])]
        return [tuple(s if i == axis else d for i, d in enumerate(x)) for s in sizes]
    if op == "strided_slice":
        out = list(x)
        for a, b, e, s in zip(attrs["axes"], attrs["begin"], attrs["end"], attrs.get("strides") or [1] * len(attrs["axes"])):
            a = int(a) % len(x)
            out[a] = len(range(*slice(int(b), int(e), int(s)).indices(x[a])))
        return [tuple(out)]
    raise ValueError(f"no shape rule for op {op!r}")


def flops(op: str, shapes, attrs: dict | None = None, weights=(), outs: list[tuple] | None = None) -> int | None:
    """FLOPs of one call (module docstring for the formulas); None for data-movement ops."""
    attrs = attrs or {}
    shapes = [tuple(int(d) for d in s) for s in shapes]
    outs = outs if outs is not None else output_shapes(op, shapes, attrs, weights)
    w = _weights(weights)
    x = shapes[0] if shapes else ()
    n_out = _prod(outs[0]) if outs else 0
    if op in CONV:
        _, g = _conv(op, x, attrs, w["weight"])
        if op.endswith("_transpose"):
            return 2 * g["n"] * g["c"] * (g["k"] // g["groups"]) * g["r"] * g["p_in"]
        return 2 * g["n"] * g["k"] * (g["c"] // g["groups"]) * g["r"] * g["p_out"]
    if op == "nn.dense":
        return 2 * _prod(x[:-1]) * x[-1] * w["weight_t"][1]
    if op == "nn.batch_matmul":
        a, b = shapes
        k = a[-1]
        return 2 * n_out * k
    if op in UNARY or op in BINARY or op == "nn.bias_add":
        return n_out
    if op in ("clip", "nn.leaky_relu"):
        return 2 * n_out
    if op in POOL:
        return n_out * _prod(_vec(attrs["pool_size"], POOL[op]))
    if op in ADAPTIVE:
        out_shape, pairs = _adaptive(op, x, attrs)
        layout = attrs.get("layout", "NCHW")
        nc = x[layout.index("N")] * x[layout.index("C")]
        window_sum = 1
        for size, o in pairs:        # window i spans [floor(i*size/o), ceil((i+1)*size/o))
            window_sum *= sum(-(-((i + 1) * size) // o) - (i * size) // o for i in range(o))
        return nc * window_sum + _prod(out_shape)
    if op in REDUCE:
        return _prod(x)
    if op == "nn.softmax":
        return 5 * _prod(x)
    if op == "nn.layer_norm":
        return (5 + int(bool(attrs.get("scale", True))) + int(bool(attrs.get("center", True)))) * _prod(x)
    if op == "nn.batch_norm":
        return 2 * _prod(x)
    return None


def traffic_bytes(dtype: str, shapes, weights=(), outs=()) -> int:
    """Minimum bytes moved: inputs, weights and outputs once each."""
    size = DTYPE_BYTES[dtype]
    elems = sum(_prod(s) for s in shapes) + sum(_prod(s) for _n, s in weights) + sum(_prod(s) for s in outs)
    return elems * size


def _fields(case) -> tuple[str, str, list, dict, tuple]:
    return case.op, case.dtype, list(case.shapes), dict(case.attrs or {}), tuple(case.weights)


def case_cost(case) -> dict:
    """``{"op", "dtype", "out_shapes", "flops", "bytes", "intensity"}`` of a Case-like object."""
    op, dtype, shapes, attrs, weights = _fields(case)
    outs = output_shapes(op, shapes, attrs, weights)
    f = flops(op, shapes, attrs, weights, outs)
    b = traffic_bytes(dtype, shapes, weights, outs)
    return {"op": op, "dtype": dtype, "out_shapes": [list(s) for s in outs], "flops": f, "bytes": b,
            "intensity": (f / b) if (f is not None and b) else None}

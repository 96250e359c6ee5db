"""Random multi-op Relax programs, valid by construction.

A program is a *spec*: plain JSON data (inputs, nodes, outputs, a data seed), drawn by
:func:`programs` (a Hypothesis strategy) and turned into a :class:`harness.program.Program` by
:func:`build`.  Every op generator states what it needs of its input (rank, dtype, minimum sizes)
and computes the shape it produces, so every drawn program is valid; nothing is filtered.

The ops come from the support table (:mod:`harness.table`): the element-wise unary and binary ops
and the reductions are the table's entries of those families; the structural generators (conv2d,
pools, reshape...) each emit one table op, checked at import.  :data:`NOT_IN_TABLE` lists the
only ops drawn from outside the table: the negative cases the partitioner must leave to TVM.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from .. import families as F
from ..errors import TableError
from ..table import OPS, entries_for_tvm_op

MAX_SIDE = 8
MAX_RANK = 4


def _table_ops(family: type, dtype: str = "float32") -> list[str]:
    """The Relax ops of the table's entries of ``family`` that take ``dtype``, in table order."""
    found = [e.tvm_op for e in OPS if e.runnable and isinstance(e.family, family) and dtype in e.dtypes]
    return list(dict.fromkeys(found))


UNARY = _table_ops(F.Unary)                    # relu, sigmoid, tanh, exp, log, sqrt, abs, ... erf
BINARY = _table_ops(F.Binary)                  # add, subtract, multiply, divide, power, maximum, minimum
BINARY_INT = _table_ops(F.Binary, "int32")     # the binary ops whose table entry takes int32 too
REDUCE = _table_ops(F.Reduce)                  # sum, prod, max, min, mean
LEAKY_RELU = _table_ops(F.LeakyRelu)           # in the table, but the installed partitioner has no pattern

#: Ops NOT in the support table, drawn as negative cases: TensorRT must not take them, and the
#: partitioner must cut its regions around them.  ``relax.astype`` (to int32 and back) also puts
#: integer tensors next to the regions; ``relax.where`` draws its condition with ``relax.greater``.
NOT_IN_TABLE = ("relax.nn.gelu", "relax.cumsum", "relax.where", "relax.astype")

#: Ops the structural generators emit; each must be a table op.
STRUCTURAL = ("relax.nn.conv2d", "relax.nn.max_pool2d", "relax.nn.avg_pool2d", "relax.nn.adaptive_avg_pool2d",
              "relax.reshape", "relax.permute_dims", "relax.concat", "relax.split", "relax.strided_slice",
              "relax.nn.softmax", "relax.matmul", "relax.clip", "relax.nn.layer_norm", "relax.expand_dims")
_WRONG = [op for op in NOT_IN_TABLE if entries_for_tvm_op(op)] + [op for op in STRUCTURAL if not entries_for_tvm_op(op)]
if _WRONG:   # checked at import, as the table checks itself against the seed
    raise TableError(f"harness/fuzz/graphs.py contradicts the support table on {_WRONG}")


# -- op generators ---------------------------------------------------------------------------------
# A value is (shape tuple, dtype).  A generator is (needs(value) -> bool, draw(draw, i, value, pool) ->
# node dict with "out": [shape, dtype]).  pool: the values available so far, for two-input ops.
def _is_float(v):
    return v[1] == "float32"


def _rank(v):
    return len(v[0])


def _same(pool, v) -> list[int]:
    """The values of ``pool`` with v's shape and dtype (operands of two-input ops)."""
    return [j for j, w in enumerate(pool) if tuple(w[0]) == tuple(v[0]) and w[1] == v[1]]


def _node(op, args, out, **attrs):
    return {"op": op, "args": list(args), "attrs": attrs, "out": [list(out[0]), out[1]]}


def _g_unary(draw, i, v, pool):
    return _node(draw(st.sampled_from(UNARY)), [i], v)


def _g_binary(draw, i, v, pool):
    op = draw(st.sampled_from(BINARY if _is_float(v) else BINARY_INT))
    same = [j for j in _same(pool, v) if j != i]
    if same and draw(st.booleans()):
        return _node(op, [i, draw(st.sampled_from(same))], v)
    # a constant operand, broadcast over some axes (or of lower rank)
    shape = list(v[0])
    drop = draw(st.integers(0, len(shape)))
    shape = shape[drop:]
    shape = [d if draw(st.booleans()) else 1 for d in shape]
    return _node(op, [i], v, const=shape, const_first=draw(st.booleans()))


def _g_conv(draw, i, v, pool):
    nhwc = draw(st.integers(0, 5)) == 0
    n, c, h, w = (v[0][0], v[0][3], v[0][1], v[0][2]) if nhwc else v[0]
    k = draw(st.sampled_from([kk for kk in (1, 2, 3) if kk <= h + 2 and kk <= w + 2]))
    pad = draw(st.integers(max(0, k - min(h, w)), k // 2 + (1 if k > min(h, w) else 0)))
    stride = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([g for g in (1, c) if c % g == 0]))
    o = draw(st.sampled_from([x for x in range(1, MAX_SIDE + 1) if x % groups == 0]))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if nhwc:
        wshape, out = [k, k, c // groups, o], (n, oh, ow, o)
    else:
        wshape, out = [o, c // groups, k, k], (n, o, oh, ow)
    return _node("relax.nn.conv2d", [i], (out, v[1]), weight=wshape, padding=pad, strides=stride, groups=groups,
                 layout="NHWC" if nhwc else "NCHW")


def _g_pool(draw, i, v, pool):
    nhwc = draw(st.integers(0, 7)) == 0
    n, c, h, w = (v[0][0], v[0][3], v[0][1], v[0][2]) if nhwc else v[0]
    op = draw(st.sampled_from(["relax.nn.max_pool2d", "relax.nn.avg_pool2d", "relax.nn.adaptive_avg_pool2d"]))
    if op == "relax.nn.adaptive_avg_pool2d":
        size = 1 if draw(st.integers(0, 5)) else min(2, h, w)
        out = (n, size, size, c) if nhwc else (n, c, size, size)
        return _node(op, [i], (out, v[1]), output_size=size, layout="NHWC" if nhwc else "NCHW")
    dil = 2 if draw(st.integers(0, 7)) == 0 and min(h, w) >= 3 else 1
    kmax = min(3, (min(h, w) - 1) // dil + 1)
    k = draw(st.integers(1, kmax))
    pad = draw(st.integers(0, k // 2))
    stride = draw(st.sampled_from([1, 2]))
    oh = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (k - 1) - 1) // stride + 1
    out = (n, oh, ow, c) if nhwc else (n, c, oh, ow)
    return _node(op, [i], (out, v[1]), pool=k, padding=pad, strides=stride, dilation=dil,
                 layout="NHWC" if nhwc else "NCHW", count_include_pad=draw(st.booleans()))


def _g_reshape(draw, i, v, pool):
    shape = list(v[0])
    choices = []
    for a in range(len(shape) - 1):                      # merge two neighbours
        if shape[a] * shape[a + 1] <= MAX_SIDE:
            choices.append(shape[:a] + [shape[a] * shape[a + 1]] + shape[a + 2:])
    if len(shape) < MAX_RANK:
        for a, d in enumerate(shape):                    # split one dimension
            for f in range(2, d):
                if d % f == 0:
                    choices.append(shape[:a] + [f, d // f] + shape[a + 1:])
        choices.append([1] + shape)
    if not choices:
        choices.append(shape[::-1])
    new = draw(st.sampled_from(choices))
    return _node("relax.reshape", [i], (tuple(new), v[1]), shape=new)


def _g_permute(draw, i, v, pool):
    axes = draw(st.permutations(list(range(_rank(v)))))
    return _node("relax.permute_dims", [i], (tuple(v[0][a] for a in axes), v[1]), axes=list(axes))


def _g_concat(draw, i, v, pool):
    axis = draw(st.sampled_from([a for a, d in enumerate(v[0]) if d * 2 <= MAX_SIDE]))
    out = list(v[0])
    out[axis] *= 2
    return _node("relax.concat", [i, draw(st.sampled_from(_same(pool, v)))], (tuple(out), v[1]), axis=axis)


def _g_split(draw, i, v, pool):
    axis = draw(st.sampled_from([a for a, d in enumerate(v[0]) if d >= 2]))
    d = v[0][axis]
    if d % 2 == 0 and draw(st.booleans()):
        sections, sizes = 2, [d // 2, d // 2]
    else:
        cut = draw(st.integers(1, d - 1))
        sections, sizes = [cut], [cut, d - cut]
    take = draw(st.integers(0, 1))
    out = list(v[0])
    out[axis] = sizes[take]
    return _node("relax.split", [i], (tuple(out), v[1]), axis=axis, sections=sections, take=take)


def _g_slice(draw, i, v, pool):
    axis = draw(st.sampled_from([a for a, d in enumerate(v[0]) if d >= 2]))
    d = v[0][axis]
    begin = draw(st.integers(0, d - 1))
    end = draw(st.integers(begin + 1, d))
    stride = draw(st.integers(1, 2))
    out = list(v[0])
    out[axis] = len(range(begin, end, stride))
    return _node("relax.strided_slice", [i], (tuple(out), v[1]), axis=axis, begin=begin, end=end, stride=stride)


def _g_reduce(draw, i, v, pool):
    op = draw(st.sampled_from(REDUCE))
    r = _rank(v)
    keep = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:
        axes = None
    else:
        axes = sorted(draw(st.sets(st.integers(0, r - 1), min_size=1, max_size=max(1, r - 1))))
    red = set(range(r)) if axes is None else set(axes)
    out = tuple(1 if a in red else d for a, d in enumerate(v[0])) if keep else \
        tuple(d for a, d in enumerate(v[0]) if a not in red)
    return _node(op, [i], (out, v[1]), axis=axes, keepdims=keep)


def _g_softmax(draw, i, v, pool):
    return _node("relax.nn.softmax", [i], v, axis=draw(st.integers(-_rank(v), _rank(v) - 1)))


def _g_matmul(draw, i, v, pool):
    m = draw(st.integers(1, MAX_SIDE))
    shape = list(v[0])
    wshape = ([1] * (len(shape) - 2) if draw(st.booleans()) else []) + [shape[-1], m]   # same rank, or rank 2
    return _node("relax.matmul", [i], (tuple(shape[:-1] + [m]), v[1]), weight=wshape)


def _g_clip(draw, i, v, pool):
    lo = draw(st.sampled_from([-1.0, -0.5, 0.0]))
    return _node("relax.clip", [i], v, min=lo, max=lo + draw(st.sampled_from([0.5, 1.0, 6.0])))


def _g_layer_norm(draw, i, v, pool):
    return _node("relax.nn.layer_norm", [i], v, weight=[v[0][-1]], center=draw(st.integers(0, 3)) > 0,
                 scale=draw(st.integers(0, 3)) > 0)


def _g_expand(draw, i, v, pool):
    axis = draw(st.integers(0, _rank(v)))
    out = list(v[0])
    out.insert(axis, 1)
    return _node("relax.expand_dims", [i], (tuple(out), v[1]), axis=axis)


def _g_negative(draw, i, v, pool):
    """An op TensorRT does not take here: one of NOT_IN_TABLE, or leakyrelu (no pattern)."""
    op = draw(st.sampled_from(list(NOT_IN_TABLE) + LEAKY_RELU))
    if op == "relax.cumsum":
        return _node(op, [i], v, axis=draw(st.integers(0, _rank(v) - 1)))
    if op == "relax.where":
        return _node(op, [i, draw(st.sampled_from(_same(pool, v)))], v)
    if op == "relax.astype":
        return _node(op, [i], (v[0], "int32"), dtype="int32")
    return _node(op, [i], v, **({"alpha": 0.1} if op in LEAKY_RELU else {}))


def _g_astype_back(draw, i, v, pool):
    return _node("relax.astype", [i], (v[0], "float32"), dtype="float32")


GENERATORS: dict[str, tuple[Callable, Callable]] = {
    "unary": (lambda v: _is_float(v), _g_unary),
    "binary": (lambda v: True, _g_binary),
    "conv2d": (lambda v: _is_float(v) and _rank(v) == 4, _g_conv),
    "pool2d": (lambda v: _is_float(v) and _rank(v) == 4, _g_pool),
    "reshape": (lambda v: _is_float(v) and _rank(v) >= 1, _g_reshape),
    "permute_dims": (lambda v: _is_float(v) and _rank(v) >= 2, _g_permute),
    "concat": (lambda v: _is_float(v) and any(d * 2 <= MAX_SIDE for d in v[0]), _g_concat),
    "split": (lambda v: _is_float(v) and any(d >= 2 for d in v[0]), _g_split),
    "strided_slice": (lambda v: _is_float(v) and any(d >= 2 for d in v[0]), _g_slice),
    "reduce": (lambda v: _is_float(v) and _rank(v) >= 2, _g_reduce),
    "softmax": (lambda v: _is_float(v) and _rank(v) >= 1, _g_softmax),
    "matmul": (lambda v: _is_float(v) and _rank(v) >= 2, _g_matmul),
    "clip": (lambda v: _is_float(v) and _rank(v) >= 1, _g_clip),
    "layer_norm": (lambda v: _is_float(v) and _rank(v) >= 2, _g_layer_norm),
    "expand_dims": (lambda v: _is_float(v) and 1 <= _rank(v) < MAX_RANK, _g_expand),
    "not_trt": (lambda v: _is_float(v) and _rank(v) >= 1, _g_negative),
    "astype_back": (lambda v: v[1] == "int32", _g_astype_back),
}


@st.composite
def programs(draw, min_ops: int = 2, max_ops: int = 15):
    """A valid multi-op program spec: 1-2 float32 inputs (rank 1-4, sides <= 6), then ops."""
    seed = draw(st.integers(0, 2**16))
    n_inputs = draw(st.integers(1, 2))
    rank = draw(st.integers(1, MAX_RANK))
    first = tuple([draw(st.integers(1, 2))] + [draw(st.integers(1, 6)) for _ in range(rank - 1)])
    inputs = [[list(first), "float32"]]
    if n_inputs == 2:    # the second input: same shape (so two-input ops meet) or another one
        other = first if draw(st.booleans()) else tuple(draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 4))))
        inputs.append([list(other), "float32"])
    pool = [(tuple(s), d) for s, d in inputs]
    nodes = []
    for _ in range(draw(st.integers(min_ops, max_ops))):
        # prefer recent values (chains), sometimes any (branches)
        i = len(pool) - 1 if draw(st.integers(0, 2)) else draw(st.integers(0, len(pool) - 1))
        v = pool[i]
        names = ["astype_back", "binary"] if v[1] == "int32" else [n for n, (ok, _) in GENERATORS.items() if ok(v)]
        node = GENERATORS[draw(st.sampled_from(names))][1](draw, i, v, pool)
        nodes.append(node)
        pool.append((tuple(node["out"][0]), node["out"][1]))
    # outputs: every value no op consumed
    used = {a for n in nodes for a in n["args"]}
    outputs = [j for j in range(len(inputs), len(pool)) if j not in used]
    return {"seed": seed, "inputs": inputs, "nodes": nodes, "outputs": outputs}


# -- building ----------------------------------------------------------------------------------------
def _relax_op(name: str):
    """``"relax.nn.relu"`` -> ``tvm.relax.op.nn.relu``."""
    from tvm import relax

    return functools.reduce(getattr, name.split(".")[1:], relax.op)


def _emit(bb, node, args, wvars):
    from tvm import relax

    R = relax.op
    op, a = node["op"], node["attrs"]
    x = args[0]
    if op in UNARY or op == "relax.nn.gelu":
        return _relax_op(op)(x)
    if op in BINARY:
        fn = _relax_op(op)
        if len(args) == 2:
            return fn(x, args[1])
        return fn(wvars["c"], x) if a.get("const_first") else fn(x, wvars["c"])
    if op == "relax.nn.conv2d":
        nhwc = a["layout"] == "NHWC"
        return R.nn.conv2d(x, wvars["w"], strides=a["strides"], padding=a["padding"], groups=a["groups"],
                           data_layout=a["layout"], kernel_layout="HWIO" if nhwc else "OIHW")
    if op in ("relax.nn.max_pool2d", "relax.nn.avg_pool2d"):
        return _relax_op(op)(x, pool_size=a["pool"], strides=a["strides"], padding=a["padding"],
                             dilation=a["dilation"], layout=a["layout"], count_include_pad=a["count_include_pad"])
    if op == "relax.split":
        return relax.TupleGetItem(bb.emit(R.split(x, a["sections"], axis=a["axis"])), a["take"])
    if op == "relax.where":
        return R.where(bb.emit(R.greater(x, relax.const(0.0, "float32"))), x, args[1])
    simple = {
        **{r: lambda: _relax_op(op)(x, axis=a["axis"], keepdims=a["keepdims"]) for r in REDUCE},
        "relax.nn.adaptive_avg_pool2d": lambda: R.nn.adaptive_avg_pool2d(x, a["output_size"], layout=a["layout"]),
        "relax.strided_slice": lambda: R.strided_slice(x, [a["axis"]], [a["begin"]], [a["end"]], [a["stride"]]),
        "relax.nn.layer_norm": lambda: R.nn.layer_norm(x, wvars["gamma"], wvars["beta"], axes=[-1], center=a["center"],
                                                       scale=a["scale"]),
        "relax.reshape": lambda: R.reshape(x, a["shape"]),
        "relax.permute_dims": lambda: R.permute_dims(x, a["axes"]),
        "relax.concat": lambda: R.concat([x, args[1]], axis=a["axis"]),
        "relax.nn.softmax": lambda: R.nn.softmax(x, axis=a["axis"]),
        "relax.matmul": lambda: R.matmul(x, wvars["w"]),
        "relax.clip": lambda: R.clip(x, a["min"], a["max"]),
        "relax.expand_dims": lambda: R.expand_dims(x, a["axis"]),
        "relax.cumsum": lambda: R.cumsum(x, axis=a["axis"]),
        "relax.astype": lambda: R.astype(x, a["dtype"]),
        "relax.nn.leakyrelu": lambda: R.nn.leakyrelu(x, alpha=a["alpha"]),
    }
    if op not in simple:
        raise ValueError(f"no builder for {op}")
    return simple[op]()


def _weights_of(node) -> dict:
    a = node["attrs"]
    if "weight" in a:
        return {"gamma": a["weight"], "beta": a["weight"]} if node["op"] == "relax.nn.layer_norm" else {"w": a["weight"]}
    return {"c": a["const"]} if "const" in a else {}


def build(spec):
    """The :class:`harness.program.Program` of a spec: weights as parameters in ``source``, bound
    as constants in ``mod``; inputs and weights drawn from ``spec["seed"]``."""
    from tvm import relax

    from ..program import Program, bind_weights
    from ..tvmcompat import tensor_type

    rng = np.random.RandomState(spec["seed"])
    inputs = [rng.uniform(-2, 2, size=s).astype(d) for s, d in spec["inputs"]]
    weights, per_node = {}, []
    for k, node in enumerate(spec["nodes"]):
        ws = {}
        for role, shape in _weights_of(node).items():
            name = f"w{k}_{role}"
            if node["op"] == "relax.power" and role == "c":      # base or exponent in power's table domain
                arr = rng.uniform(0.5, 2.0, size=shape).astype(node["out"][1])
            else:
                arr = rng.uniform(-1, 1, size=shape).astype(node["out"][1])
            if node["op"] == "relax.divide" and role == "c":     # keep divisors away from zero
                arr = np.where(np.abs(arr) < 0.25, np.sign(arr + 1e-9) * 0.5, arr).astype(arr.dtype)
            weights[name] = arr
            ws[role] = name
        per_node.append(ws)
    bb = relax.BlockBuilder()
    xs = [relax.Var(f"x{i}", tensor_type(x.shape, str(x.dtype))) for i, x in enumerate(inputs)]
    wv = {n: relax.Var(n, tensor_type(w.shape, str(w.dtype))) for n, w in weights.items()}
    with bb.function("main", xs + list(wv.values())):
        with bb.dataflow():
            vals = list(xs)
            for node, ws in zip(spec["nodes"], per_node):
                args = [vals[a] for a in node["args"]]
                vals.append(bb.emit(_emit(bb, node, args, {r: wv[n] for r, n in ws.items()})))
            outs = [vals[o] for o in spec["outputs"]] or [vals[-1]]
            out = bb.emit_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
        bb.emit_func_output(out)
    source = bb.get()
    mod = bind_weights(source, weights) if weights else source
    return Program(source=source, mod=mod, inputs=inputs, weights=weights)


def describe(spec) -> str:
    """One line: ``%2=astype(%1) ; %3=add(%2)``."""
    n_in = len(spec["inputs"])
    return " ; ".join(f"%{n_in + k}={n['op'].replace('relax.', '')}({','.join('%' + str(a) for a in n['args'])})"
                      for k, n in enumerate(spec["nodes"]))

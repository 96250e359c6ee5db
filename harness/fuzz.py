"""Fuzzing multi-op Relax programs at the TensorRT partition boundaries.

A program is a *spec*: plain JSON data (inputs, nodes, outputs, a seed), drawn by
:func:`programs` (a Hypothesis strategy) and turned into a Relax module by :func:`build`.
Every op generator states what it needs of its input (rank, dtype, minimum sizes) and computes
the shape it produces, so every drawn program is valid by construction; nothing is filtered.

Checks on one program (:func:`check_spec`):

* ``over-offload``   a TensorRT region holds a call that :func:`harness.rules.decide` rejects;
* ``boundary``       a call the rules allow was left out of every region although, alone, the
                     partitioner takes it (so its neighbours decided), or a region's inputs/outputs
                     (the tensors crossing the boundary) have a dtype TensorRT's runtime refuses;
* ``under-offload``  a call the rules allow is never offloaded, even alone (single-op visible);
* ``preserve``       the partitioned program (TensorRT functions left to TVM LLVM) computes
                     something else than the original;
* ``tvm-crash``      partitioning / lowering / compiling / running the partitioned program raised
                     (the original compiled and ran), or the worker died or hung.

:func:`fuzz_main` runs the checks under Hypothesis for a time budget, one program at a time in a
child process with a timeout, shrinks each new failure, and writes a standalone reproducer.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue as _queue
import sys
import time
import traceback
from typing import Callable

import numpy as np

from hypothesis import strategies as st

from . import rules, versions
from .errors import HarnessError

MAX_SIDE = 8
MAX_RANK = 4
DEFAULT_DB = ".hypothesis-fuzz"
TOLERANCE = (1e-4, 1e-4)   # atol, rtol: partitioned vs original, both on TVM LLVM

# -- op generators ---------------------------------------------------------------------------------
# A value is (shape tuple, dtype).  A generator is (needs(value) -> bool, draw(draw, value, pool) ->
# node dict with "out": [shape, dtype]).  pool: the values available so far, for two-input ops.

UNARY_TRT = ["relax.nn.relu", "relax.sigmoid", "relax.tanh", "relax.exp", "relax.abs", "relax.negative",
             "relax.sqrt", "relax.sin", "relax.cos", "relax.floor", "relax.ceil", "relax.erf", "relax.atan",
             "relax.log"]
BINARY_TRT = ["relax.add", "relax.subtract", "relax.multiply", "relax.maximum", "relax.minimum", "relax.divide"]
REDUCE = ["relax.sum", "relax.mean", "relax.max", "relax.min", "relax.prod"]
#: ops the TensorRT rules do not take (not in the table, or integer dtypes)
NOT_TRT = ["relax.nn.gelu", "relax.cumsum", "relax.where", "astype-int32", "relax.nn.leakyrelu"]


def _is_float(v):
    return v[1] == "float32"


def _rank(v):
    return len(v[0])


def _node(op, args, out, **attrs):
    return {"op": op, "args": list(args), "attrs": attrs, "out": [list(out[0]), out[1]]}


def _g_unary(draw, i, v, pool):
    return _node(draw(st.sampled_from(UNARY_TRT)), [i], v)


def _g_binary(draw, i, v, pool):
    op = draw(st.sampled_from(BINARY_TRT if _is_float(v) else ["relax.add", "relax.maximum", "relax.multiply"]))
    same = [j for j, w in enumerate(pool) if j != i and tuple(w[0]) == tuple(v[0]) and w[1] == v[1]]
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
    axes = [a for a, d in enumerate(v[0]) if d * 2 <= MAX_SIDE]
    axis = draw(st.sampled_from(axes))
    same = [j for j, w in enumerate(pool) if tuple(w[0]) == tuple(v[0]) and w[1] == v[1]]
    j = draw(st.sampled_from(same))
    out = list(v[0])
    out[axis] *= 2
    return _node("relax.concat", [i, j], (tuple(out), v[1]), axis=axis)


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
    if draw(st.booleans()):
        wshape = [1] * (len(shape) - 2) + [shape[-1], m]        # same rank, batch broadcast
    else:
        wshape = [shape[-1], m]
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


def _g_not_trt(draw, i, v, pool):
    op = draw(st.sampled_from(NOT_TRT))
    if op == "relax.cumsum":
        return _node(op, [i], v, axis=draw(st.integers(0, _rank(v) - 1)))
    if op == "relax.where":
        same = [j for j, w in enumerate(pool) if tuple(w[0]) == tuple(v[0]) and w[1] == v[1]]
        return _node(op, [i, draw(st.sampled_from(same))], v)
    if op == "astype-int32":
        return _node("relax.astype", [i], (v[0], "int32"), dtype="int32")
    if op == "relax.nn.leakyrelu":
        return _node(op, [i], v, alpha=0.1)
    return _node(op, [i], v)


def _g_astype_back(draw, i, v, pool):
    return _node("relax.astype", [i], (v[0], "float32"), dtype="float32")


GENERATORS: dict[str, tuple[Callable, Callable]] = {
    # name: (needs(value), draw)
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
    "not_trt": (lambda v: _is_float(v) and _rank(v) >= 1, _g_not_trt),
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
    n_ops = draw(st.integers(min_ops, max_ops))
    for _ in range(n_ops):
        # prefer recent values (chains), sometimes any (branches)
        i = len(pool) - 1 if draw(st.integers(0, 2)) else draw(st.integers(0, len(pool) - 1))
        v = pool[i]
        names = [n for n, (needs, _) in GENERATORS.items() if needs(v)]
        if v[1] == "int32":
            names = ["astype_back", "binary"]
        node = GENERATORS[draw(st.sampled_from(names))][1](draw, i, v, pool)
        nodes.append(node)
        pool.append((tuple(node["out"][0]), node["out"][1]))
    # outputs: every value no op consumed (float ones; int ones are cast back)
    used = {a for n in nodes for a in n["args"]}
    outputs = [j for j in range(len(inputs), len(pool)) if j not in used]
    return {"seed": seed, "inputs": inputs, "nodes": nodes, "outputs": outputs}


# -- building ----------------------------------------------------------------------------------------
def _emit(bb, node, args, wvars):
    from tvm import relax

    R = relax.op
    op, a = node["op"], node["attrs"]
    x = args[0]
    if op in UNARY_TRT or op == "relax.nn.gelu":
        fn = {"relax.nn.relu": R.nn.relu, "relax.nn.gelu": R.nn.gelu}.get(op) or getattr(R, op.split(".")[-1])
        return fn(x)
    if op in BINARY_TRT:
        fn = getattr(R, op.split(".")[-1])
        if len(args) == 2:
            return fn(x, args[1])
        c = wvars["c"]
        return fn(c, x) if a.get("const_first") else fn(x, c)
    if op == "relax.nn.conv2d":
        nhwc = a["layout"] == "NHWC"
        return R.nn.conv2d(x, wvars["w"], strides=a["strides"], padding=a["padding"], groups=a["groups"],
                           data_layout=a["layout"], kernel_layout="HWIO" if nhwc else "OIHW")
    if op in ("relax.nn.max_pool2d", "relax.nn.avg_pool2d"):
        fn = R.nn.max_pool2d if "max" in op else R.nn.avg_pool2d
        return fn(x, pool_size=a["pool"], strides=a["strides"], padding=a["padding"], dilation=a["dilation"],
                  layout=a["layout"], count_include_pad=a["count_include_pad"])
    if op == "relax.nn.adaptive_avg_pool2d":
        return R.nn.adaptive_avg_pool2d(x, output_size=a["output_size"], layout=a["layout"])
    if op == "relax.reshape":
        return R.reshape(x, a["shape"])
    if op == "relax.permute_dims":
        return R.permute_dims(x, a["axes"])
    if op == "relax.concat":
        return R.concat([x, args[1]], axis=a["axis"])
    if op == "relax.split":
        tup = bb.emit(R.split(x, a["sections"], axis=a["axis"]))
        return relax.TupleGetItem(tup, a["take"])
    if op == "relax.strided_slice":
        return R.strided_slice(x, [a["axis"]], [a["begin"]], [a["end"]], [a["stride"]])
    if op in REDUCE:
        return getattr(R, op.split(".")[-1])(x, axis=a["axis"], keepdims=a["keepdims"])
    if op == "relax.nn.softmax":
        return R.nn.softmax(x, axis=a["axis"])
    if op == "relax.matmul":
        return R.matmul(x, wvars["w"])
    if op == "relax.clip":
        return R.clip(x, a["min"], a["max"])
    if op == "relax.nn.layer_norm":
        return R.nn.layer_norm(x, wvars["gamma"], wvars["beta"], axes=[-1], center=a["center"], scale=a["scale"])
    if op == "relax.expand_dims":
        return R.expand_dims(x, a["axis"])
    if op == "relax.cumsum":
        return R.cumsum(x, axis=a["axis"])
    if op == "relax.where":
        cond = bb.emit(R.greater(x, relax.const(0.0, "float32")))
        return R.where(cond, x, args[1])
    if op == "relax.astype":
        return R.astype(x, a["dtype"])
    if op == "relax.nn.leakyrelu":
        return R.nn.leakyrelu(x, alpha=a["alpha"])
    raise ValueError(f"no builder for {op}")


def _weights_of(node) -> dict:
    a, op = node["attrs"], node["op"]
    out = {}
    if "weight" in a and op == "relax.nn.layer_norm":
        out = {"gamma": a["weight"], "beta": a["weight"]}
    elif "weight" in a:
        out = {"w": a["weight"]}
    elif "const" in a:
        out = {"c": a["const"]}
    return out


def build(spec):
    """spec -> (source: weights as parameters, mod: weights bound, inputs, weights)."""
    from tvm import relax

    from .program import bind_weights

    rng = np.random.RandomState(spec["seed"])
    inputs = [rng.uniform(-2, 2, size=s).astype(d) for s, d in spec["inputs"]]
    weights = {}
    per_node = []
    for k, node in enumerate(spec["nodes"]):
        ws = {}
        for role, shape in _weights_of(node).items():
            name = f"w{k}_{role}"
            arr = rng.uniform(-1, 1, size=shape).astype(node["out"][1])
            if node["op"] == "relax.divide" and role == "c":     # keep divisors away from zero
                arr = np.where(np.abs(arr) < 0.25, np.sign(arr + 1e-9) * 0.5, arr).astype(arr.dtype)
            weights[name] = arr
            ws[role] = name
        per_node.append(ws)
    bb = relax.BlockBuilder()
    xs = [relax.Var(f"x{i}", relax.TensorType(list(x.shape), str(x.dtype))) for i, x in enumerate(inputs)]
    wv = {n: relax.Var(n, relax.TensorType(list(w.shape), str(w.dtype))) for n, w in weights.items()}
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
    return source, (bind_weights(source, weights) if weights else source), inputs, weights


def describe(spec) -> str:
    return " ; ".join(f"%{len(spec['inputs']) + k}={n['op'].replace('relax.', '')}({','.join('%' + str(a) for a in n['args'])})"
                      for k, n in enumerate(spec["nodes"]))


# -- checks ------------------------------------------------------------------------------------------
def _finding(kind, key, detail, **extra):
    return {"kind": kind, "sig": f"{kind}|{key}", "detail": detail, **extra}


def _alone_offloaded(call, partitioner) -> bool:
    """Would the partitioner take this call in a one-op program (same types, constants kept)?"""
    from tvm import relax
    from tvm.ir.expr import Constant

    from .offload import trt_functions

    params, args = [], []
    for k, arg in enumerate(call.args):
        if isinstance(arg, Constant) or not isinstance(getattr(arg, "ty", None), (relax.TensorType,)):
            args.append(arg)
        else:
            p = relax.Var(f"p{k}", arg.ty)
            params.append(p)
            args.append(p)
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.Call(call.op, args, call.attrs, call.ty_args)))
        bb.emit_func_output(out)
    try:
        return bool(trt_functions(partitioner(bb.get())))
    except Exception:
        return False


def check_spec(spec, *, trt_version=versions.DEFAULT_TRT_VERSION, partitioner=None) -> dict:
    """Run every check on one program spec.  Returns {"findings": [...], "stats": {...}, "invalid": str|None}."""
    from tvm import relax

    from . import checks, offload, program

    partitioner = partitioner or program.partition
    result = {"findings": [], "stats": {}, "invalid": None}
    F = result["findings"]
    try:
        source, mod, inputs, weights = build(spec)
        expected_out = program.run(program.compile_module(mod), inputs)
    except Exception as exc:   # the strategy promised a valid program: a harness bug
        result["invalid"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"[:400]
        return result
    try:
        part = checks._guard("partition_for_tensorrt", lambda: partitioner(mod))
    except checks.TVMFailure as exc:
        F.append(_finding("tvm-crash", "partition", str(exc)))
        return result
    funcs = offload.trt_functions(part)
    result["stats"]["regions"] = len(funcs)
    # 1. every call inside a region must be allowed
    in_regions = []
    for func in funcs:
        for call in offload._calls(func.body):
            in_regions.append(call)
            d = rules.decide(call, trt_version=trt_version)
            if not d.offload:
                F.append(_finding("over-offload", f"{offload.op_name(call)}|{d.rule}",
                                  f"region holds {offload.op_name(call)}: {d.reason}", op=offload.op_name(call),
                                  rule=d.rule, source=d.source))
        # tensors crossing the boundary: region inputs/outputs
        types = [p.ty for p in func.params]
        ret = func.ret_ty
        types += list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
        for ty in types:
            if isinstance(ty, relax.TensorType) and str(ty.dtype) not in ("float32", "float16"):
                F.append(_finding("boundary", f"io-dtype|{ty.dtype}",
                                  f"a {ty.dtype} tensor crosses into/out of a TensorRT region"))
    result["stats"]["offloaded_calls"] = len(in_regions)
    # 2. allowed calls left on TVM: at a boundary (taken alone) or never taken (single-op visible)
    main_calls = [c for c in offload._calls(part["main"].body)]
    region_gvs = {gv for gv, f in part.functions.items() if f in funcs or any(f.same_as(g) for g in funcs)}
    for call in main_calls:
        d = rules.decide(call, trt_version=trt_version)
        if not d.offload:
            continue
        name = offload.op_name(call)
        if _alone_offloaded(call, partitioner):
            F.append(_finding("boundary", f"left-out|{name}",
                              f"{name} is allowed and offloaded alone, but its neighbours kept it on TVM", op=name))
        else:
            F.append(_finding("under-offload", name, f"{name} is allowed but never offloaded, even alone", op=name))
    result["stats"]["main_calls_left"] = len(main_calls)
    result["stats"]["region_gvs"] = len(region_gvs)
    # 3. the partitioned program computes what the original does
    try:
        stripped = checks._guard("lower the partitioned module", lambda: program.strip_codegen(part))
        ex = checks._guard("tvm.compile(partitioned, llvm)", lambda: program.compile_module(stripped))
        got = checks._guard("run partitioned", lambda: program.run(ex, inputs))
    except checks.TVMFailure as exc:
        stage = str(exc).split(":")[0]
        F.append(_finding("tvm-crash", stage, str(exc)))
        return result
    atol, rtol = TOLERANCE
    cmp = checks.compare(got, expected_out, atol=atol, rtol=rtol)
    if not cmp.ok:
        F.append(_finding("preserve", "mismatch", cmp.reason, max_abs_err=cmp.max_abs_err))
    return result


# -- a child process with a timeout --------------------------------------------------------------------
def _worker(inq, outq, trt_version, partitioner_path):
    partitioner = _resolve(partitioner_path)
    while True:
        spec = inq.get()
        if spec is None:
            return
        try:
            outq.put(check_spec(spec, trt_version=trt_version, partitioner=partitioner))
        except Exception:
            outq.put({"findings": [], "stats": {}, "invalid": "harness: " + traceback.format_exc()[-400:]})


def _resolve(path):
    if not path or callable(path):
        return path
    import importlib

    mod, _, fn = path.partition(":")
    return getattr(importlib.import_module(mod), fn)


class Runner:
    """Checks specs in a child process (a crash or hang is a finding, not the end of the run)."""

    def __init__(self, trt_version=versions.DEFAULT_TRT_VERSION, timeout: float = 90.0, partitioner: str | None = None,
                 in_process: bool = False):
        self.trt_version = tuple(trt_version)
        self.timeout = timeout
        self.partitioner = partitioner
        self.in_process = in_process
        self._proc = None

    def _start(self):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._in, self._out = ctx.Queue(), ctx.Queue()
        self._proc = ctx.Process(target=_worker, args=(self._in, self._out, self.trt_version, self.partitioner),
                                 daemon=True)
        self._proc.start()

    def check(self, spec) -> dict:
        if self.in_process:
            return check_spec(spec, trt_version=self.trt_version, partitioner=_resolve(self.partitioner))
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._in.put(spec)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self._out.get(timeout=1.0)
            except _queue.Empty:
                if not self._proc.is_alive():
                    code = self._proc.exitcode
                    self._proc = None
                    return {"findings": [_finding("tvm-crash", f"worker-died|{code}",
                                                  f"the checking process died (exit code {code})")],
                            "stats": {}, "invalid": None}
                if time.monotonic() > deadline:
                    self.close(kill=True)
                    return {"findings": [_finding("tvm-crash", "hang", f"no answer within {self.timeout:g} s")],
                            "stats": {}, "invalid": None}

    def close(self, kill=False):
        if self._proc is not None:
            if kill or not self._proc.is_alive():
                self._proc.kill()
            else:
                self._in.put(None)
                self._proc.join(5)
                if self._proc.is_alive():
                    self._proc.kill()
            self._proc = None


# -- reproducers ---------------------------------------------------------------------------------------
def sig_id(sig: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in sig.replace("relax.", "")).strip("-")
    return f"{slug[:50]}-{hashlib.sha1(sig.encode()).hexdigest()[:6]}"


def write_repro(directory: str, spec, finding: dict, *, trt_version, blob: str | None = None) -> str:
    """A standalone reproducer (TVM + NumPy), the spec as JSON (for @example replay), data in .npz."""
    from . import offload
    from .repro import _TEMPLATE

    os.makedirs(directory, exist_ok=True)
    stem = sig_id(finding["sig"])
    source, mod, inputs, weights = build(spec)
    arrays = {f"input_{i}": x for i, x in enumerate(inputs)}
    arrays.update({f"weight_{k}": v for k, v in weights.items()})
    np.savez(os.path.join(directory, stem + ".npz"), **arrays)
    expected = [(offload.op_name(c), rules.decide(c, trt_version=trt_version).offload)
                for c in offload.all_calls(mod)]
    check = "preserve" if finding["kind"] in ("preserve", "tvm-crash") else "offload"
    text = _TEMPLATE.format(
        case_id=stem, check=check, outcome="fail",
        reason=f"{finding['kind']}: {finding['detail']}",    # the template takes one or the other
        reason_line=" ".join(f"{finding['kind']}: {finding['detail']}".split())[:300].replace("\\", "/").replace('"""', "'''"),
        script_name=stem + ".py", source=source.script(), npz_name=stem + ".npz",
        tolerance=TOLERANCE, expected_offload=expected)
    with open(os.path.join(directory, stem + ".py"), "w", encoding="utf-8") as fh:
        fh.write(text)
    with open(os.path.join(directory, stem + ".json"), "w", encoding="utf-8") as fh:
        json.dump({"sig": finding["sig"], "kind": finding["kind"], "detail": finding["detail"], "spec": spec,
                   "program": describe(spec), "reproduce_failure": blob,
                   "trt_version": versions.format_version(trt_version)}, fh, indent=1)
    return os.path.join(directory, stem + ".py")


def stored_specs(directory: str) -> list[dict]:
    """Specs of earlier findings (JSON beside each reproducer), for @example replay."""
    out = []
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if name.endswith(".json"):
                with open(os.path.join(directory, name), encoding="utf-8") as fh:
                    out.append(json.load(fh))
    return out


# -- the time-boxed run ----------------------------------------------------------------------------------
class _NewFailure(AssertionError):
    pass


def fuzz(budget_s: float, *, trt_version=versions.DEFAULT_TRT_VERSION, db_dir: str = DEFAULT_DB,
         repro_dir: str | None = None, runner: Runner | None = None, log=print, max_ops: int = 15,
         chunk: int = 50, shrink_s: float = 90.0) -> dict:
    """Fuzz for ``budget_s`` seconds; returns a summary with every distinct finding (shrunk)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.errors import Flaky

    repro_dir = repro_dir or os.path.join(db_dir, "repros")
    runner = runner or Runner(trt_version)
    t_end = time.monotonic() + budget_s
    known: dict[str, dict] = {}
    summary = {"programs": 0, "ops": 0, "invalid": [], "findings": known, "regions": 0, "replayed": 0}
    counts: dict[str, int] = {}

    def evaluate(spec):
        res = runner.check(spec)
        summary["programs"] += 1
        summary["ops"] += len(spec["nodes"])
        summary["regions"] += res["stats"].get("regions", 0)
        if res["invalid"]:
            summary["invalid"].append({"spec": spec, "error": res["invalid"]})
            log(f"INVALID program (harness bug): {res['invalid']}")
        return res

    # replay earlier findings first
    for old in stored_specs(repro_dir):
        if time.monotonic() > t_end:
            break
        res = evaluate(old["spec"])
        summary["replayed"] += 1
        for f in res["findings"]:
            counts[f["sig"]] = counts.get(f["sig"], 0) + 1
            if f["sig"] not in known:
                known[f["sig"]] = {**f, "spec": old["spec"], "program": describe(old["spec"]),
                                   "repro": os.path.join(repro_dir, sig_id(f["sig"]) + ".py"), "replayed": True}

    db = DirectoryBasedExampleDatabase(db_dir)
    while time.monotonic() < t_end:
        state = {"target": None, "spec": None, "finding": None, "t_found": None}

        @settings(max_examples=chunk, deadline=None, database=db, print_blob=True, derandomize=False,
                  report_multiple_bugs=False,
                  phases=(Phase.reuse, Phase.generate, Phase.shrink),
                  suppress_health_check=list(HealthCheck))
        @given(spec=programs(max_ops=max_ops))
        def fuzz_graphs(spec):
            now = time.monotonic()
            if state["target"] is None and now > t_end:
                return
            if state["target"] is not None and (now - state["t_found"] > shrink_s or now > t_end + shrink_s / 3):
                return     # shrinking out of time: keep the smallest failure so far
            res = evaluate(spec)
            for f in res["findings"]:
                counts[f["sig"]] = counts.get(f["sig"], 0) + 1
            new = [f for f in res["findings"] if f["sig"] not in known]
            if state["target"] is None and new:
                state["target"], state["t_found"] = new[0]["sig"], time.monotonic()
            hit = [f for f in new if f["sig"] == state["target"]]
            if hit:
                state["spec"], state["finding"] = spec, hit[0]
                raise _NewFailure(hit[0]["sig"])

        try:
            fuzz_graphs()
            exc = None
        except (_NewFailure, Flaky) as err:   # Flaky: shrinking was cut off by its time limit
            exc = err
        if state["finding"] is not None:
            blob = None
            for note in getattr(exc, "__notes__", []) or []:
                if "reproduce_failure" in note:
                    blob = note.strip().splitlines()[-1]
            f, spec = state["finding"], state["spec"]
            path = write_repro(repro_dir, spec, f, trt_version=trt_version, blob=blob)
            known[f["sig"]] = {**f, "spec": spec, "program": describe(spec), "repro": path, "blob": blob}
            log(f"[{summary['programs']} programs] NEW {f['sig']}: {len(spec['nodes'])} ops after shrinking; {path}")
    runner.close()
    summary["counts"] = counts
    return summary


def fuzz_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="trt-harness fuzz",
                                description="Fuzz multi-op programs at the TensorRT partition boundaries.")
    p.add_argument("--budget", type=float, required=True, help="seconds to fuzz")
    p.add_argument("--results", default=None, help="results file (JSON Lines); one record per distinct failure")
    p.add_argument("--trt-version", default=versions.format_version(versions.DEFAULT_TRT_VERSION))
    p.add_argument("--db", default=DEFAULT_DB, help="Hypothesis example database directory [%(default)s]")
    p.add_argument("--repro-dir", default=None, help="reproducers (default: DB/repros)")
    p.add_argument("--max-ops", type=int, default=15)
    p.add_argument("--timeout", type=float, default=90.0, help="seconds per program before it counts as a hang")
    p.add_argument("--shrink-seconds", type=float, default=90.0, help="time limit for shrinking one failure")
    p.add_argument("--partitioner", default=None, help="module:function replacing partition_for_tensorrt (doubles)")
    p.add_argument("--summary", default=None, help="write the summary as JSON here")
    args = p.parse_args(argv)
    try:
        version = versions.parse_version(args.trt_version)
    except HarnessError as exc:
        print(f"trt-harness fuzz: {exc}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    summary = fuzz(args.budget, trt_version=version, db_dir=args.db, repro_dir=args.repro_dir,
                   runner=Runner(version, timeout=args.timeout, partitioner=args.partitioner), max_ops=args.max_ops,
                   shrink_s=args.shrink_seconds)
    elapsed = time.monotonic() - t0
    findings = summary["findings"]
    print(f"fuzz: {summary['programs']} programs ({summary['ops']} ops, {summary['regions']} TensorRT regions) "
          f"in {elapsed:.0f} s; {len(findings)} distinct failures; {len(summary['invalid'])} invalid programs")
    for sig, f in sorted(findings.items()):
        print(f"  {sig}  seen {summary['counts'].get(sig, 0)}x  minimal: {f['program']}  -> {f.get('repro')}")
    if args.results:
        from .results import Record, ResultsWriter, environment

        w = ResultsWriter(args.results, {"environment": environment(), "suite": "fuzz",
                                         "trt_version": versions.format_version(version), "budget_s": args.budget,
                                         "programs": summary["programs"]})
        try:
            for sig, f in sorted(findings.items()):
                check = "preserve" if f["kind"] in ("preserve", "tvm-crash") else "offload"
                w.write(Record(op=f.get("op") or f["kind"], check=check, outcome="fail", case_id=f"fuzz-{sig_id(sig)}",
                               reason=f"{f['kind']}: {f['detail']} | program: {f['program']}"[:2000],
                               error_kind="crash" if f["kind"] == "tvm-crash" else None,
                               trt_version=versions.format_version(version), reproducer=f.get("repro"),
                               offload_verdict="over-offload" if f["kind"] == "over-offload" else
                               ("under-offload" if f["kind"] in ("boundary", "under-offload") and "left-out" in sig or
                                f["kind"] == "under-offload" else None)))
        finally:
            w.close()
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as fh:
            json.dump({k: v for k, v in summary.items()}, fh, indent=1, default=str)
    return 1 if findings or summary["invalid"] else 0


# -- a spec-level shrinker (after Hypothesis: when its shrinking ran out of time) ---------------------
def _drop(spec, k):
    """The spec without node k and every node depending on it (values renumbered)."""
    n_in = len(spec["inputs"])
    gone = {n_in + k}
    for j, node in enumerate(spec["nodes"]):
        if any(a in gone for a in node["args"]):
            gone.add(n_in + j)
    remap, kept = {i: i for i in range(n_in)}, []
    for j, node in enumerate(spec["nodes"]):
        if n_in + j in gone:
            continue
        remap[n_in + j] = n_in + len(kept)
        kept.append({**node, "args": [remap[a] for a in node["args"]]})
    used = {a for n in kept for a in n["args"]}
    outputs = [j for j in range(n_in, n_in + len(kept)) if j not in used]
    return {**spec, "nodes": kept, "outputs": outputs}


def minimize(spec, sig, check: Callable[[dict], dict]) -> dict:
    """Greedily drop nodes (with their dependents) while ``check`` still reports ``sig``."""
    changed = True
    while changed:
        changed = False
        for k in range(len(spec["nodes"]) - 1, -1, -1):
            if k >= len(spec["nodes"]):
                continue
            cand = _drop(spec, k)
            if not cand["nodes"]:
                continue
            res = check(cand)
            if not res["invalid"] and any(f["sig"] == sig for f in res["findings"]):
                spec, changed = cand, True
    return spec


def minimize_stored(repro_dir: str, *, trt_version=versions.DEFAULT_TRT_VERSION, runner: Runner | None = None) -> None:
    """Re-minimize every stored reproducer in place (spec, script, data)."""
    runner = runner or Runner(trt_version, in_process=True)
    for old in stored_specs(repro_dir):
        small = minimize(old["spec"], old["sig"], runner.check)
        if small != old["spec"]:
            f = next(f for f in runner.check(small)["findings"] if f["sig"] == old["sig"])
            write_repro(repro_dir, small, f, trt_version=trt_version, blob=old.get("reproduce_failure"))

"""The benchmark set (harness/bench/shapes.py): realistic shapes from real networks, as Cases
the harness can build with each op's family.  Shapes are checked by hand arithmetic
(harness.timing.cost.output_shapes) and, where TVM is importable, against Relax's own shape
inference of the program the op's family builds."""
from __future__ import annotations

import collections
import inspect

import pytest

from harness.bench import BENCH, MODELS, bench_cases
from harness.case import Case
from harness.timing.cost import case_cost, output_shapes

REQUIRED = ["nn.conv2d", "nn.conv3d", "nn.dense", "nn.batch_matmul", "add", "multiply", "nn.relu", "sigmoid",
            "erf", "nn.softmax", "nn.layer_norm", "nn.batch_norm", "nn.max_pool2d", "nn.max_pool3d", "mean",
            "transpose", "reshape", "concatenate", "clip"]

# The attrs each op's cases carry in harness/families (and nothing else).
_CONV = {"strides", "padding", "dilation", "groups", "data_layout", "kernel_layout"}
_POOL = {"pool_size", "strides", "padding", "dilation", "ceil_mode", "layout"}
ATTR_KEYS = {
    "nn.conv2d": _CONV, "nn.conv3d": _CONV, "nn.dense": {"units"}, "nn.batch_matmul": set(),
    "add": set(), "multiply": set(), "nn.relu": set(), "sigmoid": set(), "tanh": set(), "erf": set(),
    "clip": {"min", "max"}, "nn.bias_add": {"axis"}, "nn.softmax": {"axis"},
    "nn.layer_norm": {"axes", "epsilon", "center", "scale"}, "nn.batch_norm": {"axis", "epsilon", "center", "scale"},
    "nn.max_pool2d": _POOL, "nn.max_pool3d": _POOL, "nn.avg_pool2d": _POOL | {"count_include_pad"},
    "nn.avg_pool3d": _POOL | {"count_include_pad"}, "nn.global_avg_pool2d": {"output_size", "layout"},
    "mean": {"axis", "keepdims"}, "transpose": {"axes"}, "reshape": {"newshape"}, "nn.batch_flatten": set(),
    "concatenate": {"axis"}, "strided_slice": {"axes", "begin", "end", "strides"},
}
WEIGHT_NAMES = {"nn.conv2d": ["weight"], "nn.conv3d": ["weight"], "nn.dense": ["weight_t"], "nn.bias_add": ["bias"],
                "nn.layer_norm": ["gamma", "beta"], "nn.batch_norm": ["gamma", "beta", "mean", "var"]}


def by_dtype(dtype):
    return [(n, c) for n, c in BENCH if c.dtype == dtype]


def test_required_ops_have_two_to_four_real_shapes_in_both_dtypes():
    for dtype in ("float32", "float16"):
        count = collections.Counter(c.op for _n, c in by_dtype(dtype))
        for op in REQUIRED:
            assert 2 <= count[op] <= 4, (dtype, op, count[op])
        assert count["nn.avg_pool2d"] + count["nn.global_avg_pool2d"] >= 2


def test_both_dtypes_list_the_same_layers_with_seed_zero():
    f32 = [(n, c.op, c.shapes, c.attrs_key, c.weights) for n, c in by_dtype("float32")]
    f16 = [(n, c.op, c.shapes, c.attrs_key, c.weights) for n, c in by_dtype("float16")]
    assert f32 == f16 and len(f32) * 2 == len(BENCH)
    assert all(c.seed == 0 for _n, c in BENCH)
    names = [n for n, _c in by_dtype("float32")]
    assert len(names) == len(set(names))
    assert len({c.case_id for _n, c in BENCH}) == len(BENCH)


def test_names_say_model_and_layer():
    for name, _c in BENCH:
        model = name.split(".")[0].split(" ")[0]
        assert model in MODELS, name
    bert = {n.split(".")[1] for n, _c in BENCH if n.startswith("bert_base.")}
    assert bert == {"b1", "b8"}


@pytest.mark.parametrize("name, case", BENCH, ids=[f"{c.dtype}:{n}" for n, c in BENCH])
def test_case_follows_its_family_and_has_a_valid_shape(name, case):
    assert isinstance(case, Case)
    assert case.op in ATTR_KEYS, f"no attrs convention recorded for {case.op}"
    assert set(case.attrs) == ATTR_KEYS[case.op]
    assert [n for n, _s in case.weights] == WEIGHT_NAMES.get(case.op, [])
    for s in list(case.shapes) + [s for _n, s in case.weights]:
        assert isinstance(s, tuple) and s and all(isinstance(d, int) and d > 0 for d in s)
    outs = output_shapes(case.op, case.shapes, case.attrs, case.weights)
    assert outs and all(all(d > 0 for d in o) for o in outs)
    a, w = case.attrs, dict(case.weights)
    if case.op in ("nn.conv2d", "nn.conv3d"):
        x = case.shapes[0]
        assert w["weight"][1] * a["groups"] == x[1] and w["weight"][0] % a["groups"] == 0
        assert len(w["weight"]) == len(x) == len(a["data_layout"]) == len(a["kernel_layout"])
    if case.op in ("nn.layer_norm",):
        assert w["gamma"] == w["beta"] == tuple(case.shapes[0][ax] for ax in a["axes"])
    if case.op == "nn.batch_norm":
        assert all(s == (case.shapes[0][a["axis"]],) for s in w.values())
    if case.op == "nn.dense":
        assert w["weight_t"] == (case.shapes[0][-1], a["units"])
    cost = case_cost(case)
    assert cost["bytes"] > 0


def test_bench_cases_filters():
    assert bench_cases() == BENCH
    convs = bench_cases(ops=["nn.conv2d"], dtypes=("float16",))
    assert convs and all(c.op == "nn.conv2d" and c.dtype == "float16" for _n, c in convs)
    assert [n for n, _c in bench_cases("erf", ("float32",))] == [
        "bert_base.b1.encoder.layer.0.intermediate (GELU: erf)",
        "bert_base.b8.encoder.layer.0.intermediate (GELU: erf)"]
    with pytest.raises(ValueError, match="nn.conv2d_transpose"):
        bench_cases(ops=["nn.conv2d_transpose"])


def test_known_layers_by_hand():
    cases = dict((n, c) for n, c in by_dtype("float32"))
    assert tuple(case_cost(cases["resnet50.layer1.0.conv2"])["out_shapes"][0]) == (1, 64, 56, 56)
    assert tuple(case_cost(cases["resnet50.conv1"])["out_shapes"][0]) == (1, 64, 112, 112)
    assert tuple(case_cost(cases["resnet50.maxpool"])["out_shapes"][0]) == (1, 64, 56, 56)
    assert tuple(case_cost(cases["r3d_18.stem.0"])["out_shapes"][0]) == (1, 64, 16, 56, 56)
    assert tuple(case_cost(cases["c3d.pool5"])["out_shapes"][0]) == (1, 512, 1, 4, 4)
    assert tuple(case_cost(cases["densenet121.features.denseblock1 (concatenate)"])["out_shapes"][0]) == \
        (1, 256, 56, 56)
    q = case_cost(cases["bert_base.b8.encoder.layer.0.attention.self (query @ key^T)"])
    assert tuple(q["out_shapes"][0]) == (8, 12, 128, 128) and q["flops"] == 2 * 8 * 12 * 128 * 128 * 64


def _relax_program_shape(case):
    """The output shape Relax infers for the program ``case``'s family builds (None: API moved)."""
    tvm = pytest.importorskip("tvm")
    from tvm import relax

    from harness.table import BY_NAME
    from harness.tvmcompat import tensor_type, type_of

    entry = BY_NAME[case.op]
    xs = [relax.Var(f"x{i}", tensor_type(s, case.dtype)) for i, s in enumerate(case.shapes)]
    ws = {n: relax.Var(n, tensor_type(s, case.dtype)) for n, s in case.weights}
    params = inspect.signature(entry.family.body).parameters
    expr = entry.family.body(entry, case, xs, ws) if "entry" in params else entry.family.body(case, xs, ws)
    bb = relax.BlockBuilder()
    with bb.function("main", xs + list(ws.values())):
        with bb.dataflow():
            out = bb.emit(expr)
            gv = bb.emit_output(out)
        bb.emit_func_output(gv)
    del tvm
    return tuple(int(d) for d in type_of(out).shape)


def test_shapes_agree_with_relax_shape_inference():
    mismatches = []
    for name, case in by_dtype("float16"):
        want = tuple(output_shapes(case.op, case.shapes, case.attrs, case.weights)[0])
        got = _relax_program_shape(case)
        if got != want:
            mismatches.append((name, got, want))
    assert mismatches == []

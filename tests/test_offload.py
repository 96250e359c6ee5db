"""harness.offload: actual offload of small Relax modules partitioned by the real partition_for_tensorrt,
and its comparison with the rules' expected offload."""
from __future__ import annotations

import pytest

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402

from harness import offload  # noqa: E402
from harness.records import Decision, Departure  # noqa: E402
from harness.tvmcompat import tensor_type  # noqa: E402

try:
    from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt
except ImportError as exc:  # pragma: no cover - only on a TVM without the partitioner
    pytest.skip(f"TVM has no TensorRT partitioner: {exc}", allow_module_level=True)

TRT10 = (10, 0, 1)
op = relax.op


def module(*inputs, body, base=None, name="main"):
    """A module whose function ``name`` takes ``inputs`` ((shape, dtype) pairs) and returns
    ``body(bb, *vars)`` (the last expression is emitted as the output)."""
    bb = relax.BlockBuilder(base)
    xs = [relax.Var(f"x{i}", tensor_type(list(shape), dtype)) for i, (shape, dtype) in enumerate(inputs)]
    with bb.function(name, xs):
        with bb.dataflow():
            out = bb.emit_output(body(bb, *xs))
        bb.emit_func_output(out)
    return bb.get()


F32 = ((2, 3), "float32")
I32 = ((2, 3), "int32")


def relu(bb, x):
    return op.nn.relu(x)


def relu_exp_relu(bb, x):
    return op.nn.relu(bb.emit(op.exp(bb.emit(op.nn.relu(x)))))


def compare(mod, **kw):
    kw.setdefault("trt_version", TRT10)
    return offload.compare_offload(mod, partition_for_tensorrt(mod), **kw)


def names(calls):
    return [offload.op_name(c) for c in calls]


def test_relu_offloaded_matches():
    out = compare(module(F32, body=relu))
    assert out.verdict == "match" and out.offloaded
    assert out.expected == out.actual == out.total == {"relax.nn.relu": 1}
    assert out.regions == 1 and out.over == [] and out.under == []
    assert out.decisions == [Decision(op="relax.nn.relu", offload=True, rule="supported",
                                      reason="supported by the table and the converter rules",
                                      source="seed table (nn.relu)", count=1)]


def test_int32_add_offloaded_is_an_over_offload_by_the_dtype_rule():
    out = compare(module(I32, I32, body=lambda bb, x, y: op.add(x, y)))
    assert out.verdict == "over-offload"
    assert out.expected == {"relax.add": 0} and out.actual == out.total == {"relax.add": 1}
    (over,) = out.over
    assert (over.op, over.rule, over.count) == ("relax.add", "dtype", 1) and "dtype int32" in over.reason
    assert out.under == []
    (d,) = out.decisions
    assert (d.op, d.offload, d.rule, d.count) == ("relax.add", False, "dtype", 1)


def test_a_composite_called_twice_in_a_region_counts_both_calls():
    mod = module(F32, body=relu_exp_relu)
    part = partition_for_tensorrt(mod)
    assert sorted(names(offload.trt_calls(part))) == ["relax.exp", "relax.nn.relu", "relax.nn.relu"]
    out = offload.compare_offload(mod, part, trt_version=TRT10)
    assert out.verdict == "match" and out.actual == {"relax.exp": 1, "relax.nn.relu": 2}
    assert {(d.op, d.count) for d in out.decisions} == {("relax.exp", 1), ("relax.nn.relu", 2)}


def region_called_twice():
    """main calls the one TensorRT region of relu's partition at two sites."""
    part = partition_for_tensorrt(module(F32, body=relu))
    (gv,) = [gv for gv in part.get_global_vars() if gv.name_hint != "main"]
    base = tvm.IRModule({gv: part[gv]})
    return module(F32, base=base, body=lambda bb, x: relax.Call(gv, [bb.emit(relax.Call(gv, [x]))]))


def test_a_region_called_at_two_sites_counts_both_calls():
    twice = region_called_twice()
    assert names(offload.trt_calls(twice)) == ["relax.nn.relu", "relax.nn.relu"]
    assert len(offload.trt_functions(twice)) == 1
    original = module(F32, body=lambda bb, x: op.nn.relu(bb.emit(op.nn.relu(x))))
    out = offload.compare_offload(original, twice, trt_version=TRT10)
    assert out.verdict == "match" and out.actual == out.expected == {"relax.nn.relu": 2} and out.regions == 1


def test_decisions_are_aggregated_with_counts():
    def body(bb, x, y):
        return relax.Tuple([bb.emit(op.add(y, y)), bb.emit(op.nn.relu(bb.emit(op.nn.relu(x))))])

    out = compare(module(F32, I32, body=body))
    assert out.verdict == "over-offload"
    assert {(d.op, d.offload, d.rule, d.count) for d in out.decisions} == {
        ("relax.nn.relu", True, "supported", 2), ("relax.add", False, "dtype", 1)}
    assert [(o.op, o.rule, o.count) for o in out.over] == [("relax.add", "dtype", 1)]
    assert out.expected == {"relax.add": 0, "relax.nn.relu": 2}
    assert out.total == {"relax.add": 1, "relax.nn.relu": 2}


def test_nothing_offloaded_is_an_under_offload():
    mod = module(F32, body=relu_exp_relu)
    out = offload.compare_offload(mod, mod, trt_version=TRT10)     # "partitioned" without any region
    assert out.verdict == "under-offload" and not out.offloaded and out.regions == 0
    assert out.actual == {"relax.exp": 0, "relax.nn.relu": 0}
    assert sorted((u.op, u.rule, u.count) for u in out.under) == [("relax.exp", "supported", 1),
                                                                   ("relax.nn.relu", "supported", 2)]
    assert out.over == []


def test_over_offload_wins_over_under_offload_in_the_verdict():
    def body(bb, x, y):
        return relax.Tuple([bb.emit(op.add(y, y)), bb.emit(op.nn.relu(x))])

    mod = module(F32, I32, body=body)
    part = partition_for_tensorrt(module(I32, body=lambda bb, y: op.add(y, y)))
    out = offload.compare_offload(mod, part, trt_version=TRT10)
    assert out.verdict == "over-offload" and len(out.over) == 1 and len(out.under) == 1


def test_an_offloaded_call_missing_from_the_original_is_named():
    original = module(F32, body=relu)
    part = partition_for_tensorrt(module(F32, body=relu_exp_relu))
    out = offload.compare_offload(original, part, trt_version=TRT10)
    assert out.verdict == "over-offload" and out.total == {"relax.exp": 1, "relax.nn.relu": 1}
    assert out.expected == {"relax.exp": 0, "relax.nn.relu": 1}
    assert [(o.op, o.rule, o.reason, o.count) for o in out.over] == [
        ("relax.exp", "not-in-original", "not in the original program", 1),
        ("relax.nn.relu", "supported", "supported by the table and the converter rules", 1)]
    assert [d.op for d in out.decisions] == ["relax.nn.relu"]


def test_calls_of_one_op_are_told_apart_by_signature():
    """relu on float32 is offloaded by the rules, relu on int32 is not; both are offloaded."""
    def body(bb, x, y):
        return relax.Tuple([bb.emit(op.nn.relu(y)), bb.emit(op.nn.relu(x))])

    out = compare(module(F32, I32, body=body))
    assert out.total == {"relax.nn.relu": 2} and out.expected == {"relax.nn.relu": 1}
    assert out.actual == {"relax.nn.relu": 2}
    assert [(o.rule, o.count) for o in out.over] == [("dtype", 1)]
    assert sorted((d.rule, d.count) for d in out.decisions) == [("dtype", 1), ("supported", 1)]


def test_the_targeted_version_reaches_the_rules():
    clip = module(F32, body=lambda bb, x: op.clip(x, 0.0, 1.0))
    assert compare(clip, trt_version=(5, 1, 5)).verdict == "match"
    old = compare(clip, trt_version=(5, 0, 2))
    assert old.verdict == "over-offload" and [o.rule for o in old.over] == ["version"]


def test_implicit_batch_reaches_the_rules():
    scalar = module(((), "float32"), body=relu)
    assert compare(scalar).verdict == "match"
    ib = compare(scalar, trt_version=(8, 6, 1), implicit_batch=True)
    assert ib.verdict == "over-offload" and [o.rule for o in ib.over] == ["implicit-batch"]
    assert compare(scalar, trt_version=(8, 6, 1)).verdict == "over-offload"      # TensorRT 8's default
    assert compare(scalar, trt_version=(8, 6, 1), implicit_batch=False).verdict == "match"


def test_trt_calls_of_a_region_without_bindings():
    x = relax.Var("x", tensor_type([2, 3], "float32"))
    region = relax.Function([x], relax.SeqExpr([], op.nn.relu(x)), tensor_type([2, 3], "float32"))
    bb = relax.BlockBuilder()
    gv = bb.add_func(region.with_attr("Codegen", "tensorrt"), "region")
    mod = module(F32, base=bb.get(), body=lambda bb, x: relax.Call(gv, [x]))
    assert not mod[gv].body.blocks
    assert names(offload.trt_calls(mod)) == ["relax.nn.relu"]


def test_only_tensorrt_functions_count():
    part = partition_for_tensorrt(module(F32, body=relu))
    (gv,) = [gv for gv in part.get_global_vars() if gv.name_hint != "main"]
    other = part[gv].with_attr("Codegen", "cutlass")
    mod = module(F32, base=tvm.IRModule({gv: other}), body=lambda bb, x: relax.Call(gv, [x]))
    assert offload.trt_calls(mod) == [] and offload.trt_functions(mod) == []
    plain = module(F32, body=relu)
    assert offload.trt_functions(plain) == [] and offload.trt_calls(plain) == []
    assert names(offload.all_calls(plain)) == ["relax.nn.relu"]


def test_trt_calls_of_another_entry_function():
    twice = region_called_twice()
    renamed = module(F32, base=twice, name="entry", body=lambda bb, x: op.exp(x))
    assert names(offload.trt_calls(renamed, "entry")) == []
    assert len(offload.trt_calls(renamed, "main")) == 2


def test_all_calls_enters_nested_functions():
    """all_calls reads a program as written: a nested function's body once, however often it is called."""
    part = partition_for_tensorrt(module(F32, body=relu_exp_relu))
    (gv,) = [gv for gv in part.get_global_vars() if gv.name_hint != "main"]
    assert sorted(names(offload.all_calls(part, gv.name_hint))) == ["relax.exp", "relax.nn.relu"]
    assert names(offload.all_calls(part)) == []


def test_departures_are_typed():
    out = compare(module(I32, I32, body=lambda bb, x, y: op.add(x, y)))
    assert all(isinstance(d, Departure) for d in out.over)


# -- edges that mutation testing showed unguarded ----------------------------------------------------
def relus(k):
    def body(bb, x):
        for _ in range(k - 1):
            x = bb.emit(op.nn.relu(x))
        return op.nn.relu(x)
    return body


@pytest.mark.parametrize("k_original,k_partitioned,over,under", [(1, 3, 2, 0), (3, 1, 0, 2), (2, 1, 0, 1)])
def test_departure_counts(k_original, k_partitioned, over, under):
    out = offload.compare_offload(module(F32, body=relus(k_original)),
                                  partition_for_tensorrt(module(F32, body=relus(k_partitioned))), trt_version=TRT10)
    assert sum(d.count for d in out.over) == over and sum(d.count for d in out.under) == under
    assert out.actual == {"relax.nn.relu": k_partitioned} and out.expected == {"relax.nn.relu": k_original}


def test_expected_counts_add_up_over_signatures():
    def body(bb, x, y):
        return relax.Tuple([bb.emit(op.nn.relu(x)), bb.emit(op.nn.relu(y))])

    out = compare(module(F32, ((4, 5), "float32"), body=body))
    assert out.expected == out.actual == out.total == {"relax.nn.relu": 2} and out.verdict == "match"


def test_only_the_tensorrt_codegen_counts():
    part = partition_for_tensorrt(module(F32, body=relu))
    (gv,) = [gv for gv in part.get_global_vars() if gv.name_hint != "main"]
    other = part[gv].with_attr("Codegen", "tvm")
    mod = module(F32, base=tvm.IRModule({gv: other}), body=lambda bb, x: relax.Call(gv, [x]))
    assert offload.trt_calls(mod) == [] and offload.trt_functions(mod) == []


def test_calls_of_plain_functions_are_passed_over():
    part = partition_for_tensorrt(module(F32, body=relu))
    (gv,) = [gv for gv in part.get_global_vars() if gv.name_hint != "main"]
    bb = relax.BlockBuilder(tvm.IRModule({gv: part[gv]}))
    x = relax.Var("x", tensor_type([2, 3], "float32"))
    with bb.function("plain", [x]):
        bb.emit_func_output(op.exp(x))
    plain = bb.get().get_global_var("plain")
    mod = module(F32, base=bb.get(), body=lambda bb, x: relax.Call(gv, [bb.emit(relax.Call(plain, [x]))]))
    assert names(offload.trt_calls(mod)) == ["relax.nn.relu"]


def test_compare_offload_takes_keywords():
    mod = module(F32, body=relu)
    out = offload.compare_offload(original_mod=mod, partitioned_mod=partition_for_tensorrt(mod), trt_version=TRT10,
                                  implicit_batch=None)
    assert out.verdict == "match"

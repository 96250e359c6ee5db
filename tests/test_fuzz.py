"""Fast tests of harness.fuzz: the strategy builds valid programs, wrong partitioners are caught,
and ``trt-harness fuzz`` runs with a tiny budget."""
import json
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from harness import fuzz, program

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FAST = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@FAST
@given(spec=fuzz.programs())
def test_strategy_produces_buildable_programs(spec):
    assert 2 <= len(spec["nodes"]) <= 15
    source, mod, inputs, weights = fuzz.build(spec)
    # shapes/dtypes the generators promised are the ones Relax infers
    main = mod["main"]
    promised = [tuple(n["out"][0]) for n in spec["nodes"]]
    assert all(len(s) <= fuzz.MAX_RANK and all(1 <= d <= fuzz.MAX_SIDE for d in s) for s in promised)
    assert json.loads(json.dumps(spec)) == spec            # specs are plain data (stored for @example)
    assert main.params and len(main.params) == len(inputs)  # weights bound as constants


@settings(max_examples=4, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=fuzz.programs(max_ops=6))
def test_strategy_programs_compile_and_run(spec):
    source, mod, inputs, weights = fuzz.build(spec)
    outs = program.run(program.compile_module(mod), inputs)
    assert len(outs) == max(1, len(spec["outputs"]))


GELU_BETWEEN = {"seed": 1, "inputs": [[[1, 4, 4, 4], "float32"]], "outputs": [3],
                "nodes": [{"op": "relax.nn.relu", "args": [0], "attrs": {}, "out": [[1, 4, 4, 4], "float32"]},
                          {"op": "relax.nn.gelu", "args": [1], "attrs": {}, "out": [[1, 4, 4, 4], "float32"]},
                          {"op": "relax.sigmoid", "args": [2], "attrs": {}, "out": [[1, 4, 4, 4], "float32"]}]}


def partition_everything_double(mod):
    """WRONG ON PURPOSE: puts the whole of main (gelu included) into one TensorRT function."""
    from tvm import relax

    main = mod["main"]
    bb = relax.BlockBuilder()
    gv = bb.add_func(main.with_attr("Codegen", "tensorrt").with_attr("global_symbol", "everything_tensorrt"),
                     "everything_tensorrt")
    params = [relax.Var(str(p.name), p.ty) for p in main.params]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.Call(gv, params)))
        bb.emit_func_output(out)
    return bb.get()


def test_clean_program_has_no_findings():
    res = fuzz.check_spec(GELU_BETWEEN)
    assert res["invalid"] is None
    assert res["findings"] == []
    assert res["stats"]["regions"] == 2          # relu | gelu on TVM | sigmoid


def test_wrong_partitioner_double_over_offload_is_caught():
    res = fuzz.check_spec(GELU_BETWEEN, partitioner=partition_everything_double)
    sigs = {f["sig"] for f in res["findings"]}
    assert "over-offload|relax.nn.gelu|not-in-table" in sigs


def test_corrupting_partitioner_double_is_caught_by_preserve():
    import doubles

    res = fuzz.check_spec(GELU_BETWEEN, partitioner=doubles._partition_then_corrupt)
    assert any(f["kind"] == "preserve" for f in res["findings"]), res


def test_fuzz_finds_and_shrinks_with_a_wrong_partitioner(tmp_path):
    runner = fuzz.Runner(in_process=True, partitioner=partition_everything_double)
    summary = fuzz.fuzz(8, db_dir=str(tmp_path / "db"), runner=runner, log=lambda *a: None, max_ops=5,
                        chunk=20, shrink_s=10)
    assert summary["findings"], "a partitioner that offloads everything must be caught"
    for sig, f in summary["findings"].items():
        assert os.path.exists(f["repro"]) and os.path.exists(f["repro"][:-3] + ".npz")
        assert sig.startswith(("over-offload", "boundary"))
    # the stored spec replays: same finding
    stored = fuzz.stored_specs(str(tmp_path / "db" / "repros"))
    assert {s["sig"] for s in stored} == set(summary["findings"])
    with np.load(f["repro"][:-3] + ".npz", allow_pickle=False) as data:
        assert any(k.startswith("input_") for k in data.files)


def test_fuzz_main_tiny_budget(tmp_path):
    results = tmp_path / "r.jsonl"
    rc = fuzz.fuzz_main(["--budget", "4", "--db", str(tmp_path / "db"), "--results", str(results),
                         "--shrink-seconds", "4", "--max-ops", "4", "--summary", str(tmp_path / "s.json")])
    assert rc in (0, 1)
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert lines[0]["kind"] == "header"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["programs"] >= 1 and not summary["invalid"]


def test_fuzz_main_rejects_unknown_trt_version():
    assert fuzz.fuzz_main(["--budget", "1", "--trt-version", "9.9.9"]) == 2

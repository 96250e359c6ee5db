"""tools/profile_cuda_build.py: a unit's CUDA build in phases, on the harness's own build path."""
from __future__ import annotations

import json

import pytest
from conftest import tool


def test_a_unit_is_built_and_split_into_phases_that_add_up(tmp_path, capsys):
    pytest.importorskip("tvm")
    out = tmp_path / "p.jsonl"
    assert tool("profile_cuda_build").main(["--ops", "add", "nn.conv2d", "--cases", "2", "--jsonl", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["op"] for r in rows] == ["add", "nn.conv2d"] and all(r["programs"] == 2 for r in rows)
    for r in rows:
        assert r["cuda_codegen_calls"] >= 1 and r["host_codegen_calls"] >= 1    # both generators ran, timed
        assert 0 <= r["nvrtc"] <= r["cuda_codegen"] <= r["compile"]
        assert r["lowering"] > 0 and r["export"] > 0
        assert abs(r["lowering"] + r["cuda_codegen"] + r["host_codegen"] - r["compile"]) < 1e-9
    assert "nn.conv2d" in capsys.readouterr().out


def test_the_hooks_are_tvms_own_again_afterwards():
    """A build after the profile adds nothing to what the profile timed: TVM's functions are back."""
    pytest.importorskip("tvm")
    import tvm

    from harness.predicates import CUDA_TARGET
    from harness.program import build_case
    from harness.case import Case
    from harness.table import BY_NAME

    prof = tool("profile_cuda_build")
    spent: dict = {}
    mod = build_case(BY_NAME["add"], Case("add", "float32", ((2, 3), (2, 3)))).mod
    with tvm.target.Target(CUDA_TARGET) as target:
        with prof.timed_hooks(spent):
            tvm.compile(mod, target=target)
        during = dict(spent)
        tvm.compile(mod, target=target)
    assert during["cuda_codegen_calls"] == 1 and spent == during


def test_an_op_that_is_not_in_the_table_is_one_line_and_exit_2(capsys):
    assert tool("profile_cuda_build").main(["--ops", "nn.rleu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nn.rleu" in err

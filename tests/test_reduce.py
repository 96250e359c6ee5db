"""``trt-harness reduce`` (harness/models/reduce.py, harness/models/subgraph.py) on small real models.

TVM imports, partitions and builds every candidate for real, in the isolated worker; the
references are ONNX Runtime and onnx's evaluator.  The one test double (a reference that is
wrong on its first call only, named so) proves that a departure which does not reproduce is
refused instead of reduced.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from harness.cli import main
from harness.models import reduce as R
from harness.models import references
from harness.models.subgraph import cut, intermediates

from reduce_models import buried_cnn, buried_layer_norm, expand_shape_file
from test_check_cli import conv_relu


def reduce_main(tmp_path, model, *args):
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    out = tmp_path / "min.onnx"
    code = main(["reduce", str(path), "-o", str(out), "--trt-build-cache", str(tmp_path / "cache"), *args])
    return code, out


def summary(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("summary: "))


# -- the search -------------------------------------------------------------------------------------
def test_ddmin_finds_the_one_node_and_a_pair():
    assert R.ddmin(list(range(20)), lambda s: 10 in s) == [10]
    assert R.ddmin(list(range(20)), lambda s: {3, 15} <= set(s)) == [3, 15]


def test_an_offload_departure_is_kept_when_the_candidate_shows_it_among_others():
    target = ("offload", "fail", "offload", frozenset({("relax.nn.leakyrelu", "under-offload")}))
    more = target[:3] + (target[3] | {("relax.add", "over-offload")},)
    assert R.shows(target, more)
    assert not R.shows(target, target[:3] + (frozenset({("relax.add", "over-offload")}),))
    assert not R.shows(target, ("offload", "error") + target[2:])      # another outcome
    assert not R.shows(target, None)


def test_a_cut_edge_carries_the_value_the_whole_model_computes_there():
    model = buried_cnn("leaky")
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    values = intermediates(model, {"x": x})
    mid = list(range(9, 12))                # LeakyRelu and the block after it
    cand = cut(model, mid, values, specs={"x": ((1, 4, 8, 8), "float32")})
    assert [n.op_type for n in cand.model.graph.node] == ["LeakyRelu", "Conv", "Relu"]
    fed = {vi.name for vi in cand.model.graph.input}
    assert fed == {"a2"} and np.array_equal(cand.inputs["a2"], values["a2"])
    got = references.onnxruntime_reference(cand.model, cand.inputs)
    assert got.ok and np.allclose(got.outputs[-1], values[cand.model.graph.output[-1].name], atol=1e-6)


# -- the command --------------------------------------------------------------------------------------
def test_a_buried_offload_departure_is_cut_to_its_node(tmp_path, capsys):
    code, out = reduce_main(tmp_path, buried_cnn("leaky"))
    text = capsys.readouterr().out
    assert code == 0, text
    assert summary(text).startswith("summary: 19 -> 1 nodes (LeakyRelu); departure kept: offload FAIL: "
                                    "relax.nn.leakyrelu under-offload")
    assert [n.op_type for n in onnx.load(out).graph.node] == ["LeakyRelu"]
    assert (tmp_path / "min.inputs.npz").exists() and (tmp_path / "model-min-offload.py").exists()
    steps = [line for line in text.splitlines() if line.startswith("step ")]
    assert steps and all(" nodes -> " in line for line in steps)


def test_a_buried_wrong_build_is_cut_to_at_most_three_nodes_and_its_reproducer_asserts_it(tmp_path, capsys):
    shape = expand_shape_file(tmp_path / "shape.npy")
    code, out = reduce_main(tmp_path, buried_cnn("expand"), "--check", "reference", "--input", shape)
    text = capsys.readouterr().out
    assert code == 0, text
    line = summary(text)
    assert line.startswith("summary: 20 -> ") and "departure kept: reference FAIL: TVM failed: " in line
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert "Expand" in ops and len(ops) <= 3
    repro = tmp_path / "model-min-reference.py"
    run = subprocess.run([sys.executable, str(repro)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr


def test_a_wrong_output_is_kept_by_the_op_that_makes_it(tmp_path, capsys):
    code, out = reduce_main(tmp_path, buried_layer_norm(), "--check", "reference")
    text = capsys.readouterr().out
    assert code == 0, text
    assert summary(text).startswith("summary: 9 -> 1 nodes (LayerNormalization); departure kept: reference FAIL: "
                                    "the value LayerNormalization makes differs (shape)")
    assert [o.name for o in onnx.load(out).graph.output] == ["ln", "mean"]


def test_a_crash_is_a_departure_to_keep(tmp_path, capsys, monkeypatch):
    import harness.program as program

    real = program.partition

    def partition_segfaulting_on_leakyrelu(mod):
        """Test double: a partitioner that kills its process when the program has a leakyrelu."""
        import signal

        if "leakyrelu" in mod.script():
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(mod)

    monkeypatch.setattr(program, "partition", partition_segfaulting_on_leakyrelu)
    code, out = reduce_main(tmp_path, buried_cnn("leaky"), "--check", "offload")
    line = summary(capsys.readouterr().out)
    assert code == 0 and line.startswith("summary: 19 -> 1 nodes (LeakyRelu); departure kept: offload ERROR: TVM "
                                         "failed: the worker process died of SIGSEGV")


def test_a_model_that_passes_has_nothing_to_reduce(tmp_path, capsys):
    code, out = reduce_main(tmp_path, conv_relu())
    text = capsys.readouterr().out
    assert code == 0 and text.startswith("nothing to reduce: ")
    assert not out.exists()


def test_the_step_limit_writes_the_smallest_model_found_so_far(tmp_path, capsys):
    code, out = reduce_main(tmp_path, buried_cnn("leaky"), "--steps", "2")
    line = summary(capsys.readouterr().out)
    assert code == 0 and "; 2 steps, " in line and line.endswith("the step limit ended it (smallest so far written)")
    assert 1 < len(onnx.load(out).graph.node) < 19


def test_a_budget_that_runs_out_first_writes_the_whole_model(tmp_path, capsys):
    code, out = reduce_main(tmp_path, buried_cnn("leaky"), "--budget", "0")
    line = summary(capsys.readouterr().out)
    assert code == 0 and line.startswith("summary: 19 -> 19 nodes") and "the time budget ended it" in line
    assert len(onnx.load(out).graph.node) == 19


def test_a_departure_that_does_not_reproduce_is_refused_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    import doubles

    monkeypatch.setenv("TRT_TEST_FLAKY_COUNTER", str(tmp_path.parent / f"{tmp_path.name}-calls"))
    monkeypatch.setattr(references, "DEFAULT_RUNNERS", (doubles.onnxruntime_wrong_on_its_first_call_only,))
    (tmp_path / "min.onnx").write_bytes(b"kept")
    code, out = reduce_main(tmp_path, conv_relu(), "--check", "reference")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "does not reproduce on a second run" in err and "nothing written" in err
    assert out.read_bytes() == b"kept" and sorted(os.listdir(tmp_path)) == ["cache", "min.onnx", "model.onnx"]


@pytest.mark.parametrize("argv, says", [(["--check", "speed"], "--check: expected one of"),
                                        (["-o", "min.txt"], "expected a path ending in .onnx")])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, argv, says):
    path = tmp_path / "model.onnx"
    onnx.save(conv_relu(), path)
    code = main(["reduce", str(path), "-o", str(tmp_path / "min.onnx"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1

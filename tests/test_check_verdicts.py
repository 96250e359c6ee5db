"""``trt-harness check`` on models nobody here wrote (onnx's own model tests, shipped in the onnx
wheel) and the verdict's parts: how many references it rests on, ``--min-references``, stored
outputs, ops outside the default domain, dynamic dimensions, failures that name what failed, and
the closing line with its exit code.  Nothing mocked: TVM, ONNX Runtime and onnx's evaluator run."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

from harness.reader import load_results
from tests.test_check_cli import _cwd_is_tmp, _save, check_main, conv_relu, dynamic_relu, leaky_relu  # noqa: F401 (autouse: cwd is tmp_path)

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
STEPS = ["--steps", "offload,preserve,reference"]


def corpus(*parts) -> str:
    path = os.path.join(DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"the installed onnx ships no {path}")
    return path


def closing(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("verdict: ")]
    assert len(lines) == 1 and out.rstrip().splitlines()[-1] == lines[0], out
    return lines[0]


def test_an_op_outside_the_default_domain_is_not_importable(capfd):
    path = corpus("simple", "test_gradient_of_add", "model.onnx")
    assert check_main([path, *STEPS]) == 2
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "not importable" in err[0] and "Gradient (domain ai.onnx.preview.training)" in err[0]


def test_a_single_reference_is_stated_and_min_references_makes_it_inconclusive(tmp_path, capfd):
    # float64 Add of opset 6: ONNX Runtime has no kernel for it, so onnx's evaluator stands alone
    import shutil

    path = str(tmp_path / "add_broadcast.onnx")          # alone: without its test_data_set_0
    shutil.copyfile(corpus("pytorch-operator", "test_operator_add_broadcast", "model.onnx"), path)
    res = tmp_path / "r.jsonl"
    code = check_main([path, *STEPS, "--results", str(res), "--known-ok"])
    out = capfd.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("reference "))
    assert line.startswith("reference PASS") and "[rests on one reference: onnx-reference" in line
    assert "onnxruntime" in line and "failed" in line           # and why the other is missing
    ref = next(r for r in load_results(str(res)).records if r.check == "reference")
    assert ref.details["references_count"] == 1 and len(ref.details["rests_on"]) == 1
    assert code == 0 and closing(out).startswith("verdict: KNOWN")
    assert check_main([path, *STEPS, "--known-ok", "--min-references", "2"]) == 4
    out = capfd.readouterr().out
    assert "inconclusive: pass on 1 reference(s), fewer than --min-references 2" in out
    assert closing(out).startswith("verdict: INCONCLUSIVE  reference could not be judged")
    assert check_main([path, "--min-references", "0"]) == 2


def test_onnx_test_data_beside_the_model_join_the_references(capfd):
    # AveragePool of opset 1: ONNX Runtime refuses it; the stored outputs and onnx's evaluator agree
    path = corpus("pytorch-converted", "test_AvgPool1d", "model.onnx")
    assert check_main([path, *STEPS]) == 0
    out = capfd.readouterr().out
    assert "inputs: onnx's test_data_set_0 beside the model" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("reference "))
    assert "stored outputs (test_data_set_0)" in line and "[rests on 2 independent references]" in line
    assert closing(out) == "verdict: PASS  every check that ran passed (exit 0)"


def test_expected_outputs_that_do_not_fit_are_one_line(tmp_path, capfd):
    path = _save(conv_relu(), tmp_path / "m.onnx")
    x = np.zeros((1, 3, 8, 8), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "bad.npy", np.zeros((1, 4, 8), np.float32))
    np.save(tmp_path / "i.npy", np.zeros((1, 4, 8, 8), np.int64))
    for argv, needle in [(["--expected", str(tmp_path / "bad.npy")], "needs the inputs"),
                         (["--input", f"x={tmp_path / 'x.npy'}", "--expected", str(tmp_path / "bad.npy")],
                          "output 'y' is float32[1, 4, 8], the model declares [1,4,8,8]"),
                         (["--input", f"x={tmp_path / 'x.npy'}", "--expected", str(tmp_path / "i.npy")],
                          "element type float32"),
                         (["--input", f"x={tmp_path / 'x.npy'}", "--expected", f"z={tmp_path / 'bad.npy'}"],
                          "the model has no output 'z'")]:
        assert check_main([path, *argv]) == 2
        err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and needle in err[0], err


def test_expected_outputs_catch_a_wrong_reference(tmp_path, capfd):
    # stored outputs that are wrong: TVM and both references agree with each other, not with them
    path = _save(conv_relu(), tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "wrong.npy", np.ones((1, 4, 8, 8), np.float32))
    assert check_main([path, "--input", f"x={tmp_path / 'x.npy'}", "--expected", str(tmp_path / "wrong.npy"),
                       *STEPS]) == 0
    out = capfd.readouterr().out
    assert "stored outputs (--expected) vs" in out and "outvote" not in out
    assert "[rests on 2 independent references]" in out


def test_a_bare_assertion_names_the_pass_and_op(capfd):
    # TVM's prelu legalization asserts (no message) on a 1-D multi-parameter PReLU
    path = corpus("pytorch-converted", "test_PReLU_1d_multiparam", "model.onnx")
    assert check_main([path, *STEPS]) == 1
    out = capfd.readouterr().out
    assert "AssertionError: AssertionError" not in out
    assert "AssertionError (no message) LegalizeOps of nn.prelu" in out
    assert "raised at tvm/topi/nn/elemwise.py" in out and "assert " in out
    assert closing(out).startswith("verdict: FAIL  new departure(s) in")


def test_dynamic_dimensions_are_announced_and_the_symbolic_module_judged(tmp_path, capfd):
    path = _save(dynamic_relu(), tmp_path / "dyn.onnx")
    assert check_main([path, *STEPS]) == 1
    out = capfd.readouterr().out
    assert "inputs: N: dynamic, set to 1; choose with --dim N=8" in out
    # TVM keeps N symbolic; the partitioner offloads the relu of unknown shape, which the rules refuse
    assert "symbolic: TVM keeps N symbolic; on that module: over-offload relax.nn.relu x1" in out
    off = next(ln for ln in out.splitlines() if ln.startswith("offload "))
    assert off.startswith("offload   FAIL") and "on the symbolic module (N kept symbolic): a tensor with unknown shape" in off
    assert "relax.nn.relu      1        1         1  match" in out         # the fixed-shape module matches
    assert check_main([path, *STEPS, "--dim", "N=3"]) == 1
    out = capfd.readouterr().out
    assert "N: dynamic" not in out and "x (3, 4) float32" in out and "symbolic: TVM keeps N symbolic" in out
    good = _save(conv_relu(), tmp_path / "fixed.onnx")
    assert check_main([good, *STEPS]) == 0
    assert "symbolic" not in capfd.readouterr().out


def test_closing_lines(tmp_path, capfd):
    good = _save(conv_relu(), tmp_path / "good.onnx")
    assert check_main([good, *STEPS]) == 0
    assert closing(capfd.readouterr().out) == "verdict: PASS  every check that ran passed (exit 0)"
    known = _save(leaky_relu(), tmp_path / "leaky.onnx")
    assert check_main([known, *STEPS]) == 1
    line = closing(capfd.readouterr().out)
    assert line.startswith("verdict: KNOWN  only known departures in offload (partitioner-no-batch-norm-leaky-relu")
    assert line.endswith("(exit 1; --known-ok would accept them and exit 0)")
    assert check_main([known, *STEPS, "--known-ok"]) == 0
    assert closing(capfd.readouterr().out).endswith("(exit 0: --known-ok accepts them)")


def test_describe_names_where_a_bare_exception_was_raised():
    from harness.errors import describe

    def bare():
        raise AssertionError          # what a bare `assert` raises (pytest rewrites this file's asserts)

    try:
        bare()
    except AssertionError as exc:
        text = describe(exc)
    assert text.startswith("AssertionError (no message) raised at ") and "raise AssertionError" in text
    assert "bare" in text and "AssertionError: AssertionError" not in text
    assert describe(ValueError("bad shape")) == "ValueError: bad shape"
    assert describe(KeyError()) == "KeyError (no message)"          # no traceback: no place to name


def test_a_reference_that_crashes_is_a_failed_entry_and_nothing_is_lost():
    from harness.models import verify

    x = {"x": np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)}
    th, box = verify._references_in_background(
        conv_relu(), x, None, runners=["tests.doubles:segfaulting_reference_double",
                                       "harness.models.references:onnxruntime_reference",
                                       "harness.models.references:onnx_reference"])
    th.join()
    refs = box["refs"]
    crashed = refs.references[0]
    assert crashed.name == "segfaulting_reference_double" and crashed.status == "failed"
    assert "crash" in crashed.reason and "SIGSEGV" in crashed.reason
    assert len(refs.group) == 2 and refs.consensus is not None      # the others ran, in a fresh worker

"""harness.models.references: the references a model check judges TVM against.

A reference double that is wrong on purpose (WrongByOneReference) shows that references that
disagree are reported as such and not blamed on TVM; the BatchNormalization case from the review
(a Conv+BatchNormalization of opsets 9..13) shows the evaluator (with the harness's workaround of
onnx's bug), ONNX Runtime and a float64 NumPy forward pass agree.  The MXNet model cache is read
from a temporary directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'onnx>=1.16', the models extra)")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from harness.models import references as R  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
vi = helper.make_tensor_value_info

try:
    import onnxruntime  # noqa: F401

    ORT_MISSING = None
except Exception:  # ImportError or a broken install
    ORT_MISSING = ("onnxruntime is not installed (pip install 'onnxruntime>=1.17', part of the "
                   "proposed models extra)")
needs_ort = pytest.mark.skipif(ORT_MISSING is not None, reason=ORT_MISSING or "")


def _model(nodes, inputs, outputs, inits=(), opset=13) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def conv_relu():
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    m = _model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                helper.make_node("Relu", ["c"], ["y"])],
               [vi("x", T.FLOAT, [1, 3, 8, 8])], [vi("y", T.FLOAT, [1, 4, 8, 8])],
               [numpy_helper.from_array(w, "w")])
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    return m, {"x": x}


class WrongByOneReference:
    """A reference that is wrong on purpose: the evaluator's outputs plus one."""

    name = "wrong-by-one (test double)"

    def __call__(self, model, inputs):
        ref = R.onnx_reference(model, inputs)
        return R.Reference(self.name, "ok", [o + 1 for o in ref.outputs])


class RaisingReference:
    name = "raising (test double)"

    def __call__(self, model, inputs):
        raise RuntimeError("boom\nsecond line")


# ---------------------------------------------------------------------------------------------
# compare_outputs
# ---------------------------------------------------------------------------------------------

def test_compare_is_normwise_and_strict_on_specials_ints_shapes():
    e = np.full(4, 1e-6, np.float32)
    assert not R.compare_outputs([e * 1.1], [e]).agree
    assert R.compare_outputs([e * (1 + 1e-6)], [e]).agree
    a = np.array([1.0, np.nan, np.inf], np.float32)
    assert R.compare_outputs([a], [a.copy()]).agree
    assert not R.compare_outputs([np.array([1.0, 2.0, np.inf], np.float32)], [a]).agree
    assert not R.compare_outputs([np.array([1.0, np.nan, -np.inf], np.float32)], [a]).agree
    assert not R.compare_outputs([np.array([1, 2])], [np.array([1, 3])]).agree
    assert not R.compare_outputs([np.zeros(3)], [np.zeros(4)]).agree
    assert not R.compare_outputs([np.zeros(3)], [np.zeros(3), np.zeros(3)]).agree
    r = R.compare_outputs([np.array([1.0, 2.5])], [np.array([1.0, 2.0])], a="A", b="B")
    assert r.max_abs_err == pytest.approx(0.5) and r.max_rel_err == pytest.approx(0.25)   # of max|expected|
    assert r.describe() == "A vs B (max abs err 0.5, max rel err 0.25)"


# ---------------------------------------------------------------------------------------------
# run_references and judge
# ---------------------------------------------------------------------------------------------

def test_references_agree_on_a_small_model_and_tvm_is_judged_against_them():
    m, x = conv_relu()
    rs = R.run_references(m, x)
    by = {r.name.split(" ")[0]: r for r in rs.references}
    assert [r.name.split(" ")[0] for r in rs.references] == ["onnxruntime", "onnx-reference"]   # cheapest first
    assert by["onnx-reference"].ok and by["onnx-reference"].name == f"onnx-reference {onnx.__version__}"
    if ORT_MISSING is None:
        assert by["onnxruntime"].ok and len(rs.comparisons) == 1
    else:
        assert by["onnxruntime"].status == "unavailable" and "onnxruntime" in by["onnxruntime"].reason
    assert rs.agree and rs.disagreement is None and rs.consensus is rs.available[0]
    good = [o * (1 + 1e-6) for o in rs.consensus.outputs]
    j = R.judge(good, rs)
    assert j.outcome == "pass" and j.against == rs.consensus.name and j.max_abs_err < 1e-4
    bad = [o + 0.5 for o in rs.consensus.outputs]
    j = R.judge(bad, rs)
    assert j.outcome == "fail" and "tvm disagrees with every reference" in j.reason


def test_the_slow_reference_runs_only_when_fewer_than_two_agree():
    """Two references that agree are enough: the next runner is listed as not run, with why; a
    disagreement (or enough=None) brings it in as the tie-breaker."""
    m, x = conv_relu()
    exact = R.onnx_reference(m, x).outputs
    calls = []

    def counted(mm, xx):
        calls.append(1)
        return R.onnx_reference(mm, xx)

    counted.reference_name = "onnx-reference"
    source = ("float64-numpy (test)", [o.astype(np.float64) for o in exact])
    rs = R.run_references(m, x, runners=[R.onnx_reference, counted], source=source)
    assert calls == [] and [r.status for r in rs.references] == ["ok", "ok", "not run"]
    assert rs.references[2].reason == (f"not needed: float64-numpy (test) and onnx-reference {onnx.__version__} "
                                       "already agree")
    assert rs.references[2].line().startswith("onnx-reference: not run: not needed")
    rs = R.run_references(m, x, runners=[WrongByOneReference(), counted], source=source)
    assert calls == [1] and rs.group == ["float64-numpy (test)", f"onnx-reference {onnx.__version__}"]
    rs = R.run_references(m, x, runners=[R.onnx_reference, counted], source=source, enough=None)
    assert calls == [1, 1] and len(rs.group) == 3


@needs_ort
def test_onnxruntime_agrees_with_the_evaluator():
    m, x = conv_relu()
    rs = R.run_references(m, x)
    (c,) = rs.comparisons
    assert c.agree and c.max_abs_err < 1e-5 and rs.group == [r.name for r in rs.references]


def test_two_references_that_disagree_are_not_blamed_on_tvm():
    m, x = conv_relu()
    rs = R.run_references(m, x, runners=[R.onnx_reference, WrongByOneReference()])
    assert not rs.agree and rs.consensus is None and rs.group == []
    assert rs.disagreement.startswith(f"references disagree: onnx-reference {onnx.__version__} vs "
                                      f"wrong-by-one (test double) (max abs err 1,")
    j = R.judge(rs.references[0].outputs, rs)
    assert j.outcome == "inconclusive" and j.outcome != "fail"
    assert j.reason.startswith("references disagree: ") and "not blamed on tvm" in j.reason
    assert "tvm agrees with onnx-reference" in j.reason


def test_an_outvoted_reference_is_reported_beside_the_verdict():
    """Three references, one wrong: the two that agree are the consensus."""
    m, x = conv_relu()
    exact = R.onnx_reference(m, x).outputs
    rs = R.run_references(m, x, runners=[R.onnx_reference, WrongByOneReference()],
                          source=("float64-numpy (test)", [o.astype(np.float64) for o in exact]), enough=None)
    assert rs.group == ["float64-numpy (test)", f"onnx-reference {onnx.__version__}"]
    j = R.judge(exact, rs)
    assert j.outcome == "pass" and "references disagree" in j.reason and "wrong-by-one" in j.reason
    # TVM agreeing only with the wrong one is blamed: it disagrees with every reference of the group
    j = R.judge([o + 1 for o in exact], rs)
    assert j.outcome == "fail" and "agrees only with wrong-by-one (test double)" in j.reason


def test_failing_and_missing_references_are_named_one_line_entries(monkeypatch):
    m, x = conv_relu()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # import fails as if not installed
    rs = R.run_references(m, x, runners=[R.onnx_reference, R.onnxruntime_reference,
                                         RaisingReference()])
    by = {r.name.split(" ")[0]: r for r in rs.references}
    assert by["onnxruntime"].status == "unavailable"
    assert by["onnxruntime"].reason.startswith("onnxruntime is not installed")
    assert by["raising"].status == "failed" and by["raising"].reason == "RuntimeError: boom second line"
    assert all("\n" not in line for line in rs.lines())
    assert rs.consensus is by["onnx-reference"]
    none = R.run_references(m, x, runners=[RaisingReference()])
    j = R.judge(by["onnx-reference"].outputs, none)
    assert j.outcome == "skip" and "no reference available" in j.reason and "boom" in j.reason


def test_a_model_the_evaluator_cannot_run_is_a_failed_entry():
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [2])], [vi("y", T.FLOAT, [2])])
    rs = R.run_references(m, {"wrong_name": np.zeros(2, np.float32)}, runners=[R.onnx_reference])
    assert rs.references[0].status == "failed" and rs.consensus is None
    assert "\n" not in rs.references[0].reason


# ---------------------------------------------------------------------------------------------
# The BatchNormalization case from the review
# ---------------------------------------------------------------------------------------------

def _conv_bn(opset: int):
    r = np.random.default_rng(0)
    c = 4
    x = r.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = r.standard_normal((c, 3, 3, 3)).astype(np.float32)
    sc, b = r.uniform(0.5, 1.5, c).astype(np.float32), (r.standard_normal(c) * 0.1).astype(np.float32)
    mean, var = (r.standard_normal(c) * 0.1).astype(np.float32), r.uniform(0.5, 1.5, c).astype(np.float32)
    m = _model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1e-5)],
               [vi("x", T.FLOAT, list(x.shape))], [vi("y", T.FLOAT, [2, c, 6, 6])],
               [numpy_helper.from_array(a, n) for a, n in [(w, "w"), (sc, "s"), (b, "b"), (mean, "m"), (var, "v")]],
               opset=opset)
    # float64 NumPy forward pass
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    conv = np.einsum("nchwij,ocij->nohw", win, w.astype(np.float64))
    col = lambda a: a.astype(np.float64).reshape(1, -1, 1, 1)  # noqa: E731
    y64 = col(sc) * (conv - col(mean)) / np.sqrt(col(var) + 1e-5) + col(b)
    return m, {"x": x}, y64


@pytest.mark.parametrize("opset", [9, 11, 13, 14, 15])
def test_conv_batchnorm_evaluator_and_numpy_float64_agree(opset):
    m, x, y64 = _conv_bn(opset)
    rs = R.run_references(m, x, runners=[R.onnx_reference],
                          source=("float64-numpy", [y64]))
    assert rs.agree, rs.lines()
    ev = rs.references[1]     # the source's stored outputs come first
    assert ev.ok and np.abs(ev.outputs[0] - y64).max() < 1e-5
    raw = R.onnx_reference(m, x, workaround=False)
    if 7 <= opset <= 13 and R.evaluator_bn_broken(opset):
        # onnx's own bug (every release 1.15.0-1.23.2; onnx/onnx#8442): the workaround is named
        assert ev.name.endswith("(BatchNormalization fixed)") and "onnx/onnx#8442" in ev.notes[0]
        assert np.abs(raw.outputs[0] - y64).max() > 0.1, "the raw evaluator is wrong here"
    else:
        assert "fixed" not in ev.name and np.abs(raw.outputs[0] - y64).max() < 1e-5


@needs_ort
@pytest.mark.parametrize("opset", [9, 11, 13])
def test_conv_batchnorm_evaluator_onnxruntime_and_numpy_agree(opset):
    m, x, y64 = _conv_bn(opset)
    rs = R.run_references(m, x, source=("float64-numpy", [y64]), enough=None)
    assert [r.ok for r in rs.references] == [True, True, True]
    assert rs.agree and len(rs.group) == 3, rs.lines()
    j = R.judge([y64.astype(np.float32)], rs)
    assert j.outcome == "pass"
    # Without the workaround the evaluator is outvoted by ONNX Runtime and NumPy: TVM (here the
    # float64 result) still passes, and the evaluator's disagreement is reported, not blamed.
    raw = R.run_references(m, x, runners=[lambda mm, xx: R.onnx_reference(mm, xx, workaround=False),
                                          R.onnxruntime_reference], source=("float64-numpy", [y64]), enough=None)
    if R.evaluator_bn_broken(opset):
        assert raw.group == ["float64-numpy", f"onnxruntime {onnxruntime.__version__}"]
        assert raw.disagreement.startswith("references disagree: float64-numpy vs onnx-reference")
        j = R.judge([y64.astype(np.float32)], raw)
        assert j.outcome == "pass" and "references disagree" in j.reason


# ---------------------------------------------------------------------------------------------
# The MXNet ResNet-18 cache (the main environment only reads it)
# ---------------------------------------------------------------------------------------------

def _fake_cache(d, seed=0):
    """A cache entry in the exporter's layout, for a small model (not MXNet's)."""
    import hashlib

    from harness.models import mxnet_resnet as mr

    m, x = conv_relu()
    m.graph.input[0].name = "data"
    m.graph.node[0].input[0] = "data"
    out = R.onnx_reference(m, {"data": x["x"]}).outputs
    p = mr.paths(seed, str(d))
    onnx.save(m, p["onnx"])
    np.savez(p["npz"], **{"input.data": x["x"], "output.0": out[0]})
    sha = {k: hashlib.sha256(open(p[k], "rb").read()).hexdigest() for k in ("onnx", "npz")}
    meta = {"model": "resnet18_v1", "seed": seed, "source": "mxnet 1.9.1 (fake)",
            "inputs": {"data": {"key": "input.data", "shape": list(x["x"].shape), "dtype": "float32"}},
            "outputs": [{"key": "output.0"}], "versions": {"mxnet": "1.9.1"}, "sha256": sha}
    with open(p["json"], "w") as fh:
        json.dump(meta, fh)
    return p


def test_mxnet_cache_is_read_and_its_output_is_a_source_reference(tmp_path, monkeypatch):
    from harness.models import mxnet_resnet as mr

    monkeypatch.setenv("TRT_HARNESS_CACHE", str(tmp_path))
    mr._read.cache_clear()
    why = mr.missing_reason(0)
    assert "make mxnet-model" in why and str(tmp_path) in why and "resnet18_v1-seed0.onnx" in why
    with pytest.raises(mr.ModelNotCached, match="make mxnet-model"):
        mr.resnet18_v1(0)
    _fake_cache(tmp_path)
    assert mr.missing_reason(0, verify=True) is None
    model, inputs = mr.resnet18_v1(0)
    assert model.graph.name == "resnet18_v1" and list(inputs) == ["data"]
    assert mr.source_name(0) == "mxnet 1.9.1 (fake)" and mr.mxnet_version(0) == "1.9.1"
    rs = R.run_references(model, inputs, source=(mr.source_name(0), mr.resnet18_v1_reference(0)))
    assert rs.agree and rs.group[0] == "mxnet 1.9.1 (fake)"
    mr._read.cache_clear()


def test_check_of_an_exported_model_uses_its_stored_input_and_source(tmp_path, capfd):
    """`trt-harness check` on a file the exporter wrote: the framework's input and outputs beside it
    are used (the framework named among the references); altered files are not trusted."""
    from harness.cli import main as cli_main
    from harness.models import mxnet_resnet as mr

    p = _fake_cache(tmp_path)
    name, inputs, outputs = mr.stored_io(p["onnx"])
    assert name == "mxnet 1.9.1 (fake)" and list(inputs) == ["data"] and outputs[0].shape == (1, 4, 8, 8)
    code = cli_main(["check", p["onnx"], "--steps", "reference", "--trt-build-cache", "off"])
    out = capfd.readouterr().out
    assert code == 0, out
    assert "inputs: stored beside the model with mxnet 1.9.1 (fake)'s outputs" in out
    assert "references: mxnet 1.9.1 (fake): ok" in out and "agrees with mxnet 1.9.1 (fake)" in out
    with open(p["npz"], "ab") as fh:
        fh.write(b"x")
    assert mr.stored_io(p["onnx"]) is None
    assert mr.stored_io(str(tmp_path / "elsewhere.onnx")) is None


def test_an_altered_cache_entry_names_the_make_target(tmp_path, monkeypatch):
    from harness.models import mxnet_resnet as mr

    monkeypatch.setenv("TRT_HARNESS_CACHE", str(tmp_path))
    mr._read.cache_clear()
    p = _fake_cache(tmp_path, seed=3)
    with open(p["onnx"], "r+b") as fh:
        fh.truncate(100)
    why = mr.missing_reason(3, verify=True)
    assert why.startswith(p["onnx"]) and "sha256" in why and "make mxnet-model MXNET_SEEDS=3" in why
    with pytest.raises(mr.ModelNotCached):
        mr.resnet18_v1(3)
    mr._read.cache_clear()


def test_the_main_environment_never_imports_mxnet():
    code = ("import sys, harness.models.mxnet_resnet as mr; mr.missing_reason(0); "
            "assert 'mxnet' not in sys.modules, 'mxnet imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_real_resnet18_cache_three_references_agree():
    """Where `make mxnet-model` has run: the evaluator, ONNX Runtime and MXNet agree."""
    from harness.models import mxnet_resnet as mr

    why = mr.missing_reason(0)
    if why:
        pytest.skip(why)
    model, inputs = mr.resnet18_v1(0)
    assert {k: v.shape for k, v in inputs.items()} == {"data": (1, 3, 224, 224)}
    rs = R.run_references(model, inputs, source=(mr.source_name(0), mr.resnet18_v1_reference(0)), enough=None)
    assert rs.agree and len(rs.group) == 3, rs.lines()
    assert rs.group[0].startswith("mxnet 1.9.1")
